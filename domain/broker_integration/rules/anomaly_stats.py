"""Robust statistics for the anomaly rules: median/MAD modified z-scores and an EWMA baseline. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["LatencyBaseline", "ewma_baseline", "median", "modified_zscore"]

# Iglewicz & Hoaglin: 0.6745 makes the MAD consistent with a normal standard deviation; when more than
# half the points are equal (MAD = 0) the mean absolute deviation scaled by 1.253314 stands in.
_MAD_SCALE = Decimal("0.6745")
_MEAN_AD_SCALE = Decimal("1.253314")


def median(values: Sequence[Decimal]) -> Decimal:
    """The median of a non-empty sequence."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def modified_zscore(value: Decimal, history: Sequence[Decimal], min_points: int = 8) -> Decimal | None:
    """How far `value` is from the history's median in robust standard deviations (None: too little history,
    or a history with no spread at all, where any distance would be infinite)."""
    if len(history) < min_points:
        return None
    center = median(history)
    deviations = [abs(x - center) for x in history]
    mad = median(deviations)
    if mad > 0:
        return _MAD_SCALE * (value - center) / mad
    mean_ad = sum(deviations, Decimal(0)) / len(deviations)
    if mean_ad > 0:
        return (value - center) / (_MEAN_AD_SCALE * mean_ad)
    return None


@dataclass(frozen=True, slots=True)
class LatencyBaseline:
    """An exponentially weighted mean and mean absolute deviation of a connection's latencies."""

    mean: Decimal
    deviation: Decimal
    samples: int

    def upper_bound(self, k: Decimal) -> Decimal:
        """The latency above which a sample is `k` deviations out."""
        return self.mean + k * self.deviation


def ewma_baseline(samples: Sequence[Decimal], alpha: Decimal = Decimal("0.2")) -> LatencyBaseline | None:
    """EWMA mean and deviation of `samples`, oldest first (None without samples).

    The deviation starts at a quarter of the first sample, so two identical samples do not make a
    baseline that any jitter would break.
    """
    if not samples:
        return None
    if not Decimal(0) < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], not {alpha}")
    mean = samples[0]
    deviation = abs(samples[0]) / 4
    for sample in samples[1:]:
        deviation = (1 - alpha) * deviation + alpha * abs(sample - mean)
        mean = (1 - alpha) * mean + alpha * sample
    return LatencyBaseline(mean=mean, deviation=deviation, samples=len(samples))
