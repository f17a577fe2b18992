"""Shared pieces of the classical non-blind baselines.

The method types ``tikhonov_cg`` (:mod:`inrdeblur.methods.tikhonov_cg`),
``tv_primal_dual`` (:mod:`inrdeblur.methods.tv_primal_dual`), ``richardson_lucy``
(:mod:`inrdeblur.methods.richardson_lucy`) and ``sparse_irls``
(:mod:`inrdeblur.methods.sparse_irls`) all optimise the *latent* image itself under
the same 'valid' forward model as the INR fits: the operator maps the
(1, C, H + top + bottom, W + left + right) latent to the (1, C, H, W) observation, so no
boundary condition is assumed, and the estimate is the H x W crop of the latent inside the
operator's margin. Channels are independent (every operator blurs each channel alike);
they are solved together as one (1, C, h, w) tensor. Everything is computed in float64 on
the recipe's device.

This module is not a method type (it defines no ``METHOD``). It holds:

- :func:`gradient` / :func:`gradient_adjoint`: forward differences of the latent along
  rows and columns (the discretisation of Chambolle 2004), and their adjoint (minus the
  divergence);
- :func:`double_operator`, :func:`image_tensor`, :func:`crop_latent`: the float64 copy of
  the operator, numpy (H, W, C) <-> torch (1, C, H, W), the estimate's crop;
- :func:`channel_dot`, :func:`per_channel`: per-channel inner products and step lengths
  of the conjugate-gradient solvers;
- :func:`run_classical`: the part of :meth:`Method.run` common to all of them (device,
  progress bar, trace rows, callback, :class:`~inrdeblur.methods.base.MethodResult`),
  around a solver function that reports each iteration through a :data:`SolverCallback`,
  and :class:`ClassicalMethod`, the base class whose ``run`` it is;
- small recipe readers (:func:`positive_float`, :func:`positive_int`, :func:`device_name`).
"""

from __future__ import annotations

import abc
import copy
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from inrdeblur.blur.operator import BlurOperator
from inrdeblur.methods.base import (
    IterationCallback,
    Method,
    MethodResult,
    Problem,
    psnr_torch,
    resolve_device,
)

#: the dtype every classical solver computes in
DTYPE = torch.float64

#: reports one iteration of a solver: ``(latent, loss, data_loss, reg_loss)``, the latent
#: (1, C, h, w) after the iteration and the objective (with its two terms; ``reg_loss`` NaN
#: where there is none) at that latent. An exception it raises stops the solver.
SolverCallback = Callable[[torch.Tensor, float, float, float], None]

#: a solver as :func:`run_classical` calls it: ``solve(y, operator, callback)`` with the
#: (1, C, H, W) float64 observation and the float64 operator on the same device; returns
#: the (1, C, h, w) latent and JSON-able facts for ``MethodResult.extra`` (``iterations_run``
#: included).
Solver = Callable[[torch.Tensor, BlurOperator, SolverCallback], tuple[torch.Tensor, dict[str, Any]]]


# -- finite differences ---------------------------------------------------------------


