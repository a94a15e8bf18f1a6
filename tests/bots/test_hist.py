"""bots.hist: percentiles within the bucket precision, exact merges, a lossless JSON form."""

from __future__ import annotations

import math
import random

import pytest

from bots.hist import BASE, Histogram, bucket_bounds, bucket_of


def exact_percentile(values: list[int], p: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def test_empty_histogram_has_no_percentiles() -> None:
    hist = Histogram()
    assert hist.percentile(50) is None
    assert hist.summary()["p99"] is None
    assert hist.mean() is None


@pytest.mark.parametrize("p", [1, 50, 90, 99, 99.9])
def test_percentiles_are_within_one_bucket_of_the_exact_value(p: float) -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(8, 1.5)) for _ in range(20_000)]
    hist = Histogram()
    hist.record_many(values)
    exact = exact_percentile(values, p)
    got = hist.percentile(p)
    assert got is not None
    assert exact / BASE <= got <= exact * BASE


def test_min_max_and_p100_are_exact() -> None:
    hist = Histogram()
    hist.record_many([5, 1_000_003, 17, 0])
    assert hist.min == 0
    assert hist.max == 1_000_003
    assert hist.percentile(100) == 1_000_003
    assert hist.percentile(0) == 0
    assert hist.count == 4
    assert hist.total == 5 + 1_000_003 + 17


def test_negative_values_count_as_zero() -> None:
    hist = Histogram()
    hist.record(-40)
    assert hist.min == 0 and hist.max == 0 and hist.count == 1


def test_a_single_value_is_reported_exactly() -> None:
    hist = Histogram()
    hist.record(1234)
    assert hist.percentile(50) == 1234


def test_merging_equals_recording_everything_in_one() -> None:
    rng = random.Random(1)
    parts = [[rng.randrange(1, 10**7) for _ in range(500)] for _ in range(4)]
    whole = Histogram()
    for part in parts:
        whole.record_many(part)
    merged = Histogram()
    for part in parts:
        h = Histogram()
        h.record_many(part)
        merged.merge(h)
    assert merged == whole
    assert merged.merge(Histogram()) == whole


def test_round_trip_through_dict() -> None:
    hist = Histogram()
    hist.record_many([0, 3, 3, 99, 123_456])
    assert Histogram.from_dict(hist.to_dict()) == hist


def test_buckets_cover_their_values() -> None:
    for value in (1, 2, 50, 999, 123_456, 10**9):
        low, high = bucket_bounds(bucket_of(value))
        assert low <= value < high * 1.0000001
