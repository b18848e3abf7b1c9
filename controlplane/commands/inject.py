"""``glassmesh inject -f FILE [-o OUT]``: add the sidecar to the pod templates of Kubernetes YAML.

istioctl kube-inject's job, done by the same function as the control plane's admission webhook
(``controlplane.inject``), so a workload injected by hand and one injected by the webhook run
the same pod. Documents without a pod template pass through unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from controlplane.commands.client import CommandError, as_command
from controlplane.inject import InjectError, InjectSettings, inject_documents

DEFAULT_IMAGE = "glassmesh:dev"
DEFAULT_CONTROL_PLANE = "https://glassmesh-controlplane.glassmesh-system.svc:15012"
DEFAULT_COLLECTOR = "http://glassmesh-collector.glassmesh-system.svc:4318"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``inject`` on the CLI's subcommands."""
    p = sub.add_parser("inject", help="add the glassmesh sidecar to Kubernetes workloads (YAML)")
    p.add_argument("-f", "--filename", required=True, help="YAML file, or - for stdin")
    p.add_argument("-o", "--output", help="write here instead of stdout")
    p.add_argument("-n", "--namespace", default="default",
                   help="namespace of documents that name none (default)")  # fmt: skip
    p.add_argument("--ca-file", required=True, help="the control plane's CA bundle (PEM)")
    p.add_argument("--control-plane", default=DEFAULT_CONTROL_PLANE, metavar="URL")
    p.add_argument("--image", default=DEFAULT_IMAGE, help=f"sidecar image ({DEFAULT_IMAGE})")
    p.add_argument("--collector", default=DEFAULT_COLLECTOR, metavar="URL",
                   help="OTLP/HTTP endpoint for telemetry, or 'none'")  # fmt: skip
    p.add_argument("--trust-domain", default="cluster.local")
    p.set_defaults(func=as_command("inject", run_inject))


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (the sidecar config, the CA) and no YAML aliases, so
    the output reads like hand-written YAML."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def dump(docs: list[Any]) -> str:
    """YAML documents as ``glassmesh inject`` writes them."""
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False)


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", 2) from None


def _documents(path: str) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(_read(path)) if d is not None]
    except yaml.YAMLError as exc:
        raise CommandError(f"{path}: not valid YAML: {exc}", 2) from None


def run_inject(args: argparse.Namespace) -> int:
    """Writes the injected documents; returns 0. Raises CommandError naming the field at fault."""
    ca_pem = _read(args.ca_file)
    if "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise CommandError(f"{args.ca_file}: no PEM certificate in it", 2)
    settings = InjectSettings(
        image=args.image, control_plane_url=args.control_plane, ca_bundle_pem=ca_pem,
        collector_otlp=None if args.collector == "none" else args.collector,
        trust_domain=args.trust_domain,
    )  # fmt: skip
    try:
        docs = inject_documents(_documents(args.filename), args.namespace, settings)
    except InjectError as exc:
        raise CommandError(f"{args.filename}: {exc}", 2) from None
    text = dump(docs)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
