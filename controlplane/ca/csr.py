"""Signing a workload's CSR: the key comes from the CSR, the identity from the credential."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from controlplane.ca.authority import (
    CLOCK_SKEW,
    MAX_WORKLOAD_LIFETIME,
    WORKLOAD_LIFETIME,
    Authority,
    IssuedChain,
    LeafPublicKey,
    check_identity,
    leaf_cert,
    utc_now,
)

MAX_CSR_BYTES = 16 * 1024
CSR_CURVES = frozenset({"secp256r1", "secp384r1"})
CSR_RSA_BITS = (2048, 8192)
_CSR_BEGIN = b"-----BEGIN CERTIFICATE REQUEST-----"


class CsrRejected(ValueError):
    """A peer's CSR is unacceptable (the peer's fault). The message says why, for logs."""


def sign_csr(
    ca: Authority,
    csr_pem: bytes,
    identity: str,
    lifetime: dt.timedelta = WORKLOAD_LIFETIME,
    now: dt.datetime | None = None,
) -> IssuedChain:
    """Certify the key in ``csr_pem`` as ``identity``, the SPIFFE ID the caller's credential
    proved. The CSR's subject, SANs and extensions are ignored.

    ``lifetime`` is clamped to 90 days and to the expiry of every CA above the leaf. Raises
    CsrRejected for a CSR that is oversized (> 16 KiB), not one PEM CSR, badly self-signed or
    holding a key other than EC P-256/P-384 or RSA 2048-8192 bits; ValueError for a malformed
    ``identity`` or a lifetime that is not positive.
    """
    check_identity(identity)
    if lifetime <= dt.timedelta(0):
        raise ValueError(f"lifetime {lifetime} is not positive")
    public_key = _csr_public_key(csr_pem)
    now = now or utc_now()
    issuers = (ca.cert, *ca.intermediates, *([ca.root] if ca.root else []))
    ca_expiry = min(c.not_valid_after_utc for c in issuers)
    not_after = min(now + min(lifetime, MAX_WORKLOAD_LIFETIME), ca_expiry)
    leaf = leaf_cert(ca, public_key, identity, now - CLOCK_SKEW, not_after)
    return IssuedChain((leaf, *ca.chain_above_leaf()))


def _csr_public_key(csr_pem: bytes) -> LeafPublicKey:
    """The key of a well-formed, correctly self-signed CSR; raises CsrRejected otherwise."""
    csr = _load_csr(csr_pem)
    key = _accepted_key(csr)
    try:
        valid = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise CsrRejected("the CSR's self-signature does not verify")
    return key


def _load_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    """Parse one PEM CSR of at most MAX_CSR_BYTES; raises CsrRejected otherwise."""
    if len(csr_pem) > MAX_CSR_BYTES:
        raise CsrRejected(f"the CSR is larger than {MAX_CSR_BYTES} bytes")
    if not csr_pem.lstrip().startswith(_CSR_BEGIN) or csr_pem.count(b"-----BEGIN") != 1:
        raise CsrRejected("not one PEM certificate request")
    try:
        return x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise CsrRejected("not a parseable PEM certificate request") from None


def _accepted_key(csr: x509.CertificateSigningRequest) -> LeafPublicKey:
    """The CSR's key if it is EC P-256/P-384 or RSA of an accepted size; raises CsrRejected."""
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CsrRejected("the CSR's key is of an unsupported type") from None
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in CSR_CURVES:
        return key
    if isinstance(key, rsa.RSAPublicKey) and CSR_RSA_BITS[0] <= key.key_size <= CSR_RSA_BITS[1]:
        return key
    size = getattr(key, "key_size", "?")
    raise CsrRejected(f"the CSR's key ({type(key).__name__}, {size} bits) is not accepted")
