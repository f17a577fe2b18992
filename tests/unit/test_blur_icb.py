"""ICB parallax blur: closed forms of the depth bins and kernels, an independent NumPy
implementation of the mattes and the compositing, operator identities, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage, signal
from scipy.signal.windows import gaussian

from inrdeblur.blur.icb import (
    ICBBlur,
    depth_bins,
    dilate,
    structuring_element,
    translation_extent,
)
from inrdeblur.blur.kernels import trajectory_kernel
from inrdeblur.blur.trajectory import Trajectory, TrajectoryError, hand_shake, reference_pose_index
from inrdeblur.blur.uniform import UniformBlur


def make_trajectory(translation: np.ndarray, rotation: np.ndarray | None = None) -> Trajectory:
    t = np.asarray(translation, dtype=np.float64)
    r = np.zeros_like(t) if rotation is None else np.asarray(rotation, dtype=np.float64)
    n = t.shape[0]
    return Trajectory(t, r, np.linspace(0.0, 0.05, n), reference_pose_index(n))


def scaled(trajectory: Trajectory, t_scale: float, r_scale: float) -> Trajectory:
    return Trajectory(
        trajectory.translation * t_scale,
        trajectory.rotation * r_scale,
        trajectory.timestamps,
        trajectory.reference_index,
    )


def layered_depth(h: int, w: int) -> np.ndarray:
    """A ramp from 4 m (left) to 1.5 m (right) with a fronto-parallel box at 1.2 m."""
    depth = np.tile(np.linspace(4.0, 1.5, w), (h, 1))
    depth[h // 3 : 2 * h // 3, w // 4 : w // 2] = 1.2
    return depth


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, Trajectory, tuple[float, float]]:
    trajectory = hand_shake(3, n_poses=24, translation_std_m=5e-3, rotation_std_deg=0.2)
    return layered_depth(26, 34), trajectory, (300.0, 280.0)


@pytest.fixture(scope="module")
def operator(scene) -> ICBBlur:
    depth, trajectory, focal = scene
    return ICBBlur.from_scene(depth, trajectory, focal, tile=9)


def with_settings(op: ICBBlur, **kwargs) -> ICBBlur:
    return ICBBlur(op.kernels, op.mattes, op.depth_bins.numpy(), op.layer_depths.numpy(), **kwargs)


def random_latent(op: ICBBlur, dtype=torch.float64, batch: int = 2, channels: int = 3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((batch, channels, *op.latent_shape), generator=g, dtype=dtype)


# -- depth bins: closed forms of spec §3.1 ------------------------------------------------


def test_depth_bins_hand_example_both_axes():
    # C = (3, 2) px*m, n = 1, nearest depth 0.5 m. Candidates 2C/(2l+1):
    #   x: 6, 2, 6/5, 6/7, 6/9, 6/11, 6/13 (levels 0..6; level 6 is kept because 6/11 > 0.5)
    #   y: 4, 4/3, 4/5, 4/7, 4/9, 4/11, 4/13
    # limit = largest candidate below 0.5 = 6/13; keep everything >= 6/13.
    expected = [6, 4, 2, 4 / 3, 6 / 5, 6 / 7, 4 / 5, 6 / 9, 4 / 7, 6 / 11, 6 / 13]
    np.testing.assert_allclose(depth_bins((3.0, 2.0), 0.5), expected, rtol=1e-12)


def test_depth_bins_single_axis_and_blur_diff():
    # C_y = 0 contributes nothing; n = 2: D_l = 6 / (4 l + 1) = 6, 6/5, 6/9, ..., 6/25 = 0.24;
    # level 6 is kept because 6/21 > 0.25, and 0.24 is the limit.
    expected = [6 / (4 * level + 1) for level in range(7)]
    np.testing.assert_allclose(depth_bins((3.0, 0.0), 0.25, blur_diff=2.0), expected, rtol=1e-12)


def test_depth_bins_far_scene_is_one_layer():
    # Everything beyond 2 C_max = 2 m blurs by under a pixel: one bin at 2 m covers it.
    np.testing.assert_allclose(depth_bins((1.0, 0.5), 3.0), [2.0])


def test_depth_bins_zero_translation_is_one_layer_over_all_depths():
    np.testing.assert_array_equal(depth_bins((0.0, 0.0), 0.7), [0.0])


def test_depth_bins_max_layers_too_small_is_an_error():
    with pytest.raises(ValueError, match="max_layers: 3 levels"):
        depth_bins((3.0, 2.0), 0.5, max_layers=3)


def test_translation_extent_is_max_translation_times_focal():
    t = np.array([[0.0, 0.0, 0.0], [0.01, -0.03, 0.5], [-0.02, 0.01, 0.0]])
    np.testing.assert_allclose(translation_extent(make_trajectory(t), (100.0, 50.0)), [2.0, 1.5])


# -- layers, kernels and mattes against independent code ---------------------------------


def reference_mattes(masks: np.ndarray, kernels: np.ndarray, sigma: float) -> np.ndarray:
    """Spec §3.4 with NumPy/SciPy: dilation by explicit shifts, scipy 'nearest' feathering."""
    n_layers, h, w = masks.shape
    s = kernels.shape[1]
    c = s // 2
    smoothed = np.zeros((n_layers, h, w))
    for layer in range(n_layers):
        se = kernels[layer] > 1.0 / s**2
        dilated = np.zeros((h, w), dtype=bool)
        for r, q in np.argwhere(se):
            dr, dc = r - c, q - c
            shifted = np.zeros((h, w), dtype=bool)
            shifted[max(dr, 0) : h + min(dr, 0), max(dc, 0) : w + min(dc, 0)] = masks[layer][
                max(-dr, 0) : h - max(dr, 0), max(-dc, 0) : w - max(dc, 0)
            ]
            dilated |= shifted
        extent = max(se.any(axis=1).sum(), se.any(axis=0).sum())
        extent = 2 * (extent // 2) + 1
        window = np.outer(gaussian(extent, sigma), gaussian(extent, sigma))
        window /= window.sum()
        smoothed[layer] = ndimage.convolve(dilated.astype(float), window, mode="nearest")
    alpha = np.empty_like(smoothed)
    for layer in range(n_layers):
        alpha[layer] = smoothed[layer] * np.prod(1.0 - smoothed[layer + 1 :], axis=0)
    return alpha / alpha.sum(axis=0)


def test_layers_kernels_and_mattes_match_an_independent_implementation(scene, operator):
    depth, trajectory, focal = scene
    bins = operator.depth_bins.numpy()
    # Bins from the closed form with the scene's own C and nearest depth.
    np.testing.assert_allclose(bins, depth_bins(translation_extent(trajectory, focal), depth.min()))
    masks = np.stack(
        [depth >= bins[0]]
        + [(depth >= bins[i]) & (depth < bins[i - 1]) for i in range(1, len(bins))]
    )
    np.testing.assert_array_equal(masks.sum(axis=0), 1)  # a partition
    assert (masks.sum(axis=(1, 2)) > 0).sum() >= 4
    expected_z = [bins[0]] + [
        depth[m].mean() if m.any() else b for m, b in zip(masks[1:], bins[1:], strict=True)
    ]
    np.testing.assert_allclose(operator.layer_depths.numpy(), expected_z, rtol=1e-12)
    s = operator.support
    for layer, z in enumerate(expected_z):
        expected_k = trajectory_kernel(trajectory, focal, z, support=s)
        np.testing.assert_array_equal(operator.kernels[layer].numpy(), expected_k)
    expected_a = reference_mattes(masks, operator.kernels.numpy().astype(np.float64), 4.0)
    mattes = operator.mattes.numpy()
    np.testing.assert_allclose(mattes, expected_a, atol=2e-6)
    assert np.any((mattes > 0.05) & (mattes < 0.95))  # feathered edges exist
    # Compositing: sum_l A_l (k_l * latent), 'valid' true convolution per channel.
    latent = random_latent(operator, batch=1, channels=2)
    out = operator(latent).numpy()
    for ch in range(2):
        expected = sum(
            expected_a[layer]
            * signal.convolve2d(latent[0, ch].numpy(), operator.kernels[layer].numpy(), "valid")
            for layer in range(len(bins))
        )
        np.testing.assert_allclose(out[0, ch], expected, atol=1e-5)


def test_kernels_and_mattes_are_normalised(operator):
    k = operator.kernels.numpy()
    assert k.dtype == np.float32 and k.min() >= 0
    np.testing.assert_allclose(k.sum(axis=(1, 2)), 1.0, atol=1e-6)
    a = operator.mattes.numpy()
    assert a.dtype == np.float32 and a.shape == (operator.n_layers, 26, 34)
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_allclose(a.sum(axis=0), 1.0, atol=1e-5)
    assert operator.margin == (operator.support // 2,) * 4


def test_dilation_is_the_minkowski_sum():
    se = torch.zeros((5, 5), dtype=torch.bool)
    se[0, 4] = se[2, 2] = se[3, 0] = True  # offsets (-2, +2), (0, 0), (+1, -2)
    mask = torch.zeros((9, 11), dtype=torch.bool)
    mask[4, 5] = True
    expected = torch.zeros_like(mask)
    expected[2, 7] = expected[4, 5] = expected[5, 3] = True  # p + b, not p - b
    torch.testing.assert_close(dilate(mask, se), expected)
    edge = torch.zeros((9, 11), dtype=torch.bool)
    edge[1, 9] = True
    expected = torch.zeros_like(edge)
    expected[1, 9] = expected[2, 7] = True  # (1, 9) + (-2, 2) = (-1, 11) leaves the image
    torch.testing.assert_close(dilate(edge, se), expected)


def test_structuring_element_threshold_and_guard():
    k = torch.tensor([[0.0, 0.1, 0.0], [0.3, 0.5, 0.1], [0.0, 0.0, 0.0]])  # 1/S^2 = 0.111
    expected = torch.tensor([[0, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=torch.bool)
    torch.testing.assert_close(structuring_element(k), expected)
    # A kernel uniform over its support has no cell above 1/S^2; S = 1 is the common case.
    torch.testing.assert_close(structuring_element(torch.ones((1, 1))), torch.ones((1, 1)) > 0)


# -- closed-form behaviour ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["fft", "direct"])
def test_zero_motion_is_the_identity(method):
    depth = layered_depth(12, 15)
    trajectory = make_trajectory(np.zeros((6, 3)))
    op = ICBBlur.from_scene(depth, trajectory, (100.0, 100.0), method=method, tile=5)
    assert op.support == 1 and op.n_layers == 1 and op.margin == (0, 0, 0, 0)
    assert op.depth_bins.tolist() == [0.0]
    latent = torch.rand((2, 3, 12, 15))
    torch.testing.assert_close(op(latent), latent, atol=1e-6, rtol=0)


@pytest.mark.parametrize("method", ["fft", "direct"])
def test_constant_depth_pure_translation_is_the_uniform_blur(method):
    trajectory = hand_shake(7, n_poses=32, translation_std_m=6e-3, rotation_std_deg=0.0)
    focal, z = (300.0, 280.0), 2.5
    depth = np.full((30, 36), z)
    op = ICBBlur.from_scene(depth, trajectory, focal, method=method, tile=11)
    assert op.depth_bins[0] > z  # the scene is in a layer > 0, whose kernel depth is the mean
    uniform = UniformBlur(trajectory_kernel(trajectory, focal, z, support=op.support), (30, 36))
    assert uniform.margin == op.margin and op.support >= 5
    latent = torch.rand((2, 3, *op.latent_shape))
    torch.testing.assert_close(op(latent), uniform(latent), atol=1e-5, rtol=0)


def test_layer_kernel_extent_shrinks_as_one_over_depth():
    t_x = np.linspace(-0.01, 0.02, 33)
    trajectory = make_trajectory(np.stack([t_x, 0 * t_x, 0 * t_x], axis=1))
    f = 500.0
    depth = np.tile(np.linspace(6.0, 1.0, 96), (48, 1))
    op = ICBBlur.from_scene(depth, trajectory, (f, f))
    c = op.support // 2
    extents = []
    for kernel, z in zip(op.kernels.numpy(), op.layer_depths.numpy(), strict=True):
        rows, cols = np.nonzero(kernel)
        assert set(rows) == {c}  # no y motion
        lo, hi = np.floor(f * t_x.min() / z + 0.5), np.floor(f * t_x.max() / z + 0.5)
        assert (cols.min() - c, cols.max() - c) == (lo, hi)
        extents.append(cols.max() - cols.min() + 1)
        assert extents[-1] == hi - lo + 1
    # Far to near: the extent never shrinks and ends near f (t_max - t_min) / Z_min px.
    assert np.all(np.diff(extents) >= 0)
    assert extents[0] <= 2 and extents[-1] >= 14


def test_near_layers_blur_more_than_far_ones_on_the_motorcycle():
    from inrdeblur.data.demo import make_scene

    scene = make_scene("motorcycle", 128)
    focal = (float(scene.intrinsics[0, 0]), float(scene.intrinsics[1, 1]))
    t = scene.trajectory
    z_near, z_far = np.quantile(scene.depth, [0.2, 0.8])
    assert z_far > 1.5 * z_near  # real parallax to see
    # Scale the shake so the translation moves the nearest points by up to 6 px and the
    # rotation every point by up to 1 px.
    t_px = np.abs(t.translation[:, :2]).max() * focal[0] / scene.depth.min()
    r_px = np.deg2rad(np.abs(t.rotation[:, :2]).max()) * focal[0]
    op = ICBBlur.from_scene(scene.depth, scaled(t, 6.0 / t_px, 1.0 / r_px), focal)
    assert op.n_layers >= 4
    # Kernel second moments about the centroid grow from the far to the near layer.
    kernels = op.kernels.numpy().astype(np.float64)
    rr, cc = np.mgrid[: op.support, : op.support]
    spread = []
    for k in kernels:
        mr, mc = (k * rr).sum(), (k * cc).sum()
        spread.append((k * ((rr - mr) ** 2 + (cc - mc) ** 2)).sum())
    filled = [i for i, m in enumerate(op.mattes.numpy()) if m.max() > 0.5]
    assert spread[filled[-1]] > 2 * spread[filled[0]]
    # Loss of gradient energy in the image: the nearest pixels keep less of it.
    sharp = torch.from_numpy(scene.sharp).permute(2, 0, 1)[None].double()
    blurry = op.blur(sharp, "replicate")[0].numpy()
    image = sharp[0].numpy()

    def gradient_energy(x: np.ndarray, where: np.ndarray) -> float:
        gy, gx = np.gradient(x, axis=(1, 2))
        return float(((gx**2 + gy**2).sum(axis=0))[where].sum())

    inner = np.zeros_like(scene.depth, dtype=bool)
    inner[8:-8, 8:-8] = True
    near, far = inner & (scene.depth <= z_near), inner & (scene.depth >= z_far)
    kept_near = gradient_energy(blurry, near) / gradient_energy(image, near)
    kept_far = gradient_energy(blurry, far) / gradient_energy(image, far)
    assert kept_near < 0.9 * kept_far


# -- operator identities ------------------------------------------------------------------


def test_linearity(operator):
    x, y = random_latent(operator, seed=1), random_latent(operator, seed=2)
    torch.testing.assert_close(
        operator(2.5 * x - 0.7 * y), 2.5 * operator(x) - 0.7 * operator(y), atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("method", ["fft", "direct"])
def test_adjoint_identity(operator, method):
    x = random_latent(operator, seed=3) - 0.5
    g = torch.Generator().manual_seed(4)
    y = torch.randn((2, 3, *operator.image_shape), generator=g, dtype=torch.float64)
    ax = operator(x, method=method)
    aty = operator.adjoint(y, method=method)
    assert aty.shape == x.shape
    lhs, rhs = (ax * y).sum().item(), (x * aty).sum().item()
    assert lhs == pytest.approx(rhs, rel=1e-11, abs=1e-11)


def test_gradient_reaches_the_latent(operator):
    x = random_latent(operator, dtype=torch.float32, batch=1).requires_grad_(True)
    operator(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # d sum(y) / dx = A^T 1; every output pixel's weights sum to sum_l A_l sum k_l = 1.
    h, w = operator.image_shape
    assert x.grad.sum().item() == pytest.approx(3 * h * w, rel=1e-5)
    ones = torch.ones((1, 3, h, w))
    torch.testing.assert_close(x.grad, operator.adjoint(ones, method="direct"), atol=1e-5, rtol=0)


def test_fft_matches_direct(operator):
    x = random_latent(operator, dtype=torch.float32, batch=3, channels=1, seed=5)
    torch.testing.assert_close(
        operator(x, method="fft"), operator(x, method="direct"), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("method", ["fft", "direct"])
def test_tiled_matches_untiled(operator, method):
    x = random_latent(operator, seed=6)
    small = with_settings(operator, tile=4, layer_chunk=2, method=method)
    whole = with_settings(operator, tile=10_000, method=method)
    torch.testing.assert_close(small(x), whole(x), atol=1e-12, rtol=0)
    y = torch.rand((2, 3, *operator.image_shape), dtype=torch.float64)
    torch.testing.assert_close(small.adjoint(y), whole.adjoint(y), atol=1e-12, rtol=0)


def test_describe_and_buffers(operator):
    facts = operator.describe()
    json.dumps(facts)
    assert facts["model"] == "icb" and facts["n_layers"] == operator.n_layers
    assert facts["support"] == operator.support == operator.kernels.shape[1]
    assert len(facts["depth_bins"]) == len(facts["layer_depths"]) == operator.n_layers
    names = {name for name, _ in operator.named_buffers()}
    assert names == {"kernels", "mattes", "depth_bins", "layer_depths"}


# -- bad input ----------------------------------------------------------------------------


def _depth_with(value: float, count: int) -> np.ndarray:
    depth = layered_depth(20, 20)
    depth.ravel()[:count] = value
    return depth


@pytest.mark.parametrize(
    ("depth", "message"),
    [
        (
            _depth_with(np.nan, 2),
            r"depth: must be finite and > 0 metres; 2 NaN, 0 infinite and 0 <= 0 of 400 pixels",
        ),
        (
            _depth_with(np.inf, 3),
            r"depth: must be finite and > 0 metres; 0 NaN, 3 infinite and 0 <= 0 of 400 pixels",
        ),
        (_depth_with(0.0, 1), r"depth: .* and 1 <= 0 of 400 pixels"),
        (_depth_with(-2.0, 4), r"depth: .* and 4 <= 0 of 400 pixels"),
        (np.ones((4, 5, 3)), r"depth: must be a 2-D \(H, W\) map"),
    ],
)
def test_bad_depth(scene, depth, message):
    with pytest.raises(ValueError, match=message):
        ICBBlur.from_scene(depth, scene[1], scene[2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"blur_diff": 0.0}, "blur_diff: must be a finite number > 0"),
        ({"blur_diff": -1.0}, "blur_diff: must be a finite number > 0"),
        ({"sigma": 0.0}, "sigma: must be a finite number > 0"),
        ({"max_layers": 0}, "max_layers: must be an integer >= 1"),
        ({"method": "spatial"}, "method: must be one of"),
        ({"tile": 0}, "tile: must be an integer >= 1"),
    ],
)
def test_bad_settings(scene, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ICBBlur.from_scene(scene[0], scene[1], scene[2], **kwargs)


def test_bad_focal_length(scene):
    with pytest.raises(ValueError, match="focal_px"):
        ICBBlur.from_scene(scene[0], scene[1], (-100.0, 100.0))


def test_support_larger_than_the_image():
    trajectory = make_trajectory(np.array([[0.0, 0, 0], [0.05, 0, 0], [-0.05, 0, 0]]))
    with pytest.raises(ValueError, match=r"support S = 11 px is larger than the image 8x9 px"):
        ICBBlur.from_scene(np.full((8, 9), 1.0), trajectory, (100.0, 100.0))


def test_bad_trajectories_are_rejected():
    with pytest.raises(TrajectoryError, match="at least 2 poses"):
        make_trajectory(np.zeros((1, 3)))
    bad = np.zeros((4, 3))
    bad[2, 0] = np.nan
    with pytest.raises(TrajectoryError, match="translation has non-finite values"):
        make_trajectory(bad)
    with pytest.raises(ValueError, match="trajectory: expected a Trajectory"):
        ICBBlur.from_scene(np.ones((8, 8)), np.zeros((4, 6)), (10.0, 10.0))


def test_bad_latent_shape(operator):
    with pytest.raises(ValueError, match="expected a"):
        operator(torch.zeros((1, 3, *operator.image_shape)))
    with pytest.raises(ValueError, match="adjoint: expected a"):
        operator.adjoint(torch.zeros((1, 3, *operator.latent_shape)))
