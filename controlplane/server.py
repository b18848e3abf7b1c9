"""``glassmesh controlplane``: the control plane's HTTPS API on 15012.

It issues workload certificates (a CSR plus a join token in, a chain and the trust bundle out; the
identity comes from the token, never from the CSR), serves the mesh resources API, and keeps the
service registry and the config stream (``/api/v1/stream``, a WebSocket for clients presenting a
workload certificate from our CA). Its CA, token keys, admin tokens and resources live under the
data directory, so a restart loses nothing but the in-memory registry, which sidecars refill by
re-registering. Its own serving certificate comes from its own CA.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
from aiohttp import web

from controlplane import ca
from controlplane.api.identity import CsrRequest, CsrResponse, peer_spiffe_id
from controlplane.auth import Forbidden, Scope, Unauthenticated, load_or_create_tokens
from controlplane.kubernetes import (
    Kubernetes,
    KubernetesSettings,
    ReviewUnavailable,
    TokenRejected,
)
from controlplane.metrics import ControlPlaneMetrics, serve_metrics
from controlplane.push import Pusher, serve_stream
from controlplane.registry import DEFAULT_LEASE_S, Registry
from controlplane.registry_journal import RegistryJournal
from controlplane.resources_api import make_resources_app
from controlplane.store import Store
from controlplane.tokens import PREFIX as JOIN_TOKEN_PREFIX
from controlplane.tokens import InvalidToken, TokenAuthority
from controlplane.webhook import register_injector

log = logging.getLogger("glassmesh.controlplane")
CSR_BODY_LIMIT = 64 * 1024
SERVER_IDENTITY = "spiffe://{td}/ns/glassmesh-system/sa/controlplane"
STREAM_MESSAGE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class ControlPlaneSettings:
    """Where the control plane keeps its state and listens."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 15012
    trust_domain: str = "cluster.local"
    workload_lifetime: dt.timedelta = ca.WORKLOAD_LIFETIME
    lease_s: float = DEFAULT_LEASE_S  # a registered instance not heard from for this long is gone
    kubernetes: KubernetesSettings | None = None  # Kubernetes mode (controlplane.kubernetes)
    metrics_listen: tuple[str, int] | None = None  # plain-HTTP /metrics (the CLI: 15014)
    dns_names: tuple[str, ...] = ()  # more serving certificate SANs (the Kubernetes Service)


