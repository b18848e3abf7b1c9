"""``glassmesh analyze``: each entry endpoint's bottlenecks, ranked, in the terminal.

Reads the collector's analysis API (``GET /api/v1/bottlenecks``) over HTTP and prints, per entry
endpoint, its latency and the bottlenecks ranked by estimated saving (rich tables), or the API's
JSON with ``--json``. The collector comes from ``--collector``, else GLASSMESH_COLLECTOR, else
http://127.0.0.1:16686. Exit codes: 0 (a report, or no traces analysed yet), 1 (the collector is
unreachable or does not know the endpoint), 2 (bad arguments).

Import-light on purpose: the CLI builds every subcommand's parser at start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_COLLECTOR = "http://127.0.0.1:16686"
ROWS = 10  # bottlenecks shown per endpoint


class AnalyzeError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``analyze`` on the CLI's subcommand parsers."""
    p = sub.add_parser(
        "analyze", help="what makes each endpoint slow or failing, and what fixing it would save"
    )
    p.add_argument("--collector", metavar="URL",
                   help=f"the collector's query URL (GLASSMESH_COLLECTOR, default "
                        f"{DEFAULT_COLLECTOR})")  # fmt: skip
    p.add_argument("--service", help="entry endpoints of this service only")
    p.add_argument("--operation", help="one entry endpoint (with --service)")
    p.add_argument("--lookback", default="15m", help="how far back: 90s, 15m, 1h (default 15m)")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prints the report; returns the exit code."""
    try:
        collector = collector_url(args.collector)
        if args.operation and not args.service:
            raise AnalyzeError("--operation needs --service", 2)
        reports = fetch(collector, args.service, args.operation, args.lookback)
    except AnalyzeError as exc:
        print(f"glassmesh analyze: {exc}", file=sys.stderr)
        return exc.code
    if args.json:
        single = args.operation is not None
        print(json.dumps(reports[0] if single else {"endpoints": reports}, indent=2))
        return 0
    if not reports:
        which = f" of {args.service}" if args.service else ""
        print(f"glassmesh analyze: no traces{which} analysed in the last {args.lookback} at "
              f"{collector} yet (a trace is analysed a few seconds after its last span; is "
              f"traffic flowing?)", file=sys.stderr)  # fmt: skip
        return 0
    render(reports)
    return 0


def collector_url(given: str | None) -> str:
    """The collector's base URL from the option, the environment or the default."""
    url = given or os.environ.get("GLASSMESH_COLLECTOR") or DEFAULT_COLLECTOR
    if not url.startswith(("http://", "https://")):
        raise AnalyzeError(f"--collector {url[:80]!r} is not an http:// or https:// URL", 2)
    return url.rstrip("/")


def fetch(
    collector: str, service: str | None, operation: str | None, lookback: str
) -> list[dict[str, Any]]:
    """The endpoints' reports. Raises AnalyzeError worded for a user."""
    query = {"lookback": lookback, "service": service, "operation": operation}
    url = f"{collector}/api/v1/bottlenecks?" + urllib.parse.urlencode(
        {k: v for k, v in query.items() if v is not None}
    )
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AnalyzeError(_http_error(exc), 2 if exc.code == 400 else 1) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AnalyzeError(f"cannot reach the collector at {collector}: {reason} (start one "
                           f"with `glassmesh collector` or `glassmesh demo`, or pass "
                           f"--collector URL)") from None  # fmt: skip
    except ValueError:
        raise AnalyzeError(
            f"{collector} did not answer JSON: is it a glassmesh collector?"
        ) from None
    if "endpoints" in body:
        found: list[dict[str, Any]] = body["endpoints"]
        return found
    return [body]


def _http_error(exc: urllib.error.HTTPError) -> str:
    try:
        return f"{json.loads(exc.read())['error']} (HTTP {exc.code})"
    except (ValueError, KeyError, TypeError):
        return (f"{exc.url} answered HTTP {exc.code}: is it a glassmesh collector with the "
                f"analysis connector enabled?")  # fmt: skip


def render(reports: list[dict[str, Any]]) -> None:
    """One table per entry endpoint, bottlenecks ranked by estimated saving."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for report in reports:
        e = report["endpoint"]
        title = (f"[bold]{e['service']} {e['operation']}[/]  {e['requests']} requests, "
                 f"{e['error_rate']:.1%} errors, p50 {e['p50_ms']:.1f} ms, "
                 f"p95 {e['p95_ms']:.1f} ms, p99 {e['p99_ms']:.1f} ms")  # fmt: skip
        table = Table(title=title, title_justify="left", expand=False)
        for name, justify in (("#", "right"), ("kind", "left"), ("service", "left"),
                              ("operation", "left"), ("saving ms", "right"),
                              ("CP share", "right"), ("slowest 5%", "right"),
                              ("why", "left"), ("example trace", "left")):  # fmt: skip
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for rank, b in enumerate(report["bottlenecks"][:ROWS], 1):
            example = b["evidence_trace_ids"][0] if b["evidence_trace_ids"] else ""
            table.add_row(str(rank), b["kind"], b["service"], b["operation"],
                          f"{b['estimated_saving_ms']:.1f}", f"{b['critical_path_share']:.0%}",
                          f"{b['critical_path_share_slowest']:.0%}", b["detail"],
                          example)  # fmt: skip
        if not report["bottlenecks"]:
            table.add_row("", "none", "", "", "", "", "", "nothing to gain found", "")
        console.print(table)
