"""The config propagation benchmark's pure parts: percentiles, delays, RSS per sidecar, the
report and its summary, and the messages it builds and reads."""

from __future__ import annotations

import msgspec
import pytest

from bench.controlplane import (
    caveats,
)
from bench.cpfleet import (
    Fleet,
)
from bench.cpstats import (
    build_report,
    distribution_ms,
    first_newer_delay,
    identity,
    mb_per_sidecar,
    percentile,
    route,
    snapshot_version,
    summary,
)
from controlplane.api.resources import HTTPRoute, decode_resource
from controlplane.api.snapshot import Snapshot, encode


def test_percentiles_are_nearest_rank() -> None:
    values = [0.4, 0.1, 0.3, 0.2]
    assert percentile(values, 50) == 0.2
    assert percentile(values, 99) == 0.4
    assert percentile(values, 1) == 0.1
    assert percentile([], 50) is None


def test_a_distribution_is_in_milliseconds() -> None:
    shown = distribution_ms([0.1, 0.2, 1.5], ("p50", "p99", "max"))
    assert shown == {"p50": 200.0, "p99": 1500.0, "max": 1500.0}
    assert distribution_ms([], ("p50", "max")) == {"p50": None, "max": None}


def test_a_delay_runs_to_the_first_ack_of_a_newer_version() -> None:
    acks = [(3, 9.0), (3, 10.5), (4, 10.2), (5, 10.4)]
    assert first_newer_delay(acks, floor=3, t0=10.0) == pytest.approx(0.2)
    assert first_newer_delay(acks, floor=5, t0=10.0) is None  # nothing newer yet
    assert first_newer_delay([(4, 9.5)], floor=3, t0=10.0) is None  # before the apply


def test_the_fleet_is_done_when_every_sidecar_acked_something_newer() -> None:
    fleet = Fleet(2)
    fleet.acked(0, 1, 1.0)
    assert fleet.expect_newer() == [1, -1]
    fleet.acked(1, 1, 2.0)
    assert fleet.waiting() == 1
    fleet.acked(0, 1, 2.1)  # the same version again is not newer
    assert fleet.waiting() == 1
    fleet.acked(0, 2, 2.2)
    assert fleet.waiting() == 0 and fleet.latest == [2, 1]


def test_rss_per_sidecar_is_the_growth_over_the_count() -> None:
    assert mb_per_sidecar(50.0, 150.0, 1000) == pytest.approx(0.1)
    assert mb_per_sidecar(None, 150.0, 1000) is None
    assert mb_per_sidecar(50.0, 150.0, 0) is None


def test_the_report_has_the_issue_target_and_ratio() -> None:
    meta = {"caveats": ["one process"]}
    report = build_report(200, [0.3, 0.5, 1.2], [0.1, 0.2, 0.3], (40.0, 60.0), meta)
    assert report["apply_to_last_ack_ms"] == {"p50": 500.0, "p99": 1200.0, "max": 1200.0}
    assert report["per_client_delay_ms"] == {"p50": 200.0, "p99": 300.0}
    assert report["rss_mb_per_sidecar"] == pytest.approx(0.1)
    assert (report["target_p99_ms"], report["ratio"]) == (1000.0, 1.2)
    text = summary(report)
    assert "200 sidecars" in text and "ratio 1.20" in text and "caveat: one process" in text


def test_a_report_without_applies_has_no_ratio() -> None:
    report = build_report(10, [], [], (None, None), {})
    assert report["ratio"] is None and "ratio n/a" in summary(report)


def test_caveats_name_a_busy_load_generator_and_empty_snapshots() -> None:
    meta = {
        "load_generator_cpu_share_max": 0.95,
        "snapshot": {"clusters": 0},
        "pinning": "control plane on core 0, sidecars (this process) on core 1",
    }
    found = caveats(meta, shared=False)
    assert len(found) == 2 and "95%" in found[0] and "fail closed" in found[1]
    meta = {**meta, "load_generator_cpu_share_max": 0.2, "snapshot": {"clusters": 50}}
    assert caveats(meta, shared=True) == []


def test_each_apply_is_a_valid_route_that_differs_from_the_last() -> None:
    first, second = decode_resource(route(1)), decode_resource(route(2))
    assert isinstance(first, HTTPRoute) and first.key() == second.key() and first != second


def test_identities_are_per_sidecar_or_per_service() -> None:
    assert identity(51, shared=False) == "spiffe://cluster.local/ns/default/sa/proxy-51"
    assert identity(51, shared=True) == "spiffe://cluster.local/ns/default/sa/svc-1"


def test_only_a_snapshot_has_a_version() -> None:
    assert snapshot_version(encode(Snapshot(version=7, trust_bundle_pem="x"))) == 7
    with pytest.raises(msgspec.ValidationError):
        snapshot_version(b'{"type": "ack", "version": 7}')
