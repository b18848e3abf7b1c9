"""Passive outlier detection: eject an endpoint that keeps failing, let it back in later.

Envoy's consecutive-errors detectors, judged at the caller from what it sees: every final
response status, and connect failures and resets (counted as a 503, a gateway error). An endpoint
reaching ``consecutive_5xx`` 5xx, or ``consecutive_gateway_errors`` 502/503/504, in a row is
ejected for ``base_ejection_s`` x (its number of ejections), unless that would put more than
``max_ejection_percent`` of the cluster out (at least one may always go, as in Envoy). An ejected
endpoint comes back once its time is up; each ``interval_s`` it then serves lowers its multiplier
by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from controlplane.api.sidecar import OutlierDetectionConfig

if TYPE_CHECKING:
    from sidecar.transport.pool import Endpoint

GATEWAY_ERRORS = (502, 503, 504)


class OutlierDetector:
    """Counts each endpoint's failures in a row and decides ejections. Not thread-safe."""

    __slots__ = ("_clock", "config", "ejections_total")

    def __init__(self, config: OutlierDetectionConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self._clock = clock
        self.ejections_total = 0

    def record(self, endpoint: Endpoint, status: int, endpoints: Sequence[Endpoint]) -> bool:
        """Counts one outcome of ``endpoint``; returns True if it was ejected now."""
        if status < 500:
            endpoint.consecutive_5xx = 0
            endpoint.consecutive_gateway = 0
            return False
        endpoint.consecutive_5xx += 1
        endpoint.consecutive_gateway = (
            endpoint.consecutive_gateway + 1 if status in GATEWAY_ERRORS else 0
        )
        config = self.config
        tripped = (0 < config.consecutive_5xx <= endpoint.consecutive_5xx) or (
            0 < config.consecutive_gateway_errors <= endpoint.consecutive_gateway
        )
        if not tripped or endpoint.ejected_until > 0.0:
            return False
        return self._eject(endpoint, endpoints)

    def _eject(self, endpoint: Endpoint, endpoints: Sequence[Endpoint]) -> bool:
        ejected = sum(1 for e in endpoints if e.ejected_until > 0.0)
        if ejected > 0 and (ejected + 1) * 100.0 > self.config.max_ejection_percent * len(
            endpoints
        ):
            return False
        now = self._clock()
        self._relax(endpoint, now)
        endpoint.ejections += 1
        endpoint.ejected_until = now + self.config.base_ejection_s * endpoint.ejections
        endpoint.consecutive_5xx = endpoint.consecutive_gateway = 0
        self.ejections_total += 1
        return True

    def _relax(self, endpoint: Endpoint, now: float) -> None:
        """Lowers the multiplier by one per interval it has served since it came back."""
        if endpoint.ejections and endpoint.returned_at > 0.0:
            quiet = int((now - endpoint.returned_at) / self.config.interval_s)
            endpoint.ejections = max(0, endpoint.ejections - quiet)

    def readmit(self, endpoints: Sequence[Endpoint]) -> bool:
        """Lets back every endpoint whose ejection time is up; returns whether any came back."""
        now = self._clock()
        back = False
        for endpoint in endpoints:
            if 0.0 < endpoint.ejected_until <= now:
                endpoint.ejected_until = 0.0
                endpoint.returned_at = now
                back = True
        return back

    def next_return(self, endpoints: Sequence[Endpoint]) -> float:
        """When the first ejected endpoint comes back (0.0 when none is out)."""
        times = [e.ejected_until for e in endpoints if e.ejected_until > 0.0]
        return min(times) if times else 0.0
