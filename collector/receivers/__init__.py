"""OTLP receivers: HTTP (aiohttp) and gRPC (grpcio aio), sharing one ingest path."""
