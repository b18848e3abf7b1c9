"""Jittered exponential backoff between retries (certificate renewal, config stream reconnects)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Retry delays: doubling from ``min_s``, capped at ``max_s``, less up to 20% jitter so a
    fleet that failed together does not retry together."""

    min_s: float = 1.0
    max_s: float = 60.0

    def delay(self, attempt: int, rng: float) -> float:
        """Seconds before retry ``attempt`` (0-based); ``rng`` in [0, 1) takes up to 20% off.
        Always within [min_s, max_s]."""
        full = min(self.max_s, self.min_s * 2.0 ** min(attempt, 32))
        return max(self.min_s, full * (1.0 - 0.2 * rng))
