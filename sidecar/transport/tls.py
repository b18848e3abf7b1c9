"""Mutual TLS for the mesh: server and client contexts, and the peer's SPIFFE identity.

A mesh peer presents a certificate chaining to the mesh CA whose only URI SAN is its SPIFFE ID.
Hostnames play no part: the caller checks the ID the cluster expects (secure naming), the callee
takes the caller's ID from its certificate and passes it on to the app.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from controlplane.api.sidecar import SPIFFE_ID_RE, TlsConfig


class TlsMaterialError(Exception):
    """The certificate, key or CA bundle cannot be loaded (a configuration fault)."""


def _context(purpose: int, tls: TlsConfig, base: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = False
    try:
        ctx.load_cert_chain(base / tls.cert, base / tls.key)
        ctx.load_verify_locations(base / tls.ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise TlsMaterialError(f"tls: cannot load certificate, key or CA bundle: {exc}") from None
    # A leaf that claims to be a CA must not authenticate a workload.
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    return ctx


def server_context(tls: TlsConfig, base: Path) -> ssl.SSLContext:
    """Context for the inbound listener: a client certificate from the mesh CA is required."""
    return _context(ssl.PROTOCOL_TLS_SERVER, tls, base)


def client_context(tls: TlsConfig, base: Path) -> ssl.SSLContext:
    """Context for connections to peer sidecars: we present our certificate and verify theirs
    against the mesh CA; the caller then checks the peer's SPIFFE ID."""
    return _context(ssl.PROTOCOL_TLS_CLIENT, tls, base)


def peer_spiffe_id(peercert: dict[str, Any] | None) -> str | None:
    """The SPIFFE ID of a verified peer certificate (``SSLObject.getpeercert()`` form), or None
    unless it carries exactly one URI SAN and that is a well-formed SPIFFE ID."""
    if not peercert:
        return None
    uris = [value for kind, value in peercert.get("subjectAltName", ()) if kind == "URI"]
    if len(uris) != 1 or not SPIFFE_ID_RE.match(uris[0]):
        return None
    spiffe_id: str = uris[0]
    return spiffe_id
