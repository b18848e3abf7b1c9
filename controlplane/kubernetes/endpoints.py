"""Which pods serve which Service: the join of Services, EndpointSlices and Pods as instances.

An instance is one endpoint address of an EndpointSlice (discovery.k8s.io/v1) whose Service
exists and whose target is a meshed Pod we know: its service is the Service (the slice's
``kubernetes.io/service-name`` label), its labels are the Pod's, its identity is the Pod's
service account as a SPIFFE ID, and its port is the sidecar's inbound port (the Pod's
``sidecar.glassmesh.io/inbound-port`` annotation, else 15006): peers talk to the sidecar,
not the app. Ready is the endpoint's ``ready`` condition (absent means ready, as the API
documents). A Pod that is deleted or terminating leaves at once, before its slice is updated.

Objects are the API server's JSON as dicts; this module does no I/O.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from controlplane.api.identity import InvalidSpiffeId, spiffe_id
from controlplane.api.snapshot import Registration
from controlplane.kubernetes import (
    DEFAULT_INBOUND_PORT,
    INBOUND_PORT_ANNOTATION,
    INJECTED_ANNOTATION,
)
from controlplane.registry import InstanceKey

log = logging.getLogger("glassmesh.controlplane.kubernetes")
Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace, name)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SIDECAR_CONTAINER = "glassmesh-proxy"  # the injected sidecar's container name


def key_of(obj: Obj) -> ObjKey:
    """(namespace, name) of an object; ("", "") parts when absent."""
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _meshed(pod: Obj) -> bool:
    """Whether a pod runs our sidecar: injected (the status annotation, or a container of that
    name, native sidecar or not), or saying where its inbound listener is."""
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    annotations = meta.get("annotations") or {}
    annotated = INBOUND_PORT_ANNOTATION in annotations or INJECTED_ANNOTATION in annotations
    return annotated or any(c.get("name") == SIDECAR_CONTAINER for c in containers)


def inbound_port(pod: Obj, default: int = DEFAULT_INBOUND_PORT) -> int:
    """The sidecar's inbound port: the pod's annotation if it is a valid port, else ``default``."""
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(INBOUND_PORT_ANNOTATION)
    if text is None:
        return default
    if isinstance(text, str) and text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    log.warning("pod %s/%s: %s=%r is not a port; using %d", *key_of(pod), INBOUND_PORT_ANNOTATION,
                text, default)  # fmt: skip
    return default


def _address(endpoint: Obj) -> str | None:
    """The endpoint's first address if it is an IP (FQDN endpoints are not pods)."""
    addresses = endpoint.get("addresses") or []
    try:
        return str(ipaddress.ip_address(addresses[0])) if addresses else None
    except ValueError:
        return None


def _service_of(endpoint_slice: Obj) -> str:
    labels = (endpoint_slice.get("metadata") or {}).get("labels") or {}
    return str(labels.get(SERVICE_NAME_LABEL) or "")


def _pods_of(endpoint_slice: Obj) -> set[ObjKey]:
    """The pods the slice's endpoints name."""
    namespace, endpoints = key_of(endpoint_slice)[0], endpoint_slice.get("endpoints") or []
    return {(namespace, str((e.get("targetRef") or {}).get("name"))) for e in endpoints}


