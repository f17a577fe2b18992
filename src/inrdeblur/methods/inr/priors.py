"""Image-domain priors for INR fits: finite-difference TV and the Deep-Image-Prior CNN.

Three things live here, all acting on the latent image ``(B, C, H', W')`` that a fit renders
from its INR (see :mod:`inrdeblur.methods.inr.fit`):

* :func:`finite_difference_tv`, the reference's ``gradient_fn: filter`` regulariser, in the
  units of :func:`~inrdeblur.methods.inr.regularisers.coordinate_tv` (intensity per pixel) so that a
  weight means the same thing for both.
* :class:`CNNPrior`, a Deep-Image-Prior reparameterisation (Ulyanov et al., CVPR 2018): the
  image is a :class:`SkipNet` of the INR output and the SkipNet is optimised jointly with
  the INR. This is what the INR-deblurring thesis (Lehtonen 2024) set out to do.
* :class:`ReferenceRandomCNNPenalty`, what that code actually does (spec 7.4): a randomly
  initialised SkipNet that is never optimised, whose mean output is added to the loss. It
  is kept only to reproduce the published numbers; it is a bug, not a prior.

:func:`build_prior` makes either CNN object from a regulariser spec. The SkipNet itself is
shared by methods and lives in :mod:`inrdeblur.networks.skip`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inrdeblur.networks.skip import DEFAULT_DOWN, SkipNet, check_positive_int

PRIORS = ("cnn_prior", "reference_random_cnn")

FD_TAPS = ("forward", "reference")

#: skip-branch channels of :class:`CNNPrior`'s SkipNet, at every scale
CNN_PRIOR_SKIP_CHANNELS = 4


def channel_sum_gradients(
    image: torch.Tensor, taps: str = "forward"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Finite differences ``(gx, gy)`` of the channel sum, each (B, H, W), intensity per pixel.

    Args:
        image: (B, C, H, W) latent image.
        taps: ``"forward"``: ``gx[i, j] = s[i, j+1] - s[i, j]`` with replicate padding, so
            the last column of ``gx`` (and the last row of ``gy``) is 0. ``"reference"``:
            the reference's ``GradientFilter`` (ParallaxICB ``deblur.py``), taps
            ``(-1/3, 0, +1/3)``, i.e. ``(s[i, j+1] - s[i, j-1]) / 3`` with replicate
            padding; it is 2/3 of the mean of the two forward differences either side.
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (B, C, H, W), got shape {tuple(image.shape)}")
    if taps not in FD_TAPS:
        raise ValueError(f"taps must be one of {FD_TAPS}, got {taps!r}")
    total = image.sum(dim=1, keepdim=True)  # (B, 1, H, W)
    if taps == "forward":
        padded = F.pad(total, (0, 1, 0, 1), mode="replicate")
        gx = padded[..., :-1, 1:] - padded[..., :-1, :-1]
        gy = padded[..., 1:, :-1] - padded[..., :-1, :-1]
    else:
        padded = F.pad(total, (1, 1, 1, 1), mode="replicate")
        gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 3.0
        gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 3.0
    return gx[:, 0], gy[:, 0]


def finite_difference_tv(image: torch.Tensor, taps: str = "forward") -> torch.Tensor:
    """Mean over pixels of ``|gx| + |gy|`` of the channel sum, in intensity per pixel.

    The finite-difference counterpart of
    :func:`~inrdeblur.methods.inr.regularisers.coordinate_tv`: same channel sum, same L1 of the
    two derivatives, same units, so the two are interchangeable at the same weight. The
    mean runs over all ``B * H * W`` pixels, the last column/row included (their forward
    difference is 0 under replicate padding). For a ramp ``a*x + b*y`` (x, y in pixels) in
    each of C channels the value is therefore exactly
    ``C * (|a| (W-1)/W + |b| (H-1)/H)``, and ``C * (|a| + |b|)`` at every interior pixel.

    ``taps="reference"`` reproduces the reference's ``filter`` regulariser (spec 6.3,
    p_norm 1): central differences with taps +-1/3 (no smoothing across the other axis,
    although the class is documented as a Sobel filter). It is a smoothed forward
    difference scaled by 2/3: on a linear ramp it gives exactly 2/3 of the ``"forward"``
    value, border pixels included. The reference also works in network space
    ``2 x - 1`` (spec 1), which doubles the TV and quadruples the MSE, so its
    ``MSE + beta * filter`` equals ``4 * (MSE + beta / 3 * finite_difference_tv)`` in
    [0, 1] units on smooth images: use ``weight = beta / 3`` with a [0, 1] MSE.

    Args:
        image: (B, C, H, W) latent image, intensity in [0, 1].
        taps: ``"forward"`` (default) or ``"reference"``; see :func:`channel_sum_gradients`.

    Returns:
        0-d tensor, differentiable in ``image``.

    >>> ramp = torch.arange(4.0).expand(1, 3, 5, 4)  # a = 1, b = 0
    >>> float(finite_difference_tv(ramp))  # 3 * 3/4
    2.25
    """
    gx, gy = channel_sum_gradients(image, taps)
    return (gx.abs() + gy.abs()).mean()


def _skipnet_kwargs(where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    for name in ("in_channels", "out_channels"):
        if name in kwargs:
            raise ValueError(f"{where}: pass 'channels', not {name!r}")
    return kwargs


class CNNPrior(nn.Module):
    """Deep-Image-Prior reparameterisation of the INR's latent image, trained jointly.

    ``image = latent + m * (SkipNet([latent, x, y]) - latent)``: a blend whose weight ``m``
    ramps linearly from ``mix_start`` to 1 over ``warmup_iterations`` calls of
    :meth:`step` and then stays at 1, where the image is exactly ``SkipNet(latent)``, the
    DIP reparameterisation (the SkipNet's sigmoid keeps it in [0, 1]). Why this shape:

    * A random SkipNet outputs a grey, texture-like image (~0.5), so ``SkipNet(latent)``
      from the first step wastes the early iterations; with ``m = mix_start`` the output
      starts within ``mix_start * max(latent, 1 - latent)`` of the latent (a bound, since
      the SkipNet output lies in (0, 1)), at most ``mix_start`` for latents in [0, 1].
    * With ``mix_start > 0`` every CNN parameter gets a gradient from the first step, so
      the CNN is trained during the warm-up instead of starting cold at the handover.
    * The end point must be the pure reparameterisation. A residual ``latent + r`` or a
      blend that stays small lets the INR path fit everything, noise included, and the CNN
      then regularises nothing.

    Figures (``hashgrid_cnnprior`` of params.yaml: thesis hash grid, 600 Adam steps, INR
    and CNN lr 1e-2, ramp 0.1 -> 1 over 150 steps; CPU, one seed): on the 32x32 demo
    astronaut with a 7x7 motion blur and 1 % noise (blurry input 26.9 dB) it reaches
    32.4 dB, where the same hash grid without a prior (600 steps at lr 1e-2) overfits the
    noise and ends at 26.4 dB, a blend fixed at 0.1 at 26.6 dB, the pure DIP (no
    warm-up) at 30.1 dB, and hash grid + TV (``hashgrid_tv``: 300 steps, weight 2e-3) at
    30.3 dB. On Levin setting 1, ``im1_kernel1`` (blurry 23.98 dB;
    ``benchmarks/nonblind_levin.py``), it reaches 31.74 dB / SSIM 0.889 in 325 s on one
    CPU thread, against 28.11 dB for Wiener with its balance tuned on that image. Like
    every DIP it fits the noise if run long enough: on the 32x32 problem a 2000-step run
    peaks near 32.7 dB and ends at 28.5 dB, so the iteration count (with the cosine
    schedule) is its early stop.

    Skips at every scale: the default ``skip`` is 4 channels at each scale. The
    reference's ``(0, 0, 0, 4, 4)`` (:class:`SkipNet`'s default) has no skip branch at the
    three finest scales, so every output pixel is a bilinear upsampling of half-resolution
    features followed by convolutions. It cannot pass the latent's fine detail through:
    the pure DIP with it reaches 20.8 dB on the 32x32 problem after 600 steps at lr 1e-2,
    and the blend collapses as ``m`` nears 1 (the INR has been compensating the CNN's
    misfit with weight ``1 / (1 - m)``, so the image changes by ``(SkipNet - latent) dm``
    per step): with the former recipe (2000 steps at lr 1e-3, ramp over 500) it fell from
    30.6 dB at step 300 to 16.5 dB at step 500 and ended at 26.0 dB, below the blurry
    input. DIP and SelfDeblur use 16 skip channels at every scale; here 16 gave 32.8 dB
    on the 32x32 problem but 31.33 dB on ``im1_kernel1``, and overfits faster (24.8 dB
    after 2000 steps).

    Call :meth:`step` once per fit iteration, like a learning-rate scheduler; the count is
    saved with the state dict (as extra state). ``warmup_iterations=0`` gives the pure
    DIP from the start.

    Coordinate channels: with ``coord_channels=True`` (default) the SkipNet sees the latent
    plus two fixed channels ``x, y`` spanning [-1, 1] over the grid (the INR's own
    coordinates), so it has ``channels + 2`` inputs. Without them a (nearly) constant
    latent, which is how hash-grid and dictionary-field INRs start (features of order
    1e-4), makes every BatchNorm divide by a (nearly) zero spread: the gradient reaching
    the latent grows like 1 / std(latent) (about 1e2 at std 1e-3, 1e4 at 1e-5) and is NaN
    for an exactly constant latent. With them it stays of order 1. Unlike DIP's noise
    input they add no texture and need no seed.

    BatchNorm uses per-image statistics in both train and eval mode
    (``track_running_stats=False`` unless overridden), so the final render equals the
    image the fit optimised whatever the module's mode.

    Args:
        channels: image channels C of the latent and of the output.
        mix_start: blend weight m before the first :meth:`step`, in [0, 1].
        warmup_iterations: steps over which m ramps linearly to 1 (a quarter of the fit in
            the figures above), >= 0.
        coord_channels: feed the SkipNet two coordinate channels besides the latent.
        **skipnet_kwargs: :class:`SkipNet` arguments except ``in_channels``/``out_channels``;
            ``skip`` defaults to :data:`CNN_PRIOR_SKIP_CHANNELS` at every scale (one entry
            per entry of ``down``) and ``track_running_stats`` to ``False``.

    Use: ``image = prior(latent)`` maps (B, C, H', W') -> (B, C, H', W'); give
    ``prior.parameters()`` to the fit's optimiser alongside the INR's and call
    ``prior.step()`` after each optimiser step.
    """

    def __init__(
        self,
        channels: int = 3,
        mix_start: float = 0.1,
        warmup_iterations: int = 500,
        coord_channels: bool = True,
        **skipnet_kwargs: Any,
    ) -> None:
        super().__init__()
        check_positive_int("channels", channels)
        check_positive_int("warmup_iterations", warmup_iterations, allow_zero=True)
        skipnet_kwargs = _skipnet_kwargs("CNNPrior", skipnet_kwargs)
        skipnet_kwargs.setdefault("track_running_stats", False)
        if "skip" not in skipnet_kwargs:
            down = skipnet_kwargs.get("down", DEFAULT_DOWN)
            scales = len(down) if isinstance(down, Sequence) and not isinstance(down, str) else 1
            skipnet_kwargs["skip"] = (CNN_PRIOR_SKIP_CHANNELS,) * scales
        if not isinstance(coord_channels, bool):
            raise ValueError(f"coord_channels must be true or false, got {coord_channels!r}")
        number = isinstance(mix_start, (int, float)) and not isinstance(mix_start, bool)
        if not number or not 0.0 <= mix_start <= 1.0:
            raise ValueError(f"mix_start must be a number in [0, 1], got {mix_start!r}")
        self.channels = channels
        self.mix_start = float(mix_start)
        self.warmup_iterations = warmup_iterations
        self.coord_channels = coord_channels
        self.net = SkipNet(
            in_channels=channels + 2 * coord_channels, out_channels=channels, **skipnet_kwargs
        )
        self.iteration = 0  # a Python int (no device sync); saved via get_extra_state

    def step(self) -> None:
        """Advance the blend schedule by one fit iteration."""
        self.iteration += 1

    def get_extra_state(self) -> dict[str, int]:
        return {"iteration": self.iteration}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.iteration = int(state["iteration"])

    @property
    def mix(self) -> float:
        """The current blend weight m in [0, 1]."""
        if self.warmup_iterations == 0:
            return 1.0
        ramp = min(self.iteration / self.warmup_iterations, 1.0)
        return self.mix_start + (1.0 - self.mix_start) * ramp

    def cnn_input(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) latent -> (B, C [+ 2], H, W) SkipNet input (latent, x, y)."""
        if not self.coord_channels:
            return latent
        batch, _, height, width = latent.shape
        kwargs = {"dtype": latent.dtype, "device": latent.device}
        ys = torch.linspace(-1.0, 1.0, height, **kwargs)
        xs = torch.linspace(-1.0, 1.0, width, **kwargs)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"))  # (2, H, W): x, y
        return torch.cat([latent, grid.expand(batch, 2, height, width)], dim=1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, C, H', W') latent -> (B, C, H', W') image."""
        if latent.ndim != 4 or latent.shape[1] != self.channels:
            raise ValueError(
                f"CNNPrior expects (B, {self.channels}, H, W), got shape {tuple(latent.shape)}"
            )
        mix = self.mix
        if mix == 0.0:
            return latent
        # lerp is exact at m = 1: the image is then the SkipNet output itself.
        return torch.lerp(latent, self.net(self.cnn_input(latent)), mix)


class ReferenceRandomCNNPenalty(nn.Module):
    """Reproduction of a BUG: the INR-deblurring code's "CNN prior" (spec 7.4).

    The reference builds a :class:`SkipNet` with random weights, never gives its
    parameters to the optimiser, runs it in train mode (BatchNorm uses batch statistics
    and updates its running statistics) and adds ``beta * mean(SkipNet(latent))`` to the
    loss. The penalty therefore pushes the latent towards whatever lowers the mean output
    of a fixed random network; it is not a Deep-Image-Prior. Use :class:`CNNPrior` for the
    real thing. Here the parameters are frozen (``requires_grad=False``) and the network
    stays in train mode even after ``.eval()``; gradients still flow to the latent.

    Differences from the reference: inputs are padded to a multiple of ``2**depth`` and
    cropped back (:class:`SkipNet`), where the reference centre-cropped inside its
    ``Concat`` and took the mean over an output that need not match the input size. Like
    the reference, it has no coordinate channels, so its gradient is huge for a nearly
    constant latent and NaN for an exactly constant one (see :class:`CNNPrior`).

    Units: the reference fed network-space images ``2 x - 1``. Every path from the input
    starts with a convolution followed by BatchNorm, which removes any affine change of
    the input, so the penalty of ``x`` and of ``2 x - 1`` agree up to BatchNorm's eps;
    the latent can be passed in [0, 1]. Its loss was ``MSE_network + beta * penalty`` =
    ``4 * MSE_[0,1] + beta * penalty``, so ``weight = beta / 4`` against a [0, 1] MSE.

    Args:
        channels: image channels C.
        **skipnet_kwargs: :class:`SkipNet` arguments except ``in_channels``/``out_channels``.
    """

    def __init__(self, channels: int = 3, **skipnet_kwargs: Any) -> None:
        super().__init__()
        check_positive_int("channels", channels)
        skipnet_kwargs = _skipnet_kwargs("ReferenceRandomCNNPenalty", skipnet_kwargs)
        self.channels = channels
        self.net = SkipNet(in_channels=channels, out_channels=channels, **skipnet_kwargs)
        self.net.requires_grad_(False)

    def train(self, mode: bool = True) -> ReferenceRandomCNNPenalty:
        super().train(mode)
        self.net.train(True)  # as the reference, which never calls eval()
        return self

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, C, H', W') latent -> 0-d penalty ``mean(SkipNet(latent))`` in (0, 1)."""
        if latent.ndim != 4 or latent.shape[1] != self.channels:
            raise ValueError(
                f"ReferenceRandomCNNPenalty expects (B, {self.channels}, H, W), "
                f"got shape {tuple(latent.shape)}"
            )
        return self.net(latent).mean()


