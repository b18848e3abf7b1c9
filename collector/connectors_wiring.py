"""Building the connectors named under ``connectors:`` (collector.connectors owns their code).

Their config sections are validated here, at start-up, so a bad field fails with its full path
(``$.connectors.servicegraph.wait_s``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.config import ConfigError, ConnectorsConfig
from collector.pipeline.consumer import MetricsConsumer


@dataclass
class Connectors:
    servicegraph: Any | None = None  # ServiceGraphConnector: traces, metrics, graph source
    spanmetrics: Any | None = None  # SpanMetricsConnector: traces
    analysis: Any | None = None  # AnalysisConnector: traces, bottleneck source

    def all(self) -> list[Any]:
        return [c for c in (self.servicegraph, self.spanmetrics, self.analysis) if c is not None]


def _load(kind: type[Any], raw: dict[str, Any] | None, section: str) -> Any:
    from collector.connectors.config import load

    try:
        return load(kind, raw)
    except ValueError as exc:
        message = str(exc).replace("`$", f"`$.connectors.{section}")
        if "`$" not in message:  # msgspec names no path for an unknown top-level field
            message += f" - at `$.connectors.{section}`"
        raise ConfigError(message) from None


def build_connectors(
    config: ConnectorsConfig, metrics_out: MetricsConsumer, clock: Callable[[], float] = time.time
) -> Connectors:
    """The enabled connectors. Raises ConfigError for a bad section."""
    from collector.connectors.analysis import AnalysisConfig, AnalysisConnector
    from collector.connectors.servicegraph import ServiceGraphConfig, ServiceGraphConnector
    from collector.connectors.spanmetrics import SpanMetricsConfig, SpanMetricsConnector

    analysis_config = _load(AnalysisConfig, config.analysis, "analysis")
    graph_config = _load(ServiceGraphConfig, config.servicegraph, "servicegraph")
    spans_config = _load(SpanMetricsConfig, config.spanmetrics, "spanmetrics")
    built = Connectors()
    if graph_config.enabled:
        built.servicegraph = ServiceGraphConnector(graph_config, metrics_out, clock=clock)
    if spans_config.enabled:
        built.spanmetrics = SpanMetricsConnector(spans_config, metrics_out, clock=clock)
    if analysis_config.enabled:
        built.analysis = AnalysisConnector(analysis_config, clock=clock)
    return built
