"""Image priors for INR fits.

``tv`` is the L1 norm of the INR's spatial gradient, taken by automatic differentiation
with respect to the input coordinates (so it sees the continuous field, not just pixel
differences). Coordinates span [-1, 1] over the latent grid, so one pixel is
``2 / (n - 1)`` coordinate units; the gradient is rescaled to intensity per pixel, which
makes the weight independent of image size and comparable with finite-difference TV.
Like the reference implementation, the gradient is that of the channel sum R + G + B, a
luminance TV that costs one extra backward pass instead of three.
"""

from __future__ import annotations

import torch

REGULARISERS = ("tv", "none")


def coordinate_tv(
    output: torch.Tensor, coords: torch.Tensor, pixel_pitch: tuple[float, float]
) -> torch.Tensor:
    """Mean over points of |d(sum_c f_c)/dx| + |d(sum_c f_c)/dy|, in intensity per pixel.

    Args:
        output: (N, C) INR output computed from ``coords`` (which must require grad).
        coords: (N, 2) coordinates ``(x, y)``.
        pixel_pitch: coordinate distance between neighbouring pixels along (x, y).
    """
    (grad,) = torch.autograd.grad(output.sum(), coords, create_graph=True)
    pitch = torch.tensor(pixel_pitch, dtype=grad.dtype, device=grad.device)
    return (grad * pitch).abs().sum(dim=1).mean()
