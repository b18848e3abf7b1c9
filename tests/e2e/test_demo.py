"""``glassmesh demo`` as a user runs it: the whole mesh in child processes, real mTLS between six
sidecars, traffic from the load generator reaching the collector, ``glassmesh top`` and ``graph``
reading it, and nothing left running once the demo ends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from controlplane.demo.shop import EDGES, SERVICES
from tests.e2e.demo_run import Demo, alive, get_json, glassmesh


@pytest.fixture
def demo() -> Iterator[Demo]:
    started = Demo("--duration", "25", "--rate", "20", "--free-ports")
    try:
        yield started
    finally:
        started.kill()


def shop_edges(graph: dict[str, object]) -> set[tuple[str, str]]:
    edges = graph["edges"]
    assert isinstance(edges, list)
    return {(e["source"], e["target"]) for e in edges if e["requests"] > 0}


def test_the_demo_shows_the_shop_in_the_collector_and_leaves_nothing_behind(demo: Demo) -> None:
    collector = demo.collector()
    demo.wait_for(
        lambda: set(get_json(f"{collector}/api/services")["data"]) >= set(SERVICES),
        "traces of every service",
    )
    demo.wait_for(
        lambda: shop_edges(get_json(f"{collector}/api/graph?window=30s")) >= set(EDGES),
        "the shop's edges in the graph",
    )
    checkout = {"frontend", "cart", "checkout", "inventory", "payments"}

    def one_trace_for_a_checkout() -> bool:  # the apps passed the trace headers on
        url = f"{collector}/api/traces?service=frontend&operation=POST&limit=20"
        traces = get_json(url)["data"]
        return any({p["serviceName"] for p in t["processes"].values()} == checkout for t in traces)

    demo.wait_for(one_trace_for_a_checkout, "a whole checkout trace", within_s=20)

    top = glassmesh("top", "--once", "--collector", collector, "--window", "30s")
    assert top.returncode == 0, top.stderr
    rows = {line.split()[1]: line for line in top.stdout.splitlines() if line.startswith("│")}
    assert set(SERVICES) <= set(rows), top.stdout
    assert "100.00%" in rows["inventory"]  # nothing fails without a scenario
    graph = glassmesh("graph", "--collector", collector, "--window", "30s", "--json")
    assert graph.returncode == 0, graph.stderr
    assert shop_edges(json.loads(graph.stdout)) >= set(EDGES)
    table = glassmesh("graph", "--collector", collector, "--window", "30s")
    assert "checkout" in table.stdout and "inventory" in table.stdout and "P95" in table.stdout

    assert demo.finish() == 0, demo.output  # --duration ends it
    assert f"stopped {2 + 2 * len(SERVICES)} processes" in demo.output
    assert len(demo.children) == 2 + 2 * len(SERVICES)
    assert [pid for pid in demo.children if alive(pid)] == []


def test_the_views_say_when_the_collector_is_unreachable() -> None:
    result = glassmesh("top", "--once", "--collector", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach the collector at http://127.0.0.1:9" in result.stderr
    result = glassmesh("graph", env={"GLASSMESH_COLLECTOR": "ftp://x"})
    assert result.returncode == 2 and "not an http:// or https:// URL" in result.stderr


def test_an_unknown_scenario_is_refused_before_anything_starts() -> None:
    result = glassmesh("demo", "--scenario", "slow-everything")
    assert result.returncode == 2
    assert "slow-inventory" in result.stdout  # the ones there are


def top_finding(collector: str) -> str | None:
    """The service of the finding with the largest estimated saving, across every endpoint."""
    result = glassmesh("analyze", "--collector", collector, "--json")
    if result.returncode != 0:
        return None
    findings = [b for e in json.loads(result.stdout)["endpoints"] for b in e["bottlenecks"]]
    if not findings:
        return None
    best: str = max(findings, key=lambda b: b["estimated_saving_ms"])["service"]
    return best


def test_slow_inventory_becomes_the_top_finding_and_sigterm_stops_everything() -> None:
    demo = Demo("--scenario", "slow-inventory", "--rate", "20", "--free-ports")
    try:
        collector = demo.collector()
        assert "scenario slow-inventory" in demo.output
        seen: list[str | None] = []

        def inventory_on_top() -> bool:
            seen.append(top_finding(collector))
            return seen[-1] == "inventory"

        demo.wait_for(inventory_on_top, "inventory to top the analysis", within_s=90)
        assert demo.stop() == 0, demo.output
        assert len(demo.children) == 2 + 2 * len(SERVICES)
        assert [pid for pid in demo.children if alive(pid)] == []
    finally:
        demo.kill()
