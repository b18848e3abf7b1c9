"""A completed trace as a tree of parallel arrays, corrected for clock skew and clipped.

Node 0 is the root. A span whose parent never arrived (a service that lost its spans or did not
propagate the context) hangs under the shortest span that encloses it in time, else under the
root, so its time still counts where it was most likely spent. A child reported by another service
(another host, another clock) that does not fit inside its parent is shifted to the middle of it
when it is short enough, as Jaeger's clock-skew adjuster does; what still overflows is clipped,
and a child wholly outside its parent is dropped (Jaeger's and CRISP's sanitising).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

# A span as the assembler keeps it: span id, parent span id, service, name, kind, start ns,
# end ns, failed.
SpanTuple = tuple[bytes, bytes, str, str, int, int, int, bool]
SID: Final = 0
PARENT: Final = 1
SERVICE: Final = 2
NAME: Final = 3
KIND: Final = 4
START: Final = 5
END: Final = 6
ERROR: Final = 7
KIND_SERVER: Final = 2  # OTLP SpanKind values
KIND_CLIENT: Final = 3
KIND_PRODUCER: Final = 4
MAX_DEPTH: Final = 128  # deeper spans are left out (no real call chain is this deep)
Key = tuple[str, str]  # (service, operation)
Layout = tuple[list[tuple[int, int, float, float]], list[int], float]


class Tree:
    """Parallel arrays indexed by node; ``children[i]`` is sorted by start."""

    __slots__ = ("_callees", "_layout", "_preds", "_servers", "children", "end", "error",
                 "keys", "kind", "name", "parent", "service", "span_ids", "start",
                 "trace_id")  # fmt: skip

    def __init__(self, trace_id: bytes) -> None:
        self.trace_id = trace_id
        self.span_ids: list[bytes] = []
        self.service: list[str] = []
        self.name: list[str] = []
        self.kind: list[int] = []
        self.error: list[bool] = []
        self.start: list[int] = []
        self.end: list[int] = []
        self.parent: list[int] = []
        self.children: list[list[int]] = []
        self.keys: list[Key] = []  # (service, name) of each node
        self._preds: list[int] | None = None
        self._servers: list[int] | None = None
        self._callees: list[Key] | None = None
        self._layout: list[Layout | None] | None = None

    def __len__(self) -> int:
        return len(self.start)

    @property
    def duration(self) -> int:
        return self.end[0] - self.start[0]

    def key(self, i: int) -> Key:
        return self.keys[i]

    def server_child(self, i: int) -> int:
        """The SERVER span answering CLIENT span ``i`` (its only child), or -1."""
        return self.servers()[i]

    def servers(self) -> list[int]:
        """``server_child`` of every node. Computed once."""
        if self._servers is None:
            kind, client, server = self.kind, KIND_CLIENT, KIND_SERVER
            self._servers = [
                kids[0] if kind[i] == client and len(kids) == 1 and kind[kids[0]] == server else -1
                for i, kids in enumerate(self.children)
            ]
        return self._servers

    def callees(self) -> list[Key]:
        """What each node calls: its server span's key, else its own. Computed once."""
        if self._callees is None:
            keys = self.keys
            self._callees = [keys[s] if s >= 0 else keys[i] for i, s in enumerate(self.servers())]
        return self._callees

    def layout(self, i: int) -> Layout:
        """What re-timing node ``i`` needs (see retime): for each child (child, the sibling it
        waited for or -1, the gap after that sibling or its offset in the parent, its
        duration); the children nothing waited for; the parent's own time after the last
        child. Computed once per node, when first asked for."""
        if self._layout is None:
            self._layout = [None] * len(self.start)
        found = self._layout[i]
        if found is None:
            found = self._layout[i] = _layout(self, i)
        return found

    def preds(self) -> list[int]:
        """For each node, the sibling that finished last before it started (what it waited
        for, as far as a trace can tell), or -1. Computed once."""
        if self._preds is None:
            self._preds = _preds(self)
        return self._preds


def _layout(tree: Tree, i: int) -> Layout:
    preds, start, end, kids = tree.preds(), tree.start, tree.end, tree.children[i]
    rows = []
    waited = set()
    latest = start[i]
    for c in kids:
        p = preds[c]
        if p >= 0:
            waited.add(p)
        gap = start[c] - (end[p] if p >= 0 else start[i])
        rows.append((c, p, float(gap), float(end[c] - start[c])))
        latest = max(latest, end[c])
    terminals = [c for c in kids if c not in waited]
    return rows, terminals, float(max(0, end[i] - latest))


