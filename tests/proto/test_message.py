import pytest

from chatd.proto.errors import ProtocolError
from chatd.proto.message import Message, escape_tag_value, parse, serialise, unescape_tag_value

CASES = [
    ("PING x", Message("PING", ["x"])),
    ("PRIVMSG #a :hello world", Message("PRIVMSG", ["#a", "hello world"])),
    (":nick!u@h PRIVMSG #a :hi", Message("PRIVMSG", ["#a", "hi"], "nick!u@h")),
    (
        "@time=2020-01-01T00:00:00.000Z;msgid=x :s NOTICE * :t",
        Message("NOTICE", ["*", "t"], "s", {"time": "2020-01-01T00:00:00.000Z", "msgid": "x"}),
    ),
    (
        "@+draft/typing=active TAGMSG #a",
        Message("TAGMSG", ["#a"], None, {"+draft/typing": "active"}),
    ),
    ("@a=b\\:c\\sd\\\\e\\r\\n CMD", Message("CMD", [], None, {"a": "b;c d\\e\r\n"})),
    ("@flag CMD", Message("CMD", [], None, {"flag": ""})),
    ("USER u 0 * :Real Name", Message("USER", ["u", "0", "*", "Real Name"])),
    ("PRIVMSG #a ::-)", Message("PRIVMSG", ["#a", ":-)"])),
    ("PRIVMSG #a :", Message("PRIVMSG", ["#a", ""])),
    ("001 me :Welcome", Message("001", ["me", "Welcome"])),
    ("MODE #a +o nick", Message("MODE", ["#a", "+o", "nick"])),
]


@pytest.mark.parametrize("line,msg", CASES)
def test_parse(line, msg):
    assert parse(line) == msg


@pytest.mark.parametrize("line,msg", CASES)
def test_round_trip(line, msg):
    assert parse(serialise(msg)) == msg


def test_command_is_uppercased_and_extra_spaces_tolerated():
    assert parse("privmsg   #a   b  :c d") == Message("PRIVMSG", ["#a", "b", "c d"])


@pytest.mark.parametrize(
    "line", ["", "   ", ":src", ":src ", "@tags", "@a=b :src", "12 x", "PRIV-MSG x", ":", "@=x CMD"]
)
def test_malformed(line):
    with pytest.raises(ProtocolError):
        parse(line)


def test_serialise_refuses_bad_middle_params():
    with pytest.raises(ProtocolError):
        serialise(Message("PRIVMSG", ["a b", "x"]))
    with pytest.raises(ProtocolError):
        serialise(Message("PRIVMSG", ["#a", "x\r\nQUIT"]))


def test_tag_escaping_round_trip():
    value = "a;b c\\d\re\nf"
    assert unescape_tag_value(escape_tag_value(value)) == value
    assert unescape_tag_value("trailing\\") == "trailing"
    assert unescape_tag_value("\\x") == "x"


@pytest.mark.parametrize(
    "msg,line",
    [
        (Message("PART", ["#dev"], "n!u@h"), ":n!u@h PART #dev"),
        (Message("PART", ["#dev", "bye"], "n!u@h"), ":n!u@h PART #dev :bye"),
        (Message("PRIVMSG", ["#dev", "word"], "n!u@h"), ":n!u@h PRIVMSG #dev :word"),
        (Message("KICK", ["#dev", "bob", "out"]), "KICK #dev bob :out"),
        (Message("KICK", ["#dev", "bob"]), "KICK #dev bob"),
        (Message("QUIT", ["gone"]), "QUIT :gone"),
        (Message("JOIN", ["#dev"]), "JOIN #dev"),
        (Message("366", ["me", "#dev", "End"], "s"), ":s 366 me #dev :End"),
    ],
)
def test_text_is_written_as_trailing_and_only_text(msg, line):
    assert serialise(msg) == line
