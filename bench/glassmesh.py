"""The glassmesh pair: two ``glassmesh sidecar`` processes speaking mTLS to each other.

The client sidecar's outbound listener takes ``Host: server`` requests and sends them to cluster
``server`` (the server sidecar's inbound listener); the server sidecar forwards to nginx.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from bench.prereqs import CLIENT_ID, SERVER_ID
from bench.procs import PROXY_CORE, Proc, ProcessGroup, wait_http_ok, wait_port

READY_TIMEOUT_S = 20.0


# Like for like with the Envoy pair, which keeps no access log and exports nothing; what telemetry
# costs is bench.telemetry's figure.
NO_TELEMETRY = {"enabled": False}


def _listeners(ports: tuple[int, int, int]) -> dict[str, Any]:
    outbound, inbound, admin = ports
    return {
        "outbound": {"address": "127.0.0.1", "port": outbound},
        "inbound": {"address": "127.0.0.1", "port": inbound},
        "admin": {"address": "127.0.0.1", "port": admin},
    }


def _tls(cert_dir: Path, stem: str) -> dict[str, str]:
    return {
        "cert": str(cert_dir / f"{stem}.pem"),
        "key": str(cert_dir / f"{stem}-key.pem"),
        "ca_bundle": str(cert_dir / "ca.pem"),
    }


def client_config(cert_dir: Path, ports: tuple[int, int, int], server_inbound: int) -> Any:
    """The client sidecar: no local app to speak of, one mTLS cluster ``server``."""
    return {
        "service": "client",
        "identity": CLIENT_ID,
        "app": {"address": "127.0.0.1", "port": 1},
        "tls": _tls(cert_dir, "client"),
        "listeners": _listeners(ports),
        "telemetry": NO_TELEMETRY,
        "clusters": [
            {
                "name": "server",
                "identity": SERVER_ID,
                "tls": "mtls",
                "endpoints": [{"address": "127.0.0.1", "port": server_inbound}],
            }
        ],
    }


def server_config(cert_dir: Path, ports: tuple[int, int, int], app_port: int) -> Any:
    """The server sidecar: nginx as its local app, no clusters."""
    return {
        "service": "server",
        "identity": SERVER_ID,
        "app": {"address": "127.0.0.1", "port": app_port},
        "tls": _tls(cert_dir, "server"),
        "listeners": _listeners(ports),
        "telemetry": NO_TELEMETRY,
    }


def with_policies(client: dict[str, Any], server: dict[str, Any]) -> None:
    """What the issue's policy figure asks for, added to the pair's configs: a route table of 100
    routes with retries (99 that never match come first, so every request is checked against
    all), a TrafficPolicy's settings on the cluster (least request, outlier detection, circuit
    breakers), and an ALLOW AuthorizationPolicy of 20 rules whose last one admits the client."""
    entries = [
        {
            "route": "bench/routes",
            "rule": i,
            "match": {"path": {"type": "PathPrefix", "value": f"/never-{i:02d}"}},
            "backends": [{"cluster": "server"}],
            "retry": {"attempts": 2, "codes": [503]},
        }
        for i in range(99)
    ]
    entries.append(
        {**entries[0], "rule": 99, "match": {"path": {"type": "PathPrefix", "value": "/"}}}
    )
    client["virtual_hosts"] = [{"name": "server", "hosts": ["server"], "routes": entries}]
    cluster = client["clusters"][0]
    cluster["load_balancer"] = {"policy": "least_request"}
    cluster["outlier_detection"] = {"consecutive_5xx": 5}
    cluster["circuit_breakers"] = {"max_connections": 1024, "max_pending_requests": 1024}
    rules = [
        {"from": [{"source": {"principals": [f"cluster.local/ns/default/sa/other-{i}"]}}]}
        for i in range(19)
    ]
    rules.append({"from": [{"source": {"principals": [CLIENT_ID.removeprefix("spiffe://")]}}]})
    server["authorization_policies"] = [
        {
            "apiVersion": "glassmesh.io/v1alpha1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "bench", "namespace": "default"},
            "spec": {"action": "ALLOW", "rules": rules},
        }
    ]


def start_sidecar(group: ProcessGroup, name: str, config: Any, directory: Path) -> Proc:
    """Write ``<name>.yaml`` and start ``glassmesh sidecar --config`` on core 0."""
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [sys.executable, "-m", "controlplane.cli", "sidecar", "--config", str(path)]
    return group.start(name, argv, core=PROXY_CORE)


def start_glassmesh_pair(
    group: ProcessGroup, directory: Path, app_port: int, ports: list[int], *, policies: bool = False
) -> tuple[list[Proc], int]:
    """Start the server sidecar then the client sidecar (with ``policies``: with_policies);
    return both and the outbound port."""
    client_ports = (ports[0], ports[1], ports[2])
    server_ports = (ports[3], ports[4], ports[5])
    server = server_config(directory, server_ports, app_port)
    client = client_config(directory, client_ports, server_inbound=server_ports[1])
    if policies:
        with_policies(client, server)
    proc_s = start_sidecar(group, "glassmesh-server", server, directory)
    proc_c = start_sidecar(group, "glassmesh-client", client, directory)
    procs = [proc_c, proc_s]
    try:
        for admin in (client_ports[2], server_ports[2]):
            wait_http_ok(procs, f"http://127.0.0.1:{admin}/ready", READY_TIMEOUT_S)
        wait_port(proc_c, client_ports[0])
    except BaseException:
        group.stop(procs)
        raise
    return procs, client_ports[0]
