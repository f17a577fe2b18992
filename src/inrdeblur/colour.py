"""Colour conversions shared by the dataset readers and the metrics.

>>> float(rgb_to_y(np.ones((1, 1, 3)))[0, 0]) * 255
235.0
"""

from __future__ import annotations

import numpy as np


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """Luma Y of MATLAB ``rgb2ycbcr`` for a float RGB image in [0, 1] (ITU-R BT.601).

    ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``, in [16/255, 235/255]; the
    conversion ``statistic_lai.m`` applies to colour images before ``comp_upto_shift``.

    Args:
        image: ``(H, W, 3)`` float RGB in [0, 1].

    Returns:
        ``(H, W)`` float64.
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"rgb_to_y: expected an (H, W, 3) RGB image, got shape {arr.shape}")
    weights = np.array([65.481, 128.553, 24.966])
    return (16.0 + arr @ weights) / 255.0
