"""CRDs from the msgspec JSON Schema: structural (refs inlined, nullable, typed enums), RE2-safe
patterns, written by ``glassmesh config crds``; HTTPRoute is left to Gateway API's CRDs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.cli import main
from controlplane.crds import crd, glassmesh_kinds, structural


def test_optional_fields_become_nullable_and_refs_are_inlined() -> None:
    status = {"httpStatus": {"type": "integer", "minimum": 200}}
    defs = {"Abort": {"title": "Abort", "type": "object", "additionalProperties": False,
                      "properties": status}}  # fmt: skip
    node = {"type": "object", "properties": {
        "abort": {"anyOf": [{"$ref": "#/$defs/Abort"}, {"type": "null"}], "default": None},
        "mode": {"enum": ["STRICT", "PERMISSIVE"]},
    }}  # fmt: skip
    assert structural(node, defs) == {"type": "object", "properties": {
        "abort": {"type": "object", "nullable": True,
                  "properties": {"httpStatus": {"type": "integer", "minimum": 200}}},
        "mode": {"enum": ["STRICT", "PERMISSIVE"], "type": "string"},
    }}  # fmt: skip


def test_repeats_past_re2_bound_become_open_with_max_length() -> None:
    node = structural({"type": "string", "pattern": "^[^\\r\\n]{0,4096}$"}, {})
    assert node == {"type": "string", "pattern": "^[^\\r\\n]{0,}$", "maxLength": 4096}
    assert structural({"type": "string", "pattern": "^a{1,5}$"}, {})["pattern"] == "^a{1,5}$"


def test_a_union_a_crd_cannot_express_is_an_error() -> None:
    with pytest.raises(ValueError, match="structural"):
        structural({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {})


def test_crd_of_a_kind_names_it_and_requires_spec() -> None:
    made = crd("TrafficPolicy")
    assert made["metadata"]["name"] == "trafficpolicies.glassmesh.io"
    version = made["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    assert (version["name"], schema["required"]) == ("v1alpha1", ["spec"])
    assert "$ref" not in str(schema) and "anyOf" not in str(schema)


def test_config_crds_writes_a_file_per_glassmesh_kind(tmp_path: Path) -> None:
    assert main(["config", "crds", "--out", str(tmp_path / "crds")]) == 0
    files = sorted(p.name for p in (tmp_path / "crds").iterdir())
    kinds = ["authorizationpolicies", "faults", "peerauthentications", "telemetries",
             "trafficpolicies"]  # fmt: skip
    assert files == sorted([*(f"{k}.glassmesh.io.yaml" for k in kinds), "kustomization.yaml"])
    listed = yaml.safe_load((tmp_path / "crds" / "kustomization.yaml").read_text())["resources"]
    assert listed == [f for f in files if f != "kustomization.yaml"]


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _nodes(node[key], f"{path}[{key}]")


@pytest.mark.parametrize("kind", glassmesh_kinds())
def test_crd_schemas_are_structural(kind: str) -> None:
    """The API server's rules for a structural schema: every node typed, no references or
    unions, additionalProperties never beside properties, no empty required lists."""
    schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _nodes(schema):
        assert node.get("type") in ("object", "array", "string", "integer", "number", "boolean"), (
            path
        )
        assert not {"$ref", "anyOf", "oneOf", "allOf", "default", "$defs"} & set(node), path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("required", ["x"]), path
