"""``glassmesh token create``: print a join token that lets one workload identity get a certificate.

The token goes to stdout and nowhere else, so ``TOKEN=$(glassmesh token create ...)`` works and no
log line ever holds it; a confirmation naming the identity and expiry goes to stderr.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_DATA_DIR = "./glassmesh-data"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``token create`` on the CLI's subcommand parsers."""
    token = sub.add_parser("token", help="manage join tokens for workloads outside Kubernetes")
    actions = token.add_subparsers(dest="token_command", required=True)
    p = actions.add_parser("create", help="print a signed, expiring join token for one identity")
    p.add_argument("--namespace", required=True, help="the workload's namespace")
    p.add_argument("--service-account", required=True, help="the workload's service account")
    p.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 7d (at most 30d)")
    p.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"the control plane's data directory, holding the signing key ({DEFAULT_DATA_DIR})",
    )
    p.add_argument("--trust-domain", default="cluster.local")
    p.set_defaults(func=run_create)


def run_create(args: argparse.Namespace) -> int:
    """Issue a token as ``args`` ask and print it to stdout.

    Returns 0, or 2 with a message on stderr for a bad argument or an unusable data directory.
    """
    import time
    from pathlib import Path

    from controlplane.tokens import TokenAuthority, parse_ttl

    try:
        ttl_s = parse_ttl(args.ttl)
        authority = TokenAuthority.load_or_create(Path(args.data_dir), args.trust_domain)
        now = time.time()
        token = authority.issue(args.namespace, args.service_account, ttl_s, now)
    except (ValueError, OSError) as exc:
        print(f"glassmesh token create: {exc}", file=sys.stderr)
        return 2
    claims = authority.verify(token, now)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims.expires_at))
    print(f"join token for {claims.spiffe_id()}, expires {expires}", file=sys.stderr)
    print(token)
    return 0
