"""``glassmesh run`` as a user meshes two apps of their own: each command runs with a sidecar in
front of it, calls the other by name through HTTP_PROXY over mTLS, and when a command exits, its
exit code is the run's and its sidecar is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.demo_run import ROOT, alive, children_of
from tests.e2e.test_walkthrough import free_port

# The "web" app: calls http://api/ through the proxy it was given until the route is there,
# prints the answer and exits with 3, so the test sees the exit code come back.
WEB = textwrap.dedent("""
    import json, os, sys, time, urllib.request
    proxy = urllib.request.ProxyHandler({"http": os.environ["HTTP_PROXY"]})
    opener = urllib.request.build_opener(proxy)
    for _ in range(200):
        try:
            with opener.open("http://api/echo/hello", timeout=5) as resp:
                print(json.dumps(json.load(resp)))
                sys.exit(3)
        except OSError:
            time.sleep(0.1)
    sys.exit(1)
""")  # fmt: skip


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    argv = [sys.executable, "-m", "controlplane.cli", "controlplane", "--data-dir", "cp",
            "--listen", f"127.0.0.1:{port}", "--metrics-listen", "off"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "cp" / "readonly-token").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no control plane"
            time.sleep(0.1)
        yield f"https://127.0.0.1:{port}", tmp_path / "cp"
    finally:
        proc.terminate()
        proc.wait(10)


def run_argv(server: str, cp: Path, service: str, port: int, *command: str) -> list[str]:
    return [
        sys.executable, "-m", "controlplane.cli", "run", "--service", service,
        "--port", str(port), "--control-plane", server, "--data-dir", str(cp), "--", *command,
    ]  # fmt: skip


def test_glassmesh_run_meshes_a_command_and_returns_its_exit_code(
    control_plane: tuple[str, Path],
) -> None:
    server, cp = control_plane
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    api_port = free_port()
    sample = ["-m", "controlplane.demo.sampleapp", "--name", "api", "--port", str(api_port)]
    api = subprocess.Popen(
        run_argv(server, cp, "api", api_port, sys.executable, *sample),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        web = subprocess.run(
            run_argv(server, cp, "web", free_port(), sys.executable, "-c", WEB),
            env=env, capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert web.returncode == 3, web.stdout + web.stderr  # the command's own exit code
        answer = json.loads(web.stdout)
        assert answer["service"] == "api" and answer["path"] == "/echo/hello"
        xfcc = {k.lower(): v for k, v in answer["headers"].items()}["x-forwarded-client-cert"]
        assert "URI=spiffe://cluster.local/ns/default/sa/web" in xfcc  # mTLS, web's identity
        assert "web meshed: outbound http://127.0.0.1:" in web.stderr

        api_children = children_of(api.pid)
        assert len(api_children) == 2  # the sidecar and the app
        api.send_signal(signal.SIGTERM)  # forwarded to the app, which exits 0
        assert api.wait(30) == 0, api.stderr.read() if api.stderr else ""
        assert [pid for pid in api_children if alive(pid)] == []
    finally:
        if api.poll() is None:
            api.kill()
            api.wait()
        if api.stderr is not None:
            api.stderr.close()


def test_glassmesh_run_needs_a_command_and_credentials() -> None:
    argv = [sys.executable, "-m", "controlplane.cli", "run", "--service", "x", "--port", "80"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "no command" in result.stderr
    result = subprocess.run([*argv, "--", "true"], capture_output=True, text=True, timeout=30,
                            check=False)  # fmt: skip
    assert result.returncode == 2 and "--token-file and --ca-file, or --data-dir" in result.stderr
