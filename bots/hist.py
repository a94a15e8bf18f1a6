"""A small mergeable latency histogram with about 1% relative precision.

Values are integers (the bots record microseconds). Bucket ``i`` holds values in
``[BASE**i, BASE**(i+1))``; value 0 has its own bucket. Recording is one ``log``
and one dict increment, so a worker can afford it for every delivery; merging two
histograms adds their counts, so workers' histograms combine exactly.

Percentiles follow the nearest-rank rule: ``p`` is the smallest recorded value
(to within a bucket) such that at least ``p`` percent of the samples are at or
below it. The reported value is the bucket's geometric middle, clamped to the
exact minimum and maximum seen, so ``percentile(100)`` is the exact maximum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

BASE = 1.02
_INV_LOG_BASE = 1.0 / math.log(BASE)
_ZERO = -1  # bucket index for values <= 0


def bucket_of(value: int) -> int:
    """The bucket index of a value (values below 1 share bucket -1)."""
    if value < 1:
        return _ZERO
    return int(math.log(value) * _INV_LOG_BASE)


def bucket_bounds(index: int) -> tuple[float, float]:
    """The half-open range ``[low, high)`` that bucket ``index`` covers."""
    if index == _ZERO:
        return (0.0, 1.0)
    return (BASE**index, BASE ** (index + 1))


def bucket_middle(index: int) -> float:
    if index == _ZERO:
        return 0.0
    low, high = bucket_bounds(index)
    return math.sqrt(low * high)


class Histogram:
    """Counts of values by bucket, plus the exact count, sum, minimum and maximum."""

    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def record(self, value: int) -> None:
        """Add one value (an int; negative values count as 0, a clock cannot run backwards here)."""
        if value < 0:
            value = 0
        index = -1 if value < 1 else int(math.log(value) * _INV_LOG_BASE)
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        if self.count == 0 or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.count += 1
        self.total += value

    def record_many(self, values: Iterable[int]) -> None:
        for value in values:
            self.record(value)

    def merge(self, other: Histogram) -> Histogram:
        """Add another histogram's samples into this one; returns self."""
        if other.count == 0:
            return self
        counts = self.counts
        for index, n in other.counts.items():
            counts[index] = counts.get(index, 0) + n
        if self.count == 0 or other.min < self.min:
            self.min = other.min
        if other.max > self.max:
            self.max = other.max
        self.count += other.count
        self.total += other.total
        return self

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile, ``0 < p <= 100``; None when empty."""
        if self.count == 0:
            return None
        if p <= 0:
            return float(self.min)
        if p >= 100:
            return float(self.max)
        rank = math.ceil(p / 100.0 * self.count)
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return float(min(max(bucket_middle(index), self.min), self.max))
        return float(self.max)  # unreachable: the counts add up to count

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def summary(self, scale: float = 1.0) -> dict[str, float | int | None]:
        """count, min, p50, p90, p99, p999, max and mean, each value divided by ``scale``."""

        def scaled(value: float | None) -> float | None:
            return None if value is None else round(value / scale, 3)

        return {
            "count": self.count,
            "min": scaled(float(self.min)) if self.count else None,
            "p50": scaled(self.percentile(50)),
            "p90": scaled(self.percentile(90)),
            "p99": scaled(self.percentile(99)),
            "p999": scaled(self.percentile(99.9)),
            "max": scaled(float(self.max)) if self.count else None,
            "mean": scaled(self.mean()),
        }

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form; ``from_dict`` reads it back exactly."""
        return {
            "count": self.count,
            "sum": self.total,
            "min": self.min,
            "max": self.max,
            "buckets": {str(k): v for k, v in sorted(self.counts.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Histogram:
        hist = cls()
        buckets = data.get("buckets") or {}
        assert isinstance(buckets, Mapping)
        hist.counts = {int(k): int(v) for k, v in buckets.items()}
        hist.count = int(data.get("count", 0))  # type: ignore[call-overload]
        hist.total = int(data.get("sum", 0))  # type: ignore[call-overload]
        hist.min = int(data.get("min", 0))  # type: ignore[call-overload]
        hist.max = int(data.get("max", 0))  # type: ignore[call-overload]
        return hist

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return (self.counts, self.count, self.total, self.min, self.max) == (
            other.counts,
            other.count,
            other.total,
            other.min,
            other.max,
        )

    def __repr__(self) -> str:
        return f"Histogram(count={self.count}, min={self.min}, max={self.max})"
