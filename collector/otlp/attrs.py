"""Reading OTLP attributes: service names, typed values, and values as Jaeger tag text."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

NO_SERVICE = "OTLPResourceNoServiceName"  # what Jaeger names a resource without service.name


def service_name(resource: Resource) -> str:
    """The resource's ``service.name`` string, or Jaeger's placeholder."""
    for kv in resource.attributes:
        if kv.key == "service.name" and kv.value.HasField("string_value"):
            return kv.value.string_value or NO_SERVICE
    return NO_SERVICE


def text(value: AnyValue) -> str:
    """An attribute value as text, the way Tempo stringifies it ("" when empty)."""
    string = value.string_value
    if string:
        return string
    which = value.WhichOneof("value")
    if which is None or which == "string_value":
        return ""
    if which in ("int_value", "double_value"):
        return str(getattr(value, which))
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    return ""


def plain(value: AnyValue) -> Any:
    """An AnyValue as a Python value: str, bool, int, float, bytes, list, dict or None."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def as_text(value: AnyValue) -> str:
    """The value as tag text, the way a Jaeger tag search compares it."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind in ("int_value", "double_value"):
        number = getattr(value, kind)
        return repr(number) if kind == "double_value" and not number.is_integer() else str(number)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind is None:
        return ""
    return json.dumps(plain(value), default=lambda b: b.hex(), separators=(",", ":"))


def find(attributes: Any, key: str) -> KeyValue | None:
    """The first attribute named ``key`` in a repeated KeyValue field, or None."""
    for kv in attributes:
        if kv.key == key:
            return kv  # type: ignore[no-any-return]
    return None
