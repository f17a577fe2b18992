"""The loop shared by the blind methods, and the pieces of their losses.

A blind method estimates the sharp image and the kernel together. Every blind method
here follows the "valid" convention of the papers (methods spec, shared conventions):
the image generator paints a latent image larger than the observation by ``K - 1`` px per
axis (K the kernel-size bound), which :func:`~inrdeblur.blur.uniform.convolve` blurs
with the generated (K, K) kernel, without padding, to exactly the observation's size; the
estimate is the central H x W crop of the latent. A gray observation is one channel; an
RGB one shares the kernel across its channels.

A method type supplies a :class:`BlindProgram`, its networks, optimiser and loss
schedule, and :func:`fit_blind` runs it: seeding, checkpoints (every
``checkpoint_every`` iterations, every ``checkpoint_seconds``, at the end and on SIGTERM
or SIGUSR1, as in :mod:`inrdeblur.methods.checkpoint`), the trace, the progress bar and
the result. A resumed fit ends bit-identical to an uninterrupted one on the CPU with the
same thread count: the checkpoint holds every network, the optimiser and the RNG state.

The losses of the reference codes are here too: :func:`ssim_loss` (the PyTorch SSIM of
SelfDeblur's and the cross-scale INR's ``SSIM.py``), :func:`fft_l1` and
:func:`decimate`.
"""

from __future__ import annotations

import abc
import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from inrdeblur.blur.uniform import convolve
from inrdeblur.methods.base import (
    IterationCallback,
    Method,
    MethodResult,
    Problem,
    model_size_mb,
    psnr_torch,
    resolve_device,
)
from inrdeblur.methods.checkpoint import (
    Checkpointer,
    restore_rng,
    rng_state,
    trace_rows,
    trace_tensor,
)

#: the SSIM of the reference training code: Gaussian window, its sigma, K1 and K2
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


# -- loss pieces ------------------------------------------------------------------------


def _gaussian_window(channels: int, like: torch.Tensor) -> torch.Tensor:
    half = SSIM_WINDOW // 2
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64) - half
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    window = torch.outer(g, g).to(dtype=like.dtype, device=like.device)
    return window.expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()


