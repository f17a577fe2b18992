"""The real Snakemake on the non-blind Levin study, read from the shared copy.

Two scenes, both settings (synthetic 'valid' blur with the true kernel; the stored
blurred images), one tiny method. Checks that the 'valid' crop flows through fit,
evaluate and report, and that the stored-blur fits carry the shift-aligned metrics,
recomputed here from the written estimates with the protocol's own functions.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from support import LEVIN_DIR
from tiny_project import make_project, run, tiny_params

from inrdeblur.metrics.aligned import aligned_metrics

pytestmark = pytest.mark.workflow

SCENES = {"im1_kernel3": 15, "im2_kernel5": 13}  # stored kernel sides (dataset README)


@pytest.fixture(scope="module")
def levin_run(tmp_path_factory, tool_env):
    if not (LEVIN_DIR / "SHA256SUMS").is_file():
        pytest.skip(f"the shared Levin dataset is not present at {LEVIN_DIR}")
    params = tiny_params()
    params["studies"] = {
        "levin": {
            "datasets": ["levin"],
            "blurs": ["true_kernel_valid", "true_kernel_stored"],
            "methods": ["siren_tv"],
            "seeds": [0],
        }
    }
    params["datasets"] = {"levin": {"root": str(LEVIN_DIR), "scenes": list(SCENES)}}
    params["metrics"]["lpips"] = False
    project = make_project(tmp_path_factory.mktemp("levin") / "p", params)
    proc = run(["snakemake", "--cores", "2"], project, tool_env)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return project


def metric_record(project, blur: str, scene: str) -> dict:
    """The seed-0 record of `scene` in the evaluate job's file of siren_tv on `blur`."""
    records = json.loads((project / f"results/metrics/siren_tv/{blur}/levin.json").read_text())
    (record,) = [r for r in records if r["scene"] == scene and r["seed"] == 0]
    return record


def test_valid_blur_shrinks_the_observation_and_the_estimate(levin_run):
    for scene, side in SCENES.items():
        blurred = np.load(levin_run / f"data/blurred/true_kernel_valid/levin/{scene}.npz")
        shape = (255 - side + 1, 255 - side + 1, 1)  # gray: one channel
        assert blurred["blurry"].shape == shape
        fit = levin_run / f"results/fits/siren_tv/true_kernel_valid/levin/{scene}/seed0"
        assert np.load(fit / "estimate.npz")["estimate"].shape == shape
        record = metric_record(levin_run, "true_kernel_valid", scene)
        assert "psnr_aligned" not in record


def test_stored_blur_fits_carry_the_aligned_metrics(levin_run):
    for scene in SCENES:
        fit = levin_run / f"results/fits/siren_tv/true_kernel_stored/levin/{scene}/seed0"
        estimate = np.load(fit / "estimate.npz")["estimate"].astype(np.float64)
        sharp = np.load(levin_run / f"data/scenes/levin/{scene}.npz")["sharp"][..., 0].astype(
            np.float64
        )
        quantised = np.round(np.clip(estimate, 0, 1) * 255) / 255
        expected = aligned_metrics(quantised.mean(axis=2), sharp)
        record = metric_record(levin_run, "true_kernel_stored", scene)
        assert record["psnr_aligned"] == pytest.approx(expected["psnr"], abs=1e-9)
        assert record["shift_aligned"] == expected["shift"]


def test_summary_and_report_show_the_aligned_columns(levin_run):
    summary = pd.read_csv(levin_run / "results/tables/summary.csv")
    stored = summary[summary["blur"] == "true_kernel_stored"]
    synthetic = summary[summary["blur"] == "true_kernel_valid"]
    assert stored["psnr_aligned_mean"].notna().all() and len(stored) == 2
    assert synthetic["psnr_aligned_mean"].isna().all() and len(synthetic) == 2
    html = (levin_run / "reports/index.html").read_text()
    assert "Aligned PSNR (dB)" in html and 'id="grid"' in html
    assert 'id="summary-levin"' in html
