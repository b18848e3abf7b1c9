"""The SQLite resource store: put/get/list/delete, increasing versions, durability across reopen."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from controlplane.api.resources import (
    Fault,
    FaultAbort,
    FaultSpec,
    Metadata,
    Telemetry,
    TelemetrySpec,
    Tracing,
)
from controlplane.store import DB_NAME, Store


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def fault(name: str, namespace: str = "default", status: int = 503) -> Fault:
    return Fault(
        metadata=Metadata(name=name, namespace=namespace),
        spec=FaultSpec(abort=FaultAbort(httpStatus=status)),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    opened = Store(tmp_path, clock=clock)
    yield opened
    opened.close()


def test_put_then_get_returns_the_resource_with_its_version(store: Store) -> None:
    version = store.put(fault("slow"))
    got = store.get("Fault", "default", "slow")
    assert got is not None
    assert got.metadata.resourceVersion == str(version)
    assert got.metadata.creationTimestamp == "2025-06-15T15:06:40Z"
    assert isinstance(got, Fault) and got.spec == fault("slow").spec


def test_get_of_an_absent_resource_is_none(store: Store) -> None:
    assert store.get("Fault", "default", "nope") is None


def test_versions_increase_across_kinds_and_replacements(store: Store) -> None:
    telemetry = Telemetry(
        metadata=Metadata(name="t"),
        spec=TelemetrySpec(tracing=[Tracing(randomSamplingPercentage=1)]),
    )
    versions = [store.put(fault("a")), store.put(telemetry), store.put(fault("a", status=500))]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert store.revision == versions[-1]


def test_replace_keeps_the_creation_time_and_stores_the_new_spec(
    store: Store, clock: FakeClock
) -> None:
    store.put(fault("a"))
    clock.now += 3600
    store.put(fault("a", status=500))
    got = store.get("Fault", "default", "a")
    assert isinstance(got, Fault) and got.spec.abort is not None
    assert got.spec.abort.httpStatus == 500
    assert got.metadata.creationTimestamp == "2025-06-15T15:06:40Z"


def test_list_by_kind_and_namespace_in_order(store: Store) -> None:
    store.put_all([fault("b", "prod"), fault("a", "prod"), fault("c", "dev")])
    store.put(Telemetry(metadata=Metadata(name="t", namespace="prod"), spec=TelemetrySpec()))
    names = [(r.metadata.namespace, r.metadata.name) for r in store.list("Fault")]
    assert names == [("dev", "c"), ("prod", "a"), ("prod", "b")]
    assert [r.metadata.name for r in store.list("Fault", "prod")] == ["a", "b"]
    assert store.list("Fault", "staging") == []


def test_delete_removes_and_bumps_the_revision(store: Store) -> None:
    store.put(fault("a"))
    before = store.revision
    assert store.delete("Fault", "default", "a") is True
    assert store.get("Fault", "default", "a") is None
    assert store.revision == before + 1
    assert store.delete("Fault", "default", "a") is False
    assert store.revision == before + 1


def test_a_client_supplied_version_is_not_stored(store: Store) -> None:
    forged = fault("a")
    forged = msgspec.structs.replace(
        forged, metadata=msgspec.structs.replace(forged.metadata, resourceVersion="999")
    )
    version = store.put(forged)
    got = store.get("Fault", "default", "a")
    assert got is not None and got.metadata.resourceVersion == str(version) != "999"


def test_everything_survives_reopening(tmp_path: Path, clock: FakeClock) -> None:
    first = Store(tmp_path, clock=clock)
    first.put_all([fault("a"), fault("b")])
    first.delete("Fault", "default", "b")
    revision = first.revision
    first.close()
    second = Store(tmp_path, clock=clock)
    try:
        assert [r.metadata.name for r in second.list("Fault")] == ["a"]
        assert second.revision == revision
        assert second.put(fault("c")) == revision + 1
    finally:
        second.close()
    assert (tmp_path / DB_NAME).is_file()


def test_put_all_is_all_or_nothing(store: Store) -> None:
    store.put(fault("a"))
    revision = store.revision
    store._db.execute(  # a trigger that makes the second insert fail mid-transaction
        "CREATE TRIGGER refuse BEFORE INSERT ON resources WHEN NEW.name = 'bad'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.put_all([fault("a", status=500), fault("bad")])
    got = store.get("Fault", "default", "a")
    assert isinstance(got, Fault) and got.spec.abort is not None
    assert got.spec.abort.httpStatus == 503
    assert store.revision == revision
