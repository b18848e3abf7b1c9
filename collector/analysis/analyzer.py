"""The analysis state: per entry endpoint, the facts of its recent traces and a sample of their
trees for what-if. Adding a trace costs work proportional to the trace; every store is bounded
(the most recent traces win)."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass

from collector.analysis.critical import critical_path, path_nodes
from collector.analysis.facts import TraceFacts
from collector.analysis.report import Report, build_report
from collector.analysis.tree import Key, SpanTuple, Tree, build_tree


@dataclass(frozen=True)
class AnalysisSettings:
    max_traces: int = 5000  # facts kept per entry endpoint
    max_sample: int = 300  # trees kept per entry endpoint for what-if and critical-path look-ups
    max_endpoints: int = 1000  # past it, traces of new endpoints are counted and left out
    improvement: float = 0.5  # "x % faster" of the what-if for self time and slow edges


class _Window:
    __slots__ = ("added", "facts", "trees")

    def __init__(self, settings: AnalysisSettings) -> None:
        self.added = 0
        self.facts: deque[TraceFacts] = deque(maxlen=settings.max_traces)
        self.trees: deque[tuple[float, Tree]] = deque(maxlen=settings.max_sample)


class Analyzer:
    """Not thread-safe: ``add`` runs on one thread; ``snapshot`` copies what a report needs."""

    def __init__(self, settings: AnalysisSettings | None = None) -> None:
        self.settings = settings or AnalysisSettings()
        self.analysed = 0
        self.left_out = 0  # traces with no root, or of endpoints past max_endpoints
        self._windows: dict[Key, _Window] = {}
        self._recent: OrderedDict[str, Tree] = OrderedDict()

    def add(self, trace_id: bytes, spans: Sequence[SpanTuple], now_s: float) -> TraceFacts | None:
        """Analyse one completed trace; its facts, or None when it was left out."""
        tree = build_tree(trace_id, spans)
        if tree is None:
            self.left_out += 1
            return None
        window = self._windows.get(tree.key(0))
        if window is None:
            if len(self._windows) >= self.settings.max_endpoints:
                self.left_out += 1
                return None
            window = self._windows[tree.key(0)] = _Window(self.settings)
        facts = TraceFacts(tree, now_s)
        window.facts.append(facts)
        window.added += 1
        window.trees.append((now_s, tree))
        recent = self._recent
        recent[facts.trace_id] = tree
        if len(recent) > self.settings.max_sample * 4:
            recent.popitem(last=False)
        self.analysed += 1
        return facts

    def endpoints(self) -> list[Key]:
        return sorted(self._windows)

    def added(self, entry: Key) -> int:
        """Traces of ``entry`` analysed so far (a report is current while this is unchanged)."""
        window = self._windows.get(entry)
        return window.added if window is not None else 0

    def snapshot(
        self, entry: Key, lookback_s: float, now_s: float
    ) -> tuple[list[TraceFacts], list[Tree]]:
        """The facts and sample trees of ``entry`` analysed in the last ``lookback_s``."""
        window = self._windows.get(entry)
        if window is None:
            return [], []
        since = now_s - lookback_s
        facts = [f for f in window.facts if f.at_s >= since]
        trees = [t for at, t in window.trees if at >= since]
        return facts, trees

    def report(self, entry: Key, lookback_s: float, now_s: float) -> Report | None:
        """The endpoint's report over the window, None when it has no trace in it."""
        facts, trees = self.snapshot(entry, lookback_s, now_s)
        if not facts:
            return None
        return build_report(entry, facts, trees, lookback_s, self.settings.improvement)

    def critical_path(self, trace_id: str) -> list[tuple[Tree, int, int]] | None:
        """(tree, node, critical ns) of a recently analysed trace's critical path, in order."""
        tree = self._recent.get(trace_id)
        if tree is None:
            return None
        cp = critical_path(tree)
        return [(tree, i, cp[i]) for i in path_nodes(tree, cp)]
