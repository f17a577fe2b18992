"""SIREN, the coordinate TV and the non-blind fit."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.fit.nonblind import coordinate_grid, fit_nonblind, model_size_mb
from inrdeblur.fit.regularisers import coordinate_tv
from inrdeblur.inr import Siren, build_inr

RECIPE = {
    "inr": {
        "type": "siren",
        "hidden_features": 32,
        "hidden_layers": 2,
        "first_omega0": 30.0,
        "omega0": 30.0,
    },
    "regulariser": {"type": "tv", "weight": 1e-3},
    "fit": {"iterations": 150, "lr": 2e-3, "lr_min": 1e-5, "grad_clip": 1.0, "device": "cpu"},
}


def test_siren_initialisation_bounds_and_shapes():
    torch.manual_seed(0)
    net = Siren(hidden_features=64, hidden_layers=2, first_omega0=30.0, omega0=30.0)
    first = net.body[0].linear.weight
    hidden = net.body[1].linear.weight
    assert first.abs().max() <= 1 / 2  # U(-1/in, 1/in) with in = 2
    assert hidden.abs().max() <= math.sqrt(6 / 64) / 30
    assert hidden.abs().max() > 0.9 * math.sqrt(6 / 64) / 30  # the full range is used
    out = net(torch.rand(10, 2) * 2 - 1)
    assert out.shape == (10, 3)


def test_siren_rejects_bad_sizes():
    with pytest.raises(ValueError, match="hidden_features"):
        Siren(hidden_features=0)
    with pytest.raises(ValueError, match="unknown INR"):
        build_inr({"type": "wire"})


def test_model_size_counts_parameter_bytes():
    net = Siren(hidden_features=16, hidden_layers=1)
    n = (2 * 16 + 16) + (16 * 16 + 16) + (16 * 3 + 3)
    assert model_size_mb(net) == pytest.approx(n * 4 / 2**20)


def test_coordinate_tv_of_a_linear_field_is_its_slope_per_pixel():
    # f_c(x, y) = a_c x + b_c y: gradient of the channel sum is (sum a, sum b) everywhere.
    layer = torch.nn.Linear(2, 3, bias=True)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.2, -0.1], [0.3, 0.4], [-0.1, 0.2]]))
    coords = coordinate_grid(9, 11, torch.device("cpu")).requires_grad_(True)
    pitch = (2 / 10, 2 / 8)
    tv = coordinate_tv(layer(coords), coords, pitch)
    assert tv.item() == pytest.approx(abs(0.4) * 2 / 10 + abs(0.5) * 2 / 8)


def test_coordinate_grid_spans_minus_one_to_one_row_major():
    grid = coordinate_grid(3, 4, torch.device("cpu")).reshape(3, 4, 2)
    assert grid[0, 0].tolist() == [-1.0, -1.0]
    assert grid[0, 3].tolist() == [1.0, -1.0]  # x grows along a row
    assert grid[2, 0].tolist() == [-1.0, 1.0]


@pytest.fixture(scope="module")
def tiny_problem():
    """A 32x32 colour image blurred with a 7x7 motion kernel (replicate boundary) + noise."""
    from skimage import data, transform

    sharp = transform.resize(data.astronaut()[30:230, 150:350], (32, 32), anti_aliasing=True)
    sharp = sharp.astype(np.float32)
    kernel = random_motion_kernel(7, 11)
    blurry = np.stack(
        [ndimage.convolve(sharp[..., c], kernel, mode="nearest") for c in range(3)], axis=-1
    )
    blurry = blurry + 0.005 * np.random.default_rng(0).standard_normal(blurry.shape)
    return sharp, blurry.astype(np.float32), kernel


def psnr(a, b) -> float:
    return -10 * math.log10(float(np.mean((np.clip(a, 0, 1) - b) ** 2)))


def test_tiny_fit_lowers_the_loss_and_beats_the_blurry_input(tiny_problem):
    sharp, blurry, kernel = tiny_problem
    torch.set_num_threads(2)
    result = fit_nonblind(
        blurry, UniformBlur(kernel, blurry.shape[:2]), RECIPE, seed=0, sharp=sharp, progress=False
    )
    assert result.estimate.shape == sharp.shape
    assert result.trace[-1]["loss"] < 0.2 * result.trace[0]["loss"]
    # The trace PSNR is what an independent computation gives for the final estimate.
    assert result.trace[-1]["psnr"] == pytest.approx(psnr(result.estimate, sharp), abs=0.05)
    assert psnr(result.estimate, sharp) > psnr(blurry, sharp) + 1.0
    assert [row["iteration"] for row in result.trace] == list(range(1, 151))
    assert result.trace[-1]["lr"] < result.trace[0]["lr"]  # cosine schedule


def test_same_seed_gives_the_same_estimate(tiny_problem):
    sharp, blurry, kernel = tiny_problem
    recipe = copy.deepcopy(RECIPE)
    recipe["fit"]["iterations"] = 20
    a = fit_nonblind(
        blurry, UniformBlur(kernel, blurry.shape[:2]), recipe, seed=5, sharp=sharp, progress=False
    )
    b = fit_nonblind(
        blurry, UniformBlur(kernel, blurry.shape[:2]), recipe, seed=5, sharp=sharp, progress=False
    )
    c = fit_nonblind(
        blurry, UniformBlur(kernel, blurry.shape[:2]), recipe, seed=6, sharp=sharp, progress=False
    )
    np.testing.assert_array_equal(a.estimate, b.estimate)
    assert a.trace[-1]["psnr"] == b.trace[-1]["psnr"]
    assert not np.array_equal(a.estimate, c.estimate)


def test_cuda_request_without_gpu_is_a_clear_error(tiny_problem):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present; the error path cannot be reached")
    sharp, blurry, kernel = tiny_problem
    recipe = copy.deepcopy(RECIPE)
    recipe["fit"]["device"] = "cuda"
    with pytest.raises(RuntimeError, match="no CUDA device"):
        fit_nonblind(blurry, UniformBlur(kernel, blurry.shape[:2]), recipe, seed=0, progress=False)
