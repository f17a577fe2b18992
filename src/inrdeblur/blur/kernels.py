"""Blur kernels: validation, kernels from camera trajectories and the kernel families."""

from __future__ import annotations

import numpy as np

from inrdeblur.blur.trajectory import Trajectory, psf_offsets

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
