"""``glassmesh dashboards render --out DIR``: write every dashboard as Grafana JSON, or with
``--check`` only say which files in DIR differ from the code (exit 1), as the drift test does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``dashboards`` on the CLI's subcommand parsers."""
    p = sub.add_parser("dashboards", help="Grafana dashboards: render them to JSON")
    actions = p.add_subparsers(dest="action", required=True)
    r = actions.add_parser("render", help="write every dashboard as Grafana JSON into a directory")
    r.add_argument("--out", required=True, help="directory (e.g. deploy/grafana/dashboards)")
    r.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if DIR differs from the code"
    )
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when written (or, with --check, up to date); 1 on drift; 2 when DIR is unusable."""
    from dashboards.render import drifted, write

    out = Path(args.out)
    if args.check:
        stale = drifted(out)
        for name in stale:
            print(f"{out / name}: differs from the code (glassmesh dashboards render)")
        return 1 if stale else 0
    try:
        written = write(out)
    except OSError as exc:
        print(f"glassmesh dashboards: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0
