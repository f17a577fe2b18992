"""Tests of the embedded demo dataset (inrdeblur.data.demo).

Expected values come from closed forms (ground-plane depth, the stereo depth formula),
from the raw scikit-image arrays read independently here, or from hand-made inputs.
"""

from __future__ import annotations

import functools
import itertools
import json
import math

import numpy as np
import pytest
import skimage.data
import torch
from scipy import ndimage
from skimage import color

from inrdeblur.data import demo
from inrdeblur.records.scene import Scene

SIZE = 96
LAYERED_IDS = [i for i in demo.SCENE_IDS if i != "motorcycle"]

# Published quarter-resolution calibration of skimage.data.stereo_motorcycle.
F_PX, DOFFS_PX, BASELINE_M = 994.978, 31.086, 0.193001
PRINCIPAL_X, PRINCIPAL_Y = 311.193, 254.877


@functools.cache
def cached_scene(scene_id: str, size: int = SIZE) -> Scene:
    """One scene per (id, size) for the read-only checks (the tests never modify it)."""
    return demo.make_scene(scene_id, size)


@functools.cache
def raw_motorcycle() -> tuple[np.ndarray, np.ndarray]:
    left, _, disparity = skimage.data.stereo_motorcycle()
    return left, disparity


def stereo_depth(disparity: np.ndarray) -> np.ndarray:
    return BASELINE_M * F_PX / (np.asarray(disparity, dtype=np.float64) + DOFFS_PX)


def background_depth(size: int, attrs: dict) -> np.ndarray:
    """(size, 1) ground plane z-buffered with the far plane, from the closed form."""
    y = np.arange(size, dtype=np.float64)[:, None]
    y_h = attrs["horizon_row_px"]
    constant = attrs["ground_constant_m_px"]
    ground = np.full_like(y, np.inf)
    below = y > y_h
    ground[below] = constant / (y[below] - y_h)
    return np.minimum(ground, attrs["far_depth_m"])


def test_scene_ids_list_layered_scenes_and_motorcycle() -> None:
    assert isinstance(demo.SCENE_IDS, tuple)
    assert demo.scene_ids() == list(demo.SCENE_IDS)
    assert len(demo.SCENE_IDS) >= 7 and len(set(demo.SCENE_IDS)) == len(demo.SCENE_IDS)
    assert "motorcycle" in demo.SCENE_IDS
    assert len(LAYERED_IDS) >= 6


@pytest.mark.parametrize("scene_id", demo.SCENE_IDS)
def test_scene_shapes_ranges_and_intrinsics(scene_id: str) -> None:
    scene = cached_scene(scene_id)
    assert scene.dataset == "demo" and scene.id == scene_id
    assert scene.sharp.shape == (SIZE, SIZE, 3) and scene.sharp.dtype == np.float32
    assert scene.sharp.min() >= 0.0 and scene.sharp.max() <= 1.0
    assert scene.sharp.std() > 0.05  # an image, not a flat field
    assert scene.depth.shape == (SIZE, SIZE) and scene.depth.dtype == np.float32
    assert np.all(np.isfinite(scene.depth))
    assert 0.8 <= scene.depth.min() and scene.depth.max() <= 20.0  # metres
    k = scene.intrinsics
    centre = (SIZE - 1) / 2
    assert k.shape == (3, 3)
    assert k[0, 0] == k[1, 1] > 0 and k[0, 1] == k[1, 0] == 0
    assert k[0, 2] == k[1, 2] == centre
    np.testing.assert_array_equal(k[2], [0.0, 0.0, 1.0])
    assert scene.attrs["focal_length_px"] == k[0, 0]
    assert scene.attrs["depth_model"] in ("layered", "stereo")
    assert scene.attrs["source"].startswith("skimage.data.")
    assert "scikit-image bundled data" in scene.attrs["licence"]
    json.dumps(scene.attrs)  # attrs must survive Scene.save


@pytest.mark.parametrize("scene_id", demo.SCENE_IDS)
def test_trajectory_is_a_seeded_hand_held_shake(scene_id: str) -> None:
    scene = cached_scene(scene_id)
    traj = scene.trajectory
    assert traj.n_poses == 64
    np.testing.assert_array_equal(traj.as_array()[traj.reference_index], np.zeros(6))
    # Strong, translation-dominated shake: 2-4 cm and 0.2-0.4 degrees.
    assert 0.02 <= traj.translation.std() <= 0.04
    assert 0.2 <= traj.rotation.std() <= 0.4
    assert traj.translation.std() == pytest.approx(scene.attrs["shake_translation_std_m"])
    assert traj.rotation.std() == pytest.approx(scene.attrs["shake_rotation_std_deg"])
    assert traj.timestamps[-1] == pytest.approx(scene.attrs["exposure_s"])


