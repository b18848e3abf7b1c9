"""CA material on disk: loading a given root or intermediate, creating a root, writing leaves."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from controlplane.ca.authority import (
    Authority,
    AuthorityError,
    CaKey,
    create_root,
    is_ca,
    issue_workload,
)


def load_authority(
    cert_pem_path: Path, key_pem_path: Path, chain_pem_path: Path | None = None
) -> Authority:
    """Load a CA to sign with: a root, or an intermediate plus its chain up to the root.

    ``chain_pem_path`` holds the certificates above an intermediate (any order, the root
    included). Raises AuthorityError naming the file at fault.
    """
    cert = _load_cert(cert_pem_path)
    key = _load_ca_key(key_pem_path)
    _check_signing_cert(cert, key, cert_pem_path)
    if _is_issued_by(cert, cert):
        return Authority(key, cert)
    if chain_pem_path is None:
        raise AuthorityError(f"{cert_pem_path}: an intermediate CA needs its chain to the root")
    try:
        pool = x509.load_pem_x509_certificates(chain_pem_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise AuthorityError(f"{chain_pem_path}: cannot read certificates: {exc}") from None
    intermediates, root = _chain_to_root(cert, pool, chain_pem_path)
    return Authority(key, cert, intermediates, root)


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise AuthorityError(f"{path}: cannot read a PEM certificate: {exc}") from None


def _load_ca_key(path: Path) -> CaKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise AuthorityError(f"{path}: cannot read an unencrypted PEM key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise AuthorityError(f"{path}: a CA key must be EC or RSA")
    return key


def _check_signing_cert(cert: x509.Certificate, key: CaKey, path: Path) -> None:
    """Raises AuthorityError unless ``cert`` is a CA that may sign and matches ``key``."""
    try:
        may_sign = cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        may_sign = False
    if not (is_ca(cert) and may_sign):
        raise AuthorityError(f"{path}: not a CA certificate allowed to sign certificates")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise AuthorityError(f"{path}: the certificate does not match the CA key")


def _is_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _chain_to_root(
    cert: x509.Certificate, pool: list[x509.Certificate], path: Path
) -> tuple[tuple[x509.Certificate, ...], x509.Certificate]:
    """(intermediates above ``cert``, root), found in ``pool``; raises AuthorityError."""
    chain = [cert]
    while not _is_issued_by(chain[-1], chain[-1]):
        parent = next((c for c in pool if is_ca(c) and _is_issued_by(chain[-1], c)), None)
        if parent is None or parent in chain:
            subject = chain[-1].issuer.rfc4514_string()
            raise AuthorityError(f"{path}: no CA certificate for {subject} leading to a root")
        chain.append(parent)
    return tuple(chain[1:-1]), chain[-1]


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
