"""Sidecar benchmark: direct vs an Envoy pair vs a glassmesh pair, in one run on 127.0.0.1.

Run it with ``python -m bench.sidecar`` (``make bench``). For each target it measures maximum
throughput (wrk, closed loop), latency at a fixed rate (open loop, timed from intended send) and
the RSS of every process, then prints a table and writes bench/out/sidecar.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console

from bench.measure import RunSettings
from bench.meta import run_meta, tool_versions
from bench.nginx import start_nginx
from bench.prereqs import PrereqError, ensure_apt_tools, envoy_binary, make_certs
from bench.procs import ROOT, ProcError, ProcessGroup, free_ports
from bench.report import TARGETS, TargetResult, build_document, merge_rounds, write_json
from bench.table import notes, render_table
from bench.targets import Stage, run_target

OUT = ROOT / "bench" / "out" / "sidecar.json"


def _targets(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(TARGETS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(TARGETS)}; got {value!r}")
    return [n for n in TARGETS if n in names]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.sidecar", description=__doc__)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each run (2)")
    p.add_argument("--rate", type=float, default=1000.0, help="open-loop requests/s (1000)")
    p.add_argument("--connections", type=int, default=16, help="connections, every tool (16)")
    p.add_argument(
        "--rounds", type=int, default=3, help="rounds, targets interleaved; medians reported (3)"
    )
    p.add_argument("--only", type=_targets, default=list(TARGETS), help="e.g. direct,envoy")
    p.add_argument(
        "--rss-requests", type=int, default=0, help="glassmesh only: RSS growth over N requests"
    )
    p.add_argument("--out", type=Path, default=OUT, help=f"JSON output (default {OUT})")
    p.add_argument("--keep", action="store_true", help="keep the work dir (configs, logs)")
    return p


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into SystemExit so every ``with`` block stops its processes."""
    raise SystemExit(128 + signum)


def run_all(
    args: argparse.Namespace, directory: Path, console: Console
) -> tuple[list[TargetResult], dict[str, str]]:
    """Install what is missing, start nginx, then in each round start, measure and stop each
    target in turn (so the targets see the same moments of a noisy machine).

    Returns the results merged over the rounds and the versions of the tools used.
    """
    tools = ensure_apt_tools(console)
    envoy = envoy_binary(console) if "envoy" in args.only else None
    versions = tool_versions(tools, envoy)
    make_certs(directory)
    settings = RunSettings(
        duration_s=args.duration,
        warmup_s=args.warmup,
        rate=args.rate,
        connections=args.connections,
        rss_requests=args.rss_requests,
        wrk=tools["wrk"],
        hey=tools["hey"],
    )
    with ProcessGroup(directory) as group:
        [nginx_port] = free_ports(1)
        nginx = start_nginx(group, tools["nginx"], directory, nginx_port)
        stage = Stage(group, directory, nginx, nginx_port, envoy)
        rounds: dict[str, list[TargetResult]] = {name: [] for name in args.only}
        for number in range(1, args.rounds + 1):
            console.print(f"[bold]round {number} of {args.rounds}[/]")
            last = number == args.rounds
            for name in args.only:
                soak = settings if last else dataclasses.replace(settings, rss_requests=0)
                rounds[name].append(run_target(name, stage, soak, console))
        return [merge_rounds(rounds[name]) for name in args.only], versions


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 0 if every target was measured, 1 if one failed, 2 on set-up.

    Ctrl-C (130) and SIGTERM stop every process started before exiting.
    """
    args = _parser().parse_args(argv)
    console = Console()
    if not console.is_terminal:  # piped or logged: do not squeeze the table into 80 columns
        console = Console(width=120)
    signal.signal(signal.SIGTERM, _on_sigterm)
    directory = Path(tempfile.mkdtemp(prefix="glassmesh-bench-"))
    try:
        results, versions = run_all(args, directory, console)
    except (PrereqError, ProcError) as exc:
        console.print(f"[red]set-up failed:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every process stopped[/]")
        return 130
    finally:
        if args.keep:
            console.print(f"work dir kept: {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    document = build_document(results, run_meta(args, versions))
    write_json(args.out, document)
    console.print(render_table(document))
    for line in notes(document):
        console.print(line)
    console.print(f"wrote {args.out}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
