"""Build the blur operator a blur recipe (``blurs.<name>`` of params.yaml) describes.

Synthesis, the non-blind fits and the blur-formation experiment all build their operator
here, so the image a fit explains is blurred by exactly the operator it was made with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inrdeblur.blur.operator import BlurOperator
from inrdeblur.blur.trajectory import Trajectory

MODELS = ("uniform", "icb", "pwb")


def build_operator(
    settings: dict[str, Any],
    image_shape: tuple[int, int],
    *,
    kernel: np.ndarray | None = None,
    depth: np.ndarray | None = None,
    trajectory: Trajectory | None = None,
    intrinsics: np.ndarray | None = None,
) -> BlurOperator:
    """The operator of a validated blur recipe.

    Args:
        settings: ``blurs.<name>`` with defaults filled (``model`` and its keys).
        image_shape: (H, W) of the blurry image.
        kernel: (k_h, k_w) kernel of a 'uniform' blur.
        depth: (H, W) metres, for 'icb' and 'pwb'.
        trajectory: camera motion, for 'icb' and 'pwb'.
        intrinsics: (3, 3) pinhole K in pixels, for 'icb' and 'pwb'.
    """
    model = settings["model"]
    if model == "uniform":
        from inrdeblur.blur.uniform import UniformBlur

        if kernel is None:
            raise ValueError("uniform blur: a kernel is required")
        return UniformBlur(kernel, image_shape)
    if model not in MODELS:
        raise ValueError(f"model: unknown blur model {model!r} (known: {', '.join(MODELS)})")
    missing = [
        name
        for name, value in (
            ("depth", depth),
            ("trajectory", trajectory),
            ("intrinsics", intrinsics),
        )
        if value is None
    ]
    if missing:
        raise ValueError(f"{model} blur: needs {', '.join(missing)} of the scene")
    if tuple(depth.shape) != tuple(image_shape):
        raise ValueError(
            f"{model} blur: depth {depth.shape} does not match the image {image_shape}"
        )
    if model == "icb":
        from inrdeblur.blur.icb import ICBBlur

        return ICBBlur.from_scene(
            depth,
            trajectory,
            focal_px=(float(intrinsics[0, 0]), float(intrinsics[1, 1])),
            blur_diff=settings["blur_diff"],
            sigma=settings["matte_sigma"],
            max_layers=settings["max_layers"],
        )
    from inrdeblur.blur.pwb import PWBBlur

    return PWBBlur.from_scene(depth, trajectory, intrinsics)
