"""The text HELP (and HELPOP) answers: a usage line and a few lines per command chatd knows.

Data only; `commands/info.py` sends it with 704/705/706. A test checks that every command of
the dispatch table has an entry here, so a new command cannot be added without its help.
"""

from __future__ import annotations

HELP: dict[str, tuple[str, ...]] = {
    "ADMIN": ("ADMIN [server]", "Who runs this server and how to reach them."),
    "AWAY": ("AWAY [:message]", "Marks you away with a message; without one, back again."),
    "BATCH": (
        "BATCH +ref draft/multiline <target> ... BATCH -ref",
        "Sends the PRIVMSG lines tagged @batch=ref in between as one multiline message",
        "(draft/multiline; the limits are in the capability's value).",
    ),
    "CAP": ("CAP LS [302] | LIST | REQ :caps | END", "Capability negotiation (IRCv3)."),
    "CHATHISTORY": (
        "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS ...",
        "Reads channel history (draft/chathistory); see docs/protocol.md.",
    ),
    "HELP": ("HELP [command]", "This help. HELPOP is the same command."),
    "HELPOP": ("HELPOP [command]", "The same as HELP."),
    "INFO": ("INFO", "What this server is."),
    "INVITE": (
        "INVITE <nick> <#channel> | INVITE",
        "Invites a user to a channel; without parameters, lists your pending invitations.",
    ),
    "ISON": ("ISON <nick> [<nick> ...]", "Which of these nicks are online."),
    "JOIN": ("JOIN <#channel>[,<#channel>] [<key>[,<key>]] | JOIN 0", "Joins channels."),
    "KICK": (
        "KICK <#channel>[,<#channel>] <nick>[,<nick>] [:reason]",
        "Removes users from a channel (channel operators). One channel and several nicks,",
        "or as many channels as nicks, taken in pairs.",
    ),
    "KILL": ("KILL <nick> :reason", "Disconnects a user (IRC operators)."),
    "LINKS": ("LINKS [[server] mask]", "The servers of this network: this one."),
    "LIST": (
        "LIST [<#channel|mask>[,...]] [<condition>[,...]]",
        "Lists channels. Masks: *dev*, #d*; !mask excludes. Conditions (ELIST): >n, <n users,",
        "C>m, C<m created more/less than m minutes ago, T>m, T<m topic older/newer than m.",
    ),
    "LUSERS": ("LUSERS", "How many users, operators and channels there are."),
    "MARKREAD": (
        "MARKREAD <target> [timestamp=YYYY-MM-DDThh:mm:ss.sssZ]",
        "Reads or moves your read marker for a channel or nick (draft/read-marker).",
    ),
    "METADATA": (
        "METADATA <target> GET|LIST|SET|CLEAR|SUB|UNSUB|SUBS|SYNC [...]",
        "User and channel metadata (draft/metadata-3): keys such as avatar, display-name.",
    ),
    "MODE": (
        "MODE <nick> [+|-Biw] | MODE <#channel> [modes [parameters]]",
        "Shows or changes user and channel modes; see docs/protocol.md for the letters.",
    ),
    "MONITOR": (
        "MONITOR + <nick>[,...] | - <nick>[,...] | C | L | S",
        "Tells you when these nicks come online or leave (730/731).",
    ),
    "MOTD": ("MOTD", "The message of the day."),
    "NAMES": ("NAMES <#channel>[,<#channel>]", "Who is on these channels."),
    "NICK": ("NICK <nick>", "Sets or changes your nick."),
    "NOTICE": ("NOTICE <target>[,<target>] :text", "Like PRIVMSG, but never answered."),
    "OPER": ("OPER <name> <password>", "Become an IRC operator."),
    "PART": ("PART <#channel>[,<#channel>] [:reason]", "Leaves channels."),
    "PASS": ("PASS <password>", "The connection password, before NICK and USER."),
    "PING": ("PING <token>", "The server answers PONG <token>."),
    "PONG": ("PONG <token>", "The answer to the server's PING."),
    "PRIVMSG": (
        "PRIVMSG <target>[,<target>] :text",
        "Sends a message to channels or nicks; @#channel reaches its operators only.",
    ),
    "QUIT": ("QUIT [:reason]", "Leaves the server."),
    "REGISTER": (
        "REGISTER <account|*> <email|*> <password>",
        "Registers an account (draft/account-registration); * uses your nick or no email.",
    ),
    "REDACT": (
        "REDACT <#channel> <msgid> [:reason]",
        "Deletes a message, from history too: your own, or any as a channel operator",
        "(draft/message-redaction).",
    ),
    "REHASH": ("REHASH", "Re-reads the configuration file (IRC operators)."),
    "NICKSERV": (
        "NICKSERV <command> [args]",
        "Talks to NickServ: REGISTER, IDENTIFY, GHOST, REGAIN, GROUP, CERT, SET, INFO, HELP.",
    ),
    "NS": ("NS <command> [args]", "The same as NICKSERV."),
    "CHANSERV": (
        "CHANSERV <command> [args]",
        "Talks to ChanServ: REGISTER, AMODE, OP, INFO, DROP, HELP.",
    ),
    "CS": ("CS <command> [args]", "The same as CHANSERV."),
    "AUTHENTICATE": (
        "AUTHENTICATE <mechanism|data|*>",
        "Logs in with SASL: PLAIN, SCRAM-SHA-256 or EXTERNAL; * aborts.",
    ),
    "RENAME": (
        "RENAME <#old> <#new> [:reason]",
        "Renames a channel, keeping its members, modes and history (draft/channel-rename).",
    ),
    "SETNAME": ("SETNAME :realname", "Changes your realname (setname)."),
    "STATS": (
        "STATS <u|m|o|l> [server]",
        "u: uptime; m: commands used; o: operators and l: connections (IRC operators).",
    ),
    "TAGMSG": ("TAGMSG <target>", "A message of tags only (message-tags)."),
    "TIME": ("TIME", "The server's time."),
    "TOPIC": ("TOPIC <#channel> [:topic]", "Shows or sets a channel's topic."),
    "USER": ("USER <username> 0 * :realname", "Registers with a username and realname."),
    "USERHOST": ("USERHOST <nick> [<nick> ...]", "user@host of up to five nicks."),
    "VERSION": ("VERSION", "The server's version and ISUPPORT tokens."),
    "WALLOPS": ("WALLOPS :text", "A message to every user with mode +w (IRC operators)."),
    "WHO": ("WHO <mask|#channel> [%fields[,token]]", "Lists users (WHOX with %fields)."),
    "WHOIS": ("WHOIS [server] <nick>", "Everything public about a user."),
    "WHOWAS": ("WHOWAS <nick> [count]", "Who had this nick recently, newest first."),
}

INDEX = (
    "chatd help",
    "HELP <command> explains one command. Commands:",
)
