"""SIREN: a multilayer perceptron with sine activations (Sitzmann et al., NeurIPS 2020)."""

from __future__ import annotations

import math

import torch
from torch import nn


class SineLayer(nn.Module):
    """``sin(omega0 * (W x + b))`` with SIREN's initialisation.

    The first layer draws weights from U(-1/in, 1/in); later layers from
    U(-sqrt(6/in)/omega0, sqrt(6/in)/omega0), which keeps pre-activations distributed
    as arcsine-like variables across depth (Sitzmann et al. 2020, Sec. 3.2).
    """

    def __init__(self, in_features: int, out_features: int, omega0: float, first: bool):
        super().__init__()
        self.omega0 = float(omega0)
        self.linear = nn.Linear(in_features, out_features)
        bound = 1.0 / in_features if first else math.sqrt(6.0 / in_features) / self.omega0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega0 * self.linear(x))


class Siren(nn.Module):
    """Coordinates (N, 2) in [-1, 1] -> RGB (N, out_features).

    Layers: SineLayer(2 -> width, first_omega0), ``hidden_layers`` x SineLayer(width ->
    width, omega0), Linear(width -> out). The output is offset by 0.5, so a network with
    zero output layer paints mid-grey in [0, 1] image space.
    """

    def __init__(
        self,
        in_features: int = 2,
        out_features: int = 3,
        hidden_features: int = 128,
        hidden_layers: int = 3,
        first_omega0: float = 30.0,
        omega0: float = 30.0,
    ):
        super().__init__()
        if hidden_features < 1 or hidden_layers < 0:
            raise ValueError(
                f"Siren: hidden_features must be >= 1 and hidden_layers >= 0, "
                f"got {hidden_features} and {hidden_layers}"
            )
        layers: list[nn.Module] = [SineLayer(in_features, hidden_features, first_omega0, True)]
        layers += [
            SineLayer(hidden_features, hidden_features, omega0, False) for _ in range(hidden_layers)
        ]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(hidden_features, out_features)
        bound = math.sqrt(6.0 / hidden_features) / omega0
        with torch.no_grad():
            self.head.weight.uniform_(-bound, bound)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(coords)) + 0.5
