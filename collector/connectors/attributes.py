"""Reading the few OTLP attributes the connectors need, in one pass and without a dict per span."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.otlp.attrs import text

SERVICE_NAME = "service.name"
SERVICE_NAMESPACE = "service.namespace"
K8S_NAMESPACE = "k8s.namespace.name"
__all__ = ["first_text", "pick", "resource_identity", "text"]


def pick(attributes: Iterable[KeyValue], wanted: dict[str, int]) -> list[AnyValue | None] | None:
    """The values of ``wanted`` keys (key -> slot), or None if none is present.

    One pass; only allocates when a wanted key is found."""
    found: list[AnyValue | None] | None = None
    for kv in attributes:
        slot = wanted.get(kv.key)
        if slot is not None:
            if found is None:
                found = [None] * len(wanted)
            found[slot] = kv.value
    return found


def first_text(found: Sequence[AnyValue | None], slots: Sequence[int]) -> str:
    """The text of the first slot in ``slots`` that holds a non-empty value, else ""."""
    for slot in slots:
        value = found[slot]
        if value is not None:
            string = text(value)
            if string:
                return string
    return ""


def resource_identity(attributes: Iterable[KeyValue]) -> tuple[str, str]:
    """(service.name, namespace) of a resource; namespace from service.namespace, then k8s."""
    name = namespace = k8s = ""
    for kv in attributes:
        key = kv.key
        if key == SERVICE_NAME:
            name = text(kv.value)
        elif key == SERVICE_NAMESPACE:
            namespace = text(kv.value)
        elif key == K8S_NAMESPACE:
            k8s = text(kv.value)
    return name, namespace or k8s
