"""``glassmesh collector``: run the built-in collector (OTLP in; storage, Jaeger API, /metrics).

Import-light on purpose: the CLI builds every subcommand's parser, so nothing here imports grpc,
protobuf or aiohttp until the collector actually runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DATA_DIR = "./glassmesh-collector"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``collector`` on the CLI's subcommand parsers."""
    p = sub.add_parser(
        "collector", help="run the collector: OTLP in, trace storage, Jaeger query API, /metrics"
    )
    p.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, help=f"state directory ({DEFAULT_DATA_DIR})"
    )
    p.add_argument("--config", help="collector.yaml (every field has a default)")
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the config and serve until SIGTERM/SIGINT. Returns 0, 1 when serving fails to
    start (a port in use, an unusable data directory), 2 for a bad config."""
    from collector.config import ConfigError, decode_config

    try:
        data = Path(args.config).read_bytes() if args.config else b""
        config = decode_config(data)
    except OSError as exc:
        print(f"glassmesh collector: cannot read {args.config}: {exc.strerror}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"glassmesh collector: {args.config or 'defaults'}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"glassmesh collector: {args.config or 'defaults'}: config OK", file=sys.stderr)
        return 0
    import asyncio

    from collector.service import serve

    try:
        asyncio.run(serve(config, Path(args.data_dir)))
    except ConfigError as exc:
        print(f"glassmesh collector: {args.config or 'defaults'}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"glassmesh collector: {exc}", file=sys.stderr)
        return 1
    return 0
