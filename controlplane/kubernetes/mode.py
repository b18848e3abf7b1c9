"""Kubernetes mode at run time: the client, the watches, TokenReviews and Events.

``KubernetesMode`` owns one kubernetes_asyncio ApiClient (configured from a kubeconfig file, or
in-cluster from the pod's service account), one watcher task per resource type, and the tasks
that post Events about rejected CRs. ``shutdown()`` cancels and awaits every task, then closes
the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.config.config_exception import ConfigException

from controlplane.kubernetes import KubernetesSettings, KubernetesStartError, ReviewUnavailable
from controlplane.kubernetes.endpoints import EndpointIndex, Obj
from controlplane.kubernetes.registry import KubernetesRegistry
from controlplane.kubernetes.resources import WATCHED_KINDS, Rejection, ResourceSync
from controlplane.kubernetes.tokenreview import review
from controlplane.kubernetes.watch import Watcher
from controlplane.store import Store

log = logging.getLogger("glassmesh.controlplane.kubernetes")
COMPONENT = "glassmesh-controlplane"
MAX_PENDING_EVENTS = 64  # Events being posted at once; past that, a rejection is only logged


class _Endpoints:
    """The watch handler of Services, EndpointSlices or Pods: each change re-syncs the registry.

    A sync is a pass over every slice, cheap next to the network; the registry notices only
    what changed."""

    def __init__(self, kind: str, index: EndpointIndex, registry: KubernetesRegistry) -> None:
        self.kind, self.index, self.registry = kind, index, registry

    def replace(self, items: list[Obj]) -> None:
        self.index.replace(self.kind, items)
        self.registry.sync(self.index.instances())

    def apply(self, event: str, obj: Obj) -> None:
        self.index.apply(self.kind, event, obj)
        self.registry.sync(self.index.instances())


class KubernetesMode:
    """The control plane's Kubernetes mode (see controlplane.kubernetes.Kubernetes)."""

    def __init__(
        self,
        settings: KubernetesSettings,
        trust_domain: str,
        store: Store,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.trust_domain = trust_domain
        self.registry = KubernetesRegistry(clock)
        self.index = EndpointIndex(trust_domain, settings.default_inbound_port)
        self.syncs = {k.kind: ResourceSync(k.kind, store, self._report) for k in WATCHED_KINDS}
        # A route may name a subset whose TrafficPolicy comes later (kinds list in any order).
        self.syncs["TrafficPolicy"].on_stored = self.syncs["HTTPRoute"].retry
        self.watchers: list[Watcher] = []
        self._api: client.ApiClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._events: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Loads the client configuration and starts every watch. Raises KubernetesStartError."""
        self._api = client.ApiClient(await self._configuration())
        core, discovery = client.CoreV1Api(self._api), client.DiscoveryV1Api(self._api)
        custom = client.CustomObjectsApi(self._api)
        endpoint_sources: list[tuple[str, Any]] = [
            ("Service", core.list_service_for_all_namespaces),
            ("EndpointSlice", discovery.list_endpoint_slice_for_all_namespaces),
            ("Pod", core.list_pod_for_all_namespaces),
        ]
        self.watchers = [
            Watcher(kind, lister, _Endpoints(kind, self.index, self.registry), self.settings)
            for kind, lister in endpoint_sources
        ]
        self.watchers += [
            Watcher(
                k.kind,
                functools.partial(custom.list_cluster_custom_object, k.group, k.version, k.plural),
                self.syncs[k.kind],
                self.settings,
            )
            for k in WATCHED_KINDS
        ]
        self._tasks = [asyncio.create_task(w.run(), name=f"watch {w.name}") for w in self.watchers]

    async def _configuration(self) -> client.Configuration:
        configuration = client.Configuration()
        kubeconfig = self.settings.kubeconfig
        if kubeconfig is not None and not kubeconfig.is_file():  # the library's word is vaguer
            raise KubernetesStartError(f"cannot configure the Kubernetes client: no {kubeconfig}")
        try:
            if self.settings.kubeconfig is None:
                # the library leaves this one untyped
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            else:
                await config.load_kube_config(
                    config_file=str(self.settings.kubeconfig),
                    context=self.settings.context,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (ConfigException, OSError, ValueError, KeyError, yaml.YAMLError) as exc:
            where = self.settings.kubeconfig or "in-cluster service account"
            message = f"cannot configure the Kubernetes client ({where}): {exc}"
            raise KubernetesStartError(message) from None
        return configuration

    async def shutdown(self) -> None:
        """Stops every watch and Event post, then closes the client. Idempotent."""
        tasks, self._tasks = [*self._tasks, *self._events], []
        self._events = set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        api, self._api = self._api, None
        if api is not None:
            await api.close()

    async def authenticate(self, token: str) -> str:
        """The SPIFFE ID a projected service-account token proves (one TokenReview)."""
        if self._api is None:
            raise ReviewUnavailable("Kubernetes mode is not started")
        api = client.AuthenticationV1Api(self._api)
        return await review(api, token, self.settings.audience, self.trust_domain)

    def status(self) -> dict[str, Any]:
        """What each watch has done and which CRs are rejected now, for the status API."""
        return {
            "watches": {w.name: vars(w.stats) for w in self.watchers},
            "rejected": [
                {"kind": r.kind, "namespace": r.namespace, "name": r.name, "error": r.text()}
                for sync in self.syncs.values()
                for r in sync.rejected.values()
            ],
            "rejections_total": sum(sync.rejections for sync in self.syncs.values()),
        }

    def _report(self, obj: Obj, rejection: Rejection) -> None:
        """Posts a Warning Event about a rejected CR, as ``kubectl describe`` shows it."""
        if self._api is None or len(self._events) >= MAX_PENDING_EVENTS:
            return
        task = asyncio.get_running_loop().create_task(self._post_event(obj, rejection))
        self._events.add(task)
        task.add_done_callback(self._events.discard)

    async def _post_event(self, obj: Obj, rejection: Rejection) -> None:
        meta = obj.get("metadata") or {}
        now = dt.datetime.now(dt.UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(
                generate_name=f"{rejection.name}.", namespace=rejection.namespace
            ),
            involved_object=client.V1ObjectReference(
                api_version=obj.get("apiVersion"),
                kind=rejection.kind,
                name=rejection.name,
                namespace=rejection.namespace,
                uid=meta.get("uid"),
                resource_version=meta.get("resourceVersion"),
            ),
            reason="Rejected",
            message=f"not applied, the last good version stays: {rejection.text()}"[:1024],
            type="Warning",
            source=client.V1EventSource(component=COMPONENT),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        try:
            await client.CoreV1Api(self._api).create_namespaced_event(rejection.namespace, event)
        except (client.ApiException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("cannot post an Event about %s %s: %s", rejection.kind, rejection.name, exc)
