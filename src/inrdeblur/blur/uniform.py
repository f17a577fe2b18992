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

    Differentiable with respect to ``image`` and ``kernel``. On the CPU in float32 the
    convolution runs through :class:`ValidConvolution`, whose backward is a plain forward
    convolution (the adjoint) instead of PyTorch's slower conv2d input gradient; the
    values are the same.
    """
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    if image.ndim != 4:
        raise ValueError(f"image must be (B, C, H, W), got shape {tuple(image.shape)}")
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be (k_h, k_w), got shape {tuple(kernel.shape)}")
    _, _, h, w = image.shape
    kh, kw = kernel.shape
    if boundary == "valid" and (kh > h or kw > w):
        raise ValueError(f"kernel {kh}x{kw} is larger than the image {h}x{w}")
    if boundary != "valid":
        top, bottom, left, right = kernel_padding((kh, kw))
        mode = "constant" if boundary == "zeros" else boundary
        image = F.pad(image, (left, right, top, bottom), mode=mode)
    kernel = kernel.to(dtype=image.dtype, device=image.device)
    needs_grad = torch.is_grad_enabled() and (image.requires_grad or kernel.requires_grad)
    if needs_grad and _adjoint_backward_is_faster(image):
        return ValidConvolution.apply(image, kernel)
    return valid_convolution(image, kernel)


def _adjoint_backward_is_faster(image: torch.Tensor) -> bool:
    """Whether :class:`ValidConvolution` beats PyTorch's own conv2d backward for ``image``.

    Measured (``benchmarks/uniform_blur_speed.py``) on the CPU: several times faster in
    float32 (oneDNN forward convolution vs the generic input gradient), slower in float64
    (no oneDNN; both are im2col). On CUDA, cuDNN's own backward is used.
    """
    return image.device.type == "cpu" and image.dtype == torch.float32


def valid_convolution(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """'valid' true convolution, (B, C, H, W) x (k_h, k_w) -> (B, C, H - k_h + 1, W - k_w + 1).

    ``kernel`` must have the dtype and device of ``image``; no checks (see :func:`convolve`).
    Differentiated by PyTorch's conv2d autograd.
    """
    b, c, h, w = image.shape
    weight = torch.flip(kernel, dims=(0, 1))
    y = F.conv2d(image.reshape(b * c, 1, h, w), weight[None, None])
    return y.reshape(b, c, y.shape[-2], y.shape[-1])


def full_correlation(blurry: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`valid_convolution`: (B, C, h, w) -> (B, C, h + k_h - 1, w + k_w - 1).

    The zero-padded ('full') correlation with ``kernel``, i.e. convolution with the
    flipped kernel, computed as one forward conv2d.
    """
    b, c, h, w = blurry.shape
    kh, kw = kernel.shape
    x = F.conv2d(blurry.reshape(b * c, 1, h, w), kernel[None, None], padding=(kh - 1, kw - 1))
    return x.reshape(b, c, x.shape[-2], x.shape[-1])


