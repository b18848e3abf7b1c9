"""The collector's own metrics (``glassmesh_collector_*``): counters by reason, gauges by callback.

Every stage that refuses, rejects or drops something counts it here, so /metrics shows where data
went. Counting is a dict update on the event loop thread (or under the GIL in the writer thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

PREFIX = "glassmesh_collector_"
Labels = tuple[tuple[str, str], ...]


@dataclass
class _Family:
    help: str
    kind: str  # "counter" | "gauge"
    values: dict[Labels, float] = field(default_factory=dict)
    callback: Callable[[], dict[Labels, float]] | None = None


class SelfMetrics:
    """Named counters and gauges with labels; rendered by the Prometheus exporter."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self.counter("received_items_total", "Items received, by signal and transport")
        self.counter("refused_items_total", "Items refused with 429/503/413/400, by reason")
        self.counter("rejected_items_total", "Items rejected in a partial success, by reason")
        self.counter("dropped_items_total", "Items dropped after acceptance, by stage and reason")
        self.counter("requests_total", "Export requests, by signal, transport and status code")

    def counter(self, name: str, help_text: str) -> None:
        """Declare a counter ``glassmesh_collector_<name>`` (name ends in ``_total``)."""
        self._families.setdefault(name, _Family(help_text, "counter"))

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[Labels, float]]) -> None:
        """Declare a gauge whose values ``read`` returns at scrape time."""
        self._families[name] = _Family(help_text, "gauge", callback=read)

    def add(self, name: str, amount: float = 1, **labels: str) -> None:
        """Add ``amount`` to counter ``name`` for ``labels``."""
        if amount:
            values = self._families[name].values
            series = tuple(sorted(labels.items()))
            values[series] = values.get(series, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        """The current value of one series (0 if never set)."""
        family = self._families[name]
        values = family.callback() if family.callback else family.values
        return values.get(tuple(sorted(labels.items())), 0.0)

    def families(self) -> Iterator[tuple[str, str, str, dict[Labels, float]]]:
        """(full name, kind, help, values) for every family, gauges read now."""
        for name, family in sorted(self._families.items()):
            values = family.callback() if family.callback else dict(family.values)
            yield PREFIX + name, family.kind, family.help, values
