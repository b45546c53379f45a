"""The fixed limits: every bound chatd keeps that is not a configuration setting.

Limits an operator may want to change are fields of `server/config.py:Config` (with defaults,
validation, and a line in docs/chatd.example.toml). What is here is internal to the reactor or to
the protocol: named once, imported where it is used, listed in docs/architecture.md. Both the
sans-IO packages and `net/` may import this module; it imports nothing.
"""

from __future__ import annotations

# -- the reactor (net/) ---------------------------------------------------------------------------
RECV_SIZE = 65536  # bytes one recv() may return
TLS_READ_MAX = 4 * RECV_SIZE  # decrypted bytes taken per wake-up before others get a turn
ACCEPT_BATCH = 64  # accepts per wake-up, so a connection storm cannot starve the others
ACCEPT_BACKOFF_START = 0.05  # seconds without accepting after EMFILE/ENFILE...
ACCEPT_BACKOFF_MAX = 1.0  # ...doubling up to this
ACCEPT_COMPLAIN_EVERY = 60.0  # seconds between log lines about a listener out of descriptors
FLUSH_CHUNK = 1 << 18  # bytes one flush of a connection sends at most (one send)
FLUSH_BUDGET = 32 << 20  # bytes sent per iteration before big queues wait for the next one
FLUSH_ALWAYS = 8192  # a queue this small is flushed even past the budget (replies, PONGs)
REAP_BATCH = 100  # overflowed clients dropped per iteration (each QUIT reaches its rooms)
TRIM_AFTER = 8 << 20  # bytes of dropped queues after which freed memory goes back to the system
TRIM_INTERVAL = 1.0  # seconds between two such trims at most
LINGER = 2.0  # seconds a closing connection may take to drain its last lines
SHUTDOWN_FLUSH = 2.0  # seconds allowed to deliver the ERROR lines at shutdown
HOUSEKEEPING_INTERVAL = 60.0  # seconds between clean-ups of per-address admission state
TIMER_COMPACT_MIN = 256  # heap entries before stale ones are worth a rebuild
LISTEN_BACKLOG = 1024

# -- WebSocket (net/websocket.py) -----------------------------------------------------------------
WS_HANDSHAKE_MAX = 8192  # bytes of HTTP upgrade request; past it 431 and the socket is closed
WS_MESSAGE_MAX = 65536  # bytes of one message: past the line limit it gets 417 like a TCP line,
# past this it is not worth reading on (close code 1009)

# -- admission (server/admission.py) --------------------------------------------------------------
REFUSAL_LOG_INTERVAL = 10.0  # seconds: refusals of one address are logged at most this often
REFUSAL_LOG_ADDRESSES = 10_000  # addresses whose refusals are being counted, at most

# -- work off the loop (server/core.py) -----------------------------------------------------------
DEFERRED_WORKERS = 2  # threads for work the state defers (password hashes): the loop never waits

# -- the protocol (server/) -----------------------------------------------------------------------
HOSTLEN = 64  # advertised as HOSTLEN
KEYLEN = 23  # a channel key's length (+k)
LABEL_MAX = 64  # bytes of a labeled-response label kept
NAMES_CHUNK = 400  # bytes of names per 353 line, well inside 512 with the prefix
ISON_MAX = 64  # nicks one ISON looks up
USERHOST_MAX = 5  # nicks one USERHOST looks up (RFC 2812)
SCAN_COST = 100  # a user a WHO mask examined, in bytes of replies it is worth (~4 µs each)
ERROR_LOG_EXCERPT = 200  # characters of a failing line written to the log
LIST_ITEMS_MAX = 16  # names, masks and ELIST conditions in one LIST
METADATA_RETRY = 30  # seconds a client is asked to wait before METADATA SYNC (774)
CHANNEL_LIMIT_MAX = 999_999  # the largest +l
CAP_VERSION_MAX = 999_999  # a bigger `CAP LS` version counts as this one
MASK_ECHO = 64  # characters of a refused ban mask echoed back in 696
RENDERED_LISTS = 64  # ban/exception/invite lists kept rendered (ServerState.reply_cached)

# -- host cloaking (server/cloak.py) --------------------------------------------------------------
CLOAK_KEY_MIN = 16  # characters of cloak_key: a shorter key could be found offline
CLOAK_MEMO = 4096  # cloaks of recent addresses remembered; the memo is cleared when full

# -- accounts and SASL (server/sasl.py, server/accounts.py) -------------------------------------
SASL_CHUNK = 400  # bytes of base64 per AUTHENTICATE piece (IRCv3 sasl-3.1)
SASL_MAX_CHUNKS = 16  # pieces in one response: 6,400 base64 bytes, 4,800 decoded, at most
AUTH_THROTTLE_MAX = 50_000  # account names whose failed logins are being counted, at most
ACCOUNT_MAX_CERTS = 5  # client certificate fingerprints per account (NickServ CERT ADD)
CHANSERV_MAX_AMODES = 100  # accounts with an auto-mode in one registered channel
GUEST_PREFIX = "Guest"  # what a nick taken back from someone who did not identify becomes
