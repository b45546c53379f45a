"""chatd-bench: a load generator and measuring tool for IRC servers on loopback.

The package drives any IRC server at HOST:PORT with many clients from one process and one
`selectors` loop, and prints a table of figures (deliveries/s, latency, CPU, RSS, registrations/s).

Layout:
  procfs     - CPU time and RSS of a process from /proc (no sockets)
  servers    - start/stop chatd or ngIRCd for a run (generated config, core pinning)
  stats      - percentiles, medians of repeats, ratios (pure functions)
  load       - the reactor: client connections, registration, counting, sending
  scenarios  - fanout, rooms, idle, connect: set up clients, open a window, compute figures
  report     - the table and JSON output
  __main__   - command line

The load generator is built to cost the server's machine little: it counts lines with
``bytes.count(b"\\n")`` on large ``recv_into`` buffers, parses only sampled lines, and batches its
own writes.
"""
