"""A running sidecar: builds clusters and listeners from its config, serves until SIGTERM, then
drains in-flight requests (bounded) and exits.

Its TLS material and routing come from files (standalone), or from the control plane through a
ControlPlaneLink (``sidecar.link``): the first certificate and the saved config are in place
before any listener binds; the certificate is rotated into the same contexts
(``sidecar.transport.tls``) and new config swapped into the outbound route table while the
sidecar runs."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import uvloop
from aiohttp import web

from controlplane.api.resources.policies import peer_mode
from controlplane.api.sidecar import Address, ClusterConfig, EndpointConfig, SidecarConfig
from controlplane.api.snapshot import Snapshot
from sidecar import tasks
from sidecar.admin import make_app
from sidecar.authz import Authorizer
from sidecar.http1.codec import DecoderLimits
from sidecar.inbound import InboundPolicy
from sidecar.mirror import STATS as MIRRORS
from sidecar.outbound import OutboundPolicy
from sidecar.routing import RouteTable
from sidecar.tables import SnapshotRejected, Tables
from sidecar.transport.downstream import DownstreamConnection
from sidecar.transport.listener import ListenerContext, Policy, Timeouts
from sidecar.transport.pool import Cluster, ClusterSettings, Endpoint
from sidecar.transport.sniff import SniffingListener
from sidecar.transport.tls import (
    TlsMaterialError,
    client_context,
    load_files,
    not_after,
    peer_spiffe_id,
    server_context,
)
from sidecar.tuning import tune_allocator, tune_gc

if TYPE_CHECKING:
    # The link (and cryptography, ~7 MB of RSS) is loaded only with a control plane; a sidecar
    # on files never pays for it.
    from sidecar.backoff import Backoff
    from sidecar.link import ControlPlaneLink
    from sidecar.telemetry.service import Telemetry

log = logging.getLogger("glassmesh.sidecar")


MESH_HEADROOM_FIELDS = 8
MESH_HEADROOM_BYTES = 2048


class SidecarStartError(Exception):
    """The sidecar cannot start: bad TLS material, no certificate from the control plane, or a
    port it cannot bind."""


class Sidecar:
    """One sidecar's listeners, clusters and admin API on the running event loop."""

    def __init__(
        self, config: SidecarConfig, base_dir: Path, *, backoff: Backoff | None = None
    ) -> None:
        """``backoff``: retry delays after a failed certificate renewal (1 s .. 60 s)."""
        self.config = config
        self.base_dir = base_dir
        self.started = False
        self.draining = False
        limits = config.limits
        self._decoder_limits = DecoderLimits(
            max_head_bytes=limits.max_request_headers_kb * 1024,
            max_headers=limits.max_request_headers,
            max_target_bytes=limits.max_request_line_kb * 1024,
        )
        # Listeners and clusters hold these two objects for good; rotation reloads them.
        self._server_ssl = server_context()
        self._client_ssl = client_context()
        self._file_not_after: float | None = None
        self._admin_token = self._read_admin_token()
        self.tables = Tables(config.clusters, self._cluster)
        self.outbound = OutboundPolicy(self.tables.table)
        self.telemetry = self._telemetry()
        self.link = self._identity(backoff)
        self.app_cluster = self._make_cluster("inbound|app", [config.app])
        self.inbound = InboundPolicy(self.app_cluster, config.identity)
        self._contexts: dict[str, ListenerContext] = {}
        self._servers: dict[str, asyncio.Server | SniffingListener] = {}
        self.sniffer: SniffingListener | None = None
        self.peer_mode = "STRICT"  # PeerAuthentication: from the file or the control plane
        if self.link is None:
            self._static_policies()
        self._admin: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def ready(self) -> bool:
        """Serving, not draining, and (with a control plane) on some config from it."""
        routed = self.link is None or self.link.snapshot is not None
        return self.started and not self.draining and routed

    def _telemetry(self) -> Telemetry | None:
        """Spans, metrics and access logs (ADR 0005); not loaded at all when turned off."""
        if not self.config.telemetry.enabled:
            return None
        from sidecar.telemetry.service import Telemetry

        return Telemetry(self.config)

    def _identity(self, backoff: Backoff | None) -> ControlPlaneLink | None:
        """Load the TLS files now, or return the link that will get a certificate."""
        tls, control_plane = self.config.tls, self.config.control_plane
        if control_plane is not None:
            from sidecar.link import ControlPlaneLink, LinkError

            contexts = [self._server_ssl, self._client_ssl]
            try:
                telemetry = self.telemetry.apply if self.telemetry is not None else None
                return ControlPlaneLink(
                    self.config,
                    self.base_dir,
                    contexts,
                    self.tables,
                    self._swap,
                    backoff=backoff,
                    on_telemetry=telemetry,
                )
            except LinkError as exc:
                raise SidecarStartError(str(exc)) from None
        if tls is None:
            raise SidecarStartError("tls: the sidecar needs tls (files) or control_plane")
        try:
            load_files((self._server_ssl, self._client_ssl), tls, self.base_dir)
        except (TlsMaterialError, OSError, ValueError) as exc:
            raise SidecarStartError(str(exc)) from None
        return None

    def _static_policies(self) -> None:
        """Standalone mode: the file's virtual hosts and inbound policies, checked as a pushed
        snapshot would be. Raises SidecarStartError."""
        config = self.config
        try:
            plan = self.tables.prepare(Snapshot(version=0, virtual_hosts=config.virtual_hosts))
        except SnapshotRejected as exc:
            raise SidecarStartError(f"virtual_hosts: {exc}") from None
        authorizer = Authorizer(config.authorization_policies, config.namespace, config.labels)
        mode = peer_mode(config.peer_authentications, config.namespace, config.labels)
        self._swap(plan.commit(), None if authorizer.empty else authorizer, mode)

    def _swap(self, table: RouteTable, authorizer: Authorizer | None, peer_mode: str) -> None:
        """Puts new config in force: each policy's reference is replaced in one assignment."""
        self.outbound.table = table
        self.inbound.authorizer = authorizer
        self.peer_mode = peer_mode
        if self.sniffer is not None:
            self.sniffer.mode = peer_mode

    def certificate_seconds_left(self) -> float:
        """Seconds until our workload certificate expires (negative once it has)."""
        if self.link is not None:
            return self.link.agent.seconds_left()
        if self._file_not_after is None:  # read once, on the first scrape, not at start-up
            assert self.config.tls is not None
            self._file_not_after = not_after((self.base_dir / self.config.tls.cert).read_bytes())
        return self._file_not_after - time.time()

    def prometheus_lines(self) -> list[str]:
        """The sidecar-wide lines of ``/stats/prometheus``: certificate, control plane, telemetry,
        refused plaintext and mirrored requests."""
        lines = [
            f"glassmesh_sidecar_certificate_expiry_seconds {self.certificate_seconds_left():.3f}"
        ]
        if self.link is not None:
            lines += self.link.prometheus_lines()
        if self.telemetry is not None:
            lines += self.telemetry.prometheus_lines()
        if self.sniffer is not None:
            refused = self.sniffer.plaintext_refused
            lines.append(f"glassmesh_sidecar_inbound_plaintext_refused_total {refused}")
        mirrors = MIRRORS
        lines += [
            f'glassmesh_sidecar_mirror_requests_total{{outcome="{outcome}"}} {count}'
            for outcome, count in (
                ("sent", mirrors.sent), ("failed", mirrors.failed), ("dropped", mirrors.dropped)
            )
        ]  # fmt: skip
        return lines

    def _read_admin_token(self) -> bytes | None:
        if self.config.admin_token_file is None:
            return None
        try:
            token = (self.base_dir / self.config.admin_token_file).read_bytes().strip()
        except OSError as exc:
            raise SidecarStartError(f"admin_token_file: cannot read: {exc.strerror}") from None
        if not token:
            raise SidecarStartError("admin_token_file: the file is empty")
        return token

    def _cluster(self, cfg: ClusterConfig) -> Cluster:
        mtls = cfg.tls == "mtls"
        settings = ClusterSettings(
            name=cfg.name,
            # A subset cluster (reviews|v2) is still the service reviews to TLS.
            server_name=cfg.hosts[0] if cfg.hosts else cfg.name.split("|", 1)[0],
            ssl=self._client_ssl if mtls else None,
            expected_ids=cfg.accepted_identities() if mtls else None,
            connect_timeout_s=cfg.connect_timeout_s or self.config.timeouts.connect_s,
            max_idle=self.config.limits.max_idle_connections_per_endpoint,
            limits=self._decoder_limits,
            load_balancer=cfg.load_balancer,
            circuit_breakers=cfg.circuit_breakers,
            outlier_detection=cfg.outlier_detection,
            panic_threshold_percent=cfg.panic_threshold_percent,
        )
        return Cluster(settings, [Endpoint(e.address, e.port) for e in cfg.endpoints])

    def _make_cluster(self, name: str, endpoints: Sequence[EndpointConfig | Address]) -> Cluster:
        """The plaintext cluster of the local app."""
        settings = ClusterSettings(
            name=name,
            ssl=None,
            expected_ids=None,
            connect_timeout_s=self.config.timeouts.connect_s,
            max_idle=self.config.limits.max_idle_connections_per_endpoint,
            limits=self._decoder_limits,
        )
        return Cluster(settings, [Endpoint(e.address, e.port) for e in endpoints])

    def _context(self, name: str, policy: Policy, mtls: bool) -> ListenerContext:
        t = self.config.timeouts
        limits = self._decoder_limits
        if mtls:
            # A peer sidecar adds a few fields of its own (x-request-id, x-forwarded-proto) to
            # what its app sent within the limits; leave room for them.
            limits = DecoderLimits(
                max_head_bytes=limits.max_head_bytes + MESH_HEADROOM_BYTES,
                max_headers=limits.max_headers + MESH_HEADROOM_FIELDS,
                max_target_bytes=limits.max_target_bytes,
            )
        ctx = ListenerContext(
            name=name,
            loop=asyncio.get_running_loop(),
            policy=policy,
            timeouts=Timeouts(t.header_read_s, t.idle_s, t.request_s),
            decoder_limits=limits,
            buffer_bytes=self.config.limits.buffer_kb * 1024,
            require_peer_id=mtls,
            peer_id_of=lambda tr: peer_spiffe_id(tr.get_extra_info("peercert")),
        )
        if self.telemetry is not None:
            # Plaintext admitted on the inbound port (PERMISSIVE) is inbound traffic too.
            inbound = policy is self.inbound
            ctx.telemetry = self.telemetry.inbound if inbound else self.telemetry.outbound
        self._contexts[name] = ctx
        return ctx

    async def start(self) -> None:
        """Get the first certificate (with ``control_plane``), then bind every listener and the
        admin API. Raises SidecarStartError if either fails."""
        if self.link is not None:
            from sidecar.link import LinkError

            try:
                await self.link.start()
            except LinkError as exc:
                raise SidecarStartError(str(exc)) from None
        if self.telemetry is not None:
            self.telemetry.start()
        outbound = self._context("outbound", self.outbound, mtls=False)
        listeners = self.config.listeners
        await self._listen(outbound, listeners.outbound.address, listeners.outbound.port)
        await self._listen_inbound(listeners.inbound.address, listeners.inbound.port)
        self._admin = web.AppRunner(
            make_app(self, self._admin_token), access_log=None, handle_signals=False
        )
        await self._admin.setup()
        site = web.TCPSite(self._admin, listeners.admin.address, listeners.admin.port)
        try:
            await site.start()
        except OSError as exc:
            raise SidecarStartError(f"listeners.admin: cannot bind: {exc.strerror}") from None
        for ctx in self._contexts.values():
            self._tasks.append(asyncio.get_running_loop().create_task(ctx.run_sweeper()))
        if self.link is not None:
            host, port = self._servers["inbound"].sockets[0].getsockname()[:2]
            self.link.connect((host, port))
        self.started = True

    async def _listen(self, ctx: ListenerContext, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                lambda: DownstreamConnection(ctx), host, port, backlog=1024
            )
        except OSError as exc:
            raise SidecarStartError(f"listeners.{ctx.name}: cannot bind: {exc.strerror}") from None
        self._servers[ctx.name] = server

    async def _listen_inbound(self, host: str, port: int) -> None:
        """mTLS from peers, and plaintext as PeerAuthentication allows (PERMISSIVE, DISABLE),
        on one port: the first byte tells them apart."""
        mtls = self._context("inbound", self.inbound, mtls=True)
        plain = self._context("inbound-plaintext", self.inbound, mtls=False)
        sniffer = SniffingListener(
            self._server_ssl,
            lambda: DownstreamConnection(mtls),
            lambda: DownstreamConnection(plain),
            sniff_timeout_s=self.config.timeouts.header_read_s,
        )
        try:
            await sniffer.start(host, port)
        except OSError as exc:
            raise SidecarStartError(f"listeners.inbound: cannot bind: {exc.strerror}") from None
        sniffer.mode = self.peer_mode
        self.sniffer = sniffer
        self._servers["inbound"] = sniffer

    def bound_addresses(self) -> dict[str, str]:
        """Where each listener actually listens (ports chosen at bind time when 0)."""
        out: dict[str, str] = {}
        for name, server in self._servers.items():
            host, port = server.sockets[0].getsockname()[:2]
            out[name] = f"{host}:{port}"
        if self._admin is not None:
            for addr in self._admin.addresses:
                out["admin"] = f"{addr[0]}:{addr[1]}"
        return out

    def all_clusters(self) -> list[Cluster]:
        return [*self.tables.clusters(), self.app_cluster]

    def listener_contexts(self) -> list[ListenerContext]:
        return list(self._contexts.values())

    async def shutdown(self) -> None:
        """Stop accepting, drain in-flight requests within ``timeouts.drain_s``, close all.
        Idempotent."""
        if self.draining:
            return
        self.draining = True
        if self.link is not None:
            await self.link.withdraw()
        for server in self._servers.values():
            server.close()
        if self.link is not None:
            await self.link.close()
        await asyncio.gather(
            *(ctx.drain(self.config.timeouts.drain_s) for ctx in self._contexts.values())
        )
        await tasks.cancel(self._tasks)
        for cluster in self.all_clusters():
            await cluster.close()
        if self.telemetry is not None:
            await self.telemetry.close()  # after the drain: the last exchanges are exported
        if self._admin is not None:
            await self._admin.cleanup()


async def serve(config: SidecarConfig, base_dir: Path) -> None:
    """Run a sidecar until SIGTERM or SIGINT, then shut it down gracefully."""
    sidecar = Sidecar(config, base_dir)
    await sidecar.start()
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("sidecar %s ready: %s", config.service, sidecar.bound_addresses())
    await stop.wait()
    log.info("draining")
    await sidecar.shutdown()


def run(config: SidecarConfig, base_dir: Path) -> None:
    """Run a sidecar process on uvloop. Raises SidecarStartError if it cannot start."""
    tune_allocator()
    uvloop.run(serve(config, base_dir))
