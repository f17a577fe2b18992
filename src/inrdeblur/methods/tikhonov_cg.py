"""Method type ``tikhonov_cg``: least squares with a gradient penalty, by conjugate gradients.

The latent x (1, C, h, w), the sharp image extended by the operator's margin, minimises

    ||A x - y||^2 + weight * ||D x||^2

(sums over all pixels and channels), where A is the blur operator in its 'valid' form
((1, C, h, w) -> the (1, C, H, W) observation y, no boundary assumption) and D the forward
differences between neighbouring latent pixels along rows and columns, (h - 1) w + h (w - 1)
of them per channel, no wrap-around (:func:`~inrdeblur.methods.classical.gradient`). The
minimiser solves the normal equations

    (A^T A + weight D^T D) x = A^T y,

a symmetric positive definite system (D^T D is the Neumann Laplacian, whose kernel, the
constants, A does not annihilate), which is solved by the conjugate gradient method
(Hestenes and Stiefel 1952) from x0 = the observation extended to the latent by replicating
its border. The channels are independent systems: each has its own CG step lengths and
stops on its own, when its relative residual ``||r_k|| / ||A^T y||`` (the recursively
updated residual) reaches ``tolerance``; the run stops when every channel has, or after
``max_iterations``. One iteration costs one application of A and one of A^T. Everything is
float64 on the recipe's device.

The estimate is the H x W crop of x inside the margin. Recipe keys: ``weight`` (> 0,
required), ``max_iterations`` (default 1000), ``tolerance`` (default 1e-6), ``device``
('auto', 'cpu' or 'cuda'; default 'auto').

Trace, one row per CG iteration: ``loss`` = the objective above, ``data_loss`` =
``||A x - y||^2``, ``reg_loss`` = ``||D x||^2`` (unweighted, so ``loss = data_loss +
weight * reg_loss``), ``lr`` NaN. ``extra``: ``iterations_run``, ``converged``,
``relative_residual`` (the largest over channels of the *true* final residual
``||A^T y - (A^T A + weight D^T D) x|| / ||A^T y||``), ``weight``, ``tolerance``.

The solver is deterministic, so the seed is unused; it finishes in seconds, so checkpoint
arguments are accepted and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from inrdeblur.blur.operator import BlurOperator
from inrdeblur.methods.classical import (
    ClassicalMethod,
    SolverCallback,
    channel_dot,
    device_name,
    gradient,
    gradient_adjoint,
    per_channel,
    positive_float,
    positive_int,
    replicate_start,
)

DEFAULT_MAX_ITERATIONS = 1000
DEFAULT_TOLERANCE = 1e-6


@dataclass
class TikhonovSolution:
    """The result of :func:`solve_tikhonov_cg`.

    Attributes:
        latent: (1, C, h, w) solution estimate.
        iterations: CG iterations run.
        converged: every channel reached the tolerance (by the recursive residual).
        relative_residual: (C,) true relative residuals ``||b - M x|| / ||b||`` at the end.
    """

    latent: torch.Tensor
    iterations: int
    converged: bool
    relative_residual: list[float]


def normal_matrix(operator: BlurOperator, weight: float, x: torch.Tensor) -> torch.Tensor:
    """``(A^T A + weight D^T D) x`` for a (1, C, h, w) latent ``x``."""
    return operator.adjoint(operator(x)) + weight * gradient_adjoint(gradient(x))


def solve_tikhonov_cg(
    y: torch.Tensor,
    operator: BlurOperator,
    weight: float,
    *,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    tolerance: float = DEFAULT_TOLERANCE,
    x0: torch.Tensor | None = None,
    callback: SolverCallback | None = None,
) -> TikhonovSolution:
    """Minimise ``||A x - y||^2 + weight ||D x||^2`` by CG on the normal equations.

    Args:
        y: (1, C, H, W) observation, of the operator's dtype and device (float64 advised).
        operator: the blur A, ``image_shape == (H, W)``, with an adjoint.
        weight: > 0, the weight of the squared gradient.
        max_iterations: most CG iterations.
        tolerance: stop a channel when ``||r_k|| / ||A^T y||`` <= this.
        x0: (1, C, h, w) start; default the replicate-padded observation.
        callback: called after every iteration with ``(x, loss, data_loss, reg_loss)``.

    Returns:
        The :class:`TikhonovSolution`.
    """
    b = operator.adjoint(y)
    x = (replicate_start(y, operator) if x0 is None else x0).clone()
    ax, dx = operator(x), gradient(x)
    r = b - operator.adjoint(ax) - weight * gradient_adjoint(dx)
    p = r.clone()
    rr = channel_dot(r, r)
    b_norm = channel_dot(b, b).sqrt()
    b_norm = torch.where(b_norm > 0, b_norm, torch.ones_like(b_norm))
    active = rr.sqrt() / b_norm > tolerance
    iterations = 0
    while iterations < max_iterations and bool(active.any()):
        ap, dp = operator(p), gradient(p)
        mp = operator.adjoint(ap) + weight * gradient_adjoint(dp)
        pmp = channel_dot(p, mp)
        # Converged channels are frozen: step 0, and no division by their zero residual.
        alpha = torch.where(active, rr / torch.where(active, pmp, 1.0), 0.0)
        x += per_channel(alpha, x) * p
        ax += per_channel(alpha, ax) * ap
        dx += per_channel(alpha, dx) * dp
        r -= per_channel(alpha, r) * mp
        rr_new = channel_dot(r, r)
        beta = torch.where(active, rr_new / torch.where(active, rr, 1.0), 0.0)
        p = r + per_channel(beta, p) * p
        rr = torch.where(active, rr_new, rr)
        active = active & (rr.sqrt() / b_norm > tolerance)
        iterations += 1
        if callback is not None:
            data_loss = torch.sum((ax - y) ** 2).item()
            reg_loss = torch.sum(dx**2).item()
            callback(x, data_loss + weight * reg_loss, data_loss, reg_loss)
    residual = b - normal_matrix(operator, weight, x)
    relative = (channel_dot(residual, residual).sqrt() / b_norm).tolist()
    return TikhonovSolution(x, iterations, not bool(active.any()), relative)


class TikhonovCG(ClassicalMethod):
    """Tikhonov (squared-gradient) deconvolution by conjugate gradients
    (:func:`solve_tikhonov_cg`); see the module docstring."""

    type = "tikhonov_cg"

    def __init__(self, recipe: dict[str, Any]):
        super().__init__(recipe)
        self.weight = positive_float(recipe, "weight")
        self.max_iterations = positive_int(recipe, "max_iterations", DEFAULT_MAX_ITERATIONS)
        self.iterations = self.max_iterations
        self.tolerance = positive_float(recipe, "tolerance", DEFAULT_TOLERANCE)
        self.device = device_name(recipe)

    def solve(
        self, y: torch.Tensor, operator: BlurOperator, callback: SolverCallback
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        solution = solve_tikhonov_cg(
            y,
            operator,
            self.weight,
            max_iterations=self.max_iterations,
            tolerance=self.tolerance,
            callback=callback,
        )
        return solution.latent, {
            "iterations_run": solution.iterations,
            "converged": solution.converged,
            "relative_residual": max(solution.relative_residual),
            "weight": self.weight,
            "tolerance": self.tolerance,
        }


METHOD = TikhonovCG
