"""The injected sidecar's own command line runs a real sidecar: with the files the downward API
and the projected token would hold, ``glassmesh sidecar`` gets its certificate from a running
control plane, answers the startup probe's command, and registers with the pod IP it was given
by ``--advertise-address``."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from controlplane.cli import main
from controlplane.inject.containers import ADMIN_PORT, CA_FILE, CONFIG_DIR, STATE_DIR, TOKEN_DIR
from controlplane.server import ControlPlane, ControlPlaneSettings
from controlplane.tokens import TokenAuthority

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "inject"
POD_IP = "127.0.0.3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def injected_proxy(tmp_path: Path, control_url: str, ca_file: Path) -> dict[str, Any]:
    """The golden Deployment injected by hand for this control plane: its pod template."""
    out = tmp_path / "injected.yaml"
    args = ["-f", str(GOLDEN / "deployment.yaml"), "--ca-file", str(ca_file), "-o", str(out)]
    assert main(["inject", *args, "--control-plane", control_url, "--collector", "none"]) == 0
    template: dict[str, Any] = next(yaml.safe_load_all(out.read_text()))["spec"]["template"]
    return template


def pod_files(tmp_path: Path, template: dict[str, Any]) -> tuple[dict[str, str], int]:
    """Writes what the pod's volumes would hold; returns the path map and the admin port (the
    listeners moved to free ports, as the pod's own network namespace is not ours here)."""
    annotations = template["metadata"]["annotations"]
    config = yaml.safe_load(annotations["sidecar.glassmesh.io/config"])
    admin = free_port()
    config["listeners"] = {"outbound": {"address": "127.0.0.1", "port": free_port()},
                           "inbound": {"address": "127.0.0.1", "port": free_port()},
                           "admin": {"address": "127.0.0.1", "port": admin}}  # fmt: skip
    config["timeouts"] = {"drain_s": 0.2}  # SIGTERM at the end: no need to drain for long
    paths = {CONFIG_DIR: str(tmp_path / "etc"), TOKEN_DIR: str(tmp_path / "token"),
             STATE_DIR: str(tmp_path / "state")}  # fmt: skip
    config["control_plane"]["snapshot_file"] = config["control_plane"]["snapshot_file"].replace(
        STATE_DIR, paths[STATE_DIR]
    )
    for directory in paths.values():
        Path(directory).mkdir()
    (tmp_path / "etc" / "sidecar.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "etc" / Path(CA_FILE).name).write_text(
        annotations["sidecar.glassmesh.io/ca-bundle"]
    )
    return paths, admin


def command(container: dict[str, Any], paths: dict[str, str]) -> list[str]:
    """The container's args as the kubelet would run them here: paths moved, $(POD_IP) set."""
    args = []
    for given in container["args"]:
        arg = given.replace("$(POD_IP)", POD_IP)
        for pod_path, here in paths.items():
            arg = arg.replace(pod_path, here)
        args.append(arg)
    return [sys.executable, "-m", "controlplane.cli", *args]


async def probe_passes(probe: list[str], admin: int) -> bool:
    """Runs the startup probe's exec command against our admin port; True on exit status 0."""
    script = probe[2].replace(f":{ADMIN_PORT}/", f":{admin}/")
    proc = await asyncio.create_subprocess_exec(sys.executable, *probe[1:2], script,
                                                stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
    return await proc.wait() == 0


async def registered(url: str, data_dir: Path) -> list[dict[str, Any]]:
    token = (data_dir / "readonly-token").read_text().strip()
    ctx = ssl.create_default_context(cafile=data_dir / "ca" / "ca.pem")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/api/v1/endpoints?service=reviews&namespace=shop", ssl=ctx,
                    headers={"Authorization": f"Bearer {token}"}) as resp,
    ):  # fmt: skip
        items: list[dict[str, Any]] = (await resp.json())["items"]
        return items


async def test_injected_command_line_runs_a_registered_sidecar(tmp_path: Path) -> None:
    control = ControlPlane(ControlPlaneSettings(data_dir=tmp_path / "cp", port=0))
    url = await control.start()
    proc = None
    try:
        template = injected_proxy(tmp_path, url, tmp_path / "cp" / "ca" / "ca.pem")
        proxy = template["spec"]["initContainers"][0]
        paths, admin = pod_files(tmp_path, template)
        # The projected service-account token; here a join token for the same identity.
        tokens = TokenAuthority.load_or_create(tmp_path / "cp", "cluster.local")
        token = tokens.issue("shop", "reviews", 3600, time.time())
        (Path(paths[TOKEN_DIR]) / "token").write_text(token)
        proc = await asyncio.create_subprocess_exec(*command(proxy, paths),
                                                    stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
        probe = proxy["startupProbe"]["exec"]["command"]
        for _ in range(100):  # the startup probe, every 0.1 s for at most 10 s
            if await probe_passes(probe, admin) and await registered(url, tmp_path / "cp"):
                break
            await asyncio.sleep(0.1)
        assert await probe_passes(probe, admin), "the startup probe never passed"
        [instance] = await registered(url, tmp_path / "cp")
        assert instance["address"] == POD_IP
        assert instance["identity"] == "spiffe://cluster.local/ns/shop/sa/reviews"
        assert instance["labels"] == {"app": "reviews", "version": "v1"}
    finally:
        if proc is not None and proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 15)
        await control.shutdown()
