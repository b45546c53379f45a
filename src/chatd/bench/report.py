"""Format results: a plain-text table per scenario kind, ratios for --compare, or JSON.

A result is a dict {"server", "kind", "label", "params", "figures", "runs"}; `figures` holds
the medians over `runs`. Formatting only -- no measuring here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chatd.bench.stats import ratio

Column = tuple[str, str, str]  # header, figure key, format

COLUMNS: dict[str, list[Column]] = {
    "fanout": [
        ("deliv/s", "deliveries_per_s", "{:,.0f}"),
        ("msg/s", "messages_per_s", "{:,.0f}"),
        ("p50 ms", "latency_p50_ms", "{:.2f}"),
        ("p99 ms", "latency_p99_ms", "{:.2f}"),
        ("lost", "lost", "{:.0f}"),
        ("disc", "disconnects", "{:.0f}"),
        ("srv CPU%", "server_cpu_pct", "{:.0f}"),
        ("srv s/M deliv", "server_cpu_s_per_M", "{:.3f}"),
        ("redis CPU%", "redis_cpu_pct", "{:.0f}"),
        ("redis us/msg", "redis_cpu_us_per_msg", "{:.2f}"),
        ("load CPU%", "load_cpu_pct", "{:.0f}"),
        ("other CPU%", "other_cpu_pct", "{:.0f}"),
    ],
    "idle": [
        ("clients", "clients", "{:.0f}"),
        ("RSS before KiB", "rss_before_kib", "{:,.0f}"),
        ("RSS after KiB", "rss_after_kib", "{:,.0f}"),
        ("KiB/conn", "rss_per_conn_kib", "{:.2f}"),
        ("idle srv CPU%", "idle_server_cpu_pct", "{:.1f}"),
        ("disc", "disconnects", "{:.0f}"),
    ],
    "connect": [
        ("reg/s", "registrations_per_s", "{:,.0f}"),
        ("errors", "connect_errors", "{:.0f}"),
        ("srv CPU%", "server_cpu_pct", "{:.0f}"),
        ("srv us/reg", "server_cpu_us_per_reg", "{:.1f}"),
        ("load CPU%", "load_cpu_pct", "{:.0f}"),
        ("other CPU%", "other_cpu_pct", "{:.0f}"),
    ],
    "log": [
        ("entries/s", "entries_per_s", "{:,.0f}"),
        ("msg/s", "messages_per_s", "{:,.0f}"),
        ("reads/s", "reads_per_s", "{:,.0f}"),
        ("redis CPU%", "redis_cpu_pct", "{:.0f}"),
        ("redis us/entry", "redis_cpu_us_per_entry", "{:.2f}"),
        ("redis us/msg", "redis_cpu_us_per_msg", "{:.3f}"),
        ("load CPU%", "load_cpu_pct", "{:.0f}"),
    ],
}
COLUMNS["rooms"] = COLUMNS["fanout"]
COLUMNS["realistic"] = [
    ("deliv/s", "deliveries_per_s", "{:,.0f}"),
    ("msg/s", "messages_per_s", "{:,.1f}"),
    ("p50 ms", "latency_p50_ms", "{:.2f}"),
    ("p99 ms", "latency_p99_ms", "{:.2f}"),
    ("lost", "lost", "{:.0f}"),
    ("disc", "disconnects", "{:.0f}"),
    ("srv CPU%", "server_cpu_pct", "{:.1f}"),
    ("srv s/M deliv", "server_cpu_s_per_M", "{:.2f}"),
    ("RSS MiB", "rss_mib", "{:.1f}"),
    ("echo clients", "echo_clients", "{:.0f}"),
    ("load CPU%", "load_cpu_pct", "{:.0f}"),
    ("other CPU%", "other_cpu_pct", "{:.0f}"),
]

# Figures where a higher value is better for the server (the ratio reads "x times ngIRCd").
RATIO_KEYS = {
    "fanout": ["deliveries_per_s", "latency_p50_ms", "latency_p99_ms", "server_cpu_s_per_M"],
    "idle": ["rss_per_conn_kib"],
    "connect": ["registrations_per_s", "server_cpu_us_per_reg"],
    "log": [],
}
RATIO_KEYS["rooms"] = RATIO_KEYS["fanout"]
RATIO_KEYS["realistic"] = [
    "latency_p50_ms",
    "latency_p99_ms",
    "server_cpu_pct",
    "server_cpu_s_per_M",
    "rss_mib",
]


def _cell(fmt: str, value: Any) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def _render(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        )

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def table(results: Sequence[dict[str, Any]], compare: Sequence[tuple[str, str]] = ()) -> str:
    """One table per scenario kind; with `compare`, a ratio row per (ours, theirs) server pair."""
    blocks: list[str] = []
    for kind in ("fanout", "rooms", "realistic", "idle", "connect", "log"):
        mine = [r for r in results if r["kind"] == kind]
        if not mine:
            continue
        cols = COLUMNS[kind]
        rows = [
            [r["server"], r["label"]] + [_cell(f, r["figures"].get(k)) for _, k, f in cols]
            for r in mine
        ]
        for ours, theirs in compare:
            for r in mine:
                if r["server"] != ours:
                    continue
                other = next(
                    (o for o in mine if o["server"] == theirs and o["label"] == r["label"]), None
                )
                if other is None:
                    continue
                cells = []
                for _, key, _f in cols:
                    q = (
                        ratio(r["figures"].get(key), other["figures"].get(key))
                        if key in RATIO_KEYS[kind]
                        else None
                    )
                    cells.append("-" if q is None else f"x{q:.2f}")
                rows.append([f"{ours}/{theirs}", r["label"]] + cells)
        errors = [
            f"error: {r['server']} {r['label']}: {e}"
            for r in mine
            for e in dict.fromkeys(run["error"] for run in r.get("runs", []) if "error" in run)
        ]
        body = _render(["server", "run"] + [h for h, _, _ in cols], rows)
        blocks.append("\n".join([f"== {kind} ==", body, *errors]))
    return "\n\n".join(blocks)


def header(machine: dict[str, str], notes: Sequence[str], repeat: int, duration: float) -> str:
    lines = [
        (
            f"machine: {machine['cores']} cores, {machine['cpu']}, kernel {machine['kernel']}, "
            f"Python {machine['python']}"
        ),
        f"window: {duration:g} s per run, median of {repeat} run(s)",
    ]
    lines.extend(f"note: {n}" for n in notes)
    return "\n".join(lines)


def to_json(
    machine: dict[str, str], results: Sequence[dict[str, Any]], notes: Sequence[str]
) -> str:
    return json.dumps(
        {"machine": machine, "notes": list(notes), "results": list(results)}, indent=2
    )
