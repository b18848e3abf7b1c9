"""Access log entries in Istio's default text format (``EnvoyTextLogFormat``) or its JSON
variant, and as OTLP log records carrying the trace and span ids.

Fields the sidecar does not know (upstream service time, local addresses, SNI, route name) are
``-`` in text and null in JSON, as Envoy writes a missing value. Modes: ``all``, ``errors`` (a
4xx/5xx status or any response flag) and ``off``.
"""

from __future__ import annotations

import json
import time

from sidecar.telemetry import wire
from sidecar.telemetry.hooks import Exchange
from sidecar.telemetry.spans import header, split_path


def wanted(ex: Exchange, mode: str) -> bool:
    """Whether ``mode`` logs ``ex``."""
    if mode == "all":
        return True
    return mode == "errors" and (ex.status >= 400 or ex.status == 0 or bool(ex.flag))


def _start_time(ex: Exchange, wall_offset: float) -> str:
    wall = ex.start + wall_offset
    millis = int(wall * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{millis:03d}Z"


def fields(ex: Exchange, wall_offset: float) -> dict[str, str | int | None]:
    """The entry's fields, in the JSON variant's names and order."""
    head = ex.head
    path, query = split_path(ex.path)
    endpoint = ex.endpoint
    return {
        "start_time": _start_time(ex, wall_offset),
        "route_name": None,
        "method": head.method.decode("latin-1") if head is not None else None,
        "path": path + ("?" + query if query else "") or None,
        "protocol": ("HTTP/1.1" if head.http11 else "HTTP/1.0") if head is not None else None,
        "response_code": ex.status,
        "response_flags": ex.flag or None,
        "response_code_details": "via_upstream" if ex.endpoint is not None else (
            "local_reply" if ex.flag else None),
        "connection_termination_details": None,
        "bytes_received": ex.rx,
        "bytes_sent": ex.tx,
        "duration": int((ex.end - ex.start) * 1000),
        "upstream_service_time": None,
        "x_forwarded_for": header(ex, b"x-forwarded-for") or None,
        "user_agent": header(ex, b"user-agent") or None,
        "request_id": header(ex, b"x-request-id") or None,
        "authority": ex.authority.decode("latin-1") or None,
        "upstream_host": f"{endpoint.host}:{endpoint.port}" if endpoint is not None else None,
        "upstream_cluster": ex.cluster.name if ex.cluster is not None else None,
        "upstream_local_address": None,
        "downstream_local_address": None,
        "downstream_remote_address": ex.peer_address or None,
        "requested_server_name": None,
        "upstream_transport_failure_reason": None,
    }  # fmt: skip


def _q(value: bytes) -> str:
    return value.decode("latin-1") if value else "-"


def text_line(ex: Exchange, wall_offset: float) -> str:
    """Istio's default text format (``EnvoyTextLogFormat``), written directly: this runs for
    every exchange with access logs on."""
    head = ex.head
    if head is not None:
        method, protocol = head.method.decode("latin-1"), "HTTP/1.1" if head.http11 else "HTTP/1.0"
    else:
        method = protocol = "-"
    endpoint = ex.endpoint
    details = "via_upstream" if endpoint is not None else ("local_reply" if ex.flag else "-")
    upstream = f"{endpoint.host}:{endpoint.port}" if endpoint is not None else "-"
    cluster = ex.cluster.name if ex.cluster is not None else "-"
    duration = int((ex.end - ex.start) * 1000)
    return (
        f'[{_start_time(ex, wall_offset)}] "{method} {_q(ex.path)} {protocol}" {ex.status} '
        f'{ex.flag or "-"} {details} - "-" {ex.rx} {ex.tx} {duration} - '
        f'"{_q(_field(ex, b"x-forwarded-for"))}" "{_q(_field(ex, b"user-agent"))}" '
        f'"{_q(_field(ex, b"x-request-id"))}" "{_q(ex.authority)}" "{upstream}" {cluster} '
        f"- - {ex.peer_address or '-'} - -"
    )


def _field(ex: Exchange, name: bytes) -> bytes:
    head = ex.head
    if head is None or name not in head.names:
        return b""
    return head.values[head.names.index(name)]


def json_line(f: dict[str, str | int | None]) -> str:
    """Istio's JSON variant (``EnvoyJSONLogFormatIstio`` keys)."""
    return json.dumps(f, separators=(",", ":"))


def log_record(ex: Exchange, line: str, wall_offset: float) -> bytes:
    """The entry as an encoded OTLP log record in the exchange's trace."""
    return wire.log_record(
        time_ns=int((ex.start + wall_offset) * 1e9),
        observed_ns=int((ex.end + wall_offset) * 1e9),
        body=line,
        trace_id=ex.trace_id.to_bytes(16, "big"),
        span_id=ex.span_id.to_bytes(8, "big"),
        flags=1 if ex.sampled else 0,
    )
