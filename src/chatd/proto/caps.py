"""IRCv3 capabilities chatd offers, as data: name -> CAP LS 302 value ("" for none)."""

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "EXTERNAL")

SUPPORTED: dict[str, str] = {
    "account-notify": "",
    "account-tag": "",
    "away-notify": "",
    "batch": "",
    "cap-notify": "",
    "draft/account-registration": "before-connect,custom-account-name",
    "draft/chathistory": "",
    "echo-message": "",
    "extended-join": "",
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
