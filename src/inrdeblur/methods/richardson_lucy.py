"""Method type ``richardson_lucy``: Richardson-Lucy deconvolution with the operator and its
adjoint.

Richardson (1972) and Lucy (1974); the EM algorithm for the Poisson likelihood (Shepp and
Vardi 1982). The latent x (1, C, h, w), the sharp image extended by the operator's margin,
is iterated under the 'valid' forward model A ((1, C, h, w) -> the (1, C, H, W)
observation, no boundary assumption):

    x_{k+1} = x_k * A^T(y / max(A x_k, epsilon)) / A^T 1

with y the observation clamped below at ``epsilon`` (RL needs positive data) and the
products and quotients pointwise. In the 'valid' model ``A^T 1`` (how much of each latent
pixel the observation reads) is below 1 near the latent's border, so the update divides by
it; a latent pixel that no observed pixel reads (``A^T 1`` = 0, up to a relative
:data:`UNREAD` of its largest value: e.g. a corner of a motion kernel's support whose tap is
0) keeps its value. The ratio ``A^T(...)`` is clamped at 0 to absorb round-off of FFT-based
operators, so the iterates stay non-negative (positive, for a positive start). Start: every
latent pixel of a channel equals the mean of that channel's clamped observation (the
standard flat start). Each channel is independent. A fixed number of iterations (RL's
iteration count is its regularisation). One iteration costs one application of A and one of
A^T. Everything is float64 on the recipe's device.

The estimate is the H x W crop of x inside the margin. Recipe keys: ``iterations`` (default
30), ``epsilon`` (> 0, default 1e-6), ``device`` ('auto', 'cpu' or 'cuda'; default 'auto').

Trace, one row per iteration, at the new iterate: ``loss`` = ``data_loss`` = the Poisson
negative log-likelihood per observed value, ``sum(A x - y log A x) / (H W C)`` with the
clamped y and the floored ``A x`` (the y-only constant ``sum(log y!)`` left out, so it can
be negative), which RL does not increase; ``reg_loss`` and ``lr`` NaN. ``extra``:
``iterations_run``, ``epsilon``, ``unread_pixels`` (latent values kept for ``A^T 1`` = 0).

The solver is deterministic, so the seed is unused; it finishes in seconds, so checkpoint
arguments are accepted and ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from inrdeblur.blur.operator import BlurOperator
from inrdeblur.methods.classical import (
    ClassicalMethod,
    SolverCallback,
    device_name,
    positive_float,
    positive_int,
)

DEFAULT_ITERATIONS = 30
DEFAULT_EPSILON = 1e-6
#: a latent pixel with ``A^T 1`` <= UNREAD * max(A^T 1) counts as read by no observed pixel
UNREAD = 1e-12


@dataclass
class RLSolution:
    """The result of :func:`solve_richardson_lucy`.

    Attributes:
        latent: (1, C, h, w) final iterate, >= 0.
        iterations: iterations run.
        unread_pixels: latent values (all channels) that no observed pixel reads, kept at
            their start value.
    """

    latent: torch.Tensor
    iterations: int
    unread_pixels: int


def poisson_nll(ax: torch.Tensor, y: torch.Tensor) -> float:
    """``sum(ax - y log ax) / y.numel()``: the Poisson negative log-likelihood per observed
    value, without the constant ``sum(log y!)``; ``ax`` and ``y`` must be positive."""
    return (torch.sum(ax - y * torch.log(ax)) / y.numel()).item()


def solve_richardson_lucy(
    y: torch.Tensor,
    operator: BlurOperator,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    epsilon: float = DEFAULT_EPSILON,
    callback: SolverCallback | None = None,
) -> RLSolution:
    """Run ``iterations`` Richardson-Lucy iterations; see the module docstring.

    Args:
        y: (1, C, H, W) observation, of the operator's dtype and device (float64 advised).
        operator: the blur A, ``image_shape == (H, W)``, non-negative, with an adjoint.
        iterations: iterations to run.
        epsilon: > 0, the floor of the observation and of ``A x``.
        callback: called after every iteration with ``(x, nll, nll, nan)``.

    Returns:
        The :class:`RLSolution`.
    """
    y = y.clamp_min(epsilon)
    read = operator.adjoint(torch.ones_like(y))
    seen = read > UNREAD * read.max()
    read = torch.where(seen, read, torch.ones_like(read))
    lat_h, lat_w = operator.latent_shape
    x = y.mean(dim=(-2, -1), keepdim=True).expand(*y.shape[:-2], lat_h, lat_w).contiguous()
    ax = operator(x).clamp_min(epsilon)
    for _ in range(iterations):
        ratio = operator.adjoint(y / ax).clamp_min(0.0)
        x = torch.where(seen, x * ratio / read, x)
        ax = operator(x).clamp_min(epsilon)
        if callback is not None:
            nll = poisson_nll(ax, y)
            callback(x, nll, nll, math.nan)
    return RLSolution(x, iterations, int((~seen).sum().item()))


class RichardsonLucy(ClassicalMethod):
    """Richardson-Lucy deconvolution (:func:`solve_richardson_lucy`); see the module
    docstring."""

    type = "richardson_lucy"

    def __init__(self, recipe: dict[str, Any]):
        super().__init__(recipe)
        self.iterations = positive_int(recipe, "iterations", DEFAULT_ITERATIONS)
        self.epsilon = positive_float(recipe, "epsilon", DEFAULT_EPSILON)
        self.device = device_name(recipe)

    def solve(
        self, y: torch.Tensor, operator: BlurOperator, callback: SolverCallback
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        solution = solve_richardson_lucy(
            y, operator, iterations=self.iterations, epsilon=self.epsilon, callback=callback
        )
        return solution.latent, {
            "iterations_run": solution.iterations,
            "epsilon": self.epsilon,
            "unread_pixels": solution.unread_pixels,
        }


METHOD = RichardsonLucy
