"""What injection does to one pod: a native sidecar, its config, and the app's way to the proxy.

The sidecar is an init container with ``restartPolicy: Always`` (a Kubernetes native sidecar)
whose startup probe asks its admin ``/ready``, so the app containers start only once the proxy
serves. Its sidecar.yaml and the control plane's CA bundle travel in pod annotations, projected
into files by a downward API volume, so a pod needs no ConfigMap of its own; its credential is a
projected service-account token with the audience ``glassmesh``. App containers reach the mesh
through ``HTTP_PROXY`` (the default), or in transparent mode through iptables redirects that an
init container sets up before anything else runs.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import yaml

from controlplane.inject.containers import (
    ADMIN_PORT,
    CA_FILE,
    CONFIG_DIR,
    CONFIG_FILE,
    INBOUND_PORT,
    OUTBOUND_PORT,
    SIDECAR_NAME,
    STATE_DIR,
    TOKEN_DIR,
    init_container,
    proxy_env,
    sidecar_container,
)

Json = dict[str, Any]

NAMESPACE_LABEL = "glassmesh-injection"  # value "enabled": the webhook's namespace selector
LABEL_INJECT = "sidecar.glassmesh.io/inject"  # "false" on a pod opts it out
ANNOTATION_INTERCEPTION = "sidecar.glassmesh.io/interception"  # proxy (default) | transparent
ANNOTATION_APP_PORT = "sidecar.glassmesh.io/app-port"  # default: the first container's first port
ANNOTATION_CONFIG = "sidecar.glassmesh.io/config"  # the generated sidecar.yaml
ANNOTATION_CA = "sidecar.glassmesh.io/ca-bundle"  # the control plane's CA bundle (PEM)
ANNOTATION_STATUS = "sidecar.glassmesh.io/status"  # set once injected: injection is idempotent
INTERCEPTION_MODES = ("proxy", "transparent")
SERVICE_LABELS = ("app.kubernetes.io/name", "app")
# Labels Kubernetes adds to the pods of a controller: left out so that a Deployment injected by
# hand and its pods injected by the webhook get the same sidecar config.
CONTROLLER_LABELS = frozenset(
    {"pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name"}
)


class InjectError(ValueError):
    """A pod cannot be injected; ``path`` names the field at fault (``spec.containers``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class InjectSettings:
    """What every injected pod shares: the image, where the control plane and collector are,
    and the CA that signed the control plane's serving certificate."""

    image: str
    control_plane_url: str
    ca_bundle_pem: str
    collector_otlp: str | None = "http://glassmesh-collector.glassmesh-system.svc:4318"
    trust_domain: str = "cluster.local"
    token_audience: str = "glassmesh"
    image_pull_policy: str = "IfNotPresent"


def inject_pod(
    metadata: Json, spec: Json, namespace: str, settings: InjectSettings
) -> tuple[Json, Json] | None:
    """Returns the (metadata, spec) of the meshed pod, new objects (the arguments are left
    alone), or None when the pod opted out or carries a sidecar already.

    Raises InjectError naming the field at fault (no containers, no service label, an unknown
    interception mode, no app port).
    """
    labels = _strings(metadata.get("labels"), "metadata.labels")
    annotations = _strings(metadata.get("annotations"), "metadata.annotations")
    if labels.get(LABEL_INJECT) == "false" or _injected(annotations, spec):
        return None
    mode = annotations.get(ANNOTATION_INTERCEPTION, "proxy")
    if mode not in INTERCEPTION_MODES:
        raise InjectError(
            f"metadata.annotations[{ANNOTATION_INTERCEPTION}]",
            f"{mode!r} is not one of {', '.join(INTERCEPTION_MODES)}",
        )
    containers = spec.get("containers")
    if (
        not isinstance(containers, list)
        or not containers
        or not all(isinstance(c, dict) for c in containers)
    ):
        raise InjectError("spec.containers", "expected a non-empty list of containers")
    app_port = _app_port(annotations, containers)
    config = sidecar_config(metadata, spec, namespace, app_port, settings)
    new_meta = copy.deepcopy(metadata)
    new_meta["annotations"] = {
        **annotations,
        ANNOTATION_CONFIG: config,
        ANNOTATION_CA: settings.ca_bundle_pem,
        ANNOTATION_STATUS: json.dumps({"interception": mode, "sidecar": SIDECAR_NAME}),
    }
    return new_meta, _pod_spec(spec, mode, app_port, settings)


def _strings(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InjectError(path, "expected a map of strings")
    return dict(value)


def _injected(annotations: dict[str, str], spec: Json) -> bool:
    names = {c.get("name") for c in spec.get("initContainers") or [] if isinstance(c, dict)}
    return ANNOTATION_STATUS in annotations or SIDECAR_NAME in names


def _app_port(annotations: dict[str, str], containers: list[Json]) -> int:
    """The app's port: the annotation, else the first port of the first container with one."""
    given = annotations.get(ANNOTATION_APP_PORT)
    if given is not None:
        if not given.isdigit() or not 1 <= int(given) <= 65535:
            raise InjectError(
                f"metadata.annotations[{ANNOTATION_APP_PORT}]", f"{given!r} is not a port number"
            )
        return int(given)
    for container in containers:
        for port in container.get("ports") or []:
            number = port.get("containerPort") if isinstance(port, dict) else None
            if isinstance(number, int) and number not in (OUTBOUND_PORT, INBOUND_PORT, ADMIN_PORT):
                return number
    raise InjectError(
        "spec.containers[0].ports",
        f"no containerPort to send inbound traffic to; add one or the {ANNOTATION_APP_PORT} "
        "annotation",
    )


def service_name(metadata: Json) -> str:
    """The service a pod belongs to: its app.kubernetes.io/name or app label."""
    labels = metadata.get("labels") or {}
    for key in SERVICE_LABELS:
        if labels.get(key):
            return str(labels[key])
    raise InjectError("metadata.labels", "needs an 'app' or 'app.kubernetes.io/name' label")


def _readiness_path(spec: Json) -> str | None:
    """The HTTP path of the first container's readiness probe, which the sidecar then probes."""
    probe = spec["containers"][0].get("readinessProbe") or {}
    path = (probe.get("httpGet") or {}).get("path")
    return path if isinstance(path, str) and path.startswith("/") else None


def sidecar_config(
    metadata: Json, spec: Json, namespace: str, app_port: int, settings: InjectSettings
) -> str:
    """The pod's sidecar.yaml; the control plane URL, token and CA come on the command line."""
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in CONTROLLER_LABELS}
    account = spec.get("serviceAccountName") or "default"
    config: Json = {
        "service": service_name(metadata),
        "namespace": namespace,
        "identity": f"spiffe://{settings.trust_domain}/ns/{namespace}/sa/{account}",
        "labels": labels,
        "app": {"address": "127.0.0.1", "port": app_port},
        "control_plane": {"snapshot_file": f"{STATE_DIR}/snapshot.json"},
        "listeners": {
            "outbound": {"address": "127.0.0.1", "port": OUTBOUND_PORT},
            "inbound": {"address": "0.0.0.0", "port": INBOUND_PORT},
            "admin": {"address": "127.0.0.1", "port": ADMIN_PORT},
        },
    }
    if (path := _readiness_path(spec)) is not None:
        config["readiness"] = {"path": path}
    if settings.collector_otlp:
        config["telemetry"] = {"otlp_endpoint": settings.collector_otlp}
    return yaml.safe_dump(config, sort_keys=False)


def _volumes(settings: InjectSettings) -> list[Json]:
    annotation = "metadata.annotations['{}']".format
    return [
        {"name": "glassmesh-config", "downwardAPI": {"items": [
            {"path": CONFIG_FILE.rsplit("/", 1)[1],
             "fieldRef": {"fieldPath": annotation(ANNOTATION_CONFIG)}},
            {"path": CA_FILE.rsplit("/", 1)[1],
             "fieldRef": {"fieldPath": annotation(ANNOTATION_CA)}},
        ]}},
        {"name": "glassmesh-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": settings.token_audience, "expirationSeconds": 3600, "path": "token",
        }}]}},
        {"name": "glassmesh-state", "emptyDir": {}},
    ]  # fmt: skip


def _pod_spec(spec: Json, mode: str, app_port: int, settings: InjectSettings) -> Json:
    new = copy.deepcopy(spec)
    first = [init_container(app_port, settings.image)] if mode == "transparent" else []
    first.append(sidecar_container(settings.image, settings.control_plane_url))
    for container in first:
        container["imagePullPolicy"] = settings.image_pull_policy
    new["initContainers"] = first + list(new.get("initContainers") or [])
    if mode == "proxy":
        new["containers"] = [_with_proxy_env(c) for c in new["containers"]]
    new["volumes"] = list(new.get("volumes") or []) + _volumes(settings)
    return new


def _with_proxy_env(container: Json) -> Json:
    """The container with HTTP_PROXY and friends, unless it sets them itself."""
    env = list(container.get("env") or [])
    names = {e.get("name") for e in env if isinstance(e, dict)}
    env.extend(e for e in proxy_env() if e["name"] not in names)
    return {**container, "env": env}


__all__ = [
    "CONFIG_DIR",
    "TOKEN_DIR",
    "InjectError",
    "InjectSettings",
    "inject_pod",
    "service_name",
    "sidecar_config",
]
