"""Fourier-feature MLP (Tancik et al., "Fourier Features Let Networks Learn High Frequency
Functions in Low Dimensional Domains", NeurIPS 2020)."""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierFeatureMLP(nn.Module):
    """Coordinates (N, in_features) in [-1, 1] -> RGB (N, out_features), image space [0, 1].

    The input goes through the random Fourier mapping
    ``gamma(x) = [sin(2 pi B x), cos(2 pi B x)]``, shape (N, 2 * n_frequencies) with all the
    sines first, then a ReLU MLP: Linear(2 n -> width) + ReLU, ``hidden_layers`` x
    [Linear(width -> width) + ReLU], and a linear head Linear(width -> out). The output is
    offset by 0.5, so a zero head paints mid-grey (as :class:`~inrdeblur.inr.siren.Siren`).

    ``B`` has shape (n_frequencies, in_features), entries drawn once from N(0, sigma^2) with
    the global torch RNG at construction (seed it with ``torch.manual_seed``), and is a
    frozen buffer: it is saved in the state dict and counted in the model size, but it is not
    a parameter and receives no gradient.

    Units of ``sigma``: ``B`` is defined for coordinates in [-1, 1], so a row ``b`` of ``B``
    is a frequency in cycles per coordinate unit. The latent image spans 2 units, so ``b``
    is ``2 b`` cycles per image (``2 b / (n - 1)`` cycles per pixel along an axis of ``n``
    pixels), and ``sigma`` = 5 gives a per-axis standard deviation of 10 cycles per image,
    the same as Tancik's sigma = 10 for images on [0, 1]. Frequencies above Nyquist,
    ``|b| > (n - 1) / 4``, alias on the pixel grid.

    Difference from the reference (ParallaxICB ``FOURIER_MAPPED_MLP``, icb_spec 6.2): the
    reference's first Linear(448 -> 448) has no activation, an affine map straight into the
    next layer that adds parameters but nothing expressive. This is the standard Tancik
    design with a ReLU after every hidden layer. With the defaults (224 frequencies, width
    448, ``hidden_layers`` = 4) it has the reference's layer sizes and parameter count:
    1,007,107 trainable parameters + 448 entries of ``B`` = 1,007,555.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> net = FourierFeatureMLP(n_frequencies=16, hidden_features=32, hidden_layers=1)
        >>> net(torch.zeros(5, 2)).shape
        torch.Size([5, 3])
        >>> net.encode(torch.zeros(1, 2))[0, :16].abs().max().item()  # sin(0) = 0
        0.0
    """

    B: torch.Tensor

    def __init__(
        self,
        in_features: int = 2,
        out_features: int = 3,
        n_frequencies: int = 224,
        sigma: float = 5.0,
        hidden_features: int = 448,
        hidden_layers: int = 4,
    ):
        super().__init__()
        checks = {
            "in_features": (in_features, in_features >= 1, ">= 1"),
            "out_features": (out_features, out_features >= 1, ">= 1"),
            "n_frequencies": (n_frequencies, n_frequencies >= 1, ">= 1"),
            "sigma": (sigma, math.isfinite(sigma) and sigma > 0, "finite and > 0"),
            "hidden_features": (hidden_features, hidden_features >= 1, ">= 1"),
            "hidden_layers": (hidden_layers, hidden_layers >= 0, ">= 0"),
        }
        for name, (value, ok, rule) in checks.items():
            if not ok:
                raise ValueError(f"FourierFeatureMLP: {name} must be {rule}, got {value}")
        self.sigma = float(sigma)
        self.register_buffer("B", torch.randn(n_frequencies, in_features) * self.sigma)
        layers: list[nn.Module] = [nn.Linear(2 * n_frequencies, hidden_features), nn.ReLU()]
        for _ in range(hidden_layers):
            layers += [nn.Linear(hidden_features, hidden_features), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(hidden_features, out_features)

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        """gamma(x): (N, in_features) -> (N, 2 * n_frequencies), ``[sin 2piBx, cos 2piBx]``."""
        phase = (2.0 * math.pi) * (coords @ self.B.T)
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.encode(coords))) + 0.5
