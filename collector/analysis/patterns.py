"""Patterns in one trace, each with the time its fix would save (re-evaluated, see retime).

Under one parent, children are grouped by what they call (the SERVER span answering a CLIENT
span, else the child itself) and walked in start order:

* ``retry_storm``: the same call made again after it failed; the fix removes the failed
  attempts and the waits after them.
* ``n_plus_one``: the same call made ``N_PLUS_ONE`` or more times, each after the previous one
  finished; the fix runs them at once (one batched call costs about as much as the slowest).
* ``sequential_fanout``: calls to different services, each started as soon as the previous one
  returned (the parent did no work in between, so it did not need the previous result); the fix
  runs them in parallel.
* ``error_origin`` (of a failed trace): a failed span none of whose children failed: where the
  error began, as opposed to the spans that passed it on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from collector.analysis.retime import Change, retime
from collector.analysis.tree import KIND_CLIENT, KIND_PRODUCER, Key, Tree

N_PLUS_ONE = 3  # sequential calls of one operation under one parent
FANOUT_GAP = 0.1  # own time between fan-out calls, as a share of the previous call (at most)
FANOUT_GAP_NS = 1_000_000  # ... or at most 1 ms
CALL_KINDS = (KIND_CLIENT, KIND_PRODUCER)


class Found(NamedTuple):
    kind: str
    service: str
    operation: str
    saving_ns: int
    detail: str


def callee(tree: Tree, c: int) -> Key:
    """What child ``c`` calls: its server span's (service, operation), else its own."""
    return tree.callees()[c]


def _failed(tree: Tree, c: int) -> bool:
    server = tree.server_child(c)
    return tree.error[c] or (server >= 0 and tree.error[server])


def _runs(tree: Tree, kids: Sequence[int], preds: list[int]) -> list[list[int]]:
    """Maximal runs of the same callee, each call started after the previous one ended."""
    runs: list[list[int]] = []
    open_runs: dict[Key, list[int]] = {}
    callees = tree.callees()
    for c in kids:
        key = callees[c]
        run = open_runs.get(key)
        if run is not None and preds[c] == run[-1]:
            run.append(c)
            continue
        open_runs[key] = [c]
        runs.append(open_runs[key])
    return [r for r in runs if len(r) >= 2]


def detect(tree: Tree) -> list[Found]:
    """Every pattern in ``tree`` with the saving of its fix; error origins when the root
    failed (their saving is settled over the window, see report)."""
    found: list[Found] = []
    preds = tree.preds()
    duration = tree.duration
    for i, kids in enumerate(tree.children):
        if len(kids) < 2:
            continue
        in_runs: set[int] = set()
        for run in _runs(tree, kids, preds):
            in_runs.update(run)
            found += _run_pattern(tree, i, run, duration)
        chain = _fanout(tree, i, [c for c in kids if c not in in_runs], preds)
        if chain:
            saving = duration - retime(tree, Change(parallel=[chain]))
            names = ", ".join(dict.fromkeys(callee(tree, c)[0] for c in chain))
            if saving > 0:
                found.append(Found("sequential_fanout", tree.service[i], tree.name[i], saving,
                                   f"calls {names} one after another"))  # fmt: skip
    if tree.error[0]:
        found += [Found("error_origin", *tree.key(o), 0, "") for o in error_origins(tree)]
    return found


def _run_pattern(tree: Tree, parent: int, run: list[int], duration: int) -> list[Found]:
    service, operation = callee(tree, run[0])
    caller = f"{tree.service[parent]} {tree.name[parent]}"
    failed = [c for c in run[:-1] if _failed(tree, c)]
    if failed:
        saving = duration - retime(tree, Change(drop=failed))
        detail = f"{caller} retried it {len(failed)} time(s) after failures"
        return [Found("retry_storm", service, operation, saving, detail)] if saving > 0 else []
    if len(run) < N_PLUS_ONE:
        return []
    saving = duration - retime(tree, Change(parallel=[run]))
    detail = f"{caller} calls it {len(run)} times in sequence"
    return [Found("n_plus_one", service, operation, saving, detail)] if saving > 0 else []


def _fanout(tree: Tree, parent: int, kids: list[int], preds: list[int]) -> list[int]:
    """The longest chain of back-to-back calls to other services under ``parent``."""
    best: list[int] = []
    chain: list[int] = []
    own = tree.service[parent]
    callees, kind = tree.callees(), tree.kind
    for c in kids:
        if kind[c] not in CALL_KINDS or callees[c][0] == own:
            continue
        p = preds[c]
        if chain and p == chain[-1] and _back_to_back(tree, p, c):
            chain.append(c)
        else:
            chain = [c]
        if len(chain) > len(best):
            best = list(chain)
    services = {callee(tree, c)[0] for c in best}
    return best if len(best) >= 2 and len(services) >= 2 else []


def _back_to_back(tree: Tree, before: int, after: int) -> bool:
    gap = tree.start[after] - tree.end[before]
    previous = tree.end[before] - tree.start[before]
    return gap <= max(FANOUT_GAP_NS, previous * FANOUT_GAP)


def error_origins(tree: Tree) -> list[int]:
    """Failed nodes none of whose children failed."""
    error = tree.error
    return [
        i for i, kids in enumerate(tree.children) if error[i] and not any(error[c] for c in kids)
    ]
