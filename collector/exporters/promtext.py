"""Rendering /metrics: the Prometheus text format 0.0.4, or OpenMetrics 1.0 (with exemplars)
when the scraper's Accept header asks for ``application/openmetrics-text``."""

from __future__ import annotations

import math
from collections.abc import Iterator

from collector.exporters.prometheus import Family, Labels, PrometheusExporter, Sample
from collector.telemetry import SelfMetrics

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def wants_openmetrics(accept: str) -> bool:
    return "application/openmetrics-text" in accept


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = [*labels, *extra]
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _num(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _exemplar(sample: Sample, low: float, high: float) -> str:
    for ex in reversed(sample.exemplars):
        value = ex.as_double if ex.HasField("as_double") else float(ex.as_int)
        if low < value <= high:
            pairs = []
            if ex.trace_id:
                pairs.append(("trace_id", ex.trace_id.hex()))
            if ex.span_id:
                pairs.append(("span_id", ex.span_id.hex()))
            at = ex.time_unix_nano / 1e9
            return f" # {_labels((), tuple(pairs)) or '{}'} {_num(value)} {at:.3f}"
    return ""


def _family_lines(name: str, family: Family, om: bool) -> Iterator[str]:
    counter = family.kind == "counter"
    shown = name if om or not counter else name + "_total"
    if family.help:
        yield f"# HELP {shown} {_escape(family.help)}"
    yield f"# TYPE {shown} {family.kind}"
    for labels, s in sorted(family.samples.items()):
        if family.kind == "histogram":
            yield from _histogram(name, labels, s, om)
        elif counter:
            ex = _exemplar(s, -math.inf, math.inf) if om else ""
            yield f"{name}_total{_labels(labels)} {_num(s.value)}{ex}"
        else:
            yield f"{name}{_labels(labels)} {_num(s.value)}"


def _histogram(name: str, labels: Labels, s: Sample, om: bool) -> Iterator[str]:
    running, low = 0, -math.inf
    for bound, count in zip([*s.bounds, math.inf], s.buckets, strict=True):
        running += count
        ex = _exemplar(s, low, bound) if om else ""
        yield f"{name}_bucket{_labels(labels, (('le', _num(bound)),))} {running}{ex}"
        low = bound
    yield f"{name}_sum{_labels(labels)} {_num(s.value)}"
    yield f"{name}_count{_labels(labels)} {s.count}"


def _self_lines(metrics: SelfMetrics, om: bool) -> Iterator[str]:
    for full, kind, help_text, values in metrics.families():
        family = Family(kind, help_text)
        base = full.removesuffix("_total") if kind == "counter" else full
        for labels, value in values.items():
            family.samples[labels] = Sample(value=value)
        if family.samples:
            yield from _family_lines(base, family, om)


def render(exporter: PrometheusExporter, om: bool) -> str:
    """The whole exposition."""
    exporter.expire()
    lines = [
        line
        for name, family in sorted(exporter.families.items())
        for line in _family_lines(name, family, om)
    ]
    lines += _self_lines(exporter.self_metrics, om)
    if om:
        lines.append("# EOF")
    return "\n".join(lines) + "\n"
