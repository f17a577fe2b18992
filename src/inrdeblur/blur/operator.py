"""The blur-operator interface shared by the uniform, ICB and PWB models.

A blur operator maps a *latent* image, the sharp image extended by a margin on each side,
to a blurry image of size (H, W). The margin is exactly what the blur support reads
beyond the image, so the forward model needs no boundary condition; this is the 'valid'
convention of the non-blind fits, which optimise the latent directly. Synthesis extends
a sharp image to the latent with an explicit boundary mode (:meth:`BlurOperator.pad`).

Every operator is a ``torch.nn.Module`` that is linear in the latent, differentiable
with respect to it, and holds its precomputed data (kernels, mattes, shifts) as buffers,
so ``.to(device)`` moves it and :meth:`BlurOperator.size_mb` reports its memory.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

PAD_MODES = ("replicate", "reflect", "circular", "zeros")


class BlurOperator(torch.nn.Module):
    """Base class: a linear map from a (B, C, H + top + bottom, W + left + right) latent
    to a (B, C, H, W) blurry image.

    Subclasses set ``image_shape`` and ``margin`` and implement :meth:`forward`; they may
    implement :meth:`adjoint`.
    """

    #: the model name written to records (``uniform``, ``icb``, ``pwb``)
    model: str = ""

    def __init__(self, image_shape: tuple[int, int], margin: tuple[int, int, int, int]):
        super().__init__()
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.margin = tuple(int(m) for m in margin)

    @property
    def latent_shape(self) -> tuple[int, int]:
        """(H + top + bottom, W + left + right): the size :meth:`forward` expects."""
        top, bottom, left, right = self.margin
        return self.image_shape[0] + top + bottom, self.image_shape[1] + left + right

    def check_latent(self, latent: torch.Tensor) -> None:
        if latent.ndim != 4 or tuple(latent.shape[-2:]) != self.latent_shape:
            raise ValueError(
                f"{type(self).__name__}: expected a (B, C, {self.latent_shape[0]}, "
                f"{self.latent_shape[1]}) latent, got {tuple(latent.shape)}"
            )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def adjoint(self, blurry: torch.Tensor) -> torch.Tensor:
        """The adjoint map (B, C, H, W) -> latent shape, where the model provides one."""
        raise NotImplementedError(f"{type(self).__name__} provides no adjoint")

    def pad(self, image: torch.Tensor, boundary: str) -> torch.Tensor:
        """Extend a (B, C, H, W) image to the latent shape with a boundary ``mode``."""
        if boundary not in PAD_MODES:
            raise ValueError(f"boundary must be one of {PAD_MODES}, got {boundary!r}")
        if tuple(image.shape[-2:]) != self.image_shape:
            raise ValueError(
                f"{type(self).__name__}: expected a (B, C, {self.image_shape[0]}, "
                f"{self.image_shape[1]}) image, got {tuple(image.shape)}"
            )
        top, bottom, left, right = self.margin
        mode = "constant" if boundary == "zeros" else boundary
        return F.pad(image, (left, right, top, bottom), mode=mode)

    def blur(self, image: torch.Tensor, boundary: str = "replicate") -> torch.Tensor:
        """Blur a (B, C, H, W) image, extending it beyond its border by ``boundary``."""
        return self(self.pad(image, boundary))

    def size_mb(self) -> float:
        """Bytes of the operator's buffers and parameters, in MB of 2**20 bytes."""
        tensors = list(self.buffers()) + list(self.parameters())
        return sum(t.numel() * t.element_size() for t in tensors) / 2**20

    def describe(self) -> dict[str, Any]:
        """JSON-able facts about the operator (model, support, layers, ...)."""
        return {"model": self.model, "margin": list(self.margin), "size_mb": self.size_mb()}