def _preds(tree: Tree) -> list[int]:
    from collector.analysis.critical import overlap_tolerance

    preds = [-1] * len(tree)
    start, end = tree.start, tree.end
    for i, kids in enumerate(tree.children):
        if len(kids) < 2:
            continue
        tol = overlap_tolerance(tree, i)
        for n, c in enumerate(kids):
            best, best_end = -1, -1
            for p in kids[:n]:
                if end[p] <= start[c] + tol and start[p] < start[c] and end[p] > best_end:
                    best, best_end = p, end[p]
            preds[c] = best
    return preds


def build_tree(trace_id: bytes, spans: Sequence[SpanTuple]) -> Tree | None:
    """The tree of ``spans`` (duplicates by span id keep the first), None when no span can be
    the root (only possible when parent links form a cycle)."""
    by_id: dict[bytes, SpanTuple] = {}
    for s in spans:
        by_id.setdefault(s[SID], s)
    roots = [s for s in by_id.values() if not s[PARENT]]
    candidates = roots or [s for s in by_id.values() if s[PARENT] not in by_id]
    if not candidates:
        return None
    root = min(candidates, key=lambda s: (s[START], -s[END]))
    kids: dict[bytes, list[SpanTuple]] = {}
    orphans = []
    root_id = root[SID]
    for s in by_id.values():
        if s[SID] == root_id:  # by id, not identity: compiled code copies tuples
            continue
        if s[PARENT] in by_id:
            kids.setdefault(s[PARENT], []).append(s)
        else:
            orphans.append(s)
    if orphans:
        _adopt(root, orphans, kids)
    tree = Tree(trace_id)
    _place(tree, root, kids)
    for i, children in enumerate(tree.children):
        children.sort(key=tree.start.__getitem__)
        del i
    return tree


def _adopt(root: SpanTuple, orphans: list[SpanTuple], kids: dict[bytes, list[SpanTuple]]) -> None:
    """Hang each orphan under the shortest span already in the tree that encloses it in time
    (where its lost parent most likely ran), else under the root."""
    placed = _subtree(root, kids)
    for orphan in sorted(orphans, key=lambda s: s[START]):
        inside = [s for s in placed if s[START] <= orphan[START] and s[END] >= orphan[END]]
        parent = min(inside, key=lambda s: s[END] - s[START], default=root)
        kids.setdefault(parent[SID], []).append(orphan)
        placed += _subtree(orphan, kids)


def _subtree(top: SpanTuple, kids: dict[bytes, list[SpanTuple]]) -> list[SpanTuple]:
    found, stack, seen = [], [top], {top[SID]}
    while stack:
        s = stack.pop()
        found.append(s)
        for c in kids.get(s[SID], ()):
            if c[SID] not in seen:
                seen.add(c[SID])
                stack.append(c)
    return found


def _place(tree: Tree, root: SpanTuple, kids: dict[bytes, list[SpanTuple]]) -> None:
    """Depth-first: shift skewed children into their parent, clip, drop what lies outside."""
    stack: list[tuple[SpanTuple, int, int, int]] = [(root, -1, 0, 0)]
    while stack:
        s, pi, shift, depth = stack.pop()
        start, end = s[START] + shift, s[END] + shift
        if pi >= 0:
            ps, pe = tree.start[pi], tree.end[pi]
            outside = start < ps or end > pe
            if outside and s[SERVICE] != tree.service[pi] and end - start <= pe - ps:
                delta = ps + (pe - ps - (end - start)) // 2 - start
                start, end, shift = start + delta, end + delta, shift + delta
            start, end = max(start, ps), min(end, pe)
            if end < start:
                continue
        i = len(tree.start)
        tree.span_ids.append(s[SID])
        tree.service.append(s[SERVICE])
        tree.name.append(s[NAME])
        tree.keys.append((s[SERVICE], s[NAME]))
        tree.kind.append(s[KIND])
        tree.error.append(s[ERROR])
        tree.start.append(start)
        tree.end.append(end)
        tree.parent.append(pi)
        tree.children.append([])
        if pi >= 0:
            tree.children[pi].append(i)
        if depth < MAX_DEPTH:
            stack.extend((c, i, shift, depth + 1) for c in kids.get(s[SID], ()))
