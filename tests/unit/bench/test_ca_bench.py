"""The CA benchmark's pure parts: the report's figure and ratio, and timing with a fake clock."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from bench.ca import build_report, main, make_csrs, summary, time_signing
from controlplane.ca import create_root


def test_the_figure_is_the_median_round_and_the_ratio_is_over_1000_per_s() -> None:
    report = build_report(2000, [1.0, 4.0, 0.5], core="0")
    assert report["certs_per_s"] == 2000.0
    assert report["target"] == 1000
    assert report["ratio"] == pytest.approx(2.0)
    assert report["rounds_certs_per_s"] == [2000.0, 500.0, 4000.0]
    assert "ratio 2.00" in summary(report)


def test_a_report_without_a_usable_round_has_no_figure() -> None:
    report = build_report(10, [0.0], core="unpinned")
    assert (report["certs_per_s"], report["ratio"]) == (None, None)
    assert "ratio n/a" in summary(report)


def test_signing_is_timed_by_the_clock_given() -> None:
    ticks = itertools.count(10.0, 2.5)
    assert time_signing(create_root(), make_csrs(3), clock=lambda: next(ticks)) == 2.5


def test_a_small_run_writes_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ca.json"
    assert main(["--csrs", "5", "--rounds", "1", "--no-pin", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["csrs"] == 5 and document["certs_per_s"] > 0
    assert "certs/s" in capsys.readouterr().out
