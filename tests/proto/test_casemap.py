from chatd.proto.casemap import fold, valid_channel, valid_nick


def test_rfc1459_folding():
    assert fold("Nick[]\\~") == "nick{}|^"
    assert fold("ÄBC") == "Äbc"  # only ASCII folds


def test_nick_syntax():
    assert valid_nick("alice", 30)
    assert valid_nick("[w]-_^", 30)
    assert not valid_nick("1abc", 30)
    assert not valid_nick("-abc", 30)
    assert not valid_nick("a b", 30)
    assert not valid_nick("a" * 31, 30)
    assert not valid_nick("", 30)
    assert not valid_nick("né", 30)


def test_channel_syntax():
    assert valid_channel("#lobby", 50)
    assert valid_channel("#café", 50)
    assert not valid_channel("lobby", 50)
    assert not valid_channel("#", 50)
    assert not valid_channel("#a,b", 50)
    assert not valid_channel("#a b", 50)
    assert not valid_channel("#a\x07", 50)
    assert not valid_channel("#a\u200bb", 50)  # zero-width space: a look-alike trick
    assert not valid_channel("#" + "x" * 50, 50)
