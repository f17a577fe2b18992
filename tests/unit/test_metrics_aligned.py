"""Tests for inrdeblur.metrics.aligned (the ``comp_upto_shift`` evaluation protocol).

Expected numbers come from constructions with a known answer (images moved by a known
amount, constant offsets for the error ratio), from a loop-per-shift port of
``comp_upto_shift.m`` written here on scipy's ``RegularGridInterpolator``, and from a
second Wang SSIM written here with ``scipy.signal.fftconvolve`` and ``uniform_filter``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator
from scipy.ndimage import uniform_filter
from scipy.signal import fftconvolve
from skimage.color import rgb2ycbcr

from inrdeblur.metrics.aligned import (
    align,
    aligned_metrics,
    error_ratio,
    rgb_to_y,
    shift_grid,
    wang_ssim,
)
from inrdeblur.metrics.fidelity import psnr, ssim

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _texture(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random texture in [0, 1], lightly smoothed so neighbouring shifts differ but not wildly."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(0.0, 1.0, shape)
    return np.clip(
        0.5 * img + 0.25 * np.roll(img, 1, axis=0) + 0.25 * np.roll(img, 1, axis=1), 0, 1
    )


def _smooth(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A smooth analytic image in [0, 1] at (row, col) positions."""
    return (
        0.5
        + 0.2 * np.sin(0.21 * x + 0.13 * y) * np.cos(0.17 * y - 0.05 * x)
        + 0.1 * np.cos(0.077 * x + 0.29 * y)
    )


