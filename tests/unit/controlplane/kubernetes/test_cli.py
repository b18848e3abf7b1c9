"""``glassmesh controlplane --kubernetes``: a configuration it cannot use stops it at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]


def controlplane(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "controlplane.cli", "controlplane", "--listen", "127.0.0.1:0"]
    command += ["--metrics-listen", "off", "--data-dir", str(tmp_path / "data"), *args]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no /"), ("clusters: [", "kubeconfig)")],
)
def test_a_kubeconfig_it_cannot_use_is_a_start_up_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if content is not None:
        kubeconfig.write_text(content)
    done = controlplane(tmp_path, "--kubernetes", "--kubeconfig", str(kubeconfig))
    assert done.returncode == 1
    assert "glassmesh controlplane: cannot configure the Kubernetes client" in done.stderr
    assert message in done.stderr


def test_outside_a_pod_without_a_kubeconfig_it_says_so(tmp_path: Path) -> None:
    done = controlplane(tmp_path, "--kubernetes")
    assert done.returncode == 1
    assert "in-cluster service account" in done.stderr


def test_kubeconfig_without_kubernetes_is_a_usage_error(tmp_path: Path) -> None:
    done = controlplane(tmp_path, "--kubeconfig", "k")
    assert done.returncode == 2 and "--kubeconfig needs --kubernetes" in done.stderr
