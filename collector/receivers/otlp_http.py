"""The OTLP/HTTP receiver: POST /v1/traces, /v1/metrics, /v1/logs on 4318.

Protobuf or JSON by Content-Type (anything else: 415); gzip or deflate by Content-Encoding,
inflated in chunks with the body limit applied after decompression (413, never a full inflate of
a bomb); undecodable data: 400 with a google.rpc.Status in the request's encoding; a refusal:
429 (a queue is full) or 503, with Retry-After. A 200 means the batch is durable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web
from google.protobuf.message import DecodeError, Message

from collector.otlp import otlpjson, rpc
from collector.otlp.inflate import BadEncoding, Inflater, TooLarge
from collector.otlp.signals import SIGNALS, Signal
from collector.pipeline.pipeline import Pipelines
from collector.receivers.ingest import ingest
from collector.telemetry import SelfMetrics

log = logging.getLogger("glassmesh.collector.otlp_http")
PROTOBUF, JSON = "application/x-protobuf", "application/json"
READ_CHUNK = 64 * 1024


class OtlpHttpReceiver:
    """The aiohttp application of the receiver."""

    def __init__(self, pipelines: Pipelines, metrics: SelfMetrics, max_body_bytes: int) -> None:
        self.pipelines = pipelines
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # Our own bounded inflate, not aiohttp's: the limit must apply after decompression.
        self.app = web.Application(
            client_max_size=max_body_bytes, handler_args={"auto_decompress": False}
        )
        for name in SIGNALS:
            self.app.router.add_post(f"/v1/{name}", self._handler(SIGNALS[name]))

    def _handler(self, signal: Signal) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            response = await self._handle(signal, request)
            self.metrics.add(
                "requests_total", signal=signal.name, transport="http", code=str(response.status)
            )
            return response

        return handle

    async def _handle(self, signal: Signal, request: web.Request) -> web.Response:
        content_type = request.content_type
        if content_type not in (PROTOBUF, JSON):
            self.metrics.add("refused_items_total", signal=signal.name, reason="content_type")
            return web.Response(status=415, text=f"unsupported Content-Type {content_type[:60]!r}")
        try:
            body = await self._read(request)
            message = _decode(signal, body, content_type)
        except TooLarge as exc:
            return self._error(signal, 413, "body_too_large", str(exc), content_type)
        except (BadEncoding, ValueError) as exc:
            return self._error(signal, 400, "undecodable", str(exc), content_type)
        raw = body if content_type == PROTOBUF else None
        outcome = await ingest(signal, message, self.pipelines, self.metrics, "http", raw=raw)
        if outcome.kind == "bad":
            return self._error(signal, 400, None, outcome.message, content_type)
        if outcome.kind == "refused":
            status = 429 if outcome.throttled else 503
            code = rpc.RESOURCE_EXHAUSTED if outcome.throttled else rpc.UNAVAILABLE
            headers = {"Retry-After": str(max(1, math.ceil(outcome.retry_after_s)))}
            return _answer(rpc.Status(code=code, message=outcome.message), content_type,
                           status, headers)  # fmt: skip
        assert outcome.response is not None
        return _answer(outcome.response, content_type, 200)

    async def _read(self, request: web.Request) -> bytes:
        """The body, decompressed, at most ``max_body_bytes`` (compressed bytes too)."""
        inflater = Inflater(request.headers.get("Content-Encoding", ""), self.max_body_bytes)
        received = 0
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            received += len(chunk)
            if received > self.max_body_bytes:
                raise TooLarge(f"body larger than {self.max_body_bytes} bytes")
            inflater.feed(chunk)
        return inflater.finish()

    def _error(
        self, signal: Signal, status: int, reason: str | None, text: str, content_type: str
    ) -> web.Response:
        if reason is not None:
            self.metrics.add("refused_items_total", signal=signal.name, reason=reason)
        return _answer(rpc.Status(code=rpc.INVALID_ARGUMENT, message=text[:500]),
                       content_type, status)  # fmt: skip


def _decode(signal: Signal, body: bytes, content_type: str) -> Message:
    """Raises ValueError (DecodeError and JsonDecodeError are ValueErrors) for bad data."""
    if content_type == JSON:
        return otlpjson.decode(body, signal.request)
    try:
        return signal.request.FromString(body)
    except DecodeError as exc:
        raise ValueError(f"invalid protobuf: {exc}") from None
    except RecursionError:
        raise ValueError("invalid protobuf: nested too deeply") from None


def _answer(
    message: Message, content_type: str, status: int, headers: dict[str, str] | None = None
) -> web.Response:
    body = otlpjson.encode(message) if content_type == JSON else message.SerializeToString()
    return web.Response(body=body, status=status, content_type=content_type, headers=headers)