def gradient(x: torch.Tensor) -> torch.Tensor:
    """Forward differences of ``x`` (..., h, w) -> (..., 2, h, w).

    ``[..., 0, i, j] = x[i + 1, j] - x[i, j]`` (along rows) and
    ``[..., 1, i, j] = x[i, j + 1] - x[i, j]`` (along columns), 0 on the last row and
    column respectively: the discrete gradient of Chambolle (2004), with differences only
    between neighbouring pixels (no wrap-around). ``||gradient(x)||^2`` is the sum of the
    squared ``(h - 1) w + h (w - 1)`` neighbour differences.
    """
    g = x.new_zeros((*x.shape[:-2], 2, *x.shape[-2:]))
    g[..., 0, :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    g[..., 1, :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return g


def gradient_adjoint(g: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`gradient` (minus the divergence), (..., 2, h, w) -> (..., h, w).

    Only the entries :func:`gradient` can make non-zero are read (the last row of the row
    differences and the last column of the column differences are ignored), so
    ``<gradient(x), g> == <x, gradient_adjoint(g)>`` for every ``g``.
    """
    rows = g[..., 0, :-1, :]
    cols = g[..., 1, :, :-1]
    out = g.new_zeros(g.shape[:-3] + g.shape[-2:])
    out[..., :-1, :] -= rows
    out[..., 1:, :] += rows
    out[..., :, :-1] -= cols
    out[..., :, 1:] += cols
    return out


# -- tensors and operators ------------------------------------------------------------


def double_operator(operator: BlurOperator, device: torch.device | str) -> BlurOperator:
    """A float64 copy of ``operator`` on ``device``; the caller's operator is untouched."""
    return copy.deepcopy(operator).to(device=device, dtype=DTYPE)


def image_tensor(image: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """(H, W, C) numpy image -> (1, C, H, W) float64 tensor on ``device``."""
    array = np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1), dtype=np.float64)
    return torch.from_numpy(array)[None].to(device)


def crop_latent(latent: torch.Tensor, operator: BlurOperator) -> torch.Tensor:
    """The (..., H, W) part of a (..., h, w) latent inside the operator's margin: rows
    ``top:top + H``, columns ``left:left + W`` (the image the observation was blurred from)."""
    top, _, left, _ = operator.margin
    height, width = operator.image_shape
    return latent[..., top : top + height, left : left + width]


def channel_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-channel inner products of two (1, C, ...) tensors: (C,); the channels of a
    latent are independent systems with their own conjugate-gradient step lengths."""
    return (a * b).transpose(0, 1).reshape(a.shape[1], -1).sum(dim=1)


def per_channel(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(C,) -> a shape broadcasting against ``like`` (1, C, ...)."""
    return values.view(1, -1, *([1] * (like.ndim - 2)))


def replicate_start(y: torch.Tensor, operator: BlurOperator) -> torch.Tensor:
    """The observation (1, C, H, W) extended to the latent by replicating its border: the
    usual starting point of the latent (its crop is the blurry image itself)."""
    return operator.pad(y, "replicate")


# -- the common run ------------------------------------------------------------------


def run_classical(
    problem: Problem,
    solve: Solver,
    *,
    method_type: str,
    device: str,
    iterations: int,
    progress: bool = True,
    on_iteration: IterationCallback | None = None,
) -> MethodResult:
    """Run a classical solver on ``problem`` and package its :class:`MethodResult`.

    Resolves ``device`` ('auto' | 'cpu' | 'cuda'), copies the operator to float64 there,
    converts the observation, and calls ``solve(y, operator, callback)``. Each callback
    call appends one trace row (``iteration`` from 1, the solver's ``loss``,
    ``data_loss``, ``reg_loss``; ``psnr`` of the latent's crop against ``problem.sharp``,
    NaN without one; ``lr`` NaN; ``seconds`` since the start), advances the progress bar
    (``iterations`` long; a solver that stops early leaves it short) and is passed to
    ``on_iteration``. The estimate is the crop of the returned latent, (H, W, C) float32.

    Raises:
        ValueError: the problem has no operator.
        FloatingPointError: the solver reported a non-finite objective.
    """
    if problem.operator is None:
        raise ValueError(f"{problem.description}: a {method_type!r} method needs the blur operator")
    torch_device = resolve_device(device)
    start = time.perf_counter()
    operator = double_operator(problem.operator, torch_device)
    y = image_tensor(problem.blurry, torch_device)
    sharp = image_tensor(problem.sharp, torch_device) if problem.sharp is not None else None
    trace: list[dict[str, float]] = []
    bar = tqdm(total=iterations, desc=problem.description, disable=not progress, mininterval=1.0)

    def record(latent: torch.Tensor, loss: float, data_loss: float, reg_loss: float) -> None:
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"{problem.description}: objective became {loss} at iteration {len(trace) + 1}"
            )
        row = {
            "iteration": len(trace) + 1,
            "loss": float(loss),
            "data_loss": float(data_loss),
            "reg_loss": float(reg_loss),
            "psnr": math.nan,
            "lr": math.nan,
            "seconds": time.perf_counter() - start,
        }
        if sharp is not None:
            row["psnr"] = psnr_torch(crop_latent(latent, operator), sharp)
            bar.set_postfix(psnr=f"{row['psnr']:.2f}", refresh=False)
        trace.append(row)
        bar.update(1)
        if on_iteration is not None:
            on_iteration(row)

    try:
        with torch.no_grad():
            latent, extra = solve(y, operator, record)
    finally:
        bar.close()
    estimate = crop_latent(latent, operator)[0].permute(1, 2, 0).cpu().numpy()
    if torch_device.type == "cuda":
        torch.cuda.synchronize()
    return MethodResult(
        estimate=np.ascontiguousarray(estimate, dtype=np.float32),
        trace=trace,
        time_s=time.perf_counter() - start,
        size_mb=0.0,
        n_parameters=int(latent.numel()),
        device=str(torch_device),
        extra=extra,
    )


class ClassicalMethod(Method):
    """Base of the classical baselines: :meth:`run` is :func:`run_classical` around
    :meth:`solve`.

    The solvers are deterministic, so the seed is unused, and they finish in seconds, so
    the checkpoint arguments are accepted and ignored. Subclasses read their recipe in
    ``__init__``, setting :attr:`device` and :attr:`iterations` (the most iterations, the
    progress bar's length), and implement :meth:`solve`.
    """

    device: str = "auto"
    iterations: int = 1

    @abc.abstractmethod
    def solve(
        self, y: torch.Tensor, operator: BlurOperator, callback: SolverCallback
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """A :data:`Solver`: the (1, C, h, w) latent for the (1, C, H, W) float64
        observation ``y`` and its facts for ``MethodResult.extra``."""

    def run(
        self,
        problem: Problem,
        seed: int,
        *,
        progress: bool = True,
        checkpoint_path: str | None = None,
        checkpoint_every: int = 0,
        checkpoint_seconds: float = 0,
        on_iteration: IterationCallback | None = None,
    ) -> MethodResult:
        return run_classical(
            problem,
            self.solve,
            method_type=self.type,
            device=self.device,
            iterations=self.iterations,
            progress=progress,
            on_iteration=on_iteration,
        )


# -- recipe readers -------------------------------------------------------------------


def positive_float(recipe: dict[str, Any], key: str, default: float | None = None) -> float:
    """``recipe[key]`` (or ``default`` when absent) as a finite float > 0."""
    value = recipe.get(key, default)
    if value is None:
        raise ValueError(f"{key}: required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{key}: must be a number > 0, got {value!r}")
    return float(value)


def positive_int(recipe: dict[str, Any], key: str, default: int) -> int:
    """``recipe[key]`` (or ``default`` when absent) as an integer >= 1."""
    value = recipe.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or int(value) != value
        or value < 1
    ):
        raise ValueError(f"{key}: must be an integer >= 1, got {value!r}")
    return int(value)


def device_name(recipe: dict[str, Any]) -> str:
    """``recipe["device"]``: 'auto' (the default), 'cpu' or 'cuda'."""
    value = recipe.get("device", "auto")
    if value not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device: must be 'auto', 'cpu' or 'cuda', got {value!r}")
    return value
