"""Kernel families: Gaussian and defocus against closed forms, measured kernels from files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import LEVIN_DIR

from inrdeblur.blur.kernels import (
    defocus_kernel,
    disk_coverage,
    gaussian_kernel,
    measured_kernels,
    read_kernel,
)
from inrdeblur.fileio import InputFileError

LEVIN = LEVIN_DIR
# Sizes documented in the dataset's README (square kernels, side in px).
LEVIN_SIZES = [19, 17, 15, 27, 13, 21, 23, 23]


def centred_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(size, dtype=np.float64) - size // 2
    return np.meshgrid(x, x, indexing="ij")


# --- Gaussian ----------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "sigma"), [(1, 0.5), (5, 1.0), (9, 2.5), (15, 0.7)])
def test_gaussian_matches_closed_form(size, sigma):
    rows, cols = centred_grid(size)
    expected = np.exp(-(rows**2 + cols**2) / (2 * sigma**2))
    expected /= expected.sum()
    k = gaussian_kernel(size, sigma)
    assert k.dtype == np.float32 and k.shape == (size, size)
    np.testing.assert_allclose(k, expected, rtol=1e-6, atol=1e-9)
    assert k.min() >= 0 and abs(float(k.sum(dtype=np.float64)) - 1) < 1e-6


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.5])
def test_gaussian_second_moment_is_sigma_squared(sigma):
    size = 2 * int(np.ceil(8 * sigma)) + 1  # support of +-8 sigma: truncation negligible
    rows, cols = centred_grid(size)
    k = gaussian_kernel(size, sigma).astype(np.float64)
    assert abs((k * rows).sum()) < 1e-6 and abs((k * cols).sum()) < 1e-6
    assert (k * rows**2).sum() == pytest.approx(sigma**2, rel=1e-4)
    assert (k * cols**2).sum() == pytest.approx(sigma**2, rel=1e-4)


# --- defocus -----------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0.3, 0.5, 1.0, 2.5, 3.7, 5.5])
def test_disk_coverage_area_is_pi_r_squared(radius):
    size = 2 * int(np.ceil(radius)) + 1
    coverage = disk_coverage(size, radius)
    assert coverage.sum() == pytest.approx(np.pi * radius**2, rel=1e-12)
    assert coverage.min() > -1e-12 and coverage.max() <= 1 + 1e-12


@pytest.mark.parametrize("radius", [1.0, 2.5, 3.3, 4.0, 6.2])
def test_defocus_matches_supersampled_disk(radius):
    size = 2 * int(np.ceil(radius)) + 3
    n = 100  # n x n samples per pixel: an independent estimate of the covered area
    g = (np.arange(size * n) + 0.5) / n - size / 2
    y, x = np.meshgrid(g, g, indexing="ij")
    covered = (x**2 + y**2 <= radius**2).reshape(size, n, size, n).mean(axis=(1, 3))
    k = defocus_kernel(size, radius)
    np.testing.assert_allclose(k, covered / covered.sum(), atol=2e-4 / radius**2)
    assert k.min() >= 0 and abs(float(k.sum(dtype=np.float64)) - 1) < 1e-6


@pytest.mark.parametrize("radius", [1.0, 2.5, 4.5, 7.0])
def test_defocus_interior_weight_is_one_over_pi_r_squared(radius):
    # Fully covered pixels all carry 1 / (pi r^2) of the mass: the disk is uniform and
    # the total covered area is exactly pi r^2.
    size = 2 * int(np.ceil(radius)) + 1
    k = defocus_kernel(size, radius).astype(np.float64)
    c = size // 2
    assert k[c, c] == pytest.approx(1 / (np.pi * radius**2), rel=1e-6)
    rows, cols = centred_grid(size)
    inside = np.sqrt((np.abs(rows) + 0.5) ** 2 + (np.abs(cols) + 0.5) ** 2) <= radius
    np.testing.assert_allclose(k[inside], k[c, c], rtol=1e-6)
    outside = np.sqrt(
        np.maximum(np.abs(rows) - 0.5, 0) ** 2 + np.maximum(np.abs(cols) - 0.5, 0) ** 2
    )
    assert np.all(k[outside >= radius] == 0)


def test_defocus_second_moment_approaches_r_squared_over_two():
    # A uniform disk has E[x^2 + y^2] = r^2 / 2; sampling at pixel centres biases it by
    # O(1 / r) relative, so a large disk is within 1 %.
    radius = 20.0
    k = defocus_kernel(41, radius).astype(np.float64)
    rows, cols = centred_grid(41)
    assert (k * (rows**2 + cols**2)).sum() == pytest.approx(radius**2 / 2, rel=0.01)
    assert abs((k * rows).sum()) < 1e-9 and abs((k * cols).sum()) < 1e-9


# --- argument validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "word"),
    [
        (lambda: gaussian_kernel(4, 1.0), "size"),
        (lambda: gaussian_kernel(0, 1.0), "size"),
        (lambda: gaussian_kernel(2.5, 1.0), "size"),
        (lambda: gaussian_kernel(5, 0.0), "sigma"),
        (lambda: gaussian_kernel(5, -1.0), "sigma"),
        (lambda: gaussian_kernel(5, float("nan")), "sigma"),
        (lambda: defocus_kernel(6, 1.0), "size"),
        (lambda: defocus_kernel(5, 0.0), "radius"),
        (lambda: defocus_kernel(5, float("inf")), "radius"),
        (lambda: defocus_kernel(5, 2.6), "radius"),
        (lambda: measured_kernels(LEVIN, ""), "pattern"),
    ],
)
def test_bad_arguments_name_the_argument(call, word):
    with pytest.raises(ValueError, match=word):
        call()


# --- measured kernels --------------------------------------------------------------------


@pytest.fixture(scope="module")
def levin_kernels() -> list[Path]:
    if not (LEVIN / "gt_kernels").is_dir():
        pytest.skip(f"Levin et al. 2009 data not present at {LEVIN}")
    return measured_kernels(LEVIN / "gt_kernels")


def test_levin_kernels_have_the_documented_sizes(levin_kernels):
    assert [p.name for p in levin_kernels] == [f"kernel{i}.png" for i in range(1, 9)]
    for path, side in zip(levin_kernels, LEVIN_SIZES, strict=True):
        k = read_kernel(path)
        assert k.shape == (side, side), path.name
        assert k.dtype == np.float32 and k.min() >= 0
        assert abs(float(k.sum(dtype=np.float64)) - 1) < 1e-5
        pixels = np.asarray(Image.open(path), dtype=np.float64)
        assert pixels.max() == 255  # stored scaled to max 255
        np.testing.assert_allclose(k, pixels / pixels.sum(), rtol=1e-6, atol=1e-9)


def test_measured_kernels_sorts_numbers_by_value(tmp_path):
    for i in (10, 2, 1):
        Image.fromarray(np.full((3, 3), 255, np.uint8)).save(tmp_path / f"kernel{i}.png")
    (tmp_path / "notes.txt").write_text("not a kernel")
    names = [p.name for p in measured_kernels(tmp_path)]
    assert names == ["kernel1.png", "kernel2.png", "kernel10.png"]


def test_measured_kernels_errors_name_the_directory(tmp_path):
    with pytest.raises(InputFileError, match=str(tmp_path)):
        measured_kernels(tmp_path)
    missing = tmp_path / "absent"
    with pytest.raises(InputFileError, match=str(missing)):
        measured_kernels(missing)


def test_read_kernel_accepts_16_bit_rgb_and_arrays(tmp_path):
    raw = np.array([[0, 1, 2, 0], [3, 4, 5, 1]], dtype=np.float64)  # even size, 2 x 4
    expected = raw / raw.sum()
    # 16-bit gray PNG, stored scaled to max 65535.
    png16 = tmp_path / "k16.png"
    Image.fromarray((raw * 13107).astype(np.uint16)).save(png16)
    assert np.asarray(Image.open(png16)).max() == 65535
    np.testing.assert_allclose(read_kernel(png16), expected, rtol=1e-6)
    # RGB with equal channels, and a gray image with an alpha channel.
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.repeat((raw * 50).astype(np.uint8)[..., None], 3, axis=2)).save(rgb)
    np.testing.assert_allclose(read_kernel(rgb), expected, rtol=1e-6)
    la = np.stack([(raw * 50).astype(np.uint8), np.full(raw.shape, 255, np.uint8)], axis=-1)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    np.testing.assert_allclose(read_kernel(tmp_path / "la.png"), expected, rtol=1e-6)
    # Arrays already normalised: .npy, whitespace .txt and comma .csv.
    np.save(tmp_path / "k.npy", expected)
    np.savetxt(tmp_path / "k.txt", expected)
    np.savetxt(tmp_path / "k.csv", expected, delimiter=",")
    for name in ("k.npy", "k.txt", "k.csv"):
        np.testing.assert_allclose(read_kernel(tmp_path / name), expected, rtol=1e-6)


def write_bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Bad kernel files and a word their error message must contain."""
    good = np.full((3, 3), 1 / 9)
    bad: dict[str, tuple[Path, str]] = {}
    png = tmp_path / "good.png"
    Image.fromarray(np.full((5, 5), 200, np.uint8)).save(png)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(png.read_bytes()[:40])
    bad["truncated png"] = (truncated, "readable")
    not_png = tmp_path / "text.png"
    not_png.write_text("hello")
    bad["text as png"] = (not_png, "readable")
    zero = tmp_path / "zero.png"
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(zero)
    bad["all-zero png"] = (zero, "all zero")
    colour = tmp_path / "colour.png"
    rgb = np.zeros((3, 3, 3), np.uint8)
    rgb[1, 1] = (255, 0, 0)
    Image.fromarray(rgb).save(colour)
    bad["colour png"] = (colour, "channels differ")
    cases = {
        "sum2.npy": (2 * good, "sum"),
        "negative.npy": (np.array([[0.5, -0.1], [0.3, 0.3]]), "negative"),
        "nan.npy": (np.array([[np.nan, 0.5], [0.25, 0.25]]), "non-finite"),
        "cube.npy": (np.full((2, 2, 2), 1 / 8), "2-D"),
        "vector.npy": (np.full(4, 0.25), "2-D"),
        "sum2.txt": (2 * good, "sum"),
    }
    for name, (array, word) in cases.items():
        path = tmp_path / name
        if name.endswith(".npy"):
            np.save(path, array)
        else:
            np.savetxt(path, array)
        bad[name] = (path, word)
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"\x93NUMPY garbage")
    bad["corrupt npy"] = (corrupt, "readable")
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("0.5 0.5\n0.1\n")
    bad["ragged txt"] = (ragged, "readable")
    bad["missing"] = (tmp_path / "missing.png", "not found")
    bad["unknown suffix"] = (tmp_path / "kernel.jpg", "unknown kernel file type")
    return bad


def test_read_kernel_errors_name_the_file(tmp_path):
    for case, (path, word) in write_bad_files(tmp_path).items():
        with pytest.raises(InputFileError) as info:
            read_kernel(path)
        message = str(info.value)
        assert str(path) in message, case
        assert word in message, (case, message)
