"""Config propagation: from an HTTPRoute apply to the last of N connected sidecars' ACK.

``python -m bench.controlplane -n 1000 --applies 5`` starts a control plane in a child process
(its own CPU and RSS; pinned to core 0 when two cores are ours, this process on core 1), issues
N workload certificates from the CA in its data directory, opens N config streams (50 handshakes
at a time) and registers each (service ``svc-<i % 50>``), ACKing every snapshot as it arrives.
Once the pushes have settled it records the control plane's RSS, then applies an HTTPRoute change
``--applies`` times and times, for each, how long until the last client ACKed a snapshot newer
than the one it had when the POST started. The figure is p99 over the applies of that time,
against the issue's target of 1 s at 1000 sidecars. Output: a summary and
bench/out/controlplane.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import ssl
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.cpfleet import (
    Fleet,
    _follow,
    client_contexts,
)
from bench.cpstats import (
    SERVICES,
    BenchError,
    build_report,
    first_newer_delay,
    route,
    summary,
)
from bench.meta import cpu_model
from bench.procs import (
    LOADGEN_CORE,
    PROXY_CORE,
    ProcError,
    ProcessGroup,
    free_ports,
    wait_port,
)
from bench.procs import rss_mb as proc_rss_mb
from bench.report import write_json
from controlplane.api.snapshot import Registration, decode_server, encode
from controlplane.push import DEBOUNCE_S, MAX_DELAY_S, POLL_S

OUT = Path(__file__).resolve().parent / "out" / "controlplane.json"
HANDSHAKES_AT_ONCE = 50
LEASE_S = 60.0
FIRST_PORT = 20000  # sidecar i registers 127.0.0.1:FIRST_PORT + i
APPLY_TIMEOUT_S = 20.0
SETTLED_POLLS = 3  # /api/v1/proxies polls in a row, 0.5 s apart, with everything sent ACKed
STREAM = "/api/v1/stream"
# The child imports only the control plane, so its RSS is the control plane's own. It pins
# itself (argv[4], -1 for no pinning): taskset may be missing.
CHILD = (
    "import asyncio, os, sys; from pathlib import Path;"
    "from controlplane.server import ControlPlaneSettings, serve;"
    "core = int(sys.argv[4]); core < 0 or os.sched_setaffinity(0, {core});"
    "asyncio.run(serve(ControlPlaneSettings(data_dir=Path(sys.argv[1]), port=int(sys.argv[2]),"
    " lease_s=float(sys.argv[3]))))"
)


@dataclass
class Run:
    """One measurement: the session, the control plane's URL, pid and token, the streams."""

    session: aiohttp.ClientSession
    url: str
    pid: int
    token: str
    admin_ssl: ssl.SSLContext
    fleet: Fleet
    streams: list[aiohttp.ClientWebSocketResponse] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def connect(self, index: int, ctx: ssl.SSLContext, gate: asyncio.Semaphore) -> None:
        """Opens sidecar ``index``'s stream, registers it and starts ACKing."""
        async with gate:
            ws = await self.session.ws_connect(self.url + STREAM, ssl=ctx, autoping=True)
            self.streams.append(ws)
            port = FIRST_PORT + index
            service = f"svc-{index % SERVICES}"
            await ws.send_bytes(encode(Registration(
                service=service, labels={"app": service}, address="127.0.0.1", port=port,
                ready=True,
            )))  # fmt: skip
        self.tasks.append(asyncio.create_task(_follow(self.fleet, index, ws)))

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """An admin API call; returns the JSON answer, raises BenchError unless 200."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.request(
            method, self.url + path, json=body, headers=headers, ssl=self.admin_ssl
        ) as resp:
            if resp.status != 200:
                raise BenchError(f"{method} {path}: {resp.status} {await resp.text()}")
            return await resp.json()

    async def close(self) -> None:
        """Closes every stream (bounded) and stops every reader."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10.0):
                await asyncio.gather(*(ws.close() for ws in self.streams), return_exceptions=True)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def settle(run: Run, timeout_s: float) -> None:
    """Waits until all sidecars are listed, each has ACKed all it was sent, and the version holds
    still for SETTLED_POLLS polls (longer than the push's longest debounce)."""
    calm, seen, loop = 0, None, asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while calm < SETTLED_POLLS:
        if loop.time() > deadline:
            raise BenchError(f"the pushes did not settle within {timeout_s:g} s")
        await asyncio.sleep(0.5)
        answer = await run.call("GET", "/api/v1/proxies")
        items = answer["items"]
        done = len(items) == run.fleet.size and all(
            p["sent_version"] is not None and p["acked_version"] == p["sent_version"] for p in items
        )
        calm = calm + 1 if done and answer["version"] == seen else 0
        seen = answer["version"]


