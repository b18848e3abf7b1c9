"""The config stream's wire messages: round trips, tags, and what is refused."""

from __future__ import annotations

import msgspec
import pytest

from controlplane.api.resources import RouteMatch
from controlplane.api.routes import RouteEntry, VirtualHost, WeightedBackend
from controlplane.api.snapshot import (
    Ack,
    ClusterConfig,
    EndpointConfig,
    ReadinessUpdate,
    Registration,
    Snapshot,
    StreamError,
    decode_client,
    decode_server,
    encode,
)

MATCH = {"path": {"type": "Exact", "value": "/x"}, "headers": [{"name": "a", "value": "b"}]}


def test_a_snapshot_survives_a_round_trip() -> None:
    cluster = ClusterConfig(
        name="reviews",
        hosts=["reviews.default"],
        identity="spiffe://cluster.local/ns/default/sa/reviews",
        endpoints=[EndpointConfig(address="127.0.0.1", port=15006)],
    )
    entry = RouteEntry(
        route="default/split",
        rule=0,
        match=msgspec.convert(MATCH, RouteMatch),
        backends=[WeightedBackend(cluster="reviews|v1", weight=90)],
    )
    host = VirtualHost(name="reviews", hosts=["reviews"], routes=[entry])
    snapshot = Snapshot(version=7, clusters=[cluster], virtual_hosts=[host], trust_bundle_pem="PEM")
    data = encode(snapshot)
    assert msgspec.json.decode(data)["type"] == "snapshot"
    assert decode_server(data) == snapshot


@pytest.mark.parametrize(
    "message",
    [
        Registration(service="reviews", address="10.0.0.1", port=15006, ready=True),
        ReadinessUpdate(ready=False),
        Ack(version=3),
        Ack(version=3, error="route reviews: unknown cluster"),
    ],
)
def test_client_messages_round_trip_by_their_tag(
    message: Registration | ReadinessUpdate | Ack,
) -> None:
    assert decode_client(encode(message)) == message


REG = b'{"type": "registration", "service": "a", "address": "h", "port": 1, "ready": true'


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        (b'{"type": "ack"}', "version"),
        (b'{"type": "ack", "version": 1, "extra": 1}', "extra"),
        (b'{"type": "hello"}', "type"),
        (b'{"version": 1}', "type"),
        (REG.replace(b'"a"', b'"Bad_Name"') + b"}", "service"),
        (REG.replace(b'"h"', b'"no spaces"') + b"}", "address"),
        (REG.replace(b"1,", b"0,") + b"}", "port"),
        (REG + b', "identity": "spiffe://x/ns/a/sa/b"}', "identity"),  # never from the message
        (b"{not json", "JSON"),
    ],
)
def test_malformed_client_messages_name_the_field(raw: bytes, fault: str) -> None:
    with pytest.raises(StreamError, match=fault):
        decode_client(raw)


def test_a_sidecar_cannot_be_sent_a_client_message() -> None:
    with pytest.raises(StreamError):
        decode_server(encode(Ack(version=1)))
