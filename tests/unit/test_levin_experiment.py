"""The Levin non-blind experiment through the pipeline's own stages.

Setting 1 synthesises the blur from the sharp image and the true kernel with 'valid'
convolution plus noise; setting 2 takes the stored blurred images and is evaluated with
the shift-aligned protocol. Expected values come from scipy's ``convolve2d`` (an
independent convolution), the stored PNGs read with PIL, and integer shifts built here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.signal import convolve2d
from support import LEVIN_DIR

from inrdeblur.config import ParamsError, dataset_settings, validate_params
from inrdeblur.data.prepare import prepare_scene
from inrdeblur.data.synthesize import synthesize
from inrdeblur.fileio import write_json, write_npz
from inrdeblur.metrics.evaluate import evaluate_fit
from inrdeblur.records.blurred import BlurredImage

SETTINGS = {"root": str(LEVIN_DIR), "scenes": "all", "verify": True}
SYNTHETIC = {
    "model": "uniform",
    "kernel": "scene",
    "kernel_size": 15,
    "boundary": "valid",
    "observation": "synthesize",
    "noise_std": 0.01,
    "seed": 0,
}
STORED = {**SYNTHETIC, "boundary": "replicate", "observation": "scene"}


@pytest.fixture(scope="module")
def scene():
    if not (LEVIN_DIR / "SHA256SUMS").is_file():
        pytest.skip(f"the shared Levin dataset is not present at {LEVIN_DIR}")
    return prepare_scene("levin", "im2_kernel4", dataset_settings("levin", SETTINGS))


def _params(**changes) -> dict:
    params = {
        "studies": {
            "levin": {
                "datasets": ["levin"],
                "blurs": ["synthetic"],
                "methods": ["m"],
                "seeds": [0],
            }
        },
        "datasets": {"levin": {"root": str(LEVIN_DIR)}},
        "blurs": {"synthetic": {"model": "uniform", "kernel": "scene", "boundary": "valid"}},
        "methods": {
            "m": {
                "inr": {"type": "siren"},
                "regulariser": {"type": "tv", "weight": 1e-3},
                "fit": {"iterations": 2},
            }
        },
    }
    for key, value in changes.items():
        section, name = key.split("__")
        params[section][name] = value
    return params


def test_levin_params_validate_with_defaults():
    params = validate_params(_params())
    assert params["datasets"]["levin"] == {
        "root": str(LEVIN_DIR),
        "scenes": "all",
        "verify": True,
    }
    assert params["blurs"]["synthetic"]["observation"] == "synthesize"
    assert params["metrics"]["aligned"] == "auto"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"datasets__levin": {"root": "x", "scenes": ["im5_kernel1"]}},
            "datasets.levin.scenes[0]: unknown levin scene 'im5_kernel1'",
        ),
        (
            {"blurs__synthetic": {"model": "pwb", "boundary": "valid"}},
            "blurs.synthetic.boundary: 'valid' applies to uniform blurs only",
        ),
        (
            {
                "blurs__synthetic": {
                    "model": "uniform",
                    "kernel": "scene",
                    "boundary": "valid",
                    "observation": "scene",
                }
            },
            "blurs.synthetic.boundary: 'valid' shrinks a synthesized image",
        ),
        (
            {"metrics__aligned": "sometimes"},
            "metrics.aligned",
        ),
    ],
)
def test_bad_levin_params_name_the_key(changes, message):
    params = _params()
    params["metrics"] = {}
    for key, value in changes.items():
        section, name = key.split("__")
        params[section][name] = value
    with pytest.raises(ParamsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_params(params)


def test_prepare_reads_the_stored_files(scene):
    sharp = np.asarray(Image.open(LEVIN_DIR / "gt_images" / "im2.png").convert("L"))
    blurry = np.asarray(Image.open(LEVIN_DIR / "blurred" / "im2_kernel4_img.png").convert("L"))
    assert scene.sharp.shape == scene.blurry.shape == (255, 255, 1)
    np.testing.assert_array_equal(scene.sharp[..., 0], sharp / np.float32(255))
    np.testing.assert_array_equal(scene.blurry[..., 0], blurry / np.float32(255))
    assert scene.kernel.shape == (27, 27)
    assert scene.kernel.sum() == pytest.approx(1.0, abs=1e-6)


def test_setting1_is_valid_convolution_with_the_true_kernel_plus_noise(scene):
    blurred = synthesize(scene, "synthetic", SYNTHETIC)
    expected = convolve2d(scene.sharp[..., 0].astype(np.float64), scene.kernel, mode="valid")
    # one channel, one noise draw per pixel
    assert blurred.blurry.shape == (*expected.shape, 1) == (229, 229, 1)
    noise = blurred.blurry[..., 0] - expected
    # the noise is N(0, 0.01^2): 52,441 samples put the sample std within 1 % of 0.01
    assert noise.std() == pytest.approx(0.01, rel=0.01)
    assert abs(noise.mean()) < 4 * 0.01 / np.sqrt(noise.size)
    assert blurred.attrs["crop"] == [13, 13, 229, 229]
    np.testing.assert_array_equal(blurred.target(scene.sharp), scene.sharp[13:242, 13:242])
    np.testing.assert_array_equal(blurred.kernel, scene.kernel)


def test_setting1_operator_reproduces_the_noiseless_blur(scene, tmp_path: Path):
    import torch

    blurred = synthesize(scene, "synthetic", {**SYNTHETIC, "noise_std": 0.0})
    blurred.save(tmp_path / "b.npz")
    operator = BlurredImage.load(tmp_path / "b.npz").operator().double()
    latent = torch.from_numpy(scene.sharp.transpose(2, 0, 1).astype(np.float64))[None]
    rebuilt = operator(latent)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(rebuilt, blurred.blurry, atol=1e-6)


def test_setting2_observes_the_stored_blurred_image(scene):
    blurred = synthesize(scene, "stored", STORED)
    np.testing.assert_array_equal(blurred.blurry, scene.blurry)
    assert blurred.attrs["observation"] == "scene"
    assert "noise_seed" not in blurred.attrs and "crop" not in blurred.attrs


def _evaluate(tmp_path, scene, blurred, estimate, aligned):
    scene.save(tmp_path / "scene.npz")
    blurred.save(tmp_path / "blurred.npz")
    write_npz(tmp_path / "estimate.npz", estimate=estimate.astype(np.float32))
    meta = {
        "blur": "stored",
        "method": "m",
        "seed": 0,
        "time_s": 1.0,
        "size_mb": 1.0,
        "iterations": 1,
        "device": "cpu",
    }
    write_json(tmp_path / "meta.json", meta)
    return evaluate_fit(
        tmp_path / "scene.npz",
        tmp_path / "blurred.npz",
        tmp_path / "estimate.npz",
        tmp_path / "meta.json",
        tmp_path / "record.json",
        lpips=False,
        aligned=aligned,
    )


def test_stored_blur_fits_get_the_aligned_metrics(scene, tmp_path: Path):
    blurred = synthesize(scene, "stored", STORED)
    # an estimate that is the sharp image moved 2 px down and 3 px left
    estimate = np.roll(scene.sharp, (2, -3), axis=(0, 1))
    record = _evaluate(tmp_path, scene, blurred, estimate, "auto")
    assert record["shift_aligned"] == [-2.0, 3.0]
    assert record["psnr_aligned"] > 100.0  # exact up to float32 rounding
    assert record["ssim_aligned"] == pytest.approx(1.0)
    assert record["psnr"] < 25.0
    assert record["psnr_aligned_blurry"] > record["psnr_blurry"]
    written = json.loads((tmp_path / "record.json").read_text())
    assert written["psnr_aligned"] == pytest.approx(record["psnr_aligned"])


def test_synthetic_fits_are_evaluated_on_the_crop_without_alignment(scene, tmp_path: Path):
    blurred = synthesize(scene, "synthetic", SYNTHETIC)
    target = blurred.target(scene.sharp)
    record = _evaluate(tmp_path, scene, blurred, target, "auto")
    assert record["psnr"] == float("inf")
    assert "psnr_aligned" not in record
    record = _evaluate(tmp_path, scene, blurred, target, "always")
    assert record["psnr_aligned"] > 100.0 and record["shift_aligned"] == [0.0, 0.0]
