"""The local CA: workload certificates carry exactly the SPIFFE ID asked for, chained to a root."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from controlplane.ca import create_root, issue_workload, load_or_create_root, write_workload

SPIFFE = "spiffe://cluster.local/ns/shop/sa/cart"


def test_a_workload_certificate_has_one_uri_san_and_tls_usages() -> None:
    ca = create_root()
    leaf = issue_workload(ca, SPIFFE).chain[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [SPIFFE]
    assert len(list(san)) == 1
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    leaf.verify_directly_issued_by(ca.cert)


def test_lifetimes_are_24_hours_for_workloads_and_10_years_for_the_root() -> None:
    now = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    ca = create_root(now=now)
    leaf = issue_workload(ca, SPIFFE, now=now).chain[0]
    assert leaf.not_valid_after_utc - now == dt.timedelta(hours=24)
    assert ca.cert.not_valid_after_utc - now == dt.timedelta(days=3650)


def test_a_malformed_spiffe_id_is_refused() -> None:
    with pytest.raises(ValueError, match="not a SPIFFE ID"):
        issue_workload(create_root(), "https://example.com/x")


def test_the_root_is_created_once_and_reused(tmp_path: Path) -> None:
    first = load_or_create_root(tmp_path)
    second = load_or_create_root(tmp_path)
    assert first.cert == second.cert
    cert_path, key_path = write_workload(second, SPIFFE, tmp_path, "cart")
    assert key_path.stat().st_mode & 0o077 == 0  # the key is readable by its owner only
    leaf = x509.load_pem_x509_certificate(cert_path.read_bytes())
    leaf.verify_directly_issued_by(first.cert)
