"""The sparse-prior IRLS baseline (``sparse_irls``) against an independent dense NumPy/SciPy
implementation of the reference algorithm (``deconvSps``: five derivative filters as
SciPy correlations of the reference's filter arrays, every least-squares solve done by a
dense linear solve), and against the majorise-minimise property that makes IRLS decrease
its smoothed objective."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import signal
from support import dense_matrix

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.data.demo import make_scene
from inrdeblur.methods import method_class
from inrdeblur.methods.sparse_irls import (
    FILTERS,
    apply_filter,
    apply_filter_adjoint,
    prior_weight,
    solve_sparse_irls,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the reference's filters (``dxf``, ``dyf``, ``dxxf``, ``dyyf``, ``dxyf``), applied as
#: ``conv2(x, rot180(f), 'valid')``, i.e. a correlation with f, and their prior scales
REFERENCE_FILTERS = [
    (np.array([[1.0, -1.0]]), 1.0),
    (np.array([[1.0], [-1.0]]), 1.0),
    (np.array([[-1.0, 2.0, -1.0]]), 0.25),
    (np.array([[-1.0], [2.0], [-1.0]]), 0.25),
    (np.array([[-1.0, 1.0], [1.0, -1.0]]), 0.25),
]
W0, EPSILON, ALPHA = 0.1, 0.01, 0.8


def dense_filter(f: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``correlate2d(x, f, 'valid')`` as a dense matrix over the raveled (h, w) image."""
    return dense_matrix(lambda unit: signal.correlate2d(unit, f, mode="valid"), shape)


def dense_operator(op: UniformBlur) -> np.ndarray:
    """The operator as a dense matrix, one column per unit latent."""
    h, w = op.latent_shape
    eye = torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)
    with torch.no_grad():
        return op(eye).reshape(h * w, -1).T.numpy()


def dense_deconv_sps(
    a: np.ndarray, y: np.ndarray, shape: tuple[int, int], weight: float, reweightings: int
) -> list[np.ndarray]:
    """The reference algorithm with exact least-squares solves; the latent after each solve."""
    fs = [(dense_filter(f, shape), s) for f, s in REFERENCE_FILTERS]
    b = a.T @ y
    weights = [np.ones(m.shape[0]) for m, _ in fs]
    solutions = []
    for solve in range(reweightings + 1):
        if solve > 0:
            x = solutions[-1]
            weights = [s * W0 * np.maximum(np.abs(m @ x), EPSILON) ** (ALPHA - 2) for m, s in fs]
        matrix = a.T @ a + weight * sum(
            m.T @ (wt[:, None] * m) for (m, _), wt in zip(fs, weights, strict=True)
        )
        solutions.append(np.linalg.solve(matrix, b))
    return solutions


def smoothed_objective(
    a: np.ndarray, y: np.ndarray, x: np.ndarray, shape: tuple[int, int], weight: float
) -> float:
    """The function the reweighted solves majorise-minimise: the residual plus
    ``weight w0 sum_f s_f phi(|F_f x|^2)``, where ``phi' = max(s, eps^2)^(alpha/2 - 1)``:
    ``phi(s) = (2/alpha) s^(alpha/2)`` above eps^2, linear in s below, continuous."""
    total = float(np.sum((a @ x - y) ** 2))
    for f, s in REFERENCE_FILTERS:
        d2 = (dense_filter(f, shape) @ x) ** 2
        e2 = EPSILON**2
        phi = np.where(
            d2 >= e2,
            (2 / ALPHA) * d2 ** (ALPHA / 2),
            (2 / ALPHA) * e2 ** (ALPHA / 2) + e2 ** (ALPHA / 2 - 1) * (d2 - e2),
        )
        total += weight * W0 * s * float(phi.sum())
    return total


