"""Compiles Telemetry resources into the rules a namespace's sidecars apply (Snapshot.telemetry).

Which resources apply to a sidecar in namespace ``viewer``, Istio's way: a selector-less one in the
root namespace (mesh-wide), a selector-less one in ``viewer`` (namespace-wide), and those in
``viewer`` whose selector matches the sidecar's labels (workload). The sidecar picks the rules that
match its labels and lets the narrower scope win field by field; when several resources share a
scope, the oldest (by name order here, as stored) wins, so a later one cannot silently take over.

Access logging: ``disabled: true`` is ``off``; a filter ``response.code >= 400`` (Istio's
documented example) is ``errors``; no filter is ``all``. Any other filter expression is not
evaluated by the sidecar: it compiles to ``errors`` and is logged, never silently widened to all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

from controlplane.api.resources import ROOT_NAMESPACE, Telemetry
from controlplane.api.resources.base import Resource
from controlplane.api.telemetry import AccessLogMode, TelemetryRule

log = logging.getLogger("glassmesh.controlplane.telemetry")
ERRORS_FILTERS = frozenset({"response.code >= 400", "response.code>=400"})


def rules(resources: Iterable[Resource], viewer: str) -> list[TelemetryRule]:
    """The rules of every Telemetry resource that can apply to a sidecar in ``viewer``, mesh
    scope first, then namespace, then workload."""
    found: list[TelemetryRule] = []
    for resource in resources:
        if not isinstance(resource, Telemetry):
            continue
        rule = _rule(resource, viewer)
        if rule is not None:
            found.append(rule)
    order = {"mesh": 0, "namespace": 1, "workload": 2}
    return sorted(found, key=lambda r: order[r.scope])


def _rule(resource: Telemetry, viewer: str) -> TelemetryRule | None:
    namespace = resource.metadata.namespace
    selector = resource.spec.selector
    scope: Literal["mesh", "namespace", "workload"]
    if selector is None or not selector.matchLabels:
        if namespace == ROOT_NAMESPACE:
            scope = "mesh"
        elif namespace == viewer:
            scope = "namespace"
        else:
            return None
        labels: dict[str, str] = {}
    elif namespace == viewer:
        scope, labels = "workload", dict(selector.matchLabels)
    else:
        return None
    spec = resource.spec
    sampling = next(
        (
            t.randomSamplingPercentage
            for t in spec.tracing
            if t.randomSamplingPercentage is not None
        ),
        None,
    )
    return TelemetryRule(
        name=f"{namespace}/{resource.metadata.name}",
        scope=scope,
        match_labels=labels,
        sampling_percent=sampling,
        access_log=_access_log(resource),
    )


def _access_log(resource: Telemetry) -> AccessLogMode | None:
    entries = resource.spec.accessLogging
    if not entries:
        return None
    entry = entries[0]
    if entry.disabled:
        return "off"
    if entry.filter is None:
        return "all"
    expression = " ".join(entry.filter.expression.split())
    if expression not in ERRORS_FILTERS:
        log.warning(
            "Telemetry %s: access log filter %r is not evaluated; logging errors only",
            resource.metadata.name,
            expression[:200],
        )
    return "errors"