@pytest.mark.parametrize("scene_id", demo.SCENE_IDS)
def test_make_scene_is_deterministic_and_ignores_global_rng(scene_id: str) -> None:
    first = demo.make_scene(scene_id, 48)
    np.random.seed(12345)
    np.random.random(100)
    second = demo.make_scene(scene_id, 48)
    np.testing.assert_array_equal(first.sharp, second.sharp)
    np.testing.assert_array_equal(first.depth, second.depth)
    np.testing.assert_array_equal(first.trajectory.as_array(), second.trajectory.as_array())
    np.testing.assert_array_equal(first.intrinsics, second.intrinsics)
    assert json.dumps(first.attrs, sort_keys=True) == json.dumps(second.attrs, sort_keys=True)


def test_different_ids_give_different_images_and_trajectories() -> None:
    for a, b in itertools.combinations(demo.SCENE_IDS, 2):
        sa, sb = cached_scene(a), cached_scene(b)
        assert np.abs(sa.sharp - sb.sharp).mean() > 0.02, (a, b)
        assert not np.allclose(sa.trajectory.as_array(), sb.trajectory.as_array()), (a, b)


@pytest.mark.parametrize("scene_id", ["coins", "motorcycle"])
def test_save_load_round_trip(scene_id: str, tmp_path) -> None:
    scene = cached_scene(scene_id)
    path = tmp_path / f"{scene_id}.npz"
    scene.save(path)
    loaded = Scene.load(path)
    np.testing.assert_array_equal(loaded.sharp, scene.sharp)
    np.testing.assert_array_equal(loaded.depth, scene.depth)
    np.testing.assert_array_equal(loaded.intrinsics, scene.intrinsics)
    assert loaded.attrs["depth_model"] == scene.attrs["depth_model"]


@pytest.mark.parametrize("size", [32, 33, 200])
def test_other_sizes(size: int) -> None:
    for scene_id in ("camera", "motorcycle"):
        scene = demo.make_scene(scene_id, size)
        assert scene.sharp.shape == (size, size, 3) and scene.depth.shape == (size, size)
        assert scene.intrinsics[0, 2] == (size - 1) / 2


def test_gray_source_is_replicated_to_rgb() -> None:
    sharp = cached_scene("camera").sharp
    np.testing.assert_array_equal(sharp[..., 0], sharp[..., 1])
    np.testing.assert_array_equal(sharp[..., 0], sharp[..., 2])


# --- bad input ------------------------------------------------------------------------


def test_unknown_id_lists_the_valid_ids() -> None:
    with pytest.raises(ValueError, match="unknown scene id 'lena'") as info:
        demo.make_scene("lena")
    for scene_id in demo.SCENE_IDS:
        assert scene_id in str(info.value)


@pytest.mark.parametrize("size", [31, 0, -5, 64.0, "64"])
def test_bad_size_is_rejected(size: object) -> None:
    with pytest.raises(ValueError, match="size must be an integer >= 32"):
        demo.make_scene("camera", size)  # type: ignore[arg-type]


# --- layered scenes -------------------------------------------------------------------


def test_ground_depth_closed_form() -> None:
    rows = np.array([0.0, 9.0, 10.0, 12.0, 30.0])
    expected = np.array([np.inf, np.inf, np.inf, 50.0 / 2.0, 50.0 / 20.0])
    np.testing.assert_array_equal(demo.ground_depth(rows, 10.0, 50.0), expected)


