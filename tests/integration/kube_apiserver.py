"""A minimal kube-apiserver for tests: the REST wire format of the calls the control plane makes.

No real kube-apiserver can be installed here (no Debian or PyPI package ships one), so this
speaks just enough of it, following the API conventions, for the real kubernetes_asyncio client:

- HTTPS (a serving certificate from a test CA) and bearer-token authentication (401 Status);
- list: ``GET <collection>`` -> ``{"kind": "<Kind>List", "metadata": {"resourceVersion"},
  "items"}``, every object carrying its ``metadata.resourceVersion`` (one global counter, as
  etcd's revision);
- watch: ``?watch=true&resourceVersion=N[&allowWatchBookmarks=true][&timeoutSeconds=S]`` -> a
  chunked stream of JSON lines ``{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object"}``
  with every event after N, then live ones until S seconds have passed; a version older than
  the compacted one gets one ERROR event holding a 410 ``Expired`` Status, and the stream ends;
- ``POST /apis/authentication.k8s.io/v1/tokenreviews``: a TokenReview answered from the tokens
  the test registered, audiences intersected as the API server does;
- ``POST /api/v1/namespaces/{ns}/events``: an Event recorded (201).

Test-side controls: ``put``/``delete`` objects (each a watch event), ``put_silently`` (a change
whose event is lost to compaction) and ``compact`` (forget history and end open watches).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from controlplane import ca

Obj = dict[str, Any]
MAX_WATCH_S = 60.0

# collection path -> (kind, apiVersion)
COLLECTIONS = {
    "/api/v1/services": ("Service", "v1"),
    "/api/v1/pods": ("Pod", "v1"),
    "/apis/discovery.k8s.io/v1/endpointslices": ("EndpointSlice", "discovery.k8s.io/v1"),
    "/apis/gateway.networking.k8s.io/v1/httproutes": ("HTTPRoute", "gateway.networking.k8s.io/v1"),
    **{
        f"/apis/glassmesh.io/v1alpha1/{plural}": (kind, "glassmesh.io/v1alpha1")
        for kind, plural in (
            ("TrafficPolicy", "trafficpolicies"),
            ("AuthorizationPolicy", "authorizationpolicies"),
            ("PeerAuthentication", "peerauthentications"),
            ("Telemetry", "telemetries"),
            ("Fault", "faults"),
        )
    },
}


def status(code: int, reason: str, message: str) -> Obj:
    """A metav1.Status, as the API server answers errors."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


@dataclass
class ServiceAccountToken:
    """A token the test minted: whose it is and for which audiences."""

    namespace: str
    name: str
    audiences: list[str]


