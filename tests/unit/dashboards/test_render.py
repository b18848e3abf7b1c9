"""The dashboards as Grafana 11 loads them: the committed JSON is exactly what the code renders,
uids are stable, Prometheus panels go through the $datasource variable, latency panels ask for
exemplars, and the CLI writes and checks a directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard as GrafanaDashboard

from controlplane.cli import main
from dashboards.common import UIDS
from dashboards.queries import PROMETHEUS, panel_queries
from dashboards.render import drifted, render

COMMITTED = Path(__file__).parents[3] / "deploy" / "grafana" / "dashboards"
GRAFANA_11_6_SCHEMA = 41


def models() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in render().items()}


def test_the_committed_dashboards_are_what_the_code_renders() -> None:
    assert drifted(COMMITTED) == [], (
        "run: glassmesh dashboards render --out deploy/grafana/dashboards"
    )
    assert sorted(p.name for p in COMMITTED.glob("*.json")) == sorted(render())


def test_every_dashboard_has_a_stable_uid_and_grafana_11_schema() -> None:
    found = {m["uid"]: m for m in models().values()}
    assert sorted(found) == sorted(UIDS.values())
    for model in found.values():
        assert model["schemaVersion"] == GRAFANA_11_6_SCHEMA
        assert model["title"].startswith("glassmesh / ")
        assert "glassmesh" in model["tags"]


def test_the_files_decode_into_the_grafana_11_6_model_unchanged() -> None:
    """The SDK's model is generated from Grafana 11.6's schema: a field it does not know, or a
    value of the wrong shape, would not survive the round trip."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    for path in sorted(COMMITTED.glob("*.json")):
        text = path.read_text()
        assert encoder.encode(GrafanaDashboard.from_json(json.loads(text))) + "\n" == text


def test_prometheus_panels_use_the_datasource_variable() -> None:
    for model in models().values():
        for panel in model["panels"]:
            if (panel.get("datasource") or {}).get("type") == PROMETHEUS:
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_mesh_latency_panels_carry_exemplars_for_trace_links() -> None:
    latency = 0
    for model in models().values():
        for panel in model["panels"]:
            for target in panel.get("targets", []):
                expr = target.get("expr", "")
                traced = "istio_request_duration" in expr or "traces_spanmetrics" in expr
                if "histogram_quantile" in expr and traced and panel["type"] == "timeseries":
                    latency += 1
                    assert target.get("exemplar") is True, (model["uid"], panel["title"])
    assert latency >= 10


def test_every_panel_has_a_query() -> None:
    for model in models().values():
        queried = {q.panel for q in panel_queries(model)}
        shown = {p["title"] for p in model["panels"] if p["type"] != "row"}
        assert shown == queried, model["uid"]


def test_the_cli_renders_into_a_directory_and_checks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dashboards"
    assert main(["dashboards", "render", "--out", str(out)]) == 0
    assert main(["dashboards", "render", "--out", str(out), "--check"]) == 0
    (out / "service.json").write_text("{}\n")
    assert main(["dashboards", "render", "--out", str(out), "--check"]) == 1
    assert "service.json: differs from the code" in capsys.readouterr().out
