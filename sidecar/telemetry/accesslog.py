"""Access log entries in Istio's default text format (``EnvoyTextLogFormat``) or its JSON
variant, and as OTLP log records carrying the trace and span ids.

Fields the sidecar does not know (upstream service time, local addresses, SNI, route name) are
``-`` in text and null in JSON, as Envoy writes a missing value. Modes: ``all``, ``errors`` (a
4xx/5xx status or any response flag) and ``off``. Lines are bytes: the text line is one join
of values the exchange already holds as bytes, with the second's timestamp, small numbers and
each upstream's ``"host:port" cluster`` cached (ADR 0005).
"""

from __future__ import annotations

import json
import time
from binascii import unhexlify
from typing import Final

from sidecar.telemetry import wire
from sidecar.telemetry.hooks import Exchange
from sidecar.telemetry.spans import header, split_path

# The line is joined from bytes the exchange holds; numbers come from these tables when small
# (a bytes ``%d`` goes through a str: it was most of a line's cost).
_MILLIS: Final[list[bytes]] = [b"%03d" % n for n in range(1000)]
_NUMBERS: Final[list[bytes]] = [b"%d" % n for n in range(2048)]
_XFF: Final[bytes] = b"x-forwarded-for"
_USER_AGENT: Final[bytes] = b"user-agent"
_REQUEST_ID: Final[bytes] = b"x-request-id"
_CACHE_LIMIT: Final[int] = 4096


def _number(value: int) -> bytes:
    return _NUMBERS[value] if 0 <= value < 2048 else b"%d" % value


def wanted(ex: Exchange, mode: str) -> bool:
    """Whether ``mode`` logs ``ex``."""
    if mode == "all":
        return True
    return mode == "errors" and (ex.status >= 400 or ex.status == 0 or bool(ex.flag))


def _start_time(ex: Exchange, wall_offset: float) -> str:
    seconds, millis = divmod(int((ex.start + wall_offset) * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class TextLines:
    """Istio's default text line of an exchange, newline-terminated. Not thread-safe: one per
    exporter thread."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""
        # id(endpoint or cluster) -> (the object, b'"host:port" cluster'); bounded, and the
        # stored object is checked, so a recycled id is a miss, not a wrong hit.
        self._upstreams: dict[int, tuple[object, bytes]] = {}

    def line(self, ex: Exchange, wall_offset: float) -> bytes:
        seconds, millis = divmod(int((ex.start + wall_offset) * 1000), 1000)
        if seconds != self._second:
            stamp = time.strftime("[%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))
            self._second, self._prefix = seconds, stamp.encode()
        head = ex.head
        flag = ex.flag.encode() if ex.flag else b"-"
        if head is None:
            method = protocol = xff = agent = request_id = b"-"
        else:
            method, protocol = head.method, b"HTTP/1.1" if head.http11 else b"HTTP/1.0"
            names, values = head.names, head.values
            xff = values[names.index(_XFF)] or b"-" if _XFF in names else b"-"
            agent = values[names.index(_USER_AGENT)] or b"-" if _USER_AGENT in names else b"-"
            request_id = values[names.index(_REQUEST_ID)] or b"-" if _REQUEST_ID in names else b"-"
        if ex.endpoint is not None:
            details = b"via_upstream"
        else:
            details = b"local_reply" if ex.flag else b"-"
        return b"".join((
            self._prefix, _MILLIS[millis], b'Z] "', method, b" ", ex.path or b"-", b" ", protocol,
            b'" ', _number(ex.status), b" ", flag, b" ", details, b' - "-" ', _number(ex.rx), b" ",
            _number(ex.tx), b" ", _number(int((ex.end - ex.start) * 1000)), b' - "', xff, b'" "',
            agent, b'" "', request_id, b'" "', ex.authority or b"-", b'" ', self._upstream(ex),
            b" - - ", ex.peer_address.encode() or b"-", b" - -\n",
        ))  # fmt: skip

    def lines(self, batch: list[Exchange], wall_offset: float) -> list[bytes]:
        """The lines of ``batch``, in order."""
        return [self.line(ex, wall_offset) for ex in batch]

    def _upstream(self, ex: Exchange) -> bytes:
        """``"host:port" cluster`` of the exchange (``"-" -`` for neither)."""
        key: object = ex.endpoint if ex.endpoint is not None else ex.cluster
        known = self._upstreams.get(id(key))
        if known is not None and known[0] is key:
            return known[1]
        endpoint, cluster = ex.endpoint, ex.cluster
        host = f"{endpoint.host}:{endpoint.port}" if endpoint is not None else "-"
        text = f'"{host}" {cluster.name if cluster is not None else "-"}'.encode()
        if key is not None:
            if len(self._upstreams) >= _CACHE_LIMIT:
                self._upstreams.clear()
            self._upstreams[id(key)] = (key, text)
        return text


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
        "x_forwarded_for": header(ex, _XFF) or None,
        "user_agent": header(ex, _USER_AGENT) or None,
        "request_id": header(ex, _REQUEST_ID) or None,
        "authority": ex.authority.decode("latin-1") or None,
        "upstream_host": f"{endpoint.host}:{endpoint.port}" if endpoint is not None else None,
        "upstream_cluster": ex.cluster.name if ex.cluster is not None else None,
        "upstream_local_address": None,
        "downstream_local_address": None,
        "downstream_remote_address": ex.peer_address or None,
        "requested_server_name": None,
        "upstream_transport_failure_reason": None,
    }  # fmt: skip


def json_line(f: dict[str, str | int | None]) -> bytes:
    """Istio's JSON variant (``EnvoyJSONLogFormatIstio`` keys), newline-terminated."""
    return json.dumps(f, separators=(",", ":")).encode() + b"\n"


def utf8(text: bytes) -> bytes:
    """Log text as UTF-8: header bytes past ASCII (obs-text) are Latin-1, as HTTP reads them."""
    return text if text.isascii() else text.decode("latin-1").encode()


def log_record(ex: Exchange, line: bytes, wall_offset: float) -> bytes:
    """The entry (``line``, as written to stdout) as an encoded OTLP log record in the
    exchange's trace."""
    return wire.log_record(
        time_ns=int((ex.start + wall_offset) * 1e9),
        observed_ns=int((ex.end + wall_offset) * 1e9),
        body=utf8(line.rstrip(b"\n")),
        trace_id=unhexlify(ex.trace_id),
        span_id=unhexlify(ex.span_id),
        flags=1 if ex.sampled else 0,
    )
