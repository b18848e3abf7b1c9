"""Every query of every dashboard answers with data from a real mesh: a real Prometheus (Debian's,
installed by make) scrapes a running collector and control plane while three sidecars carry
traffic (200s, 404s and 500s), then each panel's PromQL, with its variables set to values the
dashboard's own variable queries offer, must return a non-empty result through Prometheus's HTTP
API, and each Infinity panel's URL (its JSONata selector applied) must return rows from the
collector. A renamed metric, a wrong label or a variable query that finds nothing fails here."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonata
import pytest
import yaml
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from collector.service import Collector
from controlplane.api.telemetry import TelemetryConfig
from controlplane.server import ControlPlane, ControlPlaneSettings
from dashboards.queries import INFINITY, Query, custom_values, panel_queries, substitute, variables
from dashboards.render import render
from sidecar.server import Sidecar
from tests.integration.bookinfo import (
    Bookinfo,
    bookinfo_mesh,  # noqa: F401 (the mesh fixture)
    endpoint_ports,
    wait_until,
)
from tests.integration.collector.conftest import collector_config
from tests.integration.prometheus import query, run_prometheus

# What a user would pick: the middle service of productpage -> reviews -> ratings, which both
# receives and sends, so inbound and outbound panels both have data.
PICK = {
    "namespace": "default",
    "service": "reviews.default.svc.cluster.local",
    "canonical": "reviews",
    "workload": "reviews-v1",
}
# Grafana's built-in variables, as Grafana would set them for a short time range.
BUILTINS = {"__rate_interval": "15s", "__range": "5m", "__interval": "15s"}
DEADLINE_S = 90.0  # per phase; each takes a few seconds on a quiet box
PROMETHEUS_YML = Path(__file__).parents[2] / "deploy" / "prometheus" / "prometheus.yml"


@contextlib.contextmanager
def prometheus(tmp_path: Path, collector: str, control_plane: str) -> Iterator[str]:
    """Prometheus with deploy/prometheus/prometheus.yml, its targets replaced by these two and
    scraping every second."""
    settings = yaml.safe_load(PROMETHEUS_YML.read_text())
    settings["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    targets = {"glassmesh-collector": collector, "glassmesh-controlplane": control_plane}
    for job in settings["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(settings))
    # Exemplar storage on, as docs/dashboards.md says to run it.
    with run_prometheus(tmp_path, config, "--enable-feature=exemplar-storage") as base:
        yield base


@pytest.fixture
async def collector(tmp_path: Path) -> AsyncIterator[Collector]:
    config = collector_config(
        connectors__servicegraph={"flush_interval_s": 0.5, "wait_s": 1.0},
        connectors__spanmetrics={"flush_interval_s": 0.5},
        connectors__analysis={"idle_s": 0.5},  # a trace is analysed once quiet this long
    )
    c = Collector(config, tmp_path / "collector")
    await c.start()
    yield c
    await c.shutdown()


async def start_mesh(mesh: Bookinfo, otlp: str) -> tuple[Sidecar, Sidecar]:
    """Control plane with /metrics, and productpage, reviews and ratings with their sidecars
    exporting everything to the collector. Returns (productpage, reviews)."""
    settings = ControlPlaneSettings(data_dir=mesh.data_dir, port=0, metrics_listen=("127.0.0.1", 0))
    mesh.control = ControlPlane(settings)
    mesh.url = await mesh.control.start()
    telemetry = TelemetryConfig(
        otlp_endpoint=otlp,
        sampling_percent=100.0,
        flush_interval_s=0.05,
        metrics_interval_s=0.5,
        access_log="off",
    )
    sidecars = []
    for service in ("ratings", "reviews", "productpage"):
        await mesh.app(service)
        sidecars.append(await mesh.sidecar(mesh.config(service, telemetry=telemetry)))
    _, reviews, page = sidecars
    await wait_until(lambda: endpoint_ports(page, "reviews") != [], "the reviews endpoint")
    await wait_until(lambda: endpoint_ports(reviews, "ratings") != [], "the ratings endpoint")
    return page, reviews


async def traffic(mesh: Bookinfo, page: Sidecar, reviews: Sidecar) -> None:
    """A round of 200s, 404s and 500s on both hops (reviews' app calls ratings)."""
    for path in ("/reviews/1", "/reviews/2", "/nothing-here", "/echo?status=500"):
        await mesh.call(page, path, host="reviews")
        await mesh.call(reviews, path, host="ratings")


async def provoke_collector_errors(session: aiohttp.ClientSession, otlp: str) -> None:
    """What the Collector dashboard's refusal and drop panels count: a body of the wrong type
    (refused, 415) and a delta-temporality sum (accepted, dropped by the Prometheus exporter)."""
    async with session.post(otlp + "/v1/traces", data=b"x", headers={"Content-Type": "text/plain"}):
        pass
    metric = Metric(name="delta_requests", unit="1")
    metric.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    metric.sum.data_points.add(as_int=1, time_unix_nano=time.time_ns())
    body = ExportMetricsServiceRequest()
    body.resource_metrics.add().scope_metrics.add().metrics.append(metric)
    headers = {"Content-Type": "application/x-protobuf"}
    async with session.post(otlp + "/v1/metrics", data=body.SerializeToString(), headers=headers):
        pass


async def label_values(session: aiohttp.ClientSession, base: str, definition: str) -> list[str]:
    """What Grafana's ``label_values(selector, label)`` offers, from Prometheus."""
    match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", definition.strip())
    assert match is not None, f"not a label_values query: {definition}"
    selector, label = match.groups()
    found = await query(session, base, f"group by ({label}) ({selector})")
    return sorted({r["metric"][label] for r in found if label in r["metric"]})


class NoChoice(Exception):
    """A variable's query does not offer the value the test needs (yet)."""


async def choices(
    session: aiohttp.ClientSession, base: str, model: dict[str, Any]
) -> list[dict[str, str]]:
    """Every assignment of the dashboard's variables a user could pick that this test checks:
    query variables take PICK's value (which the variable must offer) or their first value;
    custom variables take each of their values."""
    fixed: dict[str, str] = dict(BUILTINS, datasource="prometheus")
    spread: dict[str, list[str]] = {}
    for variable in variables(model):
        name, kind = variable["name"], variable["type"]
        if kind == "query":
            offered = await label_values(session, base, substitute(variable["query"], fixed))
            if not offered or PICK.get(name, offered[0]) not in offered:
                raise NoChoice(f"{model['uid']}: variable {name} offers {offered}")
            fixed[name] = PICK.get(name, offered[0])
        elif kind == "custom":
            spread[name] = custom_values(variable)
        elif kind == "textbox":
            fixed[name] = str(variable.get("query", ""))
    names = sorted(spread)
    return [dict(fixed, **dict(zip(names, combo, strict=True)))
            for combo in itertools.product(*(spread[n] for n in names))]  # fmt: skip


async def empty_queries(
    session: aiohttp.ClientSession, base: str, collector: Collector, answered_before: set[str]
) -> list[str]:
    """Each query (with the variables it was run with) that found nothing; those that found
    something are added to ``answered_before`` and not asked again."""
    empty = []
    for text in render().values():
        model = json.loads(text)
        try:
            assignments = await choices(session, base, model)
        except NoChoice as exc:
            empty.append(str(exc))
            continue
        for assignment in assignments:
            for q in panel_queries(model):
                key = f"{q.dashboard} / {q.panel} / {q.ref_id} {assignment}"
                if key in answered_before:
                    continue
                if await answered(session, base, collector, q, assignment):
                    answered_before.add(key)
                else:
                    empty.append(key)
    return empty


async def answered(
    session: aiohttp.ClientSession,
    base: str,
    collector: Collector,
    q: Query,
    assignment: dict[str, str],
) -> bool:
    text = substitute(q.text, assignment)
    if q.kind != INFINITY:
        return bool(await query(session, base, text))
    async with session.get(collector.url("query") + text) as resp:
        if resp.status != 200:
            return False
        body = await resp.json()
    rows = jsonata.Jsonata(q.root).evaluate(body) if q.root else body  # as Infinity's backend
    return bool(rows)


async def exemplar_traces(
    session: aiohttp.ClientSession, base: str, collector: Collector
) -> tuple[list[str], list[str]]:
    """(trace ids, queries without any) over every query that asks for exemplars."""
    traces: list[str] = []
    missing = []
    now = time.time()
    for text in render().values():
        model = json.loads(text)
        wanted = [q for q in panel_queries(model) if q.exemplar]
        assignment = (await choices(session, base, model))[0] if wanted else {}
        for q in wanted:
            expr = substitute(q.text, assignment)
            params = {"query": expr, "start": str(now - 300), "end": str(now)}
            async with session.get(f"{base}/api/v1/query_exemplars", params=params) as resp:
                found = (await resp.json())["data"] if resp.status == 200 else []
            ids = [e["labels"]["trace_id"] for s in found for e in s["exemplars"]]
            traces.extend(ids[:1])
            if not ids:
                missing.append(f"{q.dashboard} / {q.panel} / {q.ref_id}")
    return traces, missing


@pytest.mark.timeout(240)
async def test_every_dashboard_query_finds_data_in_a_real_prometheus(
    mesh: Bookinfo, tmp_path: Path, collector: Collector
) -> None:
    otlp = collector.url("otlp_http")
    page, reviews = await start_mesh(mesh, otlp)
    await provoke_collector_errors(mesh.session, otlp)
    assert mesh.control is not None and mesh.control.metrics_url is not None
    targets = (collector.url("prometheus"), mesh.control.metrics_url)
    with prometheus(tmp_path, *(t.removeprefix("http://") for t in targets)) as base:
        deadline = time.monotonic() + DEADLINE_S
        empty: list[str] = ["not run yet"]
        done: set[str] = set()
        while empty and time.monotonic() < deadline:
            await traffic(mesh, page, reviews)
            empty = await empty_queries(mesh.session, base, collector, done)
            await asyncio.sleep(0.5)
        assert empty == [], "queries without data:\n" + "\n".join(empty)

        # Latency panels ask for exemplars: each has some, and they name stored traces (the
        # link Grafana draws to the Jaeger data source, which is the collector's query API).
        missing = ["not run yet"]
        deadline = time.monotonic() + DEADLINE_S
        while missing and time.monotonic() < deadline:
            await traffic(mesh, page, reviews)
            traces, missing = await exemplar_traces(mesh.session, base, collector)
            await asyncio.sleep(0.5)
        assert missing == [], "latency queries without exemplars:\n" + "\n".join(missing)
        for trace_id in set(traces):
            async with mesh.session.get(f"{collector.url('query')}/api/traces/{trace_id}") as r:
                assert r.status == 200, trace_id
                assert (await r.json())["data"][0]["spans"]
