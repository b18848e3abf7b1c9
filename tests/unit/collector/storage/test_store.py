"""Both trace stores: what goes in comes back by trace id, by search, and (SQLite) after a
restart; retention deletes what is too old or too much."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from collector.config import StorageConfig
from collector.pipeline.consumer import Refused
from collector.storage.api import TraceQuery, TraceStore
from collector.storage.memory import MemoryStore
from collector.storage.sqlite import SqliteStore
from tests.unit.collector.spans import T0, logs_request, request, resource_spans, span, trace_id


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TraceStore]:
    s: TraceStore = (
        SqliteStore(tmp_path, StorageConfig()) if request.param == "sqlite" else MemoryStore()
    )
    await s.start()
    yield s
    await s.shutdown()


def names(traces: list[ResourceSpans]) -> list[str]:
    return sorted(sp.name for rs in traces for ss in rs.scope_spans for sp in ss.spans)


def query(**kw: object) -> TraceQuery:
    base: dict[str, object] = {"service": "web", "start_min_ns": 0, "start_max_ns": 2**62}
    return TraceQuery(**{**base, **kw})  # type: ignore[arg-type]


def ids(found: list[list[ResourceSpans]]) -> list[bytes]:
    return [t[0].scope_spans[0].spans[0].trace_id for t in found]


async def put(store: TraceStore, *batches: ResourceSpans) -> None:
    store.consume_traces(list(request(*batches).resource_spans))
    await store.durable()


async def test_a_trace_comes_back_whole_across_batches_and_services(store: TraceStore) -> None:
    await put(store, resource_spans("web", [span(1, "root", sid=10), span(2, "other")]))
    await put(
        store, resource_spans("api", [span(1, "child", parent=10, kind=Span.SPAN_KIND_CLIENT)])
    )
    assert names(await store.trace(trace_id(1))) == ["child", "root"]
    assert await store.trace(trace_id(99)) == []
    assert await store.services() == ["api", "web"]
    assert await store.operations("api") == [("child", Span.SPAN_KIND_CLIENT)]
    assert await store.dependencies(0, 2**62) == [("web", "api", 1)]


async def test_search_filters_and_orders_newest_first(store: TraceStore) -> None:
    spans = [
        span(1, "GET /a", start=T0, duration_ns=5_000_000, attrs={"http.status_code": 500}),
        span(2, "GET /b", start=T0 + 10, duration_ns=1_000, error=True),
        span(3, "GET /a", start=T0 + 20, duration_ns=50_000_000, attrs={"peer": "x"}),
    ]
    await put(store, resource_spans("web", spans), resource_spans("api", [span(4, "GET /a")]))
    assert ids(await store.find_traces(query())) == [trace_id(3), trace_id(2), trace_id(1)]
    assert ids(await store.find_traces(query(operation="GET /a"))) == [trace_id(3), trace_id(1)]
    assert ids(await store.find_traces(query(tags={"http.status_code": "500"}))) == [trace_id(1)]
    assert ids(await store.find_traces(query(tags={"error": "true"}))) == [trace_id(2)]
    assert ids(await store.find_traces(query(min_duration_ns=2_000_000))) == [
        trace_id(3),
        trace_id(1),
    ]
    assert ids(await store.find_traces(query(max_duration_ns=2_000))) == [trace_id(2)]
    assert ids(await store.find_traces(query(start_max_ns=T0 + 15, limit=1))) == [trace_id(2)]
    assert await store.find_traces(query(service="nobody")) == []


async def test_logs_by_trace_id(store: TraceStore) -> None:
    store.consume_logs(list(logs_request("web", 7, "hello").resource_logs))
    await store.durable()
    found = await store.logs(trace_id(7))
    assert [
        r.body.string_value for rl in found for sl in rl.scope_logs for r in sl.log_records
    ] == ["hello"]
    assert await store.logs(trace_id(8)) == []


async def test_sqlite_keeps_committed_spans_across_a_restart(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path, StorageConfig())
    await first.start()
    await put(first, resource_spans("web", [span(1, "kept")]))
    await first.shutdown()
    second = SqliteStore(tmp_path, StorageConfig())
    await second.start()
    try:
        assert names(await second.trace(trace_id(1))) == ["kept"]
        assert await second.operations("web") == [("kept", Span.SPAN_KIND_SERVER)]
    finally:
        await second.shutdown()


async def test_sqlite_refuses_when_its_queue_is_full(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path, StorageConfig(queue_batches=1))
    await s.start()
    try:
        with pytest.raises(Refused) as refused:
            for _ in range(1000):  # the writer thread cannot keep a 1-batch queue empty
                s.consume_traces([resource_spans("web", [span(1)] * 200)])
        assert refused.value.reason == "storage_queue_full"
        await s.durable()
    finally:
        await s.shutdown()


async def test_retention_by_age_and_by_size(tmp_path: Path) -> None:
    clock = Clock()
    config = StorageConfig(retention_s=100, retention_interval_s=1, max_bytes=200_000)
    s = SqliteStore(tmp_path, config, clock=clock)
    await s.start()
    try:
        await put(s, resource_spans("web", [span(1, "old")]))
        clock.now += 150
        await put(s, resource_spans("web", [span(2, "new")]))
        await put(s, resource_spans("web", [span(3, "newer")]))  # after the retention pass
        assert await s.trace(trace_id(1)) == []
        assert names(await s.trace(trace_id(2))) == ["new"]
        big = [span(4, "x" * 1000) for _ in range(100)]
        for _ in range(5):
            clock.now += 2
            await put(s, resource_spans("web", big))
        await put(s, resource_spans("web", [span(5)]))  # the writer retained before taking it
        assert s.stats().size_bytes <= 200_000
        assert await s.trace(trace_id(2)) == []
    finally:
        await s.shutdown()


async def test_traces_sharing_segments_come_back_apart_with_their_scopes(
    store: TraceStore,
) -> None:
    web = resource_spans("web", [span(1, "a"), span(2, "b"), span(1, "c")])
    second = web.scope_spans.add()
    second.scope.name = "db-client"
    second.spans.extend([span(2, "d"), span(1, "e")])
    await put(store, web, resource_spans("api", [span(3, "f"), span(1, "g")]))
    for _ in range(2):  # the second lookup reads the segment from the reader's cache
        one = await store.trace(trace_id(1))
        assert [(rs.resource.attributes[0].value.string_value,
                 [(ss.scope.name, [s.name for s in ss.spans]) for ss in rs.scope_spans])
                for rs in one] == [("web", [("test", ["a", "c"]), ("db-client", ["e"])]),
                                   ("api", [("test", ["g"])])]  # fmt: skip
        assert names(await store.trace(trace_id(2))) == ["b", "d"]
        assert await store.trace(trace_id(99)) == []


async def test_many_segments_each_trace_found_in_its_own(store: TraceStore) -> None:
    for n in range(1, 41):
        await put(store, resource_spans("web", [span(n, f"op{n}"), span(1000 + n, "other")]))
    found = await store.find_traces(query(limit=5, operation="op7"))
    assert ids(found) == [trace_id(7)]
    for n in (1, 17, 40):
        assert names(await store.trace(trace_id(n))) == [f"op{n}"]
