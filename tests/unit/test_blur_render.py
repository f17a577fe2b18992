"""Reprojection renderer: geometry against explicit 3-D points and the trajectory's shifts,
uniform blur for a plane under integer translation, and occlusion against a painter's
algorithm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inrdeblur.blur.kernels import trajectory_kernel
from inrdeblur.blur.render import render_reprojection, reproject
from inrdeblur.blur.trajectory import Trajectory
from inrdeblur.blur.uniform import convolve

F = 100.0  # focal length in pixels of every test camera


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def intrinsics(h: int, w: int) -> np.ndarray:
    return np.array([[F, 0.0, (w - 1) / 2], [0.0, F, (h - 1) / 2], [0.0, 0.0, 1.0]])


def trajectory(translation, rotation=None, reference_index: int = 0) -> Trajectory:
    t = np.asarray(translation, dtype=np.float64).reshape(-1, 3)
    r = np.zeros_like(t) if rotation is None else np.asarray(rotation, dtype=np.float64)
    return Trajectory(t, r.reshape(-1, 3), np.arange(len(t), dtype=np.float64), reference_index)


def single_view(translation) -> Trajectory:
    """Two identical poses: the render is exactly that one view."""
    return trajectory([translation, translation])


@pytest.fixture()
def sharp() -> np.ndarray:
    return np.random.default_rng(7).random((24, 32, 3))


# --- geometry ----------------------------------------------------------------------------


def test_reproject_matches_explicit_3d_points():
    rng = np.random.default_rng(3)
    h, w = 9, 11
    depth = rng.uniform(0.5, 4.0, (h, w))
    k = np.array([[120.0, 0.5, 5.3], [0.0, 110.0, 3.9], [0.0, 0.0, 1.0]])
    traj = trajectory([[0.03, -0.02, 0.05], [0, 0, 0]], [[1.5, -2.0, 3.0], [0, 0, 0]])
    rotation = traj.rotation_matrices()[0]
    rows, cols, view_depth = reproject(depth, rotation, traj.translation[0], k)
    # Back-project every pixel to a 3-D point, move it into the view, project it.
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    pixels = np.stack([u, v, np.ones_like(u)], axis=-1)
    points = depth[..., None] * (pixels @ np.linalg.inv(k).T)
    moved = points @ rotation.T + traj.translation[0]
    projected = moved @ k.T
    x_view = projected[..., 0] / projected[..., 2]
    y_view = projected[..., 1] / projected[..., 2]
    np.testing.assert_allclose(view_depth, moved[..., 2], rtol=1e-12)
    np.testing.assert_allclose(cols, x_view, atol=1e-9)  # column u + s_x
    np.testing.assert_allclose(rows, v - (y_view - v), atol=1e-9)  # row v - s_y (y up)


def test_reproject_agrees_with_trajectory_shifts():
    # Trajectory.shifts is the fronto-parallel model of ICB: exact for x/y translation of
    # a plane, first order in the rotation angle at the principal point.
    h, w = 7, 9
    k = intrinsics(h, w)
    c_row, c_col = 3, 4
    depth = np.full((h, w), 2.5)
    traj = trajectory([[0.04, -0.03, 0.0], [0.0, 0.0, 0.0]], [[0, 0, 0], [0.3, -0.2, 0.0]])
    shifts = traj.shifts((F, F), 2.5)  # (N, 2) = (s_x, s_y)
    rots = traj.rotation_matrices()
    rows, cols, _ = reproject(depth, rots[0], traj.translation[0], k)
    v, u = np.mgrid[0:h, 0:w]
    np.testing.assert_allclose(cols - u, shifts[0, 0], atol=1e-9)
    np.testing.assert_allclose(v - rows, shifts[0, 1], atol=1e-9)
    rows, cols, _ = reproject(depth, rots[1], traj.translation[1], k)
    angle = np.deg2rad(0.3)
    assert cols[c_row, c_col] - c_col == pytest.approx(shifts[1, 0], abs=F * angle**2)
    assert rows[c_row, c_col] - c_row == pytest.approx(-shifts[1, 1], abs=F * angle**2)


# --- closed forms ------------------------------------------------------------------------


def test_zero_motion_returns_the_sharp_image(sharp):
    depth = np.random.default_rng(1).uniform(0.5, 10.0, sharp.shape[:2])
    blurry, info = render_reprojection(
        sharp, depth, trajectory(np.zeros((5, 3))), intrinsics(24, 32)
    )
    assert blurry.dtype == np.float32 and blurry.shape == sharp.shape
    np.testing.assert_allclose(blurry, sharp, atol=1e-6, rtol=0)
    assert info["hole_fraction"] == 0.0 and info["n_poses"] == 5


def test_integer_translation_of_a_plane_is_uniform_convolution(sharp):
    h, w = sharp.shape[:2]
    depth_m = 2.0
    rng = np.random.default_rng(11)
    shifts = rng.integers(-3, 4, size=(12, 2))  # (s_x, s_y) in whole pixels, per pose
    translation = np.zeros((12, 3))
    translation[:, :2] = shifts * depth_m / F  # f t / d is an exact integer
    traj = trajectory(translation, reference_index=5)
    blurry, info = render_reprojection(sharp, np.full((h, w), depth_m), traj, intrinsics(h, w))

    kernel = torch.from_numpy(trajectory_kernel(traj, (F, F), depth_m).astype(np.float64))
    image = torch.from_numpy(sharp.transpose(2, 0, 1)[None].copy())
    expected = convolve(image, kernel, "replicate")[0].numpy().transpose(1, 2, 0)
    # Border pixels are holes filled by the gather with a clamped position: replicate.
    np.testing.assert_allclose(blurry, expected, atol=1e-6, rtol=0)
    r = kernel.shape[0] // 2
    np.testing.assert_allclose(blurry[r:-r, r:-r], expected[r:-r, r:-r], atol=1e-6, rtol=0)
    # Each view leaves uncovered the |s_x| columns and |s_y| rows it shifted in.
    sx, sy = np.abs(shifts[:, 0]), np.abs(shifts[:, 1])
    holes = (sx * h + sy * w - sx * sy) / (h * w)
    assert info["hole_fraction"] == pytest.approx(holes.mean(), abs=1e-12)


@pytest.mark.parametrize(("axis", "frac"), [("x", 0.25), ("y", 0.25), ("x", 0.6)])
def test_subpixel_shift_splats_bilinearly(sharp, axis, frac):
    h, w = sharp.shape[:2]
    t = [frac * 2.0 / F, 0.0, 0.0] if axis == "x" else [0.0, frac * 2.0 / F, 0.0]
    blurry, _ = render_reprojection(sharp, np.full((h, w), 2.0), single_view(t), intrinsics(h, w))
    if axis == "x":  # pixel (r, c) receives (1 - frac) of point c and frac of point c - 1
        expected = (1 - frac) * sharp[:, 1:] + frac * sharp[:, :-1]
        np.testing.assert_allclose(blurry[:, 1:], expected, atol=1e-6)
    else:  # y up: points move up by frac, pixel r receives point r + 1 with weight frac
        expected = (1 - frac) * sharp[:-1] + frac * sharp[1:]
        np.testing.assert_allclose(blurry[:-1], expected, atol=1e-6)


def test_pure_rotation_does_not_depend_on_depth(sharp):
    h, w = sharp.shape[:2]
    depth = np.random.default_rng(2).uniform(1.0, 2.0, (h, w))
    traj = trajectory(np.zeros((3, 3)), [[0, 0, 0], [0.8, -0.5, 1.0], [-0.4, 1.2, -2.0]])
    near, _ = render_reprojection(sharp, depth, traj, intrinsics(h, w))
    far, _ = render_reprojection(sharp, 30 * depth, traj, intrinsics(h, w))
    np.testing.assert_allclose(near, far, atol=1e-6)
    assert np.abs(near - sharp).max() > 0.1  # it did move


# --- occlusion ---------------------------------------------------------------------------

H, W = 20, 30
ROWS, COLS = slice(6, 14), slice(10, 18)  # the near square
NEAR_M, FAR_M = 1.0, 5.0


def two_planes() -> tuple[np.ndarray, np.ndarray]:
    """A red-only textured square at 1 m in front of a blue-only background at 5 m."""
    rng = np.random.default_rng(5)
    image = np.zeros((H, W, 3))
    image[..., 2] = rng.uniform(0.2, 1.0, (H, W))
    image[ROWS, COLS, 2] = 0.0
    image[ROWS, COLS, 0] = rng.uniform(0.2, 1.0, (8, 8))
    depth = np.full((H, W), FAR_M)
    depth[ROWS, COLS] = NEAR_M
    return image, depth


def painter_view(image: np.ndarray, depth: np.ndarray, t_x: float):
    """Independent reference for integer shifts: paint far points, then near points."""
    view = np.zeros_like(image)
    covered = np.zeros(depth.shape, dtype=bool)
    for plane in (FAR_M, NEAR_M):
        shift = round(F * t_x / plane)
        for r, c in zip(*np.nonzero(depth == plane), strict=True):
            if 0 <= c + shift < W:
                view[r, c + shift] = image[r, c]
                covered[r, c + shift] = True
    # Uncovered pixels gather as PWB: own depth, source column c - shift, clamped.
    for r, c in zip(*np.nonzero(~covered), strict=True):
        shift = round(F * t_x / depth[r, c])
        view[r, c] = image[r, min(max(c - shift, 0), W - 1)]
    return view, ~covered


@pytest.mark.parametrize("t_x", [0.05, -0.05])
def test_near_plane_occludes_far_plane_in_one_view(t_x):
    image, depth = two_planes()
    blurry, info = render_reprojection(image, depth, single_view([t_x, 0, 0]), intrinsics(H, W))
    expected, holes = painter_view(image, depth, t_x)
    np.testing.assert_allclose(blurry, expected, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(info["hole_map"] > 0, holes)

    # The square moved by 5 px; where it now is, no background colour shows through.
    near_shift = round(F * t_x / NEAR_M)
    moved = blurry[ROWS, COLS.start + near_shift : COLS.stop + near_shift]
    assert np.all(moved[..., 2] == 0) and np.all(moved[..., 0] > 0)
    # Holes: the image border the background left (1 column) and the strip of
    # 5 - 1 = 4 columns the square uncovered on its trailing side, nothing else.
    hole_cols = set(np.nonzero(holes[ROWS].any(axis=0))[0])
    trailing = (
        set(range(COLS.start + 1, COLS.start + 5))
        if t_x > 0
        else set(range(COLS.stop - 5, COLS.stop - 1))
    )
    assert hole_cols == trailing | {0 if t_x > 0 else W - 1}
    assert not holes[: ROWS.start, 1:-1].any() and not holes[ROWS.stop :, 1:-1].any()


def test_blur_of_two_planes_averages_the_views():
    image, depth = two_planes()
    traj = trajectory([[0, 0, 0], [0.05, 0, 0]])
    blurry, info = render_reprojection(image, depth, traj, intrinsics(H, W))
    view, holes = painter_view(image, depth, 0.05)
    np.testing.assert_allclose(blurry, (image + view) / 2, atol=1e-6, rtol=0)
    np.testing.assert_allclose(info["hole_map"], holes / 2)
    assert info["hole_fraction"] == pytest.approx(holes.mean() / 2)


def test_subpixel_occlusion_does_not_bleed_far_colour_into_the_near_plane():
    image, depth = two_planes()
    t_x = 0.045  # near plane moves 4.5 px, the background 0.9 px
    blurry, info = render_reprojection(image, depth, single_view([t_x, 0, 0]), intrinsics(H, W))
    # Columns reached by a bilinear tap of a near point: floor(c + 4.5) .. floor(c + 4.5) + 1.
    footprint = blurry[ROWS, COLS.start + 4 : COLS.stop + 5]
    assert np.all(footprint[..., 2] == 0) and np.all(footprint[..., 0] > 0)
    assert 0 < info["hole_fraction"] < 0.1


# --- input validation --------------------------------------------------------------------


def test_bad_inputs_are_rejected_with_a_reason(sharp):
    h, w = sharp.shape[:2]
    depth = np.ones((h, w))
    k = intrinsics(h, w)
    traj = trajectory(np.zeros((2, 3)))
    bad_depth = depth.copy()
    bad_depth[0, :2] = np.nan
    bad_depth[1, :3] = 0.0
    bad_depth[2, 0] = -1.0
    with pytest.raises(ValueError, match=r"2 NaN, 0 infinite and 4 <= 0 of 768"):
        render_reprojection(sharp, bad_depth, traj, k)
    cases = [
        ((sharp, np.ones((h, w + 1)), traj, k), "depth: shape"),
        ((sharp, np.ones((h, w, 1)), traj, k), r"depth: must be a 2-D \(H, W\) map"),
        ((sharp[..., :2], depth, traj, k), "sharp: must be an"),
        ((sharp * 255, depth, traj, k), r"sharp: values must be in \[0, 1\]"),
        ((np.where(sharp > 0.5, np.nan, sharp), depth, traj, k), "sharp: .* non-finite"),
        ((sharp, depth, traj, k[:2]), "K must be a 3x3 matrix"),
        ((sharp, depth, traj, k * 2), "K must be a pinhole matrix"),
        ((sharp, depth, traj, np.diag([-F, F, 1.0])), "focal lengths"),
        ((sharp, depth, traj, np.full((3, 3), np.inf)), "non-finite"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            render_reprojection(*args)
    with pytest.raises(ValueError, match="depth_tolerance"):
        render_reprojection(sharp, depth, traj, k, depth_tolerance=-0.1)
    with pytest.raises(TypeError, match="Trajectory"):
        render_reprojection(sharp, depth, np.zeros((2, 6)), k)


def test_points_hidden_at_their_nearest_pixel_are_not_splatted():
    image, depth = two_planes()
    depth[depth == FAR_M] = 23.0
    t_x = 0.046  # near plane moves 4.6 px, the background 0.2 px
    blurry, _ = render_reprojection(image, depth, single_view([t_x, 0, 0]), intrinsics(H, W))
    # The background point at column stop + 4 lands at stop + 4.2, whose nearest pixel
    # stop + 4 holds the near plane (its last column lands at stop + 3.6): it is hidden,
    # so its 0.2 tap on stop + 5 is dropped and that pixel keeps only its own point.
    c = COLS.stop + 5
    np.testing.assert_allclose(blurry[ROWS, c], image[ROWS, c], atol=1e-6, rtol=0)
    # One column further no point is hidden: the usual bilinear mix.
    mix = 0.8 * image[ROWS, c + 1] + 0.2 * image[ROWS, c]
    np.testing.assert_allclose(blurry[ROWS, c + 1], mix, atol=1e-6, rtol=0)
