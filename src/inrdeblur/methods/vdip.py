"""Method type ``vdip``: blind deblurring with a variational deep image prior (Huo,
Masoumzadeh, Kushol & Yang, "Blind Image Deconvolution Using Variational Deep Image
Prior", TPAMI 2023; methods spec section B.4; code ``Dong-Huo/VDIP-Deconvolution``,
``VDIP_Sparse_lai_uniform.py`` and ``VDIP_Extreme_lai_uniform.py``).

The generators are SelfDeblur's (:mod:`inrdeblur.methods.selfdeblur`), with one change:
the image generator G_x, on a fixed 3-channel U(0, 0.1) noise input (never perturbed),
paints 2C channels for a C-channel observation, the per-pixel mean ``mu`` and standard
deviation ``sigma`` (both through the sigmoid) of a Gaussian posterior over the latent
sharp image. The kernel generator G_k is the FCN with softmax.

Schedule (``iterations`` counts the main loop; the fit runs ``warmup_iterations`` more
before it, with the same Adam):

1. **Warm-up** (``warmup_iterations``; 'auto': 500 for the sparse prior, 5 for the
   extreme-channel prior, the two scripts): the mean squared error of the central crop of
   (mu, sigma) against (y, 0), plus that of the kernel against the uniform 1/K^2.
2. **-ELBO** for the first ``elbo_iterations`` (2000) of the main loop::

       -( noise_sigma_t * (-KL) + E_q[log p(y | x, k)] )

   with one reparameterised sample ``x = mu + sigma * eps`` per step. The likelihood
   compares the residual ``r = x (*) k - y`` ('valid') and its finite differences::

       -( sum r^2 / 2 + 2 * sum_(d in v,h) (D_d r)^2 / 4
          + sum_(d,e in vv,vh,hh,hv) (D_d D_e r)^2 / 8 ) / (H_l W_l C)

   (H_l x W_l the latent). The code's fourth term, ``k (*) D x`` against ``D y``, is
   ``D r`` again (finite differences commute with the 'valid' convolution), hence the
   factor 2 on the first-order term; the mixed differences vh and hv are equal too and
   are both counted, as in the code. ``-KL`` holds the prior (``prior``):

   - ``sparse``: ``sum log sigma / (H_l W_l C)`` (the entropy) minus the reweighted
     gradient prior ``sum_d w_d E[(D_d x)^2] / 4 / ((H_l - 1)(W_l - 1) C)``, with
     ``E[(D x)^2] = (D mu)^2 + sigma_i^2 + sigma_j^2`` and the weights
     ``w = 1 / (E[(D x)^2] + 1e-6)`` held constant (an IRLS step of a log prior), minus
     ``10 * sum k^2 / 2``;
   - ``extreme``: the entropy minus the dark- and bright-channel priors, minus the same
     kernel term. Dark: the minimum over C x 35 x 35 windows of one sample of ``x^2``
     under the moment-matched Gaussian ``mean mu^2 + sigma^2``, standard deviation
     ``sqrt(4 mu^2 sigma^2 + 2 sigma^4)``; bright: the same of ``(1 - x)^2``. Each map
     is divided by its own detached value (a log prior), summed, over 4, and over
     ``(H_l - 34)(W_l - 34)``.

   ``noise_sigma_t`` starts at ``noise_sigma`` ('auto': 0.1 sparse, 1e-4 extreme) and
   is multiplied by ``noise_sigma_decay`` (0.1) every ``noise_sigma_every`` (1000) steps.
3. ``1 - SSIM(mu (*) k, y)`` for the rest of the main loop (SelfDeblur's second phase).

Adam, ``lr_image`` (0.01) and ``lr_kernel`` (1e-4), halved at ``lr_milestones`` (2000,
3000, 4000) of the main loop; the warm-up runs at the base rates. The estimate is the
central H x W crop of mu after the last update, the kernel G_k's.

Differences from the reference code:

- **The bright channel's spread.** The code's standard deviation of ``(1 - x)^2`` is
  ``sqrt(4 sigma^2 + 4 mu^2 sigma^2 + 2 sigma^4)``, which drops the cross term
  ``-8 mu sigma^2`` of ``4 (1 - mu)^2 sigma^2``. Here it is the exact
  ``sqrt(4 (1 - mu)^2 sigma^2 + 2 sigma^4)``; ``reference_quirks:
  [bright_channel_spread]`` restores the code's.
- **Channels** are those of the observation (the code reads RGB): a gray image is one
  channel, the mean and standard deviation one each, and the extreme prior's window
  spans the C channels there are.
- The kernel is applied by true convolution (the code correlates; the kernel is free, so
  this only flips the estimate's orientation to the pipeline's convention).
- The fixed seed 0 of the code is replaced by the fit's seed (several seeds per image).
- The estimate is the network's after the last update (the code saves every 100 steps).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from inrdeblur.methods.blind_fit import BlindMethod, blur_latent, crop_latent, ssim_loss
from inrdeblur.methods.selfdeblur import DIPPairProgram

#: the reference code's quirks that ``reference_quirks`` may switch on
QUIRKS = ("bright_channel_spread",)
#: the image priors of the two scripts
PRIORS = ("sparse", "extreme")
#: channels of the image generator's noise input (the code's ``input_depth``)
INPUT_CHANNELS = 3
#: ``warmup_iterations: auto`` and ``noise_sigma: auto`` per prior (the two scripts)
AUTO_WARMUP = {"sparse": 500, "extreme": 5}
AUTO_NOISE_SIGMA = {"sparse": 0.1, "extreme": 1.0e-4}
#: weight of ``sum k^2 / 2`` in -KL
KERNEL_WEIGHT = 10.0
#: the constant under the sparse prior's reweighting
SPARSE_BIAS = 1.0e-6
#: the extreme-channel prior's spatial window
CHANNEL_WINDOW = 35
#: the floor of sigma under the logarithm (the code's ``lb``)
LOG_FLOOR = 1.0e-45


def auto_setting(value: Any, table: dict[str, Any], prior: str) -> Any:
    """A recipe value as given, or the script's value for ``prior`` when 'auto'."""
    return table[prior] if value == "auto" else value


