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
    """The root's duration (ns) with ``change`` applied. Only the changed spans and their
    ancestors are re-evaluated: any other span keeps its duration."""
    if not len(tree):
        return 0
    affected: set[int] = set()
    parent = tree.parent
    # A parallel group's members keep their durations: only their parent's layout changes.
    moved = [parent[m] for m in change.group_of]
    for changed in (*change.factor, *change.drop, *moved):
        node = changed
        while node >= 0 and node not in affected:
            affected.add(node)
            node = parent[node]
    if 0 not in affected:
        return tree.duration
    return int(_duration(tree, 0, change, tree.preds(), affected))


def _duration(tree: Tree, i: int, change: Change, preds: list[int], affected: set[int]) -> float:
    """The new duration of ``i``, one of the changed spans or their ancestors."""
    if i in change.drop:
        return 0.0
    f = change.factor.get(i, 1.0)
    if not tree.children[i]:
        return (tree.end[i] - tree.start[i]) * f
    return _timeline(tree, i, f, change, preds, affected)


def _timeline(  # noqa: PLR0917
    tree: Tree, i: int, f: float, change: Change, preds: list[int], affected: set[int]
) -> float:
    """Lays the children of ``i`` out again; the new duration of ``i``."""
    rows, terminals, tail = tree.layout(i)
    drop, anchors = change.drop, change.anchor
    new_start: dict[int, float] = {}
    new_end: dict[int, float] = {}
    group_end: dict[int, float] = {}  # by anchor: the latest end of a parallel group so far
    for c, p, gap, was in rows:
        anchor = anchors.get(c, c) if anchors else c
        if anchor != c and anchor in new_start:
            begin = new_start[anchor]
        elif p < 0:
            begin = gap * f
        else:
            waited = group_end[anchors[p]] if p in anchors else new_end[p]
            begin = waited + (0.0 if p in drop else gap * f if gap > 0 else gap)
        new_start[c] = begin
        took = _duration(tree, c, change, preds, affected) if c in affected else was
        new_end[c] = finish = begin + took
        if c in anchors:
            group_end[anchor] = max(group_end.get(anchor, 0.0), finish)
    last = max(group_end[anchors[c]] if c in anchors else new_end[c] for c in terminals)
    return last + tail * f
