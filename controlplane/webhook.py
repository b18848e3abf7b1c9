"""``POST /inject``: the mutating admission webhook that injects sidecars into new pods.

The API server sends an AdmissionReview (admission.k8s.io/v1) for each pod created in a
namespace labelled ``glassmesh-injection: enabled`` and gets one back whose response carries a
JSON Patch made by ``controlplane.inject``, the function ``glassmesh inject`` uses too. It is
served on the control plane's HTTPS listener with the serving certificate from its own CA, the
CA the MutatingWebhookConfiguration's caBundle holds. A pod that cannot be injected is refused
with the reason (the field at fault); a malformed review gets a 400, and both are counted.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from controlplane.inject import InjectError, InjectSettings, inject_pod, json_patch

log = logging.getLogger("glassmesh.controlplane.webhook")
WEBHOOK_PATH = "/inject"
BODY_LIMIT = 8 * 1024 * 1024  # a pod object, generously: the API server caps requests at 3 MiB
ADMISSION_V1 = "admission.k8s.io/v1"
ENV_IMAGE = "GLASSMESH_INJECT_IMAGE"
ENV_CONTROL_PLANE = "GLASSMESH_INJECT_CONTROL_PLANE"
ENV_COLLECTOR = "GLASSMESH_INJECT_COLLECTOR"


class BadReview(ValueError):
    """The request is not an AdmissionReview we can answer: the caller's fault."""


@dataclass
class WebhookCounters:
    """What the webhook did, for the control plane's metrics and for tests."""

    injected: int = 0
    skipped: int = 0  # not a pod, opted out, or injected already
    denied: int = 0  # a pod that cannot be injected
    bad_requests: int = 0

    def by_result(self) -> dict[str, int]:
        """The counts by the ``result`` label of glassmesh_controlplane_sidecar_injections_total."""
        return {"injected": self.injected, "skipped": self.skipped, "denied": self.denied,
                "bad_request": self.bad_requests}  # fmt: skip


def settings_from_env(
    env: Mapping[str, str], ca_bundle_pem: str, trust_domain: str
) -> InjectSettings:
    """Injection settings: the image, control plane URL and collector from the environment (the
    Deployment sets them), the CA bundle and trust domain from the control plane itself."""
    defaults = InjectSettings(image="", control_plane_url="", ca_bundle_pem="")
    collector = env.get(ENV_COLLECTOR, defaults.collector_otlp or "")
    return InjectSettings(
        image=env.get(ENV_IMAGE, "glassmesh:dev"),
        control_plane_url=env.get(
            ENV_CONTROL_PLANE, "https://glassmesh-controlplane.glassmesh-system.svc:15012"
        ),
        ca_bundle_pem=ca_bundle_pem,
        collector_otlp=None if collector in ("", "none") else collector,
        trust_domain=trust_domain,
    )


def _request(review: Any) -> dict[str, Any]:
    """The review's ``request``; raises BadReview naming what is wrong."""
    if not isinstance(review, dict):
        raise BadReview("expected an AdmissionReview object")
    if review.get("apiVersion") != ADMISSION_V1 or review.get("kind") != "AdmissionReview":
        raise BadReview(f"apiVersion/kind: expected {ADMISSION_V1} AdmissionReview")
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise BadReview("request.uid: expected a request with a uid")
    return request


class Injector:
    """Answers AdmissionReviews for pods with the injection patch."""

    def __init__(self, settings: InjectSettings) -> None:
        self.settings = settings
        self.counters = WebhookCounters()

    def review(self, request: dict[str, Any]) -> dict[str, Any]:
        """The AdmissionResponse to one request (allowed with a patch, allowed as it is, or
        refused with the reason); raises BadReview for a pod without an object."""
        answer: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        if (request.get("kind") or {}).get("kind") != "Pod" or request.get("operation") not in (
            None, "CREATE",
        ):  # fmt: skip
            self.counters.skipped += 1
            return answer
        pod = request.get("object")
        if not isinstance(pod, dict) or not isinstance(pod.get("spec"), dict):
            raise BadReview("request.object: expected a pod with a spec")
        metadata: dict[str, Any] = pod.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise BadReview("request.object.metadata: expected an object")
        namespace = request.get("namespace") or metadata.get("namespace") or "default"
        try:
            done = inject_pod(metadata, pod["spec"], namespace, self.settings)
        except InjectError as exc:
            self.counters.denied += 1
            message = f"glassmesh sidecar injection: {exc}"
            return {**answer, "allowed": False, "status": {"code": 400, "message": message}}
        if done is None:
            self.counters.skipped += 1
            return answer
        self.counters.injected += 1
        before = {"metadata": metadata, "spec": pod["spec"]}
        patch = json_patch(before, {"metadata": done[0], "spec": done[1]})
        encoded = base64.b64encode(json.dumps(patch).encode()).decode()
        return {**answer, "patchType": "JSONPatch", "patch": encoded}

    async def handle(self, request: web.Request) -> web.Response:
        """POST /inject: an AdmissionReview in, an AdmissionReview out."""
        body = await request.content.read(BODY_LIMIT + 1)
        try:
            if len(body) > BODY_LIMIT:
                raise BadReview("body too large")
            try:
                review = json.loads(body)
            except ValueError:
                raise BadReview("not valid JSON") from None
            response = self.review(_request(review))
        except BadReview as exc:
            self.counters.bad_requests += 1
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        if not response["allowed"]:
            log.info("injection refused: %s", response["status"]["message"])
        out = {"apiVersion": ADMISSION_V1, "kind": "AdmissionReview", "response": response}
        return web.json_response(out)


def register_injector(app: web.Application, ca_bundle_pem: str, trust_domain: str) -> Injector:
    """Serves the webhook on ``app`` at /inject; returns the injector (its counters)."""
    injector = Injector(settings_from_env(os.environ, ca_bundle_pem, trust_domain))
    app.router.add_post(WEBHOOK_PATH, injector.handle)
    return injector