_SKIPNET_KEYS = ("down", "up", "skip", "upsample_mode", "seed")
_PRIOR_KEYS = {
    "cnn_prior": (
        "channels",
        "mix_start",
        "warmup_iterations",
        "coord_channels",
        "track_running_stats",
        *_SKIPNET_KEYS,
    ),
    "reference_random_cnn": ("channels", *_SKIPNET_KEYS),
}


def build_prior(spec: dict[str, Any]) -> CNNPrior | ReferenceRandomCNNPenalty:
    """Make the CNN prior of a regulariser spec.

    ``{"type": "cnn_prior", ...}`` gives a :class:`CNNPrior`; ``{"type":
    "reference_random_cnn", ...}`` a :class:`ReferenceRandomCNNPenalty`. The other keys are
    the constructor arguments (lists are accepted for ``down``/``up``/``skip``). A
    ``"weight"`` key is ignored: it belongs to the fit's loss, not to the module.

    Raises:
        ValueError: unknown type or key, or a bad argument (the message names it).
    """
    if not isinstance(spec, dict):
        raise ValueError(f"prior spec must be a mapping, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in _PRIOR_KEYS:
        raise ValueError(f"prior type must be one of {PRIORS}, got {kind!r}")
    kwargs = {k: v for k, v in spec.items() if k not in ("type", "weight")}
    unknown = sorted(set(kwargs) - set(_PRIOR_KEYS[kind]))
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} for prior type {kind!r}; "
            f"allowed: {sorted(_PRIOR_KEYS[kind])}"
        )
    for name in ("down", "up", "skip"):
        if isinstance(kwargs.get(name), list):
            kwargs[name] = tuple(kwargs[name])
    if kind == "cnn_prior":
        return CNNPrior(**kwargs)
    return ReferenceRandomCNNPenalty(**kwargs)
