"""Spatially uniform blur: true 2-D convolution with an explicit boundary model."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inrdeblur.blur.kernels import validate_kernel
from inrdeblur.blur.operator import BlurOperator

BOUNDARIES = ("valid", "replicate", "reflect", "circular", "zeros")


def kernel_padding(kernel_shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding that makes a 'valid' convolution keep the size.

    With kernel centre ``c = k // 2``, output pixel ``i`` sees input pixels ``i + c - m``
    for kernel taps ``m``; so ``k - 1 - c`` rows are needed above and ``c`` below.
    """
    kh, kw = kernel_shape
    return kh - 1 - kh // 2, kh // 2, kw - 1 - kw // 2, kw // 2


def convolve(image: torch.Tensor, kernel: torch.Tensor, boundary: str = "valid") -> torch.Tensor:
    """Convolve every channel of ``image`` with ``kernel`` (true convolution, not correlation).

    Args:
        image: (B, C, H, W) float tensor.
        kernel: (k_h, k_w) tensor, shared by all images and channels.
        boundary: 'valid' returns (B, C, H - k_h + 1, W - k_w + 1), using only pixels
            inside the image. The padded modes ('replicate', 'reflect', 'circular',
            'zeros') extend the image by :func:`kernel_padding` and return (B, C, H, W).

    Differentiable with respect to ``image`` and ``kernel``.
    """
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    if image.ndim != 4:
        raise ValueError(f"image must be (B, C, H, W), got shape {tuple(image.shape)}")
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be (k_h, k_w), got shape {tuple(kernel.shape)}")
    b, c, h, w = image.shape
    kh, kw = kernel.shape
    if boundary == "valid" and (kh > h or kw > w):
        raise ValueError(f"kernel {kh}x{kw} is larger than the image {h}x{w}")
    x = image.reshape(b * c, 1, h, w)
    if boundary != "valid":
        top, bottom, left, right = kernel_padding((kh, kw))
        mode = "constant" if boundary == "zeros" else boundary
        x = F.pad(x, (left, right, top, bottom), mode=mode)
    weight = torch.flip(kernel, dims=(0, 1)).to(dtype=image.dtype, device=image.device)
    y = F.conv2d(x, weight[None, None])
    return y.reshape(b, c, y.shape[-2], y.shape[-1])


class UniformBlur(BlurOperator):
    """Spatially uniform blur with one kernel: ``y = k * x`` ('valid' on the latent)."""

    model = "uniform"

    def __init__(self, kernel: torch.Tensor | np.ndarray, image_shape: tuple[int, int]):
        kernel = torch.as_tensor(validate_kernel(np.asarray(kernel)))
        super().__init__(image_shape, kernel_padding(tuple(kernel.shape)))
        self.register_buffer("kernel", kernel)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        self.check_latent(latent)
        return convolve(latent, self.kernel.to(latent.dtype), "valid")

    def adjoint(self, blurry: torch.Tensor) -> torch.Tensor:
        """Correlation with the kernel, 'full': (B, C, H, W) -> latent shape."""
        b, c, h, w = blurry.shape
        weight = torch.flip(self.kernel, dims=(0, 1)).to(blurry.dtype)[None, None]
        out = F.conv_transpose2d(blurry.reshape(b * c, 1, h, w), weight)
        return out.reshape(b, c, out.shape[-2], out.shape[-1])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kernel_shape": list(self.kernel.shape)}
