"""The mesh resources the demo applies through the control plane's resources API: what every run
needs (100% trace sampling; plaintext allowed into the frontend, the shop's entry, as into an
ingress) and the scenarios a user picks with ``--scenario``."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiohttp

GLASSMESH = "glassmesh.io/v1alpha1"
GATEWAY = "gateway.networking.k8s.io/v1"
Resource = dict[str, Any]

BASE: list[Resource] = [
    {
        "apiVersion": GLASSMESH,
        "kind": "Telemetry",
        "metadata": {"name": "demo-sample-everything", "namespace": "glassmesh-system"},
        "spec": {"tracing": [{"randomSamplingPercentage": 100}]},
    },
    {
        "apiVersion": GLASSMESH,
        "kind": "PeerAuthentication",
        "metadata": {"name": "frontend-entry", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "frontend"}}, "mtls": {"mode": "PERMISSIVE"}},
    },
]


def _fault_on(service: str, name: str, spec: dict[str, Any]) -> list[Resource]:
    """A Fault and the HTTPRoute that applies it to every request for ``service``."""
    ref = {"group": "glassmesh.io", "kind": "Fault", "name": name}
    rule = {
        "filters": [{"type": "ExtensionRef", "extensionRef": ref}],
        "backendRefs": [{"name": service, "port": 80}],
    }
    return [
        {"apiVersion": GLASSMESH, "kind": "Fault", "metadata": {"name": name}, "spec": spec},
        {
            "apiVersion": GATEWAY,
            "kind": "HTTPRoute",
            "metadata": {"name": name},
            "spec": {
                "parentRefs": [{"group": "", "kind": "Service", "name": service}],
                "rules": [rule],
            },
        },
    ]


SCENARIOS: dict[str, tuple[str, list[Resource]]] = {
    "slow-inventory": (
        "every call to inventory is delayed 150 ms (a Fault with a fixed delay)",
        _fault_on("inventory", "slow-inventory", {"delay": {"fixedDelay": "150ms"}}),
    ),
    "failing-payments": (
        "20% of the calls to payments fail with 503 (a Fault with an abort)",
        _fault_on("payments", "failing-payments", {"abort": {"httpStatus": 503, "percentage": 20}}),
    ),
}


class ApplyFailed(Exception):
    """The control plane refused a resource (its message says which field)."""


async def apply(control_plane: str, cp_data: Path, resources: list[Resource]) -> None:
    """POST ``resources`` to the resources API with the admin token from ``cp_data``."""
    token = (cp_data / "admin-token").read_text().strip()
    context = ssl.create_default_context(cafile=cp_data / "ca" / "ca.pem")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{control_plane}/api/v1/resources",
            json=resources,
            headers={"Authorization": f"Bearer {token}"},
            ssl=context,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as resp,
    ):
        if resp.status != 200:
            raise ApplyFailed(f"HTTP {resp.status}: {(await resp.text())[:300]}")
