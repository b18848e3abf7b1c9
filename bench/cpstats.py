"""Pure parts of the propagation bench: percentiles, delays, RSS per sidecar, the report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec

from bench.report import ratio

TARGET_P99_MS = 1000.0
SERVICES = 50  # sidecar i registers as service svc-<i % SERVICES>


class BenchError(RuntimeError):
    """The run could not be measured (the control plane misbehaved or time ran out)."""


# --- pure parts: statistics and the report ------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def distribution_ms(values_s: Sequence[float], keys: Sequence[str]) -> dict[str, float | None]:
    """``keys`` (``p50``, ``p99``, ``max``) of durations in seconds, as milliseconds."""
    out: dict[str, float | None] = {}
    for key in keys:
        value = (
            max(values_s, default=None) if key == "max" else percentile(values_s, float(key[1:]))
        )
        out[key] = None if value is None else round(value * 1000.0, 1)
    return out


def first_newer_delay(acks: Sequence[tuple[int, float]], floor: int, t0: float) -> float | None:
    """Seconds from ``t0`` to the first ACK (version, time) of a version above ``floor``."""
    times = [at for version, at in acks if version > floor and at >= t0]
    return min(times) - t0 if times else None


def mb_per_sidecar(before: float | None, connected: float | None, sidecars: int) -> float | None:
    """RSS growth per connected sidecar, in MB."""
    if before is None or connected is None or sidecars < 1:
        return None
    return round((connected - before) / sidecars, 4)


def build_report(
    sidecars: int, to_last_s: Sequence[float], per_client_s: Sequence[float],
    rss: tuple[float | None, float | None], meta: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The JSON document: the apply-to-last-ACK figures, the per-client delays and the RSS."""
    to_last = distribution_ms(to_last_s, ("p50", "p99", "max"))
    before, connected = rss
    return {
        "sidecars": sidecars,
        "apply_to_last_ack_ms": to_last,
        "per_client_delay_ms": distribution_ms(per_client_s, ("p50", "p99")),
        "rss_mb_per_sidecar": mb_per_sidecar(before, connected, sidecars),
        "control_plane_rss_mb": {"before": _rounded(before), "connected": _rounded(connected)},
        "target_p99_ms": TARGET_P99_MS,
        "ratio": _rounded(ratio(to_last["p99"], TARGET_P99_MS), 3),
        "applies_ms": [round(s * 1000.0, 1) for s in to_last_s],
        "meta": meta,
    }


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal: the figure, the target, the ratio and the RSS."""
    last, each = report["apply_to_last_ack_ms"], report["per_client_delay_ms"]
    rss = report["control_plane_rss_mb"]
    shown = "n/a" if report["ratio"] is None else f"{report['ratio']:.2f}"
    lines = [
        f"config propagation to {report['sidecars']} sidecars: apply -> last ACK "
        f"p50 {last['p50']} ms, p99 {last['p99']} ms, max {last['max']} ms "
        f"(target p99 {report['target_p99_ms']:.0f} ms, ratio {shown})",
        f"  per-client delay p50 {each['p50']} ms, p99 {each['p99']} ms; control plane RSS "
        f"{rss['before']} -> {rss['connected']} MB ({report['rss_mb_per_sidecar']} MB per sidecar)",
    ]
    lines += [f"  caveat: {c}" for c in report["meta"].get("caveats", [])]
    return "\n".join(lines)


def route(change: int) -> dict[str, Any]:
    """The HTTPRoute applied: the same route each time, its backend's weight changed by
    ``change`` (something every sidecar routes by, so each apply is a push to all)."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": "svc-0"}],
            "rules": [{"backendRefs": [{"name": "svc-0", "port": 8000, "weight": 1 + change}]}],
        },
    }


def identity(index: int, shared: bool) -> str:
    """Sidecar ``index``'s SPIFFE ID: its own, or (``shared``) its service's."""
    name = f"svc-{index % SERVICES}" if shared else f"proxy-{index}"
    return f"spiffe://cluster.local/ns/default/sa/{name}"


class _SnapshotVersion(msgspec.Struct, tag_field="type", tag="snapshot"):
    """Only the version of a Snapshot: the load generator must cost less than what it measures."""

    version: int


_version_decoder = msgspec.json.Decoder(_SnapshotVersion)


def snapshot_version(data: bytes | str) -> int:
    """The version of a Snapshot message; raises msgspec.DecodeError (or its subclass
    ValidationError) for anything else."""
    return _version_decoder.decode(data).version


# --- the fleet of test sidecars -----------------------------------------------------------------
