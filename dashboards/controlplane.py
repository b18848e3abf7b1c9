"""Control plane: connected sidecars, how long a change takes to be ACKed by them, pushes, ACKs and
NACKs, certificates issued and how soon the first one expires (``glassmesh_controlplane_*`` from
the control plane's :15014/metrics)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from dashboards.common import dashboard, graph, prom, single

CP = "glassmesh_controlplane_"
LATENCY = f"sum by (le) (rate({CP}push_latency_seconds_bucket[$__rate_interval]))"


def _rate(name: str) -> str:
    return f"sum(rate({CP}{name}[$__rate_interval]))"


def build() -> db.Dashboard:
    return (
        dashboard(
            "glassmesh / Control plane",
            "controlplane",
            "Sidecars connected to the control plane, config push convergence, and the CA.",
        )
        .with_row(db.Row("Now"))
        .with_panel(single("Connected sidecars", "none", f"sum({CP}connected_sidecars)"))
        .with_panel(single("NACKs (window)", "none", f"sum(increase({CP}nacks_total[$__range]))"))
        .with_panel(
            single(
                "First workload certificate expires in",
                "s",
                f"min({CP}workload_cert_soonest_expiry_timestamp_seconds) - time()",
            )
        )
        .with_panel(
            single(
                "CA root expires in", "s", f"min({CP}root_cert_expiry_timestamp_seconds) - time()"
            )
        )
        .with_row(db.Row("Config push"))
        .with_panel(
            graph(
                "Push latency (change to ACK)",
                "s",
                prom(f"histogram_quantile(0.5, {LATENCY})", "p50", "A"),
                prom(f"histogram_quantile(0.99, {LATENCY})", "p99", "B"),
            )
        )
        .with_panel(
            graph(
                "Pushes, ACKs and NACKs",
                "ops",
                prom(_rate("pushes_total"), "pushes", "A"),
                prom(_rate("acks_total"), "ACKs", "B"),
                prom(_rate("nacks_total"), "NACKs", "C"),
                prom(_rate("push_failures_total"), "failed sends", "D"),
            )
        )
        .with_panel(
            graph(
                "Connected sidecars",
                "none",
                prom(f"sum by (instance) ({CP}connected_sidecars)", "{{instance}}"),
            )
        )
        .with_row(db.Row("Certificates"))
        .with_panel(
            graph("Certificates issued", "ops", prom(_rate("certificates_issued_total"), "issued"))
        )
        .with_panel(
            graph(
                "Time left on the first workload certificate to expire",
                "s",
                prom(
                    f"min({CP}workload_cert_soonest_expiry_timestamp_seconds) - time()", "time left"
                ),
            )
        )
    )
