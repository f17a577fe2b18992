"""The blur-formation experiment: records against closed forms, and its tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from inrdeblur.blur.kernels import trajectory_kernel
from inrdeblur.blur.trajectory import Trajectory
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.records.scene import Scene
from inrdeblur.studies.blur_formation import (
    RECORD_COLUMNS,
    evaluate_forward_model,
    forward_model_tables,
    read_forward_model_table,
    write_forward_model_tables,
)

ICB = {"model": "icb", "boundary": "replicate", "blur_diff": 1.0, "matte_sigma": 4.0,
       "max_layers": 100}  # fmt: skip
PWB = {"model": "pwb", "boundary": "replicate"}
NOISE_STD = 0.01


@pytest.fixture(scope="module")
def plane_scene() -> Scene:
    """A fronto-parallel plane at 2 m, pure xy camera translation: ICB and PWB are both
    exactly the uniform blur of the trajectory's kernel. The reference blurry image is that
    blur plus noise of known energy, and values stay inside [0, 1] so nothing clips."""
    rng = np.random.default_rng(3)
    size = 40
    sharp = 0.2 + 0.6 * rng.uniform(size=(size, size, 3))
    poses = np.zeros((9, 6))
    poses[:, 0] = np.linspace(-0.01, 0.01, 9)
    poses[:, 1] = np.linspace(0.0, 0.006, 9) ** 2 * 100
    trajectory = Trajectory.from_array(poses, np.linspace(0, 0.05, 9), 4)
    focal = 200.0
    intrinsics = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]])
    kernel = trajectory_kernel(trajectory, (focal, focal), 2.0)
    x = torch.from_numpy(sharp.transpose(2, 0, 1).copy())[None]
    blurred = UniformBlur(kernel, (size, size)).double().blur(x, "replicate")
    noise = NOISE_STD * rng.standard_normal((size, size, 3))
    reference = blurred[0].numpy().transpose(1, 2, 0) + noise
    assert 0 < reference.min() and reference.max() < 1
    scene = Scene(
        dataset="plane",
        id="p0",
        sharp=sharp,
        depth=np.full((size, size), 2.0),
        trajectory=trajectory,
        intrinsics=intrinsics,
        blurry=reference,
    )
    scene.attrs["expected_psnr"] = -10 * math.log10(float(np.mean(noise**2)))
    return scene


@pytest.mark.parametrize("settings", [ICB, PWB], ids=["icb", "pwb"])
def test_exact_model_scores_the_noise_psnr(plane_scene, settings):
    record = evaluate_forward_model(plane_scene, settings["model"], settings)
    # float32 operators against a float64 closed form: agreement to a few 1e-4 dB.
    assert record["psnr"] == pytest.approx(plane_scene.attrs["expected_psnr"], abs=2e-3)
    assert record["model"] == settings["model"]
    assert record["n_poses"] == 9
    assert record["operator_mb"] > 0 and record["build_time_s"] >= 0
    assert record["support"] % 2 == 1
    assert set(record) == set(RECORD_COLUMNS)


def test_a_scene_without_reference_blur_is_named(plane_scene):
    scene = Scene(dataset="plane", id="nope", sharp=plane_scene.sharp, depth=plane_scene.depth)
    with pytest.raises(ValueError, match=r"plane/nope: .* needs blurry, trajectory, intrinsics"):
        evaluate_forward_model(scene, "icb", ICB)


def _record(dataset, blur, scene, psnr, ssim=0.9, model="icb"):
    return {
        "dataset": dataset, "blur": blur, "model": model, "scene": scene, "height": 8,
        "width": 8, "psnr": psnr, "ssim": ssim, "build_time_s": 0.1, "apply_time_s": 0.01,
        "operator_mb": 1.5, "support": 5, "n_layers": 3, "n_poses": 9,
    }  # fmt: skip


def test_summary_is_mean_and_sample_std_per_model_and_dataset(tmp_path):
    records = [
        _record("d", "icb", "b", 30.0, 0.8),
        _record("d", "icb", "a", 34.0, 0.9),
        _record("d", "pwb", "a", 31.0, model="pwb"),
    ]
    table, summary = forward_model_tables(records)
    assert list(table["scene"][table["blur"] == "icb"]) == ["a", "b"]
    icb = summary[summary["blur"] == "icb"].iloc[0]
    assert icb["n_scenes"] == 2
    assert icb["psnr_mean"] == 32.0
    assert icb["psnr_std"] == pytest.approx(np.std([30.0, 34.0], ddof=1))
    assert icb["ssim_mean"] == pytest.approx(0.85)
    assert math.isnan(summary[summary["blur"] == "pwb"].iloc[0]["psnr_std"])
    write_forward_model_tables(records, tmp_path / "r.csv", tmp_path / "s.csv")
    pd.testing.assert_frame_equal(
        read_forward_model_table(tmp_path / "s.csv"), summary, check_dtype=False
    )
    assert summary["n_scenes"].tolist() == [2, 1]


def test_no_records_give_empty_tables_and_duplicates_are_refused(tmp_path):
    write_forward_model_tables([], tmp_path / "r.csv", tmp_path / "s.csv")
    assert read_forward_model_table(tmp_path / "s.csv").empty
    assert list(read_forward_model_table(tmp_path / "r.csv").columns) == list(RECORD_COLUMNS)
    with pytest.raises(ValueError, match="duplicate"):
        forward_model_tables([_record("d", "icb", "a", 30.0), _record("d", "icb", "a", 31.0)])
