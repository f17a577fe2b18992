"""Blur kernels: validation, kernels from camera trajectories and the kernel families."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np

from inrdeblur.blur.trajectory import Trajectory, psf_offsets
from inrdeblur.fileio import InputFileError

SUM_TOLERANCE = 1e-4


def validate_kernel(kernel: np.ndarray, name: str = "kernel") -> np.ndarray:
    """Return ``kernel`` as float32 after checking it is a blur kernel.

    A blur kernel is a finite, non-negative (k_h, k_w) array that sums to 1 (within
    ``SUM_TOLERANCE``). Anything else raises ``ValueError`` naming ``name``; nothing is
    silently renormalised.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or min(k.shape) < 1:
        raise ValueError(f"{name}: must be a 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError(f"{name}: has non-finite values")
    if k.min() < 0:
        raise ValueError(f"{name}: has negative entries (min {k.min():.3g})")
    total = k.sum()
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{name}: must sum to 1, sums to {total:.6g}")
    return k.astype(np.float32)


def random_motion_kernel(
    size: int,
    seed: int,
    n_steps: int = 512,
    inertia: float = 0.98,
    min_extent: float = 0.5,
) -> np.ndarray:
    """A seeded camera-shake kernel from a random walk with inertia.

    The camera's image-plane velocity follows ``v[k+1] = inertia * v[k] +
    sqrt(1 - inertia^2) * noise``; the integrated path is centred on its mean (so the
    kernel's centroid is the kernel centre and the blur adds no net shift), scaled so its
    largest excursion spans a random fraction in ``[min_extent, 1]`` of the kernel radius,
    and splatted bilinearly at sub-pixel precision, every step with equal weight (constant
    exposure).

    Args:
        size: odd kernel side length in pixels (>= 3).
        seed: random seed; the same seed gives the same kernel.
        n_steps: number of path samples.
        inertia: velocity persistence in [0, 1); higher gives smoother paths.
        min_extent: smallest path excursion as a fraction of the kernel radius.

    Returns:
        (size, size) float32 kernel, non-negative, summing to 1.
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"random_motion_kernel: size must be odd and >= 3, got {size}")
    if not 0.0 <= inertia < 1.0:
        raise ValueError(f"random_motion_kernel: inertia must be in [0, 1), got {inertia}")
    if not 0.0 < min_extent <= 1.0:
        raise ValueError(f"random_motion_kernel: min_extent must be in (0, 1], got {min_extent}")
    rng = np.random.default_rng(seed)
    velocity = rng.standard_normal(2)
    path = np.zeros((n_steps, 2))
    innovation = np.sqrt(1.0 - inertia**2)
    for k in range(1, n_steps):
        velocity = inertia * velocity + innovation * rng.standard_normal(2)
        path[k] = path[k - 1] + velocity
    path -= path.mean(axis=0)
    radius = size // 2
    # One pixel of margin so the bilinear splat stays inside the support.
    extent = rng.uniform(min_extent, 1.0) * (radius - 1)
    peak = np.abs(path).max()
    if peak > 0:
        path *= extent / peak
    kernel = np.zeros((size, size))
    rows = path[:, 1] + radius
    cols = path[:, 0] + radius
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    fr = rows - r0
    fc = cols - c0
    for dr, dc, w in (
        (0, 0, (1 - fr) * (1 - fc)),
        (1, 0, fr * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 1, fr * fc),
    ):
        np.add.at(kernel, (r0 + dr, c0 + dc), w)
    kernel /= kernel.sum()
    return kernel.astype(np.float32)


def psf_histogram(offsets: np.ndarray, support: int) -> np.ndarray:
    """Kernel from per-pose PSF offsets: equal weight per pose, normalised to sum 1.

    Args:
        offsets: (N, 2) integer kernel offsets ``(row, col)`` from the centre
            (:func:`inrdeblur.blur.trajectory.psf_offsets`).
        support: odd kernel side ``S``; every offset must satisfy ``|offset| <= S // 2``.

    Returns:
        (S, S) float32 kernel with ``k[c + row, c + col] += 1 / N``, ``c = S // 2``.
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    if support < 1 or support % 2 == 0:
        raise ValueError(f"psf_histogram: support must be odd and >= 1, got {support}")
    centre = support // 2
    if offsets.size and np.abs(offsets).max() > centre:
        raise ValueError(
            f"psf_histogram: offset {int(np.abs(offsets).max())} px exceeds the support {support}"
        )
    kernel = np.zeros((support, support))
    np.add.at(kernel, (centre + offsets[:, 0], centre + offsets[:, 1]), 1.0)
    return (kernel / len(offsets)).astype(np.float32)


def trajectory_kernel(
    trajectory: Trajectory,
    focal_px: tuple[float, float],
    depth_m: float,
    support: int | None = None,
) -> np.ndarray:
    """The blur kernel of a fronto-parallel plane at ``depth_m`` under ``trajectory``.

    Shifts follow :meth:`Trajectory.shifts` (x/y translation over depth plus x/y rotation),
    rounded half up; the kernel is their histogram. ``support`` defaults to the smallest
    odd side that holds every offset, ``2 max|offset| + 1``.
    """
    offsets = psf_offsets(trajectory.shifts(focal_px, depth_m))
    if support is None:
        support = 2 * int(np.abs(offsets).max()) + 1
    return psf_histogram(offsets, support)


def _check_odd_size(size: int, function: str) -> int:
    if isinstance(size, bool) or int(size) != size or size < 1 or size % 2 == 0:
        raise ValueError(f"{function}: size must be an odd integer >= 1, got {size!r}")
    return int(size)


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """An isotropic Gaussian kernel sampled at pixel centres, normalised to sum 1.

    ``k[i, j] = exp(-((i - c)^2 + (j - c)^2) / (2 sigma^2)) / Z`` with ``c = size // 2``.
    The truncation to ``size`` x ``size`` is the caller's choice; ``size >= 6 sigma + 1``
    keeps more than 99.7 % of the mass per axis.

    Args:
        size: odd side length in pixels (>= 1).
        sigma: standard deviation in pixels (> 0).

    Returns:
        (size, size) float32 kernel, non-negative, summing to 1.

    >>> k = gaussian_kernel(5, 1.0)
    >>> k.shape, bool(k[2, 2] == k.max()), round(float(k.sum()), 6)
    ((5, 5), True, 1.0)
    """
    size = _check_odd_size(size, "gaussian_kernel")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"gaussian_kernel: sigma must be finite and > 0 pixels, got {sigma!r}")
    x = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(x**2) / (2.0 * float(sigma) ** 2))
    kernel = np.outer(g, g)
    return (kernel / kernel.sum()).astype(np.float32)


