"""The registry's durable copy, so a restarted control plane knows every instance at once.

Without it, the first snapshots after a restart would list only the sidecars that had already
reconnected, and their peers would drop the rest from their load-balancing sets (or answer 500
for a route's backend) for the moment it takes the others to come back. The journal records
every change of presence, fields or readiness (not lease renewals, which stay in memory) in
SQLite under the data directory. On start-up every recorded instance gets a fresh lease: one that
does not reconnect within it is dropped as usual.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from controlplane.api.snapshot import Registration

DB_NAME = "registry.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    identity TEXT NOT NULL, address TEXT NOT NULL, port INTEGER NOT NULL,
    service TEXT NOT NULL, namespace TEXT NOT NULL, labels TEXT NOT NULL, ready INTEGER NOT NULL,
    PRIMARY KEY (identity, address, port)
);
"""

Key = tuple[str, str, int]


class RegistryJournal:
    """Instances as rows. Not thread-safe: one owner, one thread. Writes block briefly."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / DB_NAME, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def put(self, identity: str, registration: Registration) -> None:
        """Records (or replaces) an instance."""
        self._db.execute(
            "INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                identity,
                registration.address,
                registration.port,
                registration.service,
                registration.namespace,
                json.dumps(dict(registration.labels), sort_keys=True),
                int(registration.ready),
            ),
        )

    def set_ready(self, key: Key, ready: bool) -> None:
        """Records a readiness change."""
        self._db.execute(
            "UPDATE instances SET ready = ? WHERE identity = ? AND address = ? AND port = ?",
            (int(ready), *key),
        )

    def delete(self, key: Key) -> None:
        """Forgets an instance."""
        self._db.execute(
            "DELETE FROM instances WHERE identity = ? AND address = ? AND port = ?", key
        )

    def load(self) -> list[tuple[str, Registration]]:
        """Every recorded instance, as (identity, registration)."""
        rows = self._db.execute(
            "SELECT identity, address, port, service, namespace, labels, ready FROM instances"
        ).fetchall()
        return [
            (
                identity,
                Registration(
                    service=service,
                    namespace=namespace,
                    labels=json.loads(labels),
                    address=address,
                    port=port,
                    ready=bool(ready),
                ),
            )
            for identity, address, port, service, namespace, labels, ready in rows
        ]

    def close(self) -> None:
        self._db.close()
