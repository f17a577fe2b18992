"""The synthesize stage: every blur model, its stored record and the rebuilt operator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage
from support import LEVIN_DIR

from inrdeblur.blur import kernels
from inrdeblur.config import validate_params
from inrdeblur.data.demo import make_scene
from inrdeblur.data.synthesize import synthesize, synthesize_folder
from inrdeblur.fileio import InputFileError
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.scene import Scene

LEVIN_KERNELS = LEVIN_DIR / "gt_kernels"


def settings(**blur) -> dict:
    """A blur recipe with the schema's defaults filled, as the rules pass it."""
    params = {
        "studies": {"s": {"datasets": ["demo"], "blurs": ["b"], "methods": ["m"], "seeds": [0]}},
        "datasets": {"demo": {"size": 128}},
        "blurs": {"b": blur},
        "methods": {"m": {"inr": {"type": "siren"}, "regulariser": {"type": "none"}}},
    }
    return validate_params(params)["blurs"]["b"]


@pytest.fixture(scope="module")
def scene() -> Scene:
    return make_scene("motorcycle", 48)


def noise_of(blurred: BlurredImage, std: float) -> np.ndarray:
    rng = np.random.default_rng(blurred.attrs["noise_seed"])
    return std * rng.standard_normal(blurred.blurry.shape)


def rebuilt_blur(blurred: BlurredImage, sharp: np.ndarray, boundary: str) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(sharp.transpose(2, 0, 1)))[None].double()
    with torch.no_grad():
        out = blurred.operator().double().blur(x, boundary)
    return out[0].numpy().transpose(1, 2, 0)


def test_uniform_random_motion_matches_scipy_and_the_stored_kernel(scene):
    recipe = settings(model="uniform", kernel="random_motion", kernel_size=9, noise_std=0.02)
    blurred = synthesize(scene, "b", recipe)
    kernel = kernels.random_motion_kernel(9, blurred.attrs["kernel_seed"])
    np.testing.assert_array_equal(blurred.kernel, kernel)
    expected = np.stack(
        [ndimage.convolve(scene.sharp[..., c].astype(np.float64), kernel, mode="nearest")
         for c in range(3)],
        axis=-1,
    )  # fmt: skip
    np.testing.assert_allclose(blurred.blurry, expected + noise_of(blurred, 0.02), atol=1e-5)


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ({"kernel": "gaussian", "sigma": 1.5}, lambda: kernels.gaussian_kernel(9, 1.5)),
        ({"kernel": "defocus", "radius": 3.0}, lambda: kernels.defocus_kernel(9, 3.0)),
    ],
)
def test_uniform_kernel_families(scene, recipe, expected):
    blurred = synthesize(scene, "b", settings(model="uniform", kernel_size=9, **recipe))
    np.testing.assert_array_equal(blurred.kernel, expected())
    assert blurred.attrs["settings"]["kernel"] == recipe["kernel"]


def test_measured_kernels_from_a_directory_are_drawn_per_image():
    if not LEVIN_KERNELS.is_dir():
        pytest.skip(f"Levin kernels not found at {LEVIN_KERNELS}")
    recipe = settings(model="uniform", kernel="measured", kernel_path=str(LEVIN_KERNELS))
    files = kernels.measured_kernels(LEVIN_KERNELS)
    drawn = set()
    sharp = np.random.default_rng(0).uniform(size=(40, 40, 3))
    for scene_id in ("a", "b", "c", "d", "e", "f"):
        blurred = synthesize(Scene(dataset="flat", id=scene_id, sharp=sharp), "levin", recipe)
        path = Path(blurred.attrs["kernel_file"])
        assert path == files[blurred.attrs["kernel_seed"] % len(files)]
        np.testing.assert_array_equal(blurred.kernel, kernels.read_kernel(path))
        drawn.add(path.name)
    assert len(drawn) > 1


@pytest.mark.parametrize("model", ["icb", "pwb"])
def test_geometric_blur_record_rebuilds_the_same_operator(scene, tmp_path, model):
    recipe = settings(model=model, noise_std=0.01, trajectory={"scale": 0.5})
    blurred = synthesize(scene, "b", recipe)
    assert blurred.kernel is None
    np.testing.assert_allclose(
        blurred.trajectory.translation, 0.5 * scene.trajectory.translation, rtol=1e-12
    )
    path = tmp_path / "blurred.npz"
    blurred.save(path)
    loaded = BlurredImage.load(path)
    np.testing.assert_array_equal(loaded.depth, scene.depth)
    np.testing.assert_array_equal(loaded.trajectory.as_array(), blurred.trajectory.as_array())
    np.testing.assert_array_equal(loaded.intrinsics, scene.intrinsics)
    again = rebuilt_blur(loaded, scene.sharp, "replicate") + noise_of(loaded, 0.01)
    np.testing.assert_allclose(loaded.blurry, again, atol=1e-5)
    # The blur is real: well below the sharp image's PSNR of infinity, above pure noise.
    assert 20 < blurred.attrs["blurry_psnr"] < 40


