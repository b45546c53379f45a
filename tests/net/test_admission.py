"""Per-address admission over real sockets, and the sans-IO policy table."""

from __future__ import annotations

from ircclient import Client, make_state, wait_for

from chatd.server.admission import Admission
from chatd.server.config import Config


def test_policy_counts_and_refills():
    adm = Admission(Config(max_per_ip=3, ip_connect_burst=2, ip_connect_rate=1.0))
    assert adm.admit("a", 0.0) is None
    assert adm.admit("a", 0.0) is None
    assert "too fast" in adm.admit("a", 0.0)
    assert adm.admit("b", 0.0) is None  # addresses are independent
    assert adm.admit("a", 1.0) is None  # one token back after a second
    assert "Too many connections" in adm.admit("a", 5.0)  # three open
    adm.release("a", 5.0)
    assert adm.admit("a", 5.0) is None


def test_ipv6_counts_per_64_by_default():
    adm = Admission(Config(max_per_ip=2, ip_connect_burst=10, ip_connect_rate=1.0))
    assert adm.admit("0::1", 0.0) is None  # ::1 as chatd writes it (no leading ':')
    assert adm.admit("0::2", 0.0) is None
    assert "Too many connections" in adm.admit("0::abcd:1234:5678", 0.0)  # the same /64
    assert adm.admit("2001:db8:0:1::1", 0.0) is None  # another /64
    assert adm.admit("2001:db8:0:1:ffff:ffff:ffff:ffff", 0.0) is None
    assert "Too many" in adm.admit("2001:db8:0:1:abcd::9", 0.0)
    assert adm.admit("fe80::1%eth0", 0.0) is None  # a zone index does not make a new network
    assert adm.admit("fe80::2", 0.0) is None
    assert "Too many" in adm.admit("fe80::3%eth1", 0.0)
    adm.release("0::2", 1.0)  # any address of the network gives its slot back
    assert adm.admit("0::7", 1.0) is None
    assert adm.key("2001:db8:0:1::1") == "2001:db8:0:1::/64"
    assert adm.key("::ffff:192.0.2.1") == "192.0.2.1"  # IPv4-mapped counts as IPv4


def test_ipv6_connect_rate_is_per_64_too():
    adm = Admission(Config(max_per_ip=100, ip_connect_burst=3, ip_connect_rate=0.5))
    for i in range(3):
        assert adm.admit(f"2001:db8::{i + 1:x}", 0.0) is None
    assert "too fast" in adm.admit("2001:db8::ab:cd", 0.0)  # a fresh address, the same /64


def test_prefixes_are_configurable():
    per_address = Admission(Config(max_per_ip=1, ipv6_prefix=128))
    assert per_address.admit("2001:db8::1", 0.0) is None
    assert per_address.admit("2001:db8::2", 0.0) is None
    per_48 = Admission(Config(max_per_ip=1, ipv6_prefix=48))
    assert per_48.admit("2001:db8:0:1::1", 0.0) is None
    assert "Too many" in per_48.admit("2001:db8:0:2::1", 0.0)
    v4 = Admission(Config(max_per_ip=1))  # IPv4 per address by default
    assert v4.admit("192.0.2.1", 0.0) is None
    assert v4.admit("192.0.2.2", 0.0) is None
    per_24 = Admission(Config(max_per_ip=1, ipv4_prefix=24))
    assert per_24.admit("192.0.2.1", 0.0) is None
    assert "Too many" in per_24.admit("192.0.2.200", 0.0)
    assert per_24.admit("192.0.3.1", 0.0) is None
    assert per_24.admit("not-an-address", 0.0) is None  # counted as itself


def test_prefix_settings_are_checked():
    import pytest

    from chatd.server.config import ConfigError, build

    with pytest.raises(ConfigError, match="ipv6-prefix"):
        build({"ipv6_prefix": 129})
    with pytest.raises(ConfigError, match="ipv4-prefix"):
        build({"ipv4_prefix": -1})


def test_table_forgets_idle_addresses():
    adm = Admission(Config(ip_connect_burst=2, ip_connect_rate=1.0))
    for i in range(100):
        adm.admit(f"10.0.0.{i}", 0.0)
        adm.release(f"10.0.0.{i}", 0.0)
    adm.prune(10.0)
    assert len(adm) == 0


def test_too_many_from_one_address_get_error(server_factory):
    server = server_factory(max_per_ip=2)
    a = server.client("a")
    b = server.client("b")
    c = Client(server.port)
    c.expect("^ERROR :Closing Link: 127.0.0.1 .Too many connections from your address")
    c.wait_closed()
    b.close()
    wait_for(lambda: server.state.connections == 1)
    server.client("c")  # a slot is free again
    a.sync()


def test_connection_rate_per_address(server_factory):
    server = server_factory(ip_connect_burst=3, ip_connect_rate=0.01)
    clients = [Client(server.port) for _ in range(3)]
    late = Client(server.port)
    late.expect("^ERROR :Closing Link: .*Connecting too fast")
    for c in clients:
        c.close()


def test_unregistered_connection_has_a_small_line_budget():
    state = make_state(unregistered_max_lines=5)
    from ircclient import Scripted

    c = Scripted(state)
    for i in range(5):
        c.send(f"PING {i}")
    assert not c.sink.closed
    lines = c.send("PING 6")
    assert c.sink.closed and any("Too many lines before registration" in l for l in lines)


def test_slow_loris_is_dropped_by_the_registration_timeout(server_factory):
    server = server_factory(registration_timeout=0.3)
    loris = Client(server.port)
    loris.send_raw(b"NICK lor")  # and never a newline
    loris.expect("^ERROR :Closing Link: .*Registration timeout")
    loris.wait_closed()


def test_empty_lines_count_before_registration(server_factory):
    server = server_factory(flood_limit=False)  # the line limit alone, without flood control
    c = Client(server.port)
    c.send_raw(b"\n" * 5000)
    c.expect("^ERROR :Closing Link: .*Too many lines before registration")
    c.wait_closed()


def test_empty_lines_count_for_flood_control(server_factory):
    server = server_factory(flood_max_queue=50)
    flooder = server.client("flooder")
    calm = server.client("calm")
    flooder.send_raw(b"\r\n" * 20000)
    flooder.expect("^ERROR :Closing Link: .*Excess Flood")
    calm.sync()


def test_refusals_are_logged_once_per_interval_with_a_count(caplog):
    from chatd.server.core import RefusalLog

    refusals = RefusalLog(interval=10.0)
    with caplog.at_level("INFO", logger="chatd"):
        for i in range(1000):
            refusals.refused("10.0.0.1", "Connecting too fast", i * 0.001)
        refusals.refused("10.0.0.2", "Connecting too fast", 0.5)
        refusals.refused("10.0.0.1", "Connecting too fast", 11.0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "refused 10.0.0.1: Connecting too fast",
        "refused 10.0.0.2: Connecting too fast",
        "refused 10.0.0.1: Connecting too fast (and 999 more since the last line)",
    ]
    assert refusals.suppressed == 999


def test_a_connection_storm_writes_a_bounded_log(server_factory, caplog):
    server = server_factory(ip_connect_burst=2, ip_connect_rate=0.001)
    keep = [Client(server.port) for _ in range(2)]
    with caplog.at_level("INFO", logger="chatd"):
        for _ in range(200):
            c = Client(server.port)
            c.expect("^ERROR :Closing Link: .*Connecting too fast")
            c.close()
    refused = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refused) == 1, [r.getMessage() for r in refused]
    for c in keep:
        c.close()
