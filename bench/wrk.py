"""Closed-loop load: wrk for maximum throughput, hey for a fixed number of requests."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from bench.procs import LOADGEN_CORE, pinned

HOST = "server"
_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
_RPS_RE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_PCT_RE = re.compile(r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_TOTAL_RE = re.compile(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_NON2XX_RE = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKERR_RE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_SOCKET_ERROR_KINDS = ("connect", "read", "write", "timeout")
_HEY_STATUS_RE = re.compile(r"^\s+\[(\d{3})\]\s+(\d+) responses", re.MULTILINE)
_HEY_ERRORS_RE = re.compile(r"^\s+\[(\d+)\]\s+\S.*$", re.MULTILINE)


class LoadError(RuntimeError):
    """A load generator failed or printed something we could not read."""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run reported: throughput, closed-loop latency percentiles (ms), errors."""

    rps: float
    requests: int
    duration_s: float
    latency_ms: dict[str, float] = field(default_factory=dict)
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Non-2xx responses plus socket errors of every kind."""
        return self.non_2xx + sum(self.socket_errors.values())


def to_ms(value: str, unit: str) -> float:
    """Convert a wrk duration such as ('1.41', 'ms') to milliseconds."""
    return float(value) * _UNITS_MS[unit]


def parse_wrk(text: str) -> WrkResult:
    """Parse ``wrk --latency`` output; raise LoadError when Requests/sec is missing."""
    rps = _RPS_RE.search(text)
    total = _TOTAL_RE.search(text)
    if rps is None or total is None:
        raise LoadError(f"cannot parse wrk output:\n{text}")
    latency = {f"p{m.group(1)}": to_ms(m.group(2), m.group(3)) for m in _PCT_RE.finditer(text)}
    non_2xx = _NON2XX_RE.search(text)
    sock = _SOCKERR_RE.search(text)
    return WrkResult(
        rps=float(rps.group(1)),
        requests=int(total.group(1)),
        duration_s=to_ms(total.group(2), total.group(3)) / 1e3,
        latency_ms=latency,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(zip(_SOCKET_ERROR_KINDS, map(int, sock.groups()), strict=True))
        if sock
        else {},
    )


def parse_hey(text: str) -> tuple[dict[int, int], int]:
    """From a hey report, the responses per status code and the number of failed requests."""
    status_part, _, errors_part = text.partition("Error distribution:")
    statuses = {int(m.group(1)): int(m.group(2)) for m in _HEY_STATUS_RE.finditer(status_part)}
    errors = sum(int(m.group(1)) for m in _HEY_ERRORS_RE.finditer(errors_part))
    return statuses, errors


def run_wrk(wrk: str, url: str, connections: int, duration_s: float) -> WrkResult:
    """Run ``wrk -t1 -c<connections> -d<duration> --latency`` on the load-generator core."""
    seconds = max(1, round(duration_s))
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Host: {HOST}"]
    out = _run(pinned([*argv, url], LOADGEN_CORE), timeout_s=seconds + 30)
    return parse_wrk(out)


def run_hey(hey: str, url: str, connections: int, requests: int) -> str:
    """Send exactly ``requests`` requests with hey (closed loop); return its report."""
    argv = [hey, "-n", str(requests), "-c", str(connections), "-host", HOST, url]
    # Bounded: even a slow 2k rps target gets through a million requests in ~8 minutes.
    return _run(pinned(argv, LOADGEN_CORE), timeout_s=60 + requests / 500)


def _run(argv: list[str], timeout_s: float) -> str:
    """Run a load generator and return its stdout; raise LoadError on failure or timeout."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"{argv[0]} timed out after {timeout_s:.0f} s") from exc
    if out.returncode != 0:
        raise LoadError(f"{' '.join(argv)} exited {out.returncode}:\n{out.stderr}{out.stdout}")
    return out.stdout
