"""Full-reference fidelity metrics: PSNR and SSIM.

Both take the estimate first and the reference second, images ``(H, W)`` or ``(H, W, C)``
float in [0, 1], and an explicit ``data_range``. Nothing is clipped here; the caller clips
the estimate if it wants clipped numbers. Computation is in float64 whatever the input
dtype.

Unlike the ParallaxICB reference code, the SSIM data range is never inferred from the dtype
(skimage 0.19 used 2 for float images, which inflates SSIM), see ``icb_spec.md`` §6.6.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["psnr", "ssim"]

#: SSIM Gaussian window (Wang et al. 2004): sigma in pixels, truncation in sigmas.
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
#: Window radius in pixels, as scipy's ``gaussian_filter`` computes it: 5 (an 11x11 window).
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(estimate: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate an image pair and return both as float64 arrays."""
    est = np.asarray(estimate, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if est.shape != ref.shape:
        raise ValueError(
            f"estimate and reference differ in shape: estimate {est.shape}, reference {ref.shape}"
        )
    if est.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W) or (H, W, C), got shape {est.shape}")
    if est.size == 0:
        raise ValueError(f"empty image of shape {est.shape}")
    for name, arr in (("estimate", est), ("reference", ref)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} holds non-finite values (NaN or inf)")
    return est, ref


def _check_data_range(data_range: float) -> float:
    data_range = float(data_range)
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a finite positive number, got {data_range}")
    return data_range


def psnr(estimate: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB.

    ``PSNR = 10 log10(data_range**2 / MSE)`` with the MSE taken over all pixels and
    channels. Returns ``+inf`` for identical images.

    Args:
        estimate: ``(H, W)`` or ``(H, W, C)`` float image, nominally in [0, 1].
        reference: same shape as ``estimate``.
        data_range: peak-to-peak range of the pixel values (1 for images in [0, 1]).

    Raises:
        ValueError: on a shape mismatch or non-finite values.

    >>> x = np.zeros((4, 4)); psnr(x + 0.1, x)
    20.0
    """
    est, ref = _check_pair(estimate, reference)
    data_range = _check_data_range(data_range)
    mse = float(np.mean((est - ref) ** 2))
    if mse == 0.0:
        return math.inf
    return float(10.0 * math.log10(data_range**2 / mse))


def _gaussian_window_filter(image: np.ndarray) -> np.ndarray:
    """Gaussian filter (sigma 1.5, radius 5) with mirror ('reflect') boundaries."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(image, sigma=SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")


def _ssim_channel(x: np.ndarray, y: np.ndarray, c1: float, c2: float) -> float:
    """Mean SSIM of one channel ``(H, W)`` over the region the window fully covers."""
    mu_x = _gaussian_window_filter(x)
    mu_y = _gaussian_window_filter(y)
    # Population (biased) local moments: E[xx] - E[x]^2.
    var_x = _gaussian_window_filter(x * x) - mu_x * mu_x
    var_y = _gaussian_window_filter(y * y) - mu_y * mu_y
    cov_xy = _gaussian_window_filter(x * y) - mu_x * mu_y
    ssim_map = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    r = SSIM_RADIUS
    return float(ssim_map[r:-r, r:-r].mean())


def ssim(estimate: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Structural similarity index (Wang et al. 2004, IEEE TIP 13(4)), in [-1, 1].

    Gaussian-weighted local statistics (sigma 1.5 px, 11x11 window), ``K1 = 0.01``,
    ``K2 = 0.03``, population covariance. The SSIM map is computed per channel, cropped by
    the window radius (5 px) on each side and averaged, then averaged over channels. This
    equals ``skimage.metrics.structural_similarity(estimate, reference,
    data_range=data_range, channel_axis=-1, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` for float64 input.

    Args:
        estimate: ``(H, W)`` or ``(H, W, C)`` float image, nominally in [0, 1]; H and W at
            least 11.
        reference: same shape as ``estimate``.
        data_range: peak-to-peak range of the pixel values (1 for images in [0, 1]); always
            explicit, never inferred from the dtype.

    Raises:
        ValueError: on a shape mismatch, non-finite values or an image smaller than 11x11.
    """
    est, ref = _check_pair(estimate, reference)
    data_range = _check_data_range(data_range)
    win = 2 * SSIM_RADIUS + 1
    if est.shape[0] < win or est.shape[1] < win:
        raise ValueError(f"SSIM needs images of at least {win}x{win} pixels, got shape {est.shape}")
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    if est.ndim == 2:
        return _ssim_channel(est, ref, c1, c2)
    per_channel = [_ssim_channel(est[..., c], ref[..., c], c1, c2) for c in range(est.shape[2])]
    return float(np.mean(per_channel))
