"""``glassmesh proxy-status | endpoints``: what the control plane pushed and whom it knows of.

``proxy-status`` shows each connected sidecar with the config version it was sent and the one it
acknowledged (a NACK's reason when it refused one); ``endpoints`` lists registered instances.
Server, token and CA come from the same options and environment as ``glassmesh get``.
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

import yaml

from controlplane.commands.client import as_command, connection_options, request


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``proxy-status`` and ``endpoints`` on the CLI's subcommands."""
    conn = connection_options()
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p = sub.add_parser(
        "proxy-status", parents=[conn, output], help="config versions sent to and ACKed by proxies"
    )
    p.set_defaults(func=as_command("proxy-status", run_proxy_status))
    p = sub.add_parser("endpoints", parents=[conn, output], help="registered service instances")
    p.add_argument("service", nargs="?")
    p.add_argument("-n", "--namespace", help="namespace (default: all)")
    p.set_defaults(func=as_command("endpoints", run_endpoints))


def run_proxy_status(args: argparse.Namespace) -> int:
    """Prints the connected proxies as a table or JSON; returns 0."""
    items = request(args, "GET", "/api/v1/proxies")["items"]
    if args.output == "json":
        print(json.dumps(items, indent=2))
        return 0
    rows = [("PROXY", "IDENTITY", "VERSION SENT", "VERSION ACKED", "NACK")]
    rows += [
        (f"{p['service']}/{p['namespace']} {p['address']}:{p['port']}", p["identity"],
         _text(p["sent_version"]), _text(p["acked_version"]), p["nack"] or "")
        for p in items
    ]  # fmt: skip
    print(render(rows), end="")
    return 0


def run_endpoints(args: argparse.Namespace) -> int:
    """Prints registered instances (all, one service's, or one namespace's); returns 0."""
    query = {k: v for k, v in (("service", args.service), ("namespace", args.namespace)) if v}
    path = "/api/v1/endpoints" + ("?" + urllib.parse.urlencode(query) if query else "")
    items = request(args, "GET", path)["items"]
    if args.output == "json":
        print(json.dumps(items, indent=2))
        return 0
    if args.output == "yaml":
        print(yaml.safe_dump_all(items, sort_keys=False), end="")
        return 0
    rows = [("SERVICE", "NAMESPACE", "ENDPOINT", "READY", "IDENTITY", "LEASE LEFT")]
    rows += [
        (e["service"], e["namespace"], f"{e['address']}:{e['port']}",
         "yes" if e["ready"] else "no", e["identity"], _lease(e["lease_left_s"]))
        for e in items
    ]  # fmt: skip
    print(render(rows), end="")
    return 0


def _lease(left_s: float | None) -> str:
    """Time left on an instance's lease; "-" for one without (Kubernetes mode: the API server
    says when it leaves)."""
    return "-" if left_s is None else f"{left_s:.1f}s"


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def render(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns three spaces apart, the last one unpadded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "".join(
        "   ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]) + "\n"
        for row in rows
    )
