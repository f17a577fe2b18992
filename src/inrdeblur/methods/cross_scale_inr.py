"""Method type ``cross_scale_inr``: cross-scale self-supervised blind deblurring with INRs
(Zhang, Quan & Ji, "Blind Image Deblurring with Unknown Kernel Size and Substantial
Noise", NeurIPS 2024; methods spec section A; code ``tjzhang-nus/Deblur-INR``).

Two networks, each one function of the coordinates evaluated at every scale:

- the image generator Phi_x, a DIP skip network (5 scales of ``image_net.channels``
  channels, ``image_net.skip`` skip channels, bilinear upsampling, no BatchNorm on the
  concatenation) on Fourier features of the latent grid ``[0, 1]^2``: 16 frequencies
  ``base ** i``, ``base = 2 ** (8 / 7)``, cos and sin of x and y, 64 channels, no 2 pi
  (the reference's ``get_input('fourier')``);
- the kernel generator Phi_k, a SIREN on the K x K grid with softmax and centring
  (:class:`~inrdeblur.networks.kernel_generators.SirenKernel`).

Scale s has the observation ``y_s`` (``y`` decimated s times, :func:`decimate`), the
kernel side ``K_s = ceil(K_(s-1) / 2)`` and the latent ``(H_s + K_s - 1) x (W_s + K_s -
1)``; ``r_s = x_s (*) k_s`` is its re-blur. The schedule of the reference code, for the
coarsest scale ``S0`` (``coarsest_scale``; 'auto': 1 for kernels up to 27 px, 2 above,
the paper's Levin and Lai settings, App. C Table 8):

1. ``init_iterations`` at scale S0: ``1 - SSIM(y_S0, r_S0)``;
2. for each s = S0 - 1 ... 0, ``transition_iterations`` fitting scale s through the
   coarser observation plus the cross-scale loss (paper eqs. 11-13)::

       1 - SSIM(y_(s+1), r_s decimated) + cross_weight * FFTL1(y_(s+1),
           r_(s+1) - sum_d (x_s (*) g_d,s) decimated)

   with the QMF filters ``g1 = (-1)^m k_s``, ``g2 = (-1)^n k_s``, ``g3 = (-1)^(m+n) k_s``
   (m the row, n the column index of the kernel array);
3. the remaining iterations at scale 0: ``1 - SSIM(y, r_0)``.

Adam, ``lr_image`` and ``lr_kernel`` halved at ``lr_milestones`` (MultiStepLR). The
estimate is the central H x W crop of the scale-0 latent after the last update, the
kernel Phi_k at K.

Differences from the reference code, each deliberate:

- **g3 at the first transition.** The code builds g3 by negating the odd columns only
  (so g3 = g2) at its first transition and correctly at the second (spec A.4). Here g3
  is always ``(-1)^(m+n) k``; ``reference_quirks: [g3_first_transition]`` restores the
  code's filter.
- **The factor 4.** Proposition 1 reads ``(x (*) k)↓2 = 4 (x↓2) (*) (k↓2) - sum_d
  (x (*) g_d)↓2``. The decimated kernel ``k↓2`` sums to about 1/4, but Phi_k's coarse
  kernel is softmax-normalised to sum 1: it is ``4 (k↓2)`` (exactly so before centring,
  since the coarse grid is the even-index subset of the fine one). So the coarse re-blur
  ``r_(s+1)`` already stands for ``4 (x↓2) (*) (k↓2)``. The code multiplies it by 4
  again, which leaves a constant 3x-brightness offset in the cross term;
  ``reference_quirks: [coarse_reblur_times_4]`` restores it.
- **Centring** rounds instead of truncating
  (:func:`~inrdeblur.networks.kernel_generators.centre_kernel`).
- **Odd kernel sizes.** The bound K must be odd (the decimation identity needs an odd
  fine kernel); coarse sizes are ``ceil`` as in the code, so they can be even.
- **Channels** are those of the observation: 1 for a gray image (the code always paints
  RGB), 3 for RGB with the kernel shared.
- The fixed seed 2024 of the code is replaced by the fit's seed (several seeds per image).
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
    decimate,
    fft_l1,
    ssim_loss,
)
from inrdeblur.networks.kernel_generators import SirenKernel
from inrdeblur.networks.skip import SkipNet

#: the reference code's quirks that ``reference_quirks`` may switch on
QUIRKS = ("g3_first_transition", "coarse_reblur_times_4")
#: largest kernel bound for which ``coarsest_scale: auto`` is 1 (Levin's kernels: 11-27)
AUTO_ONE_SCALE_MAX = 27


def fourier_features(
    shape: tuple[int, int], frequencies: int, base: float, device: torch.device
) -> torch.Tensor:
    """(1, 4 * frequencies, H, W) input of the image generator: for ``f_i = base ** i``,
    ``cos(f_i x)``, ``cos(f_i y)``, ``sin(f_i x)``, ``sin(f_i y)`` with x (columns) and y
    (rows) on ``linspace(0, 1)`` over the grid; all cosines first, then all sines."""
    h, w = shape
    ys, xs = torch.meshgrid(
        torch.linspace(0.0, 1.0, h, dtype=torch.float64),
        torch.linspace(0.0, 1.0, w, dtype=torch.float64),
        indexing="ij",
    )
    freqs = base ** torch.arange(frequencies, dtype=torch.float64)
    phase_x = freqs[:, None, None] * xs
    phase_y = freqs[:, None, None] * ys
    feats = torch.cat(
        [torch.cos(phase_x), torch.cos(phase_y), torch.sin(phase_x), torch.sin(phase_y)]
    )
    return feats[None].to(device=device, dtype=torch.float32)


def qmf_filters(kernel: torch.Tensor, g3_as_g2: bool = False) -> list[torch.Tensor]:
    """The three QMF-modulated copies of a (K, K) kernel (paper eq. 10): odd rows negated,
    odd columns negated, and both (``g3_as_g2``: the reference code's first-transition g3,
    odd columns only). ``k + g1 + g2 + g3 = 4 k`` on even (row, column) taps, 0 elsewhere."""
    kh, kw = kernel.shape
    rows = 1.0 - 2.0 * (torch.arange(kh, device=kernel.device) % 2).to(kernel.dtype)
    cols = 1.0 - 2.0 * (torch.arange(kw, device=kernel.device) % 2).to(kernel.dtype)
    g1 = kernel * rows[:, None]
    g2 = kernel * cols[None, :]
    g3 = g2 if g3_as_g2 else kernel * rows[:, None] * cols[None, :]
    return [g1, g2, g3]


def coarsest_scale(recipe_value: Any, kernel_size: int) -> int:
    """S0 of ``coarsest_scale``: an integer as given, 'auto' by the kernel bound."""
    if recipe_value == "auto":
        return 1 if kernel_size <= AUTO_ONE_SCALE_MAX else 2
    return int(recipe_value)


class CrossScaleProgram(BlindProgram):
    """The networks and schedule of one cross-scale INR fit (module docstring)."""

    def __init__(
        self, recipe: dict[str, Any], y: torch.Tensor, kernel_size: int, device: torch.device
    ):
        self.recipe = recipe
        self.iterations = int(recipe["iterations"])
        self.scales = coarsest_scale(recipe["coarsest_scale"], kernel_size)
        self.quirks = frozenset(recipe.get("reference_quirks", []))
        channels = y.shape[1]
        # the pyramid: observation, kernel side and latent grid per scale
        self.ys = [y]
        self.ks = [kernel_size]
        for _ in range(self.scales):
            self.ys.append(decimate(self.ys[-1]))
            self.ks.append(math.ceil(self.ks[-1] / 2))
        if min(self.ys[-1].shape[-2:]) < 2:
            raise ValueError(
                f"coarsest_scale {self.scales}: the observation {tuple(y.shape[-2:])} "
                f"decimated {self.scales} times is {tuple(self.ys[-1].shape[-2:])}; "
                "use a smaller coarsest_scale"
            )
        fourier = recipe["fourier"]
        self.inputs = [
            fourier_features(
                (ys.shape[-2] + ks - 1, ys.shape[-1] + ks - 1),
                int(fourier["frequencies"]),
                float(fourier["base"]),
                device,
            )
            for ys, ks in zip(self.ys, self.ks, strict=True)
        ]
        image_net = recipe["image_net"]
        levels = int(image_net["levels"])
        self.image_net = SkipNet(
            in_channels=4 * int(fourier["frequencies"]),
            out_channels=channels,
            down=(int(image_net["channels"]),) * levels,
            up=(int(image_net["channels"]),) * levels,
            skip=(int(image_net["skip"]),) * levels,
            upsample_mode="bilinear",
            concat_norm=False,
        ).to(device)
        kernel_net = recipe["kernel_net"]
        self.kernel_net = SirenKernel(
            hidden=int(kernel_net["hidden"]), layers=int(kernel_net["layers"])
        ).to(device)
        self.make_optimiser()
        init = int(recipe["init_iterations"])
        step = int(recipe["transition_iterations"])
        # iteration ranges: (start, stop, fine scale s or None for the initial stage)
        self.stages: list[tuple[int, int, int | None]] = [(0, init, None)]
        for t in range(self.scales):
            self.stages.append((init + t * step, init + (t + 1) * step, self.scales - 1 - t))
        self.final_start = init + self.scales * step
        if self.final_start > self.iterations:
            raise ValueError(
                f"iterations ({self.iterations}) must cover init_iterations + "
                f"{self.scales} x transition_iterations ({self.final_start})"
            )

    def _render(self, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(latent, kernel) of ``scale``."""
        return self.image_net(self.inputs[scale]), self.kernel_net(self.ks[scale])

    def _stage(self, iteration: int) -> int | None:
        """The fine scale of a transition step; -1 for the final stage; None for the initial."""
        if iteration >= self.final_start:
            return -1
        for start, stop, fine in self.stages:
            if start <= iteration < stop:
                return fine
        raise AssertionError(iteration)

    def step(self, iteration: int) -> dict[str, Any]:
        recipe = self.recipe
        lr = self.begin_step(iteration)
        fine = self._stage(iteration)
        estimate = None
        cross = torch.zeros(())
        if fine is None or fine == -1:
            scale = self.scales if fine is None else 0
            latent, kernel = self._render(scale)
            data = ssim_loss(self.ys[scale], blur_latent(latent, kernel))
            if scale == 0:
                estimate = crop_latent(latent, self.ks[0], self.ys[0].shape[-2:])
        else:
            coarse = fine + 1
            latent_c, kernel_c = self._render(coarse)
            latent_f, kernel_f = self._render(fine)
            data = ssim_loss(self.ys[coarse], decimate(blur_latent(latent_f, kernel_f)))
            first_transition = fine == self.scales - 1
            filters = qmf_filters(
                kernel_f, g3_as_g2=first_transition and "g3_first_transition" in self.quirks
            )
            modulated = sum(decimate(blur_latent(latent_f, g)) for g in filters)
            factor = 4.0 if "coarse_reblur_times_4" in self.quirks else 1.0
            cross = fft_l1(self.ys[coarse], factor * blur_latent(latent_c, kernel_c) - modulated)
            if fine == 0:
                estimate = crop_latent(latent_f, self.ks[0], self.ys[0].shape[-2:])
        loss = data + float(recipe["cross_weight"]) * cross
        loss.backward()
        self.optimiser.step()
        return {
            "loss": loss.item(),
            "data_loss": data.item(),
            "reg_loss": cross.item() if fine not in (None, -1) else math.nan,
            "lr": lr,
            "estimate": estimate,
        }

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            latent, kernel = self._render(0)
        return crop_latent(latent, self.ks[0], self.ys[0].shape[-2:]), kernel

    def extra(self) -> dict[str, Any]:
        return {
            "coarsest_scale": self.scales,
            "kernel_sizes": self.ks,
            "reference_quirks": sorted(self.quirks),
        }


class CrossScaleInr(BlindMethod):
    """Blind deblurring by the cross-scale INR (module docstring)."""

    type = "cross_scale_inr"

    def __init__(self, recipe: dict[str, Any]):
        super().__init__(recipe)
        unknown = sorted(set(recipe.get("reference_quirks", [])) - set(QUIRKS))
        if unknown:
            raise ValueError(f"reference_quirks: unknown {unknown}; known: {list(QUIRKS)}")

    def program(
        self, recipe: dict[str, Any], y: torch.Tensor, kernel_size: int, device: torch.device
    ) -> CrossScaleProgram:
        return CrossScaleProgram(recipe, y, kernel_size, device)


METHOD = CrossScaleInr
