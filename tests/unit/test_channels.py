"""Channels are a property of the scene: a gray image is one channel through every stage.

Blur and noise (one draw per observed channel), the fits of every method type, the
metrics, the stored records and the report's images all keep the scene's channel count.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.colour import rgb_to_y
from inrdeblur.config import validate_params
from inrdeblur.data.demo import make_scene
from inrdeblur.data.prepare import luma_scene
from inrdeblur.data.synthesize import synthesize
from inrdeblur.fileio import write_png
from inrdeblur.methods import Problem, build_method
from inrdeblur.metrics.evaluate import make_reference, protocol_aligned, score_estimate
from inrdeblur.metrics.perceptual import _check_pair
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.scene import Scene, SceneError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BLUR = {"model": "uniform", "kernel": "scene", "boundary": "valid", "noise_std": 0.02}
INR = {
    "inr": {"type": "siren", "hidden_features": 64, "hidden_layers": 2},
    "regulariser": {"type": "tv", "weight": 1e-3},
    "fit": {"iterations": 200, "lr": 1e-3, "device": "cpu"},
}


def validated(blur: dict | None = None, method: dict | None = None) -> dict:
    params = validate_params(
        {
            "studies": {
                "s": {"datasets": ["levin"], "blurs": ["b"], "methods": ["m"], "seeds": [0]}
            },
            "datasets": {"levin": {}},
            "blurs": {"b": blur or BLUR},
            "methods": {"m": method or INR},
        }
    )
    return params


@pytest.fixture(scope="module")
def rgb_scene() -> Scene:
    scene = make_scene("astronaut", 48)
    return Scene(dataset="t", id="rgb", sharp=scene.sharp, kernel=random_motion_kernel(7, 1))


@pytest.fixture(scope="module")
def gray_scene(rgb_scene) -> Scene:
    return luma_scene(rgb_scene)


def test_luma_scene_is_one_channel_of_matlab_y(rgb_scene, gray_scene):
    assert gray_scene.channels == 1 and gray_scene.sharp.shape == (48, 48, 1)
    np.testing.assert_allclose(gray_scene.sharp[..., 0], rgb_to_y(rgb_scene.sharp), atol=1e-6)
    # MATLAB rgb2ycbcr: white is 235, black 16 (of 255)
    assert rgb_to_y(np.ones((1, 1, 3)))[0, 0] * 255 == pytest.approx(235.0)
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0] * 255 == pytest.approx(16.0)


def test_scenes_refuse_two_channels():
    with pytest.raises(SceneError, match=r"\(H, W, 1\) or \(H, W, 3\)"):
        Scene(dataset="t", id="x", sharp=np.zeros((8, 8, 2), dtype=np.float32))


@pytest.mark.parametrize("channels", [1, 3])
def test_the_observation_has_the_scene_channels_and_one_noise_draw_each(
    rgb_scene, gray_scene, channels
):
    scene = gray_scene if channels == 1 else rgb_scene
    blurred = synthesize(scene, "b", validated()["blurs"]["b"])
    assert blurred.blurry.shape == (42, 42, channels)
    clean = synthesize(scene, "b", validated({**BLUR, "noise_std": 0.0})["blurs"]["b"]).blurry
    noise = (blurred.blurry - clean).astype(np.float64)
    # 42 * 42 * C independent N(0, 0.02^2) draws: no channel repeats another's noise
    assert noise.std() == pytest.approx(0.02, rel=0.06)
    if channels == 3:
        assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]) < 0.1


def test_a_gray_record_round_trips_with_one_channel(gray_scene, tmp_path):
    blurred = synthesize(gray_scene, "b", validated()["blurs"]["b"])
    blurred.save(tmp_path / "b.npz")
    again = BlurredImage.load(tmp_path / "b.npz")
    assert again.blurry.shape == (42, 42, 1)
    np.testing.assert_array_equal(again.blurry, blurred.blurry)


@pytest.mark.parametrize(
    "method",
    [
        INR,
        {"type": "tikhonov_cg", "weight": 0.03},
        {"type": "tv_primal_dual", "weight": 1e-3, "iterations": 50},
        {"type": "richardson_lucy", "iterations": 10},
    ],
    ids=["inr", "tikhonov_cg", "tv_primal_dual", "richardson_lucy"],
)
def test_every_method_type_fits_a_gray_image_with_one_channel(gray_scene, method):
    blurred = synthesize(gray_scene, "b", validated()["blurs"]["b"])
    sharp = blurred.target(gray_scene.sharp)
    recipe = validated(method=method)["methods"]["m"]
    result = build_method(recipe).run(
        Problem(blurred.blurry, blurred.operator(), sharp=sharp), seed=0, progress=False
    )
    assert result.estimate.shape == (42, 42, 1)
    reference = make_reference(gray_scene, blurred)
    scores = score_estimate(reference, result.estimate)
    assert scores["psnr"] > reference.blurry_scores["psnr_blurry"]


def test_the_aligned_protocol_compares_a_gray_image_directly(gray_scene):
    sharp = gray_scene.sharp.astype(np.float64)
    moved = np.roll(sharp, 1, axis=1)  # one column to the right
    fit = protocol_aligned(moved, sharp)
    assert [abs(v) for v in fit["shift"]] == [0, 1]
    assert fit["psnr"] > 45  # exact but for the 8-bit rounding of the estimate


def test_gray_images_are_written_and_scored_with_one_channel(gray_scene, tmp_path):
    write_png(tmp_path / "g.png", gray_scene.sharp)
    with Image.open(tmp_path / "g.png") as image:
        assert image.mode == "L" and image.size == (48, 48)
    est, ref = _check_pair(gray_scene.sharp, gray_scene.sharp)  # LPIPS sees gray as RGB
    assert est.shape == (48, 48, 3)
    np.testing.assert_array_equal(est[..., 0], est[..., 2])


def test_inr_output_width_follows_the_observation(gray_scene):
    blurred = synthesize(gray_scene, "b", validated()["blurs"]["b"])
    recipe = validated(method={**INR, "fit": {**INR["fit"], "iterations": 2}})["methods"]["m"]
    result = build_method(recipe).run(
        Problem(blurred.blurry, blurred.operator()), 0, progress=False
    )
    assert result.n_parameters == sum(p.numel() for p in _siren(recipe, channels=1).parameters())


def _siren(recipe: dict, channels: int) -> torch.nn.Module:
    from inrdeblur.inr import build_inr

    return build_inr(recipe["inr"], out_features=channels, latent_shape=(48, 48), device="cpu")
