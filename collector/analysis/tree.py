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


class _Spans:
    """The spans' fields in parallel lists (each tuple read once: compiled code copies a
    tuple whenever one is stored), duplicates by span id left out, parents as indexes."""

    __slots__ = ("end", "error", "kind", "name", "parent", "service", "span_ids", "start")

    def __init__(self, spans: Sequence[SpanTuple]) -> None:
        index: dict[bytes, int] = {}
        self.span_ids: list[bytes] = []
        self.service: list[str] = []
        self.name: list[str] = []
        self.kind: list[int] = []
        self.start: list[int] = []
        self.end: list[int] = []
        self.error: list[bool] = []
        parents: list[bytes] = []
        for s in spans:
            if s[SID] in index:
                continue
            index[s[SID]] = len(self.span_ids)
            self.span_ids.append(s[SID])
            parents.append(s[PARENT])
            self.service.append(s[SERVICE])
            self.name.append(s[NAME])
            self.kind.append(s[KIND])
            self.start.append(s[START])
            self.end.append(s[END])
            self.error.append(s[ERROR])
        # -1: no parent; -2: a parent that never arrived
        self.parent = [(index.get(p, -2) if p else -1) for p in parents]


def build_tree(trace_id: bytes, spans: Sequence[SpanTuple]) -> Tree | None:
    """The tree of ``spans`` (duplicates by span id keep the first), None when no span can be
    the root (only possible when parent links form a cycle)."""
    read = _Spans(spans)
    roots = [i for i, p in enumerate(read.parent) if p == -1]
    candidates = roots or [i for i, p in enumerate(read.parent) if p == -2]
    if not candidates:
        return None
    start, end = read.start, read.end
    root = candidates[0]
    for i in candidates:
        if start[i] < start[root] or (start[i] == start[root] and end[i] > end[root]):
            root = i
    kids: list[list[int]] = [[] for _ in read.parent]
    orphans = []
    for i, p in enumerate(read.parent):
        if i == root:
            continue
        if p >= 0:
            kids[p].append(i)
        else:
            orphans.append(i)
    if orphans:
        _adopt(read, root, orphans, kids)
    tree = Tree(trace_id)
    _place(tree, read, root, kids)
    for children in tree.children:
        if len(children) > 1:
            children.sort(key=tree.start.__getitem__)
    return tree


def _adopt(read: _Spans, root: int, orphans: list[int], kids: list[list[int]]) -> None:
    """Hang each orphan under the shortest span already in the tree that encloses it in time
    (where its lost parent most likely ran), else under the root."""
    start, end = read.start, read.end
    placed = _subtree(root, kids)
    for orphan in sorted(orphans, key=start.__getitem__):
        parent, width = root, -1
        for s in placed:
            encloses = start[s] <= start[orphan] and end[s] >= end[orphan]
            if encloses and (width < 0 or end[s] - start[s] < width):
                parent, width = s, end[s] - start[s]
        kids[parent].append(orphan)
        placed += _subtree(orphan, kids)


def _subtree(top: int, kids: list[list[int]]) -> list[int]:
    found, stack, seen = [], [top], {top}
    while stack:
        i = stack.pop()
        found.append(i)
        for c in kids[i]:
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return found


def _place(tree: Tree, read: _Spans, root: int, kids: list[list[int]]) -> None:
    """Depth-first: shift skewed children into their parent, clip, drop what lies outside."""
    stack: list[tuple[int, int, int, int]] = [(root, -1, 0, 0)]
    while stack:
        s, pi, shift, depth = stack.pop()
        start, end = read.start[s] + shift, read.end[s] + shift
        service = read.service[s]
        if pi >= 0:
            ps, pe = tree.start[pi], tree.end[pi]
            outside = start < ps or end > pe
            if outside and service != tree.service[pi] and end - start <= pe - ps:
                delta = ps + (pe - ps - (end - start)) // 2 - start
                start, end, shift = start + delta, end + delta, shift + delta
            start, end = max(start, ps), min(end, pe)
            if end < start:
                continue
        i = len(tree.start)
        name = read.name[s]
        tree.span_ids.append(read.span_ids[s])
        tree.service.append(service)
        tree.name.append(name)
        tree.keys.append((service, name))
        tree.kind.append(read.kind[s])
        tree.error.append(read.error[s])
        tree.start.append(start)
        tree.end.append(end)
        tree.parent.append(pi)
        tree.children.append([])
        if pi >= 0:
            tree.children[pi].append(i)
        if depth < MAX_DEPTH:
            for c in kids[s]:
                stack.append((c, i, shift, depth + 1))
