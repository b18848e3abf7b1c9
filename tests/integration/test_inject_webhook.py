"""The injection webhook over real HTTPS: the API server's AdmissionReview in, a JSON Patch out
that makes the same pod as ``glassmesh inject`` does by hand, served with a certificate from the
control plane's CA valid for its Kubernetes Service name."""

from __future__ import annotations

import base64
import copy
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonpatch
import pytest
import yaml

from controlplane.cli import main
from controlplane.server import ControlPlane, ControlPlaneSettings

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "inject"
SERVICE_NAME = "glassmesh-controlplane.glassmesh-system.svc"


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[tuple[ControlPlane, str]]:
    settings = ControlPlaneSettings(
        data_dir=tmp_path / "data", port=0, dns_names=(SERVICE_NAME,),
        metrics_listen=("127.0.0.1", 0),
    )  # fmt: skip
    control = ControlPlane(settings)
    url = await control.start()
    yield control, url
    await control.shutdown()


async def review(url: str, data_dir: Path, body: Any) -> tuple[int, Any]:
    """POSTs to /inject as the API server does: trusting the caBundle, checking the Service name."""
    ctx = ssl.create_default_context(cafile=data_dir / "ca" / "ca.pem")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/inject", data=body if isinstance(body, bytes) else None,
                     json=None if isinstance(body, bytes) else body, ssl=ctx,
                     server_hostname=SERVICE_NAME) as resp,
    ):  # fmt: skip
        return resp.status, await resp.json()


def admission(pod: dict[str, Any], namespace: str = "shop", kind: str = "Pod") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "4b5e7a9c-0d1f-4e3a-9b2c-1a2b3c4d5e6f",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "object": pod,
        },
    }


def manual_injection(tmp_path: Path, ca_file: Path) -> dict[str, Any]:
    """The golden Deployment injected by ``glassmesh inject`` with the running plane's CA."""
    out = tmp_path / "injected.yaml"
    args = ["inject", "-f", str(GOLDEN / "deployment.yaml"), "--ca-file", str(ca_file)]
    assert main([*args, "-o", str(out)]) == 0
    return dict(next(yaml.safe_load_all(out.read_text())))


async def test_webhook_patch_makes_the_pod_manual_injection_makes(
    plane: tuple[ControlPlane, str], tmp_path: Path
) -> None:
    control, url = plane
    data_dir = control.settings.data_dir
    deployment = yaml.safe_load((GOLDEN / "deployment.yaml").read_text().split("---")[0])
    template = deployment["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": "reviews-v1-7d9c-", "namespace": "shop",
                        "labels": {**template["metadata"]["labels"], "pod-template-hash": "7d9c"}},
           "spec": copy.deepcopy(template["spec"])}  # fmt: skip

    status, answer = await review(url, data_dir, admission(pod))

    assert status == 200
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == "4b5e7a9c-0d1f-4e3a-9b2c-1a2b3c4d5e6f" and response["allowed"]
    assert response["patchType"] == "JSONPatch"
    patch = jsonpatch.JsonPatch.from_string(base64.b64decode(response["patch"]).decode())
    patched = patch.apply(pod)
    manual = manual_injection(tmp_path, data_dir / "ca" / "ca.pem")["spec"]["template"]
    assert patched["spec"] == manual["spec"]
    assert patched["metadata"]["annotations"] == manual["metadata"]["annotations"]
    assert patched["metadata"]["labels"]["pod-template-hash"] == "7d9c"

    # The pod comes back to the webhook on a retry: already injected, so no second sidecar.
    status, answer = await review(url, data_dir, admission(patched))
    assert status == 200 and "patch" not in answer["response"]
    assert control.injector.counters.injected == 1
    assert control.injector.counters.skipped == 1


async def test_webhook_refuses_a_pod_it_cannot_inject_and_skips_other_kinds(
    plane: tuple[ControlPlane, str],
) -> None:
    control, url = plane
    data_dir = control.settings.data_dir
    pod = {"metadata": {"labels": {"app": "cart"}}, "spec": {"containers": [{"name": "c"}]}}
    status, answer = await review(url, data_dir, admission(pod))
    assert status == 200 and answer["response"]["allowed"] is False
    assert "spec.containers[0].ports" in answer["response"]["status"]["message"]

    status, answer = await review(url, data_dir, admission({"spec": {}}, kind="Service"))
    assert status == 200 and answer["response"] == {
        "uid": "4b5e7a9c-0d1f-4e3a-9b2c-1a2b3c4d5e6f", "allowed": True,
    }  # fmt: skip
    assert (control.injector.counters.denied, control.injector.counters.skipped) == (1, 1)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}, "apiVersion"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}},
         "request.uid"),
    ],
)  # fmt: skip
async def test_malformed_review_gets_400_and_is_counted(
    plane: tuple[ControlPlane, str], body: Any, reason: str
) -> None:
    control, url = plane
    status, answer = await review(url, control.settings.data_dir, body)
    assert status == 400 and reason in answer["error"]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{control.metrics_url}/metrics") as resp,
    ):
        metrics = await resp.text()
    assert 'glassmesh_controlplane_sidecar_injections_total{result="bad_request"} 1\n' in metrics
    assert 'glassmesh_controlplane_sidecar_injections_total{result="injected"} 0\n' in metrics
