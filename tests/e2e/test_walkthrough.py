"""The README's control-plane walkthrough, command by command, as a newcomer runs it: a control
plane, three apps with sidecars from examples/mesh, the 90/10 split from examples/resources, and a
killed reviews process leaving ``glassmesh get endpoints`` within the lease.

The example files are used as they are, with only their ports moved to free ones."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PORTS = re.compile(r"\b(15[0-2]0[016]|908[1-3])\b")
LEASE_S = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Walkthrough:
    """Runs ``glassmesh`` commands in ``directory``, with the examples' ports remapped."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports: dict[str, int] = collections.defaultdict(free_port)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.cp_port = free_port()
        self.env = {
            **os.environ,
            "GLASSMESH_SERVER": f"https://127.0.0.1:{self.cp_port}",
            "PYTHONPATH": str(ROOT),
        }

    def example(self, name: str) -> Path:
        text = (ROOT / "examples" / "mesh" / name).read_text()
        moved = EXAMPLE_PORTS.sub(lambda m: str(self.ports[m[1]]), text)
        path = self.directory / name
        path.write_text(moved)
        return path

    def start(self, name: str, *argv: str) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, *argv], cwd=self.directory, env=self.env, stdout=log, stderr=log
        )
        log.close()

    def glassmesh(self, *argv: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "controlplane.cli", *argv],
            cwd=self.directory, env=self.env, capture_output=True, text=True, timeout=30,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def endpoints(self, service: str) -> list[dict[str, object]]:
        out = self.glassmesh(
            "get", "endpoints", service, "-o", "json",
            "--token-file", "cp/readonly-token", "--ca-file", "cp/ca/ca.pem",
        )  # fmt: skip
        items: list[dict[str, object]] = json.loads(out)
        return items

    def wait(self, check: Callable[[], bool], what: str, within_s: float = 30.0) -> None:
        deadline = time.monotonic() + within_s
        while not check():
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} exited: " + self.log(name)
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")[-2000:]

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[Walkthrough]:
    walkthrough = Walkthrough(tmp_path)
    try:
        yield walkthrough
    finally:
        walkthrough.stop_all()


def get_version(proxy_port: int) -> str:
    proxy = urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{proxy_port}"})
    with urllib.request.build_opener(proxy).open("http://reviews/reviews/1", timeout=10) as resp:
        version: str = json.load(resp)["version"]
        return version


def test_the_readme_walkthrough_splits_traffic_and_drops_a_killed_endpoint(
    walk: Walkthrough,
) -> None:
    cp = ["-m", "controlplane.cli", "controlplane", "--data-dir", "cp", "--metrics-listen", "off"]
    walk.start(
        "controlplane", *cp, "--listen", f"127.0.0.1:{walk.cp_port}", "--lease", f"{LEASE_S}s"
    )
    walk.wait((walk.directory / "cp" / "readonly-token").exists, "the control plane")
    for sa in ("productpage", "reviews"):
        token = walk.glassmesh("token", "create", "--data-dir", "cp", "--namespace", "default",
                               "--service-account", sa)  # fmt: skip
        (walk.directory / f"{sa}.token").write_text(token)
    apps = [("productpage", "v1", "9081"), ("reviews", "v1", "9082"), ("reviews", "v2", "9083")]
    for name, version, port in apps:
        walk.start(f"{name}-{version}-app", "-m", "controlplane.demo.sampleapp", "--name", name,
                   "--version", version, "--port", str(walk.ports[port]))  # fmt: skip
    sidecars = [
        ("productpage", "productpage"),
        ("reviews-v1", "reviews"),
        ("reviews-v2", "reviews"),
    ]
    for name, sa in sidecars:
        config = str(walk.example(f"{name}.yaml"))
        walk.start(
            name, "-m", "controlplane.cli", "sidecar", "--config", config,
            "--control-plane", walk.env["GLASSMESH_SERVER"], "--token-file", f"{sa}.token",
            "--ca-file", "cp/ca/ca.pem",
        )  # fmt: skip
    walk.wait(lambda: sum(e["ready"] is True for e in walk.endpoints("reviews")) == 2, "reviews")

    applied = walk.glassmesh(
        "apply", "-f", str(ROOT / "examples" / "resources" / "reviews-split.yaml"),
        "--token-file", "cp/admin-token", "--ca-file", "cp/ca/ca.pem",
    )  # fmt: skip
    assert "httproute/reviews-split" in applied.lower()
    outbound = walk.ports["15001"]
    walk.wait(lambda: get_version(outbound) == "v1", "productpage's sidecar")
    status = walk.glassmesh("proxy-status", "--token-file", "cp/readonly-token",
                            "--ca-file", "cp/ca/ca.pem")  # fmt: skip
    assert status.count("spiffe://cluster.local/ns/default/sa/") == 3, status

    def split_applied() -> bool:
        return collections.Counter(get_version(outbound) for _ in range(40))["v2"] < 20

    walk.wait(split_applied, "the split to take effect")
    seen = collections.Counter(get_version(outbound) for _ in range(400))
    assert seen["v1"] + seen["v2"] == 400
    assert 10 <= seen["v2"] <= 75, seen  # 40 expected (sd 6)

    walk.procs["reviews-v2"].kill()
    killed = time.monotonic()
    walk.procs.pop("reviews-v2").wait()
    walk.wait(
        lambda: len(walk.endpoints("reviews")) == 1, "the lease to pass", within_s=LEASE_S * 3
    )
    assert time.monotonic() - killed <= LEASE_S * 2
