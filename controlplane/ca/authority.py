"""CA keys and certificates: roots, workload and serving certificates, trust bundles."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controlplane.api.identity import InvalidSpiffeId, parse_spiffe_id

ROOT_LIFETIME = dt.timedelta(days=3650)
WORKLOAD_LIFETIME = dt.timedelta(hours=24)
MAX_WORKLOAD_LIFETIME = dt.timedelta(days=90)
# Certificates start a little in the past so a peer whose clock is slightly behind accepts them.
CLOCK_SKEW = dt.timedelta(minutes=5)

CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
LeafPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class AuthorityError(ValueError):
    """The CA material given at start-up is unusable; the message names the file at fault."""


@dataclass(frozen=True)
class Authority:
    """A CA's key and certificate, and for an intermediate the certificates up to its root.

    ``intermediates`` are the CAs between ``cert`` and ``root``, nearest first. ``root`` is None
    when ``cert`` is itself the root.
    """

    key: CaKey
    cert: x509.Certificate
    intermediates: tuple[x509.Certificate, ...] = ()
    root: x509.Certificate | None = None

    def cert_pem(self) -> bytes:
        """The CA certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The CA key as unencrypted PKCS#8 PEM."""
        return _key_pem(self.key)

    def chain_above_leaf(self) -> tuple[x509.Certificate, ...]:
        """What follows a leaf in the chain it is sent with: every CA below the root."""
        return () if self.root is None else (self.cert, *self.intermediates)

    def trust_bundle(self) -> TrustBundle:
        """A bundle holding this CA's root."""
        return TrustBundle([self.root or self.cert])


@dataclass(frozen=True)
class IssuedCert:
    """A workload's key and certificate chain (leaf first)."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]

    def chain_pem(self) -> bytes:
        """The chain as concatenated PEM, leaf first."""
        return _pem(self.chain)

    def key_pem(self) -> bytes:
        """The workload key as unencrypted PKCS#8 PEM."""
        return _key_pem(self.key)


@dataclass(frozen=True)
class IssuedChain:
    """A certificate issued for a CSR: the chain (leaf first) without the root."""

    chain: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        """The workload's own certificate."""
        return self.chain[0]

    @property
    def expires_at(self) -> dt.datetime:
        """When the leaf stops being valid (UTC)."""
        return self.leaf.not_valid_after_utc

    def chain_pem(self) -> bytes:
        """The chain as concatenated PEM, leaf first."""
        return _pem(self.chain)


class TrustBundle:
    """The root certificates a peer trusts: no duplicates, in the order they were added.

    Holding the old and the new root together lets the root be rotated without breaking peers.
    """

    def __init__(self, certs: Iterable[x509.Certificate] = ()) -> None:
        self._certs: dict[bytes, x509.Certificate] = {}
        for cert in certs:
            self.add(cert)

    @classmethod
    def from_pem(cls, data: bytes) -> TrustBundle:
        """A bundle of the PEM certificates in ``data``; raises ValueError if one is malformed
        or not a CA."""
        return cls(x509.load_pem_x509_certificates(data))

    def add(self, cert: x509.Certificate) -> bool:
        """Add ``cert``; returns False if it was already here. Raises ValueError if not a CA."""
        if not is_ca(cert):
            raise ValueError(f"{cert.subject.rfc4514_string()} is not a CA certificate")
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint in self._certs:
            return False
        self._certs[fingerprint] = cert
        return True

    def certs(self) -> tuple[x509.Certificate, ...]:
        """The roots, in the order added."""
        return tuple(self._certs.values())

    def pem(self) -> bytes:
        """The roots as concatenated PEM: what a TLS context loads as its CA file."""
        return _pem(self._certs.values())

    def __len__(self) -> int:
        return len(self._certs)


def _pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key: CaKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def create_root(trust_domain: str = "cluster.local", now: dt.datetime | None = None) -> Authority:
    """Create a self-signed root CA for ``trust_domain``."""
    now = now or utc_now()
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
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, cert)


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def check_identity(spiffe_id: str) -> None:
    """Raises InvalidSpiffeId (a ValueError) unless ``spiffe_id`` is a workload SPIFFE ID."""
    try:
        parse_spiffe_id(spiffe_id)
    except InvalidSpiffeId as exc:
        raise InvalidSpiffeId(f"{spiffe_id[:80]!r} is not a SPIFFE ID: {exc}") from None


def leaf_cert(
    ca: Authority,
    public_key: LeafPublicKey,
    spiffe_id: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    extra_names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """A TLS client+server leaf for ``public_key`` whose URI SAN is ``spiffe_id`` (its only SAN
    unless ``extra_names`` adds DNS names or addresses, as a serving certificate does)."""
    tls_usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "glassmesh")]))
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(tls_usages), critical=False)
        # RFC 5280 4.2.1.6: with a non-empty subject the SAN is not critical (strict verifiers,
        # such as cryptography's own, refuse a critical one).
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id), *extra_names]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, _digest(ca.key))
    )


def _digest(key: CaKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def issue_workload(
    ca: Authority,
    spiffe_id: str,
    lifetime: dt.timedelta = WORKLOAD_LIFETIME,
    now: dt.datetime | None = None,
) -> IssuedCert:
    """Issue a key and certificate whose only SAN is ``spiffe_id``. Raises ValueError if the ID
    is not a SPIFFE ID."""
    check_identity(spiffe_id)
    now = now or utc_now()
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = leaf_cert(ca, key.public_key(), spiffe_id, now - CLOCK_SKEW, now + lifetime)
    return IssuedCert(key, (leaf, *ca.chain_above_leaf()))


def issue_serving(
    ca: Authority, spiffe_id: str, hosts: Iterable[str], lifetime: dt.timedelta = WORKLOAD_LIFETIME
) -> IssuedCert:
    """A key and certificate for a server reached by name or address (the control plane's API):
    the URI SAN ``spiffe_id`` plus a DNS or IP SAN for each of ``hosts``."""
    check_identity(spiffe_id)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = utc_now()
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = leaf_cert(
        ca, key.public_key(), spiffe_id, now - CLOCK_SKEW, now + lifetime, extra_names=names
    )
    return IssuedCert(key, (leaf, *ca.chain_above_leaf()))
