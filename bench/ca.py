"""CSR signing throughput of the mesh CA on one core, against the issue's target of 1000 certs/s.

``python -m bench.ca`` makes N EC P-256 keys and CSRs first (not timed), then times ``sign_csr``
over all of them, ``--rounds`` times. The figure is the median round; the JSON also keeps every
round. Output: a line on stdout and bench/out/ca.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.report import ratio, write_json
from controlplane.ca import Authority, create_root, sign_csr

TARGET_CERTS_PER_S = 1000.0
OUT = Path(__file__).resolve().parent / "out" / "ca.json"
IDENTITY = "spiffe://cluster.local/ns/bench/sa/worker"


def make_csrs(count: int) -> list[bytes]:
    """``count`` PEM CSRs, each for a fresh EC P-256 key."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    csrs = []
    for _ in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        )
        csrs.append(csr.public_bytes(serialization.Encoding.PEM))
    return csrs


def time_signing(
    ca: Authority, csrs: Sequence[bytes], clock: Callable[[], float] = time.perf_counter
) -> float:
    """Seconds ``clock`` measures for signing every CSR in ``csrs`` once."""
    now = dt.datetime.now(dt.UTC)
    start = clock()
    for csr in csrs:
        sign_csr(ca, csr, IDENTITY, now=now)
    return clock() - start


def build_report(count: int, round_s: Sequence[float], core: str) -> dict[str, Any]:
    """The JSON document: the median round's certs/s, the target and their ratio."""
    rates = [count / s for s in round_s if s > 0]
    certs_per_s = statistics.median(rates) if rates else None
    return {
        "certs_per_s": _rounded(certs_per_s, 1),
        "target": TARGET_CERTS_PER_S,
        "ratio": _rounded(ratio(certs_per_s, TARGET_CERTS_PER_S), 3),
        "csrs": count,
        "rounds_certs_per_s": [round(r, 1) for r in rates],
        "key": "EC P-256 CSRs, EC P-256 root",
        "core": core,
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def summary(report: dict[str, Any]) -> str:
    """One line for the terminal: the figure, the target and the ratio."""
    shown = "n/a" if report["ratio"] is None else f"{report['ratio']:.2f}"
    return (
        f"CSR signing: {report['certs_per_s']} certs/s on core {report['core']} "
        f"(target {report['target']:.0f}/s, ratio {shown})"
    )


def pin_to_one_core() -> str:
    """Pin this process to the first core it may use; returns that core, or 'unpinned'."""
    if not hasattr(os, "sched_setaffinity"):
        return "unpinned"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return str(core)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.ca", description=__doc__)
    parser.add_argument("-n", "--csrs", type=int, default=2000, help="CSRs per round (2000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON output (default {OUT})")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the figure and write the JSON; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.csrs < 1 or args.rounds < 1:
        print("bench.ca: --csrs and --rounds must be at least 1", file=sys.stderr)
        return 2
    core = "unpinned" if args.no_pin else pin_to_one_core()
    ca = create_root()
    csrs = make_csrs(args.csrs)
    sign_csr(ca, csrs[0], IDENTITY)  # warm-up: first-use costs are not signing throughput
    round_s = [time_signing(ca, csrs) for _ in range(args.rounds)]
    report = build_report(args.csrs, round_s, core)
    write_json(args.out, report)
    print(f"{summary(report)} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
