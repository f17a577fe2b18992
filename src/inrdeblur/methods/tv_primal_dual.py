"""Method type ``tv_primal_dual``: total-variation deconvolution by the Chambolle-Pock
primal-dual algorithm.

The latent x (1, C, h, w), the sharp image extended by the operator's margin, minimises

    P(x) = 0.5 ||A x - y||^2 + weight * TV(x)   (+ the indicator of [0, 1] with ``box``)

where A is the blur operator in its 'valid' form ((1, C, h, w) -> the (1, C, H, W)
observation y, no boundary assumption) and TV the isotropic total variation of each
channel, ``sum_pixels sqrt((D_r x)^2 + (D_c x)^2)`` with forward differences and a zero
difference on the last row / column (the discretisation of Chambolle 2004,
:func:`~inrdeblur.methods.classical.gradient`). Sums run over all pixels and channels; the
channels are independent (colour is not coupled in the TV).

Solver: PDHG, Chambolle and Pock (2011), "A first-order primal-dual algorithm for convex
problems with applications to imaging", Algorithm 1 with theta = 1, for
``min_x F(K x) + G(x)`` with ``K = [A; grad]``, ``F(u, g) = 0.5 ||u - y||^2 + weight
||g||_{2,1}`` and G the indicator of the box [0, 1] (``box: true``) or 0:

    p <- (p + sigma (A xbar - y)) / (1 + sigma)                  (prox of sigma F1*)
    q <- proj_{|q_i| <= weight}(q + sigma grad xbar)             (prox of sigma F2*, per pixel)
    x_new <- clamp(x - tau (A^T p + grad^T q), 0, 1)             (prox of tau G; no clamp
                                                                  without ``box``)
    xbar <- 2 x_new - x

Step sizes tau = sigma = 0.99 / L, with L the estimate of ||K|| from 30 power iterations
on K^T K from a fixed deterministic start (:func:`operator_norm`; ||K||^2 <= ||A||^2 + 8).
A and grad are linear, so ``A xbar`` and ``grad xbar`` are formed from the new and old
``A x`` and ``grad x``: one iteration costs one application of A and one of A^T. Start:
x0 = the observation extended to the latent by replicating its border (clamped to the box
with ``box``), duals 0. A fixed number of iterations, no stopping rule. Everything is
float64 on the recipe's device.

The estimate is the H x W crop of x inside the margin. Recipe keys: ``weight`` (> 0,
required), ``iterations`` (default 500), ``box`` (default true), ``device`` ('auto', 'cpu'
or 'cuda'; default 'auto').

Trace, one row per iteration, at the new primal iterate: ``loss`` = P(x), ``data_loss`` =
``0.5 ||A x - y||^2``, ``reg_loss`` = TV(x) (unweighted, so ``loss = data_loss + weight *
reg_loss``), ``lr`` NaN. ``extra``: ``iterations_run``, ``tau``, ``sigma``,
``operator_norm`` (L), ``weight``, ``box``.

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
    gradient,
    gradient_adjoint,
    positive_float,
    positive_int,
    replicate_start,
)

DEFAULT_ITERATIONS = 500
#: power iterations of the ||K|| estimate
POWER_ITERATIONS = 30
#: tau = sigma = STEP_FACTOR / ||K||, so that tau sigma ||K||^2 < 1
STEP_FACTOR = 0.99


@dataclass
class TVSolution:
    """The result of :func:`solve_tv_primal_dual`.

    Attributes:
        latent: (1, C, h, w) primal iterate.
        dual_data: (1, C, H, W) dual variable of the data term (p).
        dual_gradient: (1, C, 2, h, w) dual variable of the TV term (q), ``|q_i| <= weight``.
        tau, sigma: primal and dual step sizes.
        operator_norm: the estimate L of ||K|| the steps were set from.
        iterations: iterations run.
    """

    latent: torch.Tensor
    dual_data: torch.Tensor
    dual_gradient: torch.Tensor
    tau: float
    sigma: float
    operator_norm: float
    iterations: int


def pixel_norms(g: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of every pixel's 2-vector of a (..., 2, h, w) field: (..., h, w)."""
    return torch.linalg.vector_norm(g, dim=-3)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Isotropic TV of a (..., h, w) tensor: the sum of the per-pixel gradient norms
    (forward differences, 0 on the last row / column), over all leading dimensions."""
    return pixel_norms(gradient(x)).sum()


def start_vector(shape: tuple[int, int], *, dtype: torch.dtype, device: torch.device | str):
    """The deterministic (1, 1, h, w) start of the power iteration: ones (the top singular
    vector of a blur) plus a checkerboard (near the top one of grad) plus a slanted cosine
    that breaks every symmetry; no random numbers."""
    h, w = shape
    i = torch.arange(h, dtype=dtype, device=device)[:, None]
    j = torch.arange(w, dtype=dtype, device=device)[None, :]
    checker = 1.0 - 2.0 * ((i + j) % 2)
    v = 1.0 + 0.5 * checker + 0.25 * torch.cos(0.7 * i + 1.3 * j + 0.1)
    return v[None, None]


def operator_norm(
    operator: BlurOperator,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    iterations: int = POWER_ITERATIONS,
) -> float:
    """Estimate ``||K||``, ``K = [A; grad]`` on one latent channel, by ``iterations`` power
    iterations on ``K^T K`` from :func:`start_vector`; returns ``||K v||`` for the last unit
    vector v (a lower bound of the norm that converges to it)."""
    v = start_vector(operator.latent_shape, dtype=dtype, device=device)
    v = v / torch.linalg.vector_norm(v)
    for _ in range(iterations):
        v = operator.adjoint(operator(v)) + gradient_adjoint(gradient(v))
        v = v / torch.linalg.vector_norm(v)
    squared = torch.sum(operator(v) ** 2) + torch.sum(gradient(v) ** 2)
    return math.sqrt(squared.item())


def project_dual(q: torch.Tensor, radius: float) -> torch.Tensor:
    """Project every pixel's 2-vector of a (..., 2, h, w) dual onto the ball ``|q_i| <= radius``."""
    return q / torch.clamp(pixel_norms(q)[..., None, :, :] / radius, min=1.0)


