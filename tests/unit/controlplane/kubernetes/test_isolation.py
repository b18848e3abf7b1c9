"""Without --kubernetes the control plane never loads the Kubernetes client library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
PROBE = """
import sys
import controlplane.server, controlplane.kubernetes
from controlplane.server import ControlPlane, ControlPlaneSettings
ControlPlane(ControlPlaneSettings(data_dir=__import__("pathlib").Path(sys.argv[1])))
print(sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio")))
"""


def test_the_plain_control_plane_does_not_import_kubernetes_asyncio(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "data")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]"
