"""Per-pixel error maps for figures.

Follows the figures of the ParallaxICB reference code (``icb_spec.md`` §6.6): the absolute
difference of the luma images, shown with matplotlib's ``hot`` colormap saturating at 0.2.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LUMA_WEIGHTS", "colour_error", "error_indices", "error_map", "error_map_rgb"]

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
    return colour_error(error_map(estimate, reference), vmax)


def error_indices(error: np.ndarray, vmax: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """An ``(H, W)`` error map as ``hot`` colormap entries: ``(indices, palette)``, the
    ``(H, W)`` uint8 entry of every pixel and the ``(N, 3)`` float64 RGB table;
    ``palette[indices]`` is :func:`colour_error` of the map (a palette image, a third of
    the size of the RGB one as a PNG)."""
    if not vmax > 0:
        raise ValueError(f"vmax must be positive, got {vmax}")
    import matplotlib

    cmap = matplotlib.colormaps["hot"]
    scaled = np.clip(np.asarray(error, dtype=np.float64) / float(vmax), 0.0, 1.0)
    # Colormap.__call__'s own lookup: floor(x N), the top end folded into the last entry.
    indices = np.minimum((scaled * cmap.N).astype(np.int64), cmap.N - 1).astype(np.uint8)
    palette = np.asarray(cmap(np.arange(cmap.N))[:, :3], dtype=np.float64)
    return indices, palette


def colour_error(error: np.ndarray, vmax: float = 0.2) -> np.ndarray:
    """An ``(H, W)`` error map coloured with matplotlib's ``hot`` colormap over
    ``[0, vmax]``, as :func:`error_map_rgb` colours it; ``(H, W, 3)`` float64 in [0, 1]."""
    indices, palette = error_indices(error, vmax)
    return palette[indices]
