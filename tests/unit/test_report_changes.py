"""The report's "changes since the last committed results": the committed metrics.json read
back from a real git repository, and the differences against hand-computed values."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from inrdeblur import layout
from inrdeblur.report.changes import COMPARED, committed_metrics, metric_changes


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def test_committed_metrics_reads_head_not_the_workspace(tmp_path: Path) -> None:
    assert committed_metrics(tmp_path) is None  # not a git checkout
    _git(tmp_path, "init", "-q")
    assert committed_metrics(tmp_path) is None  # no commit yet
    path = tmp_path / layout.METRICS_JSON
    path.parent.mkdir(parents=True)
    committed = {"demo": {"motion": {"tikhonov": {"psnr": 27.5, "ssim": 0.81}}}}
    path.write_text(json.dumps(committed))
    _git(tmp_path, "add", layout.METRICS_JSON)
    _git(tmp_path, "commit", "-q", "-m", "results")
    path.write_text(json.dumps({"demo": {}}))  # the workspace moved on
    assert committed_metrics(tmp_path) == committed
    # A file the commit does not have.
    assert committed_metrics(tmp_path, path="no/such.json") is None


def test_changes_against_hand_values() -> None:
    old = {
        "demo": {
            "motion": {
                "tv": {"psnr": 28.0, "ssim": 0.80, "lpips": 0.20, "time_s": 10.0},
                "rl": {"psnr": 26.0, "ssim": 0.70, "lpips": None},
            }
        }
    }
    new = {
        "demo": {
            "motion": {
                "tv": {"psnr": 28.75, "ssim": 0.80, "lpips": 0.25, "time_s": 12.0},
                "siren": {"psnr": 29.0},
            }
        }
    }
    rows = {(r["method"], r["quantity"]): r for r in metric_changes(old, new)}
    assert rows[("tv", "psnr")]["change"] == pytest.approx(0.75)
    assert (rows[("tv", "psnr")]["old"], rows[("tv", "psnr")]["new"]) == (28.0, 28.75)
    assert rows[("tv", "lpips")]["change"] == pytest.approx(0.05)
    assert rows[("tv", "time_s")]["change"] == pytest.approx(2.0)
    assert ("tv", "ssim") not in rows  # unchanged
    assert rows[("rl", "psnr")]["change"] == "removed" and rows[("rl", "psnr")]["new"] is None
    assert rows[("rl", "ssim")]["change"] == "removed"
    assert ("rl", "lpips") not in rows  # null on both sides
    assert rows[("siren", "psnr")]["change"] == "new"
    assert set(rows) == {
        ("tv", "psnr"),
        ("tv", "lpips"),
        ("tv", "time_s"),
        ("rl", "psnr"),
        ("rl", "ssim"),
        ("siren", "psnr"),
    }


def test_identical_metrics_have_no_changes_and_nan_counts_as_missing() -> None:
    metrics = {"d": {"b": {"m": {q: 1.0 for q in COMPARED}}}}
    assert metric_changes(metrics, json.loads(json.dumps(metrics))) == []
    with_nan = {"d": {"b": {"m": {"psnr": math.nan}}}}
    assert metric_changes(with_nan, {"d": {"b": {"m": {"psnr": None}}}}) == []
