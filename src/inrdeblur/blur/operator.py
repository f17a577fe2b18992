"""The blur-operator interface shared by the uniform, ICB and PWB models.

A blur operator maps a *latent* image, the sharp image extended by a margin on each side,
to a blurry image of size (H, W). The margin is exactly what the blur support reads
beyond the image, so the forward model needs no boundary condition; this is the 'valid'
convention of the non-blind fits, which optimise the latent directly. Synthesis extends
a sharp image to the latent with an explicit boundary mode (:meth:`BlurOperator.pad`).

Every operator is a ``torch.nn.Module``, differentiable with respect to the latent, that
holds its precomputed data (kernels, mattes, shifts) as buffers, so ``.to(device)`` moves
it and :meth:`BlurOperator.size_mb` reports its memory. What else a method may rely on is
declared by the class:

- ``is_linear``: the forward map is linear in the latent (so :meth:`BlurOperator.adjoint`
  is its transpose); a learned operator may not be;
- ``call_parameters``: parameters :meth:`forward` and :meth:`adjoint` accept per call as
  tensors, differentiable too (the uniform blur's ``kernel``, for blind methods);
- :attr:`BlurOperator.receptive_field`: the latent window each output pixel reads, or
  None when an output pixel may read the whole latent;
- :meth:`BlurOperator.crop`: the operator on an output tile, where the receptive field is
  local (the tiled fits use it);
- ``scene_inputs`` and :meth:`BlurOperator.from_recipe`: what the blur model needs from a
  scene, and how a ``blurs.<name>`` recipe builds it (:mod:`inrdeblur.blur.models` finds
  the class of a model name).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

PAD_MODES = ("replicate", "reflect", "circular", "zeros")


class BlurOperator(torch.nn.Module):
    """Base class: a map from a (B, C, H + top + bottom, W + left + right) latent to a
    (B, C, H, W) blurry image.

    Subclasses set ``image_shape`` and ``margin`` and implement :meth:`forward`; they may
    implement :meth:`adjoint`, :meth:`crop` (a faster one than the default) and
    :meth:`from_recipe`.
    """

    #: the model name written to records (``uniform``, ``icb``, ``pwb``)
    model: str = ""
    #: whether :meth:`forward` is linear in the latent
    is_linear: bool = True
    #: tensors :meth:`forward` and :meth:`adjoint` take per call as keyword arguments
    call_parameters: tuple[str, ...] = ()
    #: what :meth:`from_recipe` needs of the scene (``kernel``, ``depth``, ...)
    scene_inputs: tuple[str, ...] = ()

    def __init__(self, image_shape: tuple[int, int], margin: tuple[int, int, int, int]):
        super().__init__()
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.margin = tuple(int(m) for m in margin)

    @classmethod
    def from_recipe(
        cls, settings: dict[str, Any], image_shape: tuple[int, int], **inputs: Any
    ) -> BlurOperator:
        """The operator of a validated ``blurs.<name>`` recipe for an (H, W) blurry image,
        from the :attr:`scene_inputs` given as keyword arguments."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a recipe")

    @property
    def receptive_field(self) -> tuple[int, int, int, int] | None:
        """(top, bottom, left, right): output pixel (i, j) reads only latent rows
        ``i .. i + top + bottom`` and columns ``j .. j + left + right``; None when it may
        read anywhere. The margin, unless a subclass says otherwise."""
        return self.margin

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

    def crop(self, row0: int, row1: int, col0: int, col1: int) -> BlurOperator:
        """The operator of output rows ``row0:row1`` and columns ``col0:col1``.

        It maps the latent window of the tile (rows ``row0 .. row1 + top + bottom``,
        columns ``col0 .. col1 + left + right``) to the blurry tile, exactly
        ``self(latent)[..., row0:row1, col0:col1]``. This default embeds the window in a
        zero latent and blurs the whole of it (exact for any local receptive field, but a
        full-image blur per call); the blur models override it with an operator of their
        own on the tile.

        Raises:
            ValueError: the tile is outside the image, or the operator has no local
                receptive field, so a tile's pixels may read beyond its window.
        """
        if self.is_whole_image(row0, row1, col0, col1):
            return self
        return EmbeddedTile(self, (row0, row1, col0, col1))

    def is_whole_image(self, row0: int, row1: int, col0: int, col1: int) -> bool:
        """Whether a tile is the whole image; raises the errors of :meth:`crop`."""
        h, w = self.image_shape
        if not (0 <= row0 < row1 <= h and 0 <= col0 < col1 <= w):
            raise ValueError(
                f"{type(self).__name__}.crop: tile rows {row0}:{row1}, columns {col0}:{col1} "
                f"is not inside the {h}x{w} image"
            )
        if self.receptive_field is None:
            raise ValueError(
                f"{type(self).__name__}.crop: the operator has no local receptive field, "
                "so it cannot be applied one tile at a time"
            )
        return (row0, row1, col0, col1) == (0, h, 0, w)

    def size_mb(self) -> float:
        """Bytes of the operator's buffers and parameters, in MB of 2**20 bytes."""
        tensors = list(self.buffers()) + list(self.parameters())
        return sum(t.numel() * t.element_size() for t in tensors) / 2**20

    def describe(self) -> dict[str, Any]:
        """JSON-able facts about the operator (model, support, layers, ...)."""
        return {"model": self.model, "margin": list(self.margin), "size_mb": self.size_mb()}


class EmbeddedTile(BlurOperator):
    """An operator restricted to an output tile by embedding (:meth:`BlurOperator.crop`'s
    default): the latent window zero-padded to the full latent, blurred, cropped. Its
    adjoint is the full adjoint of the zero-padded blurry tile, cropped to the window."""

    def __init__(self, parent: BlurOperator, tile: tuple[int, int, int, int]):
        row0, row1, col0, col1 = tile
        super().__init__((row1 - row0, col1 - col0), parent.margin)
        self.model = parent.model
        self.is_linear = parent.is_linear
        self.call_parameters = parent.call_parameters
        self.parent = parent
        self.tile = tuple(int(v) for v in tile)

    def _window_pad(self) -> tuple[int, int, int, int]:
        """F.pad widths (left, right, top, bottom) from the window to the full latent."""
        row0, row1, col0, col1 = self.tile
        lat_h, lat_w = self.parent.latent_shape
        top, bottom, left, right = self.margin
        return col0, lat_w - (col1 + left + right), row0, lat_h - (row1 + top + bottom)

    def forward(self, latent: torch.Tensor, **params: Any) -> torch.Tensor:
        self.check_latent(latent)
        row0, row1, col0, col1 = self.tile
        full = F.pad(latent, self._window_pad())
        return self.parent(full, **params)[..., row0:row1, col0:col1]

    def adjoint(self, blurry: torch.Tensor, **params: Any) -> torch.Tensor:
        row0, row1, col0, col1 = self.tile
        h, w = self.parent.image_shape
        full = F.pad(blurry, (col0, w - col1, row0, h - row1))
        left, right, top, bottom = self._window_pad()
        lat_h, lat_w = self.parent.latent_shape
        return self.parent.adjoint(full, **params)[..., top : lat_h - bottom, left : lat_w - right]

    def describe(self) -> dict[str, Any]:
        return {**self.parent.describe(), "tile": list(self.tile)}
