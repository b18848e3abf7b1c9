"""What a rendered dashboard asks its data sources: every Prometheus expression and Infinity URL
of every panel, and its variables, so a test (or a user) can run them outside Grafana."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

PROMETHEUS = "prometheus"
INFINITY = "yesoreyeram-infinity-datasource"
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::(\w+))?\}|(\w+))")


@dataclass(frozen=True)
class Query:
    """One target of one panel: ``kind`` is PROMETHEUS (``text`` a PromQL expression) or
    INFINITY (``text`` a URL relative to the collector, ``root`` its JSONata selector);
    ``exemplar`` when the panel asks Prometheus for exemplars too."""

    dashboard: str
    panel: str
    ref_id: str
    kind: str
    text: str
    root: str = ""
    exemplar: bool = False


def panel_queries(model: Mapping[str, Any]) -> Iterator[Query]:
    """Every Prometheus and Infinity target in ``model`` (a dashboard's JSON), rows included."""
    stack = list(model.get("panels", []))
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        panel_ds = (panel.get("datasource") or {}).get("type")
        for target in panel.get("targets", []):
            kind = (target.get("datasource") or {}).get("type", panel_ds)
            text = target.get("expr") if kind == PROMETHEUS else target.get("url")
            if kind in (PROMETHEUS, INFINITY) and text:
                root, exemplar = target.get("root_selector", ""), bool(target.get("exemplar"))
                ref = target["refId"]
                yield Query(model["uid"], panel["title"], ref, kind, text, root, exemplar)


def variables(model: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's variables in the order Grafana resolves them."""
    found: list[dict[str, Any]] = model.get("templating", {}).get("list", [])
    return found


def custom_values(variable: Mapping[str, Any]) -> list[str]:
    """The values of a custom variable (``text : value`` entries, comma separated)."""
    entries = [e.strip() for e in str(variable.get("query", "")).split(",") if e.strip()]
    return [e.split(" : ", 1)[-1].strip() for e in entries]


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with ``$name``, ``${name}`` and ``${name:percentencode}`` replaced from
    ``values``, as Grafana does. Raises KeyError naming a variable that has no value."""

    def one(match: re.Match[str]) -> str:
        name, fmt = match.group(1) or match.group(3), match.group(2)
        value = values[name]
        return urllib.parse.quote(value, safe="") if fmt == "percentencode" else value

    return _VARIABLE.sub(one, text)
