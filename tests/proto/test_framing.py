from chatd.proto.framing import TOO_LONG, LineReader

STREAM = b"NICK a\r\nUSER u 0 * :Real\nPRIVMSG #x :hi there\r\n"
EXPECTED = [b"NICK a", b"USER u 0 * :Real", b"PRIVMSG #x :hi there"]


def test_many_lines_in_one_read():
    assert LineReader(512).feed(STREAM) == EXPECTED


def test_split_at_every_byte_position():
    for cut in range(len(STREAM) + 1):
        reader = LineReader(512)
        got = reader.feed(STREAM[:cut]) + reader.feed(STREAM[cut:])
        assert got == EXPECTED, cut


def test_one_byte_at_a_time():
    reader = LineReader(512)
    got = []
    for i in range(len(STREAM)):
        got += reader.feed(STREAM[i : i + 1])
    assert got == EXPECTED


def test_empty_lines_are_skipped():
    assert LineReader(512).feed(b"\r\n\n\r\nPING x\r\n") == [b"PING x"]


def test_a_server_reader_returns_empty_lines_to_count_them():
    reader = LineReader(512, keep_empty=True)
    assert reader.feed(b"\r\n\n\r\nPING x\r\n") == [b"", b"", b"", b"PING x"]


def test_overlong_line_reported_once_and_discarded_then_recovers():
    reader = LineReader(100)
    out = reader.feed(b"A" * 150)
    assert out == [TOO_LONG]
    assert reader.buffered == 0
    assert reader.feed(b"B" * 500) == []  # still discarding, memory bounded
    assert reader.buffered == 0
    assert reader.feed(b"tail\r\nPING ok\r\n") == [b"PING ok"]


def test_overlong_complete_line_in_one_read():
    reader = LineReader(10)
    assert reader.feed(b"0123456789ABC\r\nPING\r\n") == [TOO_LONG, b"PING"]


def test_line_exactly_at_limit_with_crlf_split():
    reader = LineReader(10)
    assert reader.feed(b"0123456789\r") == []
    assert reader.feed(b"\n") == [b"0123456789"]
