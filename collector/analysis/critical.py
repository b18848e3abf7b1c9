"""The critical path of one trace: walk back from the last-finishing child (Jaeger, CRISP).

From a span's end, the child that finished last is critical; the span's own time after that
child is critical self time; the walk recurses into the child, then continues before the child's
start with the sibling that finished last by then. Siblings may overlap by a little (1 % of the
parent, CRISP's clock-skew allowance) and still count as one after the other; the overlapped
part is counted once, for the later sibling.
"""

from __future__ import annotations

from collector.analysis.tree import Tree

SIBLING_OVERLAP = 0.01  # of the parent's duration (CRISP)


def overlap_tolerance(tree: Tree, i: int) -> int:
    """How much siblings under node ``i`` may overlap and still be sequential (ns)."""
    return int((tree.end[i] - tree.start[i]) * SIBLING_OVERLAP)


def critical_path(tree: Tree) -> list[int]:
    """Critical self time (ns) of every node; the values add up to the root's duration."""
    cp = [0] * len(tree)
    if len(tree):
        _walk(tree, 0, tree.end[0], cp)
    return cp


def _walk(tree: Tree, i: int, until: int, cp: list[int]) -> None:
    start, end = tree.start, tree.end
    lo = start[i]
    cursor = until
    tol = overlap_tolerance(tree, i)
    for c in sorted(tree.children[i], key=end.__getitem__, reverse=True):
        if cursor <= lo:
            break
        child_end = end[c]
        if child_end > cursor + tol or start[c] >= cursor:
            continue  # overlaps what runs after it: parallel, not waited for
        child_end = min(child_end, cursor)
        cp[i] += cursor - child_end
        _walk(tree, c, child_end, cp)
        cursor = max(lo, start[c])
    cp[i] += max(0, cursor - lo)


def path_nodes(tree: Tree, cp: list[int]) -> list[int]:
    """Nodes with critical time, in start order."""
    return sorted((i for i, t in enumerate(cp) if t > 0), key=tree.start.__getitem__)


def waiting(tree: Tree, i: int) -> int:
    """Time (ns) node ``i`` spends with at least one child running (the rest is self time)."""
    busy, reach = 0, tree.start[i]
    for c in tree.children[i]:  # sorted by start
        s, e = max(tree.start[c], reach), tree.end[c]
        if e > s:
            busy += e - s
            reach = e
    return busy
