"""The admin API, graceful shutdown of a sidecar process, and config errors at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sidecar.server import Sidecar, SidecarStartError
from tests.integration.mesh import (
    CLIENT_ID,
    Certs,
    Mesh,
    closed_port,
    sidecar_config,
)
from tests.integration.rawhttp import IO_TIMEOUT_S, Address, connect, get, parse_address
from tests.integration.recording_app import RecordingApp

REPO = Path(__file__).resolve().parents[2]
SIDECAR = [sys.executable, "-m", "controlplane.cli", "sidecar", "--config"]


async def admin_json(address: Address, path: bytes) -> Any:
    response = await get(address, path, b"127.0.0.1")
    assert response.status == 200
    return json.loads(response.body)


async def test_ready_after_start(mesh: Mesh) -> None:
    response = await get(mesh.admin, b"/ready", b"127.0.0.1")
    assert (response.status, response.body) == (200, b"LIVE\n")


async def test_config_dump_shows_service_and_clusters(mesh: Mesh) -> None:
    dump = await admin_json(mesh.admin, b"/config_dump")
    assert dump["config"]["service"] == "client"
    (cluster,) = dump["config"]["clusters"]
    assert cluster["name"] == "server"
    assert cluster["endpoints"] == [{"address": mesh.inbound[0], "port": mesh.inbound[1]}]


def server_endpoint(clusters: Any, mesh: Mesh) -> Any:
    (cluster,) = [c for c in clusters["clusters"] if c["name"] == "server"]
    (endpoint,) = cluster["endpoints"]
    assert endpoint["address"] == "{}:{}".format(*mesh.inbound)
    return endpoint


async def test_clusters_lists_endpoint_counters_that_grow(mesh: Mesh) -> None:
    before = server_endpoint(await admin_json(mesh.admin, b"/clusters"), mesh)
    for _ in range(3):
        assert (await get(mesh.outbound)).status == 200
    after = server_endpoint(await admin_json(mesh.admin, b"/clusters"), mesh)
    assert after["rq_total"] == before["rq_total"] + 3
    assert after["cx_total"] >= 1


async def test_a_rejected_request_counts_one_local_reply(mesh: Mesh) -> None:
    async with connect(mesh.outbound) as client:
        assert (await client.request(b"GET /x HTTP/1.1\r\n\r\n")).status == 400
    metrics = (await get(mesh.admin, b"/stats/prometheus", b"127.0.0.1")).body.decode()
    line = 'glassmesh_sidecar_local_replies_total{listener="outbound",flag="DPE"}'
    assert f"{line} 1\n" in metrics


def plaintext_cluster(app_port: int) -> str:
    endpoint = f"{{address: 127.0.0.1, port: {app_port}}}"
    return f"  - {{name: server, tls: plaintext, endpoints: [{endpoint}]}}"


def config_yaml(certs: Certs, ports: tuple[int, int, int], clusters: str) -> str:
    d = certs.directory
    return f"""
service: client
identity: {CLIENT_ID}
app: {{port: 8080}}
tls: {{cert: {d / "client.pem"}, key: {d / "client-key.pem"}, ca_bundle: {d / "ca.pem"}}}
listeners:
  outbound: {{port: {ports[0]}}}
  inbound: {{port: {ports[1]}}}
  admin: {{port: {ports[2]}}}
