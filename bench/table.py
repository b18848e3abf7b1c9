"""The terminal view of a run's JSON document: a rich table plus notes on failures and validity."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from bench.report import TARGETS

# (header, key in the target's JSON, format)
COLUMNS = (
    ("max rps", "rps", "{:,.0f}"),
    ("p50", "p50_ms", "{:.3f}"),
    ("p90", "p90_ms", "{:.3f}"),
    ("p99", "p99_ms", "{:.3f}"),
    ("+p50", "added_p50_ms", "{:+.3f}"),
    ("+p99", "added_p99_ms", "{:+.3f}"),
    ("RSS idle", "rss_idle_mb", "{:.1f}"),
    ("RSS after", "rss_mb", "{:.1f}"),
)
# Which ratio goes under which column in the glassmesh/envoy row.
RATIO_COLUMNS = {
    "rps": "glassmesh_envoy_rps",
    "added_p50_ms": "glassmesh_envoy_added_p50",
    "added_p99_ms": "glassmesh_envoy_added_p99",
    "rss_idle_mb": "glassmesh_envoy_rss_idle",
    "rss_mb": "glassmesh_envoy_rss",
}


def fmt(value: float | None, spec: str) -> str:
    """Format a number, or '-' when it is missing."""
    return "-" if value is None else spec.format(value)


def render_table(document: dict[str, Any]) -> Table:
    """Rows direct / envoy / glassmesh, then the glassmesh/envoy ratio row."""
    meta = document["meta"]
    title = (
        f"1 KiB over HTTP/1.1, mTLS pair: max rps by wrk -c{meta['connections']}; latency (ms) "
        f"open loop at {meta['rate_rps']:g} rps; {meta['duration_s']:g} s each; RSS in MB"
    )
    table = Table(title=title, caption=f"pinning: {meta['pinning']}")
    table.add_column("target")
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="right")
    present = [name for name in TARGETS if name in document]
    for i, name in enumerate(present):
        target = document[name]
        cells = [fmt(target.get(key), spec) for _, key, spec in COLUMNS]
        label = name
        if not target["ok"]:
            label = f"[red]{name} FAILED[/]"
            cells = [f"[red]{c}[/]" for c in cells]
        table.add_row(label, *cells, end_section=i == len(present) - 1)
    if not {"envoy", "glassmesh"} <= set(present):
        return table
    ratios = document["ratios"]
    ratio_cells = [fmt(ratios.get(RATIO_COLUMNS.get(key, "")), "{:.2f}x") for _, key, _ in COLUMNS]
    table.add_row("glassmesh/envoy", *[c if c != "-" else "" for c in ratio_cells], style="bold")
    if "policies" in present:
        cells = [
            fmt(
                ratios.get(
                    RATIO_COLUMNS.get(key, "").replace("glassmesh_envoy", "policies_glassmesh")
                ),
                "{:.2f}x",
            )
            for _, key, _ in COLUMNS
        ]
        table.add_row("policies/glassmesh", *[c if c != "-" else "" for c in cells], style="bold")
    return table


def notes(document: dict[str, Any]) -> list[str]:
    """Lines to print under the table: failures, invalid open-loop runs, the RSS soak."""
    lines: list[str] = []
    for name in TARGETS:
        target = document.get(name)
        if target is None:
            continue
        if not target["ok"]:
            lines.append(f"[red]{name} FAILED:[/] {target['error']}")
        loop = target.get("open_loop") or {}
        if loop and not loop.get("valid", True):
            lines.append(
                f"[yellow]{name}: open loop achieved {loop['achieved_rps']:.0f} of "
                f"{loop['target_rps']:.0f} rps ({loop['errors']} errors): latency not valid[/]"
            )
        soak = target.get("rss_soak")
        if soak:
            lines.append(soak_line(name, soak))
    return lines


def soak_line(name: str, soak: dict[str, Any]) -> str:
    """One line on RSS growth over ``soak['requests']`` requests (target: flat within 10 %)."""
    growth = soak.get("growth_pct")
    verdict = "" if growth is None else (" [green]flat[/]" if growth <= 10 else " [red]grows[/]")
    return (
        f"{name} RSS over {soak['requests']:,} requests: {fmt(soak.get('before_mb'), '{:.1f}')} -> "
        f"{fmt(soak.get('after_mb'), '{:.1f}')} MB ({fmt(growth, '{:+.1f}')} %){verdict}"
    )
