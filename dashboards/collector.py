"""Collector: what arrives (items by signal and transport), what is refused, rejected or dropped
and why, the storage writer's queue and the size of the store, and the process's memory
(``glassmesh_collector_*`` from the collector's :8889/metrics)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from dashboards.common import dashboard, graph, prom, single

C = "glassmesh_collector_"


def _rate(name: str, by: str) -> str:
    return f"sum by ({by}) (rate({C}{name}[$__rate_interval]))"


def build() -> db.Dashboard:
    return (
        dashboard(
            "glassmesh / Collector",
            "collector",
            "Telemetry ingest, refusals and drops, the storage queue and the store.",
        )
        .with_row(db.Row("Now"))
        .with_panel(
            single(
                "Items received /s", "ops", f"sum(rate({C}received_items_total[$__rate_interval]))"
            )
        )
        .with_panel(single("Storage queue (batches)", "none", f"sum({C}storage_queue_batches)"))
        .with_panel(single("Store size", "bytes", f"sum({C}storage_size_bytes)"))
        .with_panel(single("Resident memory", "bytes", f"sum({C}resident_memory_bytes)"))
        .with_row(db.Row("Ingest"))
        .with_panel(
            graph(
                "Items received by signal and transport",
                "ops",
                prom(
                    _rate("received_items_total", "signal, transport"), "{{signal}} {{transport}}"
                ),
            )
        )
        .with_panel(
            graph(
                "Export requests by status code",
                "reqps",
                prom(
                    _rate("requests_total", "signal, transport, code"),
                    "{{signal}} {{transport}} {{code}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Items refused (429/503/413/415/400) by reason",
                "ops",
                prom(_rate("refused_items_total", "signal, reason"), "{{signal}} {{reason}}"),
            )
        )
        .with_panel(
            graph(
                "Items dropped after acceptance by stage and reason",
                "ops",
                prom(_rate("dropped_items_total", "stage, reason"), "{{stage}} {{reason}}"),
            )
        )
        .with_row(db.Row("Storage"))
        .with_panel(
            graph("Storage queue", "none", prom(f"sum({C}storage_queue_batches)", "batches", "A"))
        )
        .with_panel(
            graph(
                "Storage queue bytes and store size",
                "bytes",
                prom(f"sum({C}storage_queue_bytes)", "queued", "A"),
                prom(f"sum({C}storage_size_bytes)", "stored", "B"),
            )
        )
        .with_panel(
            graph(
                "Resident memory", "bytes", prom(f"sum({C}resident_memory_bytes)", "rss"), width=24
            )
        )
    )
