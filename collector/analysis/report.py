"""An entry endpoint's report over a window: latency, critical-path shares, ranked bottlenecks.

A bottleneck's ``estimated_saving_ms`` is the mean end-to-end time a request would save:
* patterns (n+1, fan-out, retries): the per-trace saving of their fix, averaged over the window;
* ``self_time`` and ``slow_edge``: the operation's own time (or the gap between a CLIENT span and
  its SERVER span) ``improvement`` faster, re-evaluated on the window's most recent traces
  (retime), with the p50/p95 savings in ``detail``;
* ``error_origin``: a user retries a failed request, so a request takes mean / (1 - error rate)
  on average until it succeeds; the saving is how much less that is without this origin's
  failures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import msgspec

from collector.analysis.facts import TraceFacts
from collector.analysis.retime import Change, retime
from collector.analysis.tree import Key, Tree

CANDIDATES = 6  # operations tried in what-if, per kind, by critical-path share
EVIDENCE = 5  # trace ids per finding
MAX_FINDINGS = 20
MIN_SAVING_MS = 0.05  # below this a finding is noise
MAX_ERROR_RATE = 0.9  # keeps the retry model finite


class Endpoint(msgspec.Struct, frozen=True):
    service: str
    operation: str
    requests: int
    errors: int
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    lookback_s: float


class Operation(msgspec.Struct, frozen=True):
    """A (service, operation) on the endpoint's critical paths."""

    service: str
    operation: str
    critical_path_share: float  # mean share of end-to-end latency
    critical_path_share_slowest: float  # the same in the slowest 5 % of traces
    self_ms: float  # mean own time, in traces where it is on the critical path
    wait_ms: float  # mean time waiting on its children, likewise
    gap_ms: float  # mean CLIENT-minus-SERVER time of calls to it (network, queue, mesh)
    gap_share: float  # mean share of end-to-end latency that gap holds on the critical path
    gap_share_slowest: float  # the same in the slowest 5 % of traces


class Bottleneck(msgspec.Struct, frozen=True):
    kind: str
    service: str
    operation: str
    critical_path_share: float
    critical_path_share_slowest: float
    estimated_saving_ms: float
    detail: str
    evidence_trace_ids: list[str]
    p50_saving_ms: float | None = None
    p95_saving_ms: float | None = None


class Report(msgspec.Struct, frozen=True):
    endpoint: Endpoint
    bottlenecks: list[Bottleneck]
    operations: list[Operation]


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty sequence."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def build_report(
    entry: Key,
    facts: Sequence[TraceFacts],
    trees: Sequence[Tree],
    lookback_s: float,
    improvement: float,
) -> Report:
    """The report of ``facts`` (non-empty), what-if evaluated on ``trees``."""
    durations = sorted(f.duration for f in facts)
    errors = sum(f.error for f in facts)
    endpoint = Endpoint(entry[0], entry[1], len(facts), errors, round(errors / len(facts), 6),
                        _ms(quantile(durations, 0.5)), _ms(quantile(durations, 0.95)),
                        _ms(quantile(durations, 0.99)), lookback_s)  # fmt: skip
    operations = _operations(facts, quantile(durations, 0.95))
    shares = {(o.service, o.operation): o for o in operations}
    found = _patterns(facts, shares) + _error_origins(facts, shares)
    found += _what_if(trees, operations, shares, improvement)
    found = [b for b in found if b.estimated_saving_ms >= MIN_SAVING_MS]
    found.sort(key=lambda b: (-b.estimated_saving_ms, b.kind, b.service, b.operation))
    return Report(endpoint, found[:MAX_FINDINGS], operations)


def _operations(facts: Sequence[TraceFacts], p95: float) -> list[Operation]:
    share, slow, slowest = _mean_shares(facts, p95, "critical")
    gap_share, gap_slow, _ = _mean_shares(facts, p95, "edge_critical")
    seen: dict[Key, int] = {}
    own: dict[Key, int] = {}
    wait: dict[Key, int] = {}
    gaps: dict[Key, tuple[int, int]] = {}
    for f in facts:
        for key in f.critical:
            seen[key] = seen.get(key, 0) + 1
            own[key] = own.get(key, 0) + f.self_ns.get(key, 0)
            wait[key] = wait.get(key, 0) + f.wait_ns.get(key, 0)
        for key, g in f.gap.items():
            total, count = gaps.get(key, (0, 0))
            gaps[key] = (total + g, count + 1)
    n = len(facts)
    ops = [
        Operation(
            key[0],
            key[1],
            round(share.get(key, 0.0) / n, 6),
            round(slow.get(key, 0.0) / max(1, slowest), 6),
            _ms(own[key] / seen[key]) if key in seen else 0.0,
            _ms(wait[key] / seen[key]) if key in seen else 0.0,
            _ms(gaps[key][0] / gaps[key][1]) if key in gaps else 0.0,
            round(gap_share.get(key, 0.0) / n, 6),
            round(gap_slow.get(key, 0.0) / max(1, slowest), 6),
        )
        for key in share.keys() | gap_share.keys()
    ]
    ops.sort(key=lambda o: (-o.critical_path_share, o.service, o.operation))
    return ops


def _mean_shares(
    facts: Sequence[TraceFacts], p95: float, field: str
) -> tuple[dict[Key, float], dict[Key, float], int]:
    """Per key, the sum over traces of (critical ns / duration), the same over the slowest
    traces, and how many traces are among the slowest."""
    share: dict[Key, float] = {}
    slow: dict[Key, float] = {}
    slowest = 0
    for f in facts:
        is_slow = f.duration >= p95
        slowest += is_slow
        d = f.duration or 1
        times: dict[Key, int] = getattr(f, field)
        for key, t in times.items():
            share[key] = share.get(key, 0.0) + t / d
            if is_slow:
                slow[key] = slow.get(key, 0.0) + t / d
    return share, slow, slowest


