"""The service registry with a fake clock: leases, readiness and revisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.api.snapshot import Registration
from controlplane.registry import Registry
from controlplane.registry_journal import RegistryJournal

REVIEWS = "spiffe://cluster.local/ns/default/sa/reviews"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def registration(port: int = 9080, ready: bool = True, service: str = "reviews") -> Registration:
    return Registration(
        service=service, labels={"version": "v1"}, address="127.0.0.1", port=port, ready=ready
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(clock: FakeClock) -> Registry:
    return Registry(clock, lease_s=15.0)


def ports(registry: Registry) -> list[int]:
    return [i.port for i in registry.endpoints("reviews", "default")]


def test_a_lease_that_passes_removes_the_instance(registry: Registry, clock: FakeClock) -> None:
    key = registry.register(REVIEWS, registration())
    clock.now += 14.9
    assert registry.expire() == [] and ports(registry) == [9080]
    clock.now += 0.1
    assert ports(registry) == []  # already invisible before the sweep
    assert [i.key for i in registry.expire()] == [key]
    assert registry.services() == []


def test_renewing_keeps_the_instance(registry: Registry, clock: FakeClock) -> None:
    key = registry.register(REVIEWS, registration())
    for _ in range(5):
        clock.now += 10
        assert registry.renew(key)
    assert registry.expire() == [] and ports(registry) == [9080]
    registry.remove(key)
    assert not registry.renew(key)


def test_not_ready_instances_are_registered_but_not_endpoints(registry: Registry) -> None:
    key = registry.register(REVIEWS, registration(9080))
    registry.register(REVIEWS, registration(9081, ready=False))
    assert ports(registry) == [9080]
    assert [i.port for i in registry.instances("reviews")] == [9080, 9081]
    registry.set_ready(key, False)
    assert ports(registry) == []


def test_the_revision_grows_on_changes_only(registry: Registry, clock: FakeClock) -> None:
    calls: list[int] = []
    registry.subscribe(lambda: calls.append(registry.revision))
    key = registry.register(REVIEWS, registration())
    registry.register(REVIEWS, registration())  # the same again: only a renewal
    registry.renew(key)
    registry.set_ready(key, True)
    assert registry.revision == 1
    registry.set_ready(key, False)
    registry.register(REVIEWS, registration(ready=True))
    clock.now += 20
    registry.expire()
    assert calls == [1, 2, 3, 4] and registry.revision == 4
    assert not registry.remove(key)


def test_an_instance_is_keyed_by_identity_address_and_port(registry: Registry) -> None:
    assert registry.register(REVIEWS, registration()) == (REVIEWS, "127.0.0.1", 9080)
    registry.register(REVIEWS, registration(service="ratings"))  # moved to another service
    assert registry.services() == [("ratings", "default")]


def test_a_registry_with_a_journal_comes_back_with_every_instance_on_a_fresh_lease(
    clock: FakeClock, tmp_path: Path
) -> None:
    first = Registry(clock, lease_s=15.0, journal=RegistryJournal(tmp_path))
    first.register(REVIEWS, registration(9080))
    key = first.register(REVIEWS, registration(9081))
    first.set_ready(key, False)
    gone = first.register(REVIEWS, registration(9082))
    first.remove(gone)
    clock.now += 14.0
    again = Registry(clock, lease_s=15.0, journal=RegistryJournal(tmp_path))  # a restart
    assert [(i.port, i.ready) for i in again.instances()] == [(9080, True), (9081, False)]
    clock.now += 14.0 + 30.0  # the lease the restart gave them, and time to reconnect
    assert ports(again) == [9080]
    clock.now += 2.0
    again.expire()
    assert again.instances() == []
    assert Registry(clock, lease_s=15.0, journal=RegistryJournal(tmp_path)).instances() == []
