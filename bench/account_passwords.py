"""What checking an account's password costs, for docs/decisions/0003-account-passwords.md.

    python bench/account_passwords.py [--rounds 5]

Measured, each the median of `rounds` runs on one core:

- PBKDF2-HMAC-SHA-256 (`sasl.verify_password`: what SASL PLAIN and NickServ IDENTIFY cost
  against the SCRAM credentials, and what making credentials costs) at several iteration counts;
- scrypt (`hashlib.scrypt`, r=8, p=1) at N=2^14 (chatd's OPER hash) and N=2^15 (what an extra
  memory-hard hash for PLAIN would need to be worth having), and its memory;
- the server's side of a SCRAM-SHA-256 exchange once the client has sent its proof
  (`ScramExchange.final`: two HMACs and a hash, which run on the loop);
- the longest pause of a Python loop on the main thread while one PBKDF2 runs on a worker
  thread: hashlib lets go of the GIL, so a check on the core's workers does not hold the loop
  (the pause is the interpreter's 5 ms switch interval, not the hash).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import statistics
import threading
import time

from chatd.server import sasl


def median_ms(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def scram_final_us(rounds: int) -> float:
    creds = sasl.make_credentials("pencil", 4096, b"saltsaltsaltsalt")
    salted = sasl.salted_password("pencil", creds.salt, creds.iterations)
    times = []
    for _ in range(rounds * 200):
        exchange = sasl.ScramExchange()
        exchange.first(b"n,,n=user,r=clientnonce")
        first = exchange.challenge(creds, "servernonce")
        without = b"c=biws,r=clientnonceservernonce"
        auth = b"n=user,r=clientnonce," + first + b"," + without
        proof = base64.b64encode(sasl.client_proof(sasl.client_key(salted), auth.decode()))
        message = without + b",p=" + proof
        start = time.perf_counter()
        assert exchange.final(message) is not None
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    print(f"{'check':<44} {'median':>10}")
    for iterations in (4096, 100_000, 210_000, 600_000):
        creds = sasl.make_credentials("correct-horse-battery", iterations)
        ms = median_ms(lambda c=creds: sasl.verify_password(c, "correct-horse-battery"), rounds)
        print(f"{'PBKDF2-SHA-256 i=' + format(iterations, ','):<44} {ms:>8.1f} ms")
    for n in (1 << 14, 1 << 15):
        ms = median_ms(
            lambda n=n: hashlib.scrypt(
                b"correct-horse-battery", salt=b"s" * 16, n=n, r=8, p=1, maxmem=1 << 26, dklen=32
            ),
            rounds,
        )
        label = f"scrypt N=2^{n.bit_length() - 1} r=8 p=1 ({128 * 8 * n >> 20} MiB)"
        print(f"{label:<44} {ms:>8.1f} ms")
    print(
        f"{'SCRAM server final (proof check, on the loop)':<44} {scram_final_us(rounds):>8.1f} us"
    )
    creds = sasl.make_credentials("correct-horse-battery", 600_000)
    worker = threading.Thread(target=sasl.verify_password, args=(creds, "x"))
    gaps, spins = [], 0
    last = time.perf_counter()
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        spins += 1
    label = "loop's longest pause during one i=600,000"
    print(f"{label:<44} {max(gaps) * 1000:>8.1f} ms ({spins:,} loop turns meanwhile)")


if __name__ == "__main__":
    main()
