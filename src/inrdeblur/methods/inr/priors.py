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

:func:`build_prior` makes either CNN object from a regulariser spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PRIORS = ("cnn_prior", "reference_random_cnn")

FD_TAPS = ("forward", "reference")

#: skip-branch channels of :class:`CNNPrior`'s SkipNet, at every scale
CNN_PRIOR_SKIP_CHANNELS = 4
#: :class:`SkipNet`'s default ``down`` channels, one entry per scale
_DEFAULT_DOWN = (8, 16, 32, 64, 128)


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


def _check_positive_int(name: str, value: Any, allow_zero: bool = False) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        need = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {need} integer, got {value!r}")
    return value


def _check_channel_list(name: str, values: Any, allow_zero: bool = False) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty list of channel counts, got {values!r}")
    return tuple(
        _check_positive_int(f"{name}[{i}]", v, allow_zero=allow_zero) for i, v in enumerate(values)
    )


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Reflection-padded 'same' convolution (stride 2 halves the size, rounding up)."""
    return nn.Sequential(
        nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_ch, out_ch, kernel, stride=stride)
    )


def _norm_act(channels: int, track_running_stats: bool) -> list[nn.Module]:
    return [
        nn.BatchNorm2d(channels, track_running_stats=track_running_stats),
        nn.LeakyReLU(0.2),
    ]


class _SkipLevel(nn.Module):
    """One scale of :class:`SkipNet`: skip branch, down path, deeper levels, up path."""

    def __init__(
        self,
        level: int,
        in_ch: int,
        down: tuple[int, ...],
        up: tuple[int, ...],
        skip: tuple[int, ...],
        upsample_mode: str,
        track: bool,
    ) -> None:
        super().__init__()
        last = level == len(down) - 1
        n_skip, n_down, n_up = skip[level], down[level], up[level]
        n_deep = n_down if last else up[level + 1]
        # Convs are created in the order of the DIP ``skip()`` builder (skip, down and up of
        # this level, then the deeper levels), so weights are drawn in the same order.
        self.skip = None
        if n_skip:
            self.skip = nn.Sequential(_conv(in_ch, n_skip, 1), *_norm_act(n_skip, track))
        self.down = nn.Sequential(
            _conv(in_ch, n_down, 3, stride=2),
            *_norm_act(n_down, track),
            _conv(n_down, n_down, 3),
            *_norm_act(n_down, track),
        )
        align = False if upsample_mode == "bilinear" else None
        self.upsample = nn.Upsample(scale_factor=2, mode=upsample_mode, align_corners=align)
        self.up = nn.Sequential(
            nn.BatchNorm2d(n_skip + n_deep, track_running_stats=track),
            _conv(n_skip + n_deep, n_up, 3),
            *_norm_act(n_up, track),
            _conv(n_up, n_up, 1),
            *_norm_act(n_up, track),
        )
        self.deeper = None
        if not last:
            self.deeper = _SkipLevel(level + 1, n_down, down, up, skip, upsample_mode, track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep = self.down(x)
        if self.deeper is not None:
            deep = self.deeper(deep)
        deep = self.upsample(deep)
        if self.skip is not None:
            deep = torch.cat([self.skip(x), deep], dim=1)
        return self.up(deep)


class SkipNet(nn.Module):
    """The Deep-Image-Prior ``skip`` encoder-decoder (Ulyanov et al. 2018), spec 7.4.

    Per scale i: a stride-2 3x3 conv and a 3x3 conv (``down[i]`` channels) go one scale
    deeper; the deeper result is bilinearly upsampled x2, concatenated with a 1x1-conv skip
    branch of ``skip[i]`` channels (none where 0), then BatchNorm, a 3x3 conv and a 1x1
    conv to ``up[i]`` channels. Every conv is followed by BatchNorm and LeakyReLU(0.2) and
    uses reflection padding. A final 1x1 conv and a sigmoid give ``out_channels`` in (0, 1).
    Weights use PyTorch's default init, drawn in the order of the DIP builder.

    Any input size is accepted: the input is replicate-padded (centred; the extra pixel,
    if odd, goes bottom/right) to a multiple of ``2**depth`` and at least
    ``2**(depth + 1)`` per side (``depth = len(down)``; the deepest scale needs 2x2 for
    reflection padding and batch statistics), and the output is cropped back, so
    (B, C_in, H, W) -> (B, C_out, H, W). Replicate rather than reflect works for any size.

    Args:
        in_channels, out_channels: image channels in and out.
        down, up, skip: channels per scale, equal lengths; ``skip`` entries may be 0.
        upsample_mode: ``"bilinear"`` (reference) or ``"nearest"`` (DIP default).
        track_running_stats: BatchNorm running statistics. With ``False`` BatchNorm always
            normalises by the current batch, so train and eval modes give the same output.
        seed: if given, the weights are drawn from ``torch.manual_seed(seed)`` without
            touching the global RNG state; otherwise from the global RNG.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        down: Sequence[int] = _DEFAULT_DOWN,
        up: Sequence[int] = _DEFAULT_DOWN,
        skip: Sequence[int] = (0, 0, 0, 4, 4),
        upsample_mode: str = "bilinear",
        track_running_stats: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("out_channels", out_channels)
        down_t = _check_channel_list("down", down)
        up_t = _check_channel_list("up", up)
        skip_t = _check_channel_list("skip", skip, allow_zero=True)
        if not len(down_t) == len(up_t) == len(skip_t):
            raise ValueError(
                "down, up and skip must have the same length (one entry per scale), got "
                f"{len(down_t)}, {len(up_t)} and {len(skip_t)}"
            )
        if upsample_mode not in ("bilinear", "nearest"):
            raise ValueError(
                f"upsample_mode must be 'bilinear' or 'nearest', got {upsample_mode!r}"
            )
        if seed is not None:
            _check_positive_int("seed", seed, allow_zero=True)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth = len(down_t)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.body = _SkipLevel(
                0, in_channels, down_t, up_t, skip_t, upsample_mode, track_running_stats
            )
            self.head = nn.Sequential(nn.Conv2d(up_t[0], out_channels, 1), nn.Sigmoid())

    def padded_size(self, n: int) -> int:
        """Side length the network runs at for an input side of ``n`` pixels."""
        step = 2**self.depth
        return max(-(-n // step) * step, 2 * step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, H, W) in (0, 1)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SkipNet expects (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}"
            )
        height, width = x.shape[-2:]
        pad_h = self.padded_size(height) - height
        pad_w = self.padded_size(width) - width
        top, left = pad_h // 2, pad_w // 2
        if pad_h or pad_w:
            x = F.pad(x, (left, pad_w - left, top, pad_h - top), mode="replicate")
        out = self.head(self.body(x))
        return out[..., top : top + height, left : left + width]


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
        _check_positive_int("channels", channels)
        _check_positive_int("warmup_iterations", warmup_iterations, allow_zero=True)
        skipnet_kwargs = _skipnet_kwargs("CNNPrior", skipnet_kwargs)
        skipnet_kwargs.setdefault("track_running_stats", False)
        if "skip" not in skipnet_kwargs:
            down = skipnet_kwargs.get("down", _DEFAULT_DOWN)
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
        _check_positive_int("channels", channels)
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
