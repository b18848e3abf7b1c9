"""Searches skip segments by their summaries (operations, durations, kinds, statuses, tag
bytes) and never lose a match by doing so; the summaries survive a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from collector.config import StorageConfig
from collector.storage.api import TraceQuery
from collector.storage.memory import MemoryStore
from collector.storage.segments import decode_services
from collector.storage.sqlite import SqliteStore
from tests.unit.collector.spans import attr, request, resource_spans, span, trace_id


class CountingStore(MemoryStore):
    """The in-memory store, counting segments whose bytes a query read and those it decoded
    (decoded segments are what the reader caches)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        fetch = self._reader._fetch

        def counted(segment_id: int) -> bytes | None:
            self.reads += 1
            return fetch(segment_id)

        self._reader._fetch = counted

    @property
    def decoded(self) -> int:
        return len(self._reader._cache)


def q(**kw: object) -> TraceQuery:
    base: dict[str, object] = {"service": "web", "start_min_ns": 0, "start_max_ns": 2**62}
    return TraceQuery(**{**base, **kw})  # type: ignore[arg-type]


def found(traces: list[list[ResourceSpans]]) -> list[bytes]:
    return [t[0].scope_spans[0].spans[0].trace_id for t in traces]


async def filled() -> CountingStore:
    """Ten segments of ordinary spans, one more holding the unusual ones."""
    store = CountingStore()
    for n in range(10):
        spans = [span(n * 10 + i, f"GET /{i}", duration_ns=5_000_000) for i in range(5)]
        store.consume_traces([resource_spans("web", spans)])
    odd = [
        span(900, "GET /slow", duration_ns=3_000_000_000),
        span(901, "GET /0", error=True),
        span(902, "GET /1", kind=Span.SPAN_KIND_CLIENT),
        span(903, "GET /2", attrs={"http.response.status_code": 503, "retry": True}),
        span(904, "GET /3", attrs={"error": "true"}),  # an OpenTracing-style error tag
    ]
    store.consume_traces([resource_spans("web", odd)])
    rs = resource_spans("web", [span(905, "GET /4")])
    rs.resource.attributes.append(attr("k8s.pod.name", "web-7f9c"))
    store.consume_traces([rs])
    store.reads = 0
    return store


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({"operation": "GET /slow"}, [900]),
        ({"min_duration_ns": 1_000_000_000}, [900]),
        ({"operation": "GET /0", "tags": {"error": "true"}}, [901]),
        ({"tags": {"error": "true"}}, [904, 901]),
        ({"tags": {"otel.status_code": "ERROR"}}, [901]),
        ({"tags": {"span.kind": "client"}}, [902]),
        ({"tags": {"http.response.status_code": "503"}}, [903]),
        ({"tags": {"retry": "true"}}, [903]),
        ({"tags": {"k8s.pod.name": "web-7f9c"}}, [905]),
    ],
)
async def test_a_rare_match_is_found_reading_only_the_segments_that_hold_it(
    conditions: dict[str, object], expected: list[int]
) -> None:
    store = await filled()
    result = await store.find_traces(q(**conditions))
    assert sorted(found(result)) == sorted(trace_id(n) for n in expected)  # same start times
    # The segment holding the match, and at most one whose tiny trace-id filter said "maybe"
    # when the trace was fetched; not the dozen a scan would decode.
    assert store.decoded <= 2


async def test_a_search_matching_nothing_reads_nothing() -> None:
    store = await filled()
    for conditions in (
        {"operation": "GET /missing"},
        {"operation": "GET /0", "min_duration_ns": 10_000_000_000},
        {"operation": "GET /0", "max_duration_ns": 10},
        {"service": "nobody"},
    ):
        assert await store.find_traces(q(**conditions)) == []
    assert store.reads == 0  # the in-memory summaries alone ruled every segment out
    for tags in ({"span.kind": "producer"}, {"http.response.status_code": "404"}):
        assert await store.find_traces(q(tags=tags)) == []
    assert store.decoded == 0  # the stored bytes ruled them out, undecoded


async def test_tags_on_events_and_common_values_still_match() -> None:
    store = await filled()
    with_event = span(950, "GET /9")
    event = with_event.events.add(name="retry")
    event.attributes.append(attr("attempt", 2))
    store.consume_traces([resource_spans("web", [with_event])])
    assert found(await store.find_traces(q(tags={"attempt": "2"}))) == [trace_id(950)]
    assert len(await store.find_traces(q(operation="GET /1", limit=100))) == 11


async def test_summaries_are_kept_with_the_segment_across_a_restart(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path, StorageConfig())
    await first.start()
    first.consume_traces(
        list(request(resource_spans("web", [span(1, "GET /a", duration_ns=7)])).resource_spans)
    )
    await first.durable()
    await first.shutdown()
    second = SqliteStore(tmp_path, StorageConfig())
    await second.start()
    try:
        segment = second.index.snapshot()[0]
        _, _, ops = segment.services["web"]
        assert ops == {"GET /a": (7, 7, 1 << Span.SPAN_KIND_SERVER)}
        assert await second.find_traces(q(operation="GET /a", min_duration_ns=8)) == []
        assert found(await second.find_traces(q(operation="GET /a"))) == [trace_id(1)]
    finally:
        await second.shutdown()


def test_a_summary_stored_before_operations_were_kept_matches_anything() -> None:
    assert decode_services(b'{"web":[1,2]}') == {"web": (1, 2, None)}
