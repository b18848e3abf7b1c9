"""The Grafana provisioning and Prometheus configuration in deploy/ fit the dashboards: every data
source a dashboard names is provisioned with that uid and type, exemplars lead to the Jaeger data
source by the label the collector writes, the provider loads the rendered files, and Prometheus
accepts its configuration (promtool) with the jobs the dashboards' metrics come from."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from dashboards.render import render

DEPLOY = Path(__file__).parents[3] / "deploy"
PROVISIONING = DEPLOY / "grafana" / "provisioning"


def datasources() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load((PROVISIONING / "datasources" / "glassmesh.yaml").read_text())
    assert loaded["apiVersion"] == 1
    return {d["uid"]: d for d in loaded["datasources"]}


def referenced(node: Any) -> Iterator[tuple[str, str]]:
    """(type, uid) of every data source reference in a dashboard model."""
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict) and "uid" in ds:
            yield ds["type"], ds["uid"]
        for value in node.values():
            yield from referenced(value)
    elif isinstance(node, list):
        for value in node:
            yield from referenced(value)


def test_every_data_source_the_dashboards_use_is_provisioned() -> None:
    provisioned = datasources()
    used = {ref for text in render().values() for ref in referenced(json.loads(text))}
    for kind, uid in used:
        if uid == "${datasource}":  # the variable: any Prometheus, the provisioned one default
            assert provisioned["prometheus"]["type"] == kind == "prometheus"
            continue
        assert provisioned[uid]["type"] == kind, uid
    assert {uid for _, uid in used} == {"${datasource}", "infinity"}


def test_exemplars_and_traces_link_between_prometheus_and_jaeger() -> None:
    ds = datasources()
    (destination,) = ds["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert destination == {**destination, "name": "trace_id", "datasourceUid": "jaeger"}
    assert ds["jaeger"]["url"].endswith(":16686")  # the collector's query API
    to_metrics = ds["jaeger"]["jsonData"]["tracesToMetrics"]
    assert to_metrics["datasourceUid"] == "prometheus"
    assert all("$$__tags" in q["query"] for q in to_metrics["queries"])  # $$: not an env var


def test_infinity_may_reach_the_collector_it_queries() -> None:
    infinity = datasources()["infinity"]
    assert infinity["url"] in infinity["jsonData"]["allowedHosts"]
    assert infinity["url"] == datasources()["jaeger"]["url"]


def test_the_dashboard_provider_loads_the_rendered_files() -> None:
    loaded = yaml.safe_load((PROVISIONING / "dashboards" / "glassmesh.yaml").read_text())
    (provider,) = loaded["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].endswith("/glassmesh")
    assert sorted(p.name for p in (DEPLOY / "grafana" / "dashboards").glob("*.json")) == sorted(
        render()
    )


def test_prometheus_accepts_the_scrape_configuration() -> None:
    path = DEPLOY / "prometheus" / "prometheus.yml"
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool comes with Debian's prometheus (make test installs it)"
    checked = subprocess.run(
        [promtool, "check", "config", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = {j["job_name"]: j for j in yaml.safe_load(path.read_text())["scrape_configs"]}
    assert jobs["glassmesh-collector"]["honor_labels"] is True
    assert jobs["glassmesh-collector"]["static_configs"][0]["targets"] == ["127.0.0.1:8889"]
    assert jobs["glassmesh-controlplane"]["static_configs"][0]["targets"] == ["127.0.0.1:15014"]
