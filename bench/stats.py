"""Latency histograms: HdrHistogram in microseconds (1 µs to 60 s, 3 significant digits)."""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> Any:
    """An empty latency histogram, values in microseconds."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_s(histogram: Any, seconds: float) -> None:
    """Record one latency given in seconds, clamped into the histogram's range."""
    micros = min(HIGHEST_US, max(LOWEST_US, round(seconds * 1e6)))
    histogram.record_value(micros)


def percentile_key(pct: float) -> str:
    """The JSON key of a percentile: 50 -> 'p50_ms', 99.9 -> 'p99_9_ms'."""
    return "p" + f"{pct:g}".replace(".", "_") + "_ms"


def summarize(histogram: Any) -> dict[str, float]:
    """Count, mean, max and the reported percentiles of a histogram, in milliseconds."""
    summary: dict[str, float] = {"count": float(histogram.get_total_count())}
    if not summary["count"]:
        return summary
    summary["mean_ms"] = histogram.get_mean_value() / 1e3
    summary["max_ms"] = histogram.get_max_value() / 1e3
    for pct in PERCENTILES:
        summary[percentile_key(pct)] = histogram.get_value_at_percentile(pct) / 1e3
    return summary


def encode(histogram: Any) -> str:
    """The histogram in HdrHistogram's compressed base64 form, for ``dump_hdrh`` and friends."""
    data: bytes = histogram.encode()
    return data.decode("ascii")
