"""Shift-aligned fidelity metrics: the blind-deblurring evaluation protocol of Levin et al.

A blind method recovers the image only up to a translation (shifting the image one way and
the kernel the other leaves the blur unchanged), so benchmarks compare after the best
sub-pixel alignment. This is a port of ``comp_upto_shift.m`` (A. Levin; as shipped in
SelfDeblur's ``statistic/``, used by SelfDeblur, VDIP and cross-scale INR):

1. the reference is cropped by ``crop`` = 15 px on every side (MATLAB ``16:end-15``);
2. the estimate is cropped with an extra margin of ``ceil(max_shift)`` px and resampled
   with bilinear interpolation (MATLAB ``interp2``: pixel centres on the integer grid) on
   the reference window moved by every offset of the exhaustive grid
   ``{-max_shift, ..., +max_shift}`` in ``step`` = 0.25 px on both axes (81 x 81 = 6561
   candidates for ``max_shift`` = 10); the offset with the smallest sum of squared
   differences (SSD) wins;
3. PSNR and SSIM of the aligned pair (``statistic/psnr.m``, ``statistic/ssim.m``).

Shift convention: ``shift = (dy, dx)`` in pixels is the translation *applied to the
estimate* that aligns it, ``aligned(y, x) = estimate(y - dy, x - dx)`` (the convention of
``scipy.ndimage.shift``). If the estimate is the reference moved by ``a``, the result is
``shift = -a``. MATLAB's sample offsets ``(shifts(j), shifts(i))`` are ``(-dy, -dx)``.

Colour: ``comp_upto_shift.m`` only accepts gray images; ``statistic_lai.m`` converts colour
images to the Y channel of MATLAB ``rgb2ycbcr`` first (:func:`rgb_to_y`), and Levin is
gray. Here a colour ``(H, W, C)`` pair is aligned with one shift for all channels (the SSD
is summed over channels), PSNR uses the MSE over all channels and SSIM is the mean of the
per-channel values. Pass ``rgb_to_y(image)`` of both images to follow the Lai protocol.

Nothing is clipped or quantised: the reference code reads 8-bit PNGs, so an estimate
should be rounded to 8 bits by the caller for an exact comparison with published numbers.

Ported from the MATLAB; no code copied. Torch is imported only when :func:`align` runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from inrdeblur.colour import rgb_to_y
from inrdeblur.metrics.fidelity import psnr

__all__ = [
    "Alignment",
    "align",
    "aligned_metrics",
    "error_ratio",
    "rgb_to_y",
    "shift_grid",
    "wang_ssim",
]

#: Protocol defaults (SelfDeblur ``statistic_levin.m`` / ``statistic_lai.m``).
CROP = 15
MAX_SHIFT = 10.0
STEP = 0.25
#: Most tensor elements one batch of candidate shifts may hold (float64: 8 bytes each).
BATCH_ELEMENTS = 1 << 22

#: Wang et al. SSIM (``ssim.m`` defaults): 11x11 Gaussian window, sigma 1.5, K1, K2.
WANG_WINDOW = 11
WANG_SIGMA = 1.5
WANG_K1 = 0.01
WANG_K2 = 0.03


@dataclass(frozen=True)
class Alignment:
    """The best alignment of an estimate to a reference.

    Attributes:
        aligned: the estimate moved by ``shift`` on the cropped window, ``(h, w)`` or
            ``(h, w, C)`` float64 with ``h = H - 2 crop``, ``w = W - 2 crop``.
        reference: the reference cropped by ``crop`` px on every side, same shape.
        shift: ``(dy, dx)`` px, the translation applied to the estimate (module docstring).
        ssd: sum over pixels and channels of ``(aligned - reference)**2``, images in [0, 1].
    """

    aligned: np.ndarray
    reference: np.ndarray
    shift: tuple[float, float]
    ssd: float


def shift_grid(max_shift: float = MAX_SHIFT, step: float = STEP) -> np.ndarray:
    """The candidate offsets on one axis: ``step * k`` for ``|step * k| <= max_shift``.

    Symmetric and always containing 0 (MATLAB ``-max_shift:step:max_shift`` when
    ``max_shift`` is a multiple of ``step``).

    >>> shift_grid(1.0, 0.25).tolist()
    [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0]
    """
    max_shift = float(max_shift)
    step = float(step)
    if not (math.isfinite(max_shift) and max_shift >= 0):
        raise ValueError(f"max_shift must be a finite number >= 0 px, got {max_shift}")
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be a finite number > 0 px, got {step}")
    n = int(math.floor(max_shift / step + 1e-9))
    return step * np.arange(-n, n + 1, dtype=np.float64)


def _as_chw(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim == 3:
        arr = np.moveaxis(arr, 2, 0)
    else:
        raise ValueError(f"{name}: expected an image (H, W) or (H, W, C), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: holds non-finite values (NaN or inf)")
    return np.ascontiguousarray(arr)


def _from_chw(arr: np.ndarray, ndim: int) -> np.ndarray:
    return arr[0] if ndim == 2 else np.moveaxis(arr, 0, 2)


def _interpolate(window: Any, fy: float, fx: float) -> Any:
    """Bilinear resampling of ``(C, Y, X)`` at ``(y + fy, x + fx)``, ``0 <= f < 1``.

    The output loses the last row (column) when ``fy`` (``fx``) is non-zero.
    """
    if fy:
        window = (1.0 - fy) * window[:, :-1, :] + fy * window[:, 1:, :]
    if fx:
        window = (1.0 - fx) * window[:, :, :-1] + fx * window[:, :, 1:]
    return window


def align(
    estimate: np.ndarray,
    reference: np.ndarray,
    crop: int = CROP,
    max_shift: float = MAX_SHIFT,
    step: float = STEP,
) -> Alignment:
    """Align ``estimate`` to ``reference`` by the exhaustive sub-pixel search (``comp_upto_shift``).

    Args:
        estimate: ``(H, W)`` or ``(H, W, C)`` float image in [0, 1] (the deblurred result).
        reference: the ground truth, same shape.
        crop: border (px) removed from the reference on every side; must be at least
            ``ceil(max_shift)`` so every sample stays inside the estimate.
        max_shift: largest offset (px) tried on each axis.
        step: grid spacing of the offsets (px); must divide 1 px (protocol: 0.25).

    Returns:
        The :class:`Alignment` with the smallest SSD. Exact ties go to the smallest
        ``|shift|``. The search runs in float64 with torch, in batches of candidates.

    Raises:
        ValueError: on shape mismatch, non-finite values, or a crop too small for the shift.
    """
    import torch

    est = _as_chw(estimate, "estimate")
    ref = _as_chw(reference, "reference")
    if est.shape != ref.shape:
        raise ValueError(
            f"estimate and reference differ in shape: estimate {np.shape(estimate)}, "
            f"reference {np.shape(reference)}"
        )
    offsets = shift_grid(max_shift, step)
    per_pixel = 1.0 / float(step)
    if abs(per_pixel - round(per_pixel)) > 1e-9:
        raise ValueError(f"step must divide 1 px (0.25, 0.5, 1, ...), got {step}")
    if isinstance(crop, bool) or not isinstance(crop, int | np.integer) or crop < 0:
        raise ValueError(f"crop must be an integer >= 0 px, got {crop!r}")
    crop = int(crop)
    margin = int(math.ceil(offsets[-1] - 1e-9))
    if crop < margin:
        raise ValueError(f"crop ({crop} px) must be at least ceil(max_shift) = {margin} px")
    channels, height, width = est.shape
    h, w = height - 2 * crop, width - 2 * crop
    if h < 1 or w < 1:
        raise ValueError(f"image of shape {np.shape(reference)} is too small for a {crop} px crop")

    ref_crop = ref[:, crop : crop + h, crop : crop + w]
    # Window index q of the estimate crop is reference-crop coordinate q - margin.
    est_window = torch.from_numpy(
        est[:, crop - margin : crop + h + margin, crop - margin : crop + w + margin].copy()
    )
    target = torch.from_numpy(np.ascontiguousarray(ref_crop))

    whole = np.floor(offsets + 1e-9)
    frac = np.round(offsets - whole, 12)
    n = offsets.size
    ssd = np.full((n, n), np.inf)
    per_candidate = channels * h * w
    for fy in np.unique(frac):
        rows = np.flatnonzero(frac == fy)
        for fx in np.unique(frac):
            cols = np.flatnonzero(frac == fx)
            image = _interpolate(est_window, float(fy), float(fx))
            windows = image.unfold(1, h, 1).unfold(2, w, 1)  # (C, Ny, Nx, h, w) view
            c0 = margin + int(whole[cols[0]])
            c1 = c0 + cols.size
            rows_per_batch = max(1, BATCH_ELEMENTS // (per_candidate * cols.size))
            for start in range(0, rows.size, rows_per_batch):
                chunk = rows[start : start + rows_per_batch]
                r0 = margin + int(whole[chunk[0]])
                diff = windows[:, r0 : r0 + chunk.size, c0:c1] - target[:, None, None]
                diff.square_()
                ssd[np.ix_(chunk, cols)] = diff.sum(dim=(0, 3, 4)).numpy()

    best = np.flatnonzero(ssd == ssd.min())
    iy, ix = np.unravel_index(best, ssd.shape)
    pick = int(np.argmin(offsets[iy] ** 2 + offsets[ix] ** 2))
    iy, ix = int(iy[pick]), int(ix[pick])
    oy, ox = offsets[iy], offsets[ix]
    r0 = margin + int(whole[iy])
    c0 = margin + int(whole[ix])
    image = _interpolate(est_window, float(frac[iy]), float(frac[ix])).numpy()
    aligned = image[:, r0 : r0 + h, c0 : c0 + w]
    best_ssd = float(np.sum((aligned - ref_crop) ** 2))
    return Alignment(
        aligned=_from_chw(aligned, np.ndim(estimate)).copy(),
        reference=_from_chw(ref_crop, np.ndim(reference)).copy(),
        shift=(float(-oy) + 0.0, float(-ox) + 0.0),
        ssd=best_ssd,
    )


def aligned_metrics(
    estimate: np.ndarray,
    reference: np.ndarray,
    crop: int = CROP,
    max_shift: float = MAX_SHIFT,
    step: float = STEP,
) -> dict[str, Any]:
    """PSNR and SSIM after the best sub-pixel alignment (``comp_upto_shift.m``).

    Args:
        estimate: ``(H, W)`` or ``(H, W, C)`` float image in [0, 1]; not clipped.
        reference: the ground truth, same shape.
        crop, max_shift, step: see :func:`align` (protocol: 15, 10, 0.25).

    Returns:
        A JSON-ready dict:

        - ``psnr``: dB, ``10 log10(1 / MSE)`` on [0, 1] images, equal to the protocol's
          ``10 log10(255**2 / MSE)`` on [0, 255]; ``inf`` when the aligned pair is identical.
        - ``ssim``: :func:`wang_ssim` of the aligned pair (``ssim.m``: 'valid' filtering,
          automatic downsampling). For images under 384 px (Levin's 225 px crops) it
          equals :func:`inrdeblur.metrics.fidelity.ssim` up to rounding; the protocol's
          own variant is used so Lai-sized images match published numbers too.
        - ``shift``: ``[dy, dx]`` px applied to the estimate (module docstring).
        - ``ssd``: aligned sum of squared differences over pixels and channels, [0, 1] units.
        - ``crop``, ``max_shift``, ``step``: the protocol settings used.
    """
    result = align(estimate, reference, crop=crop, max_shift=max_shift, step=step)
    return {
        "psnr": psnr(result.aligned, result.reference, data_range=1.0),
        "ssim": wang_ssim(result.aligned, result.reference, data_range=1.0),
        "shift": [result.shift[0], result.shift[1]],
        "ssd": result.ssd,
        "crop": int(crop),
        "max_shift": float(max_shift),
        "step": float(step),
    }


def error_ratio(
    estimate: np.ndarray,
    reference: np.ndarray,
    estimate_with_true_kernel: np.ndarray,
    crop: int = CROP,
    max_shift: float = MAX_SHIFT,
    step: float = STEP,
) -> float:
    """Levin et al.'s error ratio ``||x_hat - x|| / ||x_gtk - x||`` after alignment.

    Each estimate is aligned to the cropped reference on its own (``statistic_levin.m``),
    so the ratio is ``sqrt(ssd(estimate) / ssd(estimate_with_true_kernel))`` of two
    :func:`align` results; callers holding both :func:`aligned_metrics` dicts can take
    that ratio of their ``ssd`` values instead of aligning again. 1 means as good as
    non-blind deconvolution with the true kernel.

    Args:
        estimate: the blind result, ``(H, W)`` or ``(H, W, C)`` in [0, 1].
        reference: the ground truth, same shape.
        estimate_with_true_kernel: the non-blind deconvolution with the true kernel.
        crop, max_shift, step: see :func:`align`.

    Returns:
        The ratio; ``inf`` if only the true-kernel estimate matches the reference exactly,
        1.0 if both do (equal, zero errors).
    """
    num = align(estimate, reference, crop=crop, max_shift=max_shift, step=step).ssd
    den = align(estimate_with_true_kernel, reference, crop=crop, max_shift=max_shift, step=step).ssd
    if den == 0.0:
        return 1.0 if num == 0.0 else math.inf
    return math.sqrt(num / den)


def _wang_window() -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', 11, 1.5)`` (the 2-D window is its outer
    product), normalised to sum 1."""
    r = WANG_WINDOW // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(x * x) / (2.0 * WANG_SIGMA**2))
    return g / g.sum()


def _valid_filter(image: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(taps' * taps, image, 'valid')`` for a separable symmetric window."""
    view = np.lib.stride_tricks.sliding_window_view
    rows = view(image, taps.size, axis=0) @ taps
    return view(rows, taps.size, axis=1) @ taps


def _box_decimate(image: np.ndarray, factor: int) -> np.ndarray:
    """MATLAB ``imfilter(image, ones(f)/f^2, 'symmetric', 'same')`` then ``(1:f:end, 1:f:end)``.

    MATLAB puts the centre of an even filter at ``floor((f + 1) / 2)``, so output pixel
    ``i`` averages inputs ``i - (c - 1)`` ... ``i + (f - c)`` (0-based, ``c`` 1-based).
    """
    centre = (factor + 1) // 2
    before, after = centre - 1, factor - centre
    padded = np.pad(image, ((before, after), (before, after)), mode="symmetric")
    view = np.lib.stride_tricks.sliding_window_view
    box = view(padded, (factor, factor)).mean(axis=(2, 3))
    return box[::factor, ::factor]


def _wang_ssim_2d(x: np.ndarray, y: np.ndarray, data_range: float, downsample: bool) -> float:
    rows, cols = x.shape
    if rows < WANG_WINDOW or cols < WANG_WINDOW:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got shape {x.shape}")
    factor = max(1, math.floor(min(rows, cols) / 256 + 0.5)) if downsample else 1
    if factor > 1:
        x, y = _box_decimate(x, factor), _box_decimate(y, factor)
    c1 = (WANG_K1 * data_range) ** 2
    c2 = (WANG_K2 * data_range) ** 2
    taps = _wang_window()
    mu_x = _valid_filter(x, taps)
    mu_y = _valid_filter(y, taps)
    var_x = _valid_filter(x * x, taps) - mu_x * mu_x
    var_y = _valid_filter(y * y, taps) - mu_y * mu_y
    cov = _valid_filter(x * y, taps) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    return float(ssim_map.mean())


def wang_ssim(
    estimate: np.ndarray,
    reference: np.ndarray,
    data_range: float = 1.0,
    downsample: bool = True,
) -> float:
    """SSIM as Zhou Wang's ``ssim.m`` (2009, "with automatic downsampling") computes it.

    Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 13(4), 2004. 11x11 Gaussian window
    (sigma 1.5, normalised), ``K1 = 0.01``, ``K2 = 0.03``, ``L = data_range``, local
    statistics by 'valid' filtering (no padding) and the mean of the SSIM map. With
    ``downsample``, images are first box-filtered (symmetric padding) and decimated by
    ``f = max(1, round(min(H, W) / 256))`` as ``ssim.m`` does; ``f`` is 1 below 384 px.
    Colour images: the mean over channels (``ssim.m`` takes gray only).

    Args:
        estimate: ``(H, W)`` or ``(H, W, C)`` float image; H, W >= 11.
        reference: same shape.
        data_range: ``L``, the peak-to-peak range (1 for [0, 1]; the protocol's 255 on
            [0, 255] images gives the same value).
        downsample: apply ``ssim.m``'s automatic downsampling.
    """
    est = _as_chw(estimate, "estimate")
    ref = _as_chw(reference, "reference")
    if est.shape != ref.shape:
        raise ValueError(
            f"estimate and reference differ in shape: estimate {np.shape(estimate)}, "
            f"reference {np.shape(reference)}"
        )
    data_range = float(data_range)
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a finite positive number, got {data_range}")
    values = [_wang_ssim_2d(e, r, data_range, downsample) for e, r in zip(est, ref, strict=True)]
    return float(np.mean(values))
