"""Histogram buckets as Prometheus reads them: a value counts in the first bucket whose upper
bound (``le``) it does not exceed, past the last bound in +Inf."""

from __future__ import annotations

from bisect import bisect_left

from controlplane.api.telemetry import BUCKETS
from sidecar.telemetry.metrics import Histogram


def test_a_value_counts_in_the_first_bucket_whose_bound_it_does_not_exceed() -> None:
    values = [0, 0.25, 0.5, 0.5001, 1, 1.5, 5, 999.9, 1000, 1100, 3_600_000, 3_600_001, 1e12]
    for value in values:
        hist = Histogram()
        hist.observe(value)
        assert hist.buckets.index(1) == bisect_left(BUCKETS, value), value
        assert hist.count == 1 and hist.sum == value


def test_the_last_bucket_is_inf() -> None:
    hist = Histogram()
    hist.observe(BUCKETS[-1] * 2)
    assert hist.buckets[-1] == 1 and len(hist.buckets) == len(BUCKETS) + 1
