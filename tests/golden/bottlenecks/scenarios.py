"""The bottleneck scenarios: generated workloads, each with the culprit a user would name.

Every scenario's top finding, for every entry endpoint listed, must be its culprit
(tests/unit/collector/analysis/test_golden_bottlenecks.py). The traps of issue 7 are here: a
slow branch beside a slower one, many fast calls adding up, latency on the network hop, an error
passed up through three services, retries hiding a failing endpoint, clock skew between hosts,
and services whose spans never arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.golden.bottlenecks.workload import Call, Node, Workload


@dataclass
class Scenario:
    name: str
    workloads: list[Workload]
    culprit: tuple[str, str, str]  # kind, service, operation
    entries: list[tuple[str, str]]  # entry endpoints whose top finding is the culprit


def leaf(service: str, op: str = "GET /", work_ms: float = 3.0, **kw: float) -> Node:
    return Node(service, op, work_ms, **kw)  # type: ignore[arg-type]


def shop(inventory: Node, **kw: object) -> Node:
    """frontend -> checkout -> (cart, inventory, payment) one after another."""
    checkout = Node("checkout", "POST /checkout", 4.0, gap_ms=3.0, calls=[
        Call(leaf("cart", "GET /cart", 5.0)),
        Call(inventory),
        Call(leaf("payment", "POST /pay", 8.0)),
    ])  # fmt: skip
    return Node("frontend", "GET /buy", 3.0, calls=[Call(checkout)], **kw)  # type: ignore[arg-type]


def _slow_service() -> Scenario:
    root = shop(leaf("inventory", "GET /stock", 200.0))
    return Scenario("slow_service", [Workload(root)], ("self_time", "inventory", "GET /stock"),
                    [("frontend", "GET /buy")])  # fmt: skip


def _parallel(slow: str, fast: str, seed: int) -> Scenario:
    checkout = Node("checkout", "POST /checkout", 4.0, parallel=True, calls=[
        Call(leaf(fast, "GET /q", 80.0)), Call(leaf(slow, "GET /q", 120.0)),
    ])  # fmt: skip
    return Scenario(f"parallel_slower_{slow}", [Workload(checkout, seed=seed)],
                    ("self_time", slow, "GET /q"), [("checkout", "POST /checkout")])  # fmt: skip


def _n_plus_one(times: int, ms: float, name: str) -> Scenario:
    checkout = Node("checkout", "POST /checkout", 4.0, calls=[
        Call(leaf("cart", "GET /cart", 10.0)),
        Call(leaf("inventory", "GET /item", ms), times=times),
    ])  # fmt: skip
    return Scenario(name, [Workload(checkout)], ("n_plus_one", "inventory", "GET /item"),
                    [("checkout", "POST /checkout")])  # fmt: skip


def _fanout() -> Scenario:
    checkout = Node("checkout", "POST /checkout", 4.0, gap_ms=0.1, calls=[
        Call(leaf("pricing", "GET /price", 40.0)),
        Call(leaf("shipping", "GET /quote", 40.0)),
        Call(leaf("tax", "GET /rate", 40.0)),
    ])  # fmt: skip
    return Scenario("sequential_fanout", [Workload(checkout)],
                    ("sequential_fanout", "checkout", "POST /checkout"),
                    [("checkout", "POST /checkout")])  # fmt: skip


def _slow_edge() -> Scenario:
    checkout = Node("checkout", "POST /checkout", 6.0, calls=[
        Call(leaf("cart", "GET /cart", 8.0)),
        Call(leaf("inventory", "GET /stock", 5.0), net_ms=90.0),
    ])  # fmt: skip
    return Scenario("slow_edge", [Workload(checkout)], ("slow_edge", "inventory", "GET /stock"),
                    [("checkout", "POST /checkout")])  # fmt: skip


def _error_deep() -> Scenario:
    ledger = leaf("ledger", "POST /entry", 4.0, fail_rate=0.3)
    billing = Node("billing", "POST /bill", 4.0, calls=[Call(ledger)])
    payment = Node("payment", "POST /pay", 4.0, calls=[Call(billing)])
    checkout = Node("checkout", "POST /checkout", 4.0, calls=[Call(payment)])
    return Scenario("error_passed_up", [Workload(checkout, traces=200)],
                    ("error_origin", "ledger", "POST /entry"),
                    [("checkout", "POST /checkout")])  # fmt: skip


def _retries() -> Scenario:
    checkout = Node("checkout", "POST /checkout", 5.0, calls=[
        Call(leaf("cart", "GET /cart", 10.0)),
        Call(leaf("payment", "POST /pay", 10.0), failed_attempts=2, failed_ms=40.0),
    ])  # fmt: skip
    return Scenario("retries_hide_failures", [Workload(checkout)],
                    ("retry_storm", "payment", "POST /pay"),
                    [("checkout", "POST /checkout")])  # fmt: skip


def _skew(offset_ms: float, name: str) -> Scenario:
    root = shop(leaf("inventory", "GET /stock", 150.0))
    workload = Workload(root, skew_ms={"inventory": offset_ms, "cart": -offset_ms / 3})
    return Scenario(name, [workload], ("self_time", "inventory", "GET /stock"),
                    [("frontend", "GET /buy")])  # fmt: skip


def _missing_spans() -> Scenario:
    db = leaf("stockdb", "query", 140.0)
    inventory = Node("inventory", "GET /stock", 3.0, calls=[Call(db)])
    workload = Workload(shop(inventory), unreported=frozenset({"inventory"}))
    return Scenario("missing_spans", [workload], ("self_time", "stockdb", "query"),
                    [("frontend", "GET /buy")])  # fmt: skip


def _slow_tail() -> Scenario:
    inventory = leaf("inventory", "GET /stock", 4.0, slow_rate=0.1, extra_ms=900.0)
    culprit = ("self_time", "inventory", "GET /stock")
    return Scenario("slow_tail", [Workload(shop(inventory), traces=300)], culprit,
                    [("frontend", "GET /buy")])  # fmt: skip


def _deep_chain() -> Scenario:
    e = leaf("e", "GET /e", 3.0)
    d = Node("d", "GET /d", 3.0, calls=[Call(e)])
    c = Node("c", "GET /c", 90.0, calls=[Call(d)])
    b = Node("b", "GET /b", 3.0, calls=[Call(c)])
    a = Node("a", "GET /a", 3.0, calls=[Call(b)])
    return Scenario("deep_chain", [Workload(a)], ("self_time", "c", "GET /c"),
                    [("a", "GET /a")])  # fmt: skip


def _mixed() -> Scenario:
    checkout = Node("checkout", "POST /checkout", 4.0, calls=[
        Call(leaf("inventory", "GET /item", 10.0), times=10),
        Call(leaf("payment", "POST /pay", 50.0)),
    ])  # fmt: skip
    return Scenario("n_plus_one_beside_slow_call", [Workload(checkout)],
                    ("n_plus_one", "inventory", "GET /item"),
                    [("checkout", "POST /checkout")])  # fmt: skip


def _database() -> Scenario:
    db = leaf("orders-db", "SELECT orders", 120.0)
    checkout = Node("checkout", "POST /checkout", 4.0, calls=[
        Call(leaf("cart", "GET /cart", 10.0)), Call(db, server=False),
    ])  # fmt: skip
    return Scenario("slow_database_call", [Workload(checkout)],
                    ("self_time", "checkout", "call orders-db SELECT orders"),
                    [("checkout", "POST /checkout")])  # fmt: skip


def _dependent_calls() -> Scenario:
    checkout = Node("checkout", "POST /checkout", 4.0, gap_ms=20.0, calls=[
        Call(leaf("auth", "GET /token", 5.0)), Call(leaf("cart", "GET /cart", 100.0)),
    ])  # fmt: skip
    culprit = ("self_time", "cart", "GET /cart")
    return Scenario("dependent_calls_not_fanout", [Workload(checkout)], culprit,
                    [("checkout", "POST /checkout")])  # fmt: skip


def _two_entries() -> Scenario:
    inventory = leaf("inventory", "GET /stock", 180.0)
    browse = Node("catalog", "GET /browse", 10.0, calls=[Call(leaf("search", "GET /s", 20.0)),
                                                         Call(inventory)])  # fmt: skip
    return Scenario("two_entry_endpoints", [Workload(shop(inventory)), Workload(browse, seed=3)],
                    ("self_time", "inventory", "GET /stock"),
                    [("frontend", "GET /buy"), ("catalog", "GET /browse")])  # fmt: skip


SCENARIOS = [
    _slow_service(), _parallel("inventory", "pricing", 1), _parallel("pricing", "inventory", 2),
    _n_plus_one(12, 15.0, "n_plus_one"), _n_plus_one(40, 2.0, "many_fast_calls"), _fanout(),
    _slow_edge(), _error_deep(), _retries(), _skew(300.0, "clock_skew_ahead"),
    _skew(-80.0, "clock_skew_behind"), _missing_spans(), _slow_tail(), _deep_chain(), _mixed(),
    _database(), _dependent_calls(), _two_entries(),
]  # fmt: skip
