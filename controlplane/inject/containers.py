"""The containers injection adds: the proxy as a native sidecar and the iptables init container.

Both run the glassmesh image. The proxy runs as uid 1337, which the transparent mode's OUTPUT
redirect skips, so the proxy's own connections (to peers, the control plane and the collector)
are not sent back to itself.
"""

from __future__ import annotations

from typing import Any

SIDECAR_NAME = "glassmesh-proxy"
INIT_NAME = "glassmesh-init"
PROXY_UID = 1337
OUTBOUND_PORT, INBOUND_PORT, ADMIN_PORT = 15001, 15006, 15000
CONFIG_DIR = "/etc/glassmesh"
CONFIG_FILE = f"{CONFIG_DIR}/sidecar.yaml"
CA_FILE = f"{CONFIG_DIR}/ca.pem"
TOKEN_DIR = "/var/run/secrets/glassmesh"
STATE_DIR = "/var/lib/glassmesh"
# An exec probe: the admin API listens on loopback only, which the kubelet cannot reach.
READY_COMMAND = [
    "python",
    "-c",
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{ADMIN_PORT}/ready', "
    "timeout=2)",
]
_DROP_ALL = {"drop": ["ALL"]}
_RUNTIME_DEFAULT = {"type": "RuntimeDefault"}  # with the above, PodSecurity "restricted" holds


def sidecar_container(image: str, control_plane_url: str) -> dict[str, Any]:
    """The proxy: an init container with restartPolicy Always whose startup probe holds the app
    containers back until the proxy's /ready answers."""
    return {
        "name": SIDECAR_NAME,
        "image": image,
        "restartPolicy": "Always",
        "args": [
            "sidecar", "--config", CONFIG_FILE, "--control-plane", control_plane_url,
            "--token-file", f"{TOKEN_DIR}/token", "--ca-file", CA_FILE,
            "--advertise-address", "$(POD_IP)",
        ],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": "glassmesh-in", "containerPort": INBOUND_PORT, "protocol": "TCP"}],
        "startupProbe": {
            "exec": {"command": list(READY_COMMAND)},
            "periodSeconds": 1, "timeoutSeconds": 3, "failureThreshold": 120,
        },
        "readinessProbe": {
            "exec": {"command": list(READY_COMMAND)}, "periodSeconds": 10, "timeoutSeconds": 3,
        },
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
        "securityContext": {
            "runAsUser": PROXY_UID, "runAsGroup": PROXY_UID, "runAsNonRoot": True,
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": _DROP_ALL, "seccompProfile": _RUNTIME_DEFAULT,
        },
        "volumeMounts": [
            {"name": "glassmesh-config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "glassmesh-token", "mountPath": TOKEN_DIR, "readOnly": True},
            {"name": "glassmesh-state", "mountPath": STATE_DIR},
        ],
    }  # fmt: skip


def iptables_rules(app_port: int) -> list[str]:
    """The nat rules of transparent mode: every outbound TCP connection of the pod (but the
    proxy's own and loopback ones) to the outbound listener, and inbound connections to the app
    port to the inbound listener."""
    nat = "iptables -t nat"
    return [
        f"{nat} -N GLASSMESH_OUTPUT",
        f"{nat} -A OUTPUT -p tcp -j GLASSMESH_OUTPUT",
        f"{nat} -A GLASSMESH_OUTPUT -m owner --uid-owner {PROXY_UID} -j RETURN",
        f"{nat} -A GLASSMESH_OUTPUT -d 127.0.0.1/32 -j RETURN",
        f"{nat} -A GLASSMESH_OUTPUT -p tcp -j REDIRECT --to-ports {OUTBOUND_PORT}",
        f"{nat} -N GLASSMESH_INBOUND",
        f"{nat} -A PREROUTING -p tcp -j GLASSMESH_INBOUND",
        f"{nat} -A GLASSMESH_INBOUND -p tcp --dport {app_port} -j REDIRECT --to-ports "
        f"{INBOUND_PORT}",
    ]


def init_container(app_port: int, image: str) -> dict[str, Any]:
    """Sets the transparent mode's redirects, then exits; runs as root with NET_ADMIN only."""
    script = "set -e\n" + "\n".join(iptables_rules(app_port)) + "\n"
    return {
        "name": INIT_NAME,
        "image": image,
        "command": ["sh", "-c", script],
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi"},
        },
        "securityContext": {
            "runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        },
    }  # fmt: skip


def proxy_env() -> list[dict[str, str]]:
    """What sends an app's HTTP clients through the outbound listener (both spellings: curl
    reads only the lower-case http_proxy, Go and Python read either)."""
    proxy = f"http://127.0.0.1:{OUTBOUND_PORT}"
    no_proxy = "localhost,127.0.0.1"
    return [
        {"name": "HTTP_PROXY", "value": proxy},
        {"name": "http_proxy", "value": proxy},
        {"name": "NO_PROXY", "value": no_proxy},
        {"name": "no_proxy", "value": no_proxy},
    ]
