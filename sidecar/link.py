"""The sidecar's link to the control plane: its certificate, its config and its registration.

Owns the CertificateAgent (workload certificate, rotated at half life), the ConfigClient (the
config stream), the ReadinessProbe of the local app, and the last good snapshot on disk. Start-up
order: get a certificate; apply the saved snapshot, if any, so routing works before the control
plane answers (or while it is down); then, once the listeners are bound, open the stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.api.resources.policies import peer_mode
from controlplane.api.sidecar import ControlPlaneConfig, SidecarConfig
from controlplane.api.snapshot import Registration, Snapshot
from controlplane.api.telemetry import TelemetryRule
from sidecar import snapshot_file, tasks
from sidecar.agent import (
    AgentSettings,
    CertificateAgent,
    CertificateError,
    HttpsRequester,
    IssuedCertificate,
)
from sidecar.authz import Authorizer
from sidecar.backoff import Backoff
from sidecar.config_client import ConfigClient, Rejected, StreamSettings
from sidecar.readiness import ReadinessProbe
from sidecar.tables import SnapshotRejected
from sidecar.transport.tls import TlsMaterialError, load_pem

if TYPE_CHECKING:
    from sidecar.routing import RouteTable
    from sidecar.tables import Tables

log = logging.getLogger("glassmesh.sidecar.link")
STATE_DIR = "glassmesh-state"


class LinkError(Exception):
    """The link cannot start: bad control-plane settings, or no certificate."""


class ControlPlaneLink:
    """Everything the sidecar gets from, and tells, the control plane."""

    def __init__(
        self,
        config: SidecarConfig,
        base_dir: Path,
        contexts: list[ssl.SSLContext],
        tables: Tables,
        swap: Callable[[RouteTable, Authorizer | None, str], None],
        *,
        backoff: Backoff | None = None,
        on_telemetry: Callable[[list[TelemetryRule]], None] | None = None,
    ) -> None:
        """``contexts`` get every certificate installed; ``swap`` puts a new route table in
        force; ``on_telemetry`` gets each snapshot's Telemetry rules. Raises LinkError if the
        control plane's CA file cannot be loaded."""
        cp = config.control_plane
        assert cp is not None
        self.config = config
        self.snapshot: Snapshot | None = None
        self.snapshot_path = _snapshot_path(config, cp, base_dir)
        self.identity_path = self.snapshot_path.with_suffix(".identity.json")
        self._tables = tables
        self._swap = swap
        self._on_telemetry = on_telemetry
        self._contexts = contexts
        self._inbound: tuple[str, int] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        try:
            request = HttpsRequester(cp.url, base_dir / cp.ca_file)
        except CertificateError as exc:
            raise LinkError(str(exc)) from None
        self._contexts.append(request.ssl)  # renewals and the stream present our certificate
        settings = AgentSettings(
            url=cp.url,
            identity=config.identity,
            token_file=base_dir / cp.token_file if cp.token_file else None,
            token=cp.token,
            backoff=backoff or Backoff(),
        )
        self.agent = CertificateAgent(settings, self._install, request)
        self.probe = ReadinessProbe(config.readiness, config.app, self._readiness_changed)
        self.client = ConfigClient(
            StreamSettings(cp.url, ping_s=cp.ping_s),
            request.ssl,
            self._registration,
            self._apply_or_reject,
        )

    async def start(self) -> None:
        """Gets the first certificate and applies the saved snapshot. Raises LinkError."""
        try:
            await self.agent.start()
        except CertificateError as exc:
            if exc.status is not None or not self._restore_identity():
                raise LinkError(f"control_plane: {exc}") from None
            log.warning("control plane unreachable (%s): starting on the saved certificate", exc)
        saved = snapshot_file.load(self.snapshot_path)
        if saved is not None:
            try:
                self.apply(saved, persist=False)
                log.info("started on the saved config (version %d)", saved.version)
            except SnapshotRejected as exc:
                log.warning("the saved config %s is not usable: %s", self.snapshot_path, exc)

    def connect(self, inbound: tuple[str, int]) -> None:
        """Starts probing the app and the config stream; ``inbound`` is where peers reach us."""
        self._inbound = inbound
        self.probe.start()
        self.client.start()

    async def withdraw(self) -> None:
        """Tells the control plane we take no new requests (the sidecar is stopping), so peers
        stop picking us before our listeners close."""
        await self.probe.close()
        await self.client.readiness_changed(False)

    async def close(self) -> None:
        """Stops the stream, the probe and certificate rotation. Idempotent."""
        await self.client.close()
        await self.probe.close()
        await self.agent.close()
        await tasks.cancel(list(self._tasks))

    def apply(self, snapshot: Snapshot, *, persist: bool = True) -> None:
        """Puts ``snapshot`` in force, all or nothing, and saves it. Raises SnapshotRejected."""
        plan = self._tables.prepare(snapshot)
        self._check_trust(snapshot.trust_bundle_pem)
        policies = snapshot.authorization_policies
        authorizer = Authorizer(policies, self.config.namespace, self.config.labels)
        mode = peer_mode(snapshot.peer_authentications, self.config.namespace, self.config.labels)
        self._swap(plan.commit(), None if authorizer.empty else authorizer, mode)
        if self._on_telemetry is not None:
            self._on_telemetry(snapshot.telemetry)
        self.snapshot = snapshot
        if persist:
            try:
                snapshot_file.save(self.snapshot_path, snapshot)
            except OSError as exc:
                log.warning("cannot save the config to %s: %s", self.snapshot_path, exc.strerror)

    def _apply_or_reject(self, snapshot: Snapshot) -> None:
        try:
            self.apply(snapshot)
        except SnapshotRejected as exc:
            raise Rejected(str(exc)) from None

    def _check_trust(self, bundle_pem: str) -> None:
        """Adds roots the snapshot trusts that our certificate's bundle did not have yet."""
        current = self.agent.current
        if not bundle_pem or current is None or bundle_pem.encode() == current.trust_bundle_pem:
            return
        try:
            load_pem(self._contexts, current.chain_pem, current.key_pem, bundle_pem.encode())
        except TlsMaterialError as exc:
            raise SnapshotRejected(f"trust_bundle_pem: {exc}") from None

    def _install(self, issued: IssuedCertificate) -> None:
        """New connections (both directions) use ``issued``; open ones keep theirs. It is saved
        for a restart while the control plane is down."""
        load_pem(self._contexts, issued.chain_pem, issued.key_pem, issued.trust_bundle_pem)
        saved = snapshot_file.SavedIdentity(
            chain_pem=issued.chain_pem.decode(),
            key_pem=issued.key_pem.decode(),
            trust_bundle_pem=issued.trust_bundle_pem.decode(),
        )
        try:
            snapshot_file.save_identity(self.identity_path, saved)
        except OSError as exc:
            log.warning("cannot save the certificate to %s: %s", self.identity_path, exc.strerror)

    def _restore_identity(self) -> bool:
        """Installs the saved certificate if it is still ours and valid; returns whether."""
        saved = snapshot_file.load_identity(self.identity_path)
        if saved is None:
            return False
        try:
            self.agent.restore(
                saved.chain_pem.encode(), saved.key_pem.encode(), saved.trust_bundle_pem.encode()
            )
        except CertificateError as exc:
            log.warning("the saved certificate %s is not usable: %s", self.identity_path, exc)
            return False
        return True

    def _registration(self) -> Registration:
        assert self._inbound is not None
        address, port = self._inbound
        return Registration(
            service=self.config.service,
            namespace=self.config.namespace,
            labels=dict(self.config.labels),
            address=self.config.advertise_address or address,
            port=port,
            ready=self.probe.ready,
        )

    def _readiness_changed(self, ready: bool) -> None:
        task = asyncio.get_running_loop().create_task(self.client.readiness_changed(ready))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def prometheus_lines(self) -> list[str]:
        """The link's lines of ``/stats/prometheus``."""
        client = self.client
        version = -1 if self.snapshot is None else self.snapshot.version
        return [
            f"glassmesh_sidecar_certificate_rotations_total {self.agent.rotations}",
            f"glassmesh_sidecar_certificate_renewal_failures_total {self.agent.renewal_failures}",
            f"glassmesh_sidecar_control_plane_connected {int(client.connected)}",
            f"glassmesh_sidecar_control_plane_connects_total {client.connects}",
            f"glassmesh_sidecar_config_applied_total {client.applied}",
            f"glassmesh_sidecar_config_rejected_total {client.rejected}",
            f"glassmesh_sidecar_config_version {version}",
            f"glassmesh_sidecar_app_ready {int(self.probe.ready)}",
        ]


def _snapshot_path(config: SidecarConfig, cp: ControlPlaneConfig, base_dir: Path) -> Path:
    """``snapshot_file``, or one per namespace, service and labels beside the config file."""
    if cp.snapshot_file is not None:
        return base_dir / cp.snapshot_file
    stem = f"{config.namespace}.{config.service}"
    if config.labels:
        labels = ",".join(f"{k}={v}" for k, v in sorted(config.labels.items()))
        stem += "." + hashlib.sha256(labels.encode()).hexdigest()[:8]
    return base_dir / STATE_DIR / f"{stem}.json"
