"""The service registry: which sidecar instances serve which service, and whether they are ready.

An instance is keyed by (identity, address, port): the SPIFFE ID from its client certificate and
where peers reach its inbound listener. It stays while its lease is renewed (the config stream
renews it on every message and ping) and is dropped by ``expire()`` once the lease has passed.

The registry lives in memory, with a journal in SQLite (``registry_journal``): a restarted control
plane starts with every instance it knew, each on a fresh lease, so its first snapshots do not
drop the peers that have not reconnected yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.api.snapshot import Registration
from controlplane.registry_journal import RegistryJournal

InstanceKey = tuple[str, str, int]  # (identity, address, port)
DEFAULT_LEASE_S = 15.0
RESTART_GRACE_S = 30.0  # a sidecar's longest reconnect backoff (sidecar.config_client)


@dataclass(frozen=True)
class Instance:
    """One registered instance of a service."""

    identity: str
    service: str
    namespace: str
    labels: dict[str, str]
    address: str
    port: int
    ready: bool
    expires_at: float

    @property
    def key(self) -> InstanceKey:
        """What identifies this instance in the registry."""
        return (self.identity, self.address, self.port)


class Registry:
    """Instances with leases. Not thread-safe: one owner, one event loop. With a journal, each
    change (not a renewal) is also written to SQLite, briefly, and instances recorded there are
    back at construction, each with a fresh lease plus the time a sidecar may take to reconnect
    (``RESTART_GRACE_S``)."""

    def __init__(
        self,
        clock: Callable[[], float],
        lease_s: float = DEFAULT_LEASE_S,
        journal: RegistryJournal | None = None,
    ) -> None:
        self.clock = clock
        self.lease_s = lease_s
        self._instances: dict[InstanceKey, Instance] = {}
        self._revision = 0
        self._listeners: list[Callable[[], None]] = []
        self._journal = None
        if journal is not None:
            # Sidecars reconnect with backoff (at most RESTART_GRACE_S apart): until they are
            # back, the instances they registered before the restart stay.
            for identity, registration in journal.load():
                key = self.register(identity, registration)
                grace = self.clock() + self.lease_s + RESTART_GRACE_S
                self._instances[key] = dataclasses.replace(self._instances[key], expires_at=grace)
            self._journal = journal

    @property
    def revision(self) -> int:
        """Grows by one on every change of an instance's presence, fields or readiness."""
        return self._revision

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Calls ``listener()`` after every change (not on a mere lease renewal)."""
        self._listeners.append(listener)

    def register(self, identity: str, registration: Registration) -> InstanceKey:
        """Adds or replaces the instance ``registration`` describes, with a fresh lease."""
        instance = Instance(
            identity=identity,
            service=registration.service,
            namespace=registration.namespace,
            labels=dict(registration.labels),
            address=registration.address,
            port=registration.port,
            ready=registration.ready,
            expires_at=self.clock() + self.lease_s,
        )
        old = self._instances.get(instance.key)
        self._instances[instance.key] = instance
        if old is None or dataclasses.replace(old, expires_at=instance.expires_at) != instance:
            if self._journal is not None:
                self._journal.put(identity, registration)
            self._changed()
        return instance.key

    def renew(self, key: InstanceKey) -> bool:
        """Extends an instance's lease; returns False if it is not (or no longer) registered."""
        instance = self._instances.get(key)
        if instance is None:
            return False
        self._instances[key] = dataclasses.replace(instance, expires_at=self.clock() + self.lease_s)
        return True

    def set_ready(self, key: InstanceKey, ready: bool) -> bool:
        """Marks an instance ready or not; returns False if it is not registered."""
        instance = self._instances.get(key)
        if instance is None:
            return False
        if instance.ready != ready:
            self._instances[key] = dataclasses.replace(instance, ready=ready)
            if self._journal is not None:
                self._journal.set_ready(key, ready)
            self._changed()
        return True

    def remove(self, key: InstanceKey) -> bool:
        """Drops an instance now; returns whether it was registered."""
        if self._instances.pop(key, None) is None:
            return False
        if self._journal is not None:
            self._journal.delete(key)
        self._changed()
        return True

    def expire(self) -> list[Instance]:
        """Drops every instance whose lease has passed; returns them."""
        now = self.clock()
        gone = [i for i in self._instances.values() if i.expires_at <= now]
        for instance in gone:
            del self._instances[instance.key]
            if self._journal is not None:
                self._journal.delete(instance.key)
        if gone:
            self._changed()
        return gone

    def instances(self, service: str | None = None, namespace: str | None = None) -> list[Instance]:
        """Unexpired instances, ready or not, optionally of one service and/or namespace,
        ordered by namespace, service, address and port."""
        now = self.clock()
        found = [
            i
            for i in self._instances.values()
            if i.expires_at > now
            and service in (None, i.service)
            and namespace in (None, i.namespace)
        ]
        return sorted(found, key=lambda i: (i.namespace, i.service, i.address, i.port, i.identity))

    def endpoints(self, service: str, namespace: str) -> list[Instance]:
        """The ready, unexpired instances of one service: where traffic may go."""
        return [i for i in self.instances(service, namespace) if i.ready]

    def services(self) -> list[tuple[str, str]]:
        """(service, namespace) of every service with an unexpired instance, sorted."""
        return sorted({(i.service, i.namespace) for i in self.instances()})

    def _changed(self) -> None:
        self._revision += 1
        for listener in self._listeners:
            listener()
