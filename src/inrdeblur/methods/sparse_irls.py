"""Method type ``sparse_irls``: deconvolution with a sparse (hyper-Laplacian) derivative
prior, by iteratively reweighted least squares (Levin, Fergus, Durand and Freeman 2007).

This is the non-blind deconvolution behind the known-kernel rows of Levin et al. (2009)
and the final step of many blind methods. The latent x (1, C, h, w), the sharp image
extended by the operator's margin, approximately minimises

    ||A x - y||^2 + lambda * sum_f s_f * sum |F_f x|^alpha,   lambda = 2 w0 weight / alpha,

where A is the blur operator in its 'valid' form (no boundary assumption; the same forward
model as every other method), ``alpha`` the ``exponent`` (0.8) and F_f five finite-difference
filters applied inside the latent only (no padding): first differences along columns and
rows (s_f = 1), second differences along columns and rows and the mixed difference
(s_f = 1/4).

It is solved as the reference does (``deconvSps``):

1. one weighted least-squares solve with unit weights on all five filters, i.e. the
   Gaussian prior ``weight * sum_f ||F_f x||^2``;
2. ``reweightings`` (2) further solves of
   ``||A x - y||^2 + weight * sum_f ||sqrt(W_f) F_f x||^2`` with weights from the previous
   solution, ``W_f = s_f w0 max(|F_f x|, epsilon)^(alpha - 2)``, w0 = 0.1, epsilon = 0.01.

At a fixed point of step 2 (and where ``|F_f x| > epsilon``) the gradient of the weighted
least squares equals that of the objective above, which is where lambda comes from. Each
solve runs ``cg_iterations`` (200) conjugate-gradient iterations on its normal equations
``(A^T A + weight sum_f F_f^T W_f F_f) x = A^T y``, started from the observation extended
to the latent by replicating its border (every solve restarts there, as in the reference);
a channel stops early only if its residual vanishes. Channels are independent systems with
their own step lengths. Everything is float64 on the recipe's device.

The estimate is the H x W crop of x inside the margin. Recipe keys: ``weight`` (> 0,
required), ``exponent`` (0 < alpha < 2, default 0.8), ``reweightings`` (>= 0, default 2),
``cg_iterations`` (default 200), ``epsilon`` (default 0.01), ``device``.

Trace, one row per CG iteration over all solves: ``data_loss`` = ``||A x - y||^2``,
``reg_loss`` = ``sum_f s_f sum |F_f x|^alpha`` and ``loss = data_loss + lambda * reg_loss``
(the objective above, also during the first, Gaussian solve), ``lr`` NaN. ``extra``:
``iterations_run`` (all solves), ``solves``, ``weight``, ``exponent``, ``prior_weight``
(lambda), ``relative_residual`` (the largest over channels of the true final residual of
the last solve's normal equations over ``||A^T y||``).

Deterministic: the seed is unused, and the checkpoint arguments are accepted and ignored.
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
    per_channel,
    positive_float,
    positive_int,
    replicate_start,
)

DEFAULT_EXPONENT = 0.8
DEFAULT_REWEIGHTINGS = 2
DEFAULT_CG_ITERATIONS = 200
DEFAULT_EPSILON = 0.01
#: scale of the reweighted passes' weights against the first pass's unit weights
REWEIGHT_SCALE = 0.1

#: the five derivative filters as stencils ``(row, column, coefficient)`` with their
#: prior scale s_f: first differences along columns and rows, second differences along
#: columns and rows, the mixed second difference
FILTERS: tuple[tuple[tuple[tuple[int, int, float], ...], float], ...] = (
    (((0, 0, -1.0), (0, 1, 1.0)), 1.0),
    (((0, 0, -1.0), (1, 0, 1.0)), 1.0),
    (((0, 0, -1.0), (0, 1, 2.0), (0, 2, -1.0)), 0.25),
    (((0, 0, -1.0), (1, 0, 2.0), (2, 0, -1.0)), 0.25),
    (((0, 0, -1.0), (0, 1, 1.0), (1, 0, 1.0), (1, 1, -1.0)), 0.25),
)


def _extent(stencil: tuple[tuple[int, int, float], ...]) -> tuple[int, int]:
    """(rows, columns) the stencil spans."""
    return max(r for r, _, _ in stencil) + 1, max(c for _, c, _ in stencil) + 1


def apply_filter(x: torch.Tensor, stencil: tuple[tuple[int, int, float], ...]) -> torch.Tensor:
    """The stencil applied to ``x`` (..., h, w) where it fits entirely: (..., h - kh + 1,
    w - kw + 1), ``out[i, j] = sum coeff * x[i + row, j + column]``."""
    kh, kw = _extent(stencil)
    h, w = x.shape[-2] - kh + 1, x.shape[-1] - kw + 1
    out = None
    for r, c, coeff in stencil:
        term = coeff * x[..., r : r + h, c : c + w]
        out = term if out is None else out + term
    return out


def apply_filter_adjoint(
    g: torch.Tensor, stencil: tuple[tuple[int, int, float], ...]
) -> torch.Tensor:
    """Adjoint of :func:`apply_filter`: (..., h', w') -> (..., h' + kh - 1, w' + kw - 1)."""
    kh, kw = _extent(stencil)
    h, w = g.shape[-2], g.shape[-1]
    out = g.new_zeros((*g.shape[:-2], h + kh - 1, w + kw - 1))
    for r, c, coeff in stencil:
        out[..., r : r + h, c : c + w] += coeff * g
    return out


def sparse_penalty(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """``sum_f s_f sum |F_f x|^alpha`` of a (1, C, h, w) latent, as a 0-d tensor."""
    total = x.new_zeros(())
    for stencil, scale in FILTERS:
        total = total + scale * apply_filter(x, stencil).abs().pow(exponent).sum()
    return total


def irls_weights(x: torch.Tensor, exponent: float, epsilon: float) -> list[torch.Tensor]:
    """The reweighted passes' ``W_f = s_f w0 max(|F_f x|, epsilon)^(alpha - 2)``."""
    return [
        scale
        * REWEIGHT_SCALE
        * apply_filter(x, stencil).abs().clamp_min(epsilon).pow(exponent - 2.0)
        for stencil, scale in FILTERS
    ]


