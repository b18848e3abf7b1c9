"""Sampling weights from the OpenTelemetry tracestate threshold."""

from __future__ import annotations

import pytest

from collector.connectors.weights import ratio_weight, threshold_weight


@pytest.mark.parametrize(
    ("tracestate", "weight"),
    [
        ("ot=th:0", 1.0),  # threshold 0: everything kept
        ("ot=th:8", 2.0),  # half rejected
        ("ot=th:c", 4.0),
        ("vendor=x,ot=rv:abcdef01234567;th:fd70a4", 100.0 / 1.0001),
        ("ot=th:zz", 1.0),  # malformed: counts as itself
        ("ot=th:", 1.0),
        ("vendor=th:8", 1.0),
        ("", 1.0),
    ],
)
def test_threshold_weights(tracestate: str, weight: float) -> None:
    assert threshold_weight(tracestate) == pytest.approx(weight, rel=1e-3)


def test_ratio_weights_ignore_impossible_probabilities() -> None:
    assert ratio_weight(0.1) == pytest.approx(10.0)
    assert (ratio_weight(0.0), ratio_weight(2.0)) == (1.0, 1.0)
