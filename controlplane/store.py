"""The durable resource store: one SQLite file (``resources.db``, WAL) in the data directory.

Every write bumps one global, monotonically increasing revision; the resource written gets that
revision as its resourceVersion, so a watcher can ask "what changed since revision N" later.

The store is synchronous on purpose. Calls are small indexed reads and single-transaction writes
that take well under a millisecond on local disk, so the API calls them from the event loop
directly; a thread pool would add latency and a second owner of the connection for nothing.
"""

from __future__ import annotations

import builtins
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from controlplane.api.resources import KINDS, Resource

DB_NAME = "resources.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    version INTEGER NOT NULL, created REAL NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (kind, namespace, name));
CREATE TABLE IF NOT EXISTS revision (id INTEGER PRIMARY KEY CHECK (id = 0), value INTEGER NOT NULL);
INSERT OR IGNORE INTO revision VALUES (0, 0);
"""
_ROW = "SELECT kind, version, created, body FROM resources"


class Store:
    """Resources keyed by (kind, namespace, name). Not thread-safe: one owner, one thread."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = sqlite3.connect(data_dir / DB_NAME, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the process
        self._db.executescript(_SCHEMA)

    @property
    def revision(self) -> int:
        """Returns the revision of the latest write (0 for an empty, never-written store)."""
        row = self._db.execute("SELECT value FROM revision").fetchone()
        return int(row[0])

    def put(self, resource: Resource) -> int:
        """Creates or replaces one resource; returns its new resourceVersion."""
        return self.put_all([resource])[0]

    def put_all(self, resources: Sequence[Resource]) -> builtins.list[int]:
        """Creates or replaces every resource in one transaction (all or nothing).

        Returns their new resourceVersions, in order. A replaced resource keeps its creation time.
        """
        versions = []
        with self._transaction():
            for resource in resources:
                version = self._bump()
                bare = msgspec.structs.replace(
                    resource.metadata, resourceVersion=None, creationTimestamp=None
                )
                body = msgspec.json.encode(msgspec.structs.replace(resource, metadata=bare))
                self._db.execute(
                    "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE"
                    " SET version = excluded.version, body = excluded.body",
                    (*resource.key(), version, self._clock(), body),
                )
                versions.append(version)
        return versions

    def get(self, kind: str, namespace: str, name: str) -> Resource | None:
        """Returns the stored resource with its resourceVersion set, or None."""
        row = self._db.execute(
            f"{_ROW} WHERE kind = ? AND namespace = ? AND name = ?", (kind, namespace, name)
        ).fetchone()
        return None if row is None else _load(*row)

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Deletes one resource (a write: bumps the revision); returns whether it existed."""
        with self._transaction():
            gone = self._db.execute(
                "DELETE FROM resources WHERE kind = ? AND namespace = ? AND name = ?",
                (kind, namespace, name),
            ).rowcount
            if gone:
                self._bump()
        return bool(gone)

    def close(self) -> None:
        """Closes the database; idempotent."""
        self._db.close()

    def list(self, kind: str, namespace: str | None = None) -> builtins.list[Resource]:
        """Returns the resources of a kind, in one namespace or all, ordered by namespace, name."""
        where, args = "WHERE kind = ?", [kind]
        if namespace is not None:
            where, args = where + " AND namespace = ?", [kind, namespace]
        rows = self._db.execute(f"{_ROW} {where} ORDER BY namespace, name", args).fetchall()
        return [_load(*row) for row in rows]

    def _bump(self) -> int:
        row = self._db.execute("UPDATE revision SET value = value + 1 RETURNING value").fetchone()
        return int(row[0])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _load(kind: str, version: int, created: float, body: bytes) -> Resource:
    resource = msgspec.json.decode(body, type=KINDS[kind])
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = msgspec.structs.replace(
        resource.metadata, resourceVersion=str(version), creationTimestamp=stamp
    )
    return msgspec.structs.replace(resource, metadata=metadata)