timeouts: {{drain_s: 3}}
clusters:
{clusters}
"""


@contextlib.asynccontextmanager
async def sidecar_process(config: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    stderr = config.with_suffix(".stderr").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *SIDECAR, str(config), cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stderr.close()


async def wait_ready(admin: Address, proc: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(10):
        while proc.returncode is None:
            with contextlib.suppress(ConnectionError):
                if (await get(admin, b"/ready", b"127.0.0.1")).status == 200:
                    return
            await asyncio.sleep(0.05)  # polling another process: no event to wait on
    raise AssertionError(f"sidecar exited with {proc.returncode} before it was ready")


async def wait_refused(address: Address) -> None:
    """Return once a connect to ``address`` is refused; bounded by IO_TIMEOUT_S."""
    async with asyncio.timeout(IO_TIMEOUT_S):
        while True:
            try:
                _, writer = await asyncio.open_connection(*address)
            except ConnectionRefusedError:
                return
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.02)


async def test_sigterm_drains_in_flight_request_and_exits_0(
    certs: Certs, app: RecordingApp, tmp_path: Path
) -> None:
    ports = (closed_port(), closed_port(), closed_port())
    outbound, admin = ("127.0.0.1", ports[0]), ("127.0.0.1", ports[2])
    config = tmp_path / "sidecar.yaml"
    config.write_text(config_yaml(certs, ports, plaintext_cluster(app.port)))
    async with sidecar_process(config) as proc:
        await wait_ready(admin, proc)
        async with connect(outbound) as client:
            await client.send(b"GET /slow/1000 HTTP/1.1\r\nHost: server\r\n\r\n")
            await app.wait_for(lambda: bool(app.requests))
            proc.send_signal(signal.SIGTERM)
            await wait_refused(outbound)
            assert proc.returncode is None  # still draining while no longer accepting
            assert (await get(admin, b"/ready", b"127.0.0.1")).status == 503
            response = await client.response()
            assert (response.status, response.body) == (200, b"path=/slow/1000")
        async with asyncio.timeout(5):
            code = await proc.wait()
    assert code == 0, config.with_suffix(".stderr").read_text()


@pytest.mark.parametrize(
    ("cluster", "field"),
    [
        ("{name: s, tls: plaintext, endpoints: [{address: x, port: 70000}]}", ".endpoints[0].port"),
        ("{name: s, tls: plaintext, endpoint: []}", ""),
        ("{name: s, identity: spiffe://cluster.local/ns/x/../sa/y}", ""),
    ],
    ids=["port-out-of-range", "unknown-field", "bad-identity"],
)
def test_bad_config_exits_nonzero_naming_the_field(
    certs: Certs, tmp_path: Path, cluster: str, field: str
) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(config_yaml(certs, (0, 0, 0), "  - " + cluster))
    result = subprocess.run(
        [*SIDECAR, str(config)], cwd=REPO, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode != 0
    assert "$.clusters[0]" + field in result.stderr


async def test_an_admin_token_guards_everything_but_ready(certs: Certs, tmp_path: Path) -> None:
    (tmp_path / "admin-token").write_text("s3cret-admin-token\n")
    config = msgspec.structs.replace(
        sidecar_config(certs, "client", CLIENT_ID, closed_port()),
        admin_token_file=str(tmp_path / "admin-token"),
    )
    sidecar = Sidecar(config, certs.directory)
    await sidecar.start()
    try:
        admin = parse_address(sidecar.bound_addresses()["admin"])
        assert (await get(admin, b"/ready", b"127.0.0.1")).status == 200
        for path in (b"/config_dump", b"/clusters", b"/stats/prometheus"):
            assert (await get(admin, path, b"127.0.0.1")).status == 401
        async with connect(admin) as client:
            wrong = (
                b"GET /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer nope\r\n\r\n"
            )
            assert (await client.request(wrong)).status == 401
        async with connect(admin) as client:
            right = (
                b"GET /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer s3cret-admin-token\r\n\r\n"
            )
            response = await client.request(right)
        assert response.status == 200 and b"clusters" in response.body
    finally:
        await sidecar.shutdown()


async def test_a_missing_admin_token_file_stops_the_start(certs: Certs, tmp_path: Path) -> None:
    config = msgspec.structs.replace(
        sidecar_config(certs, "client", CLIENT_ID, closed_port()),
        admin_token_file=str(tmp_path / "absent"),
    )
    with pytest.raises(SidecarStartError, match="admin_token_file"):
        Sidecar(config, certs.directory)
