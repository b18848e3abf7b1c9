"""Bottlenecks: for each entry endpoint, which services and operations sit on the critical path
of its traces and how much a fix would save, with the top findings linked to their evidence
traces (the collector's analysis: ``glassmesh_collector_critical_path_share``,
``..._bottleneck_saving_ms`` and ``GET /api/v1/bottlenecks``)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import dashboard as models

from dashboards.common import (
    INFINITY,
    Infinity,
    dashboard,
    graph,
    jaeger_trace_url,
    link,
    prom,
)
from dashboards.common import query_var as var

ENTRY = 'entry_service="$entry_service",entry_operation="$entry_operation"'
# One endpoint's report, {"endpoint": {...}, "bottlenecks": [...]} ranked by saving; JSONata
# makes one row per finding with its first evidence trace.
REPORT = (
    "/api/v1/bottlenecks?service=${entry_service:percentencode}"
    "&operation=${entry_operation:percentencode}&lookback=$lookback"
)
FINDINGS = (
    'bottlenecks.{"kind": kind, "service": service, "operation": operation, '
    '"critical path share": critical_path_share, "saving ms": estimated_saving_ms, '
    '"detail": detail, "evidence trace": evidence_trace_ids[0]}'
)


def _findings() -> table.Panel:
    trace = link("Open evidence trace", jaeger_trace_url("${__value.raw}"))
    return (
        table.Panel()
        .title("Top findings (ranked by estimated saving)")
        .datasource(INFINITY)
        .with_target(Infinity("findings", REPORT, "table", FINDINGS))
        .override_by_name(
            "evidence trace", [models.DynamicConfigValue(id_val="links", value=[trace.build()])]
        )
        .height(10)
        .span(24)
    )


def build() -> db.Dashboard:
    share = f"glassmesh_collector_critical_path_share{{{ENTRY}}}"
    saving = f"glassmesh_collector_bottleneck_saving_ms{{{ENTRY}}}"
    return (
        dashboard(
            "glassmesh / Bottlenecks",
            "bottlenecks",
            "Where the time of each endpoint's requests goes, and what to fix first.",
        )
        .with_variable(
            var(
                "entry_service",
                "Entry service",
                "label_values(glassmesh_collector_critical_path_share, entry_service)",
            )
        )
        .with_variable(
            var(
                "entry_operation",
                "Entry operation",
                "label_values(glassmesh_collector_critical_path_share"
                '{entry_service="$entry_service"}, entry_operation)',
            )
        )
        .with_variable(db.CustomVariable("lookback").label("Lookback").values("15m,1h,5m"))
        .with_row(db.Row("$entry_service $entry_operation"))
        .with_panel(
            graph(
                "Critical-path share by service and operation",
                "percentunit",
                prom(f"sum by (service, operation) ({share})", "{{service}} {{operation}}"),
            ).max(1)
        )
        .with_panel(
            graph(
                "Estimated saving by finding",
                "ms",
                prom(
                    f"topk(5, sum by (kind, service, operation) ({saving}))",
                    "{{kind}} {{service}} {{operation}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Traces analysed",
                "ops",
                prom(
                    "sum(rate(glassmesh_collector_analysis_traces_total[$__rate_interval]))",
                    "traces/s",
                ),
                width=24,
            )
        )
        .with_row(db.Row("Findings"))
        .with_panel(_findings())
    )
