"""Mutual TLS for the mesh: server and client contexts, their material, and the peer's identity.

A mesh peer presents a certificate chaining to the mesh CA whose only URI SAN is its SPIFFE ID.
Hostnames play no part: the caller checks the ID the cluster expects (secure naming), the callee
takes the caller's ID from its certificate and passes it on to the app.

Rotation reloads material into the SAME context objects the listeners and clusters hold.
``SSLContext.load_cert_chain`` replaces the context's certificate and key, and OpenSSL copies them
into each connection when it is created (``SSL_new``), so new handshakes present the new
certificate while established connections keep theirs and carry on. ``load_verify_locations``
adds roots to the context's store; it never removes one, so an old root stays trusted until
restart (fine for a root being rotated in, not for one being revoked). Everything runs on the
event loop's thread, so no handshake can see a context between the certificate and the key load;
a new set is first loaded into a scratch context, so bad material changes nothing.
"""

from __future__ import annotations

import calendar
import os
import ssl
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controlplane.api import identity
from controlplane.api.sidecar import TlsConfig


class TlsMaterialError(Exception):
    """The certificate, key or CA bundle cannot be loaded (a configuration fault)."""


def _context(purpose: int) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = False
    # A leaf that claims to be a CA must not authenticate a workload.
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    return ctx


def server_context() -> ssl.SSLContext:
    """Context for the inbound listener: a client certificate from the mesh CA is required.
    It holds no material until ``load_files`` or ``load_pem``."""
    return _context(ssl.PROTOCOL_TLS_SERVER)


def client_context() -> ssl.SSLContext:
    """Context for connections to peer sidecars: we present our certificate and verify theirs
    against the mesh CA; the caller then checks the peer's SPIFFE ID. No material until loaded."""
    return _context(ssl.PROTOCOL_TLS_CLIENT)


def load_files(contexts: Sequence[ssl.SSLContext], tls: TlsConfig, base: Path) -> None:
    """Load the PEM files ``tls`` names (relative to ``base``) into every context.

    Raises TlsMaterialError if one cannot be read or the key does not match the certificate.
    """
    try:
        for ctx in contexts:
            ctx.load_cert_chain(base / tls.cert, base / tls.key)
            ctx.load_verify_locations(base / tls.ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise TlsMaterialError(f"tls: cannot load certificate, key or CA bundle: {exc}") from None


def load_pem(
    contexts: Sequence[ssl.SSLContext], chain_pem: bytes, key_pem: bytes, trust_pem: bytes
) -> None:
    """Replace the certificate chain and key of every context and add ``trust_pem``'s roots.

    Connections made from now on use the new material; established ones are untouched. The key
    touches disk only because ``load_cert_chain`` reads files: in a private (0700) temporary
    directory, mode 0600, removed before this returns. Raises TlsMaterialError, having changed
    no context, if the material does not load.
    """
    try:
        trust = trust_pem.decode("ascii")
        with tempfile.TemporaryDirectory(prefix="glassmesh-tls-") as directory:
            cert, key = Path(directory) / "chain.pem", Path(directory) / "key.pem"
            cert.write_bytes(chain_pem)
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key_pem)
            for ctx in (_context(ssl.PROTOCOL_TLS_SERVER), *contexts):  # scratch one first
                ctx.load_cert_chain(cert, key)
                ctx.load_verify_locations(cadata=trust)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TlsMaterialError(f"cannot load the issued certificate, key or roots: {exc}") from None


def peer_spiffe_id(peercert: dict[str, Any] | None) -> str | None:
    """The SPIFFE ID of a verified peer certificate (``SSLObject.getpeercert()`` form), or None
    unless it carries exactly one URI SAN and that is a workload SPIFFE ID."""
    peer = identity.peer_spiffe_id(peercert)
    return None if peer is None else peer.uri()


def not_after(pem: bytes) -> float:
    """When the first certificate in ``pem`` expires (unix seconds), read from its DER with the
    standard library alone: loading cryptography for this one field would cost ~8 MB of RSS.
    Raises ValueError for anything that is not a well-formed X.509 certificate."""
    try:
        return _not_after(ssl.PEM_cert_to_DER_cert(pem.decode("ascii")))
    except IndexError:
        raise ValueError("truncated DER") from None


def _not_after(der: bytes) -> float:
    tbs = _enter(der, 0)  # Certificate -> tbsCertificate
    pos = _enter(der, tbs)
    if der[pos] == 0xA0:  # [0] version
        pos = _skip(der, pos)
    for _ in range(3):  # serialNumber, signature algorithm, issuer
        pos = _skip(der, pos)
    validity = _enter(der, pos)
    not_after_at = _skip(der, validity)  # past notBefore
    tag, start, end = _tlv(der, not_after_at)
    text = der[start:end].decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ; RFC 5280: YY < 50 is 20YY
        year = int(text[:2])
        text = f"{2000 + year if year < 50 else 1900 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError("certificate validity is not a time")
    return float(calendar.timegm(time.strptime(text, "%Y%m%d%H%M%SZ")))


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos``."""
    tag, length = der[pos], der[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated DER")
    return tag, start, start + length


def _enter(der: bytes, pos: int) -> int:
    """Where the contents of the constructed element at ``pos`` begin."""
    return _tlv(der, pos)[1]


def _skip(der: bytes, pos: int) -> int:
    """Where the element after the one at ``pos`` begins."""
    return _tlv(der, pos)[2]
