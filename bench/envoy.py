"""The reference pair: two Envoy 1.40 processes (one worker each) speaking mTLS to each other.

envoy A (client side) takes plain HTTP and sends everything to cluster ``server`` over TLS with the
client certificate, checking the peer's URI SAN. envoy B (server side) requires a client
certificate with the client's URI SAN and forwards to nginx. Request ids are generated (Envoy's
default) because glassmesh adds x-request-id too; circuit breakers are raised so they never trip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.prereqs import CLIENT_ID, SERVER_ID
from bench.procs import PROXY_CORE, Proc, ProcessGroup, wait_http_ok, wait_port

Json = dict[str, Any]
_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_BREAKERS = {
    "thresholds": [
        {
            "max_connections": 100000,
            "max_pending_requests": 100000,
            "max_requests": 100000,
            "max_retries": 100000,
        }
    ]
}


def _socket(port: int) -> Json:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def _tls_context(cert_dir: Path, stem: str, peer_id: str) -> Json:
    """Our certificate and key, the mesh CA as trust anchor, and the peer's SPIFFE ID to match."""
    return {
        "tls_certificates": [
            {
                "certificate_chain": {"filename": str(cert_dir / f"{stem}.pem")},
                "private_key": {"filename": str(cert_dir / f"{stem}-key.pem")},
            }
        ],
        "validation_context": {
            "trusted_ca": {"filename": str(cert_dir / "ca.pem")},
            "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": peer_id}}],
        },
    }


def _listener(name: str, port: int, cluster: str, tls: Json | None) -> Json:
    """A listener with one HTTP connection manager routing every request to ``cluster``."""
    hcm = {
        "@type": _HCM + "HttpConnectionManager",
        "stat_prefix": name,
        "route_config": {
            "name": name,
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
                }
            ],
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    chain: Json = {
        "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]
    }
    if tls is not None:
        chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": tls}
    return {"name": name, "address": _socket(port), "filter_chains": [chain]}


def _cluster(name: str, port: int, tls: Json | None) -> Json:
    """A STATIC cluster with one endpoint on 127.0.0.1:``port``."""
    cluster: Json = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "5s",
        "circuit_breakers": _BREAKERS,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(port)}}]}],
        },
    }
    if tls is not None:
        cluster["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": tls}
    return cluster


def client_config(cert_dir: Path, admin: int, listen: int, server_port: int) -> Json:
    """envoy A: plain HTTP in on ``listen``, mTLS out to envoy B on ``server_port``."""
    common = _tls_context(cert_dir, "client", SERVER_ID)
    # Envoy's client side stops at TLS 1.2 by default; allow 1.3 as Python's ssl does.
    common["tls_params"] = {"tls_maximum_protocol_version": "TLSv1_3"}
    upstream = {"@type": _TLS + "UpstreamTlsContext", "common_tls_context": common}
    return {
        "admin": {"address": _socket(admin)},
        "static_resources": {
            "listeners": [_listener("outbound", listen, "server", None)],
            "clusters": [_cluster("server", server_port, upstream)],
        },
    }


def server_config(cert_dir: Path, admin: int, listen: int, app_port: int) -> Json:
    """envoy B: mTLS in on ``listen`` (client certificate required), plain HTTP to the app."""
    downstream = {
        "@type": _TLS + "DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": _tls_context(cert_dir, "server", CLIENT_ID),
    }
    return {
        "admin": {"address": _socket(admin)},
        "static_resources": {
            "listeners": [_listener("inbound", listen, "app", downstream)],
            "clusters": [_cluster("app", app_port, None)],
        },
    }


def start_envoy(
    group: ProcessGroup, binary: str, name: str, *, config: Json, directory: Path, base_id: int
) -> Proc:
    """Write ``config`` as JSON and start one Envoy with one worker on core 0."""
    path = directory / f"{name}.json"
    path.write_text(json.dumps(config, indent=1))
    argv = [binary, "-c", str(path), "--concurrency", "1", "--base-id", str(base_id)]
    return group.start(name, [*argv, "-l", "warning"], core=PROXY_CORE)


def start_envoy_pair(
    group: ProcessGroup, binary: str, directory: Path, app_port: int, ports: list[int]
) -> tuple[list[Proc], int]:
    """Start envoy B then envoy A; return both processes and the port to send requests to."""
    admin_a, listen_a, admin_b, listen_b = ports
    server = server_config(directory, admin_b, listen_b, app_port)
    client = client_config(directory, admin_a, listen_a, listen_b)
    proc_b = start_envoy(
        group, binary, "envoy-server", config=server, directory=directory, base_id=admin_b
    )
    proc_a = start_envoy(
        group, binary, "envoy-client", config=client, directory=directory, base_id=admin_a
    )
    procs = [proc_a, proc_b]
    try:
        for admin in (admin_a, admin_b):
            wait_http_ok(procs, f"http://127.0.0.1:{admin}/ready")
        wait_port(proc_a, listen_a)
        wait_port(proc_b, listen_b)
    except BaseException:
        group.stop(procs)
        raise
    return procs, listen_a
