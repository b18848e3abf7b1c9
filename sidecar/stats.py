"""Counters of a sidecar: plain integers bumped on the request path, read by the admin API."""

from __future__ import annotations

from collections import Counter

# Envoy's response flags, as we set them in ``x-glassmesh-flags`` and count them.
NO_ROUTE = "NR"
NO_CLUSTER = "NC"
UPSTREAM_OVERFLOW = "UO"
RETRY_LIMIT_EXCEEDED = "URX"
RBAC_DENIED = "RBAC"
FAULT_ABORT = "FI"
FAULT_DELAY = "DI"
UPSTREAM_FAILURE = "UF"
NO_HEALTHY_UPSTREAM = "UH"
UPSTREAM_TIMEOUT = "UT"
UPSTREAM_PROTOCOL_ERROR = "UPE"
DOWNSTREAM_PROTOCOL_ERROR = "DPE"
DOWNSTREAM_CLOSED = "DC"
STREAM_IDLE_TIMEOUT = "SI"


class ListenerStats:
    """What one listener saw. Attributes are bumped directly: no lookups on the request path."""

    __slots__ = ("cx_active", "cx_total", "flags", "name", "rq_retry", "rq_total", "status")

    def __init__(self, name: str) -> None:
        self.name = name
        self.cx_total = 0
        self.cx_active = 0
        self.rq_total = 0
        self.rq_retry = 0
        self.flags: Counter[str] = Counter()
        self.status: Counter[int] = Counter()

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready snapshot."""
        return {
            "cx_total": self.cx_total,
            "cx_active": self.cx_active,
            "rq_total": self.rq_total,
            "rq_retry": self.rq_retry,
            "local_replies_by_flag": dict(self.flags),
            "local_replies_by_status": {str(k): v for k, v in self.status.items()},
        }

    def prometheus(self) -> list[str]:
        """Lines of the Prometheus text format for this listener."""
        label = f'listener="{self.name}"'
        lines = [
            f"glassmesh_sidecar_downstream_connections_total{{{label}}} {self.cx_total}",
            f"glassmesh_sidecar_downstream_connections_active{{{label}}} {self.cx_active}",
            f"glassmesh_sidecar_downstream_requests_total{{{label}}} {self.rq_total}",
            f"glassmesh_sidecar_upstream_retries_total{{{label}}} {self.rq_retry}",
        ]
        lines += [
            f'glassmesh_sidecar_local_replies_total{{{label},flag="{flag}"}} {count}'
            for flag, count in sorted(self.flags.items())
        ]
        return lines
