"""What-if re-timing and the patterns found in one trace."""

from __future__ import annotations

from collector.analysis.patterns import detect
from collector.analysis.retime import Change, retime
from collector.analysis.tree import Tree, build_tree
from tests.unit.collector.analysis.build import MS, TRACE, call, span


def _tree(spans: list) -> Tree:  # type: ignore[type-arg]
    tree = build_tree(TRACE, spans)
    assert tree is not None
    return tree


def _node(tree: Tree, service: str) -> int:
    return tree.service.index(service)


def test_unchanged_retime_is_the_duration_and_only_the_slower_branch_saves() -> None:
    tree = _tree([span(1, 0, "api", "GET /", 0, 100), *call(2, 1, "api", "a", 10, 60),
                  *call(3, 1, "api", "b", 10, 90)])  # fmt: skip
    assert retime(tree, Change()) == tree.duration
    assert retime(tree, Change(factor={_node(tree, "a"): 0.5})) == tree.duration
    faster_b = retime(tree, Change(factor={_node(tree, "b"): 0.5}))
    assert faster_b == 70 * MS  # b's 79 ms halve, then a (until 60 ms) decides, then 10 ms tail


def test_a_sequential_chain_shifts_when_an_earlier_call_gets_faster() -> None:
    tree = _tree([span(1, 0, "api", "GET /", 0, 100), *call(2, 1, "api", "a", 10, 50),
                  *call(3, 1, "api", "b", 50, 90)])  # fmt: skip
    assert tree.duration - retime(tree, Change(factor={_node(tree, "a"): 0.5})) == 19_500_000


def test_n_plus_one_is_found_with_the_saving_of_running_the_calls_at_once() -> None:
    spans = [span(1, 0, "api", "GET /", 0, 100)]
    for n in range(5):
        spans += call(2 + n, 1, "api", "inv", 10 + n * 16, 25 + n * 16)
    found = detect(_tree(spans))
    assert [(f.kind, f.service, f.operation) for f in found] == [("n_plus_one", "inv", "GET /")]
    assert found[0].saving_ns == 4 * 16 * MS
    assert "5 times in sequence" in found[0].detail


def test_failed_attempts_are_a_retry_storm_not_n_plus_one() -> None:
    spans = [span(1, 0, "api", "GET /", 0, 100), *call(2, 1, "api", "pay", 5, 35, error=True),
             *call(3, 1, "api", "pay", 36, 66, error=True),
             *call(4, 1, "api", "pay", 67, 95)]  # fmt: skip
    found = detect(_tree(spans))
    assert [(f.kind, f.service) for f in found] == [("retry_storm", "pay")]
    assert found[0].saving_ns == 62 * MS  # two attempts and the waits after them


def test_back_to_back_calls_to_different_services_are_a_sequential_fanout() -> None:
    spans = [span(1, 0, "api", "GET /", 0, 100), *call(2, 1, "api", "a", 5, 35),
             *call(3, 1, "api", "b", 35.1, 65), *call(4, 1, "api", "c", 65.1, 95)]  # fmt: skip
    found = detect(_tree(spans))
    assert [(f.kind, f.service, f.operation) for f in found] == [
        ("sequential_fanout", "api", "GET /")]  # fmt: skip
    assert found[0].saving_ns > 59 * MS


def test_calls_with_work_between_them_are_not_a_fanout() -> None:
    spans = [span(1, 0, "api", "GET /", 0, 100), *call(2, 1, "api", "a", 5, 35),
             *call(3, 1, "api", "b", 60, 95)]  # fmt: skip
    assert detect(_tree(spans)) == []


def test_the_error_origin_is_the_deepest_failed_span() -> None:
    spans = [span(1, 0, "a", "GET /", 0, 100, error=True)]
    spans += call(2, 1, "a", "b", 5, 95, error=True)
    spans += call(3, 1002, "b", "c", 10, 90, error=True)
    spans += call(4, 1003, "c", "d", 20, 80, error=True)
    spans += call(5, 1, "a", "ok", 6, 20)  # a call that succeeded beside them
    found = detect(_tree(spans))
    assert [(f.kind, f.service) for f in found] == [("error_origin", "d")]
