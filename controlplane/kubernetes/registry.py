"""The registry in Kubernetes mode: the API server is the only writer of instances.

EndpointSlices say which pods serve a Service and whether they are ready, so an instance stays
until the API server says it is gone, with no lease to run out (``expires_at`` is infinite). A
sidecar still opens the config stream and sends its Registration, but that only names its stream
(which namespace's snapshot it gets): the stream-facing methods leave the instances alone, so a
pod that is deleted leaves at once even while its sidecar is still connected and draining.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

from controlplane.api.snapshot import Registration
from controlplane.registry import InstanceKey, Registry


class KubernetesRegistry(Registry):
    """A Registry fed by ``sync`` from the API server's view; no journal (the API server keeps
    the state, and a restart re-lists it)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._owned: dict[InstanceKey, Registration] = {}

    def register(self, identity: str, registration: Registration) -> InstanceKey:
        """A sidecar's stream registration: changes nothing, returns the key it names."""
        return (identity, registration.address, registration.port)

    def renew(self, key: InstanceKey) -> bool:
        """A stream's keep-alive: there is no lease to renew."""
        return True

    def set_ready(self, key: InstanceKey, ready: bool) -> bool:
        """A sidecar's readiness report: the EndpointSlice's ready condition decides instead."""
        return True

    def sync(self, desired: Mapping[InstanceKey, Registration]) -> None:
        """Makes the instances exactly ``desired`` (key -> registration, the key's identity being
        the instance's): adds and updates what changed, removes what is no longer there."""
        if desired == self._owned:
            return  # the common case (a pod's status changed, not its endpoint): one C compare
        for key in [k for k in self._owned if k not in desired]:
            del self._owned[key]
            self.remove(key)
        for key, registration in desired.items():
            if self._owned.get(key) == registration:
                continue
            self._owned[key] = registration
            super().register(key[0], registration)
            self._instances[key] = dataclasses.replace(self._instances[key], expires_at=math.inf)