def ssim_index(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two (B, C, H, W) images in [0, 1], as the reference training codes
    compute it: 11 x 11 Gaussian window (sigma 1.5), zero padding to the same size,
    C1 = 0.01^2, C2 = 0.03^2, per channel, averaged over the whole map. Differentiable.

    This is a loss, not the published metric (``metrics.aligned.wang_ssim``, 'valid'
    filtering): the padding lets border pixels count.
    """
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(
            f"ssim_index needs two equal (B, C, H, W) tensors, got {a.shape}, {b.shape}"
        )
    channels = a.shape[1]
    window = _gaussian_window(channels, a)
    pad = SSIM_WINDOW // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, padding=pad, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return (num / den).mean()


def ssim_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``1 - ssim_index(a, b)``."""
    return 1.0 - ssim_index(a, b)


def fft_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean modulus of the difference of the 2-D DFTs (unnormalised) of two (B, C, H, W)
    tensors: the cross-scale INR's ``M_c`` (paper eq. 13)."""
    return torch.mean(torch.abs(torch.fft.fft2(a) - torch.fft.fft2(b)))


def decimate(image: torch.Tensor) -> torch.Tensor:
    """Top-left decimation by 2 of a (..., H, W) tensor: rows and columns 0, 2, 4, ... of
    the first ``2 * floor(H / 2)`` x ``2 * floor(W / 2)``, as the cross-scale INR's code
    keeps them, -> (..., floor(H / 2), floor(W / 2)). Not an average (paper §3)."""
    h, w = image.shape[-2:]
    return image[..., : h // 2 * 2 : 2, : w // 2 * 2 : 2]


def blur_latent(latent: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """'valid' true convolution of a (B, C, H + K - 1, W + K - 1) latent with a (K, K)
    kernel shared by the channels -> (B, C, H, W)."""
    return convolve(latent, kernel, "valid")


def crop_latent(latent: torch.Tensor, kernel_size: int, shape: tuple[int, int]) -> torch.Tensor:
    """The (B, C, H, W) estimate inside a (B, C, H + K - 1, W + K - 1) latent:
    rows and columns from ``(K - 1) // 2``."""
    top = (kernel_size - 1) // 2
    return latent[..., top : top + shape[0], top : top + shape[1]]


def step_decay(base: float, iteration: int, milestones: list[int], gamma: float) -> float:
    """``base * gamma ** (number of milestones <= iteration)``: the learning rate of the
    reference codes' MultiStepLR at 0-based ``iteration``."""
    return base * gamma ** sum(1 for m in milestones if iteration >= m)


def noise_input(channels: int, shape: tuple[int, int], device: torch.device) -> torch.Tensor:
    """DIP's noise input: (1, channels, H, W) from U(0, 1) times 0.1 (``get_noise`` with
    ``var = 1/10``), drawn from the global RNG."""
    return torch.rand(1, channels, *shape, device=device) * 0.1


# -- the program interface ------------------------------------------------------------------


class BlindProgram(abc.ABC):
    """The networks, optimiser and loss schedule of one blind fit.

    Built by the method under the fit's torch seed (so the weights are drawn from it), on
    the (1, C, H, W) observation ``y`` and the odd kernel-size bound ``kernel_size``.
    Every blind method here has an image generator ``image_net`` and a kernel generator
    ``kernel_net``, trained by one Adam with a learning rate each (``lr_image``,
    ``lr_kernel``) that MultiStepLR halves at ``lr_milestones``: a subclass builds the two
    networks, then calls :meth:`make_optimiser`, and starts each :meth:`step` with
    :meth:`begin_step`.
    """

    #: total iterations of the fit
    iterations: int
    recipe: dict[str, Any]
    image_net: nn.Module
    kernel_net: nn.Module
    optimiser: torch.optim.Optimizer

    def make_optimiser(self) -> None:
        """Adam over the two generators, at the recipe's base learning rates."""
        self.base_lr = (float(self.recipe["lr_image"]), float(self.recipe["lr_kernel"]))
        self.optimiser = torch.optim.Adam(
            [
                {"params": self.image_net.parameters(), "lr": self.base_lr[0]},
                {"params": self.kernel_net.parameters(), "lr": self.base_lr[1]},
            ]
        )

    def begin_step(self, iteration: int) -> float:
        """Set the learning rates of 0-based ``iteration`` and clear the gradients; returns
        the image generator's rate (the trace's ``lr``)."""
        milestones = list(self.recipe["lr_milestones"])
        gamma = float(self.recipe["lr_gamma"])
        rates = [step_decay(base, iteration, milestones, gamma) for base in self.base_lr]
        for group, rate in zip(self.optimiser.param_groups, rates, strict=True):
            group["lr"] = rate
        self.optimiser.zero_grad(set_to_none=True)
        return rates[0]

    @property
    def networks(self) -> dict[str, nn.Module]:
        """The trained networks by name (their parameters are the fit's size)."""
        return {"image_net": self.image_net, "kernel_net": self.kernel_net}

    def state(self) -> dict[str, Any]:
        """Everything :meth:`load_state` needs to continue: networks and optimiser."""
        return {
            "image_net": self.image_net.state_dict(),
            "kernel_net": self.kernel_net.state_dict(),
            "optimiser": self.optimiser.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned."""
        self.image_net.load_state_dict(state["image_net"])
        self.kernel_net.load_state_dict(state["kernel_net"])
        self.optimiser.load_state_dict(state["optimiser"])

    @abc.abstractmethod
    def step(self, iteration: int) -> dict[str, Any]:
        """Run 0-based ``iteration``: forward, loss, backward, update. Returns ``loss``,
        ``data_loss``, ``reg_loss``, ``lr`` (floats; NaN where none) and ``estimate``:
        the (1, C, H, W) full-resolution estimate of this step, or None (a coarse-scale
        step) for the trace's PSNR."""

    @abc.abstractmethod
    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """After the last step: the (1, C, H, W) estimate and the (K, K) kernel."""

    def extra(self) -> dict[str, Any]:
        """Method-specific facts for the fit's meta."""
        return {}


def problem_kernel_size(problem: Problem, method: str) -> int:
    """The odd kernel-size bound a blind method uses, checked against the image."""
    size = problem.kernel_size
    if size is None:
        raise ValueError(
            f"{problem.description}: the blind method '{method}' needs a kernel-size bound "
            "(methods.<name>.kernel_size, or the dataset's bound)"
        )
    if isinstance(size, bool) or int(size) != size or size < 1 or size % 2 == 0:
        raise ValueError(
            f"{problem.description}: kernel_size must be an odd positive integer, got {size!r}"
        )
    height, width = problem.blurry.shape[:2]
    if size > min(height, width):
        raise ValueError(
            f"{problem.description}: kernel_size {size} is larger than the image ({height}x{width})"
        )
    return int(size)


def blind_fingerprint(
    problem: Problem, recipe: dict[str, Any], seed: int, kernel_size: int
) -> dict[str, Any]:
    """What identifies a blind fit: recipe hash, seed, the observation's SHA-256 and shape,
    and the kernel-size bound."""
    recipe_json = json.dumps(recipe, sort_keys=True, default=str)
    return {
        "recipe_sha256": hashlib.sha256(recipe_json.encode()).hexdigest(),
        "seed": int(seed),
        "blurry_shape": [int(n) for n in problem.blurry.shape],
        "blurry_sha256": problem.observation_sha256(),
        "kernel_size": int(kernel_size),
    }


def fit_blind(
    problem: Problem,
    recipe: dict[str, Any],
    seed: int,
    build: Callable[[torch.Tensor, int, torch.device], BlindProgram],
    device: torch.device,
    *,
    method: str,
    progress: bool = True,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    checkpoint_seconds: float = 0,
    on_iteration: Callable[[dict[str, float]], None] | None = None,
) -> MethodResult:
    """Run the :class:`BlindProgram` that ``build(y, kernel_size, device)`` makes.

    ``y`` is the (1, C, H, W) float32 observation on ``device``; ``build`` is called right
    after ``torch.manual_seed(seed)``. Checkpoint arguments as in
    :meth:`inrdeblur.methods.base.Method.run`; ``method`` names the type in messages.

    Raises:
        Preempted: a stop signal arrived; the iteration in progress was checkpointed.
        FloatingPointError: the loss became NaN or infinite (the message names the
            iteration).
    """
    kernel_size = problem_kernel_size(problem, method)
    description = problem.description
    height, width = problem.blurry.shape[:2]
    fingerprint_recipe = copy.deepcopy(recipe)
    fingerprint_recipe.pop("tuned_on", None)
    checkpointer = Checkpointer(
        checkpoint_path,
        blind_fingerprint(problem, fingerprint_recipe, seed, kernel_size),
        every=checkpoint_every,
        every_seconds=checkpoint_seconds,
    )
    start = time.perf_counter()
    y = torch.from_numpy(np.ascontiguousarray(problem.blurry.transpose(2, 0, 1)))[None]
    y = y.to(device=device, dtype=torch.float32)
    x_true = None
    if problem.sharp is not None:
        x_true = torch.from_numpy(np.ascontiguousarray(problem.sharp.transpose(2, 0, 1)))[None]
        x_true = x_true.to(device=device, dtype=torch.float32)
    torch.manual_seed(seed)
    program = build(y, kernel_size, device)
    iterations = int(program.iterations)

    trace: list[dict[str, float]] = []
    first, seconds_before = 0, 0.0
    saved = checkpointer.load()
    if saved is not None:
        program.load_state(saved["program"])
        restore_rng(saved, device)
        trace = trace_rows(saved["trace"])
        first, seconds_before = int(saved["iteration"]), float(saved["seconds"])

    with (
        checkpointer.stop_signals(),
        tqdm(
            range(first, iterations),
            desc=description,
            disable=not progress,
            mininterval=1.0,
            initial=first,
            total=iterations,
        ) as bar,
    ):
        for it in bar:
            out = program.step(it)
            loss = float(out["loss"])
            if not math.isfinite(loss):
                raise FloatingPointError(f"{description}: loss became {loss} at iteration {it}")
            row = {
                "iteration": it + 1,
                "loss": loss,
                "data_loss": float(out.get("data_loss", math.nan)),
                "reg_loss": float(out.get("reg_loss", math.nan)),
                "psnr": math.nan,
                "lr": float(out.get("lr", math.nan)),
                "seconds": seconds_before + time.perf_counter() - start,
            }
            estimate = out.get("estimate")
            if x_true is not None and estimate is not None:
                row["psnr"] = psnr_torch(estimate.detach(), x_true)
                bar.set_postfix(psnr=f"{row['psnr']:.2f}", refresh=False)
            trace.append(row)
            if checkpointer.due(it + 1, last=it + 1 == iterations):
                checkpointer.save(
                    it + 1,
                    row["seconds"],
                    {
                        "program": program.state(),
                        **rng_state(device),
                        "trace": trace_tensor(trace),
                    },
                )
            if on_iteration is not None:
                on_iteration(row)
    estimate, kernel = program.result()
    if tuple(estimate.shape[-2:]) != (height, width):
        raise RuntimeError(
            f"{description}: estimate {tuple(estimate.shape)} does not match the "
            f"observation {(height, width)}"
        )
    if device.type == "cuda":
        torch.cuda.synchronize()
    networks = list(program.networks.values())
    return MethodResult(
        estimate=np.ascontiguousarray(
            estimate[0].detach().permute(1, 2, 0).float().cpu().numpy(), dtype=np.float32
        ),
        kernel=np.ascontiguousarray(kernel.detach().float().cpu().numpy(), dtype=np.float32),
        trace=trace,
        time_s=seconds_before + time.perf_counter() - start,
        size_mb=sum(model_size_mb(m) for m in networks),
        n_parameters=sum(p.numel() for m in networks for p in m.parameters() if p.requires_grad),
        device=str(device),
        extra={"kernel_size": kernel_size, "resumed_from": first, **program.extra()},
    )


class BlindMethod(Method):
    """A blind method type: :meth:`run` is :func:`fit_blind` of the :class:`BlindProgram`
    that :meth:`program` builds. Subclasses set ``type`` and implement :meth:`program`."""

    blind = True

    @abc.abstractmethod
    def program(
        self, recipe: dict[str, Any], y: torch.Tensor, kernel_size: int, device: torch.device
    ) -> BlindProgram:
        """The fit's program for the (1, C, H, W) observation ``y`` (module docstring)."""

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
        recipe = {k: v for k, v in self.recipe.items() if k != "tuned_on"}
        return fit_blind(
            problem,
            recipe,
            seed,
            lambda y, k, device: self.program(recipe, y, k, device),
            resolve_device(recipe.get("device", "auto")),
            method=self.type,
            progress=progress,
            checkpoint_path=checkpoint_path,
            checkpoint_every=checkpoint_every,
            checkpoint_seconds=checkpoint_seconds,
            on_iteration=on_iteration,
        )
