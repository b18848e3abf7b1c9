"""The last good snapshot on disk, so a restarted sidecar routes before the control plane answers.

Writes are atomic (a temporary file in the same directory, flushed, then renamed over the old
one), so a crash mid-write leaves the previous snapshot. A file that cannot be read or decoded is
reported and ignored: the sidecar then starts with its static config only.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from controlplane.api.snapshot import Snapshot, StreamError, decode_server, encode

log = logging.getLogger("glassmesh.sidecar.snapshot")


def save(path: Path, snapshot: Snapshot) -> None:
    """Replaces the file at ``path`` with ``snapshot``. Raises OSError; blocks on disk I/O."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(encode(snapshot))
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
