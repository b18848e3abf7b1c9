"""OTLP on the wire: the three signals, OTLP JSON (hex ids), bounded decompression, validation."""