def _shares(shares: dict[Key, Operation], key: Key, kind: str = "") -> tuple[float, float]:
    op = shares.get(key)
    if op is None:
        return 0.0, 0.0
    if kind == "slow_edge":
        return op.gap_share, op.gap_share_slowest
    return op.critical_path_share, op.critical_path_share_slowest


def _patterns(facts: Sequence[TraceFacts], shares: dict[Key, Operation]) -> list[Bottleneck]:
    total: dict[tuple[str, str, str], int] = {}
    examples: dict[tuple[str, str, str], list[tuple[int, str, str]]] = {}
    for f in facts:
        for p in f.patterns:
            if p.kind == "error_origin":
                continue
            key = (p.kind, p.service, p.operation)
            total[key] = total.get(key, 0) + p.saving_ns
            examples.setdefault(key, []).append((p.saving_ns, f.trace_id, p.detail))
    found = []
    for key, saving in total.items():
        best = sorted(examples[key], reverse=True)
        ids = list(dict.fromkeys(t for _, t, _ in best))[:EVIDENCE]
        detail = f"{best[0][2]}; in {len(best)} of {len(facts)} traces"
        found.append(Bottleneck(key[0], key[1], key[2], *_shares(shares, key[1:]),
                                _ms(saving / len(facts)), detail, ids))  # fmt: skip
    return found


def _error_origins(facts: Sequence[TraceFacts], shares: dict[Key, Operation]) -> list[Bottleneck]:
    origins: dict[Key, list[str]] = {}
    failed = 0
    for f in facts:
        if not f.error:
            continue
        failed += 1
        for key in dict.fromkeys((p.service, p.operation) for p in f.patterns
                                 if p.kind == "error_origin"):  # fmt: skip
            origins.setdefault(key, []).append(f.trace_id)
    n = len(facts)
    mean = sum(f.duration for f in facts) / n
    rate = min(failed / n, MAX_ERROR_RATE)
    found = []
    for key, ids in origins.items():
        without = max(0.0, rate - len(ids) / n)
        saving = mean / (1 - rate) - mean / (1 - without)
        detail = f"failed first in {len(ids)} of {failed} failed requests (others passed it on)"
        found.append(Bottleneck("error_origin", key[0], key[1], *_shares(shares, key),
                                _ms(saving), detail, ids[-EVIDENCE:]))  # fmt: skip
    return found


def _what_if(
    trees: Sequence[Tree],
    operations: Sequence[Operation],
    shares: dict[Key, Operation],
    improvement: float,
) -> list[Bottleneck]:
    if not trees:
        return []
    factor = 1.0 - improvement
    by_share = [(o.service, o.operation) for o in operations]
    own = [k for k in by_share if _has_own_time(trees, k)][:CANDIDATES]
    by_gap = sorted((o for o in operations if o.gap_share > 0), key=lambda o: -o.gap_share)
    found = []
    for key in own:
        found.append(
            _evaluate("self_time", key, trees, nodes_of=_own_nodes, shares=shares, factor=factor)
        )
    for op in by_gap[:CANDIDATES]:
        key = (op.service, op.operation)
        found.append(
            _evaluate("slow_edge", key, trees, nodes_of=_edge_nodes, shares=shares, factor=factor)
        )
    return found


def _own_nodes(tree: Tree, key: Key) -> list[int]:
    """Nodes of ``key`` whose own time is their own work (not a CLIENT span's network gap)."""
    return [i for i in range(len(tree)) if tree.key(i) == key and tree.server_child(i) < 0]


def _edge_nodes(tree: Tree, key: Key) -> list[int]:
    """CLIENT spans calling ``key``: their own time is the gap to its SERVER span."""
    found = []
    for i in range(len(tree)):
        server = tree.server_child(i)
        if server >= 0 and tree.key(server) == key:
            found.append(i)
    return found


def _has_own_time(trees: Sequence[Tree], key: Key) -> bool:
    return any(_own_nodes(t, key) for t in trees[-20:])


def _evaluate(
    kind: str,
    key: Key,
    trees: Sequence[Tree],
    *,
    nodes_of: Callable[[Tree, Key], list[int]],
    shares: dict[Key, Operation],
    factor: float,
) -> Bottleneck:
    before: list[int] = []
    after: list[int] = []
    savings: list[tuple[int, str]] = []
    for tree in trees:
        nodes = nodes_of(tree, key)
        new = retime(tree, Change(factor=dict.fromkeys(nodes, factor))) if nodes else tree.duration
        before.append(tree.duration)
        after.append(new)
        savings.append((tree.duration - new, tree.trace_id.hex()))
    before.sort()
    after.sort()
    mean = sum(s for s, _ in savings) / len(savings)
    p50 = quantile(before, 0.5) - quantile(after, 0.5)
    p95 = quantile(before, 0.95) - quantile(after, 0.95)
    ids = [t for s, t in sorted(savings, reverse=True)[:EVIDENCE] if s > 0]
    what = "own time" if kind == "self_time" else "network/mesh time of calls to it"
    detail = f"{what} {1 - factor:.0%} faster: p50 -{_ms(p50)} ms, p95 -{_ms(p95)} ms"
    return Bottleneck(kind, key[0], key[1], *_shares(shares, key, kind), _ms(mean), detail, ids,
                      _ms(p50), _ms(p95))  # fmt: skip