@dataclass
class FakeApiServer:
    """The state and HTTPS server of the fake API server."""

    directory: Path
    bearer: str = field(default_factory=lambda: uuid.uuid4().hex)
    revision: int = 0
    compacted: int = 0
    epoch: int = 0  # bumped by compact(): a watch opened in an older epoch ends
    objects: dict[str, dict[tuple[str, str], Obj]] = field(default_factory=dict)
    history: list[tuple[int, str, str, Obj]] = field(default_factory=list)  # rv, path, type, obj
    tokens: dict[str, ServiceAccountToken] = field(default_factory=dict)
    events: list[Obj] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # "GET /api/v1/pods?watch=true..."
    expired: int = 0  # watches answered with 410 Expired
    failures: dict[str, int] = field(default_factory=dict)  # path -> requests still to fail
    url: str = ""
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None
    _authority: ca.Authority | None = None

    # --- test-side controls -------------------------------------------------------------
    async def put(self, path: str, obj: Obj) -> Obj:
        """Creates or replaces an object (ADDED or MODIFIED); returns it as stored."""
        stored, event = self._write(path, obj)
        self.history.append((self.revision, path, event, stored))
        await self._notify()
        return stored

    async def put_silently(self, path: str, obj: Obj) -> None:
        """A write whose watch event is lost: then ``compact`` makes it reachable by list only."""
        self._write(path, obj)

    async def delete(self, path: str, namespace: str, name: str) -> None:
        """Deletes an object (DELETED, carrying its last state with a new resourceVersion)."""
        obj = self.objects.get(path, {}).pop((namespace, name))
        self.revision += 1
        gone = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.revision)}}
        self.history.append((self.revision, path, "DELETED", gone))
        await self._notify()

    async def compact(self) -> None:
        """Forgets every event up to now (as etcd compaction) and ends the open watches, whose
        next resourceVersion is then too old."""
        self.compacted = self.revision
        self.epoch += 1
        self.history.clear()
        await self._notify()

    def fail(self, path: str, times: int) -> None:
        """The next ``times`` requests to ``path`` get a 500 InternalError Status."""
        self.failures[path] = times

    def mint(self, namespace: str, name: str, audiences: list[str]) -> str:
        """A JWT-shaped token for a service account (what the kubelet projects)."""
        header = base64.urlsafe_b64encode(b'{"alg":"RS256"}').rstrip(b"=").decode()
        claims = {"sub": f"system:serviceaccount:{namespace}:{name}", "aud": audiences}
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        token = f"{header}.{body}.{uuid.uuid4().hex}"
        self.tokens[token] = ServiceAccountToken(namespace, name, audiences)
        return token

    def kubeconfig(self, path: Path) -> Path:
        """Writes a kubeconfig for this server (CA data, bearer token); returns its path."""
        assert self._authority is not None
        ca_data = base64.b64encode(self._authority.trust_bundle().pem()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {"server": self.url, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": "controlplane", "user": {"token": self.bearer}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "controlplane"}}],
            "current-context": "test",
        }
        path.write_text(json.dumps(config))
        return path

    # --- server ---------------------------------------------------------------------------
    async def start(self) -> str:
        self._authority = ca.load_or_create_root(self.directory / "ca", "apiserver.test")
        issued = ca.issue_serving(
            self._authority, "spiffe://apiserver.test/ns/x/sa/x", ["127.0.0.1"]
        )
        cert, key = self.directory / "tls.pem", self.directory / "tls-key.pem"
        cert.write_bytes(issued.chain_pem())
        key.write_bytes(issued.key_pem())
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_post("/apis/authentication.k8s.io/v1/tokenreviews", self._token_review)
        app.router.add_post("/api/v1/namespaces/{namespace}/events", self._event)
        for path in COLLECTIONS:
            app.router.add_get(path, self._collection)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.1
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"https://127.0.0.1:{port}"
        return self.url

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _write(self, path: str, obj: Obj) -> tuple[Obj, str]:
        kind, api_version = COLLECTIONS[path]
        meta = obj["metadata"]
        key = (meta.get("namespace", "default"), meta["name"])
        old = self.objects.setdefault(path, {}).get(key)
        self.revision += 1
        stored = {
            "apiVersion": api_version,
            "kind": kind,
            **obj,
            "metadata": {
                "namespace": key[0],
                **meta,
                "uid": old["metadata"]["uid"] if old else str(uuid.uuid4()),
                "resourceVersion": str(self.revision),
                "generation": old["metadata"]["generation"] + 1 if old else 1,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            },
        }
        self.objects[path][key] = stored
        return stored, "MODIFIED" if old else "ADDED"

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        if request.headers.get("Authorization") != f"Bearer {self.bearer}":
            return web.json_response(status(401, "Unauthorized", "Unauthorized"), status=401)
        if self.failures.get(request.path, 0) > 0:
            self.failures[request.path] -= 1
            return web.json_response(status(500, "InternalError", "etcd timeout"), status=500)
        response: web.StreamResponse = await handler(request)
        return response

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        if _flag(request.query.get("watch")):
            return await self._watch(request)
        kind, api_version = COLLECTIONS[request.path]
        items = sorted(self.objects.get(request.path, {}).items())
        return web.json_response(
            {
                "kind": f"{kind}List",
                "apiVersion": api_version,
                "metadata": {"resourceVersion": str(self.revision)},
                "items": [obj for _, obj in items],
            }
        )

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or self.revision)
        timeout_s = min(float(request.query.get("timeoutSeconds") or MAX_WATCH_S), MAX_WATCH_S)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if since < self.compacted:
            message = f"too old resource version: {since} ({self.compacted})"
            await _send(response, "ERROR", status(410, "Expired", message))
            self.expired += 1
            return response
        loop = asyncio.get_running_loop()
        deadline, epoch = loop.time() + timeout_s, self.epoch
        while loop.time() < deadline and epoch == self.epoch:
            pending = [e for e in self.history if e[0] > since and e[1] == request.path]
            for rv, _, event, obj in pending:
                await _send(response, event, obj)
                since = rv
            if pending:
                continue  # more may have come while we wrote
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
        if _flag(request.query.get("allowWatchBookmarks")) and epoch == self.epoch:
            kind, api_version = COLLECTIONS[request.path]
            bookmark = {
                "kind": kind,
                "apiVersion": api_version,
                "metadata": {"resourceVersion": str(since)},
            }
            await _send(response, "BOOKMARK", bookmark)
        return response

    async def _token_review(self, request: web.Request) -> web.Response:
        review = await request.json()
        if (
            review.get("kind") != "TokenReview"
            or review.get("apiVersion") != "authentication.k8s.io/v1"
        ):
            return web.json_response(status(400, "BadRequest", "not a TokenReview"), status=400)
        spec = review.get("spec") or {}
        wanted = spec.get("audiences") or ["https://kubernetes.default.svc"]
        found = self.tokens.get(spec.get("token", ""))
        review_status: Obj
        if found is None:
            review_status = {"authenticated": False, "error": "invalid bearer token"}
        elif not set(found.audiences) & set(wanted):
            error = (
                f"token audiences {found.audiences} is invalid for the target audiences {wanted}"
            )
            review_status = {"authenticated": False, "error": error}
        else:
            user = {
                "username": f"system:serviceaccount:{found.namespace}:{found.name}",
                "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, found.name)),
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{found.namespace}"],
            }
            audiences = [a for a in wanted if a in found.audiences]
            review_status = {"authenticated": True, "user": user, "audiences": audiences}
        answer = {**review, "metadata": {"creationTimestamp": None}, "status": review_status}
        return web.json_response(answer, status=201)

    async def _event(self, request: web.Request) -> web.Response:
        event = await request.json()
        meta = event.get("metadata") or {}
        name = meta.get("name") or f"{meta.get('generateName', 'event.')}{uuid.uuid4().hex[:5]}"
        self.revision += 1
        stored = {
            **event,
            "metadata": {**meta, "name": name, "resourceVersion": str(self.revision)},
        }
        self.events.append(stored)
        return web.json_response(stored, status=201)


def _flag(value: str | None) -> bool:
    """A boolean query parameter as the API server reads it (Go's strconv.ParseBool)."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


async def _send(response: web.StreamResponse, event: str, obj: Obj) -> None:
    await response.write(json.dumps({"type": event, "object": obj}).encode() + b"\n")