def unit_weights(x: torch.Tensor) -> list[torch.Tensor]:
    """The first pass's weights: ones on every filter output."""
    return [torch.ones_like(apply_filter(x, stencil)) for stencil, _ in FILTERS]


def weighted_derivatives(weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``sum_f F_f^T W_f F_f x`` for a (1, C, h, w) latent ``x``: the prior's part of the
    normal matrix."""
    out = torch.zeros_like(x)
    for (stencil, _), w in zip(FILTERS, weights, strict=True):
        out = out + apply_filter_adjoint(w * apply_filter(x, stencil), stencil)
    return out


def weighted_normal_matrix(
    operator: BlurOperator, weight: float, weights: list[torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """``(A^T A + weight sum_f F_f^T W_f F_f) x`` for a (1, C, h, w) latent ``x``."""
    return operator.adjoint(operator(x)) + weight * weighted_derivatives(weights, x)


@dataclass
class SparseSolution:
    """The result of :func:`solve_sparse_irls`.

    Attributes:
        latent: (1, C, h, w) estimate.
        iterations: CG iterations run, all solves together.
        solves: weighted least-squares solves run (1 + reweightings).
        relative_residual: (C,) true relative residuals of the last solve at its end.
    """

    latent: torch.Tensor
    iterations: int
    solves: int
    relative_residual: list[float]


def prior_weight(weight: float, exponent: float) -> float:
    """lambda of the objective the reweighted solves approach: ``2 w0 weight / alpha``."""
    return 2.0 * REWEIGHT_SCALE * weight / exponent


def solve_sparse_irls(
    y: torch.Tensor,
    operator: BlurOperator,
    weight: float,
    *,
    exponent: float = DEFAULT_EXPONENT,
    reweightings: int = DEFAULT_REWEIGHTINGS,
    cg_iterations: int = DEFAULT_CG_ITERATIONS,
    epsilon: float = DEFAULT_EPSILON,
    callback: SolverCallback | None = None,
) -> SparseSolution:
    """Sparse-prior deconvolution by IRLS (module docstring).

    Args:
        y: (1, C, H, W) observation, of the operator's dtype and device (float64 advised).
        operator: the blur A, ``image_shape == (H, W)``, with an adjoint.
        weight: > 0, the weight of the weighted squared derivatives.
        exponent: alpha in (0, 2).
        reweightings: reweighted solves after the first, Gaussian one.
        cg_iterations: CG iterations per solve.
        epsilon: floor of ``|F_f x|`` in the weights.
        callback: called after every CG iteration with ``(x, loss, data_loss, reg_loss)``.

    Returns:
        The :class:`SparseSolution`.
    """
    b = operator.adjoint(y)
    b_norm = channel_dot(b, b).sqrt()
    b_norm = torch.where(b_norm > 0, b_norm, torch.ones_like(b_norm))
    lam = prior_weight(weight, exponent)
    start = replicate_start(y, operator)
    weights = unit_weights(start)
    iterations = 0
    for solve in range(reweightings + 1):
        x = start.clone()
        ax = operator(x)
        r = b - weighted_normal_matrix(operator, weight, weights, x)
        p = r.clone()
        rr = channel_dot(r, r)
        active = rr > 0
        for _ in range(cg_iterations):
            if not bool(active.any()):
                break
            ap = operator(p)
            mp = operator.adjoint(ap) + weight * weighted_derivatives(weights, p)
            pmp = channel_dot(p, mp)
            alpha = torch.where(active, rr / torch.where(active, pmp, 1.0), 0.0)
            x += per_channel(alpha, x) * p
            ax += per_channel(alpha, ax) * ap
            r -= per_channel(alpha, r) * mp
            rr_new = channel_dot(r, r)
            beta = torch.where(active, rr_new / torch.where(active, rr, 1.0), 0.0)
            p = r + per_channel(beta, p) * p
            rr = torch.where(active, rr_new, rr)
            active = active & (rr > 0)
            iterations += 1
            if callback is not None:
                data_loss = torch.sum((ax - y) ** 2).item()
                reg_loss = sparse_penalty(x, exponent).item()
                callback(x, data_loss + lam * reg_loss, data_loss, reg_loss)
        if solve < reweightings:  # the next solve's weights; the last keeps its own
            weights = irls_weights(x, exponent, epsilon)
    residual = b - weighted_normal_matrix(operator, weight, weights, x)
    relative = (channel_dot(residual, residual).sqrt() / b_norm).tolist()
    return SparseSolution(x, iterations, reweightings + 1, relative)


class SparseIRLS(ClassicalMethod):
    """Hyper-Laplacian deconvolution by IRLS (:func:`solve_sparse_irls`); see the module
    docstring."""

    type = "sparse_irls"

    def __init__(self, recipe: dict[str, Any]):
        super().__init__(recipe)
        self.weight = positive_float(recipe, "weight")
        self.exponent = positive_float(recipe, "exponent", DEFAULT_EXPONENT)
        if not self.exponent < 2.0:
            raise ValueError(f"exponent: must be in (0, 2), got {self.exponent!r}")
        reweightings = recipe.get("reweightings", DEFAULT_REWEIGHTINGS)
        zero = reweightings == 0 and not isinstance(reweightings, bool)
        self.reweightings = (
            0 if zero else positive_int(recipe, "reweightings", DEFAULT_REWEIGHTINGS)
        )
        self.cg_iterations = positive_int(recipe, "cg_iterations", DEFAULT_CG_ITERATIONS)
        self.epsilon = positive_float(recipe, "epsilon", DEFAULT_EPSILON)
        self.iterations = (self.reweightings + 1) * self.cg_iterations
        self.device = device_name(recipe)

    def solve(
        self, y: torch.Tensor, operator: BlurOperator, callback: SolverCallback
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        solution = solve_sparse_irls(
            y,
            operator,
            self.weight,
            exponent=self.exponent,
            reweightings=self.reweightings,
            cg_iterations=self.cg_iterations,
            epsilon=self.epsilon,
            callback=callback,
        )
        return solution.latent, {
            "iterations_run": solution.iterations,
            "solves": solution.solves,
            "weight": self.weight,
            "exponent": self.exponent,
            "prior_weight": prior_weight(self.weight, self.exponent),
            "relative_residual": max(solution.relative_residual),
        }


METHOD = SparseIRLS
