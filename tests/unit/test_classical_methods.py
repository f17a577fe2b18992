"""The classical baselines (tikhonov_cg, tv_primal_dual, richardson_lucy; sparse_irls has its
own file, test_sparse_irls.py) against closed
forms and independent NumPy/SciPy implementations: the normal equations solved densely, a
duality-gap certificate, an exact-recovery limit, a NumPy Richardson-Lucy; and each method
through the registry on uniform, ICB and PWB blurs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import signal
from support import dense_matrix

from inrdeblur.blur.icb import ICBBlur
from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.pwb import PWBBlur
from inrdeblur.blur.trajectory import hand_shake
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.data.demo import make_scene
from inrdeblur.methods import Problem, classical, method_class
from inrdeblur.methods.base import TRACE_COLUMNS
from inrdeblur.methods.classical import gradient, gradient_adjoint
from inrdeblur.methods.richardson_lucy import solve_richardson_lucy
from inrdeblur.methods.tikhonov_cg import solve_tikhonov_cg
from inrdeblur.methods.tv_primal_dual import (
    operator_norm,
    solve_tv_primal_dual,
    total_variation,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CENTRE_KERNEL = np.array([[0.0, 0.05, 0.0], [0.05, 0.8, 0.05], [0.0, 0.05, 0.0]])


# -- independent NumPy references -------------------------------------------------------


def dense_blur(kernel: np.ndarray, latent_shape: tuple[int, int]) -> np.ndarray:
    """The 'valid' convolution as a dense matrix, column j = scipy's convolution of the
    j-th unit latent: (H W, h w)."""
    return dense_matrix(lambda unit: signal.convolve2d(unit, kernel, mode="valid"), latent_shape)


def dense_differences(shape: tuple[int, int]) -> np.ndarray:
    """Every neighbour difference of an (h, w) image, one row each: ((h-1) w + h (w-1), h w)."""
    h, w = shape
    index = np.arange(h * w).reshape(h, w)
    rows = []
    for a, b in [(index[:-1, :], index[1:, :]), (index[:, :-1], index[:, 1:])]:
        for i, j in zip(a.ravel(), b.ravel(), strict=True):
            row = np.zeros(h * w)
            row[i], row[j] = -1.0, 1.0
            rows.append(row)
    return np.stack(rows)


def tv_numpy(x: np.ndarray) -> float:
    """Isotropic TV of (h, w), forward differences, 0 difference on the last row/column."""
    dr = np.zeros_like(x)
    dc = np.zeros_like(x)
    dr[:-1] = np.diff(x, axis=0)
    dc[:, :-1] = np.diff(x, axis=1)
    return float(np.sqrt(dr**2 + dc**2).sum())


def to_torch(image: np.ndarray) -> torch.Tensor:
    """(C, H, W) or (H, W) numpy -> (1, C, H, W) float64."""
    image = image if image.ndim == 3 else image[None]
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float64))[None]


def psnr(estimate: np.ndarray, sharp: np.ndarray) -> float:
    return -10.0 * math.log10(float(np.mean((np.clip(estimate, 0, 1) - sharp) ** 2)))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return make_scene("astronaut", 48).sharp.astype(np.float64)


# -- finite differences ---------------------------------------------------------------


def test_gradient_is_the_neighbour_differences_and_adjoint_is_its_transpose():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 9))
    g = gradient(torch.from_numpy(x)).numpy()
    # The non-trivial entries are exactly the dense difference rows of the reference.
    entries = np.concatenate([g[0, :-1, :].ravel(), g[1, :, :-1].ravel()])
    np.testing.assert_allclose(entries, dense_differences(x.shape) @ x.ravel(), atol=1e-14)
    assert np.all(g[0, -1, :] == 0) and np.all(g[1, :, -1] == 0)
    other = rng.standard_normal((2, 7, 9))
    lhs = float(np.sum(g * other))
    rhs = float(np.sum(x * gradient_adjoint(torch.from_numpy(other)).numpy()))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_classical_is_not_a_method_type():
    assert not hasattr(classical, "METHOD")
    with pytest.raises(ValueError, match="no METHOD"):
        method_class("classical")


# -- tikhonov_cg ----------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_cg_solves_the_normal_equations(channels):
    latent_shape, weight = (20, 17), 0.02
    kernel = random_motion_kernel(5, 4).astype(np.float64)
    op = UniformBlur(kernel, (16, 13)).double()
    rng = np.random.default_rng(channels)
    y = rng.uniform(0.0, 1.0, (channels, 16, 13))
    a = dense_blur(kernel, latent_shape)
    d = dense_differences(latent_shape)
    normal = a.T @ a + weight * d.T @ d
    rows = []
    solution = solve_tikhonov_cg(
        to_torch(y),
        op,
        weight,
        max_iterations=2000,
        tolerance=1e-12,
        callback=lambda x, loss, data, reg: rows.append((loss, data, reg)),
    )
    assert solution.converged and solution.iterations == len(rows) < 2000
    assert max(solution.relative_residual) < 1e-11
    for c in range(channels):
        expected = np.linalg.solve(normal, a.T @ y[c].ravel())
        got = solution.latent[0, c].numpy().ravel()
        assert np.linalg.norm(got - expected) <= 1e-6 * np.linalg.norm(expected)
    # The traced objective is that of the returned latent.
    x = solution.latent[0].numpy().reshape(channels, -1)
    data = sum(float(np.sum((a @ x[c] - y[c].ravel()) ** 2)) for c in range(channels))
    reg = sum(float(np.sum((d @ x[c]) ** 2)) for c in range(channels))
    assert rows[-1][1] == pytest.approx(data, rel=1e-9)
    assert rows[-1][2] == pytest.approx(reg, rel=1e-9)
    assert rows[-1][0] == pytest.approx(data + weight * reg, rel=1e-9)
    # CG decreases the quadratic objective (the M-norm error) at every iteration.
    losses = np.array([r[0] for r in rows])
    assert np.all(np.diff(losses) <= 1e-12 * losses[0])


def test_cg_iterates_are_the_krylov_optima_from_the_replicate_start():
    # CG's k-th iterate minimises the objective over x0 + span{r0, M r0, ..., M^(k-1) r0},
    # x0 the edge-padded observation: computed here by a dense projected solve.
    latent_shape, weight = (15, 14), 0.05
    kernel = random_motion_kernel(5, 9).astype(np.float64)
    op = UniformBlur(kernel, (11, 10)).double()
    y = np.random.default_rng(7).uniform(0.0, 1.0, (11, 10))
    a = dense_blur(kernel, latent_shape)
    d = dense_differences(latent_shape)
    normal, rhs = a.T @ a + weight * d.T @ d, a.T @ y.ravel()
    iterates = []
    solve_tikhonov_cg(
        to_torch(y),
        op,
        weight,
        max_iterations=6,
        tolerance=1e-14,
        callback=lambda x, *_: iterates.append(x[0, 0].numpy().ravel().copy()),
    )
    x0 = np.pad(y, 2, mode="edge").ravel()
    r0 = rhs - normal @ x0
    basis = [r0]
    for got in iterates:
        q, _ = np.linalg.qr(np.stack(basis, axis=1))
        coef = np.linalg.solve(q.T @ normal @ q, q.T @ r0)
        expected = x0 + q @ coef
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * np.abs(expected).max())
        basis.append(normal @ basis[-1])
    assert len(iterates) == 6


def test_cg_stops_at_the_tolerance_or_the_iteration_limit():
    op = UniformBlur(random_motion_kernel(5, 1), (18, 18)).double()
    y = to_torch(np.random.default_rng(2).uniform(0, 1, (3, 18, 18)))
    loose = solve_tikhonov_cg(y, op, 0.01, tolerance=1e-3)
    tight = solve_tikhonov_cg(y, op, 0.01, tolerance=1e-9)
    assert loose.converged and 1 <= loose.iterations < tight.iterations
    assert max(loose.relative_residual) <= 1e-3 * (1 + 1e-6)
    capped = solve_tikhonov_cg(y, op, 0.01, tolerance=1e-9, max_iterations=3)
    assert capped.iterations == 3 and not capped.converged
    assert max(capped.relative_residual) > 1e-9


# -- tv_primal_dual -------------------------------------------------------------------


def test_tv_operator_norm_estimate_is_a_tight_lower_bound():
    latent_shape = (16, 14)
    kernel = random_motion_kernel(5, 6).astype(np.float64)
    op = UniformBlur(kernel, (12, 10)).double()
    k_dense = np.vstack([dense_blur(kernel, latent_shape), dense_differences(latent_shape)])
    true_norm = np.linalg.norm(k_dense, 2)
    estimate = operator_norm(op)
    # The steps 0.99 / estimate satisfy tau sigma ||K||^2 < 1 (Chambolle-Pock's condition).
    assert 0.995 * true_norm < estimate <= true_norm * (1 + 1e-12)
    assert true_norm**2 <= np.linalg.norm(dense_blur(kernel, latent_shape), 2) ** 2 + 8


def test_tv_recovers_a_piecewise_constant_image_as_the_weight_vanishes():
    # Noise-free data of a well-conditioned kernel, weight 1e-8: the limit is the exact
    # latent (constant near the border, so the margin the data do not fix is that too).
    h, w = 26, 30
    latent = np.full((h, w), 0.3)
    latent[6:15, 5:20] = 0.8
    rows, cols = np.mgrid[:h, :w]
    latent[(rows - 17) ** 2 + (cols - 21) ** 2 < 25] = 0.1
    op = UniformBlur(CENTRE_KERNEL, (h - 2, w - 2)).double()
    y = signal.convolve2d(latent, CENTRE_KERNEL, mode="valid")
    solution = solve_tv_primal_dual(to_torch(y), op, 1e-8, iterations=300)
    x = solution.latent[0, 0].numpy()
    assert np.abs(x[1:-1, 1:-1] - latent[1:-1, 1:-1]).max() < 1e-4
    assert np.abs(x - latent).max() < 1e-3


def test_tv_duality_gap_closes_on_a_noisy_problem(astronaut):
    # Weak duality: P(x) >= P(x*) >= D(p, q) for any dual-feasible (p, q), whatever
    # produced them; so a small gap, computed here with dense NumPy matrices, certifies
    # that the returned x is near the optimum.
    latent_shape, weight = (24, 22), 0.02
    kernel = random_motion_kernel(5, 3).astype(np.float64)
    a = dense_blur(kernel, latent_shape)
    latent = astronaut[:24, :22, 1]
    rng = np.random.default_rng(0)
    y = a @ latent.ravel() + 0.02 * rng.standard_normal(a.shape[0])
    op = UniformBlur(kernel, (20, 18)).double()
    rows = []
    solution = solve_tv_primal_dual(
        to_torch(y.reshape(20, 18)),
        op,
        weight,
        iterations=500,
        callback=lambda x, loss, data, reg: rows.append(loss),
    )
    x = solution.latent[0, 0].numpy()
    assert x.min() >= 0 and x.max() <= 1
    primal = 0.5 * np.sum((a @ x.ravel() - y) ** 2) + weight * tv_numpy(x)
    assert rows[-1] == pytest.approx(primal, rel=1e-10)
    assert total_variation(torch.from_numpy(x)).item() == pytest.approx(tv_numpy(x), rel=1e-12)
    p = solution.dual_data[0, 0].numpy().ravel()
    q = solution.dual_gradient[0, 0].numpy()
    assert np.sqrt((q**2).sum(axis=0)).max() <= weight * (1 + 1e-12)
    q_r, q_c = q[0, :-1, :].ravel(), q[1, :, :-1].ravel()
    kt_dual = a.T @ p + dense_differences(latent_shape).T @ np.concatenate([q_r, q_c])
    # D(p, q) = -F*(p, q) - G*(-K^T (p, q)), F1*(p) = |p|^2 / 2 + <p, y>, G* of [0, 1]^n.
    dual = -0.5 * p @ p - p @ y - np.maximum(-kt_dual, 0.0).sum()
    assert primal >= dual
    assert primal - dual < 1e-3 * primal
    assert len(rows) == solution.iterations == 500
    assert solution.tau == solution.sigma == pytest.approx(0.99 / solution.operator_norm)


def test_tv_box_constrains_the_estimate():
    kernel = random_motion_kernel(5, 2)
    op = UniformBlur(kernel, (16, 16)).double()
    y = to_torch(np.random.default_rng(5).uniform(-0.3, 1.3, (1, 16, 16)))
    boxed = solve_tv_primal_dual(y, op, 0.01, iterations=100).latent
    free = solve_tv_primal_dual(y, op, 0.01, iterations=100, box=False).latent
    assert boxed.min() >= 0 and boxed.max() <= 1
    assert free.min() < -0.05 and free.max() > 1.05


# -- richardson_lucy ------------------------------------------------------------------


def rl_numpy(y: np.ndarray, kernel: np.ndarray, iterations: int, epsilon: float) -> list:
    """Richardson-Lucy on one (H, W) channel with SciPy's direct convolutions: A x =
    convolve(x, k, 'valid'), A^T y = correlate(y, k, 'full'). Returns the iterates."""
    y = np.maximum(y, epsilon)
    read = signal.correlate(np.ones_like(y), kernel, mode="full", method="direct")
    seen = read > 1e-12 * read.max()
    x = np.full(read.shape, y.mean())
    iterates = []
    for _ in range(iterations):
        ax = np.maximum(signal.convolve(x, kernel, mode="valid", method="direct"), epsilon)
        ratio = signal.correlate(y / ax, kernel, mode="full", method="direct")
        x = np.where(seen, x * ratio / np.where(seen, read, 1.0), x)
        iterates.append(x)
    return iterates


def test_rl_matches_a_numpy_implementation(astronaut):
    kernel = random_motion_kernel(7, 5).astype(np.float64)  # asymmetric: orientation matters
    y = np.stack([signal.convolve2d(astronaut[:30, :26, c], kernel, "valid") for c in range(3)])
    y += 0.01 * np.random.default_rng(3).standard_normal(y.shape)  # some y < epsilon
    op = UniformBlur(kernel, y.shape[1:]).double()
    rows = []
    solution = solve_richardson_lucy(
        to_torch(y), op, iterations=5, epsilon=1e-4, callback=lambda *r: rows.append(r)
    )
    for c in range(3):
        expected = rl_numpy(y[c], kernel, 5, 1e-4)[-1]
        np.testing.assert_allclose(solution.latent[0, c].numpy(), expected, rtol=1e-10, atol=0)
    # Trace: the Poisson NLL per observed value at the final iterate.
    yc = np.maximum(y, 1e-4)
    ax = np.stack(
        [
            np.maximum(signal.convolve(solution.latent[0, c].numpy(), kernel, "valid"), 1e-4)
            for c in range(3)
        ]
    )
    nll = float(np.sum(ax - yc * np.log(ax)) / y.size)
    assert rows[-1][1] == pytest.approx(nll, rel=1e-10) and rows[-1][1] == rows[-1][2]
    assert math.isnan(rows[-1][3])


def test_rl_stays_positive_and_does_not_increase_the_nll(astronaut):
    kernel = random_motion_kernel(7, 8)
    clean = np.stack([signal.convolve2d(astronaut[:40, :36, c], kernel, "valid") for c in range(3)])
    op = UniformBlur(kernel, clean.shape[1:]).double()
    nll = []
    solve_richardson_lucy(
        to_torch(clean), op, iterations=60, callback=lambda x, v, *_: nll.append(v)
    )
    assert np.all(np.diff(nll) <= 1e-12 * abs(nll[0]))
    assert nll[-1] < nll[0]
    noisy = clean + 0.05 * np.random.default_rng(1).standard_normal(clean.shape)
    assert noisy.min() < 0
    x = solve_richardson_lucy(to_torch(noisy), op, iterations=20).latent
    assert x.min() >= 0


# -- through the registry -------------------------------------------------------------

RECIPES = {
    "tikhonov_cg": {"weight": 0.01},
    "tv_primal_dual": {"weight": 0.002, "iterations": 200},
    "richardson_lucy": {"iterations": 30},
    "sparse_irls": {"weight": 3e-3, "cg_iterations": 50},
}


def blurred_problem(sharp: np.ndarray, op, noise: float, seed: int) -> Problem:
    """Blur ``sharp`` (H, W, C) with ``op`` (replicate border, as the benchmark synthesises)
    and add Gaussian noise of std ``noise``."""
    x = torch.from_numpy(np.ascontiguousarray(sharp.transpose(2, 0, 1), dtype=np.float32))[None]
    with torch.no_grad():
        blurred = op.blur(x, "replicate")[0].permute(1, 2, 0).numpy()
    blurry = blurred + noise * np.random.default_rng(seed).standard_normal(blurred.shape)
    return Problem(blurry.astype(np.float32), op, sharp=sharp.astype(np.float32))


@pytest.mark.parametrize("type_name", sorted(RECIPES))
def test_method_through_the_registry_beats_the_blurry_input(astronaut, type_name):
    cls = method_class(type_name)
    assert cls.type == type_name and not cls.blind
    op = UniformBlur(random_motion_kernel(7, 2), (48, 48))
    problem = blurred_problem(astronaut, op, 0.005, seed=1)
    rows = []
    method = cls({**RECIPES[type_name], "device": "cpu", "type": type_name})
    result = method.run(problem, seed=0, progress=False, on_iteration=rows.append)
    assert result.estimate.shape == (48, 48, 3) and result.estimate.dtype == np.float32
    assert rows == result.trace and len(rows) == result.extra["iterations_run"] >= 1
    assert [row["iteration"] for row in rows] == list(range(1, len(rows) + 1))
    assert all(tuple(row) == TRACE_COLUMNS for row in rows)
    assert all(math.isnan(row["lr"]) for row in rows)
    assert result.trace[-1]["psnr"] == pytest.approx(psnr(result.estimate, problem.sharp), abs=1e-3)
    assert psnr(result.estimate, problem.sharp) > psnr(problem.blurry, problem.sharp) + 3.0
    assert result.size_mb == 0.0 and result.device == "cpu" and result.kernel is None
    assert result.n_parameters == 3 * 54 * 54
    # The caller's operator is left in float32; the seed changes nothing.
    assert op.kernel.dtype == torch.float32
    again = method.run(problem, seed=7, progress=False)
    np.testing.assert_array_equal(again.estimate, result.estimate)


def icb_operator() -> ICBBlur:
    """The scene of tests/unit/test_blur_icb.py: a depth ramp with a near box, 26 x 34 px."""
    h, w = 26, 34
    depth = np.tile(np.linspace(4.0, 1.5, w), (h, 1))
    depth[h // 3 : 2 * h // 3, w // 4 : w // 2] = 1.2
    trajectory = hand_shake(3, n_poses=24, translation_std_m=5e-3, rotation_std_deg=0.2)
    return ICBBlur.from_scene(depth, trajectory, (300.0, 280.0), tile=9)


def pwb_operator() -> PWBBlur:
    """The scene of tests/unit/test_blur_pwb.py: two planes and a slanted patch, 20 x 26 px."""
    h, w = 20, 26
    depth = np.full((h, w), 3.0)
    depth[:, : w // 2] = 1.0
    depth[12:, 5:20] = np.linspace(1.5, 2.5, 15)[None, :]
    trajectory = hand_shake(3, n_poses=12, translation_std_m=0.015, rotation_std_deg=0.5)
    intrinsics = np.array([[60.0, 0.0, 12.3], [0.0, 55.0, 9.6], [0.0, 0.0, 1.0]])
    return PWBBlur.from_scene(depth, trajectory, intrinsics, chunk_rows=3)


@pytest.mark.parametrize("model", ["icb", "pwb"])
@pytest.mark.parametrize("type_name", sorted(RECIPES))
def test_methods_work_with_spatially_varying_operators(astronaut, model, type_name):
    op = icb_operator() if model == "icb" else pwb_operator()
    h, w = op.image_shape
    assert min(op.margin) >= 2  # a real blur
    channels = 3 if model == "icb" else 1  # gray images too
    sharp = astronaut[10 : 10 + h, 8 : 8 + w, :channels]
    problem = blurred_problem(sharp, op, 0.005, seed=2)
    result = method_class(type_name)({**RECIPES[type_name], "device": "cpu"}).run(
        problem, seed=0, progress=False
    )
    assert result.estimate.shape == (h, w, channels) and result.estimate.dtype == np.float32
    assert result.n_parameters == channels * op.latent_shape[0] * op.latent_shape[1]
    assert psnr(result.estimate, problem.sharp) > psnr(problem.blurry, problem.sharp) + 3.0


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "recipe", "match"),
    [
        ("tikhonov_cg", {}, "weight: required"),
        ("tikhonov_cg", {"weight": 0}, "weight"),
        ("tikhonov_cg", {"weight": 1.0, "max_iterations": 0}, "max_iterations"),
        ("tikhonov_cg", {"weight": 1.0, "tolerance": -1e-3}, "tolerance"),
        ("tv_primal_dual", {"weight": -1.0}, "weight"),
        ("tv_primal_dual", {"weight": 1.0, "iterations": 2.5}, "iterations"),
        ("tv_primal_dual", {"weight": 1.0, "box": "yes"}, "box"),
        ("richardson_lucy", {"epsilon": 0.0}, "epsilon"),
        ("richardson_lucy", {"iterations": True}, "iterations"),
        ("richardson_lucy", {"device": "gpu"}, "device"),
    ],
)
def test_bad_recipes_are_rejected(type_name, recipe, match):
    with pytest.raises(ValueError, match=match):
        method_class(type_name)(recipe)


@pytest.mark.parametrize("type_name", sorted(RECIPES))
def test_a_problem_without_operator_is_rejected(type_name):
    problem = Problem(np.zeros((8, 8, 1), np.float32), None, description="img")
    with pytest.raises(ValueError, match="img: .* needs the blur operator"):
        method_class(type_name)(RECIPES[type_name]).run(problem, 0, progress=False)
