"""The collector benchmark's pure parts: the load it sends and how it takes a p99."""

from __future__ import annotations

from bench.collector import SERVICES, make_request, p99_ms
from collector.otlp.spanbatch import SpanBatch


def test_a_request_is_1000_valid_spans_of_100_traces_over_every_service() -> None:
    req = make_request(0, 1_700_000_000_000_000_000)
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 1000
    assert len({s.trace_id for s in spans}) == 100
    assert {rs.resource.attributes[0].value.string_value for rs in req.resource_spans} == set(
        SERVICES
    )
    assert not SpanBatch.read(req.resource_spans).rejected


def test_p99_is_the_99th_percentile_in_ms() -> None:
    assert p99_ms([0.001] * 99 + [1.0]) > 900
    assert p99_ms([0.002] * 100) == 2.0
