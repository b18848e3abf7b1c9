"""Sidecar injection: golden files (input YAML -> ``glassmesh inject`` output), the sidecar
config it writes decodes as a real one, the output passes ``kubernetes-validate --strict``, and
the error and opt-out cases a user meets.

Regenerate after an intended change with
``GLASSMESH_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/controlplane/inject`` and review the diff
of tests/golden/inject/.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from controlplane.api.sidecar import decode_sidecar_config
from controlplane.cli import main
from controlplane.inject import (
    ANNOTATION_CONFIG,
    InjectError,
    InjectSettings,
    inject_documents,
    inject_pod,
)

GOLDEN = Path(__file__).resolve().parents[3] / "golden" / "inject"
CASES = ["deployment", "transparent"]
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
SETTINGS = InjectSettings(
    image="glassmesh:dev", control_plane_url="https://cp:15012", ca_bundle_pem="PEM"
)


def _pod(**annotations: str) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = {"labels": {"app": "cart"}, "annotations": dict(annotations)}
    spec = {"containers": [{"name": "cart", "image": "cart", "ports": [{"containerPort": 8080}]}]}
    return meta, spec


@pytest.mark.parametrize("case", CASES)
def test_inject_matches_golden(case: str, tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    code = main(["inject", "-f", str(GOLDEN / f"{case}.yaml"), "--ca-file",
                 str(GOLDEN / "ca.pem"), "-o", str(out)])  # fmt: skip
    assert code == 0
    expected = GOLDEN / f"{case}.injected.yaml"
    if os.environ.get("GLASSMESH_REGEN_GOLDEN"):
        expected.write_text(out.read_text())
    assert out.read_text() == expected.read_text()


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_injected_workloads_pass_strict_validation(case: str, version: str) -> None:
    docs = list(yaml.safe_load_all((GOLDEN / f"{case}.injected.yaml").read_text()))
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_injected_sidecar_config_is_a_valid_sidecar_config() -> None:
    docs = list(yaml.safe_load_all((GOLDEN / "deployment.injected.yaml").read_text()))
    template = docs[0]["spec"]["template"]
    config_text = template["metadata"]["annotations"][ANNOTATION_CONFIG]
    proxy = template["spec"]["initContainers"][0]
    args = proxy["args"]
    given = {"url": args[args.index("--control-plane") + 1],
             "token_file": args[args.index("--token-file") + 1],
             "ca_file": args[args.index("--ca-file") + 1]}  # fmt: skip
    config = decode_sidecar_config(config_text, control_plane=given)
    assert config.identity == "spiffe://cluster.local/ns/shop/sa/reviews"
    assert config.labels == {"app": "reviews", "version": "v1"}
    assert (config.app.port, config.readiness.path) == (9080, "/healthz")
    assert proxy["restartPolicy"] == "Always" and "exec" in proxy["startupProbe"]
    app_env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0]["env"]}
    assert app_env["HTTP_PROXY"] == "http://127.0.0.1:15001"


def test_transparent_mode_redirects_with_an_init_container_before_the_proxy() -> None:
    docs = list(yaml.safe_load_all((GOLDEN / "transparent.injected.yaml").read_text()))
    spec = docs[0]["spec"]["template"]["spec"]
    names = [c["name"] for c in spec["initContainers"]]
    assert names == ["glassmesh-init", "glassmesh-proxy", "migrate"]
    script = spec["initContainers"][0]["command"][2]
    assert "--uid-owner 1337 -j RETURN" in script
    assert "--dport 8080 -j REDIRECT --to-ports 15006" in script
    assert "HTTP_PROXY" not in str(spec["containers"])
    assert docs[1]["spec"]["jobTemplate"]["spec"]["template"]["spec"].get("initContainers") is None


def test_injection_is_idempotent_and_leaves_its_input_alone() -> None:
    meta, spec = _pod()
    before = copy.deepcopy((meta, spec))
    done = inject_pod(meta, spec, "shop", SETTINGS)
    assert done is not None and (meta, spec) == before
    assert inject_pod(*done, "shop", SETTINGS) is None


def test_opted_out_pod_is_not_injected() -> None:
    meta, spec = _pod()
    meta["labels"]["sidecar.glassmesh.io/inject"] = "false"
    assert inject_pod(meta, spec, "shop", SETTINGS) is None


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"sidecar.glassmesh.io/interception": "ebpf"},
         "metadata.annotations[sidecar.glassmesh.io/interception]"),
        ({"sidecar.glassmesh.io/app-port": "http"},
         "metadata.annotations[sidecar.glassmesh.io/app-port]"),
    ],
)  # fmt: skip
def test_bad_annotation_is_named(change: dict[str, str], path: str) -> None:
    meta, spec = _pod(**change)
    with pytest.raises(InjectError) as err:
        inject_pod(meta, spec, "shop", SETTINGS)
    assert err.value.path == path


def test_pod_without_a_port_or_service_label_is_refused_with_the_field() -> None:
    meta, spec = _pod()
    del spec["containers"][0]["ports"]
    with pytest.raises(InjectError, match=r"sidecar\.glassmesh\.io/app-port") as err:
        inject_pod(meta, spec, "shop", SETTINGS)
    assert err.value.path == "spec.containers[0].ports"
    meta, spec = _pod()
    meta["labels"] = {}
    with pytest.raises(InjectError) as err:
        inject_pod(meta, spec, "shop", SETTINGS)
    assert err.value.path == "metadata.labels"


def test_document_errors_name_the_document_and_the_template_field() -> None:
    docs = [{"kind": "Service"}, {"kind": "Deployment", "spec": {"template": {"spec": {}}}}]
    with pytest.raises(InjectError) as err:
        inject_documents(docs, "default", SETTINGS)
    assert err.value.path == "document 2: spec.template.spec.containers"


def test_cli_reports_bad_input_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata: {labels: {app: a}}\nspec: {containers: []}\n")
    code = main(["inject", "-f", str(bad), "--ca-file", str(GOLDEN / "ca.pem")])
    assert code == 2
    assert "document 1: spec.containers: expected a non-empty list" in capsys.readouterr().err
    assert main(["inject", "-f", str(bad), "--ca-file", str(bad)]) == 2
    assert "no PEM certificate" in capsys.readouterr().err