class EndpointIndex:
    """The last known Services, EndpointSlices and Pods, and the instances they make.

    The instances are kept per slice and only the slices an event touches are made again: pods
    change status often, and remaking every instance of a large cluster on each change would
    hold the event loop (2000 endpoints: ~240 ms a change; per slice, well under a millisecond).
    """

    def __init__(self, trust_domain: str, default_port: int = DEFAULT_INBOUND_PORT) -> None:
        self.trust_domain = trust_domain
        self.default_port = default_port
        self.objects: dict[str, dict[ObjKey, Obj]] = {"Service": {}, "EndpointSlice": {}, "Pod": {}}
        self._made: dict[ObjKey, dict[InstanceKey, Registration]] = {}  # per slice
        self._dirty: set[ObjKey] | None = None  # slices to make again; None: all of them
        self._slices_of_pod: dict[ObjKey, set[ObjKey]] = {}

    def replace(self, kind: str, items: Iterable[Obj]) -> None:
        """Forgets every object of ``kind`` and knows ``items`` instead (after a list)."""
        self.objects[kind] = {key_of(obj): obj for obj in items}
        self._dirty = None
        if kind == "EndpointSlice":
            self._slices_of_pod = {}
            for key, endpoint_slice in self.objects[kind].items():
                self._link(key, set(), _pods_of(endpoint_slice))

    def apply(self, kind: str, event: str, obj: Obj) -> None:
        """Applies one watch event (ADDED, MODIFIED or DELETED) of ``kind``."""
        if event not in ("ADDED", "MODIFIED", "DELETED"):
            return
        key = key_of(obj)
        old = self.objects[kind].pop(key, None)
        if event != "DELETED":
            self.objects[kind][key] = obj
        if kind == "EndpointSlice":
            self._link(
                key, _pods_of(old) if old else set(), _pods_of(obj) if event != "DELETED" else set()
            )
        if self._dirty is None:
            return
        if kind == "EndpointSlice":
            self._dirty.add(key)
        elif kind == "Service":
            slices = self.objects["EndpointSlice"]
            self._dirty.update(k for k, s in slices.items() if (k[0], _service_of(s)) == key)
        elif kind == "Pod":
            self._dirty.update(self._slices_of_pod.get(key, ()))

    def _link(self, endpoint_slice: ObjKey, old: set[ObjKey], new: set[ObjKey]) -> None:
        """Keeps which slices name which pod, so a pod's change remakes only those."""
        for pod in old - new:
            linked = self._slices_of_pod.get(pod, set())
            linked.discard(endpoint_slice)
            if not linked:
                self._slices_of_pod.pop(pod, None)
        for pod in new - old:
            self._slices_of_pod.setdefault(pod, set()).add(endpoint_slice)

    def instances(self) -> dict[InstanceKey, Registration]:
        """Every instance the objects make, keyed as the registry keys them."""
        slices = self.objects["EndpointSlice"]
        dirty = set(slices) | set(self._made) if self._dirty is None else self._dirty
        for key in dirty:
            if key in slices:
                self._made[key] = self._slice_instances(slices[key])
            else:
                self._made.pop(key, None)
        self._dirty = set()
        found: dict[InstanceKey, Registration] = {}
        for made in self._made.values():
            found.update(made)
        return found

    def _slice_instances(self, endpoint_slice: Obj) -> dict[InstanceKey, Registration]:
        namespace, service = key_of(endpoint_slice)[0], _service_of(endpoint_slice)
        found: dict[InstanceKey, Registration] = {}
        if not service or (namespace, service) not in self.objects["Service"]:
            return found
        for endpoint in endpoint_slice.get("endpoints") or []:
            made = self._instance(namespace, service, endpoint)
            if made is not None:
                found[made[0]] = made[1]
        return found

    def _instance(
        self, namespace: str, service: str, endpoint: Obj
    ) -> tuple[InstanceKey, Registration] | None:
        target = endpoint.get("targetRef") or {}
        pod = self.objects["Pod"].get((namespace, str(target.get("name") or "")))
        address = _address(endpoint)
        if target.get("kind") != "Pod" or pod is None or address is None or not _meshed(pod):
            return None
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            return None  # terminating: it leaves now, not when the slice catches up
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        try:
            identity = spiffe_id(self.trust_domain, namespace, account)
        except InvalidSpiffeId as exc:
            log.warning("pod %s/%s skipped: %s", namespace, key_of(pod)[1], exc)
            return None
        ready = (endpoint.get("conditions") or {}).get("ready") is not False
        registration = Registration(
            service=service,
            namespace=namespace,
            labels=dict((pod.get("metadata") or {}).get("labels") or {}),
            address=address,
            port=inbound_port(pod, self.default_port),
            ready=ready,
        )
        return (identity, address, registration.port), registration