@pytest.fixture(scope="module")
def small_problem():
    """A 14 x 15 gray crop of the demo astronaut blurred by a 5 x 5 motion kernel + noise."""
    sharp = make_scene("astronaut", 48).sharp[10:28, 12:31, :1].astype(np.float64)
    kernel = random_motion_kernel(5, 1)
    op = UniformBlur(kernel, (14, 15)).to(dtype=torch.float64)
    latent = torch.from_numpy(sharp.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        y = op(latent)
    y = y + 0.01 * torch.from_numpy(np.random.default_rng(3).standard_normal(tuple(y.shape)))
    return op, y


@pytest.mark.parametrize("index", range(len(FILTERS)))
def test_filters_match_the_reference_arrays_and_their_adjoints(index):
    stencil, scale = FILTERS[index]
    reference, reference_scale = REFERENCE_FILTERS[index]
    assert scale == reference_scale
    x = np.random.default_rng(index).standard_normal((7, 9))
    ours = apply_filter(torch.from_numpy(x), stencil).numpy()
    theirs = signal.correlate2d(x, reference, mode="valid")
    # The sign of a derivative filter does not matter to |F x| or F^T W F.
    sign = 1.0 if np.allclose(ours, theirs) else -1.0
    np.testing.assert_allclose(ours, sign * theirs, atol=1e-12)
    g = np.random.default_rng(10 + index).standard_normal(ours.shape)
    adjoint = apply_filter_adjoint(torch.from_numpy(g), stencil).numpy()
    assert adjoint.shape == x.shape
    assert float(np.sum(ours * g)) == pytest.approx(float(np.sum(x * adjoint)), rel=1e-12)


@pytest.mark.parametrize("reweightings", [0, 2])
def test_solves_match_a_dense_implementation_of_the_reference(small_problem, reweightings):
    op, y = small_problem
    shape = op.latent_shape
    a = dense_operator(op)
    expected = dense_deconv_sps(a, y.numpy().ravel(), shape, 3e-3, reweightings)[-1]
    n = shape[0] * shape[1]
    solution = solve_sparse_irls(y, op, 3e-3, reweightings=reweightings, cg_iterations=3 * n)
    assert solution.solves == reweightings + 1
    assert max(solution.relative_residual) < 1e-9
    np.testing.assert_allclose(solution.latent.numpy().ravel(), expected, atol=1e-7)


def test_reweighted_solves_decrease_the_smoothed_objective(small_problem):
    op, y = small_problem
    shape = op.latent_shape
    a = dense_operator(op)
    y_flat = y.numpy().ravel()
    solutions = dense_deconv_sps(a, y_flat, shape, 3e-3, reweightings=6)
    values = [smoothed_objective(a, y_flat, x, shape, 3e-3) for x in solutions[1:]]
    assert all(later <= earlier + 1e-12 for earlier, later in zip(values, values[1:], strict=False))
    assert values[-1] < values[0]
    # The torch solver follows the same path.
    n = shape[0] * shape[1]
    ours = solve_sparse_irls(y, op, 3e-3, reweightings=6, cg_iterations=3 * n).latent
    assert smoothed_objective(a, y_flat, ours.numpy().ravel(), shape, 3e-3) == pytest.approx(
        values[-1], rel=1e-8
    )


def test_trace_reports_the_hyper_laplacian_objective(small_problem):
    op, y = small_problem
    rows = []
    solution = solve_sparse_irls(
        y, op, 3e-3, cg_iterations=20, callback=lambda x, *terms: rows.append(terms)
    )
    assert len(rows) == solution.iterations == 60
    x = solution.latent.numpy()[0, 0]
    data = float(np.sum((dense_operator(op) @ x.ravel() - y.numpy().ravel()) ** 2))
    reg = sum(
        s * float(np.sum(np.abs(signal.correlate2d(x, f, mode="valid")) ** ALPHA))
        for f, s in REFERENCE_FILTERS
    )
    loss, data_loss, reg_loss = rows[-1]
    assert data_loss == pytest.approx(data, rel=1e-9)
    assert reg_loss == pytest.approx(reg, rel=1e-9)
    assert prior_weight(3e-3, ALPHA) == pytest.approx(2 * W0 * 3e-3 / ALPHA)
    assert loss == pytest.approx(data + prior_weight(3e-3, ALPHA) * reg, rel=1e-12)
    assert all(math.isfinite(value) for row in rows for value in row)


def test_channels_are_independent_systems(small_problem):
    op, y = small_problem
    both = torch.cat([y, 0.5 * y + 0.2], dim=1)
    op2 = UniformBlur(op.kernel.numpy(), op.image_shape).to(dtype=torch.float64)
    joint = solve_sparse_irls(both, op2, 3e-3, cg_iterations=40).latent
    for c in range(2):
        alone = solve_sparse_irls(both[:, c : c + 1], op2, 3e-3, cg_iterations=40).latent
        torch.testing.assert_close(joint[:, c : c + 1], alone, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("recipe", "match"),
    [
        ({}, "weight: required"),
        ({"weight": 1e-3, "exponent": 2.0}, "exponent"),
        ({"weight": 1e-3, "exponent": 0.0}, "exponent"),
        ({"weight": 1e-3, "reweightings": -1}, "reweightings"),
        ({"weight": 1e-3, "reweightings": True}, "reweightings"),
        ({"weight": 1e-3, "cg_iterations": 0}, "cg_iterations"),
        ({"weight": 1e-3, "epsilon": 0}, "epsilon"),
    ],
)
def test_bad_recipes_are_rejected(recipe, match):
    with pytest.raises(ValueError, match=match):
        method_class("sparse_irls")(recipe)


def test_zero_reweightings_is_the_gaussian_prior():
    method = method_class("sparse_irls")({"weight": 1e-3, "reweightings": 0, "cg_iterations": 5})
    assert method.reweightings == 0 and method.iterations == 5
