"""Kernel similarity (Hu and Yang 2012) against closed forms and a brute-force search."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from inrdeblur.metrics.kernels import kernel_match, kernel_similarity


def _motion_like(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A non-negative kernel summing to 1 with a few random taps inside a 1 px margin."""
    rng = np.random.default_rng(seed)
    kernel = np.zeros(shape)
    kernel[1:-1, 1:-1] = rng.random((shape[0] - 2, shape[1] - 2)) ** 4
    return kernel / kernel.sum()


def _brute_force(estimate: np.ndarray, true: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Every placement by np.roll of the estimate over a zero canvas holding the true kernel.

    The canvas holds the true kernel at (e_h - 1, e_w - 1); the estimate starts at the
    top-left corner and is rolled by (r, c), so its pixel a lies on canvas pixel a + (r, c)
    and on true pixel a + (r, c) - (e_h - 1, e_w - 1): no roll wraps round, and every
    overlapping placement is visited once.
    """
    (eh, ew), (th, tw) = estimate.shape, true.shape
    canvas_shape = (th + 2 * (eh - 1), tw + 2 * (ew - 1))
    target = np.zeros(canvas_shape)
    target[eh - 1 : eh - 1 + th, ew - 1 : ew - 1 + tw] = true
    start = np.zeros(canvas_shape)
    start[:eh, :ew] = estimate
    norm = np.sqrt(np.sum(estimate**2) * np.sum(true**2))
    best, shift = -math.inf, (0, 0)
    for r in range(th + eh - 1):
        for c in range(tw + ew - 1):
            value = float(np.sum(np.roll(start, (r, c), axis=(0, 1)) * target)) / norm
            if value > best:
                # estimate[c_e + p] lies on true[c_t + p - d]: c_e + p + r = c_t + p - d + e - 1
                best = value
                shift = (th // 2 - eh // 2 + eh - 1 - r, tw // 2 - ew // 2 + ew - 1 - c)
    return best, shift


@pytest.mark.parametrize("shape", [(1, 1), (5, 5), (4, 6), (7, 3)])
def test_identical_kernels_give_one_at_zero_shift(shape: tuple[int, int]) -> None:
    kernel = _motion_like((shape[0] + 2, shape[1] + 2), seed=shape[0] * 10 + shape[1])
    match = kernel_match(kernel, kernel)
    assert match.similarity == pytest.approx(1.0, abs=1e-12)
    assert match.shift == (0, 0)


@pytest.mark.parametrize("shift", [(1, 0), (0, -1), (2, 3), (-3, 2)])
def test_a_shifted_copy_gives_one_and_its_shift(shift: tuple[int, int]) -> None:
    kernel = np.zeros((13, 13))
    kernel[4:9, 4:9] = _motion_like((7, 7), seed=1)[1:-1, 1:-1] + 0.01
    kernel /= kernel.sum()
    moved = np.roll(kernel, shift, axis=(0, 1))  # the support stays off the border
    match = kernel_match(moved, kernel)
    assert match.similarity == pytest.approx(1.0, abs=1e-12)
    assert match.shift == shift
    back = kernel_match(kernel, moved)
    assert back.similarity == pytest.approx(1.0, abs=1e-12)
    assert back.shift == (-shift[0], -shift[1])


def test_deltas_at_different_places_match_once_shifted() -> None:
    """Two deltas with disjoint supports: 0 where they lie (no overlap at zero shift), but
    the search over every overlapping placement moves one onto the other, giving 1."""
    a, b = np.zeros((7, 7)), np.zeros((7, 7))
    a[1, 2], b[5, 4] = 1.0, 1.0
    assert float(np.sum(a * b)) == 0.0
    match = kernel_match(a, b)
    assert match.similarity == pytest.approx(1.0, abs=1e-12)
    # a is b moved 4 rows up and 2 columns left
    assert match.shift == (-4, -2)


def test_a_delta_against_a_two_tap_box() -> None:
    """<delta, box> = 1/2 at either tap; ||delta|| = 1, ||box|| = sqrt(2)/2: 1/sqrt(2)."""
    delta = np.array([[1.0]])
    box = np.array([[0.5, 0.5]])
    match = kernel_match(delta, box)
    assert match.similarity == pytest.approx(1.0 / math.sqrt(2.0), abs=1e-12)
    # The two placements tie. On the box's centre (column 2 // 2 = 1) the delta is the box
    # moved by 0; on column 0, by +1. The smaller shift wins.
    assert match.shift == (0, 0)
    assert kernel_similarity(box, delta) == pytest.approx(1.0 / math.sqrt(2.0), abs=1e-12)


def test_box_against_a_longer_box_closed_form() -> None:
    """Boxes of n and m > n taps: best overlap n taps, <a, b> = n / (n m), norms
    1 / sqrt(n) and 1 / sqrt(m): similarity sqrt(n / m)."""
    for n, m in ((1, 4), (3, 5), (2, 9)):
        a, b = np.full((1, n), 1.0 / n), np.full((1, m), 1.0 / m)
        assert kernel_similarity(a, b) == pytest.approx(math.sqrt(n / m), abs=1e-12)
        assert kernel_similarity(b.T, a.T) == pytest.approx(math.sqrt(n / m), abs=1e-12)


def test_scale_invariance() -> None:
    a, b = _motion_like((9, 9), seed=2), _motion_like((9, 9), seed=3)
    base = kernel_match(a, b)
    scaled = kernel_match(7.5 * a, 0.01 * b)
    assert scaled.similarity == pytest.approx(base.similarity, abs=1e-12)
    assert scaled.shift == base.shift


def test_different_sizes_embedding() -> None:
    """The true 7x7 kernel embedded in an 11x12 estimate at rows 1.., columns 4..: the
    estimate's centre (5, 6) holds true pixel (5 - 1, 6 - 4) = (4, 2), one row below and one
    column left of the true centre (3, 3), so the estimate is the true kernel moved by
    (-1, +1)."""
    true = _motion_like((7, 7), seed=4)
    estimate = np.zeros((11, 12))
    estimate[1:8, 4:11] = true
    match = kernel_match(estimate, true)
    assert match.similarity == pytest.approx(1.0, abs=1e-12)
    assert match.shift == (-1, 1)


@pytest.mark.parametrize(
    ("est_shape", "true_shape"),
    [((5, 5), (5, 5)), ((4, 6), (7, 5)), ((9, 9), (3, 4)), ((2, 2), (6, 6)), ((8, 3), (3, 8))],
)
def test_matches_brute_force_on_random_kernels(est_shape, true_shape) -> None:
    for seed in range(3):
        rng = np.random.default_rng(seed)
        estimate = rng.random(est_shape) ** 3
        true = rng.random(true_shape) ** 3
        value, shift = _brute_force(estimate, true)
        match = kernel_match(estimate, true)
        assert match.similarity == pytest.approx(value, abs=1e-12)
        assert match.shift == shift
        assert 0.0 < match.similarity <= 1.0


def test_signed_kernels_stay_in_minus_one_one() -> None:
    rng = np.random.default_rng(5)
    for _ in range(5):
        a, b = rng.normal(size=(4, 5)), rng.normal(size=(6, 3))
        value, _ = _brute_force(a, b)
        assert kernel_similarity(a, b) == pytest.approx(value, abs=1e-12)
        assert -1.0 <= kernel_similarity(a, b) <= 1.0
    # a kernel against its negative: every placement is <= 0, the best is 0 or below
    a = np.array([[1.0, 0.0, 2.0]])
    assert kernel_similarity(a, -a) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        (np.zeros((3, 3)), "all zeros"),
        (np.ones(3), r"\(k_h, k_w\)"),
        (np.full((2, 2), np.nan), "non-finite"),
        (np.ones((0, 3)), r"\(k_h, k_w\)"),
    ],
)
def test_bad_kernels_are_named(kernel: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=f"kernel estimate: .*{message}"):
        kernel_match(kernel, np.ones((3, 3)))
    with pytest.raises(ValueError, match=f"true kernel: .*{message}"):
        kernel_match(np.ones((3, 3)), kernel)


def test_every_shift_of_a_small_kernel() -> None:
    """All shifts within +-2 of a kernel with its support inside a 2 px margin."""
    kernel = np.zeros((9, 9))
    kernel[2:7, 2:7] = _motion_like((7, 7), seed=6)[1:-1, 1:-1] + 1e-3
    for dy, dx in itertools.product(range(-2, 3), repeat=2):
        match = kernel_match(np.roll(kernel, (dy, dx), axis=(0, 1)), kernel)
        assert match.shift == (dy, dx)
        assert match.similarity == pytest.approx(1.0, abs=1e-12)