def _bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Exact bilinear samples of a 2-D ``image`` at (rows, cols), written out by hand."""
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    r1 = np.minimum(r0 + 1, image.shape[0] - 1)
    c1 = np.minimum(c0 + 1, image.shape[1] - 1)
    return (
        (1 - fr) * (1 - fc) * image[r0, c0]
        + (1 - fr) * fc * image[r0, c1]
        + fr * (1 - fc) * image[r1, c0]
        + fr * fc * image[r1, c1]
    )


# --------------------------------------------------------------------------- grid


def test_shift_grid_is_matlab_colon_range():
    grid = shift_grid(10.0, 0.25)
    assert grid.size == 81 and grid[0] == -10.0 and grid[-1] == 10.0
    np.testing.assert_array_equal(np.diff(grid), 0.25)
    assert 0.0 in grid
    assert shift_grid(0.0).tolist() == [0.0]
    with pytest.raises(ValueError, match="step"):
        shift_grid(1.0, 0.0)
    with pytest.raises(ValueError, match="max_shift"):
        shift_grid(-1.0)


def test_bad_arguments_are_rejected():
    img = _texture((60, 60))
    with pytest.raises(ValueError, match="crop"):
        align(img, img, crop=5, max_shift=6)
    with pytest.raises(ValueError, match="differ in shape"):
        align(img, img[:-1])
    with pytest.raises(ValueError, match="non-finite"):
        align(np.where(img > 0.5, np.nan, img), img)
    with pytest.raises(ValueError, match="divide 1"):
        align(img, img, max_shift=1, step=0.3)


# --------------------------------------------------------------------------- shifts


@pytest.mark.parametrize("applied", [(2, -3), (-7, 5), (0, 10)])
def test_integer_shift_is_recovered_exactly(applied):
    big = _texture((95, 100), seed=1)
    pad = 10
    ay, ax = applied
    reference = big[pad:-pad, pad:-pad]
    # estimate(p) = reference(p - a): the reference content moved by a.
    estimate = big[pad - ay : big.shape[0] - pad - ay, pad - ax : big.shape[1] - pad - ax]
    result = align(estimate, reference, max_shift=10)
    assert result.shift == (-float(ay), -float(ax))
    assert result.ssd == 0.0
    m = aligned_metrics(estimate, reference, max_shift=10)
    assert m["psnr"] == math.inf and m["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert m["shift"] == [-float(ay), -float(ax)]
    unaligned = psnr(estimate[15:-15, 15:-15], reference[15:-15, 15:-15])
    assert unaligned < 15.0


@pytest.mark.parametrize("offset", [(1.25, -2.5), (-0.75, 0.25), (3.5, 9.75)])
def test_subpixel_shift_made_by_exact_bilinear_is_recovered(offset):
    estimate = _texture((70, 80), seed=2)
    oy, ox = offset
    rows, cols = np.meshgrid(np.arange(70.0), np.arange(80.0), indexing="ij")
    reference = np.zeros_like(estimate)
    inner = (slice(15, -15), slice(15, -15))
    # reference(p) = estimate(p + o), i.e. the estimate is the reference moved by a = o.
    reference[inner] = _bilinear(estimate, rows[inner] + oy, cols[inner] + ox)
    m = aligned_metrics(estimate, reference, max_shift=10)
    assert m["shift"] == [-oy, -ox]
    assert m["ssd"] < 1e-20 and m["psnr"] > 150.0
    assert psnr(estimate[inner], reference[inner]) < 20.0


def test_subpixel_shift_of_a_smooth_image_is_recovered():
    applied = (1.25, -2.5)
    rows, cols = np.meshgrid(np.arange(96.0), np.arange(96.0), indexing="ij")
    reference = _smooth(rows, cols)
    estimate = _smooth(rows - applied[0], cols - applied[1])  # content moved by `applied`
    m = aligned_metrics(estimate, reference)
    assert m["shift"] == [-applied[0], -applied[1]]
    unaligned = psnr(estimate[15:-15, 15:-15], reference[15:-15, 15:-15])
    assert m["psnr"] > unaligned + 25.0
    assert m["ssim"] > 0.999


def test_matches_a_loop_port_of_comp_upto_shift():
    """Same SSD surface minimum, shift and aligned image as a per-shift interp2 loop."""
    rng = np.random.default_rng(3)
    reference = _texture((56, 60), seed=4)
    estimate = np.clip(
        np.roll(reference, (1, -2), axis=(0, 1)) + rng.normal(0, 0.02, (56, 60)), 0, 1
    )
    max_shift, crop = 3, 15
    # MATLAB: I2 = GT(16:end-15, 16:end-15); I1 = est(16-m:end-15+m, ...); grid 1-m..N+m.
    gt = reference[crop:-crop, crop:-crop]
    est = estimate[
        crop - max_shift : estimate.shape[0] - crop + max_shift,
        crop - max_shift : estimate.shape[1] - crop + max_shift,
    ]
    n1, n2 = gt.shape
    interp = RegularGridInterpolator(
        (
            np.arange(1 - max_shift, n1 + max_shift + 1.0),
            np.arange(1 - max_shift, n2 + max_shift + 1.0),
        ),
        est,
        method="linear",
    )
    gy0, gx0 = np.meshgrid(np.arange(1.0, n1 + 1), np.arange(1.0, n2 + 1), indexing="ij")
    shifts = np.arange(-max_shift, max_shift + 0.125, 0.25)
    best = (np.inf, None, None)
    for sy in shifts:
        for sx in shifts:
            t = interp(np.stack([gy0 + sy, gx0 + sx], axis=-1))
            ssd = float(np.sum((t - gt) ** 2))
            if ssd < best[0]:
                best = (ssd, (sy, sx), t)
    result = align(estimate, reference, crop=crop, max_shift=max_shift)
    assert result.shift == (-best[1][0], -best[1][1])
    assert result.ssd == pytest.approx(best[0], rel=1e-10)
    np.testing.assert_allclose(result.aligned, best[2], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(result.reference, gt)


def test_identical_images_give_zero_shift_and_infinite_psnr():
    img = _texture((64, 64), seed=5)
    m = aligned_metrics(img, img)
    assert m["shift"] == [0.0, 0.0] and m["ssd"] == 0.0
    assert m["psnr"] == math.inf
    assert m["ssim"] == pytest.approx(1.0, abs=1e-12)
    # A constant image: every shift ties at SSD 0; the tie goes to (0, 0).
    flat = np.full((50, 50), 0.3)
    assert aligned_metrics(flat, flat)["shift"] == [0.0, 0.0]


def test_only_the_cropped_window_matters():
    reference = _texture((64, 70), seed=6)
    estimate = np.clip(np.roll(reference, (2, 1), axis=(0, 1)) + 0.01, 0, 1)
    base = aligned_metrics(estimate, reference)

    ref_bad = reference.copy()
    border = np.ones(ref_bad.shape, dtype=bool)
    border[15:-15, 15:-15] = False
    ref_bad[border] = 1.0 - ref_bad[border]  # corrupt the 15 px border of the reference
    assert aligned_metrics(estimate, ref_bad) == base

    est_bad = estimate.copy()
    outer = np.ones(est_bad.shape, dtype=bool)
    outer[5:-5, 5:-5] = False  # the estimate is read 15 - max_shift = 5 px in
    est_bad[outer] = 0.0
    assert aligned_metrics(est_bad, reference) == base

    # Control: a change just inside the crop does change the result.
    ref_in = reference.copy()
    ref_in[15, 15:-15] = 1.0 - ref_in[15, 15:-15]
    assert aligned_metrics(estimate, ref_in)["ssd"] != base["ssd"]


def test_colour_uses_one_shift_and_sums_the_ssd_over_channels():
    big = _texture((90, 90, 3), seed=7)
    reference = big[10:-10, 10:-10]
    estimate = np.clip(big[7:-13, 12:-8] + np.array([0.0, 0.02, -0.01]), 0, 1)  # moved by (3, -2)
    result = align(estimate, reference, max_shift=4)
    assert result.shift == (-3.0, 2.0)
    assert result.aligned.shape == result.reference.shape == (40, 40, 3)
    per_channel = [align(estimate[..., c], reference[..., c], max_shift=4) for c in range(3)]
    assert result.ssd == pytest.approx(sum(r.ssd for r in per_channel), rel=1e-12)
    m = aligned_metrics(estimate, reference, max_shift=4)
    assert m["psnr"] == pytest.approx(psnr(result.aligned, result.reference))
    assert m["ssim"] == pytest.approx(
        np.mean([wang_ssim(r.aligned, r.reference) for r in per_channel])
    )


# --------------------------------------------------------------------------- error ratio


def test_error_ratio_is_one_for_identical_estimates():
    reference = _texture((64, 64), seed=8)
    estimate = np.clip(np.roll(reference, (1, 1), axis=(0, 1)) + 0.03, 0, 1)
    assert error_ratio(estimate, reference, estimate.copy()) == 1.0


def test_error_ratio_matches_a_hand_computed_case():
    big = _texture((84, 84), seed=9)
    reference = big[10:-10, 10:-10] * 0.9 + 0.05  # keep +-0.03 inside [0, 1]
    moved = big[12:-8, 9:-11] * 0.9 + 0.05  # reference content moved by (-2, +1) px
    blind = moved + 0.03
    true_kernel = reference - 0.01
    # Aligned errors are constants over the 34x34 crop: ||e|| = 0.03 * 34 and 0.01 * 34.
    assert error_ratio(blind, reference, true_kernel) == pytest.approx(3.0, rel=1e-9)
    assert error_ratio(true_kernel, reference, blind) == pytest.approx(1.0 / 3.0, rel=1e-9)
    assert error_ratio(blind, reference, reference) == math.inf
    assert error_ratio(reference, reference, reference) == 1.0


# --------------------------------------------------------------------------- SSIM


def _wang_ssim_reference(x: np.ndarray, y: np.ndarray, factor: int, L: float = 1.0) -> float:
    """Independent ssim.m: explicit fspecial window, fftconvolve 'valid', uniform_filter."""
    if factor > 1:
        # imfilter 'same' with an even box has its centre at floor((f+1)/2): scipy origin.
        origin = (factor + 1) // 2 - 1 - factor // 2
        x = uniform_filter(x, factor, mode="reflect", origin=origin)[::factor, ::factor]
        y = uniform_filter(y, factor, mode="reflect", origin=origin)[::factor, ::factor]
    r = np.arange(-5, 6)
    win = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5**2))
    win /= win.sum()

    def f(a):
        return fftconvolve(a, win, mode="valid")

    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(m.mean())


@pytest.mark.parametrize(
    ("shape", "factor"), [((60, 75), 1), ((383, 390), 1), ((400, 420), 2), ((640, 660), 3)]
)
def test_wang_ssim_matches_an_independent_implementation(shape, factor):
    rng = np.random.default_rng(10)
    x = _texture(shape, seed=11)
    y = np.clip(x + rng.normal(0, 0.08, shape), 0, 1)
    expected = _wang_ssim_reference(x, y, factor)
    assert wang_ssim(y, x) == pytest.approx(expected, abs=1e-10)
    # The protocol's [0, 255] scaling with L = 255 gives the same number.
    assert wang_ssim(255 * y, 255 * x, data_range=255.0) == pytest.approx(expected, abs=1e-10)
    if factor == 1:
        assert wang_ssim(y, x) == pytest.approx(ssim(y, x), abs=1e-10)
    else:
        assert wang_ssim(y, x, downsample=False) == pytest.approx(ssim(y, x), abs=1e-10)
        assert abs(wang_ssim(y, x) - ssim(y, x)) > 1e-3


def test_rgb_to_y_matches_skimage_rgb2ycbcr():
    rgb = _texture((20, 30, 3), seed=12)
    np.testing.assert_allclose(rgb_to_y(rgb), rgb2ycbcr(rgb)[..., 0] / 255.0, rtol=0, atol=1e-12)
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16 / 255)
    assert rgb_to_y(np.ones((1, 1, 3)))[0, 0] == pytest.approx(235 / 255)


def test_levin_sized_gray_alignment_improves_on_the_unaligned_psnr():
    rows, cols = np.meshgrid(np.arange(255.0), np.arange(255.0), indexing="ij")
    reference = _smooth(rows, cols) + 0.1 * _texture((255, 255), seed=13)
    estimate = _smooth(rows + 0.5, cols - 1.75) + 0.1 * _texture((255, 255), seed=13)
    m = aligned_metrics(estimate, reference)
    assert m["psnr"] > psnr(estimate[15:-15, 15:-15], reference[15:-15, 15:-15])
