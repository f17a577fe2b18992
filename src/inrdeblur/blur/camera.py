"""Checks of the camera geometry every depth-aware blur model reads: depth and intrinsics."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def validate_depth(
    depth: np.ndarray | torch.Tensor, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """``depth`` as a float64 (H, W) array of metres, after checking it is finite and > 0.

    Raises ``ValueError`` naming ``depth`` and counting the NaN, infinite and <= 0 pixels;
    nothing is clamped or repaired. ``shape``, when given, is the image's (H, W).
    """
    if isinstance(depth, torch.Tensor):
        depth = depth.detach().cpu().numpy()
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2 or min(d.shape) < 1:
        raise ValueError(f"depth: must be a 2-D (H, W) map in metres, got shape {d.shape}")
    if shape is not None and d.shape != tuple(shape):
        raise ValueError(f"depth: shape {d.shape} does not match the image's {tuple(shape)}")
    n_nan = int(np.count_nonzero(np.isnan(d)))
    n_inf = int(np.count_nonzero(np.isinf(d)))
    n_nonpositive = int(np.count_nonzero(d <= 0))
    if n_nan or n_inf or n_nonpositive:
        raise ValueError(
            f"depth: must be finite and > 0 metres; {n_nan} NaN, {n_inf} infinite and "
            f"{n_nonpositive} <= 0 of {d.size} pixels"
        )
    return d


def validate_intrinsics(intrinsics: np.ndarray | torch.Tensor) -> np.ndarray:
    """``intrinsics`` as a float64 pinhole ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` (px).

    Raises ``ValueError`` naming ``intrinsics`` for a wrong shape, non-finite entries,
    focal lengths <= 0 or a matrix that is not of the pinhole form.
    """
    if isinstance(intrinsics, torch.Tensor):
        intrinsics = intrinsics.detach().cpu().numpy()
    k = np.asarray(intrinsics, dtype=np.float64)
    if k.shape != (3, 3):
        raise ValueError(f"intrinsics: K must be a 3x3 matrix in pixels, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("intrinsics: K has non-finite entries")
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        raise ValueError(
            f"intrinsics: focal lengths must be > 0 px, got fx = {k[0, 0]:.6g}, fy = {k[1, 1]:.6g}"
        )
    if k[1, 0] != 0 or not np.array_equal(k[2], [0.0, 0.0, 1.0]):
        raise ValueError(
            "intrinsics: K must be a pinhole matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]], "
            f"got {k.tolist()}"
        )
    return k


def scene_geometry(
    model: str, image_shape: tuple[int, int], inputs: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The checked ``depth`` (H, W) and ``intrinsics`` (3, 3) of the scene inputs of the
    depth-aware blur ``model``; the depth must have the blurry image's size."""
    try:
        depth = validate_depth(inputs["depth"], image_shape)
    except ValueError as err:
        raise ValueError(f"{model} blur: {err}") from err
    return depth, validate_intrinsics(inputs["intrinsics"])
