"""Reading a certificate's expiry without cryptography must agree with cryptography."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.ca import create_root, issue_workload
from sidecar.transport.tls import not_after

SPIFFE = "spiffe://cluster.local/ns/default/sa/web"


@pytest.mark.parametrize(
    "lifetime",
    [dt.timedelta(hours=24), dt.timedelta(days=90), dt.timedelta(seconds=5)],
)
def test_not_after_matches_the_certificate(lifetime: dt.timedelta) -> None:
    issued = issue_workload(create_root(), SPIFFE, lifetime)
    assert not_after(issued.chain_pem()) == issued.chain[0].not_valid_after_utc.timestamp()


def test_a_root_valid_past_2049_uses_generalized_time() -> None:
    root = create_root(now=dt.datetime(2045, 1, 1, tzinfo=dt.UTC))  # expires in 2054
    assert not_after(root.cert_pem()) == root.cert.not_valid_after_utc.timestamp()


@pytest.mark.parametrize(
    "pem",
    [b"", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b"junk"],
)
def test_garbage_is_a_value_error(pem: bytes) -> None:
    with pytest.raises(ValueError):
        not_after(pem)
