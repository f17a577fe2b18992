"""Image priors for INR fits: which one a recipe selects, and the coordinate TV.

Types (``methods.<m>.regulariser.type``):

- ``tv``: :func:`coordinate_tv` (or, same value, :func:`spatial_gradient_tv`) below, for
  INRs whose output is differentiable with respect to the coordinates; for the others (the
  tiny-cuda-nn hash grid, a dictionary field with nearest sampling) the finite-difference
  TV of the rendered latent, in the same units.
- ``filter``: the finite-difference TV (:func:`inrdeblur.methods.inr.priors.finite_difference_tv`).
- ``cnn_prior``: a deep-image-prior reparameterisation, image = CNN(INR), the CNN trained
  jointly (:class:`inrdeblur.methods.inr.priors.CNNPrior`).
- ``reference_random_cnn``: the reference code's frozen random-CNN penalty, kept only to
  reproduce published numbers (:class:`inrdeblur.methods.inr.priors.ReferenceRandomCNNPenalty`).
- ``none``: the data term alone.

``tv`` is the L1 norm of the INR's spatial gradient, the exact derivative with respect to
the input coordinates (so it sees the continuous field, not just pixel differences).
Coordinates span [-1, 1] over the latent grid, so one pixel is ``2 / (n - 1)`` coordinate
units; the gradient is rescaled to intensity per pixel, which makes the weight independent
of image size and comparable with finite-difference TV.
Like the reference implementation, the gradient is that of the channel sum R + G + B, a
luminance TV: by autograd, one extra backward pass instead of three.

Two ways to get that gradient, same value: models with a ``forward_with_spatial_grad``
method (the pure-PyTorch hash grid) return their output with the exact derivatives d/dx,
d/dy of its channel sum, computed without a graph through the coordinates, and
:func:`spatial_gradient_tv` takes the TV of those, so the loss needs one ordinary
backward; for the others, :func:`coordinate_tv` takes the gradient by autograd with
``create_graph=True`` and the loss is backpropagated through that (a double backward).
"""

from __future__ import annotations

import torch

REGULARISERS = ("tv", "filter", "cnn_prior", "reference_random_cnn", "none")


def has_coordinate_gradients(model: torch.nn.Module) -> bool:
    """False for INRs whose output has no (or a zero) gradient w.r.t. the coordinates."""
    if getattr(model, "backend", None) == "tcnn":
        return False
    return getattr(model, "sample_mode", None) != "nearest"


def has_spatial_gradients(model: torch.nn.Module) -> bool:
    """Whether ``model.forward_with_spatial_grad(coords, channel_sum=True)`` gives the output
    and the exact coordinate derivatives of its channel sum (then :func:`spatial_gradient_tv`
    replaces :func:`coordinate_tv`)."""
    return has_coordinate_gradients(model) and callable(
        getattr(model, "forward_with_spatial_grad", None)
    )


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


def spatial_gradient_tv(
    dout_dx: torch.Tensor, dout_dy: torch.Tensor, pixel_pitch: tuple[float, float]
) -> torch.Tensor:
    """:func:`coordinate_tv` from the output's derivatives, without autograd through coords.

    Args:
        dout_dx, dout_dy: (N, C) derivatives of the INR output w.r.t. the coordinates x and y,
            or (N,) those of its channel sum, e.g. from
            ``model.forward_with_spatial_grad(coords, channel_sum=True)``.
        pixel_pitch: coordinate distance between neighbouring pixels along (x, y).
    """
    grad = torch.stack((dout_dx, dout_dy), dim=1)
    if grad.dim() == 3:
        grad = grad.sum(dim=2)
    pitch = torch.tensor(pixel_pitch, dtype=grad.dtype, device=grad.device)
    return (grad * pitch).abs().sum(dim=1).mean()
