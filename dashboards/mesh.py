"""Mesh overview: request volume, success rate and latency percentiles per service, from the
clients' point of view as Istio's mesh dashboard does, so its queries read our metrics unchanged."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table

from dashboards.common import (
    CLIENT,
    dashboard,
    dashboard_url,
    graph,
    grid,
    instant,
    link,
    prom,
    single,
)

RATE = f"rate(istio_requests_total{{{CLIENT}}}[$__rate_interval])"
OK_RATE = f'rate(istio_requests_total{{{CLIENT},response_code!~"5.."}}[$__rate_interval])'
BUCKETS = f"rate(istio_request_duration_milliseconds_bucket{{{CLIENT}}}[$__rate_interval])"
BY_WORKLOAD = "destination_workload,destination_workload_namespace,destination_service"


def _quantile(q: float, by: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) ({BUCKETS}))"


def _workloads_table() -> table.Panel:
    """Istio's "HTTP/gRPC Workloads" table: one row per destination workload."""

    def joined(expr: str) -> str:
        return (
            f'label_join({expr}, "destination_workload_var", ".", '
            '"destination_workload", "destination_workload_namespace")'
        )

    targets = [
        instant(joined(f"sum by ({BY_WORKLOAD}) ({RATE})"), "requests"),
        instant(joined(_quantile(0.50, BY_WORKLOAD)), "p50"),
        instant(joined(_quantile(0.90, BY_WORKLOAD)), "p90"),
        instant(joined(_quantile(0.99, BY_WORKLOAD)), "p99"),
        instant(
            joined(f"sum by ({BY_WORKLOAD}) ({OK_RATE}) / sum by ({BY_WORKLOAD}) ({RATE})"),
            "success",
        ),
    ]
    service = dashboard_url(
        "service",
        namespace="${__data.fields.destination_workload_namespace}",
        service="${__data.fields.destination_service}",
    )
    return grid("HTTP workloads", *targets).data_links([link("Service dashboard", service)])


def build() -> db.Dashboard:
    return (
        dashboard(
            "glassmesh / Mesh overview",
            "mesh",
            "Request volume, success rate and latency of every service in the mesh, as clients "
            "saw them (reporter=source).",
        )
        .with_row(db.Row("Mesh"))
        .with_panel(
            single("Request volume", "reqps", f"round(sum({RATE}), 0.01)"),
        )
        .with_panel(
            single("Success rate (non-5xx)", "percentunit", f"sum({OK_RATE}) / sum({RATE})")
        )
        .with_panel(
            single(
                "4xx responses",
                "reqps",
                f'round(sum(rate(istio_requests_total{{{CLIENT},response_code=~"4.."}}'
                "[$__rate_interval])), 0.01)",
            )
        )
        .with_panel(
            single(
                "5xx responses",
                "reqps",
                f'round(sum(rate(istio_requests_total{{{CLIENT},response_code=~"5.."}}'
                "[$__rate_interval])), 0.01)",
            )
        )
        .with_row(db.Row("Services"))
        .with_panel(
            graph(
                "Requests by service",
                "reqps",
                prom(f"sum by (destination_service) ({RATE})", "{{destination_service}}"),
            )
        )
        .with_panel(
            graph(
                "Success rate by service",
                "percentunit",
                prom(
                    f"sum by (destination_service) ({OK_RATE}) "
                    f"/ sum by (destination_service) ({RATE})",
                    "{{destination_service}}",
                ),
            ).max(1)
        )
        .with_panel(
            graph(
                "Latency by service (p50, p90, p99)",
                "ms",
                *(
                    prom(
                        _quantile(q, "destination_service"),
                        f"p{n} {{{{destination_service}}}}",
                        ref,
                        exemplar=True,
                    )
                    for q, n, ref in ((0.5, 50, "A"), (0.9, 90, "B"), (0.99, 99, "C"))
                ),
                width=24,
            )
        )
        .with_panel(_workloads_table())
    )