def solve_tv_primal_dual(
    y: torch.Tensor,
    operator: BlurOperator,
    weight: float,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    box: bool = True,
    x0: torch.Tensor | None = None,
    norm: float | None = None,
    callback: SolverCallback | None = None,
) -> TVSolution:
    """Minimise ``0.5 ||A x - y||^2 + weight TV(x)`` (over the box [0, 1] with ``box``) by
    Chambolle-Pock PDHG; see the module docstring.

    Args:
        y: (1, C, H, W) observation, of the operator's dtype and device (float64 advised).
        operator: the blur A, ``image_shape == (H, W)``, with an adjoint.
        weight: > 0, the TV weight.
        iterations: iterations to run.
        box: constrain x to [0, 1].
        x0: (1, C, h, w) start; default the replicate-padded observation (clamped with
            ``box``).
        norm: ``||K||`` to set the steps from; default :func:`operator_norm`.
        callback: called after every iteration with ``(x, loss, data_loss, reg_loss)``.

    Returns:
        The :class:`TVSolution`.
    """
    if norm is None:
        norm = operator_norm(operator, dtype=y.dtype, device=y.device)
    tau = sigma = STEP_FACTOR / norm
    x = (replicate_start(y, operator) if x0 is None else x0).clone()
    if box:
        x.clamp_(0.0, 1.0)
    ax, gx = operator(x), gradient(x)
    ax_bar, gx_bar = ax, gx
    p = torch.zeros_like(y)
    q = torch.zeros_like(gx)
    for _ in range(iterations):
        p = (p + sigma * (ax_bar - y)) / (1.0 + sigma)
        q = project_dual(q + sigma * gx_bar, weight)
        x_new = x - tau * (operator.adjoint(p) + gradient_adjoint(q))
        if box:
            x_new.clamp_(0.0, 1.0)
        ax_new, gx_new = operator(x_new), gradient(x_new)
        ax_bar, gx_bar = 2.0 * ax_new - ax, 2.0 * gx_new - gx
        x, ax, gx = x_new, ax_new, gx_new
        if callback is not None:
            data_loss = 0.5 * torch.sum((ax - y) ** 2).item()
            reg_loss = pixel_norms(gx).sum().item()
            callback(x, data_loss + weight * reg_loss, data_loss, reg_loss)
    return TVSolution(x, p, q, tau, sigma, norm, iterations)


class TVPrimalDual(ClassicalMethod):
    """Total-variation deconvolution by Chambolle-Pock (:func:`solve_tv_primal_dual`); see
    the module docstring."""

    type = "tv_primal_dual"

    def __init__(self, recipe: dict[str, Any]):
        super().__init__(recipe)
        self.weight = positive_float(recipe, "weight")
        self.iterations = positive_int(recipe, "iterations", DEFAULT_ITERATIONS)
        box = recipe.get("box", True)
        if not isinstance(box, bool):
            raise ValueError(f"box: must be true or false, got {box!r}")
        self.box = box
        self.device = device_name(recipe)

    def solve(
        self, y: torch.Tensor, operator: BlurOperator, callback: SolverCallback
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        solution = solve_tv_primal_dual(
            y,
            operator,
            self.weight,
            iterations=self.iterations,
            box=self.box,
            callback=callback,
        )
        return solution.latent, {
            "iterations_run": solution.iterations,
            "tau": solution.tau,
            "sigma": solution.sigma,
            "operator_norm": solution.operator_norm,
            "weight": self.weight,
            "box": self.box,
        }


METHOD = TVPrimalDual