def test_hand_shake_trajectory_is_seeded_per_image(scene):
    recipe = settings(model="icb", trajectory={"source": "hand_shake", "n_poses": 16})
    a = synthesize(scene, "b", recipe)
    b = synthesize(scene, "b", recipe)
    other = synthesize(make_scene("camera", 48), "b", recipe)
    assert a.trajectory.n_poses == 16
    np.testing.assert_array_equal(a.trajectory.as_array(), b.trajectory.as_array())
    assert a.attrs["trajectory_seed"] != other.attrs["trajectory_seed"]
    assert not np.array_equal(a.trajectory.as_array(), other.trajectory.as_array())


def test_geometric_blur_needs_depth(scene):
    flat = Scene(dataset="flat", id="x", sharp=scene.sharp)
    with pytest.raises(
        ValueError, match=r"blurs.b.model: 'pwb' needs depth and intrinsics.*flat/x"
    ):
        synthesize(flat, "b", settings(model="pwb"))


def test_blur_support_larger_than_the_image_is_rejected(scene):
    recipe = settings(model="icb", trajectory={"scale": 40.0})
    with pytest.raises(ValueError, match=r"blurs.b on demo/motorcycle: .* larger than the image"):
        synthesize(scene, "b", recipe)
    recipe = settings(model="uniform", kernel="gaussian", kernel_size=49, sigma=3.0)
    with pytest.raises(ValueError, match=r"blurs.b: blur support 49x49 px is larger than"):
        synthesize(scene, "b", recipe)


def test_a_geometric_record_without_its_depth_is_named(scene, tmp_path):
    blurred = synthesize(scene, "b", settings(model="icb"))
    blurred.depth = None
    path = tmp_path / "broken.npz"
    blurred.save(path)
    with pytest.raises(InputFileError, match=r"broken.npz: missing array 'depth' of a 'icb'"):
        BlurredImage.load(path)


def test_one_job_blurs_every_scene_of_a_prepared_folder(tmp_path):
    recipe = settings(model="uniform", kernel="random_motion", kernel_size=7)
    scenes = tmp_path / "scenes"
    for name in ("motorcycle", "coins"):
        make_scene(name, 32).save(scenes / f"{name}.npz")
    paths = synthesize_folder(scenes, "b", recipe, tmp_path / "blurred", progress=False)
    assert paths == [tmp_path / "blurred" / "coins.npz", tmp_path / "blurred" / "motorcycle.npz"]
    for path in paths:
        alone = synthesize(Scene.load(scenes / path.name), "b", recipe)
        np.testing.assert_array_equal(BlurredImage.load(path).blurry, alone.blurry)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"{tmp_path / 'empty'}: no scene records"):
        synthesize_folder(tmp_path / "empty", "b", recipe, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_an_observed_blur_is_the_stored_blurry_image_without_an_operator(scene, tmp_path):
    from skimage.metrics import peak_signal_noise_ratio

    params = {
        "studies": {"s": {"datasets": ["demo"], "blurs": ["b"], "methods": ["m"], "seeds": [0]}},
        "datasets": {"demo": {"size": 128}},
        "blurs": {"b": {"model": "observed"}},
        "methods": {"m": {"type": "selfdeblur"}},  # a non-blind method would be refused
    }
    recipe = validate_params(params)["blurs"]["b"]
    assert recipe == {"model": "observed"}
    blurred = synthesize(scene, "as_taken", recipe)
    np.testing.assert_array_equal(blurred.blurry, scene.blurry)
    assert blurred.kernel is None and blurred.depth is None and blurred.trajectory is None
    assert blurred.attrs["observation"] == "scene" and blurred.attrs["operator"] is None
    expected = peak_signal_noise_ratio(
        scene.sharp.astype(np.float64), scene.blurry.astype(np.float64), data_range=1.0
    )
    assert blurred.attrs["blurry_psnr"] == pytest.approx(expected, abs=1e-9)
    blurred.save(tmp_path / "b.npz")
    loaded = BlurredImage.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(loaded.blurry, scene.blurry)
    assert loaded.kernel is None and loaded.attrs == blurred.attrs
    with pytest.raises(ValueError, match="blurs.as_taken.model: 'observed' has no blur operator"):
        loaded.operator()


def test_an_observed_blur_needs_a_stored_blurry_image(scene):
    sharp_only = Scene(dataset="kodak", id="kodim01", sharp=scene.sharp)
    with pytest.raises(ValueError, match="which scene kodak/kodim01 does not have"):
        synthesize(sharp_only, "as_taken", {"model": "observed"})
