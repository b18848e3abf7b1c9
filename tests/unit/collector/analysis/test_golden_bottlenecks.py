"""Accuracy: in every generated scenario the top finding is the culprit a user would name."""

from __future__ import annotations

import pytest

from collector.analysis.analyzer import Analyzer
from tests.golden.bottlenecks.scenarios import SCENARIOS, Scenario
from tests.golden.bottlenecks.workload import generate


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_top_finding_is_the_culprit(scenario: Scenario) -> None:
    analyzer = Analyzer()
    for workload in scenario.workloads:
        for trace_id, spans in generate(workload):
            analyzer.add(trace_id, spans, now_s=100.0)
    for entry in scenario.entries:
        report = analyzer.report(entry, lookback_s=900.0, now_s=100.0)
        assert report is not None
        top = report.bottlenecks[0]
        ranked = [(b.kind, b.service, b.operation, b.estimated_saving_ms)
                  for b in report.bottlenecks[:4]]  # fmt: skip
        assert (top.kind, top.service, top.operation) == scenario.culprit, ranked
        assert top.evidence_trace_ids


def test_there_are_at_least_fifteen_scenarios() -> None:
    assert len(SCENARIOS) >= 15


def test_a_slow_edge_shows_the_share_of_the_network_hop_not_of_the_service() -> None:
    (scenario,) = [s for s in SCENARIOS if s.name == "slow_edge"]
    analyzer = Analyzer()
    for trace_id, spans in generate(scenario.workloads[0]):
        analyzer.add(trace_id, spans, now_s=100.0)
    report = analyzer.report(scenario.entries[0], lookback_s=900.0, now_s=100.0)
    assert report is not None
    top = report.bottlenecks[0]
    assert top.kind == "slow_edge" and top.critical_path_share > 0.7
    (inventory,) = [o for o in report.operations if o.service == "inventory"]
    assert inventory.gap_ms > 80 and inventory.critical_path_share < 0.1
