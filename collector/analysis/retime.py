"""What-if: a trace's duration re-evaluated with some spans faster, removed or run in parallel.

Each span's own time (before, between and after its children) is scaled by its factor. A child
starts after the sibling it waited for (``Tree.preds``) plus the parent's own time in between,
or at its original offset when it waited for none, so parallel branches stay parallel and the
slower one still decides. A removed span takes no time and neither does the wait after it; the
spans of a parallel group all start when the first of them did, and what waited for any of
them waits for all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from collector.analysis.tree import Tree


class Change:
    """One hypothetical fix: per-node factors of own time, removed nodes, parallel groups."""

    __slots__ = ("anchor", "drop", "factor", "group_of")

    def __init__(
        self,
        factor: Mapping[int, float] | None = None,
        drop: Collection[int] = (),
        parallel: Sequence[Sequence[int]] = (),
    ) -> None:
        self.factor = factor or {}
        self.drop = frozenset(drop)
        self.group_of: dict[int, int] = {}
        self.anchor: dict[int, int] = {}
        for g, members in enumerate(parallel):
            for m in members:
                self.group_of[m] = g
                self.anchor[m] = members[0]


def retime(tree: Tree, change: Change) -> int:
    """The root's duration (ns) with ``change`` applied."""
    if not len(tree):
        return 0
    return int(_duration(tree, 0, change, tree.preds()))


def _duration(tree: Tree, i: int, change: Change, preds: list[int]) -> float:
    if i in change.drop:
        return 0.0
    f = change.factor.get(i, 1.0)
    kids = tree.children[i]
    start, end = tree.start, tree.end
    if not kids:
        return (end[i] - start[i]) * f
    new_start: dict[int, float] = {}
    new_end: dict[int, float] = {}
    group_end: dict[int, float] = {}
    waited_for: set[int] = set()
    for c in kids:
        p = preds[c]
        anchor = change.anchor.get(c, c)
        if anchor != c and anchor in new_start:
            begin = new_start[anchor]
        elif p < 0:
            begin = (start[c] - start[i]) * f
        else:
            waited_for.add(p)
            raw = start[c] - end[p]
            gap = 0.0 if p in change.drop else raw * f if raw > 0 else float(raw)
            begin = _end_of(p, change, new_end, group_end) + gap
        new_start[c] = begin
        new_end[c] = finish = begin + _duration(tree, c, change, preds)
        g = change.group_of.get(c)
        if g is not None:
            group_end[g] = max(group_end.get(g, 0.0), finish)
    last = max(_end_of(c, change, new_end, group_end) for c in kids if c not in waited_for)
    return last + max(0, end[i] - max(end[c] for c in kids)) * f


def _end_of(
    node: int, change: Change, new_end: dict[int, float], group_end: dict[int, float]
) -> float:
    g = change.group_of.get(node)
    return group_end[g] if g is not None else new_end[node]
