"""The pieces every glassmesh dashboard is built from: data source references, variables, panels
and links, so that seven dashboards look alike and say each thing once.

Data sources are referred to by the uids the provisioning in deploy/grafana gives them
(``prometheus``, ``jaeger``, ``infinity``); Prometheus panels go through a ``$datasource``
variable so a user with several Prometheus servers can pick one.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import VizLegendOptions
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

PROM = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
JAEGER_UID = "jaeger"
INFINITY = models.DataSourceRef(type_val="yesoreyeram-infinity-datasource", uid="infinity")
TAG = "glassmesh"
# Istio's mesh dashboard counts what clients saw (source reporter; waypoints in ambient mode).
CLIENT = 'reporter=~"source|waypoint"'
SERVER = 'reporter="destination"'
UIDS = {
    "mesh": "glassmesh-mesh",
    "service": "glassmesh-service",
    "workload": "glassmesh-workload",
    "graph": "glassmesh-service-graph",
    "bottlenecks": "glassmesh-bottlenecks",
    "controlplane": "glassmesh-control-plane",
    "collector": "glassmesh-collector",
}


def dashboard(title: str, key: str, description: str) -> db.Dashboard:
    """A dashboard with a stable uid, the ``$datasource`` variable and a menu of the others."""
    return (
        db.Dashboard(title)
        .uid(UIDS[key])
        .description(description)
        .tags([TAG])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .readonly()
        .with_variable(db.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .link(
            db.DashboardLink("glassmesh")
            .type(models.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def query_var(name: str, label: str, query: str) -> db.QueryVariable:
    """A single-valued variable filled from Prometheus label values, sorted."""
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(PROM)
        .query(query)
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
    )


def prom(
    expr: str, legend: str = "", ref: str = "A", *, exemplar: bool = False
) -> prometheus.Dataquery:
    """A range query of ``expr``; ``exemplar`` also asks for exemplars (links to traces)."""
    query = prometheus.Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    return query.exemplar(True) if exemplar else query


def instant(expr: str, ref: str) -> prometheus.Dataquery:
    """An instant query answered as a table (for table panels)."""
    return (
        prometheus.Dataquery()
        .expr(expr)
        .ref_id(ref)
        .instant()
        .format(PromQueryFormat.TABLE)
        .legend_format("__auto")
    )


def _legend() -> VizLegendOptions:
    return (
        VizLegendOptions()
        .display_mode(LegendDisplayMode.LIST)
        .placement(LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def graph(
    title: str, unit: str, *targets: cogbuilder.Builder[cogvariants.Dataquery], width: int = 12
) -> timeseries.Panel:
    """A time series panel over Prometheus queries."""
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(PROM)
        .unit(unit)
        .min(0)
        .legend(_legend())
        .height(8)
        .span(width)
    )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def single(title: str, unit: str, expr: str, width: int = 6) -> stat.Panel:
    """A stat panel showing the last value of ``expr``."""
    return (
        stat.Panel()
        .title(title)
        .datasource(PROM)
        .unit(unit)
        .with_target(prom(expr))
        .height(4)
        .span(width)
    )


def grid(title: str, *targets: cogbuilder.Builder[cogvariants.Dataquery]) -> table.Panel:
    """A table panel of instant queries joined on their labels (merge)."""
    panel = table.Panel().title(title).datasource(PROM).height(8).span(24)
    for target in targets:
        panel = panel.with_target(target)
    return panel.with_transformation(models.DataTransformerConfig(id_val="merge", options={}))


Link = cogbuilder.Builder[models.DashboardLink]


def link(title: str, url: str) -> Link:
    """A link shown on a panel (or a field, as a data link)."""
    return db.DashboardLink(title).url(url).type(models.DashboardLinkType.LINK)


def dashboard_url(key: str, **variables: str) -> str:
    """The path of dashboard ``key`` with ``var-`` parameters and the current time range."""
    params = "".join(f"&var-{name}={value}" for name, value in variables.items())
    return f"/d/{UIDS[key]}?${{__url_time_range}}&var-datasource=${{datasource}}{params}"


def jaeger_search_url(service: str) -> str:
    """Grafana Explore on the Jaeger data source searching traces of ``service``."""
    query = {
        "refId": "A",
        "datasource": {"type": "jaeger", "uid": JAEGER_UID},
        "queryType": "search",
        "service": service,
    }
    pane = {
        "datasource": JAEGER_UID,
        "queries": [query],
        "range": {"from": "${__from}", "to": "${__to}"},
    }
    return "/explore?schemaVersion=1&panes=" + _encode({"traces": pane})


def jaeger_trace_url(trace_id: str) -> str:
    """Grafana Explore on the Jaeger data source showing trace ``trace_id``."""
    query = {"refId": "A", "datasource": {"type": "jaeger", "uid": JAEGER_UID}, "query": trace_id}
    return "/explore?schemaVersion=1&panes=" + _encode(
        {"trace": {"datasource": JAEGER_UID, "queries": [query]}}
    )


def _encode(panes: dict[str, Any]) -> str:
    # Grafana interpolates ${...} before following the link, so those stay readable.
    return urllib.parse.quote(json.dumps(panes, separators=(",", ":")), safe="${}_")


class InfinityQuery(cogvariants.Dataquery):
    """A query of the Infinity data source (the SDK has no types for the plugin): GET ``url``
    (relative to the data source's base URL, the collector's :16686) as JSON in ``fmt``."""

    def __init__(self, ref_id: str, url: str, fmt: str, root: str = "") -> None:
        self.ref_id, self.url, self.fmt, self.root = ref_id, url, fmt, root

    def to_json(self) -> dict[str, Any]:
        return {
            "refId": self.ref_id,
            "datasource": INFINITY.to_json(),
            "type": "json",
            "source": "url",
            "parser": "backend",
            "url": self.url,
            "url_options": {"method": "GET", "data": ""},
            "format": self.fmt,
            "root_selector": self.root,
        }


class Infinity(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder wrapper so Infinity queries go where the SDK wants builders."""

    def __init__(self, ref_id: str, url: str, fmt: str, root: str = "") -> None:
        self._query = InfinityQuery(ref_id, url, fmt, root)

    def build(self) -> cogvariants.Dataquery:
        return self._query