@pytest.mark.parametrize("size", [SIZE, 128])
@pytest.mark.parametrize("scene_id", LAYERED_IDS)
def test_layered_depth_is_planes_plus_nearer_objects(scene_id: str, size: int) -> None:
    scene = cached_scene(scene_id, size)
    attrs, depth = scene.attrs, scene.depth.astype(np.float64)
    assert attrs["depth_model"] == "layered"
    f = scene.intrinsics[0, 0]
    centre = (size - 1) / 2
    assert f == size  # documented focal length: hfov = 2 atan(1/2)

    # The horizon row fixes the pitch; the ground constant is C = h f / cos(theta).
    pitch = math.atan((centre - attrs["horizon_row_px"]) / f)
    assert math.degrees(pitch) == pytest.approx(attrs["camera_pitch_deg"], rel=1e-12)
    constant = attrs["camera_height_m"] * f / math.cos(pitch)
    assert attrs["ground_constant_m_px"] == pytest.approx(constant, rel=1e-12)

    background = np.broadcast_to(background_depth(size, attrs), depth.shape)
    on_background = np.isclose(depth, background, rtol=1e-6, atol=0)

    # Ground rows not covered by objects follow Z * (y - y_h) = C.
    rows = np.broadcast_to(np.arange(size, dtype=np.float64)[:, None], depth.shape)
    ground = on_background & (background < attrs["far_depth_m"])
    assert ground.sum() >= 0.01 * size * size
    product = depth[ground] * (rows[ground] - attrs["horizon_row_px"])
    np.testing.assert_allclose(product, constant, rtol=1e-6)
    far = on_background & ~ground
    np.testing.assert_allclose(depth[far], attrs["far_depth_m"], rtol=1e-6)

    # Everything else is an object: a connected region at one depth, nearer than what
    # lies behind it.
    objects = attrs["objects"]
    assert 1 <= len(objects) <= 3
    covered = np.zeros(depth.shape, dtype=bool)
    for obj in objects:
        mask = ~on_background & np.isclose(depth, obj["depth_m"], rtol=1e-6, atol=0)
        assert mask.sum() == obj["pixels"] > 0
        assert ndimage.label(mask)[1] == 1
        np.testing.assert_allclose(depth[mask], obj["depth_m"], rtol=1e-6)
        assert np.all(obj["depth_m"] < background[mask])
        covered |= mask
    np.testing.assert_array_equal(covered, ~on_background)


@pytest.mark.parametrize("scene_id", LAYERED_IDS)
def test_object_masks_follow_the_image_content(scene_id: str) -> None:
    """Objects are where the thresholded feature is above (or below) the rest."""
    spec = demo.LAYERED_SPECS[scene_id]
    scene = cached_scene(scene_id)
    sharp = scene.sharp.astype(np.float64)
    if spec.feature == "luminance":
        feature = color.rgb2gray(sharp)
    else:
        feature = color.rgb2hsv(sharp)[..., 1]
    background = background_depth(SIZE, scene.attrs)
    objects = ~np.isclose(scene.depth, background, rtol=1e-6, atol=0)
    inside, outside = feature[objects].mean(), feature[~objects].mean()
    assert (inside > outside) if spec.polarity == "above" else (inside < outside)


# --- motorcycle (real stereo depth) ---------------------------------------------------


def expected_crop() -> tuple[int, int, int]:
    """The 480 px square centred on the calibrated principal point."""
    side = 480
    return round(PRINCIPAL_Y - (side - 1) / 2), round(PRINCIPAL_X - (side - 1) / 2), side


def test_motorcycle_without_resize_matches_the_stereo_formula() -> None:
    row0, col0, side = expected_crop()
    scene = demo.make_scene("motorcycle", side)
    assert scene.attrs["depth_model"] == "stereo"
    assert scene.attrs["crop_rows_cols_side"] == [row0, col0, side]
    left, disparity = raw_motorcycle()
    crop = (slice(row0, row0 + side), slice(col0, col0 + side))
    np.testing.assert_array_equal(scene.sharp, (left[crop] / 255.0).astype(np.float32))
    assert scene.intrinsics[0, 0] == pytest.approx(F_PX, rel=1e-12)

    raw = disparity[crop]
    valid = np.isfinite(raw)
    np.testing.assert_allclose(scene.depth[valid], stereo_depth(raw[valid]), rtol=1e-6)
    # A few pixels written out, one at a time.
    for r, c in [(0, 0), (100, 200), (240, 240), (300, 100), (479, 479)]:
        if np.isfinite(raw[r, c]):
            z = 0.193001 * 994.978 / (float(raw[r, c]) + 31.086)
            assert scene.depth[r, c] == pytest.approx(z, rel=1e-6)
    # The calibrated principal point lands within half a pixel of the image centre.
    px, py = scene.attrs["principal_point_true_px"]
    assert abs(px - PRINCIPAL_X + col0) < 1e-9 and abs(py - PRINCIPAL_Y + row0) < 1e-9
    assert abs(px - (side - 1) / 2) < 0.5 and abs(py - (side - 1) / 2) < 0.5


