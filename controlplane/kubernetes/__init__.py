"""Kubernetes mode: the API server as the source of endpoints, mesh resources and identities.

This package's top level is the interface the rest of the control plane sees, and it imports no
Kubernetes client: ``glassmesh controlplane`` without ``--kubernetes`` never loads one. The parts
that talk to the API server (``mode``, ``watch``, ``tokenreview``) use kubernetes_asyncio and are
imported only when Kubernetes mode is switched on.

- endpoints: Services, EndpointSlices (discovery.k8s.io/v1) and Pods become registry instances
  (``endpoints.py``, ``registry.py``), by list + watch with resourceVersion (``watch.py``);
- mesh resources: glassmesh.io CRs and Gateway API HTTPRoutes go through the resources API's
  validation into its store (``resources.py``);
- identity: a projected service-account token (audience ``glassmesh``) is the credential of a
  CSR, checked with a TokenReview (``tokenreview.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

AUDIENCE = "glassmesh"
INBOUND_PORT_ANNOTATION = "sidecar.glassmesh.io/inbound-port"
INJECTED_ANNOTATION = "sidecar.glassmesh.io/status"  # set by injection (controlplane.inject)
DEFAULT_INBOUND_PORT = 15006


@dataclass(frozen=True)
class KubernetesSettings:
    """How the control plane reaches the API server and reads what it finds there."""

    kubeconfig: Path | None = None  # None: the in-cluster service account
    context: str | None = None  # a kubeconfig context other than the current one
    audience: str = AUDIENCE  # a workload token must be minted for this audience
    default_inbound_port: int = DEFAULT_INBOUND_PORT  # unless the pod's annotation says another
    watch_timeout_s: float = 300.0  # the server ends each watch after this; we resume from there
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


class KubernetesStartError(Exception):
    """The client cannot be configured (a bad kubeconfig, or not in a pod): the user's to fix."""


class TokenRejected(Exception):
    """A workload's token does not prove an identity (the workload's fault). The message is the
    reason, safe to send back to the workload: it names no secret."""


class ReviewUnavailable(Exception):
    """The API server could not review a token now (not the workload's fault: it may retry)."""


class Kubernetes(Protocol):
    """What the control plane server uses of Kubernetes mode."""

    async def start(self) -> None:
        """Starts the watches; returns once they run (not once they have synced)."""

    async def shutdown(self) -> None:
        """Stops the watches and closes the client. Idempotent."""

    async def authenticate(self, token: str) -> str:
        """The SPIFFE ID a service-account token proves; raises TokenRejected or
        ReviewUnavailable. Blocks on one TokenReview round trip."""
        ...

    def status(self) -> dict[str, Any]:
        """What each watch has done and which CRs are rejected now (JSON-ready)."""
        ...
