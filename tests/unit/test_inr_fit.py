"""SIREN, the coordinate TV, the non-blind fit, its tiling and its mixed precision."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from blur_operators import OPERATOR_NAMES, make_operator
from scipy import ndimage

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.inr import Siren, build_inr
from inrdeblur.methods.inr import fit as inr_fit
from inrdeblur.methods.inr.fit import (
    TiledOperator,
    coordinate_grid,
    fit_nonblind,
    model_size_mb,
    split_tiles,
)
from inrdeblur.methods.inr.regularisers import coordinate_tv

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


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


@pytest.mark.parametrize("tile", [0, 16])
def test_same_seed_gives_the_same_estimate(tiny_problem, tile):
    sharp, blurry, kernel = tiny_problem
    recipe = copy.deepcopy(RECIPE)
    recipe["fit"].update(iterations=20, tile=tile)
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


# -- tiling -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, tile, grid",
    [((48, 64), 16, (3, 4)), ((50, 37), 16, (4, 3)), ((7, 5), 3, (3, 2)), ((20, 20), 0, (1, 1))],
)
def test_split_tiles_cover_the_image_once_in_row_major_order(shape, tile, grid):
    tiles = split_tiles(shape, tile)
    assert len(tiles) == grid[0] * grid[1]  # ceil(H / tile) x ceil(W / tile)
    cover = np.zeros(shape, dtype=int)
    for t in tiles:
        cover[t.row0 : t.row1, t.col0 : t.col1] += 1
    assert np.all(cover == 1)
    assert tiles == sorted(tiles, key=lambda t: (t.row0, t.col0))
    heights = {t.shape[0] for t in tiles}
    widths = {t.shape[1] for t in tiles}
    assert max(heights) - min(heights) <= 1 and max(widths) - min(widths) <= 1
    if tile:
        assert max(heights | widths) <= tile


def test_split_tiles_are_exact_where_the_tile_divides_the_image():
    assert {t.shape for t in split_tiles((48, 64), 16)} == {(16, 16)}
    assert split_tiles((48, 64), 64) == split_tiles((48, 64), 0)


@pytest.mark.parametrize("name", OPERATOR_NAMES)
@pytest.mark.parametrize("tile", [4, 13, 17, 0])
def test_tiled_operator_equals_the_full_operator_cropped(name, tile):
    op = make_operator(name).double()
    latent = torch.rand((2, 3, *op.latent_shape), dtype=torch.float64)
    full = op(latent)
    tiled = TiledOperator(op)
    for t in split_tiles(op.image_shape, tile):
        rows, cols = t.latent_window(op.margin)
        expected = full[..., t.row0 : t.row1, t.col0 : t.col1]
        torch.testing.assert_close(tiled(t, latent[..., rows, cols]), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["icb", "pwb"])
def test_icb_and_pwb_tiles_get_an_operator_of_their_own(name):
    op = make_operator(name)
    assert op.support <= 13  # the 13 px tiles below are large enough for one
    tiled = TiledOperator(op)
    for t in split_tiles(op.image_shape, 17):
        window = tiled.window_operator(t)
        assert isinstance(window, type(op)) and window.image_shape == t.shape


@pytest.fixture(scope="module")
def wide_problem():
    """A 48 x 64 colour image blurred with a 7 x 7 motion kernel (replicate boundary) + noise."""
    from skimage import data, transform

    sharp = transform.resize(data.astronaut()[20:220, 100:367], (48, 64), anti_aliasing=True)
    sharp = sharp.astype(np.float32)
    kernel = random_motion_kernel(7, 3)
    blurry = np.stack(
        [ndimage.convolve(sharp[..., c], kernel, mode="nearest") for c in range(3)], axis=-1
    )
    blurry = blurry + 0.005 * np.random.default_rng(1).standard_normal(blurry.shape)
    return sharp, blurry.astype(np.float32), kernel


def test_a_tile_as_large_as_the_image_is_the_untiled_fit(tiny_problem):
    sharp, blurry, kernel = tiny_problem
    results = []
    for tile in (0, 32, 100):
        recipe = copy.deepcopy(RECIPE)
        recipe["fit"].update(iterations=20, tile=tile)
        op = UniformBlur(kernel, blurry.shape[:2])
        results.append(fit_nonblind(blurry, op, recipe, seed=2, sharp=sharp, progress=False))
    for other in results[1:]:
        np.testing.assert_array_equal(other.estimate, results[0].estimate)
        for a, b in zip(other.trace, results[0].trace, strict=True):
            assert {k: v for k, v in a.items() if k != "seconds"} == {
                k: v for k, v in b.items() if k != "seconds"
            }
        assert other.extra["tiles"] == 1


def test_tiled_fit_converges_with_a_bounded_number_of_inr_points(wide_problem, monkeypatch):
    sharp, blurry, kernel = wide_problem
    points: list[int] = []
    build = inr_fit.build_inr

    def counting_build(*args, **kwargs):
        model = build(*args, **kwargs)
        model.register_forward_pre_hook(lambda module, inputs: points.append(len(inputs[0])))
        return model

    monkeypatch.setattr(inr_fit, "build_inr", counting_build)
    tile, support, n_tiles, epochs = 16, 7, 12, 100
    recipe = copy.deepcopy(RECIPE)
    # One step sees 1/12 of the image: more, smaller steps than the whole-image fit.
    recipe["fit"].update(iterations=n_tiles * epochs, tile=tile, lr=1e-3)
    op = UniformBlur(kernel, blurry.shape[:2])
    result = fit_nonblind(blurry, op, recipe, seed=0, sharp=sharp, progress=False)

    assert len(points) == n_tiles * epochs + n_tiles  # one INR call per step and per render
    assert max(points) <= (tile + support - 1) ** 2
    assert max(points[-n_tiles:]) <= tile**2  # the render needs no margin
    assert result.extra["points_per_step"] == (tile + support - 1) ** 2
    losses = [row["loss"] for row in result.trace]
    assert np.mean(losses[-n_tiles:]) < 0.2 * np.mean(losses[:n_tiles])
    assert psnr(result.estimate, sharp) > psnr(blurry, sharp) + 1.0
    # The trace's PSNR is that of the tiles as last fitted, not of the final render, but
    # at the end of the cosine schedule the two agree closely.
    assert all(math.isnan(row["psnr"]) for row in result.trace[: n_tiles - 1])
    assert result.trace[-1]["psnr"] == pytest.approx(psnr(result.estimate, sharp), abs=0.1)


# -- mixed precision ----------------------------------------------------------------------


def test_amp_is_off_on_the_cpu(tiny_problem):
    sharp, blurry, kernel = tiny_problem
    results = []
    for amp in (True, False):
        recipe = copy.deepcopy(RECIPE)
        recipe["fit"].update(iterations=10, amp=amp)
        op = UniformBlur(kernel, blurry.shape[:2])
        results.append(fit_nonblind(blurry, op, recipe, seed=1, sharp=sharp, progress=False))
    assert not results[0].extra["amp"]
    np.testing.assert_array_equal(results[0].estimate, results[1].estimate)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mixed precision needs CUDA")
@pytest.mark.parametrize("tile", [0, 16])
def test_amp_on_cuda_runs_the_inr_in_half_precision(tiny_problem, monkeypatch, tile):
    sharp, blurry, kernel = tiny_problem
    dtypes: list[torch.dtype] = []
    build = inr_fit.build_inr

    def recording_build(*args, **kwargs):
        model = build(*args, **kwargs)
        model.register_forward_hook(lambda module, inputs, out: dtypes.append(out.dtype))
        return model

    monkeypatch.setattr(inr_fit, "build_inr", recording_build)
    results = {}
    for amp in (True, False):
        recipe = copy.deepcopy(RECIPE)
        recipe["fit"].update(device="cuda", amp=amp, tile=tile, iterations=300)
        op = UniformBlur(kernel, blurry.shape[:2])
        results[amp] = fit_nonblind(blurry, op, recipe, seed=0, sharp=sharp, progress=False)
    n_render = len(split_tiles(blurry.shape[:2], tile))
    steps = dtypes[:300]  # the amp run comes first
    assert results[True].extra["amp"] and not results[False].extra["amp"]
    assert set(steps) == {torch.float16}
    assert set(dtypes[300 : 300 + n_render]) == {torch.float32}  # its render is float32
    assert results[True].estimate.dtype == np.float32
    assert np.all(np.isfinite(results[True].estimate))
    assert psnr(results[True].estimate, sharp) > psnr(blurry, sharp) + 1.0
    assert psnr(results[True].estimate, sharp) == pytest.approx(
        psnr(results[False].estimate, sharp), abs=1.0
    )
