"""Small pure helpers for figures: percentiles, medians of repeats, ratios.

No I/O and no clocks here, so these are tested without sockets.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of `values` by nearest rank; None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered))))
    return float(ordered[rank - 1])


def median_figures(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median over runs of numeric figures (None when no run has a number)."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run if k not in keys)
    merged: dict[str, Any] = {}
    for key in keys:
        numbers = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if numbers:
            merged[key] = statistics.median(numbers)
        else:
            merged[key] = next((r[key] for r in runs if key in r), None)
    return merged


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def ratios(ours: dict[str, Any], theirs: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: ratio(ours.get(k), theirs.get(k)) for k in keys}
