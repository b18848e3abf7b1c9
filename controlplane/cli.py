"""The single entry point ``glassmesh``. Subcommands import their component lazily, so starting one
component never loads the others."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_sidecar(args: argparse.Namespace) -> int:
    from controlplane.api.sidecar import ConfigError, decode_sidecar_config

    # Command-line paths are relative to the working directory, not to the config file.
    given = {"url": args.control_plane, "token_file": args.token_file, "ca_file": args.ca_file}
    control_plane = {
        k: v if k == "url" else str(Path(v).resolve()) for k, v in given.items() if v is not None
    }
    if args.token is not None:
        control_plane["token"] = args.token
    try:
        config = decode_sidecar_config(Path(args.config).read_bytes(), control_plane=control_plane)
    except OSError as exc:
        print(f"glassmesh sidecar: cannot read {args.config}: {exc.strerror}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"glassmesh sidecar: {args.config}: {exc}", file=sys.stderr)
        return 2
    if args.advertise_address:  # the pod's IP in Kubernetes, known only at run time
        import msgspec

        config = msgspec.structs.replace(config, advertise_address=args.advertise_address)
    from sidecar.server import SidecarStartError, run

    try:
        run(config, base_dir=Path(args.config).resolve().parent)
    except SidecarStartError as exc:
        print(f"glassmesh sidecar: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_certs(args: argparse.Namespace) -> int:
    from controlplane.ca import load_or_create_root, write_workload

    directory = Path(args.dir)
    ca = load_or_create_root(directory, args.trust_domain)
    for spiffe_id in args.identities:
        stem = spiffe_id.rstrip("/").rsplit("/", 1)[-1]
        try:
            cert, key = write_workload(ca, spiffe_id, directory, stem)
        except ValueError as exc:
            print(f"glassmesh certs: {exc}", file=sys.stderr)
            return 2
        print(f"{spiffe_id}: {cert} {key}")
    print(f"trust bundle: {directory / 'ca.pem'}")
    return 0


def _cmd_controlplane(args: argparse.Namespace) -> int:
    import asyncio

    from controlplane.ca import AuthorityError
    from controlplane.kubernetes import KubernetesSettings, KubernetesStartError
    from controlplane.server import ControlPlaneSettings, serve
    from controlplane.tokens import parse_ttl

    host, _, port = args.listen.rpartition(":")
    try:
        lease_s = parse_ttl(args.lease)
    except ValueError as exc:
        print(f"glassmesh controlplane: --lease: {exc}", file=sys.stderr)
        return 2
    m_host, _, m_port = args.metrics_listen.rpartition(":")
    if args.metrics_listen != "off" and not m_port.isdigit():
        print("glassmesh controlplane: --metrics-listen: expected HOST:PORT or 'off', got "
              f"{args.metrics_listen!r}", file=sys.stderr)  # fmt: skip
        return 2
    metrics = (m_host or "127.0.0.1", int(m_port)) if args.metrics_listen != "off" else None
    if args.kubeconfig and not args.kubernetes:
        print("glassmesh controlplane: --kubeconfig needs --kubernetes", file=sys.stderr)
        return 2
    kubeconfig = Path(args.kubeconfig) if args.kubeconfig else None
    kubernetes = KubernetesSettings(kubeconfig=kubeconfig, context=args.context)
    settings = ControlPlaneSettings(
        data_dir=Path(args.data_dir), host=host or "127.0.0.1", port=int(port),
        trust_domain=args.trust_domain, lease_s=lease_s,
        kubernetes=kubernetes if args.kubernetes else None, metrics_listen=metrics,
        dns_names=tuple(args.dns_name),
    )  # fmt: skip
    try:
        asyncio.run(serve(settings))
    except (OSError, AuthorityError, KubernetesStartError) as exc:
        print(f"glassmesh controlplane: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from controlplane.demo import run_demo

    return run_demo(
        duration_s=args.duration, scenario=args.scenario, rate=args.rate,
        free_ports=args.free_ports,
    )  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glassmesh", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sidecar", help="run a sidecar proxy (static config, or a control plane)")
    p.add_argument("--config", required=True, help="path to sidecar.yaml")
    p.add_argument(
        "--control-plane", metavar="URL", help="get certificates and routing from this https URL"
    )
    p.add_argument("--token", help="the join token (visible in ps: prefer --token-file)")
    p.add_argument("--token-file", help="file holding the join token (with --control-plane)")
    p.add_argument("--ca-file", help="the control plane's CA bundle (with --control-plane)")
    p.add_argument("--advertise-address", help="where peers reach this sidecar (config's too)")
    p.set_defaults(func=_cmd_sidecar)

    p = sub.add_parser("certs", help="issue workload certificates from a local CA (dev/test)")
    p.add_argument("--dir", required=True, help="directory holding ca.pem/ca-key.pem")
    p.add_argument("--trust-domain", default="cluster.local")
    p.add_argument("identities", nargs="+", help="SPIFFE IDs, spiffe://td/ns/N/sa/S")
    p.set_defaults(func=_cmd_certs)

    p = sub.add_parser("controlplane", help="run the control plane (CA and resources API, HTTPS)")
    p.add_argument("--data-dir", default="./glassmesh-data", help="state directory (SQLite, CA)")
    p.add_argument("--listen", default="127.0.0.1:15012", help="HOST:PORT for the HTTPS API")
    p.add_argument("--trust-domain", default="cluster.local")
    p.add_argument("--dns-name", action="append", default=[],
                   help="another name for the serving certificate (repeatable)")  # fmt: skip
    p.add_argument(
        "--lease", default="15s", help="an instance not heard from for this long is dropped (15s)"
    )
    p.add_argument("--metrics-listen", default="127.0.0.1:15014",
                   help="HOST:PORT for plain-HTTP Prometheus /metrics, or 'off'")  # fmt: skip
    p.add_argument(
        "--kubernetes",
        action="store_true",
        help="Kubernetes mode: endpoints and CRs from the API server, service-account tokens",
    )
    p.add_argument("--kubeconfig", help="with --kubernetes: this kubeconfig, not in-cluster config")
    p.add_argument("--context", help="with --kubeconfig: a context other than the current one")
    p.set_defaults(func=_cmd_controlplane)

    from controlplane.commands import inject, proxies, resources, token

    inject.add_parser(sub)
    token.add_parser(sub)
    resources.add_parser(sub)
    proxies.add_parser(sub)
    from collector import analyze_cli
    from collector import cli as collector_cli

    collector_cli.add_parser(sub)
    analyze_cli.add_parser(sub)
    from dashboards import cli as dashboards_cli

    dashboards_cli.add_parser(sub)

    from controlplane.commands import run as run_command
    from controlplane.commands import views

    run_command.add_parser(sub)
    views.add_parser(sub)
    p = sub.add_parser("demo", help="the whole mesh on 127.0.0.1: a shop, traffic, live views")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    p.add_argument("--scenario", help="apply a Fault: slow-inventory or failing-payments")
    p.add_argument("--rate", type=float, default=10.0, help="requests per second (default 10)")
    p.add_argument("--free-ports", action="store_true", help="free ports, never the defaults")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure logging and run one subcommand; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
