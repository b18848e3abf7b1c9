"""Manual injection: find the pod templates in Kubernetes documents and inject each one."""

from __future__ import annotations

from typing import Any

from controlplane.inject.pod import InjectError, InjectSettings, inject_pod

# Where each workload kind keeps its pod template.
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def _template(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = doc
    for i, key in enumerate(path):
        node = node.get(key) if isinstance(node, dict) else None  # type: ignore[assignment]
        if not isinstance(node, dict):
            raise InjectError(".".join(path[: i + 1]), "expected an object")
    return node


def inject_document(doc: Any, default_namespace: str, settings: InjectSettings) -> Any:
    """One document with its pod template injected; other kinds come back unchanged (a List's
    items are injected one by one). Raises InjectError, its path relative to the document."""
    if not isinstance(doc, dict):
        return doc
    kind = doc.get("kind")
    if kind == "List":
        return {**doc, "items": [inject_document(i, default_namespace, settings)
                                 for i in doc.get("items") or []]}  # fmt: skip
    if kind not in TEMPLATE_PATHS:
        return doc
    path = TEMPLATE_PATHS[kind]
    template = _template(doc, path)
    namespace = (doc.get("metadata") or {}).get("namespace") or default_namespace
    prefix = ".".join(path) + "." if path else ""
    try:
        done = inject_pod(template.get("metadata") or {}, template.get("spec") or {}, namespace,
                          settings)  # fmt: skip
    except InjectError as exc:
        raise InjectError(prefix + exc.path, exc.message) from None
    if done is None:
        return doc
    return _replace(doc, path, {**template, "metadata": done[0], "spec": done[1]})


def _replace(doc: dict[str, Any], path: tuple[str, ...], value: dict[str, Any]) -> dict[str, Any]:
    if not path:
        return value
    return {**doc, path[0]: _replace(doc[path[0]], path[1:], value)}


def inject_documents(
    docs: list[Any], default_namespace: str, settings: InjectSettings
) -> list[Any]:
    """Every document, injected where it holds a pod template. Raises InjectError whose path
    starts with the document's number (``document 2: spec.template.spec.containers``)."""
    out = []
    for n, doc in enumerate(docs, 1):
        try:
            out.append(inject_document(doc, default_namespace, settings))
        except InjectError as exc:
            raise InjectError(f"document {n}: {exc.path}", exc.message) from None
    return out
