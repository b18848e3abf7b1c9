"""The connectors benchmark's pure parts: batches, the report's figures, and a small run."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from bench.connectors import (
    baseline,
    build_report,
    count_spans,
    main,
    make_batches,
    read_batches,
    table,
    time_run,
)


def test_batches_hold_the_spans_asked_for_in_mesh_shape() -> None:
    batches = make_batches(100, per_batch=50)
    assert count_spans(batches) >= 100
    assert {rs.resource.attributes[0].value.string_value for rs in batches[0]} >= {
        "frontend",
        "cart",
    }


def test_the_figure_is_microseconds_a_span_over_the_baseline_and_its_ratio_to_3() -> None:
    rounds = [{"baseline": 0.1, "servicegraph": 0.4, "spanmetrics": 0.3, "both": 0.7}] * 3
    report = build_report(100_000, rounds, core="0")
    assert report["runs"]["both"]["added_us_per_span"] == pytest.approx(6.0)
    assert report["runs"]["baseline"]["spans_per_s"] == pytest.approx(1_000_000)
    assert report["ratio"] == pytest.approx(2.0)
    assert "ratio 2.00" in table(report)


def test_runs_are_timed_by_the_clock_given() -> None:
    ticks = itertools.count(1.0, 0.5)
    assert time_run(baseline, read_batches(make_batches(10)), clock=lambda: next(ticks)) == 0.5


def test_connectors_are_timed_on_batches_read_once_as_the_pipeline_hands_them() -> None:
    batches = read_batches(make_batches(100, per_batch=50))
    assert sum(b.spans for b in batches) == count_spans(make_batches(100, per_batch=50))
    assert all(not b.rejected for b in batches)


def test_a_small_run_writes_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "connectors.json"
    assert main(["--spans", "200", "--rounds", "1", "--no-pin", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["runs"]["both"]["spans_per_s"] > 0
    assert set(document["runs"]) == {"baseline", "read", "servicegraph", "spanmetrics", "both"}
    assert "µs/span" in capsys.readouterr().out
