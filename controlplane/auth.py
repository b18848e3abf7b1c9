"""Bearer tokens for the resources API: an admin token and a read-only token in the data directory.

On first start the data directory gets ``admin-token`` (scope admin) and ``readonly-token``
(scope read), 32 random bytes each in URL-safe base64, mode 0600. Admin implies read.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from pathlib import Path
from typing import Literal

Scope = Literal["read", "admin"]
TOKEN_FILES: dict[str, Scope] = {"admin-token": "admin", "readonly-token": "read"}
_GRANTS: dict[Scope, frozenset[Scope]] = {
    "admin": frozenset({"admin", "read"}),
    "read": frozenset({"read"}),
}


class Unauthenticated(Exception):
    """No token, or not one we issued (HTTP 401)."""


class Forbidden(Exception):
    """A valid token whose scope does not allow the operation (HTTP 403)."""


class TokenAuth:
    """Checks Authorization headers against a fixed set of tokens."""

    def __init__(self, tokens: dict[str, Scope]) -> None:
        self._tokens = [(token.encode(), scope) for token, scope in tokens.items()]

    def check(self, header_value: str | None, needed_scope: Scope) -> None:
        """Returns if the header carries a token granting ``needed_scope``.

        Raises Unauthenticated or Forbidden. Every token is compared, in constant time, so the
        time taken says nothing about which token came close.
        """
        scope = self._scope_of(_bearer(header_value))
        if scope is None:
            raise Unauthenticated
        if needed_scope not in _GRANTS[scope]:
            raise Forbidden

    def _scope_of(self, presented: bytes) -> Scope | None:
        found: Scope | None = None
        for token, scope in self._tokens:
            if hmac.compare_digest(presented, token):
                found = scope
        return found


def _bearer(header_value: str | None) -> bytes:
    scheme, _, token = (header_value or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return b""
    return token.strip().encode("utf-8", "replace")


def new_token() -> str:
    """Returns 32 random bytes as URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def _load_or_create(path: Path) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    token = new_token()
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


def load_or_create_tokens(data_dir: Path) -> TokenAuth:
    """Returns the TokenAuth for ``data_dir``, writing missing token files (mode 0600) first.

    Raises OSError if the directory or a token file cannot be read or written.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tokens = {_load_or_create(data_dir / name): scope for name, scope in TOKEN_FILES.items()}
    if "" in tokens:
        raise OSError(f"an empty token file in {data_dir}; delete it to get a new token")
    return TokenAuth(tokens)
