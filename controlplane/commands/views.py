"""``glassmesh top`` and ``glassmesh graph``: the mesh's golden signals in the terminal.

Both read the collector's graph API (``GET /api/graph``) over HTTP, as ``linkerd viz stat`` and
``top`` read Prometheus: ``top`` shows request rate, success rate and p50/p95/p99 latency per
service (requests into it) and per edge, refreshed live (``--once`` prints one table);
``graph`` prints the edges with rate, errors and p95 (``--json`` for the API's JSON). The
collector comes from ``--collector``, else GLASSMESH_COLLECTOR, else http://127.0.0.1:16686.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from controlplane.commands.client import CommandError, as_command

if TYPE_CHECKING:  # rich loads only when a view is drawn: every CLI start builds this parser
    from rich.console import Group
    from rich.table import Table

DEFAULT_COLLECTOR = "http://127.0.0.1:16686"
USER = "user"  # the collector's name for callers outside the mesh


def collector_options() -> argparse.ArgumentParser:
    """A parent parser with ``--collector`` and ``--window``."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--collector", metavar="URL",
        help=f"the collector's query URL (GLASSMESH_COLLECTOR, default {DEFAULT_COLLECTOR})",
    )  # fmt: skip
    options.add_argument(
        "--window", default="1m", help="how far back to look: 90s, 5m, 1h (default 1m)"
    )
    return options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``top`` and ``graph`` on the CLI's subcommands."""
    p = sub.add_parser(
        "top", parents=[collector_options()],
        help="live request rate, success rate and latency per service and per edge",
    )  # fmt: skip
    p.add_argument("--once", action="store_true", help="print one table and exit")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (2)")
    p.set_defaults(func=as_command("top", run_top))
    p = sub.add_parser(
        "graph", parents=[collector_options()], help="the service graph as a table of edges"
    )
    p.add_argument("--json", action="store_true", help="print the graph API's JSON")
    p.set_defaults(func=as_command("graph", run_graph))


def collector_url(given: str | None) -> str:
    """The collector's base URL from the option, the environment or the default."""
    url = given or os.environ.get("GLASSMESH_COLLECTOR") or DEFAULT_COLLECTOR
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"--collector {url!r} is not an http:// or https:// URL", 2)
    return url.rstrip("/")


def fetch_graph(collector: str, window: str) -> dict[str, Any]:
    """The graph API's answer. Raises CommandError saying what went wrong, worded for a user."""
    url = f"{collector}/api/graph?" + urllib.parse.urlencode({"window": window})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            graph: dict[str, Any] = json.loads(response.read())
            return graph
    except urllib.error.HTTPError as exc:
        raise graph_error(exc.code, exc.read(), collector) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommandError(
            f"cannot reach the collector at {collector}: {reason} (start one with "
            "`glassmesh collector` or `glassmesh demo`, or point --collector at yours)"
        ) from None
    except ValueError:
        raise CommandError(f"{collector} answered something that is not JSON") from None


def graph_error(status: int, body: bytes, collector: str) -> CommandError:
    """The error to show for an error answer of the graph API."""
    if status == 404:
        return CommandError(f"{collector} serves no graph API (is the servicegraph connector on?)")
    try:
        message = str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {status}"
    return CommandError(message, 2 if status == 400 else 1)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


def _success(error_rate: float | None, requests: float) -> str:
    if not requests or error_rate is None:
        return "-"
    percent = 100.0 * (1.0 - error_rate)
    style = "green" if error_rate < 0.001 else "red" if error_rate > 0.1 else "yellow"
    return f"[{style}]{percent:.2f}%[/]"  # Kiali's thresholds: degraded >= 0.1%, failing > 10%


def services_table(graph: dict[str, Any]) -> Table:
    """One row per service that received requests: rate, success, latency percentiles."""
    from rich.table import Table

    table = Table(title=f"services (last {graph['window_s']:.0f}s)", title_justify="left")
    for column in ("SERVICE", "RPS", "SUCCESS", "P50", "P95", "P99"):
        table.add_column(column, justify="left" if column == "SERVICE" else "right")
    for node in sorted(graph["nodes"], key=lambda n: (-(n["rate"] or 0), n["id"])):
        if node["id"] == USER or not node["requests"]:
            continue
        latency = node.get("latency_ms") or {}
        table.add_row(
            node["id"], f"{node['rate']:.2f}", _success(node["error_rate"], node["requests"]),
            _ms(latency.get("p50")), _ms(latency.get("p95")), _ms(latency.get("p99")),
        )  # fmt: skip
    return table


def edges_table(graph: dict[str, Any], full: bool = True) -> Table:
    """One row per edge: rate, success or errors, latency (p50/p95/p99, or p95 alone)."""
    from rich.table import Table

    title = f"edges (last {graph['window_s']:.0f}s)"
    table = Table(title=title, title_justify="left")
    columns = ["FROM", "TO", "RPS", "SUCCESS"] if full else ["FROM", "TO", "RPS", "ERRORS"]
    columns += ["P50", "P95", "P99"] if full else ["P95", "COVERAGE"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("FROM", "TO") else "right")
    for edge in sorted(graph["edges"], key=lambda e: (e["source"], e["target"])):
        latency = edge["latency_ms"]
        row = [edge["source"], edge["target"], f"{edge['rate']:.2f}"]
        if full:
            row.append(_success(edge["error_rate"], edge["requests"]))
            row += [_ms(latency.get("p50")), _ms(latency.get("p95")), _ms(latency.get("p99"))]
        else:
            coverage = edge.get("coverage")
            row.append(f"{100.0 * edge['error_rate']:.2f}%")
            row += [_ms(latency.get("p95")), "-" if coverage is None else f"{100 * coverage:.0f}%"]
        table.add_row(*row)
    return table


def top_view(graph: dict[str, Any]) -> Group:
    """What ``top`` shows: the services, then the edges."""
    from rich.console import Group

    return Group(services_table(graph), edges_table(graph))


def run_top(args: argparse.Namespace) -> int:
    """Prints the table once, or refreshes it every ``--interval`` until Ctrl-C; returns 0."""
    from rich.console import Console
    from rich.live import Live

    collector = collector_url(args.collector)
    console = Console()
    if args.once:
        console.print(top_view(fetch_graph(collector, args.window)))
        return 0
    interval = max(0.2, float(args.interval))
    try:
        with Live(top_view(fetch_graph(collector, args.window)), console=console) as live:
            while True:
                time.sleep(interval)
                live.update(top_view(fetch_graph(collector, args.window)))
    except KeyboardInterrupt:
        return 0


def run_graph(args: argparse.Namespace) -> int:
    """Prints the edges as a table, or the graph API's JSON; returns 0."""
    graph = fetch_graph(collector_url(args.collector), args.window)
    if args.json:
        print(json.dumps(graph, indent=2))
        return 0
    from rich.console import Console

    Console().print(edges_table(graph, full=False))
    return 0
