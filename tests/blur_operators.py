"""Small operators of every blur model, and two the tiling knows nothing about, for the
tests that must hold for every operator (``from blur_operators import make_operator``)."""

from __future__ import annotations

import numpy as np
import torch

from inrdeblur.blur.icb import ICBBlur
from inrdeblur.blur.operator import BlurOperator
from inrdeblur.blur.pwb import PWBBlur
from inrdeblur.blur.trajectory import hand_shake
from inrdeblur.blur.uniform import UniformBlur, convolve, full_correlation

#: every name :func:`make_operator` knows
OPERATOR_NAMES = ("uniform", "icb", "pwb", "shaded")


class ShadedBlur(BlurOperator):
    """A shift-variant operator with no crop of its own: a blur times a ramp."""

    model = "shaded"

    def __init__(self, kernel: np.ndarray, image_shape: tuple[int, int]):
        kernel = torch.as_tensor(kernel)
        kh, kw = kernel.shape
        super().__init__(image_shape, (kh - 1 - kh // 2, kh // 2, kw - 1 - kw // 2, kw // 2))
        self.register_buffer("kernel", kernel)
        self.register_buffer("shade", torch.linspace(0.5, 1.5, image_shape[0] * image_shape[1]))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        self.check_latent(latent)
        shade = self.shade.to(latent.dtype).reshape(self.image_shape)
        return convolve(latent, self.kernel.to(latent.dtype), "valid") * shade

    def adjoint(self, blurry: torch.Tensor) -> torch.Tensor:
        shade = self.shade.to(blurry.dtype).reshape(self.image_shape)
        return full_correlation(blurry * shade, self.kernel.to(blurry.dtype))


class GlobalBlur(ShadedBlur):
    """A blur plus the mean of the whole latent: every output pixel reads every latent
    pixel, so it declares no local receptive field."""

    model = "global"

    @property
    def receptive_field(self) -> None:
        return None

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return super().forward(latent) + latent.mean(dim=(-2, -1), keepdim=True)


def make_operator(name: str) -> BlurOperator:
    """A 26 x 34 operator of each kind; the uniform kernel is 5 x 8 (unequal margins)."""
    shape = (26, 34)
    depth = np.full(shape, 3.0)
    depth[:, 17:] = 1.0
    depth[15:, 5:12] = 1.7
    if name == "icb":
        trajectory = hand_shake(3, n_poses=24, translation_std_m=5e-3, rotation_std_deg=0.2)
        return ICBBlur.from_scene(depth, trajectory, (300.0, 280.0), tile=9)
    if name == "pwb":
        trajectory = hand_shake(3, n_poses=12, translation_std_m=0.015, rotation_std_deg=0.5)
        k = np.array([[60.0, 0.0, 16.3], [0.0, 55.0, 12.6], [0.0, 0.0, 1.0]])
        return PWBBlur.from_scene(depth, trajectory, k, chunk_rows=3)
    kernel = np.random.default_rng(1).random((5, 8))
    kernel /= kernel.sum()
    classes = {"uniform": UniformBlur, "shaded": ShadedBlur, "global": GlobalBlur}
    return classes[name](kernel, shape)
