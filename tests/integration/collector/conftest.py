"""A collector on 127.0.0.1 with every port 0, started on the test's loop and always shut down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from collector.config import CollectorConfig
from collector.service import Collector

PORTS_ZERO = {
    "receivers": {
        "otlp": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": {"endpoint": "127.0.0.1:0"}}
    },
    "exporters": {"prometheus": {"endpoint": "127.0.0.1:0"}},
    "query": {"endpoint": "127.0.0.1:0"},
}


def collector_config(**overrides: object) -> CollectorConfig:
    raw = msgspec.to_builtins(msgspec.convert(PORTS_ZERO, CollectorConfig))
    for path, value in overrides.items():
        node = raw
        *parents, leaf = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return msgspec.convert(raw, CollectorConfig)


@pytest.fixture
async def collector(tmp_path: Path) -> AsyncIterator[Collector]:
    c = Collector(collector_config(), tmp_path / "data")
    await c.start()
    yield c
    await c.shutdown()
