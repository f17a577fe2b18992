"""Image priors for INR fits: the registry of regulariser types, and the coordinate TV.

Types (``methods.<m>.regulariser.type``), each a :class:`Regulariser` subclass in
:data:`REGULARISERS` (:func:`build_regulariser` makes one):

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

from typing import Any, ClassVar

import torch

from inrdeblur.methods.inr.priors import CNNPrior, ReferenceRandomCNNPenalty, finite_difference_tv


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


class Regulariser:
    """One regulariser of an INR fit: what it adds to the loss and how it shapes the image.

    The fit's loss is ``data_term + weight * loss(...)``. Per step the fit renders the INR
    at ``points`` (with ``requires_grad`` when :attr:`point_grad`; through
    ``forward_with_spatial_grad`` when :attr:`spatial_grads`), passes the latent through
    :meth:`image`, and calls :meth:`step` after the optimiser's step. Trainable modules
    go into :meth:`parameter_groups` (and ``trained``, which counts towards the fit's
    size); every module whose state a checkpoint must keep is in ``modules``.

    Args:
        settings: the validated ``regulariser`` section.
        model: the INR being fitted.
        channels: the image's channels.
        iterations: the fit's iterations.
        whole: whether every step sees the whole image (no tiles).
        device: where the fit runs.
        description: prefix of error messages.
    """

    type: ClassVar[str] = ""

    def __init__(
        self,
        settings: dict[str, Any],
        *,
        model: torch.nn.Module,
        channels: int,
        iterations: int,
        whole: bool,
        device: torch.device,
        description: str = "fit",
    ):
        self.settings = settings
        self.weight = float(settings.get("weight", 0.0))
        self.device = device
        self.point_grad = False
        self.spatial_grads = False
        self.modules: dict[str, torch.nn.Module] = {}
        self.trained: list[torch.nn.Module] = []

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Optimiser parameter groups of trainable regulariser modules (after the INR's)."""
        return []

    def image(self, latent: torch.Tensor) -> torch.Tensor:
        """The image the data term sees, from the INR's (1, C, H', W') latent."""
        return latent

    def loss(
        self,
        output: torch.Tensor,
        points: torch.Tensor,
        image: torch.Tensor,
        spatial_grads: list[torch.Tensor],
        pitch: tuple[float, float],
    ) -> torch.Tensor:
        """The regulariser's value (0-d): from the INR ``output`` (N, C) at ``points``
        (N, 2), the ``image``, or the channel sum's coordinate derivatives."""
        return torch.zeros((), device=self.device)

    def step(self) -> None:
        """Advance any schedule of the regulariser by one iteration."""


class TotalVariation(Regulariser):
    """``tv``: the coordinate TV where the INR has coordinate gradients (from its own
    derivatives when it provides them), else the finite-difference TV; off at weight 0."""

    type = "tv"

    def __init__(self, settings: dict[str, Any], *, model: torch.nn.Module, **context: Any):
        super().__init__(settings, model=model, **context)
        on = self.weight > 0
        coordinate = on and has_coordinate_gradients(model)
        self.spatial_grads = coordinate and has_spatial_gradients(model)
        self.point_grad = coordinate and not self.spatial_grads
        self.finite_difference = on and not coordinate

    def loss(self, output, points, image, spatial_grads, pitch):
        if self.spatial_grads:
            return spatial_gradient_tv(*spatial_grads, pitch)
        if self.point_grad:
            return coordinate_tv(output, points, pitch)
        if self.finite_difference:
            return finite_difference_tv(image)
        return super().loss(output, points, image, spatial_grads, pitch)


class FilterTotalVariation(Regulariser):
    """``filter``: the finite-difference TV of the rendered image; off at weight 0."""

    type = "filter"

    def loss(self, output, points, image, spatial_grads, pitch):
        if self.weight > 0:
            return finite_difference_tv(image)
        return super().loss(output, points, image, spatial_grads, pitch)


class CNNReparameterisation(Regulariser):
    """``cnn_prior``: image = CNN(INR output), the CNN trained jointly with its own
    learning rate (:class:`~inrdeblur.methods.inr.priors.CNNPrior`); whole images only."""

    type = "cnn_prior"

    def __init__(self, settings: dict[str, Any], **context: Any):
        super().__init__(settings, **context)
        if not context["whole"]:
            raise ValueError(
                f"{context.get('description', 'fit')}: the cnn_prior regulariser needs the "
                "whole image (fit.tile: 0)"
            )
        self.prior = CNNPrior(
            channels=context["channels"],
            mix_start=settings["mix_start"],
            warmup_iterations=round(settings["warmup_fraction"] * context["iterations"]),
        ).to(self.device)
        self.modules = {"prior": self.prior}
        self.trained = [self.prior]

    def parameter_groups(self):
        return [{"params": list(self.prior.parameters()), "lr": self.settings["lr"]}]

    def image(self, latent):
        return self.prior(latent)

    def step(self):
        self.prior.step()


class ReferenceRandomCNN(Regulariser):
    """``reference_random_cnn``: the reference code's frozen random-CNN penalty
    (:class:`~inrdeblur.methods.inr.priors.ReferenceRandomCNNPenalty`); off at weight 0."""

    type = "reference_random_cnn"

    def __init__(self, settings: dict[str, Any], **context: Any):
        super().__init__(settings, **context)
        self.penalty = None
        if self.weight > 0:
            self.penalty = ReferenceRandomCNNPenalty(channels=context["channels"]).to(self.device)
            self.modules = {"penalty": self.penalty}

    def loss(self, output, points, image, spatial_grads, pitch):
        if self.penalty is not None:
            return self.penalty(image)
        return super().loss(output, points, image, spatial_grads, pitch)


class NoRegulariser(Regulariser):
    """``none``: the data term alone."""

    type = "none"


#: regulariser type -> class
REGULARISERS: dict[str, type[Regulariser]] = {
    cls.type: cls
    for cls in (
        TotalVariation,
        FilterTotalVariation,
        CNNReparameterisation,
        ReferenceRandomCNN,
        NoRegulariser,
    )
}


def build_regulariser(settings: dict[str, Any], **context: Any) -> Regulariser:
    """The :class:`Regulariser` of a validated ``regulariser`` section; ``context`` as
    :class:`Regulariser` takes it."""
    kind = settings["type"]
    if kind not in REGULARISERS:
        raise ValueError(
            f"regulariser.type: unknown type {kind!r} (known: {', '.join(REGULARISERS)})"
        )
    return REGULARISERS[kind](settings, **context)
