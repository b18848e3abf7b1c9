"""``glassmesh top`` and ``graph`` tables from a graph API answer: one row per service that was
called (not the ``user`` outside the mesh), one per edge, rates, success and latency as read."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table

from controlplane.commands.views import edges_table, graph_error, services_table

GRAPH: dict[str, Any] = {
    "window_s": 30.0,
    "nodes": [
        {"id": "user", "requests": 0.0, "rate": 0.0, "error_rate": 0.0, "latency_ms": {}},
        {"id": "frontend", "requests": 300.0, "rate": 10.0, "error_rate": 0.0,
         "latency_ms": {"p50": 21.5, "p95": 40.25, "p99": 80.0}},
        {"id": "payments", "requests": 100.0, "rate": 3.33, "error_rate": 0.2,
         "latency_ms": {"p50": None, "p95": None, "p99": None}},
    ],
    "edges": [
        {"source": "user", "target": "frontend", "requests": 300.0, "rate": 10.0,
         "error_rate": 0.0, "coverage": None,
         "latency_ms": {"p50": 21.5, "p95": 40.25, "p99": 80.0}},
        {"source": "checkout", "target": "payments", "requests": 100.0, "rate": 3.33,
         "error_rate": 0.2, "coverage": 0.5, "latency_ms": {"p50": 9.0, "p95": 12.0, "p99": 20.0}},
    ],
}  # fmt: skip


def text(table: Table) -> list[list[str]]:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    rows = [line for line in console.export_text().splitlines() if line.startswith("│")]
    return [[cell.strip() for cell in row.strip("│").split("│")] for row in rows]


def test_services_are_the_nodes_called_with_their_rate_success_and_latency() -> None:
    rows = text(services_table(GRAPH))
    assert rows == [
        ["frontend", "10.00", "100.00%", "21.5ms", "40.2ms", "80.0ms"],
        ["payments", "3.33", "80.00%", "-", "-", "-"],
    ]


def test_top_shows_every_edge_with_percentiles_and_graph_with_errors_and_coverage() -> None:
    assert text(edges_table(GRAPH)) == [
        ["checkout", "payments", "3.33", "80.00%", "9.0ms", "12.0ms", "20.0ms"],
        ["user", "frontend", "10.00", "100.00%", "21.5ms", "40.2ms", "80.0ms"],
    ]
    assert text(edges_table(GRAPH, full=False)) == [
        ["checkout", "payments", "3.33", "20.00%", "12.0ms", "50%"],
        ["user", "frontend", "10.00", "0.00%", "40.2ms", "-"],
    ]


def test_an_error_answer_becomes_a_message_for_the_user() -> None:
    bad = graph_error(400, b'{"error": "window must be between 5s and 3600s"}', "http://c")
    assert str(bad) == "window must be between 5s and 3600s" and bad.code == 2
    missing = graph_error(404, b"", "http://c")
    assert "serves no graph API" in str(missing) and missing.code == 1
