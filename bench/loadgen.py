"""Open-loop HTTP/1.1 load at a fixed rate, wrk2-style; run it as ``python -m bench.loadgen``.

Requests follow a plan, one every 1/rate seconds. Each goes out on whichever keep-alive connection
is idle, or waits in a backlog until one is, and its latency counts from its INTENDED send time:
a stall in the target then shows up in the histogram instead of quietly slowing the client down
(coordinated omission). The pacer sleeps until ~2 ms before a send and spins the event loop for
the rest, so sends are not late by the event loop's 1 ms timer granularity. It is meant to run in
its own process on its own core; it prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import httptools
import uvloop

from bench.stats import encode, new_histogram, record_s, summarize

SPIN_S = 0.002
VALID_FRACTION = 0.95
clock = time.perf_counter


@dataclass(frozen=True)
class LoadSettings:
    """Where to send, how fast, over how many connections, for how long."""

    host: str
    port: int
    host_header: str
    rate: float
    connections: int
    duration_s: float
    warmup_s: float
    drain_s: float = 5.0


class Recorder:
    """Latencies of requests intended at or after ``measure_from``; earlier ones are warm-up."""

    def __init__(self, measure_from: float) -> None:
        self.measure_from = measure_from
        self.corrected = new_histogram()
        self.uncorrected = new_histogram()
        self.completed = 0
        self.errors = 0
        self.non_2xx = 0
        self.last_done = measure_from

    def record(self, intended: float, sent: float, status: int | None) -> None:
        """Record one finished request; ``status`` None means the connection failed under it."""
        if intended < self.measure_from:
            return
        if status is None:
            self.errors += 1
            return
        done = clock()
        self.completed += 1
        self.last_done = max(self.last_done, done)
        self.non_2xx += not 200 <= status < 300
        record_s(self.corrected, done - intended)
        record_s(self.uncorrected, done - sent)


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self.intended: float | None = None
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def close(self) -> None:
        """Close the connection (the pool is shutting down)."""
        if self._transport is not None:
            self._transport.close()

    def send(self, intended: float) -> None:
        """Write the request planned for ``intended``."""
        assert self._transport is not None
        self.intended = intended
        self.sent = clock()
        self._transport.write(self._pool.request)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.close()

    def on_message_complete(self) -> None:
        """httptools callback: the response is complete."""
        intended, self.intended = self.intended, None
        if intended is not None:
            self._pool.complete(self, intended, self._parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self._pool.lost(self)


class Pool:
    """Connections, the idle ones, and the backlog of planned requests waiting for one."""

    def __init__(self, settings: LoadSettings, recorder: Recorder) -> None:
        self.settings = settings
        self.recorder = recorder
        head = f"GET / HTTP/1.1\r\nHost: {settings.host_header}\r\nUser-Agent: glassmesh-bench\r\n"
        self.request = (head + "\r\n").encode()
        self.idle: deque[Connection] = deque()
        self.backlog: deque[float] = deque()
        self.busy = 0
        self.conns: set[Connection] = set()
        self.closing = False
        self.quiet = asyncio.Event()  # set whenever nothing is outstanding
        self._tasks: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        """Open one connection and put it to work."""
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: Connection(self), self.settings.host, self.settings.port
        )
        self.conns.add(conn)
        self._next(conn)

    def submit(self, intended: float) -> None:
        """Send the request planned for ``intended`` now, or queue it while all are busy."""
        self.quiet.clear()
        if self.idle:
            self.busy += 1
            self.idle.popleft().send(intended)
        else:
            self.backlog.append(intended)

    def complete(self, conn: Connection, intended: float, status: int) -> None:
        """A response arrived: record it and give the connection its next request."""
        self.busy -= 1
        self.recorder.record(intended, conn.sent, status)
        self._next(conn)
        if not self.outstanding():
            self.quiet.set()

    def lost(self, conn: Connection) -> None:
        """A connection closed: fail its request and open a replacement in the background."""
        self.conns.discard(conn)
        if self.closing:
            return
        if conn.intended is not None:
            self.busy -= 1
            self.recorder.record(conn.intended, conn.sent, None)
            conn.intended = None
        if conn in self.idle:
            self.idle.remove(conn)
        if not self.outstanding():
            self.quiet.set()
        task = asyncio.get_running_loop().create_task(self._replace())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self) -> None:
        try:
            await self.connect()
        except OSError:
            self.recorder.errors += 1

    def _next(self, conn: Connection) -> None:
        if self.backlog:
            self.busy += 1
            conn.send(self.backlog.popleft())
        else:
            self.idle.append(conn)

    def outstanding(self) -> int:
        """Requests sent or queued but not yet answered."""
        return self.busy + len(self.backlog)

    async def close(self) -> None:
        """Close every connection; cancel and await replacement connects still under way."""
        self.closing = True
        for conn in list(self.conns):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _until(deadline: float) -> None:
    """Sleep until ~2 ms before ``deadline``, then spin the loop (still serving I/O) until it."""
    delay = deadline - clock()
    if delay > SPIN_S:
        await asyncio.sleep(delay - SPIN_S)
    while clock() < deadline:  # noqa: ASYNC110 (spinning on purpose: timers are 1 ms coarse)
        await asyncio.sleep(0)


async def _pace(pool: Pool, start: float, rate: float, total: int) -> None:
    """Submit ``total`` requests at ``start + i / rate``; late ones go out at once (open loop)."""
    for i in range(total):
        intended = start + i / rate
        await _until(intended)
        pool.submit(intended)


async def _drain(pool: Pool, timeout_s: float) -> None:
    """Wait, at most ``timeout_s``, for every outstanding request to finish."""
    if pool.outstanding():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pool.quiet.wait(), timeout_s)


async def run(settings: LoadSettings) -> dict[str, Any]:
    """Run the plan (warm-up then measurement) and return the report."""
    start = clock() + 0.2
    recorder = Recorder(measure_from=start + settings.warmup_s)
    pool = Pool(settings, recorder)
    await asyncio.gather(*(pool.connect() for _ in range(settings.connections)))
    total = round(settings.rate * (settings.warmup_s + settings.duration_s))
    await _pace(pool, start, settings.rate, total)
    await _drain(pool, settings.drain_s)
    await pool.close()
    return report(settings, recorder, unfinished=pool.outstanding())


def report(settings: LoadSettings, recorder: Recorder, unfinished: int) -> dict[str, Any]:
    """The JSON report: rates, error counts, corrected and uncorrected latency summaries."""
    elapsed = recorder.last_done - recorder.measure_from
    achieved = recorder.completed / elapsed if elapsed > 0 else 0.0
    return {
        "target_rps": settings.rate,
        "achieved_rps": achieved,
        "valid": achieved >= VALID_FRACTION * settings.rate and not recorder.errors,
        "connections": settings.connections,
        "duration_s": settings.duration_s,
        "warmup_s": settings.warmup_s,
        "completed": recorder.completed,
        "errors": recorder.errors,
        "non_2xx": recorder.non_2xx,
        "unfinished": unfinished,
        "latency": summarize(recorder.corrected),
        "uncorrected_latency": summarize(recorder.uncorrected),
        "histogram_us": encode(recorder.corrected),
    }


def _parse_args(argv: Sequence[str] | None) -> LoadSettings:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host-header", default="server")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    args = parser.parse_args(argv)
    return LoadSettings(
        host=args.host,
        port=args.port,
        host_header=args.host_header,
        rate=args.rate,
        connections=args.connections,
        duration_s=args.duration,
        warmup_s=args.warmup,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one load and print its JSON report; exit 1 if the target cannot be reached."""
    settings = _parse_args(argv)
    gc.disable()  # a collection pause here would be charged to the target
    try:
        result: dict[str, Any] = uvloop.run(run(settings))
    except OSError as exc:
        print(f"loadgen: cannot connect to {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    if not result["valid"]:
        print(
            f"loadgen: WARNING achieved {result['achieved_rps']:.0f} rps of "
            f"{settings.rate:.0f} target with {result['errors']} errors; latency is not valid",
            file=sys.stderr,
        )
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
