"""Kernel similarity: how close a blind method's kernel estimate is to the true kernel.

A blind method recovers the blur only up to a translation (moving the kernel one way and
the image the other gives the same blurry image), so a kernel estimate is compared with
the true kernel at its best relative shift. The kernel similarity of Hu and Yang (2012,
"Good regions to deblur", ECCV) is the maximum over integer shifts ``d`` of the
normalised cross-correlation

    KS(k_est, k_true) = max_d <k_est shifted by d, k_true> / (||k_est||_2 ||k_true||_2),

the two kernels zero-padded so that every placement where they overlap is tried (they may
differ in size, odd or even). It is 1 when, and only when, the estimate is a positive multiple
of a shifted copy of the true kernel and, for non-negative kernels, lies in [0, 1]; 0
when no placement overlaps their supports. Blind-deblurring papers report it beside the
image metrics, among them the cross-scale INR paper (Zhang, Quan and Ji, NeurIPS 2024).

The shift says how far the estimate is off: with ``shift = (dy, dx)``, the estimate
best matches the true kernel moved ``dy`` rows down and ``dx`` columns right,
``estimate[c_e + p] ~ true[c_t + p - (dy, dx)]``, where ``c = (k_h // 2, k_w // 2)`` is
a kernel's centre (the convention of :func:`inrdeblur.blur.uniform.convolve`). Moving
the estimate by ``(-dy, -dx)`` aligns it.

>>> k = np.zeros((5, 5)); k[2, 1:4] = 1 / 3
>>> moved = np.roll(k, (1, -1), axis=(0, 1))
>>> match = kernel_match(moved, k)
>>> round(match.similarity, 12), match.shift
(1.0, (1, -1))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KernelMatch", "kernel_match", "kernel_similarity"]

#: Correlations within this of the maximum count as ties (FFT round-off is ~1e-16).
TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class KernelMatch:
    """The best placement of a kernel estimate on the true kernel.

    Attributes:
        similarity: the maximum normalised cross-correlation, in [-1, 1] ([0, 1] for
            non-negative kernels); 1 for a scaled, shifted copy.
        shift: ``(dy, dx)`` px: the estimate is the true kernel moved ``dy`` rows down
            and ``dx`` columns right, relative to their centres (module docstring).
            Among equal maxima, the smallest ``dy**2 + dx**2``, then the first in
            row-major order of the correlation.
    """

    similarity: float
    shift: tuple[int, int]


def _as_kernel(kernel: np.ndarray, name: str) -> np.ndarray:
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or min(k.shape) < 1:
        raise ValueError(f"{name}: must be a (k_h, k_w) kernel, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError(f"{name}: has non-finite values")
    if not np.any(k):
        raise ValueError(f"{name}: is all zeros (no similarity is defined)")
    return k


def kernel_match(estimate: np.ndarray, true: np.ndarray) -> KernelMatch:
    """The kernel similarity of ``estimate`` to ``true`` and the shift that attains it.

    Args:
        estimate: (k_h, k_w) kernel estimate, any scale (a blind fit's sums to 1).
        true: (t_h, t_w) true kernel; the sizes need not match.

    Returns:
        :class:`KernelMatch`: the maximum of the normalised cross-correlation over all
        ``(k_h + t_h - 1) x (k_w + t_w - 1)`` overlapping placements, and its shift.

    Raises:
        ValueError: a kernel that is not a finite, non-zero 2-D array.
    """
    from scipy.signal import correlate

    est = _as_kernel(estimate, "kernel estimate")
    ref = _as_kernel(true, "true kernel")
    # full[k] = sum_l ref[l] * est[l - k + (n - 1)], n = est's size: est pixel a lies on
    # ref pixel a + k - (n - 1). Relative to the centres c_e, c_t, est pixel c_e + p
    # then lies on ref pixel c_t + p - shift, shift = (n - 1) - k - c_e + c_t.
    full = correlate(ref, est, mode="full", method="auto")
    full /= np.linalg.norm(est) * np.linalg.norm(ref)
    best = float(full.max())
    ky, kx = np.nonzero(full >= best - TIE_TOLERANCE)
    dy = (est.shape[0] - 1) - ky - est.shape[0] // 2 + ref.shape[0] // 2
    dx = (est.shape[1] - 1) - kx - est.shape[1] // 2 + ref.shape[1] // 2
    pick = int(np.argmin(dy**2 + dx**2))
    return KernelMatch(
        similarity=float(np.clip(best, -1.0, 1.0)), shift=(int(dy[pick]), int(dx[pick]))
    )


def kernel_similarity(estimate: np.ndarray, true: np.ndarray) -> float:
    """Hu and Yang's kernel similarity of ``estimate`` to ``true`` (:func:`kernel_match`).

    >>> kernel_similarity(np.array([[1.0]]), np.array([[0.5, 0.5]]))  # 1 / sqrt(2)
    0.7071067811865475
    """
    return kernel_match(estimate, true).similarity
