"""The benchmark harness's pure parts: wrk and hey parsing, percentiles, deltas and ratios."""

from __future__ import annotations

import pytest

from bench.report import TargetResult, build_document, growth_pct, merge_rounds, ratio
from bench.stats import new_histogram, percentile_key, record_s, summarize
from bench.table import notes, render_table
from bench.wrk import LoadError, parse_hey, parse_wrk

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8080/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   617.21us  229.41us   8.91ms   91.15%
    Req/Sec    26.16k     1.21k   28.34k    80.00%
  Latency Distribution
     50%  574.00us
     75%  652.00us
     90%  766.00us
     99%    1.41ms
  260315 requests in 10.00s, 301.41MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  26029.62
Transfer/sec:     30.14MB
"""

HEY_OUTPUT = """\
Status code distribution:
  [200]\t999 responses
  [503]\t1 responses

Error distribution:
  [3]\tGet "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused
"""


def test_wrk_output_gives_rps_percentiles_in_ms_and_errors() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result.rps == pytest.approx(26029.62)
    assert result.requests == 260315
    assert result.duration_s == pytest.approx(10.0)
    assert result.latency_ms == pytest.approx(
        {"p50": 0.574, "p75": 0.652, "p90": 0.766, "p99": 1.41}
    )
    assert result.non_2xx == 7
    assert result.socket_errors == {"connect": 0, "read": 2, "write": 0, "timeout": 1}
    assert result.errors == 10


def test_wrk_output_without_a_rate_is_an_error() -> None:
    with pytest.raises(LoadError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_hey_report_gives_statuses_and_failed_requests() -> None:
    assert parse_hey(HEY_OUTPUT) == ({200: 999, 503: 1}, 3)


def test_percentiles_of_one_to_a_thousand_microseconds() -> None:
    histogram = new_histogram()
    for micros in range(1, 1001):
        record_s(histogram, micros / 1e6)
    summary = summarize(histogram)
    assert summary["count"] == 1000
    assert summary["p50_ms"] == pytest.approx(0.5, abs=0.001)
    assert summary["p90_ms"] == pytest.approx(0.9, abs=0.001)
    assert summary["p99_ms"] == pytest.approx(0.99, abs=0.001)
    assert summary["max_ms"] == pytest.approx(1.0, abs=0.001)
    assert percentile_key(99.9) == "p99_9_ms"


def test_an_empty_histogram_reports_only_its_count() -> None:
    assert summarize(new_histogram()) == {"count": 0.0}


def _result(name: str, rps: float, p50: float, p99: float, rss: float) -> TargetResult:
    return TargetResult(
        name, rps=rps, p50_ms=p50, p90_ms=p50, p99_ms=p99, rss_idle_mb=rss, rss_mb=rss
    )


def test_added_latency_is_over_direct_and_ratios_are_glassmesh_over_envoy() -> None:
    results = [
        _result("direct", 60000, 0.1, 0.4, 9),
        _result("envoy", 4000, 0.6, 1.4, 70),
        _result("glassmesh", 2000, 1.1, 2.4, 35),
    ]
    doc = build_document(results, meta={})
    assert doc["envoy"]["added_p50_ms"] == pytest.approx(0.5)
    assert doc["glassmesh"]["added_p99_ms"] == pytest.approx(2.0)
    assert doc["direct"]["added_p50_ms"] == 0
    ratios = doc["ratios"]
    assert ratios["glassmesh_envoy_rps"] == pytest.approx(0.5)
    assert ratios["glassmesh_envoy_added_p50"] == pytest.approx(2.0)
    assert ratios["glassmesh_envoy_added_p99"] == pytest.approx(2.0)
    assert ratios["glassmesh_envoy_rss"] == pytest.approx(0.5)


def test_a_failed_target_has_no_numbers_and_no_ratios() -> None:
    glassmesh = _result("glassmesh", 2000, 1.1, 2.4, 35)
    glassmesh.fail("glassmesh-client exited with code 1")
    doc = build_document([_result("direct", 6e4, 0.1, 0.4, 9), glassmesh], meta={})
    assert doc["glassmesh"]["ok"] is False
    assert doc["glassmesh"]["rps"] is None
    assert doc["glassmesh"]["added_p50_ms"] is None
    assert doc["ratios"]["glassmesh_envoy_rps"] is None


def test_a_target_measured_with_errors_keeps_its_numbers_but_enters_no_ratio() -> None:
    glassmesh = _result("glassmesh", 200, 1.1, 2.4, 35)
    glassmesh.flag("wrk: 16 socket timeouts")
    envoy = _result("envoy", 4000, 0.6, 1.4, 70)
    doc = build_document([envoy, glassmesh], meta={})
    assert (doc["glassmesh"]["ok"], doc["glassmesh"]["rps"]) == (False, 200)
    assert doc["glassmesh"]["error"] == "wrk: 16 socket timeouts"
    assert set(doc["ratios"].values()) == {None}


def test_ratio_and_growth_refuse_missing_or_non_positive_baselines() -> None:
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None
    assert ratio(1.0, -0.2) is None
    assert growth_pct(40.0, 42.0) == pytest.approx(5.0)


def test_the_table_shows_failures_and_the_ratio_row() -> None:
    glassmesh = _result("glassmesh", 2000, 1.1, 2.4, 35)
    glassmesh.fail("boom")
    meta = {"connections": 16, "rate_rps": 1000.0, "duration_s": 10.0, "pinning": "none"}
    doc = build_document([_result("envoy", 4000, 0.6, 1.4, 70), glassmesh], meta)
    table = render_table(doc)
    assert table.row_count == 3
    assert any("glassmesh FAILED" in line and "boom" in line for line in notes(doc))


def test_rounds_merge_to_medians_keeping_every_round_and_problem() -> None:
    rounds = [TargetResult("envoy", rps=r, p99_ms=p, rss_mb=m) for r, p, m in
              [(3000.0, 1.0, 68.0), (4400.0, 0.9, 70.0), (2800.0, 5.0, 69.0)]]  # fmt: skip
    rounds[2].flag("wrk: 3 socket errors")
    merged = merge_rounds(rounds)
    assert merged.rps == 3700.0  # the median of the clean rounds only
    assert merged.p99_ms == 0.95
    assert merged.rss_mb == 70.0  # RSS is the worst seen
    assert [r["rps"] for r in merged.rounds] == [3000.0, 4400.0, 2800.0]
    assert not merged.ok and merged.problems == ["wrk: 3 socket errors"]
