"""Pure helpers of the benchmark: percentiles, latency summaries and the ours/reference ratio rows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

__all__ = ["Ratio", "Summary", "cpu_ratio", "percentile", "ratio", "ratio_rows", "summarize"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """Count and p50/p90/p99/max of one series (seconds for latencies)."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    mean: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def summarize(values: Iterable[float]) -> Summary:
    """Summary of a series; every statistic is None for an empty one."""
    data = list(values)
    mean = sum(data) / len(data) if data else None
    return Summary(len(data), percentile(data, 50), percentile(data, 90), percentile(data, 99),
                   max(data) if data else None, mean)


def ratio(ours: float | None, reference: float | None) -> float | None:
    """ours / reference, or None when either is missing or the reference is zero."""
    if ours is None or reference is None or reference == 0:
        return None
    return ours / reference


@dataclass(frozen=True)
class Ratio:
    """One row of a comparison: a metric, our value, the reference value, their ratio and the target."""

    metric: str
    ours: float | None
    reference: float | None
    ratio: float | None
    target: float | None = None
    higher_is_better: bool = False

    @property
    def meets_target(self) -> bool | None:
        """Whether the ratio is within the target (None without a target or a ratio)."""
        if self.target is None or self.ratio is None:
            return None
        return self.ratio >= 1 / self.target if self.higher_is_better else self.ratio <= self.target

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"meets_target": self.meets_target}


def ratio_rows(ours: dict[str, Summary], reference: dict[str, Summary], *, stat: str = "p50",
               target: float | None = None) -> list[Ratio]:
    """One ratio row per latency series both sides measured, on `stat` (p50, p99, ...)."""
    rows = []
    for name in ours:
        if name not in reference:
            continue
        mine, theirs = getattr(ours[name], stat), getattr(reference[name], stat)
        rows.append(Ratio(f"{name} {stat}", mine, theirs, ratio(mine, theirs), target))
    return rows


def cpu_ratio(ours: dict[str, float], reference: dict[str, float]) -> float | None:
    """The throughput ratio ours/reference that the CPU per order allows when every process of the stack shares
    the same cores and all of them are busy: the reference's CPU per order (all processes) over ours. None when
    either side has no figure."""
    return ratio(sum(reference.values()) if reference else None, sum(ours.values()) if ours else None)
