"""Connectors: data derived from spans (the service graph, span metrics) emitted as metrics.

Wiring contract for whoever assembles the collector (the pipeline builder, the CLI):

Config (msgspec Structs: frozen, forbid_unknown_fields, every field defaulted, errors name the
field path), under ``connectors:`` in the collector config::

    connectors:
      servicegraph: ServiceGraphConfig   # collector.connectors.servicegraph
      spanmetrics: SpanMetricsConfig     # collector.connectors.spanmetrics

Both have ``enabled: bool = True``; build nothing when it is false. Durations are float seconds.

Construction (once, at start-up; constructors never block and raise nothing on a valid config)::

    from collector.connectors.servicegraph import ServiceGraphConfig, ServiceGraphConnector
    from collector.connectors.spanmetrics import SpanMetricsConfig, SpanMetricsConnector

    graph = ServiceGraphConnector(config.servicegraph, metrics_out, clock=time.time)
    spans = SpanMetricsConnector(config.spanmetrics, metrics_out, clock=time.time)

* ``metrics_out`` is a ``MetricsConsumer``: give it the Prometheus exporter (or a metrics
  pipeline that does NOT route back into ``graph.consume_metrics`` - the connector ignores its own
  families anyway, but a loop wastes work). Every ``flush_interval_s`` each connector pushes one
  cumulative OTLP ``ResourceMetrics`` (resource ``service.name=glassmesh-collector``) holding all
  its series; a ``Refused`` from ``metrics_out`` is counted and the next flush carries the same
  (cumulative) totals, so nothing is lost but freshness.
* ``clock`` returns wall-clock seconds since the epoch (``time.time``); pending-edge expiry, graph
  windows and metric timestamps all come from it. Tests pass a fake.

Pipelines:

* traces: the receivers' traces fan out to storage AND ``graph`` AND ``spans`` (each is a
  ``TracesConsumer``; ``consume_traces`` never blocks, never raises ``Refused``: when its bounded
  store is full a connector drops the span half and counts it).
* metrics: the receivers' metrics fan out to the Prometheus exporter AND ``graph``
  (``graph.consume_metrics`` reads ``istio_requests_total`` sums for the sidecar-metrics graph and
  ignores everything else; it never raises ``Refused``).
* lifecycle: both are ``Component``s: ``await start()`` on the running loop after the exporter
  started, ``await shutdown()`` before the exporter stops (it flushes a last time; idempotent).

Graph API (mounted by the query server on :16686)::

    from collector.query.graph import graph_routes
    app.add_routes(graph_routes(graph))   # graph: GraphSource (the ServiceGraphConnector is one)

serves ``GET /api/graph`` (our JSON), ``/api/graph/nodes`` and ``/api/graph/edges`` (Grafana Node
Graph frames for the Infinity data source); see docs/servicegraph.md.
"""
