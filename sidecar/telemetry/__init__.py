"""Sidecar telemetry: spans, Istio metrics and access logs (``service.Telemetry`` wires them).

Kept empty so the request path's modules (``hooks``, ``context``) load without the exporter's
protobuf and HTTP dependencies."""