def vertical(t: torch.Tensor) -> torch.Tensor:
    """Forward difference down the rows of (..., H, W) -> (..., H - 1, W)."""
    return t[..., 1:, :] - t[..., :-1, :]


def horizontal(t: torch.Tensor) -> torch.Tensor:
    """Forward difference along the columns of (..., H, W) -> (..., H, W - 1)."""
    return t[..., 1:] - t[..., :-1]


def log_likelihood(residual: torch.Tensor, latent_pixels: int) -> torch.Tensor:
    """The code's ``E_q[log p(y | x, k)]`` of one sample, from the (1, C, H, W) residual
    ``x (*) k - y``, over ``latent_pixels`` = H_l W_l C (module docstring)."""
    rv, rh = vertical(residual), horizontal(residual)
    zero = residual.square().sum() / 2
    first = (rv.square().sum() + rh.square().sum()) / 4
    second = (
        vertical(rv).square().sum()
        + 2 * horizontal(rv).square().sum()  # vh and hv: the same differences, twice
        + horizontal(rh).square().sum()
    ) / 8
    return -(zero + 2 * first + second) / latent_pixels


def entropy(sigma: torch.Tensor) -> torch.Tensor:
    """``sum log sigma`` over the latent's pixels and channels, per value."""
    return torch.log(torch.clamp_min(sigma, LOG_FLOOR)).sum() / sigma.numel()


