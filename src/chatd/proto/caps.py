"""IRCv3 capabilities chatd offers, as data: name -> CAP LS 302 value ("" for none).

A value that depends on the server's limits (draft/multiline, draft/metadata-3) is filled in
from the configuration by `server/isupport.py:cap_values`; the ones here are the names.
"""

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "EXTERNAL")

SUPPORTED: dict[str, str] = {
    "account-notify": "",
    "account-tag": "",
    "away-notify": "",
    "batch": "",
    "cap-notify": "",
    "draft/account-registration": "before-connect,custom-account-name",
    "draft/channel-rename": "",
    "draft/chathistory": "",
    "draft/message-redaction": "",
    "draft/metadata-3": "",
    "draft/multiline": "",
    "draft/read-marker": "",
    "echo-message": "",
    "extended-join": "",
    "extended-monitor": "",
    "invite-notify": "",
    "labeled-response": "",
    "message-tags": "",
    "multi-prefix": "",
    "sasl": ",".join(SASL_MECHANISMS),
    "server-time": "",
    "setname": "",
    "userhost-in-names": "",
}

# Caps whose presence changes the tags a client sees on relayed messages.
TAG_CAPS = ("server-time", "message-tags", "account-tag")

MULTILINE = "draft/multiline"
MULTILINE_CONCAT = "draft/multiline-concat"  # the tag on a line joined without a line feed
READ_MARKER = "draft/read-marker"
REDACTION = "draft/message-redaction"
RENAME = "draft/channel-rename"
METADATA = "draft/metadata-3"
EXTENDED_MONITOR = "extended-monitor"
ACCOUNT_NOTIFY = "account-notify"
AWAY_NOTIFY = "away-notify"
