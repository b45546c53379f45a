"""Signals and REHASH on a real chatd process: SIGHUP and an operator's REHASH reload the
configuration without dropping anyone; SIGUSR1 logs a status line; SIGUSR2 is ignored on purpose;
SIGQUIT shuts down as SIGTERM does."""

from __future__ import annotations

import signal
import subprocess

from ircclient import Client, wait_for
from procs import CHATD, _read_log


def _logged(proc, text: str) -> bool:
    return any(text in line for line in _read_log(proc))


def _config(path, motd, burst: int, extra: str = "") -> None:
    path.write_text(f'motd = "{motd}"\nflood-burst = {burst}\n{extra}')


def test_sighup_reloads_the_config_and_keeps_everyone(tmp_path, proc_factory):
    motd_a, motd_b = tmp_path / "a.txt", tmp_path / "b.txt"
    motd_a.write_text("the first message of the day\n")
    motd_b.write_text("a brand new message of the day\n")
    config = tmp_path / "chatd.toml"
    _config(config, motd_a, 20)
    proc = proc_factory("--config", str(config))
    alice = Client(proc.port)
    alice.register("alice")
    _config(config, motd_b, 30)
    proc.p.send_signal(signal.SIGHUP)
    wait_for(lambda: _logged(proc, "reload: flood_burst: 20 -> 30"), what="reload logged")
    assert _logged(proc, "reload: motd:")
    alice.sync()  # still connected
    bob = Client(proc.port)
    bob.send("NICK bob", "USER b 0 * :Bob")
    bob.expect("372 bob :- a brand new message of the day")


def test_a_broken_config_on_reload_keeps_the_old_one(tmp_path, proc_factory):
    config = tmp_path / "chatd.toml"
    config.write_text("flood-burst = 20\n")
    proc = proc_factory("--config", str(config))
    alice = Client(proc.port)
    alice.register("alice")
    config.write_text("flood-burst = 'many'\n")
    proc.p.send_signal(signal.SIGHUP)
    wait_for(lambda: _logged(proc, "reload failed, configuration kept"), what="failure logged")
    alice.sync()


def test_rehash_by_an_operator(tmp_path, proc_factory):
    hashed = subprocess.run(
        [*CHATD, "--hash-password"], input="s3cret\n", capture_output=True, text=True
    ).stdout.strip()
    config = tmp_path / "chatd.toml"
    config.write_text(f'max-targets = 4\n[opers]\nadmin = "{hashed}"\n')
    proc = proc_factory("--config", str(config))
    boss = Client(proc.port)
    boss.register("boss")
    boss.send("REHASH")
    boss.expect_numeric("481")  # not an operator yet
    boss.send("OPER admin s3cret")
    boss.expect_numeric("381")
    config.write_text(f'max-targets = 6\n[opers]\nadmin = "{hashed}"\n')
    boss.send("REHASH")
    boss.expect_numeric("382")
    boss.expect("NOTICE boss :\\*\\*\\* REHASH: max_targets: 4 -> 6")
    boss.send("VERSION")
    boss.expect("MAXTARGETS=6")


def test_sigusr1_logs_status_and_sigusr2_is_ignored(proc_factory):
    proc = proc_factory()
    alice = Client(proc.port)
    alice.register("alice")
    proc.p.send_signal(signal.SIGUSR1)
    wait_for(lambda: _logged(proc, "status: 1 connections"), what="status line")
    proc.p.send_signal(signal.SIGUSR2)
    wait_for(lambda: _logged(proc, "ignored"), what="SIGUSR2 noted")
    alice.sync()
    assert proc.p.poll() is None


def test_sigquit_shuts_down_gracefully(proc_factory):
    proc = proc_factory()
    alice = Client(proc.port)
    alice.register("alice")
    proc.p.send_signal(signal.SIGQUIT)
    assert proc.p.wait(10) == 0
    alice.expect("^ERROR :Closing Link: .*Server shutting down")


def test_reload_does_not_change_cloaks_nor_show_the_key(tmp_path, proc_factory):
    config = tmp_path / "chatd.toml"
    config.write_text('cloak-key = "the first secret key"\n')
    proc = proc_factory("--config", str(config))
    alice = Client(proc.port)
    alice.register("alice")
    config.write_text('cloak-key = "another secret key!"\nipv6-prefix = 48\n')
    proc.p.send_signal(signal.SIGHUP)
    wait_for(lambda: _logged(proc, "ipv6_prefix: needs a restart (kept 64)"), what="reload")
    assert _logged(proc, "cloak_key: needs a restart")
    log = "".join(_read_log(proc))
    assert "secret" not in log
    alice.sync()
