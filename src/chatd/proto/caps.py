"""IRCv3 capabilities chatd offers, as data: name -> CAP LS 302 value ("" for none)."""

SUPPORTED: dict[str, str] = {
    "away-notify": "",
    "cap-notify": "",
    "echo-message": "",
    "message-tags": "",
    "multi-prefix": "",
    "server-time": "",
    "userhost-in-names": "",
}

# Caps whose presence changes the tags a client sees on relayed messages.
TAG_CAPS = ("server-time", "message-tags")
