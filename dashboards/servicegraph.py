"""Service graph: the mesh as a Node Graph, fed by the collector's graph API through the Infinity
data source (nodes and edges already in Node Graph fields), and the Tempo-named service-graph
metrics (the same names Grafana's Tempo service map reads), as a graph and per edge."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import nodegraph
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.nodegraph import ArcOption

from dashboards.common import (
    INFINITY,
    PROM,
    Infinity,
    dashboard,
    dashboard_url,
    graph,
    instant,
    link,
    prom,
)

WINDOW = "window=$window&namespace=$namespace"
EDGE = "client, server"


def _rate(metric: str) -> str:
    return f"sum by ({EDGE}) (rate({metric}[$__rate_interval]))"


def _service_url() -> str:
    namespace, name = "${__data.fields.subtitle}", "${__data.fields.id}"
    return dashboard_url(
        "service", namespace=namespace, service=f"{name}.{namespace}.svc.cluster.local"
    )


def _node_graph() -> nodegraph.Panel:
    arcs: list[cogbuilder.Builder[ArcOption]] = [
        nodegraph.ArcOption().field("arc__success").color("green"),
        nodegraph.ArcOption().field("arc__failed").color("red"),
    ]
    return (
        nodegraph.Panel()
        .title("Service graph (collector graph API)")
        .description(
            "Nodes: average response time (ms) and requests/s; edges: requests/s and "
            "the share of mesh requests the traces account for (%)."
        )
        .datasource(INFINITY)
        .nodes(nodegraph.NodeOptions().main_stat_unit("ms").secondary_stat_unit("reqps").arcs(arcs))
        .edges(nodegraph.EdgeOptions().main_stat_unit("reqps").secondary_stat_unit("percent"))
        .with_target(Infinity("nodes", f"/api/graph/nodes?{WINDOW}", "node-graph-nodes"))
        .with_target(Infinity("edges", f"/api/graph/edges?{WINDOW}", "node-graph-edges"))
        .data_links([link("Service dashboard", _service_url())])
        .height(14)
        .span(24)
    )


def _metrics_graph() -> nodegraph.Panel:
    """The same graph from Prometheus alone: one edges frame (a field named ``source`` makes it
    one; Grafana draws the nodes from its ends), ids made by label_join."""
    edges = (
        "label_join(sum by (client, server) (rate(traces_service_graph_request_total[$__range])), "
        '"id", "->", "client", "server")'
    )
    rename = {"client": "source", "server": "target", "Value": "mainstat"}
    organize = models.DataTransformerConfig(
        id_val="organize", options={"excludeByName": {"Time": True}, "renameByName": rename}
    )
    return (
        nodegraph.Panel()
        .title("Service graph (Tempo service-graph metrics)")
        .description("Edges: requests/s over the dashboard's time range, from Prometheus.")
        .datasource(PROM)
        .edges(nodegraph.EdgeOptions().main_stat_unit("reqps"))
        .with_target(instant(edges, "edges"))
        .with_transformation(organize)
        .height(14)
        .span(24)
    )


def build() -> db.Dashboard:
    window = db.CustomVariable("window").label("Window").values("5m,15m,1h")
    namespace = db.TextBoxVariable("namespace").label("Namespace (empty: all)")
    seconds = "traces_service_graph_request_server_seconds"
    return (
        dashboard(
            "glassmesh / Service graph",
            "graph",
            "Who calls whom, how often, how fast and how often it fails.",
        )
        .with_variable(window)
        .with_variable(namespace)
        .with_row(db.Row("Graph"))
        .with_panel(_node_graph())
        .with_panel(_metrics_graph())
        .with_row(db.Row("Edges (Tempo service-graph metrics)"))
        .with_panel(
            graph(
                "Requests per edge",
                "reqps",
                prom(_rate("traces_service_graph_request_total"), "{{client}} → {{server}}"),
            )
        )
        .with_panel(
            graph(
                "Failed requests per edge",
                "reqps",
                prom(_rate("traces_service_graph_request_failed_total"), "{{client}} → {{server}}"),
            )
        )
        .with_panel(
            graph(
                "Server p90 per edge",
                "s",
                prom(
                    f"histogram_quantile(0.9, sum by (le, {EDGE}) "
                    f"(rate({seconds}_bucket[$__rate_interval])))",
                    "{{client}} → {{server}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Average server time per edge",
                "s",
                prom(
                    f"{_rate(seconds + '_sum')} / {_rate(seconds + '_count')}",
                    "{{client}} → {{server}}",
                ),
            )
        )
    )
