"""Workload: what one workload (a Deployment's pods, a sidecar's ``workload`` label) receives and
sends, by peer, and the sizes of what it exchanges."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from dashboards.common import dashboard, dashboard_url, graph, link, prom
from dashboards.common import query_var as var

IN = (
    'reporter="destination",destination_workload="$workload",'
    'destination_workload_namespace="$namespace"'
)
OUT = 'reporter="source",source_workload="$workload",source_workload_namespace="$namespace"'
OK = ',response_code!~"5.."'


def _rate(selector: str, extra: str = "") -> str:
    return f"rate(istio_requests_total{{{selector}{extra}}}[$__rate_interval])"


def _p99(selector: str, by: str) -> str:
    buckets = f"rate(istio_request_duration_milliseconds_bucket{{{selector}}}[$__rate_interval])"
    return f"histogram_quantile(0.99, sum by (le, {by}) ({buckets}))"


def build() -> db.Dashboard:
    d = (
        dashboard(
            "glassmesh / Workload",
            "workload",
            "Inbound and outbound traffic of one workload, by peer.",
        )
        .with_variable(
            var(
                "namespace",
                "Namespace",
                "label_values(istio_requests_total, destination_workload_namespace)",
            )
        )
        .with_variable(
            var(
                "workload",
                "Workload",
                "label_values(istio_requests_total"
                '{destination_workload_namespace="$namespace"}, destination_workload)',
            )
        )
    )
    src = "source_workload, source_workload_namespace"
    return (
        d.with_row(db.Row("Inbound: requests to $workload"))
        .with_panel(
            graph(
                "Requests by source and response code",
                "reqps",
                prom(
                    f"sum by ({src}, response_code) ({_rate(IN)})",
                    "{{source_workload}}.{{source_workload_namespace}} {{response_code}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Success rate by source",
                "percentunit",
                prom(
                    f"sum by ({src}) ({_rate(IN, OK)}) / sum by ({src}) ({_rate(IN)})",
                    "{{source_workload}}.{{source_workload_namespace}}",
                ),
            ).max(1)
        )
        .with_panel(
            graph(
                "p99 latency by source",
                "ms",
                prom(
                    _p99(IN, src),
                    "{{source_workload}}.{{source_workload_namespace}}",
                    exemplar=True,
                ),
                width=24,
            )
        )
        .with_row(db.Row("Outbound: requests from $workload"))
        .with_panel(
            graph(
                "Requests by destination and response code",
                "reqps",
                prom(
                    f"sum by (destination_service, response_code) ({_rate(OUT)})",
                    "{{destination_service}} {{response_code}}",
                ),
            ).data_links(
                [
                    link(
                        "Service dashboard",
                        dashboard_url("service", service="${__field.labels.destination_service}"),
                    )
                ]
            )
        )
        .with_panel(
            graph(
                "Success rate by destination",
                "percentunit",
                prom(
                    f"sum by (destination_service) ({_rate(OUT, OK)}) "
                    f"/ sum by (destination_service) ({_rate(OUT)})",
                    "{{destination_service}}",
                ),
            ).max(1)
        )
        .with_panel(
            graph(
                "p99 latency by destination",
                "ms",
                prom(_p99(OUT, "destination_service"), "{{destination_service}}", exemplar=True),
                width=24,
            )
        )
        .with_row(db.Row("Bytes"))
        .with_panel(
            graph(
                "Request and response size (p90, inbound)",
                "bytes",
                prom(
                    "histogram_quantile(0.9, sum by (le) (rate(istio_request_bytes_bucket"
                    f"{{{IN}}}[$__rate_interval])))",
                    "request",
                    "A",
                ),
                prom(
                    "histogram_quantile(0.9, sum by (le) (rate(istio_response_bytes_bucket"
                    f"{{{IN}}}[$__rate_interval])))",
                    "response",
                    "B",
                ),
                width=24,
            )
        )
    )
