"""The demo's shop: which services it has, who calls whom, and the files each part starts from.

Every service is an app from deploy/demo behind a sidecar in control-plane mode: certificate and
routing from the control plane (join token), telemetry to the collector over OTLP/HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from controlplane.demo.procs import free_port
from controlplane.tokens import TokenAuthority

TRUST_DOMAIN = "cluster.local"
NAMESPACE = "default"
APPS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "demo"
# service -> the services it calls (the graph the demo must show)
CALLS: dict[str, tuple[str, ...]] = {
    "frontend": ("catalog", "cart", "checkout"),
    "catalog": (),
    "cart": (),
    "checkout": ("inventory", "payments"),
    "payments": (),
    "inventory": (),
}
SERVICES = tuple(CALLS)
EDGES = tuple((caller, callee) for caller, callees in CALLS.items() for callee in callees)
TOKEN_TTL_S = 24 * 3600.0


@dataclass(frozen=True)
class Workload:
    """One service of the shop: its app's port and its sidecar's listeners."""

    service: str
    app_port: int
    outbound_port: int
    inbound_port: int
    admin_port: int

    @property
    def proxy(self) -> str:
        """The HTTP proxy URL the app calls other services through."""
        return f"http://127.0.0.1:{self.outbound_port}"

    @property
    def app_argv(self) -> list[str]:
        return [str(APPS_DIR / f"{self.service}.py"), "--port", str(self.app_port)]


def workloads() -> list[Workload]:
    """Every service with free ports for its app and its sidecar."""
    return [
        Workload(service, free_port(), free_port(), free_port(), free_port())
        for service in SERVICES
    ]


def sidecar_yaml(w: Workload, control_plane: str, ca_file: Path, otlp: str) -> str:
    """The sidecar config of ``w``: control-plane mode, telemetry to ``otlp``."""
    return f"""service: {w.service}
identity: spiffe://{TRUST_DOMAIN}/ns/{NAMESPACE}/sa/{w.service}
namespace: {NAMESPACE}
labels: {{app: {w.service}, version: v1}}
app: {{address: 127.0.0.1, port: {w.app_port}}}
readiness: {{path: /healthz, interval_s: 1}}
listeners:
  outbound: {{address: 127.0.0.1, port: {w.outbound_port}}}
  inbound: {{address: 127.0.0.1, port: {w.inbound_port}}}
  admin: {{address: 127.0.0.1, port: {w.admin_port}}}
control_plane:
  url: {control_plane}
  ca_file: {ca_file}
  token_file: {w.service}.token
  snapshot_file: state/{w.service}.json
  ping_s: 2
telemetry:
  otlp_endpoint: {otlp}
  metrics_interval_s: 5
  access_log: errors
  access_log_otlp: true
timeouts: {{drain_s: 1}}
"""


def write_sidecar_files(
    work: Path, cp_data: Path, control_plane: str, otlp: str, shop: list[Workload]
) -> None:
    """Each sidecar's config and join token in ``work`` (tokens signed with the control plane's
    key in ``cp_data``, which must exist: start the control plane first)."""
    tokens = TokenAuthority.load_or_create(cp_data, TRUST_DOMAIN)
    ca_file = cp_data / "ca" / "ca.pem"
    for w in shop:
        token = tokens.issue(NAMESPACE, w.service, TOKEN_TTL_S, time.time())
        (work / f"{w.service}.token").write_text(token + "\n")
        (work / f"{w.service}.yaml").write_text(sidecar_yaml(w, control_plane, ca_file, otlp))
