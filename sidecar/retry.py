"""When a failed upstream attempt is tried again, and after how long.

Istio's default, for requests no route retry covers: 2 retries on a connect failure, a reset
before any response, or a 503. An HTTPRoute rule's ``retry`` (Gateway API GEP-1731) sets the
attempts, the status codes and the backoff. Either way:

- a request whose method is not idempotent (POST, PATCH, CONNECT) is retried only after a connect
  failure, when nothing of it can have reached the app;
- a request is retried only if all of it was sent and all of it fits the replay buffer
  (``REPLAY_LIMIT``): a longer body streams through once;
- the pause before retry ``n`` is jittered exponential backoff from ``backoff_s`` (Envoy: 25 ms
  base, at most 10x);
- a retry budget keeps retries from amplifying an outage: a cluster runs at most
  ``BUDGET_PERCENT`` % of its active requests as retries, or ``BUDGET_MIN`` at once.
"""

from __future__ import annotations

from random import random

REPLAY_LIMIT = 64 * 1024
BUDGET_PERCENT = 20.0
BUDGET_MIN = 3
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})

CONNECT = 0  # the connection could not be made: nothing was sent
RESET = 1  # the connection broke before a response head
STATUS = 2  # a response with a retriable status
TRY_TIMEOUT = 3  # no response within the per-try timeout


class RetryPolicy:
    """How often and on what to retry."""

    __slots__ = ("attempts", "backoff_s", "codes")

    def __init__(self, attempts: int, codes: frozenset[int], backoff_s: float) -> None:
        self.attempts = attempts
        self.codes = codes
        self.backoff_s = backoff_s

    def allows(self, reason: int, attempt: int, method: bytes, status: int = 0) -> bool:
        """Whether the failure ``reason`` of try ``attempt`` (0: the first) may be retried."""
        if attempt >= self.attempts:
            return False
        if reason == STATUS and status not in self.codes:
            return False
        return reason == CONNECT or method in IDEMPOTENT

    def delay(self, attempt: int) -> float:
        """Seconds before retry ``attempt`` (1-based): up to base x 2^(n-1), at most 10x base."""
        ceiling = min(self.backoff_s * (1 << min(attempt - 1, 16)), self.backoff_s * 10)
        return ceiling * (0.5 + 0.5 * random())


DEFAULT = RetryPolicy(attempts=2, codes=frozenset({503}), backoff_s=0.025)
NEVER = RetryPolicy(attempts=0, codes=frozenset(), backoff_s=0.025)


def budget_allows(active_requests: int, active_retries: int) -> bool:
    """Whether one more retry fits the budget of a cluster in this state."""
    return active_retries < max(BUDGET_MIN, active_requests * BUDGET_PERCENT / 100.0)