@dataclass(frozen=True)
class Applied:
    """One apply: seconds to the last ACK, each sidecar's delay, and the CPU share (CPU seconds
    per wall second) of this process and of the control plane meanwhile."""

    to_last_s: float
    delays_s: list[float]
    client_busy: float
    server_busy: float


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds ``pid`` has used (0.0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def apply_once(run: Run, change: int) -> Applied:
    """Applies route(``change``) and waits until every sidecar ACKed a newer snapshot."""
    floor = run.fleet.expect_newer()
    cpu0, server0, t0 = time.process_time(), cpu_s(run.pid), time.perf_counter()
    await run.call("POST", "/api/v1/resources", route(change))
    await run.fleet.all_newer(APPLY_TIMEOUT_S)
    wall = max(time.perf_counter() - t0, 1e-9)
    delays = [first_newer_delay(a, f, t0) for a, f in zip(run.fleet.acks, floor, strict=True)]
    known = [d for d in delays if d is not None]
    client, server = time.process_time() - cpu0, cpu_s(run.pid) - server0
    return Applied(max(known), known, client / wall, server / wall)


async def proxies_report(run: Run, version: int) -> dict[str, Any]:
    """Whether /api/v1/proxies shows every sidecar with ``version`` ACKed (ACKs land async)."""
    acked = 0
    for _ in range(20):
        items = (await run.call("GET", "/api/v1/proxies"))["items"]
        acked = sum(1 for p in items if p["acked_version"] == version)
        if acked == run.fleet.size:
            break
        await asyncio.sleep(0.25)
    return {"ok": acked == run.fleet.size, "version": version, "acked": acked}


# --- the run ------------------------------------------------------------------------------------


async def connect_all(run: Run, contexts: list[ssl.SSLContext]) -> None:
    """Opens every stream, HANDSHAKES_AT_ONCE at a time."""
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    await asyncio.gather(*(run.connect(i, ctx, gate) for i, ctx in enumerate(contexts)))


def _snapshot_meta(sample: bytes) -> dict[str, Any]:
    if not sample:
        return {}
    snapshot = decode_server(sample)
    endpoints = sum(len(c.endpoints) for c in snapshot.clusters)
    return {"bytes": len(sample), "clusters": len(snapshot.clusters), "endpoints": endpoints}


def caveats(meta: dict[str, Any], shared: bool) -> list[str]:
    """What a reader must know before trusting the figures of this run."""
    found = []
    if meta["load_generator_cpu_share_max"] >= 0.8:
        found.append(
            f"the load generator (all sidecars in one Python process on one core) was busy "
            f"{meta['load_generator_cpu_share_max']:.0%} of an apply's wall time: the delays "
            "include its own queueing, so they overstate the control plane's"
        )
    if not shared and not meta["snapshot"].get("clusters"):
        found.append(
            "each sidecar has its own identity (sa/proxy-<i>), so every service has instances of "
            "several identities and the control plane leaves it out (fail closed): snapshots "
            "carry no clusters; drop --no-shared-identity to give each service one identity"
        )
    if not meta["pinning"].startswith("control plane on core"):
        found.append("not pinned: the control plane and the sidecars share the cores")
    return found


async def measure(run: Run, contexts: list[ssl.SSLContext], applies: int) -> dict[str, Any]:
    """Connects, settles, then applies; returns the report without the run's settings."""
    before = proc_rss_mb(run.pid)
    started = time.perf_counter()
    await connect_all(run, contexts)
    connected_s = time.perf_counter() - started
    await settle(run, timeout_s=60.0)
    settled_s = time.perf_counter() - started
    connected = proc_rss_mb(run.pid)
    results = [await apply_once(run, change) for change in range(1, applies + 1)]
    meta = {
        "connect_s": round(connected_s, 2),
        "connect_and_settle_s": round(settled_s, 2),
        "load_generator_cpu_share_max": round(max(r.client_busy for r in results), 2),
        "control_plane_cpu_share_max": round(max(r.server_busy for r in results), 2),
        "proxies_acked_last": await proxies_report(run, max(run.fleet.latest)),
        "snapshot": _snapshot_meta(run.fleet.sample),
    }
    per_client = [d for r in results for d in r.delays_s]
    rss = (before, connected)
    return build_report(run.fleet.size, [r.to_last_s for r in results], per_client, rss, meta)


async def run_bench(args: argparse.Namespace, work: Path, group: ProcessGroup) -> dict[str, Any]:
    """Starts the control plane, waits until it serves, measures, and closes every stream."""
    data, certs = work / "data", work / "certs"
    certs.mkdir()
    port = free_ports(1)[0]
    child_core = PROXY_CORE if two_cores() else -1
    argv = [sys.executable, "-c", CHILD, str(data), str(port), str(LEASE_S), str(child_core)]
    proc = group.start("controlplane", argv)
    await asyncio.to_thread(wait_port, proc, port)
    admin_ssl = ssl.create_default_context(cafile=data / "ca" / "ca.pem")
    contexts = client_contexts(data, certs, args.sidecars, args.shared_identity)
    token = (data / "admin-token").read_text().strip()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        url = f"https://127.0.0.1:{port}"
        run = Run(session, url, proc.pid, token, admin_ssl, Fleet(args.sidecars))
        try:
            await run.call("GET", "/api/v1/proxies")  # warm: RSS 'before' is a serving process
            return await measure(run, contexts, args.applies)
        finally:
            await run.close()


async def bounded(args: argparse.Namespace, work: Path, group: ProcessGroup) -> dict[str, Any]:
    """run_bench within the global --timeout; raises BenchError when it runs out."""
    try:
        async with asyncio.timeout(args.timeout):
            return await run_bench(args, work, group)
    except TimeoutError:
        raise BenchError(f"not done within --timeout {args.timeout:g} s") from None


def run_meta(args: argparse.Namespace, pinning: str) -> dict[str, Any]:
    """The run's settings and machine, for comparing it with another run."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "pinning": pinning,
        "applies": args.applies,
        "services": SERVICES,
        "identities": "one per service" if args.shared_identity else "one per sidecar",
        "handshakes_at_once": HANDSHAKES_AT_ONCE,
        "lease_s": LEASE_S,
        "push": {"poll_s": POLL_S, "debounce_s": DEBOUNCE_S, "max_delay_s": MAX_DELAY_S},
        "percentiles": "nearest rank; apply_to_last_ack over the applies, per_client over "
        "every (apply, sidecar) pair; times from just before the POST to the ACK being sent",
        "rss": "VmRSS of the control plane process in MB (10^6 bytes)",
    }


def two_cores() -> bool:
    """Whether cores PROXY_CORE and LOADGEN_CORE are both ours to pin to."""
    return {PROXY_CORE, LOADGEN_CORE} <= os.sched_getaffinity(0)


def pin_self() -> str:
    """Pins this process to LOADGEN_CORE when both cores are ours; returns the layout."""
    if not two_cores():
        return "none (fewer than 2 usable cores): numbers are noisier"
    os.sched_setaffinity(0, {LOADGEN_CORE})
    return f"control plane on core {PROXY_CORE}, sidecars (this process) on core {LOADGEN_CORE}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.controlplane", description=__doc__)
    parser.add_argument("-n", "--sidecars", type=int, default=1000, help="streams (1000)")
    parser.add_argument("--applies", type=int, default=5, help="HTTPRoute applies timed (5)")
    parser.add_argument("--timeout", type=float, default=120.0, help="whole run, s (120)")
    shared = (
        "one identity per service (sa/svc-<i %% 50>, the default: what a mesh runs); "
        "--no-shared-identity gives every sidecar its own"
    )
    parser.add_argument(
        "--shared-identity", action=argparse.BooleanOptionalAction, default=True, help=shared
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON output (default {OUT})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark, prints the summary and writes the JSON; returns the exit code."""
    args = _parser().parse_args(argv)
    if not 1 <= args.sidecars <= 65535 - FIRST_PORT or args.applies < 1 or args.timeout <= 0:
        print("bench.controlplane: need 1 <= -n <= 45535, --applies >= 1", file=sys.stderr)
        return 2
    pinning = pin_self()
    with tempfile.TemporaryDirectory(prefix="glassmesh-cp-bench-") as tmp:
        work = Path(tmp)
        try:
            with ProcessGroup(work) as group:
                report = asyncio.run(bounded(args, work, group))
        except KeyboardInterrupt:
            print("bench.controlplane: interrupted", file=sys.stderr)
            return 130
        except (BenchError, ProcError, OSError, aiohttp.ClientError) as exc:
            print(f"bench.controlplane: {exc}", file=sys.stderr)
            return 1
    report["meta"] = {**run_meta(args, pinning), **report["meta"]}
    report["meta"]["caveats"] = caveats(report["meta"], args.shared_identity)
    write_json(args.out, report)
    print(f"{summary(report)}\n-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
