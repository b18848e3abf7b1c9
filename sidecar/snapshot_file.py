"""The sidecar's state on disk, so a restart while the control plane is down still works: the
last good snapshot (routing) and the current certificate with its key (identity).

Writes are atomic (a temporary file in the same directory, flushed, then renamed over the old
one), so a crash mid-write leaves the previous file. Files are readable by the sidecar's user
only. A file that cannot be read or decoded is reported and ignored.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import msgspec

from controlplane.api.snapshot import Snapshot, StreamError, decode_server, encode

log = logging.getLogger("glassmesh.sidecar.snapshot")


class SavedIdentity(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A certificate chain, its key and the roots, as PEM."""

    chain_pem: str
    key_pem: str
    trust_bundle_pem: str


def save(path: Path, snapshot: Snapshot) -> None:
    """Replaces the file at ``path`` with ``snapshot``. Raises OSError; blocks on disk I/O."""
    write_atomic(path, encode(snapshot))


def save_identity(path: Path, identity: SavedIdentity) -> None:
    """Replaces the identity file at ``path``. Raises OSError; blocks on disk I/O."""
    write_atomic(path, msgspec.json.encode(identity))


def load_identity(path: Path) -> SavedIdentity | None:
    """The identity saved at ``path``; None (logged) if there is none or it is unusable."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=SavedIdentity)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("ignoring the saved identity %s: %s", path, exc)
        return None


def write_atomic(path: Path, data: bytes) -> None:
    """Replaces ``path`` with ``data`` (mode 0600), all or nothing. Raises OSError."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> Snapshot | None:
    """The snapshot saved at ``path``; None (logged) if there is none or it is unusable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read the saved snapshot %s: %s", path, exc.strerror)
        return None
    try:
        return decode_server(data)
    except StreamError as exc:
        log.warning("ignoring the saved snapshot %s: %s", path, exc)
        return None
