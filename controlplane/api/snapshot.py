"""The config stream's wire messages: what a sidecar and the control plane say on the stream.

The sidecar opens a WebSocket with its workload certificate (its identity comes from that
certificate, never from a message), sends a ``Registration`` first, then ``Ack`` for every
``Snapshot`` it gets (``error`` set is a NACK: it keeps its last good config) and a
``ReadinessUpdate`` when its app's readiness changes. Every message is a JSON object tagged by its
``type`` field; structs are frozen and forbid unknown fields.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

import msgspec

from controlplane.api.resources import AuthorizationPolicy, PeerAuthentication
from controlplane.api.routes import VirtualHost
from controlplane.api.sidecar import ClusterConfig, EndpointConfig
from controlplane.api.telemetry import TelemetryRule

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Label = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
Version = Annotated[int, msgspec.Meta(ge=0)]
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?\Z", re.ASCII)
MAX_ERROR_CHARS = 1024


class _Message(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="type"
):
    """Base of every stream message."""


class Registration(_Message, frozen=True, kw_only=True, tag="registration"):
    """A sidecar announces the instance it fronts: where peers reach its inbound listener."""

    service: Label
    namespace: Label = "default"
    labels: dict[str, str] = {}
    address: str
    port: Port
    ready: bool

    def __post_init__(self) -> None:
        if not _is_address(self.address):
            raise ValueError(f"address: {self.address[:80]!r} is not an IP address or hostname")


class ReadinessUpdate(_Message, frozen=True, kw_only=True, tag="readiness"):
    """The sidecar's app became ready (or stopped being ready) for traffic."""

    ready: bool


class Ack(_Message, frozen=True, kw_only=True, tag="ack"):
    """The sidecar applied (``error`` None) or refused (a NACK, ``error`` says why) a snapshot."""

    version: Version
    error: Annotated[str, msgspec.Meta(max_length=MAX_ERROR_CHARS)] | None = None


class Snapshot(_Message, frozen=True, kw_only=True, tag="snapshot"):
    """Everything a sidecar needs to route: clusters with their ready endpoints, the virtual hosts
    its routes compile to, and the roots to trust. ``version`` grows while the control plane runs
    (a restarted control plane starts again from 1)."""

    version: Version
    clusters: list[ClusterConfig] = []
    virtual_hosts: list[VirtualHost] = []
    trust_bundle_pem: str = ""
    # Telemetry resources that may apply (the sidecar keeps those matching its labels).
    telemetry: list[TelemetryRule] = []
    # The policies of the sidecar's namespace and the mesh-wide ones of the root namespace; the
    # sidecar keeps those whose selector its own labels match.
    authorization_policies: list[AuthorizationPolicy] = []
    peer_authentications: list[PeerAuthentication] = []


ClientMessage = Registration | ReadinessUpdate | Ack
ServerMessage = Snapshot
_client_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)
_server_decoder: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)
_encoder = msgspec.json.Encoder()


class StreamError(ValueError):
    """A stream message is malformed; the message names the field at fault."""


def encode(message: ClientMessage | ServerMessage) -> bytes:
    """Returns ``message`` as tagged JSON."""
    return _encoder.encode(message)


def decode_client(data: bytes | str) -> ClientMessage:
    """Decodes what a sidecar sent; raises StreamError naming the bad field."""
    try:
        return _client_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise StreamError(str(exc)) from None


def decode_server(data: bytes | str) -> ServerMessage:
    """Decodes what the control plane sent; raises StreamError naming the bad field."""
    try:
        return _server_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise StreamError(str(exc)) from None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(_HOSTNAME_RE.match(text))
    return True


__all__ = [
    "MAX_ERROR_CHARS",
    "Ack",
    "ClientMessage",
    "ClusterConfig",
    "EndpointConfig",
    "ReadinessUpdate",
    "Registration",
    "ServerMessage",
    "Snapshot",
    "StreamError",
    "decode_client",
    "decode_server",
    "encode",
]