def _disk_quadrant_area(x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """Area of the disk ``a^2 + b^2 <= r^2`` inside ``[0, x] x [0, y]`` for x, y >= 0."""
    x = np.minimum(x, radius)
    y = np.minimum(y, radius)
    # Inside the box, the disk's upper edge b = sqrt(r^2 - a^2) drops below y at a = a_star.
    a_star = np.sqrt(np.maximum(radius**2 - y**2, 0.0))

    def primitive(a: np.ndarray) -> np.ndarray:  # integral of sqrt(r^2 - a^2) da
        ratio = np.clip(a / radius, -1.0, 1.0)
        return 0.5 * (a * np.sqrt(np.maximum(radius**2 - a**2, 0.0)) + radius**2 * np.arcsin(ratio))

    arc = a_star * y + primitive(x) - primitive(a_star)
    return np.where(x <= a_star, x * y, arc)


def disk_coverage(size: int, radius: float) -> np.ndarray:
    """Exact area of the disk of ``radius`` px (centred on the middle pixel) in each pixel.

    Pixel ``(i, j)`` is the unit square centred on ``(i - c, j - c)``, ``c = size // 2``.
    The result sums to ``pi radius^2`` when the disk fits in the support.
    """
    edges = np.arange(size + 1, dtype=np.float64) - size // 2 - 0.5

    def signed(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # Disk area in the box spanned by the origin and (x, y), signed by orientation.
        return np.sign(x) * np.sign(y) * _disk_quadrant_area(np.abs(x), np.abs(y), radius)

    ex = edges[None, :]
    ey = edges[:, None]
    corner = signed(ex, ey)  # (size + 1, size + 1), corner[row_edge, col_edge]
    area = corner[1:, 1:] - corner[:-1, 1:] - corner[1:, :-1] + corner[:-1, :-1]
    # Pixels wholly inside or outside the disk are set exactly (no rounding residue).
    centre = np.abs(np.arange(size, dtype=np.float64) - size // 2)
    near = np.maximum(centre - 0.5, 0.0)
    far = centre + 0.5
    area[near[:, None] ** 2 + near[None, :] ** 2 >= radius**2] = 0.0
    area[far[:, None] ** 2 + far[None, :] ** 2 <= radius**2] = 1.0
    return area


def defocus_kernel(size: int, radius: float) -> np.ndarray:
    """A defocus (pillbox) kernel: a uniform disk with an exactly anti-aliased edge.

    Each pixel's weight is the exact area of its unit square covered by the disk of
    ``radius`` px centred on the middle pixel (:func:`disk_coverage`), so pixels inside
    the disk have equal weight and edge pixels their covered fraction.

    Args:
        size: odd side length in pixels (>= 1).
        radius: disk radius in pixels, ``0 < radius <= size / 2`` (the disk must fit).

    Returns:
        (size, size) float32 kernel, non-negative, summing to 1.

    >>> k = defocus_kernel(5, 2.0)
    >>> bool(k[2, 2] == k.max()), bool(k[0, 0] == 0.0), round(float(k.sum()), 6)
    (True, True, 1.0)
    """
    size = _check_odd_size(size, "defocus_kernel")
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"defocus_kernel: radius must be finite and > 0 pixels, got {radius!r}")
    if radius > size / 2:
        raise ValueError(
            f"defocus_kernel: radius {radius} px does not fit in a {size} x {size} support "
            f"(needs radius <= size / 2 = {size / 2})"
        )
    coverage = np.maximum(disk_coverage(size, float(radius)), 0.0)
    return (coverage / coverage.sum()).astype(np.float32)


IMAGE_KERNEL_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".pgm")
ARRAY_KERNEL_SUFFIXES = (".npy", ".txt", ".csv")


def kernel_image(kernel: np.ndarray, scale: int = 1) -> np.ndarray:
    """A kernel as a gray image, ``(k_h * scale, k_w * scale)`` float64 in [0, 1]: the
    kernel divided by its maximum (white), each tap a ``scale`` x ``scale`` block
    (nearest-neighbour enlargement, no smoothing). A blind fit's ``kernel.png`` and the
    report's kernels.

    >>> kernel_image(np.array([[0.25, 0.75]]), 2)
    array([[0.33333333, 0.33333333, 1.        , 1.        ],
           [0.33333333, 0.33333333, 1.        , 1.        ]])
    """
    k = np.asarray(kernel, dtype=np.float64)
    peak = float(k.max())
    if peak > 0:
        k = k / peak
    return np.repeat(np.repeat(k, scale, axis=0), scale, axis=1)


def _read_kernel_image(path: Path) -> np.ndarray:
    """Pixels of a gray or equal-channel RGB image, float64 (H, W), unscaled."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("P", "PA"):
                img = img.convert("RGBA")
                mode = img.mode
            array = np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InputFileError(f"{path}: not a readable image ({err})") from err
    if mode in ("LA", "RGBA"):
        array = array[..., :-1]  # drop alpha
    elif mode not in ("1", "L", "I", "F", "RGB") and not mode.startswith("I;16"):
        raise InputFileError(f"{path}: unsupported image mode {mode!r} for a kernel")
    array = array.astype(np.float64)
    if array.ndim == 3:
        if not all(np.array_equal(array[..., 0], array[..., c]) for c in range(array.shape[2])):
            raise InputFileError(f"{path}: a kernel image must be gray; its colour channels differ")
        array = array[..., 0]
    return array


def _read_kernel_array(path: Path) -> np.ndarray:
    """Values of a ``.npy`` array or a whitespace/comma separated text table."""
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            text = path.read_text(encoding="utf-8").replace(",", " ")
            array = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
    except (OSError, ValueError, UnicodeDecodeError, EOFError) as err:
        raise InputFileError(f"{path}: not a readable kernel array ({err})") from err
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise InputFileError(f"{path}: kernel values must be real numbers, got {array.dtype}")
    return np.asarray(array, dtype=np.float64)


def read_kernel(path: str | os.PathLike) -> np.ndarray:
    """Read a measured blur kernel from an image or array file.

    - Images (``.png`` 8/16 bit, ``.tif``, ``.bmp``, ``.pgm``; gray, or RGB with equal
      channels; alpha dropped) are divided by their sum: measured kernels are stored
      scaled (Levin et al. 2009 scale theirs to a maximum of 255).
    - Arrays (``.npy``, or whitespace/comma separated ``.txt``/``.csv``) must already be
      a blur kernel (non-negative, summing to 1, :func:`validate_kernel`); nothing is
      renormalised.

    Kernels may have even sides. Every problem (missing or corrupt file, unknown suffix,
    not 2-D, non-finite or negative values, an all-zero image, colour channels that
    differ, a sum other than 1) raises :class:`inrdeblur.fileio.InputFileError` naming
    the file.

    Returns:
        (k_h, k_w) float32 kernel, non-negative, summing to 1.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_KERNEL_SUFFIXES + ARRAY_KERNEL_SUFFIXES:
        raise InputFileError(
            f"{path}: unknown kernel file type {suffix!r}; expected one of "
            f"{IMAGE_KERNEL_SUFFIXES + ARRAY_KERNEL_SUFFIXES}"
        )
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    is_image = suffix in IMAGE_KERNEL_SUFFIXES
    array = _read_kernel_image(path) if is_image else _read_kernel_array(path)
    if array.ndim != 2 or min(array.shape) < 1:
        raise InputFileError(f"{path}: a kernel must be a 2-D array, got shape {array.shape}")
    n_bad = int(np.count_nonzero(~np.isfinite(array)))
    if n_bad:
        raise InputFileError(f"{path}: kernel has {n_bad} non-finite (NaN or inf) values")
    if array.min() < 0:
        raise InputFileError(f"{path}: kernel has negative values (min {array.min():.3g})")
    if is_image:
        total = array.sum()
        if total <= 0:
            raise InputFileError(f"{path}: kernel image is all zero")
        array = array / total
    try:
        return validate_kernel(array, name=str(path))
    except ValueError as err:
        raise InputFileError(str(err)) from err


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def measured_kernels(directory: str | os.PathLike, pattern: str = "*.png") -> list[Path]:
    """The kernel files in ``directory`` matching ``pattern``, in natural order.

    Natural order sorts numbers by value (``kernel2`` before ``kernel10``). A missing
    directory or one with no match raises :class:`inrdeblur.fileio.InputFileError`
    naming the directory. Read each file with :func:`read_kernel`.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"measured_kernels: pattern must be a non-empty string, got {pattern!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise InputFileError(f"{directory}: kernel directory not found")
    files = sorted((p for p in directory.glob(pattern) if p.is_file()), key=_natural_key)
    if not files:
        raise InputFileError(f"{directory}: no kernel files match {pattern!r}")
    return files