class ControlPlane:
    """The state and HTTPS server of one control plane."""

    def __init__(self, settings: ControlPlaneSettings, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        data = settings.data_dir
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.authority = ca.load_or_create_root(data / "ca", settings.trust_domain)
        self.join_tokens = TokenAuthority.load_or_create(data, settings.trust_domain)
        self.store = Store(data)
        self.auth = load_or_create_tokens(data)
        self.journal = RegistryJournal(data)
        self.registry = Registry(clock, settings.lease_s, self.journal)
        self.kubernetes: Kubernetes | None = None
        if settings.kubernetes is not None:  # the API server is the registry's only writer
            from controlplane.kubernetes.mode import KubernetesMode

            mode = KubernetesMode(settings.kubernetes, settings.trust_domain, self.store, clock)
            self.kubernetes, self.registry = mode, mode.registry
        bundle = self.authority.trust_bundle().pem().decode()
        self.metrics = ControlPlaneMetrics(clock)
        self.metrics.root_expiry = (
            self.authority.root or self.authority.cert
        ).not_valid_after_utc.timestamp()
        self.pusher = Pusher(self.store, self.registry, bundle, self.metrics)
        if self.kubernetes is not None:
            self.metrics.kubernetes = self.kubernetes.status
        self.metrics_url: str | None = None
        self._metrics_runner: web.AppRunner | None = None
        self.app = make_resources_app(self.store, self.auth)
        self.app.router.add_post("/api/v1/certificates", self._sign)
        self.app.router.add_get("/api/v1/stream", self._stream)
        self.app.router.add_get("/api/v1/proxies", self._proxies)
        self.app.router.add_get("/api/v1/endpoints", self._endpoints)
        self.app.router.add_get("/api/v1/kubernetes", self._kubernetes_status)
        self.injector = register_injector(self.app, bundle, settings.trust_domain)
        self.metrics.injections = self.injector.counters.by_result
        self._runner: web.AppRunner | None = None

    def server_context(self) -> ssl.SSLContext:
        """A TLS context with a fresh serving certificate from our CA (SANs: our SPIFFE ID,
        localhost, 127.0.0.1 and the listen host). A client may present a certificate; if it
        does, it must chain to our trust bundle."""
        identity = SERVER_IDENTITY.format(td=self.settings.trust_domain)
        hosts = sorted({"localhost", "127.0.0.1", self.settings.host, *self.settings.dns_names})
        issued = ca.issue_serving(self.authority, identity, hosts)
        directory = self.settings.data_dir / "serving"
        directory.mkdir(mode=0o700, exist_ok=True)
        cert, key = directory / "server.pem", directory / "server-key.pem"
        cert.write_bytes(issued.chain_pem())
        key.touch(mode=0o600)
        key.write_bytes(issued.key_pem())
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(cadata=self.authority.trust_bundle().pem().decode())
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """GET /api/v1/stream: the config stream, for a client with a workload certificate."""
        identity = peer_identity(request, self.settings.trust_domain)
        if identity is None:
            return web.json_response({"error": "unauthenticated"}, status=401)
        ws = web.WebSocketResponse(autoping=False, max_msg_size=STREAM_MESSAGE_LIMIT)
        await ws.prepare(request)
        await serve_stream(self.pusher, ws, identity)
        return ws

    async def _proxies(self, request: web.Request) -> web.Response:
        """GET /api/v1/proxies: every connected proxy and what it was sent and acknowledged."""
        if refused := self._refused(request, "read"):
            return refused
        proxies = sorted(
            self.pusher.proxies.values(),
            key=lambda p: (p.registration.namespace, p.registration.service, p.key),
        )
        items = [p.status() for p in proxies]
        return web.json_response({"items": items, "version": self.pusher.version})

    async def _endpoints(self, request: web.Request) -> web.Response:
        """GET /api/v1/endpoints?service=&namespace=: registered instances, ready or not."""
        if refused := self._refused(request, "read"):
            return refused
        query, now = request.query, self.clock()
        found = self.registry.instances(query.get("service"), query.get("namespace"))
        items = [
            {"service": i.service, "namespace": i.namespace, "identity": i.identity,
             "address": i.address, "port": i.port, "labels": i.labels, "ready": i.ready,
             "lease_left_s": None if i.expires_at == math.inf
             else round(max(0.0, i.expires_at - now), 3)}
            for i in found
        ]  # fmt: skip
        return web.json_response({"items": items})

    async def _kubernetes_status(self, request: web.Request) -> web.Response:
        """GET /api/v1/kubernetes: the watches and the CRs rejected now (Kubernetes mode)."""
        if refused := self._refused(request, "read"):
            return refused
        if self.kubernetes is None:
            return web.json_response({"error": "not in Kubernetes mode"}, status=404)
        return web.json_response(self.kubernetes.status())

    def _refused(self, request: web.Request, scope: Scope) -> web.Response | None:
        """A 401 or 403 answer unless the request carries a token granting ``scope``."""
        try:
            self.auth.check(request.headers.get("Authorization"), scope)
        except Unauthenticated:
            headers = {"WWW-Authenticate": "Bearer"}
            return web.json_response({"error": "unauthenticated"}, status=401, headers=headers)
        except Forbidden:
            return web.json_response({"error": "forbidden"}, status=403)
        return None

    def _credential(self, request: web.Request, token: str) -> str | None:
        """The identity a certificate request proves: its join token's, or for a renewal (no
        token) the caller's current workload certificate's. None if it proves none."""
        if not token:
            return peer_identity(request, self.settings.trust_domain)
        try:
            return self.join_tokens.verify(token, now=self.clock()).spiffe_id()
        except InvalidToken as exc:
            log.info("certificate refused: %s", str(exc).encode("unicode_escape").decode())
            return None

    async def _reviewed(self, kubernetes: Kubernetes, token: str) -> str | web.Response:
        """The identity a service-account token proves, or the 401/503 answer saying why not."""
        try:
            return await kubernetes.authenticate(token)
        except TokenRejected as exc:
            log.info("certificate refused: %s", str(exc).encode("unicode_escape").decode())
            body = {"error": "unauthenticated", "reason": str(exc)}
            return web.json_response(body, status=401)
        except ReviewUnavailable as exc:
            log.warning("certificate not issued: %s", exc)
            body = {"error": "cannot review the token now", "reason": str(exc)}
            return web.json_response(body, status=503, headers={"Retry-After": "5"})

    async def _sign(self, request: web.Request) -> web.Response:
        """POST /api/v1/certificates: a CsrRequest in, a CsrResponse out."""
        body = await request.content.read(CSR_BODY_LIMIT + 1)
        if len(body) > CSR_BODY_LIMIT:
            return web.json_response({"error": "body too large"}, status=413)
        try:
            req = msgspec.json.decode(body, type=CsrRequest)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        identity: str | web.Response | None
        if self.kubernetes and req.token and not req.token.startswith(f"{JOIN_TOKEN_PREFIX}."):
            identity = await self._reviewed(self.kubernetes, req.token)  # a projected SA token
        else:
            identity = self._credential(request, req.token)
        if isinstance(identity, web.Response):
            return identity
        if identity is None:
            return web.json_response({"error": "unauthenticated"}, status=401)
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        try:
            issued = ca.sign_csr(
                self.authority,
                req.csr_pem.encode(),
                identity,
                self.settings.workload_lifetime,
                now,
            )
        except ca.CsrRejected as exc:
            return web.json_response({"error": f"csr rejected: {exc}"}, status=400)
        self.metrics.issued(identity, issued.expires_at.timestamp())
        answer = CsrResponse(
            chain_pem=issued.chain_pem().decode(),
            trust_bundle_pem=self.authority.trust_bundle().pem().decode(),
            expires_at=issued.expires_at.timestamp(),
        )
        return web.Response(body=msgspec.json.encode(answer), content_type="application/json")

    async def start(self) -> str:
        """Serve HTTPS; returns the base URL (the port is the bound one when 0 was asked)."""
        if self.kubernetes is not None:
            await self.kubernetes.start()  # a bad kubeconfig fails here, before we listen
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.settings.host, self.settings.port, ssl_context=self.server_context()
        )
        await site.start()
        self.pusher.start()
        if self.settings.metrics_listen is not None:
            self._metrics_runner, self.metrics_url = await serve_metrics(
                self.metrics, *self.settings.metrics_listen
            )
        host, port = self._runner.addresses[0][:2]
        return f"https://{host}:{port}"

    async def shutdown(self) -> None:
        """Stop pushing and serving and close the store. Idempotent."""
        if self.kubernetes is not None:
            await self.kubernetes.shutdown()
        await self.pusher.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
            self._metrics_runner = None
        self.store.close()
        self.journal.close()


def peer_identity(request: web.Request, trust_domain: str) -> str | None:
    """The SPIFFE ID of the client's verified certificate, a workload ID in our trust domain;
    None when there is no certificate or it is not a workload's."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    identity = peer_spiffe_id(cert if isinstance(cert, dict) else None)
    if identity is None or identity.trust_domain != trust_domain:
        return None
    return identity.uri()


async def serve(settings: ControlPlaneSettings) -> None:
    """Run until SIGTERM or SIGINT."""
    import signal

    plane = ControlPlane(settings)
    url = await plane.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    data = settings.data_dir
    log.info("control plane serving on %s", url)
    log.info("admin token: %s; CA bundle: %s", data / "admin-token", data / "ca" / "ca.pem")
    await stop.wait()
    await plane.shutdown()
