"""Service: inbound and outbound RED of one service, chosen by namespace and service, with a
reporter switch (what clients saw vs what the service's own sidecars saw), as Istio's service
dashboard; latency panels carry exemplars that open the trace in the Jaeger data source."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus

from dashboards.common import Link, dashboard, dashboard_url, graph, jaeger_search_url, link, prom
from dashboards.common import query_var as var

IN = 'reporter=~"$reporter",destination_service="$service"'
# Tempo's span-metrics latency histogram (seconds), as the collector serves it.
SPAN_LATENCY = "traces_spanmetrics_latency"
SPANS = 'rate(traces_spanmetrics_calls_total{service="$canonical"}[$__rate_interval])'
OUT = (
    'reporter="source",source_canonical_service="$canonical",source_workload_namespace="$namespace"'
)


def _rate(selector: str, extra: str = "") -> str:
    return f"rate(istio_requests_total{{{selector}{extra}}}[$__rate_interval])"


def _quantiles(selector: str, by: str) -> list[prometheus.Dataquery]:
    buckets = f"rate(istio_request_duration_milliseconds_bucket{{{selector}}}[$__rate_interval])"
    legend = f"{{{{{by}}}}} " if by else ""
    group = f"le, {by}" if by else "le"
    return [
        prom(
            f"histogram_quantile({q}, sum by ({group}) ({buckets}))",
            f"{legend}p{n}",
            ref,
            exemplar=True,
        )
        for q, n, ref in ((0.5, 50, "A"), (0.9, 90, "B"), (0.99, 99, "C"))
    ]


def _variables(d: db.Dashboard) -> db.Dashboard:
    reporter = (
        db.CustomVariable("reporter")
        .label("Reporter")
        .values("client : source|waypoint,server : destination")
    )
    return (
        d.with_variable(
            var(
                "namespace",
                "Namespace",
                "label_values(istio_requests_total, destination_service_namespace)",
            )
        )
        .with_variable(
            var(
                "service",
                "Service",
                "label_values(istio_requests_total"
                '{destination_service_namespace="$namespace"}, destination_service)',
            )
        )
        .with_variable(
            var(
                "canonical",
                "Canonical service",
                "label_values(istio_requests_total"
                '{destination_service="$service"}, destination_canonical_service)',
            )
        )
        .with_variable(reporter)
    )


def build() -> db.Dashboard:
    traces: list[Link] = [link("Traces of $canonical", jaeger_search_url("$canonical"))]
    d = _variables(
        dashboard(
            "glassmesh / Service",
            "service",
            "Inbound and outbound requests, success rate and latency of one service.",
        )
    )
    ok = ',response_code!~"5.."'
    return (
        d.with_row(db.Row("Inbound: requests to $service"))
        .with_panel(
            graph(
                "Requests by response code",
                "reqps",
                prom(f"sum by (response_code) ({_rate(IN)})", "{{response_code}}"),
            )
        )
        .with_panel(
            graph(
                "Success rate",
                "percentunit",
                prom(f"sum({_rate(IN, ok)}) / sum({_rate(IN)})", "success"),
            ).max(1)
        )
        .with_panel(graph("Latency", "ms", *_quantiles(IN, "")).links(traces))
        .with_panel(
            graph(
                "Requests by source workload",
                "reqps",
                prom(
                    f"sum by (source_workload, source_workload_namespace) ({_rate(IN)})",
                    "{{source_workload}}.{{source_workload_namespace}}",
                ),
            ).data_links(
                [
                    link(
                        "Workload dashboard",
                        dashboard_url(
                            "workload",
                            namespace="${__field.labels.source_workload_namespace}",
                            workload="${__field.labels.source_workload}",
                        ),
                    )
                ]
            )
        )
        .with_row(db.Row("Outbound: requests from $canonical"))
        .with_panel(
            graph(
                "Requests by destination",
                "reqps",
                prom(f"sum by (destination_service) ({_rate(OUT)})", "{{destination_service}}"),
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
                    f"sum by (destination_service) ({_rate(OUT, ok)}) "
                    f"/ sum by (destination_service) ({_rate(OUT)})",
                    "{{destination_service}}",
                ),
            ).max(1)
        )
        .with_panel(
            graph(
                "Latency by destination", "ms", *_quantiles(OUT, "destination_service"), width=24
            ).links(traces)
        )
        .with_row(db.Row("Spans of $canonical (span metrics)"))
        .with_panel(
            graph(
                "Spans by name and kind",
                "reqps",
                prom(f"sum by (span_name, span_kind) ({SPANS})", "{{span_kind}} {{span_name}}"),
            )
        )
        .with_panel(
            graph(
                "Span p90 by name",
                "s",
                prom(
                    "histogram_quantile(0.9, sum by (le, span_name) (rate("
                    f'{SPAN_LATENCY}_bucket{{service="$canonical"}}[$__rate_interval])))',
                    "{{span_name}}",
                    exemplar=True,
                ),
            ).links(traces)
        )
    )
