"""``glassmesh demo`` as a user runs it: real processes, real mTLS, real traffic."""

from __future__ import annotations

import subprocess
import sys


def test_the_demo_carries_traffic_over_mtls_and_stops_cleanly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controlplane.cli", "demo", "--requests", "3"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert out.count("GET /reviews/") == 3
    assert "ns/default/sa/productpage" in out  # the identity the reviews app saw
    assert "flags: NR" in out  # the unknown host
    assert "400 Bad Request" in out  # the smuggling attempt
    assert "3 requests over 1 connection(s)" in out  # pooled keep-alive to the peer
    assert "'reviews-sidecar': 0" in out and "'productpage-sidecar': 0" in out
