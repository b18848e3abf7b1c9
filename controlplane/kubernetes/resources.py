"""Mesh resources from the API server: glassmesh.io CRs and Gateway API HTTPRoutes into the store.

Each object goes through the same checks as ``glassmesh apply`` (``decode_resource``, and for a
route ``check_subsets`` against the stored TrafficPolicies) into the same store, so the push loop
sees no difference. The API server's bookkeeping (uid, resourceVersion, managedFields, status...)
is dropped first: our kinds forbid unknown fields, and what we store is what the user wrote.

A CR that fails the checks is rejected: logged, counted, reported by ``on_rejected`` (the control
plane posts a Kubernetes Event about it) and listed in ``rejected``; the store keeps the version
before it, so the last good config goes on running. A list replaces everything of its kind: what
the API server no longer has leaves the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from controlplane.api.resources import (
    GATEWAY_V1,
    GLASSMESH_V1ALPHA1,
    HTTPRoute,
    Resource,
    ResourceError,
    TrafficPolicy,
    check_subsets,
    decode_resource,
    plural,
)
from controlplane.store import Store

log = logging.getLogger("glassmesh.controlplane.kubernetes")
Obj = dict[str, Any]
LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
_KEPT_METADATA = ("name", "namespace", "labels", "annotations")


@dataclass(frozen=True)
class CustomKind:
    """One kind we watch: where it lives in the API (group, version, plural)."""

    kind: str
    group: str
    version: str
    plural: str


def _kind(kind: str, api_version: str) -> CustomKind:
    group, version = api_version.split("/")
    return CustomKind(kind, group, version, plural(kind))


# The kinds read from the API server. Gateway API CRDs are the user's to install.
WATCHED_KINDS: Final = (
    _kind("HTTPRoute", GATEWAY_V1),
    *(
        _kind(k, GLASSMESH_V1ALPHA1)
        for k in (
            "TrafficPolicy",
            "AuthorizationPolicy",
            "PeerAuthentication",
            "Telemetry",
            "Fault",
        )
    ),
)


@dataclass(frozen=True)
class Rejection:
    """Why one object was refused: the field at fault and the message."""

    kind: str
    namespace: str
    name: str
    path: str
    message: str

    def text(self) -> str:
        """One line for logs and Events, naming the field."""
        return f"{self.path}: {self.message}" if self.path else self.message


def stripped(obj: Obj) -> Obj:
    """The object as a user would have written it: apiVersion, kind, spec and the metadata our
    kinds accept (name, namespace, labels, annotations other than kubectl's copy)."""
    meta = obj.get("metadata")
    kept: Obj = {k: meta[k] for k in _KEPT_METADATA if k in meta} if isinstance(meta, dict) else {}
    if isinstance(kept.get("annotations"), dict):
        kept["annotations"] = {k: v for k, v in kept["annotations"].items() if k != LAST_APPLIED}
    doc: Obj = {k: obj[k] for k in ("apiVersion", "kind", "spec") if k in obj}
    return {**doc, "metadata": kept}


class ResourceSync:
    """The watch handler of one kind: keeps that kind in the store equal to the API server's
    valid objects."""

    def __init__(
        self, kind: str, store: Store, on_rejected: Callable[[Obj, Rejection], None]
    ) -> None:
        self.kind = kind
        self.store = store
        self.rejected: dict[tuple[str, str], Rejection] = {}  # (namespace, name) -> why
        self.rejections = 0  # objects rejected since start
        self.on_stored: Callable[[], None] = lambda: None  # after a write of this kind
        self._on_rejected = on_rejected
        self._rejected_objects: dict[tuple[str, str], Obj] = {}

    def retry(self) -> None:
        """Checks the rejected objects again: what they refer to may exist now (a route's
        subset whose TrafficPolicy arrived after it, as on a first list)."""
        for obj in list(self._rejected_objects.values()):
            self.apply("MODIFIED", obj)

    def replace(self, items: list[Obj]) -> None:
        """Stores every valid item and deletes what the API server no longer has."""
        listed = set()
        for obj in items:
            self.apply("ADDED", obj)
            meta = obj.get("metadata") or {}
            listed.add((str(meta.get("namespace") or "default"), str(meta.get("name") or "")))
        for resource in self.store.list(self.kind):
            namespace, name = resource.metadata.namespace, resource.metadata.name
            if (namespace, name) not in listed:
                self.store.delete(self.kind, namespace, name)
                self.on_stored()
        self.rejected = {k: v for k, v in self.rejected.items() if k in listed}
        self._rejected_objects = {k: v for k, v in self._rejected_objects.items() if k in listed}

    def apply(self, event: str, obj: Obj) -> None:
        """Stores (ADDED, MODIFIED) or deletes (DELETED) one object; rejects an invalid one."""
        meta = obj.get("metadata") or {}
        where = (str(meta.get("namespace") or "default"), str(meta.get("name") or ""))
        if event == "DELETED":
            self.rejected.pop(where, None)
            self._rejected_objects.pop(where, None)
            if self.store.delete(self.kind, *where):
                self.on_stored()
            return
        try:
            resource = decode_resource(stripped(obj))
            if resource.kind != self.kind:
                raise ResourceError("kind", f"expected {self.kind}")
            if isinstance(resource, HTTPRoute):
                policies = self.store.list("TrafficPolicy")
                check_subsets(resource, [p for p in policies if isinstance(p, TrafficPolicy)])
        except ResourceError as exc:
            self._rejected_objects[where] = obj
            self._reject(obj, Rejection(self.kind, *where, exc.path, exc.message))
            return
        self.rejected.pop(where, None)
        self._rejected_objects.pop(where, None)
        current = self.store.get(*resource.key())
        if current is None or _unversioned(current) != _unversioned(resource):
            self.store.put(resource)
            self.on_stored()

    def _reject(self, obj: Obj, rejection: Rejection) -> None:
        if self.rejected.get((rejection.namespace, rejection.name)) == rejection:
            return  # the same object again (a re-list): reported already
        self.rejected[(rejection.namespace, rejection.name)] = rejection
        self.rejections += 1
        log.warning("%s %s/%s rejected, the last good version stays: %s", self.kind,
                    rejection.namespace, rejection.name, rejection.text())  # fmt: skip
        self._on_rejected(obj, rejection)


def _unversioned(resource: Resource) -> Resource:
    """A resource without its store-assigned fields, to tell a real change from a re-list."""
    meta = msgspec.structs.replace(resource.metadata, resourceVersion=None, creationTimestamp=None)
    return msgspec.structs.replace(resource, metadata=meta)
