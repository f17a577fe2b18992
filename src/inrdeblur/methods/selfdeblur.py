"""Method type ``selfdeblur``: blind deblurring with two deep priors (Ren, Zhang, Wang, Hu &
Zuo, "Neural Blind Deconvolution Using Deep Priors", CVPR 2020; methods spec section B;
code ``csdwren/SelfDeblur``, ``selfdeblur_levin.py`` and ``selfdeblur_lai.py``).

- Image generator G_x: the DIP skip network (5 scales of ``image_net.channels``
  channels, ``image_net.skip`` skip channels, bilinear upsampling, BatchNorm on the
  concatenations, a dot-product non-local block at scales 2-4 when ``image_net.non_local``)
  on an 8-channel noise input of the latent's size, U(0, 0.1), to which every step adds
  ``input_noise`` (0.001) times fresh N(0, 1) noise; sigmoid output.
- Kernel generator G_k: :class:`~inrdeblur.networks.kernel_generators.FCNKernel`
  (fixed 200-d input, 1000 hidden units, ReLU6, softmax over the K x K taps).

Loss: the mean squared error of the re-blur ``G_x (*) G_k`` ('valid') against the
observation for the first ``mse_iterations``, then ``1 - SSIM`` (the code's schedule;
'auto': 1000 for kernels up to 27 px as in ``selfdeblur_levin.py``, 500 above as in
``selfdeblur_lai.py``). Adam, ``lr_image`` (0.01) and ``lr_kernel`` (1e-4) halved at
``lr_milestones`` (2000, 3000, 4000), 5000 iterations.

Differences from the reference code:

- The estimate is G_x of the unperturbed input after the last update (the code saves the
  output of its last, perturbed step).
- Channels are those of the observation (the code runs gray or Y only); an RGB image
  shares the kernel across channels, as VDIP and the cross-scale INR do.
- The seed is the fit's seed, not a fixed one; SelfDeblur's authors note that results
  vary with it, hence several seeds per image.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from inrdeblur.methods.blind_fit import (
    BlindMethod,
    BlindProgram,
    blur_latent,
    crop_latent,
    noise_input,
    ssim_loss,
)
from inrdeblur.networks.kernel_generators import FCNKernel
from inrdeblur.networks.skip import SkipNet

#: channels of the image generator's noise input
INPUT_CHANNELS = 8
#: scales of the skip network that get a non-local block (SelfDeblur's ``i > 1``)
NON_LOCAL_LEVELS = (2, 3, 4)
#: largest kernel bound for which ``mse_iterations: auto`` is the Levin script's 1000
AUTO_LEVIN_MAX = 27


def mse_iterations(recipe_value: Any, kernel_size: int) -> int:
    """Iterations of the MSE phase: an integer as given, 'auto' by the kernel bound."""
    if recipe_value == "auto":
        return 1000 if kernel_size <= AUTO_LEVIN_MAX else 500
    return int(recipe_value)


class DIPPairProgram(BlindProgram):
    """SelfDeblur's two generators, which VDIP shares: the skip network of
    ``recipe["image_net"]`` on a fixed noise input of ``input_channels`` channels and the
    latent's size (kept in the checkpoint), painting ``out_channels``; and the FCN kernel
    generator of ``recipe["kernel_net"]``. Then the optimiser (:meth:`make_optimiser`)."""

    def build_generators(
        self,
        recipe: dict[str, Any],
        y: torch.Tensor,
        kernel_size: int,
        device: torch.device,
        input_channels: int,
        out_channels: int,
    ) -> None:
        self.recipe, self.y, self.kernel_size = recipe, y, kernel_size
        image_net = recipe["image_net"]
        levels = int(image_net["levels"])
        width = int(image_net["channels"])
        non_local = [lv for lv in NON_LOCAL_LEVELS if lv < levels] if image_net["non_local"] else []
        self.image_net = SkipNet(
            in_channels=input_channels,
            out_channels=out_channels,
            down=(width,) * levels,
            up=(width,) * levels,
            skip=(int(image_net["skip"]),) * levels,
            upsample_mode="bilinear",
            non_local_levels=non_local,
        ).to(device)
        kernel_net = recipe["kernel_net"]
        self.kernel_net = FCNKernel(
            kernel_size, noise_dim=int(kernel_net["noise_dim"]), hidden=int(kernel_net["hidden"])
        ).to(device)
        self.latent = (y.shape[-2] + kernel_size - 1, y.shape[-1] + kernel_size - 1)
        self.noise = noise_input(input_channels, self.latent, device)
        self.make_optimiser()

    def state(self) -> dict[str, Any]:
        return {**super().state(), "noise": self.noise}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.noise = state["noise"].to(self.noise.device)


class SelfDeblurProgram(DIPPairProgram):
    """The networks and schedule of one SelfDeblur fit (module docstring)."""

    def __init__(
        self, recipe: dict[str, Any], y: torch.Tensor, kernel_size: int, device: torch.device
    ):
        self.iterations = int(recipe["iterations"])
        self.mse_iterations = mse_iterations(recipe["mse_iterations"], kernel_size)
        self.input_noise = float(recipe["input_noise"])
        self.build_generators(recipe, y, kernel_size, device, INPUT_CHANNELS, y.shape[1])

    def step(self, iteration: int) -> dict[str, Any]:
        lr = self.begin_step(iteration)
        net_input = self.noise
        if self.input_noise:
            net_input = net_input + self.input_noise * torch.randn_like(net_input)
        latent = self.image_net(net_input)
        kernel = self.kernel_net()
        reblur = blur_latent(latent, kernel)
        if iteration < self.mse_iterations:
            loss = torch.mean((reblur - self.y) ** 2)
        else:
            loss = ssim_loss(reblur, self.y)
        loss.backward()
        self.optimiser.step()
        return {
            "loss": loss.item(),
            "data_loss": loss.item(),
            "reg_loss": math.nan,
            "lr": lr,
            "estimate": crop_latent(latent, self.kernel_size, self.y.shape[-2:]),
        }

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            latent = self.image_net(self.noise)
            kernel = self.kernel_net()
        return crop_latent(latent, self.kernel_size, self.y.shape[-2:]), kernel

    def extra(self) -> dict[str, Any]:
        return {"mse_iterations": self.mse_iterations}


class SelfDeblur(BlindMethod):
    """Blind deblurring by SelfDeblur (module docstring)."""

    type = "selfdeblur"

    def program(
        self, recipe: dict[str, Any], y: torch.Tensor, kernel_size: int, device: torch.device
    ) -> SelfDeblurProgram:
        return SelfDeblurProgram(recipe, y, kernel_size, device)


METHOD = SelfDeblur
