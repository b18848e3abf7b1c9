"""Collector figures from one run: ingest spans/s over OTLP/HTTP protobuf with storage and both
connectors on (against a discard-everything aiohttp endpoint on the same core as a baseline),
10x overload (80 concurrent senders against a 256 MiB memory limit: answers by status, peak RSS),
and trace-by-id / search p99 through the Jaeger API with 1,000,000 spans stored.

``python -m bench.collector [--spans 1000000] [--seconds 8]``: servers run as child processes
pinned to core 0 (``taskset``); the load generator (this process) is not pinned. Output: a
table on stdout and bench/out/collector.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from bench.report import ratio, write_json

OUT = Path(__file__).resolve().parent / "out" / "collector.json"
SERVICES = ("frontend", "cart", "checkout", "payment", "db-proxy")
SPANS_PER_REQUEST = 1000
SPANS_PER_TRACE = 10
DISCARD = """
import sys
from aiohttp import web
async def sink(request):
    await request.read()
    return web.Response(body=b"", content_type="application/x-protobuf")
app = web.Application(client_max_size=64 << 20)
app.router.add_post("/v1/traces", sink)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def make_request(base_trace: int, now_ns: int) -> ExportTraceServiceRequest:
    """1000 spans: 100 traces of 10 spans over five services, 8 attributes each."""
    req = ExportTraceServiceRequest()
    by_service: dict[str, ResourceSpans] = {}
    for i in range(SPANS_PER_REQUEST):
        trace, hop = base_trace + i // SPANS_PER_TRACE, i % SPANS_PER_TRACE
        service = SERVICES[hop % len(SERVICES)]
        rs = by_service.get(service)
        if rs is None:
            rs = by_service[service] = req.resource_spans.add()
            kv = rs.resource.attributes.add(key="service.name")
            kv.value.string_value = service
            rs.scope_spans.add().scope.name = "bench"
        tid = random.Random(trace).randbytes(16)
        s = rs.scope_spans[0].spans.add(
            trace_id=tid, span_id=(trace * 16 + hop + 1).to_bytes(8, "big"), name=f"GET /{hop}",
            kind=2 if hop % 2 == 0 else 3, start_time_unix_nano=now_ns + hop * 1000,
            end_time_unix_nano=now_ns + hop * 1000 + 1_000_000 * (hop + 1),
        )  # fmt: skip
        if hop:
            s.parent_span_id = (trace * 16 + hop).to_bytes(8, "big")
        for a in range(8):
            s.attributes.add(key=f"attr.{a}").value.string_value = f"value-{a}-{trace % 50}"
    return req


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    """A server child process pinned to core 0 (when taskset exists), stderr discarded."""
    pinned = ["taskset", "-c", "0", *argv] if shutil.which("taskset") and os.cpu_count() else argv
    return subprocess.Popen(pinned, stderr=subprocess.DEVNULL)


async def wait_port(port: int, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            await w.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"port {port} never opened")


