"""The RFC 6902 JSON Patch that turns one object into another, as an admission webhook answers."""

from __future__ import annotations

from typing import Any


def _pointer(path: str, key: str) -> str:
    """``path`` extended by one key, escaped as RFC 6901 says (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return f"{path}/{key.replace('~', '~0').replace('/', '~1')}"


def json_patch(
    before: dict[str, Any], after: dict[str, Any], path: str = ""
) -> list[dict[str, Any]]:
    """Operations taking ``before`` to ``after``: objects are compared key by key (so a patch
    touches only what changed), any other changed value is replaced whole."""
    ops: list[dict[str, Any]] = []
    for key in before:
        if key not in after:
            ops.append({"op": "remove", "path": _pointer(path, key)})
    for key, value in after.items():
        where = _pointer(path, key)
        if key not in before:
            ops.append({"op": "add", "path": where, "value": value})
        elif isinstance(value, dict) and isinstance(before[key], dict):
            ops.extend(json_patch(before[key], value, where))
        elif value != before[key]:
            ops.append({"op": "replace", "path": where, "value": value})
    return ops
