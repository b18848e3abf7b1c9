"""``glassmesh apply | get | delete | config schema``: mesh resources through the resources API.

The server and token come from ``--server`` / ``--token-file`` or GLASSMESH_SERVER /
GLASSMESH_TOKEN. Errors print the server's message and the JSON path at fault, and exit 1
(2 for a problem with the local files or arguments).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from calendar import timegm
from pathlib import Path
from typing import Any

import yaml

from controlplane.api.resources import ResourceError, canonical_kind, json_schema
from controlplane.commands.client import CommandError, as_command, connection_options, request

API = "/api/v1/resources"

ENDPOINT_KINDS = frozenset({"endpoints", "endpoint", "ep"})


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``apply``, ``get``, ``delete`` and ``config schema`` on the CLI's subcommands."""
    conn = connection_options()
    p = sub.add_parser("apply", parents=[conn], help="create or replace resources from YAML")
    p.add_argument("-f", "--filename", required=True, help="a YAML file or a directory of them")
    p.set_defaults(func=as_command("apply", run_apply))
    p = sub.add_parser("get", parents=[conn], help="show resources of one kind")
    p.add_argument("kind")
    p.add_argument("name", nargs="?")
    p.add_argument("-n", "--namespace", help="namespace (default: all; 'default' with NAME)")
    p.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    p.set_defaults(func=as_command("get", run_get))
    p = sub.add_parser("delete", parents=[conn], help="delete one resource")
    p.add_argument("kind")
    p.add_argument("name")
    p.add_argument("-n", "--namespace", default="default")
    p.set_defaults(func=as_command("delete", run_delete))
    config = sub.add_parser("config", help="mesh resource configuration helpers")
    actions = config.add_subparsers(dest="config_command", required=True)
    p = actions.add_parser("schema", help="print the JSON Schema of a resource kind")
    p.add_argument("kind")
    p.set_defaults(func=as_command("config schema", run_schema))
    from controlplane.commands import crds

    crds.add_parser(actions)


def _kind(text: str) -> str:
    try:
        return canonical_kind(text)
    except ResourceError as exc:
        raise CommandError(exc.message, 2) from None


def load_documents(path: Path) -> list[tuple[str, Any]]:
    """Returns (origin, document) for each YAML document of a file, or of every *.yaml/*.yml
    file in a directory in name order; origin reads ``FILE document N``.

    Raises CommandError (code 2) for an unreadable file or invalid YAML.
    """
    is_yaml = {".yaml", ".yml"}.__contains__
    files = sorted(p for p in path.iterdir() if is_yaml(p.suffix)) if path.is_dir() else [path]
    found: list[tuple[str, Any]] = []
    for file in files:
        try:
            docs = list(yaml.safe_load_all(file.read_text()))
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}", 2) from None
        except yaml.YAMLError as exc:
            raise CommandError(f"{file}: not valid YAML: {exc}", 2) from None
        found.extend((f"{file} document {n}", d) for n, d in enumerate(docs, 1) if d is not None)
    return found


def run_apply(args: argparse.Namespace) -> int:
    """Applies every document of ``args.filename`` at once (all or nothing); returns 0.

    Raises CommandError naming the file and document the server refused.
    """
    loaded = load_documents(Path(args.filename))
    if not loaded:
        raise CommandError(f"no YAML documents in {args.filename}", 2)
    origins = [origin for origin, _ in loaded]
    try:
        answer = request(args, "POST", API, [doc for _, doc in loaded])
    except CommandError as exc:
        if exc.index is None or not 0 <= exc.index < len(origins):
            raise
        raise CommandError(f"{origins[exc.index]}: {exc}") from None
    for item in answer["applied"]:
        print(f"{item['kind']}/{item['name']} ({item['namespace']}) applied, "
              f"version {item['resourceVersion']}")  # fmt: skip
    return 0


def _one(kind: str, namespace: str, name: str) -> str:
    quote = urllib.parse.quote
    return f"{API}/{kind}/{quote(namespace, safe='')}/{quote(name, safe='')}"


def run_get(args: argparse.Namespace) -> int:
    """Prints one resource, or all of a kind, as a table, YAML or JSON; returns 0.
    ``get endpoints [SERVICE]`` lists registered instances, as ``glassmesh endpoints`` does."""
    if args.kind.lower() in ENDPOINT_KINDS:
        from controlplane.commands.proxies import run_endpoints

        return run_endpoints(argparse.Namespace(**{**vars(args), "service": args.name}))
    kind = _kind(args.kind)
    if args.name:
        items = [request(args, "GET", _one(kind, args.namespace or "default", args.name))]
    else:
        query = (
            "?" + urllib.parse.urlencode({"namespace": args.namespace}) if args.namespace else ""
        )
        items = request(args, "GET", f"{API}/{kind}{query}")["items"]
    if args.output == "json":
        print(json.dumps(items[0] if args.name else items, indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump_all(items, sort_keys=False), end="")
    else:
        print(render_table(items, time.time()), end="")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """Deletes one resource; returns 0."""
    kind = _kind(args.kind)
    request(args, "DELETE", _one(kind, args.namespace, args.name))
    print(f"{kind}/{args.name} ({args.namespace}) deleted")
    return 0


def run_schema(args: argparse.Namespace) -> int:
    """Prints the JSON Schema of a kind; needs no server. Returns 0."""
    print(json.dumps(json_schema(_kind(args.kind)), indent=2))
    return 0


def _age(created: str | None, now: float) -> str:
    if not created:
        return "<unknown>"
    seconds = max(0, int(now - timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def render_table(items: list[Any], now: float) -> str:
    """Returns NAME, NAMESPACE, VERSION, AGE columns for resources, as kubectl prints them."""
    rows = [("NAME", "NAMESPACE", "VERSION", "AGE")]
    for item in items:
        meta = item["metadata"]
        age = _age(meta.get("creationTimestamp"), now)
        rows.append((meta["name"], meta["namespace"], str(meta.get("resourceVersion")), age))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "".join(
        "   ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True))
        + f"   {row[3]}\n"
        for row in rows
    )
