"""IRCv3 capabilities chatd offers, as data: name -> CAP LS 302 value ("" for none)."""

SUPPORTED: dict[str, str] = {
    "away-notify": "",
    "batch": "",
    "cap-notify": "",
    "draft/chathistory": "",
    "echo-message": "",
    "extended-join": "",
    "invite-notify": "",
    "labeled-response": "",
    "message-tags": "",
    "multi-prefix": "",
    "server-time": "",
    "setname": "",
    "userhost-in-names": "",
}

# Caps whose presence changes the tags a client sees on relayed messages.
TAG_CAPS = ("server-time", "message-tags")
