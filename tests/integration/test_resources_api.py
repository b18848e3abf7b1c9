"""The resources API and its CLI against a real server on 127.0.0.1 and a real SQLite store."""

from __future__ import annotations

import argparse
import asyncio
import json
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from controlplane.auth import load_or_create_tokens
from controlplane.commands.resources import add_parser
from controlplane.resources_api import REJECTED, make_resources_app
from controlplane.store import Store

BODY_LIMIT = 64 * 1024
POLICY = {
    "apiVersion": "glassmesh.io/v1alpha1",
    "kind": "TrafficPolicy",
    "metadata": {"name": "reviews"},
    "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]},
}


def route(weight: int = 1, subset: str | None = None, name: str = "reviews") -> dict[str, Any]:
    backend: dict[str, Any] = {"name": "reviews", "port": 9080, "weight": weight}
    if subset:
        backend["subset"] = subset
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {"parentRefs": [{"name": "reviews"}], "rules": [{"backendRefs": [backend]}]},
    }


@dataclass
class Api:
    url: str
    session: aiohttp.ClientSession
    data_dir: Path
    app: web.Application

    def token(self, name: str) -> str:
        return (self.data_dir / name).read_text().strip()

    def headers(self, name: str = "admin-token") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name)}"}

    async def apply(self, body: Any, token: str = "admin-token") -> tuple[int, Any]:
        async with self.session.post(
            "/api/v1/resources", json=body, headers=self.headers(token)
        ) as response:
            return response.status, await response.json()

    async def get(self, path: str, token: str = "readonly-token") -> tuple[int, Any]:
        async with self.session.get(path, headers=self.headers(token)) as response:
            return response.status, await response.json()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    data_dir = tmp_path / "data"
    store = Store(data_dir)
    app = make_resources_app(store, load_or_create_tokens(data_dir), body_limit=BODY_LIMIT)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession(base_url=url) as session:
            yield Api(url, session, data_dir, app)
    finally:
        await runner.cleanup()
        store.close()


