"""Join tokens: signed, expiring credentials that let one workload identity get a certificate.

A token is ``gmj1.<base64url(JSON claims)>.<base64url(Ed25519 signature)>``. The signature covers
``gmj1.<claims>``; the claims name exactly one identity (trust domain, namespace, service account),
when the token was issued and when it expires, and a random id. The signing key lives in the
control plane's data directory as ``token-signing-key.pem`` (mode 0600), created on first use.

A token can be presented until it expires; nothing here makes it single-use.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controlplane.api.identity import InvalidSpiffeId, check_trust_domain
from controlplane.api.identity import spiffe_id as build_spiffe_id

PREFIX = "gmj1"
KEY_FILE = "token-signing-key.pem"
MAX_TTL_S = 30 * 86400.0
MAX_TOKEN_CHARS = 2048
# How far in the future an issue time may be before we call the token forged.
CLOCK_SKEW_S = 300.0
_TTL_RE = re.compile(r"([1-9][0-9]{0,7})([smhd])\Z", re.ASCII)
_TTL_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_B64URL_RE = re.compile(r"[A-Za-z0-9_\-]+\Z", re.ASCII)


class InvalidToken(Exception):
    """A presented token is not acceptable. The message is for logs only, never for the peer."""


class JoinClaims(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    rename={
        "namespace": "ns",
        "service_account": "sa",
        "trust_domain": "td",
        "issued_at": "iat",
        "expires_at": "exp",
        "token_id": "jti",
    },
):
    """What a verified token vouches for. Times are unix seconds."""

    namespace: str
    service_account: str
    trust_domain: str
    issued_at: int
    expires_at: int
    token_id: str

    def spiffe_id(self) -> str:
        """The one SPIFFE ID this token may obtain a certificate for."""
        return build_spiffe_id(self.trust_domain, self.namespace, self.service_account)


def parse_ttl(text: str) -> float:
    """Parse ``90s``, ``15m``, ``1h``, ``7d`` into seconds.

    Raises ValueError for another shape, zero, or more than 30 days.
    """
    match = _TTL_RE.match(text.strip())
    if match is None:
        raise ValueError(f"ttl {text!r} is not a number followed by s, m, h or d (like 1h)")
    ttl_s = int(match[1]) * _TTL_UNITS[match[2]]
    if ttl_s > MAX_TTL_S:
        raise ValueError(f"ttl {text!r} is longer than the 30 day maximum")
    return ttl_s


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Decode unpadded base64url; raises InvalidToken unless ``text`` is its canonical form."""
    if not _B64URL_RE.match(text):
        raise InvalidToken("a token part is not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise InvalidToken("a token part is not base64url") from None
    if _b64encode(data) != text:  # stray low bits would make two spellings of one token
        raise InvalidToken("a token part is not canonical base64url")
    return data


class TokenAuthority:
    """Issues and verifies the join tokens of one trust domain with one Ed25519 key."""

    def __init__(self, key: Ed25519PrivateKey, trust_domain: str) -> None:
        self._key = key
        self._public = key.public_key()
        self.trust_domain = check_trust_domain(trust_domain)

    @classmethod
    def load_or_create(cls, data_dir: Path, trust_domain: str) -> TokenAuthority:
        """Load the signing key from ``data_dir``, creating it (mode 0600) on first use.

        Raises ValueError if the key file is not an Ed25519 private key or the trust domain is
        malformed, OSError if the directory cannot be used.
        """
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _create_key_file(path)
        return cls(_load_key_file(path), trust_domain)

    def issue(self, namespace: str, service_account: str, ttl_s: float, now: float) -> str:
        """A token for ``spiffe://<td>/ns/<namespace>/sa/<service_account>`` valid ``ttl_s``.

        Raises ValueError for a malformed name or a TTL outside (0, 30 days].
        """
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl {ttl_s}s is outside (0, {MAX_TTL_S:.0f}s]")
        claims = JoinClaims(
            namespace=namespace,
            service_account=service_account,
            trust_domain=self.trust_domain,
            issued_at=int(now),
            expires_at=int(now + ttl_s),
            token_id=secrets.token_urlsafe(16),
        )
        claims.spiffe_id()  # raises InvalidSpiffeId (a ValueError) for a malformed name
        signed = f"{PREFIX}.{_b64encode(msgspec.json.encode(claims))}"
        return f"{signed}.{_b64encode(self._key.sign(signed.encode('ascii')))}"

    def verify(self, token: str, now: float) -> JoinClaims:
        """The claims of ``token`` if it is ours, intact and unexpired at ``now``.

        Raises InvalidToken for anything else (one type whatever the reason).
        """
        claims_part = self._check_signature(token)
        try:
            claims = msgspec.json.decode(_b64decode(claims_part), type=JoinClaims)
            claims.spiffe_id()
        except (msgspec.DecodeError, InvalidSpiffeId) as exc:
            raise InvalidToken(f"malformed claims: {exc}") from None
        self._check_claims(claims, now)
        return claims

    def _check_signature(self, token: str) -> str:
        """Return the claims part of ``token``; raises InvalidToken unless our key signed it."""
        if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise InvalidToken("not a join token")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise InvalidToken(f"not a {PREFIX} join token")
        signed = f"{parts[0]}.{parts[1]}"
        try:
            self._public.verify(_b64decode(parts[2]), signed.encode("ascii"))
        except InvalidSignature:
            raise InvalidToken("bad signature") from None
        return parts[1]

    def _check_claims(self, claims: JoinClaims, now: float) -> None:
        """Raises InvalidToken if the claims are for another domain, expired or implausible."""
        if claims.trust_domain != self.trust_domain:
            raise InvalidToken(f"token is for trust domain {claims.trust_domain!r}")
        if now >= claims.expires_at:
            raise InvalidToken(f"token {claims.token_id} expired")
        if claims.issued_at > now + CLOCK_SKEW_S:
            raise InvalidToken(f"token {claims.token_id} is issued in the future")
        if claims.expires_at - claims.issued_at > MAX_TTL_S:
            raise InvalidToken(f"token {claims.token_id} lives longer than the maximum")


def _create_key_file(path: Path) -> None:
    """Write a new Ed25519 key to ``path`` (0600) unless another process got there first."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)  # atomic, and never replaces a key another process created
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _load_key_file(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path``; raises ValueError naming the file if it is anything else."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: the token signing key must be an Ed25519 key")
    return key