def sparse_prior(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The reweighted expected squared gradients of x ~ N(mu, sigma^2), over
    ``(H_l - 1)(W_l - 1) C`` (module docstring)."""
    _, channels, height, width = mu.shape
    total = mu.new_zeros(())
    for diff in (vertical, horizontal):
        s2 = sigma.square()
        if diff is vertical:
            spread = s2[..., 1:, :] + s2[..., :-1, :]
        else:
            spread = s2[..., 1:] + s2[..., :-1]
        penalty = diff(mu).square() + spread
        weight = (1.0 / (penalty + SPARSE_BIAS)).detach()
        total = total + (penalty * weight).sum() / 4
    return total / ((height - 1) * (width - 1) * channels)


def square_moments(m: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of ``z^2`` for ``z ~ N(m, s^2)``: ``m^2 + s^2`` and
    ``sqrt(4 m^2 s^2 + 2 s^4)`` (plus 1e-32 under the root, as in the code)."""
    return m.square() + s.square(), torch.sqrt(4 * m.square() * s.square() + 2 * s.pow(4) + 1e-32)


def extreme_prior(mu: torch.Tensor, sigma: torch.Tensor, quirk: bool) -> torch.Tensor:
    """The dark- and bright-channel priors on one sample each, over
    ``(H_l - 34)(W_l - 34)`` (module docstring). ``quirk``: the code's bright spread."""
    _, channels, height, width = mu.shape
    if min(height, width) < CHANNEL_WINDOW:
        raise ValueError(
            f"the extreme-channel prior needs a latent of at least {CHANNEL_WINDOW} px per "
            f"side, got {height}x{width}"
        )
    m, s = mu.unsqueeze(1), sigma.unsqueeze(1)  # (1, 1, C, H, W): pool over C x 35 x 35
    window = (channels, CHANNEL_WINDOW, CHANNEL_WINDOW)

    def log_weighted_min(mean: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
        sample = mean + torch.randn_like(mean) * spread
        pooled = -F.max_pool3d(-sample, window, stride=1)
        return (pooled / (pooled.detach() + LOG_FLOOR)).sum()

    dark = log_weighted_min(*square_moments(m, s))
    bright_mean, bright_spread = square_moments(1 - m, s)
    if quirk:
        bright_spread = torch.sqrt(
            4 * s.square() + 4 * m.square() * s.square() + 2 * s.pow(4) + 1e-32
        )
    total = dark / 4 + log_weighted_min(bright_mean, bright_spread) / 4
    return total / ((height - CHANNEL_WINDOW + 1) * (width - CHANNEL_WINDOW + 1))


class VDIPProgram(DIPPairProgram):
    """The networks and schedule of one VDIP fit (module docstring)."""

    def __init__(
        self, recipe: dict[str, Any], y: torch.Tensor, kernel_size: int, device: torch.device
    ):
        self.channels = int(y.shape[1])
        self.prior = str(recipe["prior"])
        self.warmup = int(auto_setting(recipe["warmup_iterations"], AUTO_WARMUP, self.prior))
        self.elbo_iterations = int(recipe["elbo_iterations"])
        self.noise_sigma = float(auto_setting(recipe["noise_sigma"], AUTO_NOISE_SIGMA, self.prior))
        self.iterations = self.warmup + int(recipe["iterations"])
        self.quirk = "bright_channel_spread" in recipe["reference_quirks"]
        latent = (y.shape[-2] + kernel_size - 1, y.shape[-1] + kernel_size - 1)
        if self.prior == "extreme" and min(latent) < CHANNEL_WINDOW:
            raise ValueError(
                f"vdip: the extreme-channel prior needs an image of at least "
                f"{CHANNEL_WINDOW - kernel_size + 1} px per side with a {kernel_size} px "
                f"kernel bound, got {tuple(y.shape[-2:])}"
            )
        self.build_generators(recipe, y, kernel_size, device, INPUT_CHANNELS, 2 * self.channels)

    def noise_sigma_at(self, main_iteration: int) -> float:
        """``noise_sigma_t`` at 0-based main-loop iteration (module docstring)."""
        every = int(self.recipe["noise_sigma_every"])
        decay = float(self.recipe["noise_sigma_decay"])
        return self.noise_sigma * decay ** (main_iteration // every)

    def _moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.image_net(self.noise)
        return out[:, : self.channels], out[:, self.channels :]

    def step(self, iteration: int) -> dict[str, Any]:
        main = iteration - self.warmup
        lr = self.begin_step(max(main, 0))
        mu, sigma = self._moments()
        kernel = self.kernel_net()
        reg_loss = math.nan
        if main < 0:
            shape = self.y.shape[-2:]
            moments = crop_latent(torch.cat([mu, sigma], 1), self.kernel_size, shape)
            target = torch.cat([self.y, torch.zeros_like(self.y)], 1)
            uniform = 1.0 / kernel.numel()
            loss = torch.mean((moments - target) ** 2) + torch.mean((kernel - uniform) ** 2)
            data_loss = loss
        elif main < self.elbo_iterations:
            sample = mu + sigma * torch.randn_like(mu)
            residual = blur_latent(sample, kernel) - self.y
            expectation = log_likelihood(residual, mu.numel())
            if self.prior == "sparse":
                image_prior = sparse_prior(mu, sigma)
            else:
                image_prior = extreme_prior(mu, sigma, self.quirk)
            negative_kl = entropy(sigma) - image_prior - KERNEL_WEIGHT * kernel.square().sum() / 2
            weighted_kl = self.noise_sigma_at(main) * negative_kl
            loss = -(weighted_kl + expectation)
            data_loss, reg_loss = -expectation, -weighted_kl.item()
        else:
            loss = ssim_loss(blur_latent(mu, kernel), self.y)
            data_loss = loss
        loss.backward()
        self.optimiser.step()
        return {
            "loss": loss.item(),
            "data_loss": float(data_loss.item()),
            "reg_loss": reg_loss,
            "lr": lr,
            "estimate": crop_latent(mu, self.kernel_size, self.y.shape[-2:]),
        }

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            mu, _ = self._moments()
            kernel = self.kernel_net()
        return crop_latent(mu, self.kernel_size, self.y.shape[-2:]), kernel

    def extra(self) -> dict[str, Any]:
        return {
            "prior": self.prior,
            "warmup_iterations": self.warmup,
            "noise_sigma": self.noise_sigma,
        }


class VDIP(BlindMethod):
    """Blind deblurring by VDIP (module docstring)."""

    type = "vdip"

    def program(
        self, recipe: dict[str, Any], y: torch.Tensor, kernel_size: int, device: torch.device
    ) -> VDIPProgram:
        return VDIPProgram(recipe, y, kernel_size, device)


METHOD = VDIP
