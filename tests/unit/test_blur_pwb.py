"""PWB per-pixel homography blur: closed forms, the uniform special case, the dense
reference formulation, the adjoint, memory, and input validation."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from inrdeblur.blur.kernels import psf_histogram, trajectory_kernel
from inrdeblur.blur.pwb import PWBBlur, pixel_offsets
from inrdeblur.blur.trajectory import Trajectory, hand_shake, round_half_up
from inrdeblur.blur.uniform import UniformBlur

H, W = 20, 26


def make_trajectory(translation: np.ndarray, rotation: np.ndarray | None = None) -> Trajectory:
    translation = np.asarray(translation, dtype=np.float64)
    n = translation.shape[0]
    rotation = np.zeros((n, 3)) if rotation is None else rotation
    return Trajectory(translation, rotation, np.linspace(0.0, 0.05, n), n // 2)


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, Trajectory, np.ndarray]:
    """Two fronto-parallel planes plus a slanted patch, full 6-DoF shake."""
    depth = np.full((H, W), 3.0)
    depth[:, : W // 2] = 1.0
    depth[12:, 5:20] = np.linspace(1.5, 2.5, 15)[None, :]
    traj = hand_shake(3, n_poses=12, translation_std_m=0.015, rotation_std_deg=0.5)
    return depth, traj, intrinsics(60.0, 55.0, 12.3, 9.6)


@pytest.fixture(scope="module")
def op(scene) -> PWBBlur:
    return PWBBlur.from_scene(*scene, chunk_rows=3)


def latent_for(op: PWBBlur, b: int = 2, c: int = 3, dtype=torch.float32, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, *op.latent_shape, generator=gen, dtype=dtype)


def test_scene_is_spatially_varying(op):
    # Guards the other tests: the fixture has real per-pixel variation and a support > 1.
    assert op.support >= 5
    kernels = op.per_pixel_kernels()
    assert not torch.equal(kernels[..., 0, 0], kernels[..., -1, -1])
    assert op.margin == (op.support // 2,) * 4


def test_zero_motion_is_identity():
    traj = make_trajectory(np.zeros((5, 3)))
    depth = np.random.default_rng(0).uniform(1.0, 4.0, (H, W))
    op = PWBBlur.from_scene(depth, traj, intrinsics(50.0, 50.0, 12.5, 9.5))
    assert op.support == 1 and op.latent_shape == (H, W)
    image = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(op.blur(image), image, atol=1e-6, rtol=0)


def test_xy_translation_on_a_plane_equals_uniform_blur():
    # R = I, t_z = 0: the homography shift is exactly K t / d at every pixel.
    rng = np.random.default_rng(4)
    translation = np.zeros((9, 3))
    translation[:, :2] = rng.uniform(-0.012, 0.012, (9, 2))
    traj = make_trajectory(translation)
    fx, fy, depth_m = 500.0, 430.0, 2.0
    op = PWBBlur.from_scene(np.full((H, W), depth_m), traj, intrinsics(fx, fy, 11.2, 8.7))
    kernel = trajectory_kernel(traj, (fx, fy), depth_m)
    uniform = UniformBlur(kernel, (H, W))
    assert op.support == kernel.shape[0] > 3
    assert op.latent_shape == uniform.latent_shape
    latent = latent_for(op)
    torch.testing.assert_close(op(latent), uniform(latent), atol=1e-5, rtol=0)
    kernels = op.per_pixel_kernels()
    torch.testing.assert_close(kernels, torch.as_tensor(kernel)[..., None, None].expand_as(kernels))


def test_roll_offsets_follow_the_closed_form():
    # Rotation about the optical axis by g with fx = fy: a pixel at (du, dv) from the
    # principal point moves to (cos g du - sin g dv, sin g du + cos g dv).
    angles = np.array([-6.0, -3.5, -1.0, 0.0, 2.0, 4.5, 6.0])
    rotation = np.zeros((7, 3))
    rotation[:, 2] = angles
    traj = make_trajectory(np.zeros((7, 3)), rotation)
    h, w, cx, cy = 41, 61, 30.0, 20.0
    depth = np.random.default_rng(5).uniform(1.0, 5.0, (h, w))  # roll ignores depth
    op = PWBBlur.from_scene(depth, traj, intrinsics(300.0, 300.0, cx, cy))
    offsets = op.offsets().numpy()
    g = np.deg2rad(angles)
    for v, u in [(0, 0), (0, 60), (40, 0), (40, 60), (20, 30), (7, 45), (33, 11)]:
        du, dv = u - cx, v - cy
        su = np.cos(g) * du - np.sin(g) * dv - du
        sv = np.sin(g) * du + np.cos(g) * dv - dv
        expected = np.stack([-round_half_up(sv), round_half_up(su)], axis=-1)
        np.testing.assert_array_equal(offsets[:, v, u], expected, err_msg=f"pixel {(v, u)}")
    kernels = op.per_pixel_kernels()
    centre = op.support // 2
    assert kernels[centre, centre, 20, 30] == 1.0  # the principal point does not move
    assert not torch.equal(kernels[..., 0, 0], kernels[..., 40, 60])  # opposite corners differ


def test_forward_translation_follows_the_closed_form():
    # Pure t_z: x' = K (K^-1 x + t / d), so the offset from the principal point scales by
    # 1 / (1 + t_z / d), which depends on each pixel's depth.
    tz = np.array([-0.3, -0.1, 0.0, 0.2, 0.4])
    traj = make_trajectory(np.stack([np.zeros(5), np.zeros(5), tz], axis=1))
    h, w, cx, cy = 21, 31, 15.0, 10.0
    depth = np.random.default_rng(6).uniform(1.0, 3.0, (h, w))
    offsets = pixel_offsets(depth, traj, intrinsics(80.0, 90.0, cx, cy))
    v, u = np.mgrid[0:h, 0:w]
    scale = 1.0 / (1.0 + tz[:, None, None] / depth) - 1.0
    expected_row = -round_half_up(scale * (v - cy))
    expected_col = round_half_up(scale * (u - cx))
    np.testing.assert_array_equal(offsets[..., 0], expected_row)
    np.testing.assert_array_equal(offsets[..., 1], expected_col)


def test_kernels_sum_to_one_and_are_the_offset_histograms(op, scene):
    offsets = pixel_offsets(*scene)
    for row0, row1 in [(0, 7), (7, 20)]:
        kernels = op.per_pixel_kernels(row0, row1)
        assert kernels.shape == (op.support, op.support, row1 - row0, W)
        torch.testing.assert_close(kernels.sum((0, 1)), torch.ones(row1 - row0, W))
    kernels = op.per_pixel_kernels()
    for i, j in [(0, 0), (5, 13), (19, 25), (15, 8)]:
        expected = psf_histogram(offsets[:, i, j], op.support)
        np.testing.assert_allclose(kernels[..., i, j].numpy(), expected, atol=1e-7)


def test_offsets_round_trip_through_the_buffer(scene):
    offsets = pixel_offsets(*scene)
    for support in (None, 2 * int(np.abs(offsets).max()) + 7):
        op = PWBBlur(offsets, support=support)
        np.testing.assert_array_equal(op.offsets().numpy(), offsets)
        np.testing.assert_array_equal(op.offsets(4, 9).numpy(), offsets[:, 4:9])


@pytest.mark.parametrize(("b", "c"), [(2, 3), (1, 1), (3, 2)])
def test_gather_equals_dense_reference(op, b, c):
    latent = latent_for(op, b, c, seed=b + c)
    torch.testing.assert_close(
        op(latent), op.forward_dense(latent, chunk_rows=4), atol=1e-6, rtol=0
    )


def test_linearity(op):
    x, y = latent_for(op, seed=1), latent_for(op, seed=2)
    torch.testing.assert_close(op(2.5 * x - 0.7 * y), 2.5 * op(x) - 0.7 * op(y), atol=1e-5, rtol=0)


def test_adjoint_identity(op):
    x = latent_for(op, dtype=torch.float64, seed=3)
    y = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    adjoint = op.adjoint(y)
    assert adjoint.shape == x.shape
    lhs = torch.sum(op(x) * y)
    rhs = torch.sum(x * adjoint)
    assert abs(float(lhs - rhs)) <= 1e-12 * abs(float(lhs))


def test_gradient_flows_to_the_latent(op):
    x = latent_for(op, dtype=torch.float64, seed=5).requires_grad_()
    weight = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    torch.sum(op(x) * weight).backward()
    # The gradient of <A x, w> is A^T w; autograd through the dense reference agrees.
    x_dense = x.detach().clone().requires_grad_()
    torch.sum(op.forward_dense(x_dense) * weight).backward()
    torch.testing.assert_close(x.grad, x_dense.grad, atol=1e-12, rtol=0)
    torch.testing.assert_close(x.grad, op.adjoint(weight), atol=1e-12, rtol=0)


def test_gradcheck_small():
    traj = hand_shake(7, n_poses=4, translation_std_m=0.02, rotation_std_deg=1.0)
    depth = np.linspace(1.0, 2.0, 8 * 9).reshape(8, 9)
    small = PWBBlur.from_scene(depth, traj, intrinsics(30.0, 30.0, 4.0, 3.5))
    assert 3 <= small.support <= 7
    x = latent_for(small, 1, 1, torch.float64, seed=8).requires_grad_()
    assert torch.autograd.gradcheck(small, (x,))
    assert torch.autograd.gradgradcheck(small, (x,))


@pytest.mark.parametrize(("chunk_rows", "chunk_mb"), [(1, 128.0), (7, 128.0), (None, 1e-6)])
def test_chunked_equals_unchunked(scene, chunk_rows, chunk_mb):
    whole = PWBBlur.from_scene(*scene, chunk_rows=H)
    chunked = PWBBlur.from_scene(*scene, chunk_rows=chunk_rows, chunk_mb=chunk_mb)
    assert chunked.rows_per_chunk() == (chunk_rows or 1)
    latent = latent_for(whole, seed=9)
    torch.testing.assert_close(chunked(latent), whole(latent), atol=0, rtol=0)
    blurry = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(10))
    torch.testing.assert_close(chunked.adjoint(blurry), whole.adjoint(blurry), atol=1e-6, rtol=0)


def test_wider_support_only_widens_the_margin(op, scene):
    wide = PWBBlur.from_scene(*scene, support=op.support + 4)
    latent = latent_for(wide, seed=11)
    torch.testing.assert_close(wide(latent), op(latent[..., 2:-2, 2:-2]), atol=0, rtol=0)


def test_describe_and_size(op):
    info = op.describe()
    assert info["model"] == "pwb"
    assert (info["support"], info["n_poses"], info["chunk_rows"]) == (op.support, 12, 3)
    assert info["size_mb"] == pytest.approx(2 * 12 * H * W / 2**20)  # one int16 per tap


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(op):
    latent = latent_for(op, seed=12)
    blurry = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(13))
    gpu = PWBBlur(op.offsets(), chunk_rows=3).to("cuda")
    torch.testing.assert_close(gpu(latent.cuda()).cpu(), op(latent), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        gpu.adjoint(blurry.cuda()).cpu(), op.adjoint(blurry), atol=1e-5, rtol=0
    )
    with pytest.raises(ValueError, match="latent: on cpu"):
        gpu(latent)


def test_peak_memory_720p_stays_under_2gb():
    # The dense reference needs H W S^2 floats (6 GB here); the gather must stay < 2 GB
    # for the whole process, torch import included.
    script = textwrap.dedent(
        """
        import resource
        import numpy as np, torch
        from inrdeblur.blur.pwb import PWBBlur
        from inrdeblur.blur.trajectory import hand_shake
        h, w = 720, 1280
        depth = np.full((h, w), 5.0)
        depth[:, : w // 2] = 2.5
        depth[400:, 300:900] = 1.0
        k = np.array([[1000.0, 0, (w - 1) / 2], [0, 1000.0, (h - 1) / 2], [0, 0, 1]])
        traj = hand_shake(0, n_poses=64, translation_std_m=5e-3, rotation_std_deg=0.1)
        op = PWBBlur.from_scene(depth, traj, k, support=41)
        blurry = op(torch.rand(1, 3, *op.latent_shape))
        assert blurry.shape == (1, 3, h, w)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    peak_kib = int(done.stdout.split()[-1])  # Linux reports KiB
    assert peak_kib * 1024 < 2 * 2**30, f"peak RSS {peak_kib / 2**20:.2f} GiB"


# --- bad input ---------------------------------------------------------------------------


def bad_depth(kind: str) -> np.ndarray:
    depth = np.full((H, W), 2.0)
    if kind == "nan":
        depth[3, 4] = depth[5, 6] = np.nan
    elif kind == "inf":
        depth[0, 0] = np.inf
    elif kind == "zero":
        depth[1, 1] = 0.0
    elif kind == "negative":
        depth[2, 2:5] = -1.0
    return depth


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "nan",
            r"depth: must be finite and > 0 metres; 2 NaN, 0 infinite and 0 <= 0 of 520 pixels",
        ),
        (
            "inf",
            r"depth: must be finite and > 0 metres; 0 NaN, 1 infinite and 0 <= 0 of 520 pixels",
        ),
        ("zero", r"depth: .* and 1 <= 0 of 520 pixels"),
        ("negative", r"depth: .* and 3 <= 0 of 520 pixels"),
    ],
)
def test_bad_depth_values(scene, kind, message):
    _, traj, k = scene
    with pytest.raises(ValueError, match=message):
        PWBBlur.from_scene(bad_depth(kind), traj, k)


