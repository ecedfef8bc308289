"""Shared by the benchmarks: paired, alternating measurements and their summary.

The machines are shared and noisy, so each benchmark alternates the two sides in one run and
reports medians and the median of the paired ratios, never a single timing.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def paired_summary(name_a: str, a: Sequence[float], name_b: str, b: Sequence[float], unit: str = "ms") -> str:
    ratios = [x / y for x, y in zip(a, b, strict=True) if y > 0]
    lines = [
        f"{name_a:>28}: median {statistics.median(a):8.1f} {unit}  (min {min(a):.1f}, max {max(a):.1f}, n={len(a)})",
        f"{name_b:>28}: median {statistics.median(b):8.1f} {unit}  (min {min(b):.1f}, max {max(b):.1f}, n={len(b)})",
        f"{'ratio (median of pairs)':>28}: {statistics.median(ratios):8.3f}",
    ]
    return "\n".join(lines)
