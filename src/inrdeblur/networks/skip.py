"""The Deep-Image-Prior skip network (Ulyanov et al., CVPR 2018): an encoder-decoder with
skip connections, reflection padding, batch norm and leaky ReLU, shared by the methods
that use a CNN: the INR fits' CNN prior and the image generators of the blind methods
(SelfDeblur, cross-scale INR, VDIP).

The reference codes differ in two details, both options here: DIP's and SelfDeblur's
builders put a BatchNorm on the concatenated skip and deeper features of each scale
(``concat_norm``), the cross-scale INR's does not; SelfDeblur adds a dot-product
non-local block (Wang et al., CVPR 2018) after the first down convolution of the deeper
scales (``non_local_levels``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: :class:`SkipNet`'s default ``down`` channels, one entry per scale
DEFAULT_DOWN = (8, 16, 32, 64, 128)


def check_positive_int(name: str, value: Any, allow_zero: bool = False) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        need = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {need} integer, got {value!r}")
    return value


def _check_channel_list(name: str, values: Any, allow_zero: bool = False) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty list of channel counts, got {values!r}")
    return tuple(
        check_positive_int(f"{name}[{i}]", v, allow_zero=allow_zero) for i, v in enumerate(values)
    )


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Reflection-padded 'same' convolution (stride 2 halves the size, rounding up)."""
    return nn.Sequential(
        nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_ch, out_ch, kernel, stride=stride)
    )


class NonLocalBlock(nn.Module):
    """Dot-product non-local block (Wang et al., "Non-local Neural Networks", CVPR 2018).

    ``z = x + BN(W (f g))`` with ``f = theta(x)^T phi(x) / N``: theta, phi and g are 1x1
    convs to ``channels // 2``; phi and g are max-pooled 2x2 first (the paper's
    "sub-sampling"), N is the number of pooled positions. The BatchNorm's weight starts at
    zero, so a new block is the identity. (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, track_running_stats: bool = True) -> None:
        super().__init__()
        inner = max(channels // 2, 1)
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Sequential(
            nn.Conv2d(inner, channels, 1),
            nn.BatchNorm2d(channels, track_running_stats=track_running_stats),
        )
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (B, HW, inner)
        pool = h >= 2 and w >= 2
        phi = self.phi(x)
        g = self.g(x)
        if pool:
            phi, g = F.max_pool2d(phi, 2), F.max_pool2d(g, 2)
        phi = phi.flatten(2)  # (B, inner, N)
        g = g.flatten(2).transpose(1, 2)  # (B, N, inner)
        f = torch.bmm(theta, phi) / phi.shape[-1]
        y = torch.bmm(f, g).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.out(y)


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
        concat_norm: bool = True,
        non_local_levels: frozenset[int] = frozenset(),
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
        non_local = [NonLocalBlock(n_down, track)] if level in non_local_levels else []
        self.down = nn.Sequential(
            _conv(in_ch, n_down, 3, stride=2),
            *_norm_act(n_down, track),
            *non_local,
            _conv(n_down, n_down, 3),
            *_norm_act(n_down, track),
        )
        align = False if upsample_mode == "bilinear" else None
        self.upsample = nn.Upsample(scale_factor=2, mode=upsample_mode, align_corners=align)
        norm = [nn.BatchNorm2d(n_skip + n_deep, track_running_stats=track)] if concat_norm else []
        self.up = nn.Sequential(
            *norm,
            _conv(n_skip + n_deep, n_up, 3),
            *_norm_act(n_up, track),
            _conv(n_up, n_up, 1),
            *_norm_act(n_up, track),
        )
        self.deeper = None
        if not last:
            self.deeper = _SkipLevel(
                level + 1,
                n_down,
                down,
                up,
                skip,
                upsample_mode,
                track,
                concat_norm,
                non_local_levels,
            )

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
        concat_norm: BatchNorm on the concatenated features before each up block (DIP,
            SelfDeblur); False for the cross-scale INR's builder.
        non_local_levels: scales (0 = finest) that get a :class:`NonLocalBlock` after
            their first down convolution; SelfDeblur: ``(2, 3, 4)``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        down: Sequence[int] = DEFAULT_DOWN,
        up: Sequence[int] = DEFAULT_DOWN,
        skip: Sequence[int] = (0, 0, 0, 4, 4),
        upsample_mode: str = "bilinear",
        track_running_stats: bool = True,
        seed: int | None = None,
        concat_norm: bool = True,
        non_local_levels: Sequence[int] = (),
    ) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("out_channels", out_channels)
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
            check_positive_int("seed", seed, allow_zero=True)
        levels = frozenset(
            check_positive_int(f"non_local_levels[{i}]", v, allow_zero=True)
            for i, v in enumerate(non_local_levels)
        )
        if levels and max(levels) >= len(down_t):
            raise ValueError(
                f"non_local_levels must be scales 0..{len(down_t) - 1}, got {sorted(levels)}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth = len(down_t)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.body = _SkipLevel(
                0,
                in_channels,
                down_t,
                up_t,
                skip_t,
                upsample_mode,
                track_running_stats,
                bool(concat_norm),
                levels,
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