def test_depth_must_be_2d(scene):
    _, traj, k = scene
    with pytest.raises(ValueError, match=r"depth: must be a 2-D \(H, W\) map"):
        PWBBlur.from_scene(np.ones((1, H, W)), traj, k)


@pytest.mark.parametrize(
    ("k", "message"),
    [
        (np.eye(2), r"intrinsics: K must be a 3x3 matrix"),
        (intrinsics(np.nan, 50.0, 10.0, 10.0), r"intrinsics: K has non-finite"),
        (intrinsics(50.0, np.inf, 10.0, 10.0), r"intrinsics: K has non-finite"),
        (intrinsics(-50.0, 50.0, 10.0, 10.0), r"intrinsics: focal lengths must be > 0"),
        (intrinsics(50.0, 0.0, 10.0, 10.0), r"intrinsics: focal lengths must be > 0"),
        (np.array([[50.0, 0, 10], [0, 50, 10], [0, 0, 2]]), r"intrinsics: K must be a pinhole"),
    ],
)
def test_bad_intrinsics(scene, k, message):
    depth, traj, _ = scene
    with pytest.raises(ValueError, match=message):
        PWBBlur.from_scene(depth, traj, k)


def test_support_larger_than_the_image():
    traj = make_trajectory(np.array([[-0.2, 0, 0], [0, 0, 0], [0.2, 0, 0]]))
    with pytest.raises(ValueError, match=r"support S = 41 px is larger than the image 20x26"):
        PWBBlur.from_scene(np.ones((H, W)), traj, intrinsics(100.0, 100.0, 12.0, 9.0))
    with pytest.raises(ValueError, match=r"support S = 27 px is larger than the image 20x26"):
        PWBBlur(np.zeros((2, H, W, 2), dtype=np.int8), support=27)