def test_motorcycle_filled_pixels_take_the_farther_row_neighbour() -> None:
    row0, col0, side = expected_crop()
    scene = demo.make_scene("motorcycle", side)
    raw = raw_motorcycle()[1][row0 : row0 + side, col0 : col0 + side]
    missing = ~np.isfinite(raw)
    assert scene.attrs["disparity_filled_pixels"] == int(missing.sum()) > 0
    full = raw_motorcycle()[1]
    checked = 0
    for r, c in zip(*np.nonzero(missing), strict=True):
        if (r + c) % 97:  # a spread-out sample of the missing pixels
            continue
        line = full[row0 + r]
        x = col0 + c
        valid_cols = np.nonzero(np.isfinite(line))[0]
        neighbours = [line[valid_cols[valid_cols < x].max()]] if (valid_cols < x).any() else []
        if (valid_cols > x).any():
            neighbours.append(line[valid_cols[valid_cols > x].min()])
        expected = stereo_depth(min(neighbours))
        assert scene.depth[r, c] == pytest.approx(expected, rel=1e-6)
        checked += 1
    assert checked >= 50


def test_motorcycle_resized_depth_uses_documented_nearest_rule() -> None:
    size = 128
    row0, col0, side = expected_crop()
    scene = demo.make_scene("motorcycle", size)
    scale = size / side
    assert scene.attrs["resize_factor"] == pytest.approx(scale)
    assert scene.intrinsics[0, 0] == pytest.approx(F_PX * scale, rel=1e-12)
    raw = raw_motorcycle()[1][row0 : row0 + side, col0 : col0 + side]
    source = [math.floor((i + 0.5) * side / size) for i in range(size)]
    checked = 0
    for i in range(0, size, 5):
        for j in range(0, size, 5):
            d = raw[source[i], source[j]]
            if np.isfinite(d):
                assert scene.depth[i, j] == pytest.approx(stereo_depth(d), rel=1e-6)
                checked += 1
    assert checked > 500


def test_motorcycle_body_is_nearer_than_the_back_wall() -> None:
    depth = cached_scene("motorcycle", 128).depth
    body = np.median(depth[56:88, 40:88])  # engine and tank, centre of the frame
    wall = np.median(depth[0:24, 0:24])  # shelves at the top left
    assert body < wall
    assert 2.0 < body < 3.5 and 3.5 < wall < 5.5


def test_fill_disparity_on_a_hand_made_map() -> None:
    nan, inf = np.nan, np.inf
    disparity = np.array(
        [
            [1.0, nan, nan, 3.0],  # between 1 and 3: the farther (smaller) one
            [inf, 2.0, nan, 5.0],  # left edge: only a right neighbour
            [nan, nan, nan, nan],  # no valid pixel in the row: nearest in 2-D
            [4.0, 6.0, 7.0, nan],  # right edge: only a left neighbour
        ]
    )
    filled, n_filled = demo.fill_disparity(disparity)
    expected = np.array(
        [
            [1.0, 1.0, 1.0, 3.0],
            [2.0, 2.0, 2.0, 5.0],
            filled[2],  # checked below
            [4.0, 6.0, 7.0, 7.0],
        ]
    )
    assert n_filled == 9
    np.testing.assert_array_equal(filled, expected)
    # Row 2 takes a valid pixel directly above or below (distance 1; ties either way).
    for c in range(4):
        candidates = [disparity[r, c] for r in (1, 3) if np.isfinite(disparity[r, c])]
        assert filled[2, c] in candidates
    assert np.all(np.isfinite(filled))
    with pytest.raises(ValueError, match="no valid pixel"):
        demo.fill_disparity(np.full((2, 2), np.nan))


@pytest.mark.parametrize("scene_id", ["camera", "motorcycle"])
def test_reference_blur_is_the_reprojection_along_the_trajectory(scene_id: str) -> None:
    from inrdeblur.blur.pwb import PWBBlur
    from inrdeblur.blur.render import render_reprojection

    scene = cached_scene(scene_id)
    expected, info = render_reprojection(
        scene.sharp, scene.depth, scene.trajectory, scene.intrinsics
    )
    np.testing.assert_array_equal(scene.blurry, expected)
    assert scene.attrs["reference_blur_hole_fraction"] == info["hole_fraction"] < 0.1

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        return float(-10 * np.log10(np.mean((a - b) ** 2)))

    # Visibly blurred, and close to the per-pixel model of the same motion.
    pwb = PWBBlur.from_scene(scene.depth, scene.trajectory, scene.intrinsics)
    x = torch.from_numpy(scene.sharp.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        modelled = pwb.blur(x, "replicate")[0].numpy().transpose(1, 2, 0)
    assert psnr(scene.blurry, scene.sharp) < 27
    assert psnr(scene.blurry, modelled) > psnr(scene.blurry, scene.sharp) + 6
