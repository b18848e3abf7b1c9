"""The wire contract of certificate issuance, and SPIFFE IDs as the mesh issues them.

A workload's SPIFFE ID is ``spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>``. The
parser here is strict on purpose: the CA and every verifier must agree on one spelling of an
identity, so anything a lenient URL parser would normalise (case, ``%2F``, ``..``, ports,
userinfo, queries) is refused instead.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import msgspec

SCHEME = "spiffe://"
MAX_SPIFFE_ID_BYTES = 2048
DEFAULT_TRUST_DOMAIN = "cluster.local"
# SPIFFE allows [a-z0-9._-]; we also require an alphanumeric first and last character.
_TRUST_DOMAIN_RE = re.compile(r"[a-z0-9]([a-z0-9._\-]{0,253}[a-z0-9])?\Z", re.ASCII)
# A Kubernetes namespace is an RFC 1123 label.
_NAMESPACE_RE = re.compile(r"[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?\Z", re.ASCII)
# A Kubernetes service account is an RFC 1123 subdomain: labels joined by single dots.
_LABEL = r"[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?"
_SERVICE_ACCOUNT_RE = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*\Z", re.ASCII)


class _Wire(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of the issuance messages."""


class CsrRequest(_Wire, frozen=True):
    """A sidecar asks for a certificate: its PEM CSR and the credential proving who it is.

    The certificate's identity comes from ``token`` alone; the CSR contributes only its key. An
    empty ``token`` asks to renew: the credential is then the workload certificate the caller
    presents on the TLS connection (still valid, issued by this CA).
    """

    csr_pem: str
    token: str = ""


class CsrResponse(_Wire, frozen=True):
    """The issued chain (leaf first, PEM), the roots to trust, and when the leaf expires."""

    chain_pem: str
    trust_bundle_pem: str
    expires_at: float  # unix seconds


class InvalidSpiffeId(ValueError):
    """A string is not a workload SPIFFE ID as this mesh issues them."""


class SpiffeId(NamedTuple):
    """A parsed workload identity."""

    trust_domain: str
    namespace: str
    service_account: str

    def uri(self) -> str:
        """The ``spiffe://`` URI of this identity."""
        return f"{SCHEME}{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"


def check_trust_domain(trust_domain: str) -> str:
    """Return ``trust_domain`` unchanged; raises InvalidSpiffeId unless it is a lower-case name."""
    if not _TRUST_DOMAIN_RE.match(trust_domain):
        raise InvalidSpiffeId(f"{trust_domain!r} is not a trust domain like cluster.local")
    return trust_domain


def check_namespace(namespace: str) -> str:
    """Return ``namespace`` unchanged; raises InvalidSpiffeId unless it is a DNS label."""
    if not _NAMESPACE_RE.match(namespace):
        raise InvalidSpiffeId(f"namespace {namespace!r} is not a DNS label")
    return namespace


def check_service_account(service_account: str) -> str:
    """Return ``service_account`` unchanged; raises InvalidSpiffeId unless it is a DNS name."""
    if not _SERVICE_ACCOUNT_RE.match(service_account):
        raise InvalidSpiffeId(f"service account {service_account!r} is not a DNS name")
    return service_account


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    """Build ``spiffe://<td>/ns/<ns>/sa/<sa>``; raises InvalidSpiffeId if a part is malformed."""
    parts = SpiffeId(
        check_trust_domain(trust_domain),
        check_namespace(namespace),
        check_service_account(service_account),
    )
    return parse_spiffe_id(parts.uri()).uri()  # also enforces the overall length bound


def parse_spiffe_id(value: str) -> SpiffeId:
    """Parse a workload SPIFFE ID strictly. Raises InvalidSpiffeId on anything else.

    Refused: another scheme, upper case in the trust domain, a port, userinfo, a query or
    fragment, percent-encoding, empty, ``.`` or ``..`` segments, a path other than
    ``/ns/<ns>/sa/<sa>``, and more than 2048 bytes.
    """
    if len(value.encode("utf-8", "surrogatepass")) > MAX_SPIFFE_ID_BYTES:
        raise InvalidSpiffeId(f"a SPIFFE ID is at most {MAX_SPIFFE_ID_BYTES} bytes")
    if not value.startswith(SCHEME):
        raise InvalidSpiffeId(f"{value[:80]!r} does not start with {SCHEME}")
    trust_domain, slash, path = value[len(SCHEME) :].partition("/")
    segments = path.split("/")
    if not slash or len(segments) != 4 or segments[0] != "ns" or segments[2] != "sa":
        raise InvalidSpiffeId(f"{value[:80]!r} is not spiffe://<td>/ns/<ns>/sa/<sa>")
    return SpiffeId(
        check_trust_domain(trust_domain),
        check_namespace(segments[1]),
        check_service_account(segments[3]),
    )


def peer_spiffe_id(peercert: dict[str, Any] | None) -> SpiffeId | None:
    """The identity of a verified TLS peer (``getpeercert()`` form): its certificate must carry
    exactly one URI SAN and that a workload SPIFFE ID; None otherwise. The sidecar and the control
    plane both read peers with this, so they agree on who a peer is."""
    if not peercert:
        return None
    uris = [value for kind, value in peercert.get("subjectAltName", ()) if kind == "URI"]
    if len(uris) != 1:
        return None
    try:
        return parse_spiffe_id(uris[0])
    except InvalidSpiffeId:
        return None


def is_spiffe_id(value: str) -> bool:
    """Whether ``value`` parses as a workload SPIFFE ID."""
    try:
        parse_spiffe_id(value)
    except InvalidSpiffeId:
        return False
    return True
