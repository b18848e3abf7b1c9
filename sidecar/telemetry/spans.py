"""A sampled exchange as an OTLP span: SERVER on inbound, CLIENT on outbound, with the
OpenTelemetry HTTP semantic-convention attributes and the mesh's own (``glassmesh.*``).

Status is ERROR on a 5xx, on a local reply (a response flag) and on an exchange cut short; the
span's name is the method (OTel's rule when no route template is known).
"""

from __future__ import annotations

from binascii import unhexlify

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from controlplane.api import telemetry as names
from sidecar.telemetry import wire
from sidecar.telemetry.hooks import Exchange
from sidecar.telemetry.labels import Labels

SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3

_USER_AGENT = b"user-agent"
_REQUEST_ID = b"x-request-id"


def kv(key: str, value: str | int | bool) -> KeyValue:
    """An OTLP attribute."""
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def header(ex: Exchange, name: bytes) -> str:
    """The first value of request field ``name`` as text, or ""."""
    head = ex.head
    if head is None or name not in head.names:
        return ""
    return head.values[head.names.index(name)].decode("latin-1")


def split_path(raw: bytes) -> tuple[str, str]:
    """(path, query) of an origin- or absolute-form target."""
    if raw and not raw.startswith(b"/") and b"://" in raw:
        rest = raw.split(b"://", 1)[1]
        cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
        raw = rest[cut:] or b"/"
    path, _, query = raw.decode("latin-1").partition("?")
    return path, query


def error_type(ex: Exchange) -> str:
    """Why the exchange failed ("" if it did not): the response flag, else the 5xx status."""
    if ex.flag:
        return ex.flag
    if ex.status >= 500:
        return str(ex.status)
    return ""


_MESH_CACHE = 4096
_mesh_attributes: dict[tuple[Labels, bool, str], bytes] = {}


def mesh_attributes(labels: Labels, inbound: bool, cluster: str) -> bytes:
    """The encoded attributes that follow from an exchange's labels, side and cluster (the
    same for every exchange of a series, so encoded once). Called by the exporter thread only."""
    key = (labels, inbound, cluster)
    found = _mesh_attributes.get(key)
    if found is not None:
        return found
    attrs: list[tuple[str, str | int | bool]] = [
        (names.HTTP_STATUS, int(labels[23])),
        (names.MESH_SOURCE_WORKLOAD, labels[1]),
        (names.MESH_SOURCE_NAMESPACE, labels[2]),
        (names.MESH_SOURCE_PRINCIPAL, labels[3]),
        (names.MESH_DESTINATION_WORKLOAD, labels[9]),
        (names.MESH_DESTINATION_NAMESPACE, labels[10]),
        (names.MESH_DESTINATION_PRINCIPAL, labels[11]),
        (names.MESH_DESTINATION_SERVICE, labels[14]),
        (names.MESH_RESPONSE_FLAGS, labels[21]),
        (names.MESH_RETRIES, 0),
        (names.MESH_MTLS, inbound or labels[11] != names.UNKNOWN),
    ]
    if cluster and not inbound:
        attrs += [(names.MESH_CLUSTER, cluster), (names.PEER_SERVICE, labels[15])]
    found = wire.attributes(attrs)
    if len(_mesh_attributes) >= _MESH_CACHE:
        _mesh_attributes.clear()
    _mesh_attributes[key] = found
    return found


def to_span(ex: Exchange, labels: Labels, wall_offset: float) -> bytes:
    """The OTLP span of ``ex``, encoded; ``labels`` are its Istio labels, ``wall_offset`` turns
    its monotonic times into Unix time."""
    head = ex.head
    method = head.method.decode("latin-1") if head is not None else "_OTHER"
    path, query = split_path(ex.path)
    host, _, port = ex.authority.decode("latin-1").partition(":")
    attrs: list[tuple[str, str | int | bool]] = [
        (names.HTTP_METHOD, method),
        (names.URL_PATH, path),
        (names.SERVER_ADDRESS, host),
        (names.PROTOCOL_VERSION, "1.1" if head is None or head.http11 else "1.0"),
    ]
    if port.isdigit():
        attrs.append((names.SERVER_PORT, int(port)))
    if query:
        attrs.append((names.URL_QUERY, query))
    for key, value in (
        (names.USER_AGENT, header(ex, _USER_AGENT)),
        (names.MESH_REQUEST_ID, header(ex, _REQUEST_ID)),
        (names.PEER_ADDRESS, ex.peer_address.rsplit(":", 1)[0]),
    ):
        if value:
            attrs.append((key, value))
    if ex.endpoint is not None:
        attrs.append((names.MESH_ENDPOINT, f"{ex.endpoint.host}:{ex.endpoint.port}"))
    failure = error_type(ex)
    if failure:
        attrs.append((names.ERROR_TYPE, failure))
    inbound = ex.side.inbound
    cluster = ex.cluster.name if ex.cluster is not None else ""
    return wire.span(
        trace_id=unhexlify(ex.trace_id),
        span_id=unhexlify(ex.span_id),
        parent_span_id=unhexlify(ex.parent_id),
        name=method,
        kind=SPAN_KIND_SERVER if inbound else SPAN_KIND_CLIENT,
        start_ns=int((ex.start + wall_offset) * 1e9),
        end_ns=int((ex.end + wall_offset) * 1e9),
        attributes=[wire.attribute(k, v) for k, v in attrs],
        error=bool(failure),
        # W3C "sampled", and (OTLP span flags) whether the parent is remote: it always is.
        flags=0x101 | (0x200 if ex.parent_id else 0),
        encoded_attributes=mesh_attributes(labels, inbound, cluster),
    )
