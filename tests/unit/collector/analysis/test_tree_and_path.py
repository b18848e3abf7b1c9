"""The tree (skew, clipping, lost parents) and the critical path walked on it."""

from __future__ import annotations

from collector.analysis.critical import critical_path, path_nodes
from collector.analysis.tree import build_tree
from tests.unit.collector.analysis.build import MS, TRACE, call, span


def _by_service(spans: list) -> dict[str, int]:  # type: ignore[type-arg]
    tree = build_tree(TRACE, spans)
    assert tree is not None
    cp = critical_path(tree)
    assert sum(cp) == tree.duration  # every ns of the trace is on the path exactly once
    out: dict[str, int] = {}
    for i, t in enumerate(cp):
        out[tree.service[i]] = out.get(tree.service[i], 0) + t
    return out


def test_sequential_calls_are_all_on_the_path_and_parallel_only_the_slower() -> None:
    seq = [span(1, 0, "api", "GET /", 0, 100), *call(2, 1, "api", "a", 10, 40),
           *call(3, 1, "api", "b", 45, 95)]  # fmt: skip
    got = _by_service(seq)
    assert got["a"] == 29 * MS and got["b"] == 49 * MS
    par = [span(1, 0, "api", "GET /", 0, 100), *call(2, 1, "api", "a", 10, 60),
           *call(3, 1, "api", "b", 10, 90)]  # fmt: skip
    got = _by_service(par)
    assert "a" not in got or got["a"] == 0
    assert got["b"] == 79 * MS


def test_a_small_overlap_between_siblings_is_not_counted_twice() -> None:
    spans = [span(1, 0, "api", "GET /", 0, 100), *call(2, 1, "api", "a", 0, 50.5),
             *call(3, 1, "api", "b", 50, 100)]  # fmt: skip  # 0.5 ms overlap < 1 % of 100
    got = _by_service(spans)
    assert got["a"] > 45 * MS and got["b"] == 49 * MS


def test_a_child_on_a_skewed_clock_is_moved_into_its_parent() -> None:
    # inventory's clock is 300 ms ahead: its span lies wholly after the client span.
    spans = [span(1, 0, "api", "GET /", 0, 200), *call(2, 1, "api", "inv", 10, 190)]
    spans[2] = span(1002, 2, "inv", "GET /", 310.5, 489.5)
    got = _by_service(spans)
    assert got["inv"] == 179 * MS


def test_an_overflowing_child_is_clipped_and_one_wholly_outside_dropped() -> None:
    spans = [span(1, 0, "api", "GET /", 0, 100), span(2, 1, "api", "work", 90, 130),
             span(3, 1, "api", "later", 150, 160)]  # fmt: skip
    tree = build_tree(TRACE, spans)
    assert tree is not None
    assert tree.name == ["GET /", "work"]
    assert tree.end[1] == 100 * MS


def test_a_span_whose_parent_was_lost_hangs_under_the_span_enclosing_it() -> None:
    spans = [span(1, 0, "front", "GET /", 0, 200), *call(2, 1, "front", "mid", 5, 195)]
    spans.pop()  # mid's server span never arrived; its call to db did
    spans.append(span(7, 999, "db", "query", 20, 180))
    tree = build_tree(TRACE, spans)
    assert tree is not None
    db = tree.service.index("db")
    assert tree.service[tree.parent[db]] == "front" and tree.name[tree.parent[db]] == "call mid"
    cp = critical_path(tree)
    assert [tree.service[i] for i in path_nodes(tree, cp)] == ["front", "front", "db"]


def test_parent_links_in_a_cycle_have_no_root() -> None:
    assert build_tree(TRACE, [span(1, 2, "a", "x", 0, 1), span(2, 1, "b", "y", 0, 1)]) is None
