"""Sidecar injection: one pure function turns a pod spec into a meshed one.

``glassmesh inject`` (manual, istioctl kube-inject's job) and the control plane's mutating
admission webhook both call ``inject_pod``, so the two ways give the same pod. Nothing here does
I/O: the CLI reads files and the webhook reads requests.
"""

from controlplane.inject.patch import json_patch
from controlplane.inject.pod import (
    ANNOTATION_APP_PORT,
    ANNOTATION_CA,
    ANNOTATION_CONFIG,
    ANNOTATION_INTERCEPTION,
    ANNOTATION_STATUS,
    LABEL_INJECT,
    NAMESPACE_LABEL,
    InjectError,
    InjectSettings,
    inject_pod,
)
from controlplane.inject.workloads import inject_documents

__all__ = [
    "ANNOTATION_APP_PORT",
    "ANNOTATION_CA",
    "ANNOTATION_CONFIG",
    "ANNOTATION_INTERCEPTION",
    "ANNOTATION_STATUS",
    "LABEL_INJECT",
    "NAMESPACE_LABEL",
    "InjectError",
    "InjectSettings",
    "inject_documents",
    "inject_pod",
    "json_patch",
]
