"""The mesh certificate authority: a root CA and SPIFFE workload certificates.

A root is EC P-256 and lives 10 years. A workload certificate carries exactly one URI SAN, the
workload's SPIFFE ID, is valid for TLS client and server use, and lives 24 hours by default.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controlplane.api.sidecar import SPIFFE_ID_RE

ROOT_LIFETIME = dt.timedelta(days=3650)
WORKLOAD_LIFETIME = dt.timedelta(hours=24)
# Certificates start a little in the past so a peer whose clock is slightly behind accepts them.
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Authority:
    """A CA's key and certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def cert_pem(self) -> bytes:
        """The CA certificate as PEM: what goes into a trust bundle."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The CA key as unencrypted PKCS#8 PEM."""
        return _key_pem(self.key)


@dataclass(frozen=True)
class IssuedCert:
    """A workload's key and certificate chain (leaf first)."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self) -> bytes:
        return _key_pem(self.key)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_root(trust_domain: str = "cluster.local", now: dt.datetime | None = None) -> Authority:
    """Create a self-signed root CA for ``trust_domain``."""
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "glassmesh"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"glassmesh root CA {trust_domain}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + ROOT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, cert)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue_workload(
    ca: Authority,
    spiffe_id: str,
    lifetime: dt.timedelta = WORKLOAD_LIFETIME,
    now: dt.datetime | None = None,
) -> IssuedCert:
    """Issue a key and certificate whose only SAN is ``spiffe_id``. Raises ValueError if the ID
    is not a SPIFFE ID."""
    if not SPIFFE_ID_RE.match(spiffe_id):
        raise ValueError(f"{spiffe_id!r} is not a SPIFFE ID")
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "glassmesh")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), critical=True
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return IssuedCert(key, (cert,))


def load_or_create_root(directory: Path, trust_domain: str = "cluster.local") -> Authority:
    """Load ``ca.pem``/``ca-key.pem`` from ``directory``, creating them on first use."""
    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: the CA key must be an EC key")
        return Authority(key, cert)
    directory.mkdir(parents=True, exist_ok=True)
    ca = create_root(trust_domain)
    cert_path.write_bytes(ca.cert_pem())
    key_path.touch(mode=0o600)
    key_path.write_bytes(ca.key_pem())
    return ca


def write_workload(ca: Authority, spiffe_id: str, directory: Path, stem: str) -> tuple[Path, Path]:
    """Issue a workload certificate and write ``<stem>.pem`` and ``<stem>-key.pem``."""
    issued = issue_workload(ca, spiffe_id)
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(issued.chain_pem())
    key_path.touch(mode=0o600)
    key_path.write_bytes(issued.key_pem())
    return cert_path, key_path
