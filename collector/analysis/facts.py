"""What a window keeps of one analysed trace: its critical-path figures per operation and the
patterns found in it. Computing them costs work proportional to the trace, once."""

from __future__ import annotations

from collector.analysis.critical import critical_path, waiting
from collector.analysis.patterns import Found, detect
from collector.analysis.tree import Key, Tree


class TraceFacts:
    """One trace, reduced. Times in ns; dicts are keyed by (service, operation)."""

    __slots__ = ("at_s", "critical", "duration", "edge_critical", "entry", "error", "gap",
                 "patterns", "self_ns",
                 "trace_id", "wait_ns")  # fmt: skip

    def __init__(self, tree: Tree, at_s: float) -> None:
        self.trace_id = tree.trace_id.hex()
        self.at_s = at_s  # when the trace was analysed (windows are measured on this clock)
        self.entry: Key = tree.key(0)
        self.duration = tree.duration
        self.error = tree.error[0]
        self.critical: dict[Key, int] = {}  # critical self time
        self.self_ns: dict[Key, int] = {}  # own time of spans on the critical path
        self.wait_ns: dict[Key, int] = {}  # time those spans waited on children
        self.gap: dict[Key, int] = {}  # CLIENT minus SERVER time, by the server's key
        self.edge_critical: dict[Key, int] = {}  # the part of that gap on the critical path
        self.patterns: list[Found] = detect(tree)
        cp = critical_path(tree)
        for i, t in enumerate(cp):
            if t > 0:
                key = tree.key(i)
                self.critical[key] = self.critical.get(key, 0) + t
                waited = waiting(tree, i)
                own = tree.end[i] - tree.start[i] - waited
                self.self_ns[key] = self.self_ns.get(key, 0) + own
                self.wait_ns[key] = self.wait_ns.get(key, 0) + waited
            server = tree.server_child(i)
            if server >= 0:
                key = tree.key(server)
                gap = (tree.end[i] - tree.start[i]) - (tree.end[server] - tree.start[server])
                self.gap[key] = self.gap.get(key, 0) + gap
                if t > 0:
                    self.edge_critical[key] = self.edge_critical.get(key, 0) + t
