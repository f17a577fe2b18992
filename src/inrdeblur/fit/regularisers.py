"""Image priors for INR fits: which one a recipe selects, and the autograd TV.

Types (``methods.<m>.regulariser.type``):

- ``tv``: :func:`coordinate_tv` below, for INRs whose output is differentiable with respect
  to the coordinates; for the others (the tiny-cuda-nn hash grid, a dictionary field with
  nearest sampling) the finite-difference TV of the rendered latent, in the same units.
- ``filter``: the finite-difference TV (:func:`inrdeblur.fit.priors.finite_difference_tv`).
- ``cnn_prior``: a deep-image-prior reparameterisation, image = CNN(INR), the CNN trained
  jointly (:class:`inrdeblur.fit.priors.CNNPrior`).
- ``reference_random_cnn``: the reference code's frozen random-CNN penalty, kept only to
  reproduce published numbers (:class:`inrdeblur.fit.priors.ReferenceRandomCNNPenalty`).
- ``none``: the data term alone.

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

REGULARISERS = ("tv", "filter", "cnn_prior", "reference_random_cnn", "none")


def has_coordinate_gradients(model: torch.nn.Module) -> bool:
    """False for INRs whose output has no (or a zero) gradient w.r.t. the coordinates."""
    if getattr(model, "backend", None) == "tcnn":
        return False
    return getattr(model, "sample_mode", None) != "nearest"


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