def test_projection_behind_the_camera():
    # t_z = -2 m moves the camera 2 m forward, past a plane 1 m away.
    traj = make_trajectory(np.array([[0, 0, 0], [0, 0, 0], [0, 0, -2.0]]))
    with pytest.raises(ValueError, match=r"520 pixels project behind camera pose 2"):
        PWBBlur.from_scene(np.ones((H, W)), traj, intrinsics(50.0, 50.0, 12.0, 9.0))


def test_bad_operator_arguments(op, scene):
    offsets = pixel_offsets(*scene)
    with pytest.raises(ValueError, match=r"offsets: must be integers"):
        PWBBlur(offsets.astype(np.float32))
    with pytest.raises(ValueError, match=r"offsets: expected \(N, H, W, 2\)"):
        PWBBlur(offsets[..., 0])
    with pytest.raises(ValueError, match=r"support: must be odd and >= "):
        PWBBlur(offsets, support=op.support + 1)
    with pytest.raises(ValueError, match=r"support: must be odd and >= "):
        PWBBlur(offsets, support=op.support - 2)
    with pytest.raises(ValueError, match=r"chunk_rows: must be >= 1"):
        PWBBlur(offsets, chunk_rows=0)
    with pytest.raises(ValueError, match=r"expected a \(B, C, "):
        op(torch.zeros(1, 3, H, W))
    with pytest.raises(ValueError, match=r"latent: must be a floating-point"):
        op(torch.zeros(1, 3, *op.latent_shape, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"expected a \(B, C, 20, 26\) blurry"):
        op.adjoint(torch.zeros(1, 3, *op.latent_shape))
    with pytest.raises(ValueError, match=r"rows: need 0 <= row0 < row1 <= 20"):
        op.per_pixel_kernels(5, 5)
