"""The sidecar's state files: atomic, private, and ignored when unusable."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from controlplane.api.snapshot import Snapshot
from sidecar import snapshot_file


def test_a_saved_snapshot_loads_back_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "reviews.json"
    snapshot_file.save(path, Snapshot(version=3, trust_bundle_pem="PEM"))
    snapshot_file.save(path, Snapshot(version=4))
    assert snapshot_file.load(path) == Snapshot(version=4)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["reviews.json"]  # no temporary left


def test_a_missing_or_corrupt_file_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "reviews.json"
    assert snapshot_file.load(path) is None
    path.write_bytes(b'{"type": "snapshot", "version": -1}')
    with caplog.at_level(logging.WARNING):
        assert snapshot_file.load(path) is None
    assert "ignoring the saved snapshot" in caplog.text
    path.write_bytes(b"not json")
    assert snapshot_file.load_identity(path) is None


def test_an_identity_round_trips(tmp_path: Path) -> None:
    saved = snapshot_file.SavedIdentity(chain_pem="C", key_pem="K", trust_bundle_pem="B")
    path = tmp_path / "id.json"
    snapshot_file.save_identity(path, saved)
    assert snapshot_file.load_identity(path) == saved
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