class ValidConvolution(torch.autograd.Function):
    """:func:`valid_convolution` with a hand-written backward.

    ``apply(image, kernel)``: image (B, C, H, W), kernel (k_h, k_w) of the same dtype and
    device; returns (B, C, H - k_h + 1, W - k_w + 1), bit-identical to
    :func:`valid_convolution`. The backward gives

    - d/d image: :func:`full_correlation` of the output gradient with the kernel (the
      adjoint), a forward convolution;
    - d/d kernel (only when the kernel requires grad): the correlation of the image with
      the output gradient, summed over images and channels, flipped.

    Both are built from differentiable ops, so double backward works too.
    """

    @staticmethod
    def forward(ctx: Any, image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(image, kernel)
        return valid_convolution(image, kernel)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        image, kernel = ctx.saved_tensors
        grad_image = grad_kernel = None
        if ctx.needs_input_grad[0]:
            grad_image = full_correlation(grad_out, kernel)
        if ctx.needs_input_grad[1]:
            b, c, h, w = image.shape
            g = grad_out.reshape(1, b * c, grad_out.shape[-2], grad_out.shape[-1])
            # (1, BC, H, W) correlated with the (1, BC, h, w) gradient as one weight: the
            # sum over images and channels of d loss / d flipped-kernel tap.
            corr = F.conv2d(image.reshape(1, b * c, h, w), g)
            grad_kernel = torch.flip(corr[0, 0], dims=(0, 1))
        return grad_image, grad_kernel


def fft_valid_convolution(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """:func:`valid_convolution` by FFT: (B, C, H, W) x (k_h, k_w) -> (B, C, H - k_h + 1,
    W - k_w + 1).

    The circular convolution of size (H, W) equals the linear one except in its first
    ``k_h - 1`` rows and ``k_w - 1`` columns, which the 'valid' crop drops.
    """
    h, w = image.shape[-2:]
    kh, kw = kernel.shape
    spectrum = torch.fft.rfft2(image, s=(h, w)) * torch.fft.rfft2(kernel, s=(h, w))
    return torch.fft.irfft2(spectrum, s=(h, w))[..., kh - 1 :, kw - 1 :]


def fft_full_correlation(blurry: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """:func:`full_correlation` (the adjoint of the 'valid' convolution) by FFT:
    (B, C, h, w) -> (B, C, h + k_h - 1, w + k_w - 1).

    The blurry image zero-padded to the output size, circularly correlated with the kernel
    and rolled by ``k - 1``: every wrapped-around read falls on the zero padding.
    """
    h, w = blurry.shape[-2:]
    kh, kw = kernel.shape
    size = (h + kh - 1, w + kw - 1)
    spectrum = torch.fft.rfft2(blurry, s=size) * torch.fft.rfft2(kernel, s=size).conj()
    return torch.roll(torch.fft.irfft2(spectrum, s=size), shifts=(kh - 1, kw - 1), dims=(-2, -1))


#: how :class:`UniformBlur` convolves: 'direct' (conv2d), 'fft', or 'auto'
UNIFORM_METHODS = ("auto", "direct", "fft")


class UniformBlur(BlurOperator):
    """Spatially uniform blur with one kernel: ``y = k * x`` ('valid' on the latent).

    ``method``: 'direct' convolves with ``conv2d`` (:func:`convolve`; oneDNN on the CPU in
    float32, cuDNN on CUDA), 'fft' by FFT (:func:`fft_valid_convolution`, the same values
    to rounding), 'auto' (the default) by FFT in float64 only, where ``conv2d`` has no fast
    path on the CPU (0.45 s against 0.05 s in float32 for a 27 px kernel on a 281 px
    latent, forward and adjoint), and directly otherwise, so float32 fits are unchanged.

    The stored ``kernel`` is the default; :meth:`forward` and :meth:`adjoint` take another
    of the same size per call (``kernel=``, a tensor, differentiable), which is how a blind
    method estimates it.

    >>> op = UniformBlur(np.full((3, 3), 1 / 9), (4, 5))
    >>> op.latent_shape, op.receptive_field
    ((6, 7), (1, 1, 1, 1))
    >>> op(torch.ones(1, 1, 6, 7)).shape
    torch.Size([1, 1, 4, 5])
    """

    model = "uniform"
    call_parameters = ("kernel",)
    scene_inputs = ("kernel",)

    def __init__(
        self,
        kernel: torch.Tensor | np.ndarray,
        image_shape: tuple[int, int],
        method: str = "auto",
    ):
        if method not in UNIFORM_METHODS:
            raise ValueError(f"method: must be one of {UNIFORM_METHODS}, got {method!r}")
        if isinstance(kernel, torch.Tensor):
            validate_kernel(kernel.detach().cpu().numpy())
            kernel = kernel.detach().clone()
        else:
            kernel = torch.as_tensor(validate_kernel(np.asarray(kernel)))
        super().__init__(image_shape, kernel_padding(tuple(kernel.shape)))
        self.register_buffer("kernel", kernel)
        self.method = method

    @classmethod
    def from_recipe(
        cls, settings: dict[str, Any], image_shape: tuple[int, int], **inputs: Any
    ) -> UniformBlur:
        """The blur of a ``model: uniform`` recipe with the scene's or a drawn ``kernel``."""
        if inputs.get("kernel") is None:
            raise ValueError("uniform blur: a kernel is required")
        return cls(inputs["kernel"], image_shape)

    def _fft(self, dtype: torch.dtype) -> bool:
        return self.method == "fft" or (self.method == "auto" and dtype == torch.float64)

    def _kernel(self, kernel: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """The per-call ``kernel`` (checked: same size as the stored one) or the stored one,
        in the dtype and on the device of ``like``."""
        if kernel is None:
            return self.kernel.to(like.dtype)
        if not isinstance(kernel, torch.Tensor) or tuple(kernel.shape) != tuple(self.kernel.shape):
            got = tuple(kernel.shape) if isinstance(kernel, torch.Tensor) else type(kernel).__name__
            raise ValueError(
                f"UniformBlur: the kernel must be a {tuple(self.kernel.shape)} tensor, the size "
                f"that fixes the margin, got {got}"
            )
        return kernel.to(dtype=like.dtype, device=like.device)

    def forward(self, latent: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
        self.check_latent(latent)
        k = self._kernel(kernel, latent)
        if self._fft(latent.dtype):
            return fft_valid_convolution(latent, k)
        return convolve(latent, k, "valid")

    def adjoint(self, blurry: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
        """Correlation with the kernel, 'full': (B, C, H, W) -> latent shape."""
        k = self._kernel(kernel, blurry)
        if self._fft(blurry.dtype):
            return fft_full_correlation(blurry, k)
        b, c, h, w = blurry.shape
        weight = torch.flip(k, dims=(0, 1))[None, None]
        out = F.conv_transpose2d(blurry.reshape(b * c, 1, h, w), weight)
        return out.reshape(b, c, out.shape[-2], out.shape[-1])

    def crop(self, row0: int, row1: int, col0: int, col1: int) -> BlurOperator:
        """The same kernel on the tile: a 'valid' convolution of its latent window."""
        if self.is_whole_image(row0, row1, col0, col1):
            return self
        return UniformBlur(self.kernel, (row1 - row0, col1 - col0), self.method)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kernel_shape": list(self.kernel.shape)}


#: the operator class of this blur model (:mod:`inrdeblur.blur.models`)
OPERATOR = UniformBlur
