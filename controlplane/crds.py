"""CustomResourceDefinitions for the glassmesh.io kinds, made from their msgspec JSON Schema.

A CRD's openAPIV3Schema must be structural (every node typed, no ``$ref``, nullability as
``nullable``, no ``additionalProperties`` beside ``properties``) and its patterns are Go (RE2)
regular expressions, which repeat at most 1000 times. So the JSON Schema is inlined and
rewritten here rather than copied; the committed CRDs under deploy/kubernetes/base/crds/ are
this module's output, and a test fails when they drift. Defaults are left out on purpose: the
API server would write them into stored objects, while the control plane applies the same
defaults when it decodes a resource. HTTPRoute is Gateway API's: its CRDs are the user's to
install.
"""

from __future__ import annotations

import re
from typing import Any

from controlplane.api.resources import GLASSMESH_V1ALPHA1, KINDS, json_schema, plural

GROUP, VERSION = GLASSMESH_V1ALPHA1.split("/")
RE2_MAX_REPEAT = 1000
_DROPPED = frozenset({"title", "examples", "default", "$defs"})
_REPEAT = re.compile(r"\{(\d+),(\d+)\}")
_ENUM_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def glassmesh_kinds() -> list[str]:
    """The kinds that are ours (HTTPRoute is Gateway API's)."""
    return [kind for kind in KINDS if json_schema(kind)["$defs"][kind]["properties"]
            ["apiVersion"]["enum"] == [GLASSMESH_V1ALPHA1]]  # fmt: skip


def _re2_pattern(node: dict[str, Any], pattern: str) -> None:
    """Sets ``pattern`` on ``node``, a repeat past RE2's bound becoming open-ended with the
    bound kept as maxLength (exact for the single-class patterns we have)."""
    bound: int | None = None

    def open_ended(m: re.Match[str]) -> str:
        nonlocal bound
        if int(m[2]) <= RE2_MAX_REPEAT:
            return m[0]
        bound = int(m[2])
        return f"{{{m[1]},}}"

    node["pattern"] = _REPEAT.sub(open_ended, pattern)
    if bound is not None:
        node["maxLength"] = min(bound, node.get("maxLength", bound))


def _nullable(options: list[Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, null]`` as X with ``nullable: true``."""
    kept = [o for o in options if o.get("type") != "null"]
    if len(kept) != 1:
        raise ValueError(f"cannot express anyOf {options} in a structural schema")
    return {**structural(kept[0], defs), "nullable": True}


def structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema node as a structural OpenAPI v3 schema node (refs inlined)."""
    if "$ref" in node:
        return structural(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    if "anyOf" in node:
        return _nullable(node["anyOf"], defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "additionalProperties" and value is False):
            continue
        if key == "properties":
            out[key] = {name: structural(child, defs) for name, child in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = structural(value, defs)
        elif key == "pattern":
            _re2_pattern(out, value)
        elif key == "required" and not value:
            continue
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = _ENUM_TYPES[type(out["enum"][0])]
    return out


def _root_schema(kind: str) -> dict[str, Any]:
    schema = json_schema(kind)
    defs = schema["$defs"]
    root = structural(defs[kind], defs)
    props = root["properties"]
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}  # the API server owns metadata's schema
    root["required"] = ["spec"]
    return root


def crd(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of one glassmesh.io kind."""
    names = {
        "kind": kind, "listKind": f"{kind}List", "plural": plural(kind),
        "singular": kind.lower(), "categories": ["glassmesh"],
    }  # fmt: skip
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural(kind)}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "glassmesh"},
        },
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": _root_schema(kind)},
            }],
        },
    }  # fmt: skip


def all_crds() -> dict[str, dict[str, Any]]:
    """File name (``trafficpolicies.glassmesh.io.yaml``) -> CRD, for every glassmesh.io kind."""
    return {f"{plural(kind)}.{GROUP}.yaml": crd(kind) for kind in glassmesh_kinds()}
