"""Load balancers: even spread, least request, and ring hash consistency."""

from __future__ import annotations

import collections

from sidecar.http1.head import RequestHead
from sidecar.lb.random_pick import LeastRequest, RandomPick
from sidecar.lb.ring_hash import RingHash, cookie_key, header_key
from sidecar.lb.round_robin import RoundRobin

NAMES = [f"10.0.0.{i}:8080" for i in range(10)]


def test_round_robin_and_random_spread_over_every_item() -> None:
    rr = RoundRobin(NAMES)
    assert [rr.pick() for _ in range(20)] == NAMES * 2
    picks = collections.Counter(RandomPick(NAMES).pick() for _ in range(10_000))
    assert set(picks) == set(NAMES) and min(picks.values()) > 800  # 1000 expected, sd 30
    assert RoundRobin([]).pick() is None and RandomPick([]).pick() is None


def test_least_request_prefers_the_less_loaded_of_two() -> None:
    load = {name: 0 for name in NAMES}
    load[NAMES[0]] = 100
    lb = LeastRequest(NAMES, load.__getitem__)
    picks = collections.Counter(lb.pick() for _ in range(5_000))
    assert picks[NAMES[0]] == 0  # always paired with a less loaded one
    assert LeastRequest(NAMES[:1], load.__getitem__).pick() == NAMES[0]


def test_ring_hash_is_stable_and_moves_about_one_nth_of_keys_when_one_goes() -> None:
    keys = [f"user-{i}".encode() for i in range(5_000)]
    ring = RingHash(NAMES, str)
    before = {key: ring.pick(key) for key in keys}
    assert before == {key: RingHash(NAMES, str).pick(key) for key in keys}  # another process
    assert len(set(before.values())) == 10
    smaller = RingHash(NAMES[1:], str)
    moved = sum(before[key] != smaller.pick(key) for key in keys)
    owned = sum(owner == NAMES[0] for owner in before.values())
    assert moved == owned  # only the removed endpoint's keys move ...
    assert 200 < moved < 900  # ... about 1/10 of them (500 expected)


def test_hash_keys_come_from_a_header_or_a_cookie() -> None:
    head = RequestHead(
        b"GET", b"/", True, [b"x-user", b"cookie"], [b"jason", b"a=1; session=abc; b=2"]
    )
    assert header_key(head, b"x-user") == b"jason"
    assert header_key(head, b"x-other") is None
    assert cookie_key(head, b"session") == b"abc"
    assert cookie_key(head, b"sess") is None
