"""glassmesh collector: OTLP ingest, trace storage, service graph and bottleneck analysis."""
