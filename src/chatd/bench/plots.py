"""Pictures of a chatd-bench run: SVG files next to its JSON (`chatd-bench --plot FILE.json`).

Which pictures depend on what the run measured:

- `<stem>-p99-vs-rate.svg`: p99 (and p50) latency against the message rate, one line per
  server, from fanout runs at several fixed rates (`--scenario rates`);
- `<stem>-deliveries-vs-size.svg`: deliveries/s against the room size, from fanout runs at
  full speed with several N (`--scenario sizes`);
- `<stem>-cpu-per-delivery.svg`: server CPU per million deliveries, the servers side by side
  for every messaging run (fanout, rooms, realistic, tls).

matplotlib is only needed here (the `bench` extra); nothing else of chatd imports this module.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLOURS = {"chatd": "#1f77b4", "ngircd": "#d62728"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise SystemExit("chatd-bench: plots need matplotlib: pip install 'chatd[bench]'") from exc
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
    matplotlib.rcParams["svg.hashsalt"] = "chatd-bench"  # the same run, the same file
    import matplotlib.pyplot as plt

    return plt


def _colour(server: str) -> str | None:
    return COLOURS.get(server)


def plot_file(path: str) -> list[str]:
    """Write the pictures a saved --json output supports; returns the files written."""
    with open(path) as f:
        saved = json.load(f)
    stem = Path(path).with_suffix("")
    return plot(saved["results"], str(stem))


def plot(results: Sequence[dict[str, Any]], stem: str) -> list[str]:
    plt = _pyplot()
    written = []
    for make in (_rate_curve, _size_curve, _cpu_bars):
        name = make(plt, results, stem)
        if name:
            written.append(name)
    return written


def _series(
    results: Sequence[dict[str, Any]], select: Any, x_key: str
) -> dict[str, list[tuple[float, dict[str, Any]]]]:
    lines: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for r in results:
        if r["kind"] == "fanout" and select(r["params"]):
            lines[r["server"]].append((float(r["params"][x_key]), r["figures"]))
    return {k: sorted(v, key=lambda item: item[0]) for k, v in lines.items() if len(v) >= 2}


def _rate_curve(plt: Any, results: Sequence[dict[str, Any]], stem: str) -> str | None:
    lines = _series(results, lambda p: p.get("rate", 0) > 0 and not p.get("tls"), "rate")
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for server, points in lines.items():
        xs = [x for x, _ in points]
        ax.plot(
            xs,
            [f.get("latency_p99_ms") for _, f in points],
            "o-",
            label=f"{server} p99",
            color=_colour(server),
        )
        ax.plot(
            xs,
            [f.get("latency_p50_ms") for _, f in points],
            "o--",
            label=f"{server} p50",
            color=_colour(server),
            alpha=0.5,
        )
    n = next(iter(r["params"]["n"] for r in results if r["kind"] == "fanout"))
    ax.set(
        xlabel="messages/s into the room",
        ylabel="latency, ms",
        title=f"Latency against message rate (one room of {n})",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, f"{stem}-p99-vs-rate.svg")


def _size_curve(plt: Any, results: Sequence[dict[str, Any]], stem: str) -> str | None:
    lines = _series(
        results,
        lambda p: (
            p.get("rate", 0) <= 0 and p.get("eager") and not p.get("tls") and not p.get("labeled")
        ),
        "n",
    )
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for server, points in lines.items():
        ax.plot(
            [x for x, _ in points],
            [f.get("deliveries_per_s", 0) / 1e6 for _, f in points],
            "o-",
            label=server,
            color=_colour(server),
        )
    ax.set_xscale("log")
    ax.set(
        xlabel="room size (members)",
        ylabel="deliveries/s, millions",
        title="Fan-out at full speed against room size (10 senders)",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, f"{stem}-deliveries-vs-size.svg")


def _cpu_bars(plt: Any, results: Sequence[dict[str, Any]], stem: str) -> str | None:
    by_label: dict[str, dict[str, float]] = defaultdict(dict)
    for r in results:
        value = r["figures"].get("server_cpu_s_per_M")
        if r["kind"] in ("fanout", "rooms", "realistic") and isinstance(value, (int, float)):
            by_label[r["label"]][r["server"]] = value
    if not by_label:
        return None
    servers = sorted({s for v in by_label.values() for s in v}, key=lambda s: s != "chatd")
    labels = list(by_label)
    fig, ax = plt.subplots(figsize=(7.5, 0.5 + 0.45 * len(labels) * len(servers)))
    height = 0.8 / len(servers)
    for k, server in enumerate(servers):
        ys = [i + k * height for i in range(len(labels))]
        ax.barh(
            ys,
            [by_label[label].get(server, 0.0) for label in labels],
            height=height,
            label=server,
            color=_colour(server),
        )
    ax.set_yticks([i + height * (len(servers) - 1) / 2 for i in range(len(labels))])
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set(
        xlabel="server CPU seconds per million deliveries (log scale; less is better)",
        title="CPU per delivery",
    )
    ax.grid(alpha=0.3, axis="x")
    ax.legend()
    return _save(plt, fig, f"{stem}-cpu-per-delivery.svg")


def _save(plt: Any, fig: Any, name: str) -> str:
    fig.tight_layout()
    fig.savefig(name, metadata={"Date": None})  # no timestamp: the same run, the same file
    plt.close(fig)
    return name
