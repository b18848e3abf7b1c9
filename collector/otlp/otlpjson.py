"""OTLP JSON, per the OTLP specification's deviations from the proto3 JSON mapping.

Trace and span ids are hex strings (any case) instead of base64; enums are integers; keys are
lowerCamelCase; unknown fields are ignored; 64-bit integers are strings on output and strings or
numbers on input. google.protobuf.json_format does the rest once the ids are translated.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)
ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
# An id that is not hex becomes one byte: a length no id has, so validation rejects its item.
INVALID_ID = base64.b64encode(b"\xff").decode()
_POINT_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")


class JsonDecodeError(ValueError):
    """The body is not an OTLP JSON message of the expected type."""


def decode(body: bytes, message_type: type[M]) -> M:
    """Parse an OTLP JSON request. Raises JsonDecodeError."""
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise JsonDecodeError("top level is not a JSON object")
        _walk_ids(doc, _hex_to_b64)
        return json_format.ParseDict(doc, message_type(), ignore_unknown_fields=True)
    except JsonDecodeError:
        raise
    except (ValueError, TypeError, RecursionError, json_format.ParseError) as exc:
        raise JsonDecodeError(f"invalid OTLP JSON: {str(exc)[:200]}") from None


def to_dict(message: Message) -> dict[str, Any]:
    """``message`` as an OTLP JSON object (hex ids, integer enums, int64 as strings)."""
    doc = json_format.MessageToDict(message, use_integers_for_enums=True)
    _walk_ids(doc, _b64_to_hex)
    return doc


def encode(message: Message) -> bytes:
    """``message`` as OTLP JSON bytes."""
    return json.dumps(to_dict(message), separators=(",", ":")).encode()


def _hex_to_b64(value: Any) -> str:
    if not isinstance(value, str):
        return INVALID_ID
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return INVALID_ID


def _b64_to_hex(value: Any) -> str:
    try:
        return base64.b64decode(value).hex()
    except (binascii.Error, TypeError):
        return ""


def _walk_ids(doc: dict[str, Any], fix: Callable[[Any], str]) -> None:
    """Apply ``fix`` to every id field of a traces, metrics or logs document, in place."""
    for item in _id_holders(doc):
        for key in ID_KEYS:
            if key in item:
                item[key] = fix(item[key])


def _id_holders(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every object in ``doc`` that may hold trace or span ids: spans, links, log records,
    exemplars. Anything not shaped as expected is skipped (json_format rejects it later)."""
    for span in _items(doc, ("resourceSpans", "scopeSpans", "spans")):
        yield span
        yield from _list(span.get("links"))
    yield from _items(doc, ("resourceLogs", "scopeLogs", "logRecords"))
    for metric in _items(doc, ("resourceMetrics", "scopeMetrics", "metrics")):
        for kind in _POINT_KINDS:
            data = metric.get(kind)
            if isinstance(data, dict):
                for point in _list(data.get("dataPoints")):
                    yield from _list(point.get("exemplars"))


def _items(doc: dict[str, Any], path: tuple[str, str, str]) -> Iterator[dict[str, Any]]:
    outer, middle, inner = path
    snake = tuple(_snake(k) for k in path)
    for resource in _list(doc.get(outer, doc.get(snake[0]))):
        for scope in _list(resource.get(middle, resource.get(snake[1]))):
            yield from _list(scope.get(inner, scope.get(snake[2])))


def _list(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, dict))


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)