async def blast(
    url: str, bodies: Sequence[bytes], seconds: float, concurrency: int = 8
) -> dict[str, Any]:
    """POST bodies round robin for ``seconds``; accepted spans/s, refusals and answers by
    status (``error`` for a failed connection)."""
    accepted = refused = 0
    codes: dict[str, int] = {}
    end = time.monotonic() + seconds
    headers = {"Content-Type": "application/x-protobuf"}

    async def worker(n: int) -> None:
        nonlocal accepted, refused
        i = n
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < end:
                try:
                    async with s.post(url, data=bodies[i % len(bodies)], headers=headers) as r:
                        await r.read()
                        status = str(r.status)
                except aiohttp.ClientError:
                    status = "error"
                codes[status] = codes.get(status, 0) + 1
                if status == "200":
                    accepted += SPANS_PER_REQUEST
                else:
                    refused += 1
                i += concurrency

    start = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return {
        "spans_per_s": accepted / (time.monotonic() - start),
        "refused_requests": refused,
        "answers": dict(sorted(codes.items())),
    }


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def measure_ingest(bodies: Sequence[bytes], seconds: float, data: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    port = free_port()
    proc = spawn([sys.executable, "-c", DISCARD, str(port)])
    try:
        await wait_port(port)
        results["baseline"] = await blast(f"http://127.0.0.1:{port}/v1/traces", bodies, seconds)
    finally:
        proc.terminate()
        proc.wait()
    # "collector": storage and the two connectors of the collector issue; "with_analysis": the
    # default config, which adds the bottleneck analysis of completed traces.
    for name, extra in (("collector", NO_ANALYSIS), ("with_analysis", "")):
        directory = data.with_name(f"{data.name}-{name}")
        config, ports = collector_config(directory, extra)
        proc = spawn([sys.executable, "-m", "controlplane.cli", "collector", "--data-dir",
                      str(directory), "--config", str(config)])  # fmt: skip
        try:
            await wait_port(ports["http"])
            results[name] = await blast(
                f"http://127.0.0.1:{ports['http']}/v1/traces", bodies, seconds
            )
            results[name]["peak_rss_mib"] = rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait()
    return results


NO_ANALYSIS = "connectors: {analysis: {enabled: false}}\n"


def collector_config(data: Path, extra: str = "") -> tuple[Path, dict[str, int]]:
    ports = {k: free_port() for k in ("http", "grpc", "query", "prom")}
    path = data.parent / f"{data.name}.yaml"
    path.write_text(
        f"receivers: {{otlp: {{http: {{endpoint: '127.0.0.1:{ports['http']}'}}, "
        f"grpc: {{endpoint: '127.0.0.1:{ports['grpc']}'}}}}}}\n"
        f"query: {{endpoint: '127.0.0.1:{ports['query']}'}}\n"
        f"exporters: {{prometheus: {{endpoint: '127.0.0.1:{ports['prom']}'}}}}\n" + extra
    )
    return path, ports


OVERLOAD_LIMIT_MIB = 256  # the memory limiter's bound in the overload run
OVERLOAD_CONFIG = (
    f"processors: {{memory_limiter: {{limit_mib: {OVERLOAD_LIMIT_MIB}, spike_limit_mib: 64, "
    "check_interval_s: 0.1}}\nstorage: {queue_batches: 32}\n"
)


async def measure_overload(bodies: Sequence[bytes], seconds: float, data: Path) -> dict[str, Any]:
    """10x the ingest run's senders (80 concurrent), a 256 MiB memory limiter and a 32-batch
    storage queue: answers by status, peak RSS against the bound, and whether it survived."""
    config, ports = collector_config(data, OVERLOAD_CONFIG)
    proc = spawn([sys.executable, "-m", "controlplane.cli", "collector", "--data-dir", str(data),
                  "--config", str(config)])  # fmt: skip
    try:
        await wait_port(ports["http"])
        url = f"http://127.0.0.1:{ports['http']}/v1/traces"
        result = await blast(url, bodies, seconds, concurrency=80)
        result["peak_rss_mib"] = rss_mib(proc.pid)
        result["survived"] = proc.poll() is None
    finally:
        proc.terminate()
        proc.wait()
    result["limit_mib"] = OVERLOAD_LIMIT_MIB
    return result


async def bulk_load(data: Path, spans: int) -> list[bytes]:
    """``spans`` spans through the storage API directly; returns some stored trace ids."""
    from collector.config import StorageConfig
    from collector.storage.sqlite import SqliteStore

    store = SqliteStore(data, StorageConfig())
    await store.start()
    now = time.time_ns() - 600 * 10**9
    ids = []
    for n in range(spans // SPANS_PER_REQUEST):
        req = make_request(n * 100, now + n * 1_000_000)
        ids.append(req.resource_spans[0].scope_spans[0].spans[0].trace_id)
        while True:
            try:
                store.consume_traces(list(req.resource_spans))
                break
            except Exception:
                await store.durable()
    await store.durable()
    await store.shutdown()
    return ids


def p99_ms(samples: list[float]) -> float:
    return (
        statistics.quantiles(samples, n=100)[98] * 1000 if len(samples) > 2 else max(samples) * 1000
    )


async def measure_queries(data: Path, ids: list[bytes]) -> dict[str, Any]:
    config, ports = collector_config(data)
    proc = spawn([sys.executable, "-m", "controlplane.cli", "collector", "--data-dir", str(data),
                  "--config", str(config)])  # fmt: skip
    base = f"http://127.0.0.1:{ports['query']}"
    by_id, search = [], []
    try:
        await wait_port(ports["query"], 120)
        async with aiohttp.ClientSession() as s:
            for trace in random.Random(1).sample(ids, min(200, len(ids))):
                t = time.perf_counter()
                async with s.get(f"{base}/api/traces/{trace.hex()}") as r:
                    assert r.status == 200, r.status
                    await r.read()
                by_id.append(time.perf_counter() - t)
            for i in range(50):
                params = {"service": SERVICES[i % 5], "limit": "20", "operation": f"GET /{i % 10}",
                          "minDuration": "2ms", "tags": '{"attr.1": "value-1-7"}'}  # fmt: skip
                t = time.perf_counter()
                async with s.get(f"{base}/api/traces", params=params) as r:
                    assert r.status == 200, r.status
                    await r.read()
                search.append(time.perf_counter() - t)
    finally:
        proc.terminate()
        proc.wait()
    return {
        "trace_by_id_p99_ms": round(p99_ms(by_id), 1),
        "search_p99_ms": round(p99_ms(search), 1),
    }


async def run(spans: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="glassmesh-bench-") as tmp:
        now = time.time_ns()
        bodies = [make_request(10_000_000 + n * 100, now).SerializeToString() for n in range(20)]
        ingest = await measure_ingest(bodies, seconds, Path(tmp) / "ingest")
        overload = await measure_overload(bodies, seconds, Path(tmp) / "overload")
        ids = await bulk_load(Path(tmp) / "query", spans)
        queries = await measure_queries(Path(tmp) / "query", ids)
    collector, baseline = ingest["collector"], ingest["baseline"]
    return {
        "ingest_spans_per_s": round(collector["spans_per_s"]),
        "baseline_discard_spans_per_s": round(baseline["spans_per_s"]),
        "ratio_vs_baseline": round(
            ratio(collector["spans_per_s"], baseline["spans_per_s"]) or 0, 3
        ),
        "ratio_vs_otel_collector_10k": round(collector["spans_per_s"] / 10_000, 2),
        "ingest_refused_requests": collector["refused_requests"],
        "ingest_peak_rss_mib": round(collector["peak_rss_mib"], 1),
        "ingest_with_analysis_spans_per_s": round(ingest["with_analysis"]["spans_per_s"]),
        "ingest_with_analysis_peak_rss_mib": round(ingest["with_analysis"]["peak_rss_mib"], 1),
        "overload_answers": overload["answers"],
        "overload_peak_rss_mib": round(overload["peak_rss_mib"], 1),
        "overload_limit_mib": overload["limit_mib"],
        "overload_survived": overload["survived"],
        "spans_stored": spans,
        **queries,
        "targets": {"ingest_spans_per_s": 100_000, "trace_by_id_p99_ms": 50, "search_p99_ms": 200},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collector")
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.spans, args.seconds))
    write_json(OUT, report)
    for key, value in report.items():
        if key != "targets":
            print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