def test_tokens_are_private_random_and_stable(tmp_path: Path) -> None:
    load_or_create_tokens(tmp_path)
    tokens = {name: (tmp_path / name).read_text() for name in ("admin-token", "readonly-token")}
    for name, token in tokens.items():
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
        assert len(token.strip()) == 43  # 32 bytes, URL-safe base64, no padding
    assert tokens["admin-token"] != tokens["readonly-token"]
    load_or_create_tokens(tmp_path)
    assert {name: (tmp_path / name).read_text() for name in tokens} == tokens


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer"])
async def test_no_or_unknown_token_is_401(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with api.session.get("/api/v1/resources/faults", headers=headers) as response:
        assert response.status == 401
        assert await response.json() == {"error": "unauthenticated"}
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert api.app[REJECTED] == {401: 1}


async def test_read_only_token_reads_but_cannot_write(api: Api) -> None:
    assert (await api.apply(POLICY, token="readonly-token")) == (403, {"error": "forbidden"})
    async with api.session.delete(
        "/api/v1/resources/TrafficPolicy/default/reviews", headers=api.headers("readonly-token")
    ) as response:
        assert response.status == 403
    assert await api.get("/api/v1/resources/trafficpolicies") == (200, {"items": [], "revision": 0})


async def test_oversize_body_is_413(api: Api) -> None:
    big = {**POLICY, "metadata": {"name": "big", "labels": {"x": "y" * BODY_LIMIT}}}
    status, body = await api.apply(big)
    assert status == 413 and "too large" in body["error"]


async def test_malformed_json_is_400(api: Api) -> None:
    async with api.session.post(
        "/api/v1/resources", data=b"{not json", headers=api.headers()
    ) as response:
        assert response.status == 400
        assert "not valid JSON" in (await response.json())["error"]


async def test_invalid_resource_is_400_with_path_and_the_old_version_stays(api: Api) -> None:
    assert (await api.apply([POLICY, route(weight=5)]))[0] == 200
    status, body = await api.apply(route(weight=1_000_001))
    assert status == 400
    assert body["path"] == "spec.rules[0].backendRefs[0].weight" and "index" not in body
    status, stored = await api.get("/api/v1/resources/httproutes/default/reviews")
    assert status == 200
    assert stored["spec"]["rules"][0]["backendRefs"][0]["weight"] == 5


async def test_a_list_is_applied_all_or_nothing(api: Api) -> None:
    status, body = await api.apply([POLICY, route(name="ok"), route(name="bad", weight=-1)])
    assert status == 400 and body["index"] == 2
    assert body["path"] == "spec.rules[0].backendRefs[0].weight"
    assert (await api.get("/api/v1/resources/httproutes"))[1]["items"] == []
    assert (await api.get("/api/v1/resources/trafficpolicies"))[1]["items"] == []


async def test_an_undefined_subset_is_refused_unless_a_policy_defines_it(api: Api) -> None:
    status, body = await api.apply(route(subset="v1"))
    assert (status, body["path"]) == (400, "spec.rules[0].backendRefs[0]")
    status, _ = await api.apply([route(subset="v1"), POLICY])
    assert status == 200
    status, body = await api.apply([route(subset="v2")])
    assert (status, body["index"], body["path"]) == (400, 0, "spec.rules[0].backendRefs[0]")


async def test_apply_get_delete_then_404(api: Api) -> None:
    status, body = await api.apply(POLICY)
    assert status == 200
    [applied] = body["applied"]
    assert applied["kind"] == "TrafficPolicy" and applied["namespace"] == "default"
    status, got = await api.get("/api/v1/resources/TrafficPolicy/default/reviews")
    assert status == 200 and got["metadata"]["resourceVersion"] == applied["resourceVersion"]
    path = "/api/v1/resources/TrafficPolicy/default/reviews"
    async with api.session.delete(path, headers=api.headers()) as response:
        assert response.status == 200
    async with api.session.delete(path, headers=api.headers()) as response:
        assert response.status == 404
    assert (await api.get(path))[0] == 404


async def test_unknown_kind_and_path_are_404_and_counted(api: Api) -> None:
    assert (await api.get("/api/v1/resources/virtualservices"))[0] == 404
    async with api.session.get("/nowhere") as response:
        assert response.status == 404
    assert api.app[REJECTED] == {404: 2}


# --- the CLI against the running API ------------------------------------------------------------


def cli(api: Api, *argv: str) -> Any:
    """Parses a CLI command line aimed at ``api``; returns a callable that runs it."""
    parser = argparse.ArgumentParser(prog="glassmesh")
    add_parser(parser.add_subparsers(dest="command", required=True))
    conn = [] if argv[0] == "config" else ["--server", api.url]
    conn += ["--token-file", str(api.data_dir / "admin-token")] if conn else []
    args = parser.parse_args([*argv, *conn])
    return lambda: args.func(args)


async def run_cli(api: Api, *argv: str) -> int:
    code: int = await asyncio.to_thread(cli(api, *argv))  # the server runs on this loop
    return code


def write_manifests(directory: Path) -> None:
    directory.mkdir()
    (directory / "10-policy.yaml").write_text(yaml.safe_dump(POLICY))
    routes = [route(subset="v1", name="reviews"), route(name="ratings")]
    (directory / "20-routes.yml").write_text(yaml.safe_dump_all(routes))
    (directory / "notes.txt").write_text("not a manifest")


async def test_cli_applies_a_directory_and_gets_it_back(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifests(tmp_path / "manifests")
    assert await run_cli(api, "apply", "-f", str(tmp_path / "manifests")) == 0
    assert "HTTPRoute/ratings (default) applied" in capsys.readouterr().out
    assert await run_cli(api, "get", "httproutes") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "NAMESPACE", "VERSION", "AGE"]
    assert [line.split()[:2] for line in table[1:]] == [
        ["ratings", "default"],
        ["reviews", "default"],
    ]
    assert await run_cli(api, "get", "HTTPRoute", "reviews", "-o", "yaml") == 0
    printed = capsys.readouterr().out
    [doc] = yaml.safe_load_all(printed)
    assert doc["spec"]["rules"][0]["backendRefs"][0]["subset"] == "v1"
    (tmp_path / "again.yaml").write_text(printed)
    assert await run_cli(api, "apply", "-f", str(tmp_path / "again.yaml")) == 0
    _, stored = await api.get("/api/v1/resources/httproutes/default/reviews")
    assert stored["spec"] == doc["spec"]


async def test_cli_prints_the_server_error_with_its_path(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all([POLICY, route(weight=2_000_000)]))
    assert await run_cli(api, "apply", "-f", str(bad)) == 1
    assert f"{bad} document 2: spec.rules[0].backendRefs[0].weight" in capsys.readouterr().err
    assert (await api.get("/api/v1/resources/trafficpolicies"))[1]["items"] == []
    assert await run_cli(api, "delete", "httproute", "nope") == 1
    assert "not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert await run_cli(api, "apply", "-f", str(tmp_path / "empty")) == 2
    assert "no YAML documents" in capsys.readouterr().err


async def test_cli_without_a_token_is_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="glassmesh")
    add_parser(parser.add_subparsers(dest="command", required=True))
    monkeypatch.setenv("GLASSMESH_SERVER", api.url)
    monkeypatch.delenv("GLASSMESH_TOKEN", raising=False)
    args = parser.parse_args(["get", "faults"])
    assert await asyncio.to_thread(args.func, args) == 1
    assert "unauthenticated" in capsys.readouterr().err
    monkeypatch.setenv("GLASSMESH_TOKEN", api.token("readonly-token"))
    assert await asyncio.to_thread(args.func, args) == 0


async def test_cli_get_json_and_delete(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    await api.apply(POLICY)
    assert await run_cli(api, "get", "trafficpolicy", "-n", "default", "-o", "json") == 0
    assert [item["metadata"]["name"] for item in json.loads(capsys.readouterr().out)] == ["reviews"]
    assert await run_cli(api, "delete", "trafficpolicies", "reviews") == 0
    assert (await api.get("/api/v1/resources/trafficpolicies/default/reviews"))[0] == 404


async def test_cli_config_schema_prints_json_schema(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(api, "config", "schema", "HTTPRoute")() == 0
    schema = json.loads(capsys.readouterr().out)
    assert "spec" in schema["$defs"]["HTTPRoute"]["properties"]
    assert cli(api, "config", "schema", "Gizmo")() == 2
    assert "unknown kind" in capsys.readouterr().err
