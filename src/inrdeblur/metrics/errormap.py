"""Per-pixel error maps for figures.

Follows the figures of the ParallaxICB reference code (``icb_spec.md`` §6.6): the absolute
difference of the luma images, shown with matplotlib's ``hot`` colormap saturating at 0.2.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LUMA_WEIGHTS", "error_map", "error_map_rgb"]

#: ITU-R BT.601 luma weights for R, G, B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _gray(image: np.ndarray, name: str) -> np.ndarray:
    """``(H, W)`` float64 luma of an ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` image."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr @ np.asarray(LUMA_WEIGHTS, dtype=np.float64)
    raise ValueError(f"{name}: expected (H, W), (H, W, 1) or (H, W, 3), got shape {arr.shape}")


def error_map(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Absolute luma difference ``|gray(estimate) - gray(reference)|``.

    Args:
        estimate: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` float image in [0, 1]. RGB is
            converted with the weights 0.299, 0.587, 0.114; gray passes through.
        reference: same shape as ``estimate``.

    Returns:
        ``(H, W)`` float64 map, in [0, 1] for inputs in [0, 1].

    >>> error_map(np.full((1, 1, 3), 0.5), np.zeros((1, 1, 3)))
    array([[0.5]])
    """
    est = np.asarray(estimate)
    ref = np.asarray(reference)
    if est.shape != ref.shape:
        raise ValueError(
            f"estimate and reference differ in shape: estimate {est.shape}, reference {ref.shape}"
        )
    return np.abs(_gray(est, "estimate") - _gray(ref, "reference"))


def error_map_rgb(estimate: np.ndarray, reference: np.ndarray, vmax: float = 0.2) -> np.ndarray:
    """:func:`error_map` coloured with matplotlib's ``hot`` colormap over ``[0, vmax]``.

    Errors of ``vmax`` or more saturate to white.

    Returns:
        ``(H, W, 3)`` float64 RGB image in [0, 1].
    """
    if not vmax > 0:
        raise ValueError(f"vmax must be positive, got {vmax}")
    import matplotlib

    err = error_map(estimate, reference)
    scaled = np.clip(err / float(vmax), 0.0, 1.0)
    rgba = matplotlib.colormaps["hot"](scaled)
    return np.asarray(rgba[..., :3], dtype=np.float64)
