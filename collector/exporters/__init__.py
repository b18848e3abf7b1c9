"""Exporters: the Prometheus endpoint and OTLP forwarding."""
