"""The control plane's /metrics text: every counter from the start, the push-latency histogram's
cumulative buckets, and the soonest expiry among each identity's newest certificate."""

from __future__ import annotations

from controlplane.metrics import ControlPlaneMetrics


def samples(text: str) -> dict[str, float]:
    """Sample lines as name{labels} -> value (comments skipped)."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_counters_are_exported_at_zero_before_anything_happens() -> None:
    seen = samples(ControlPlaneMetrics().render())
    for name in ("pushes_total", "acks_total", "nacks_total", "certificates_issued_total"):
        assert seen[f"glassmesh_controlplane_{name}"] == 0
    assert seen["glassmesh_controlplane_connected_sidecars"] == 0
    assert seen['glassmesh_controlplane_push_latency_seconds_bucket{le="+Inf"}'] == 0
    assert "glassmesh_controlplane_workload_cert_soonest_expiry_timestamp_seconds" not in seen


def test_push_latency_buckets_are_cumulative() -> None:
    metrics = ControlPlaneMetrics()
    for seconds in (0.003, 0.2, 0.2, 40.0):
        metrics.push_latency.observe(seconds)
    seen = samples(metrics.render())
    bucket = "glassmesh_controlplane_push_latency_seconds_bucket"
    assert seen[f'{bucket}{{le="0.005"}}'] == 1
    assert seen[f'{bucket}{{le="0.25"}}'] == 3
    assert seen[f'{bucket}{{le="30"}}'] == 3
    assert seen[f'{bucket}{{le="+Inf"}}'] == 4
    assert seen["glassmesh_controlplane_push_latency_seconds_count"] == 4
    assert seen["glassmesh_controlplane_push_latency_seconds_sum"] == 40.403


def test_soonest_expiry_follows_renewals_and_forgets_expired_certificates() -> None:
    now = [1000.0]
    metrics = ControlPlaneMetrics(clock=lambda: now[0])
    metrics.issued("spiffe://td/ns/a/sa/x", 2000.0)
    metrics.issued("spiffe://td/ns/a/sa/y", 3000.0)
    assert metrics.soonest_expiry() == 2000.0
    metrics.issued("spiffe://td/ns/a/sa/x", 4000.0)  # x renewed: its old certificate is replaced
    assert metrics.soonest_expiry() == 3000.0
    now[0] = 3500.0
    assert metrics.soonest_expiry() == 4000.0
    seen = samples(metrics.render())
    assert seen["glassmesh_controlplane_certificates_issued_total"] == 3
    assert seen["glassmesh_controlplane_workload_cert_soonest_expiry_timestamp_seconds"] == 4000
