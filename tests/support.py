"""Helpers the test modules import (``from support import ...``); fixtures are in conftest."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: reference data beside the checkout (``../shared``); CI has it, a user's clone does not
LEVIN_DIR = REPO.parent / "shared" / "data" / "levin"
#: the real Lai et al. 2016 subset beside the checkout (its ``synthetic_dataset/`` inside)
LAI_DIR = REPO.parent / "shared" / "data" / "lai"
#: four real Kodak images beside the checkout
KODAK_DIR = REPO.parent / "shared" / "data" / "kodak"


def dense_matrix(apply, shape: tuple[int, int]):
    """The linear map ``apply`` on (h, w) arrays as a dense matrix: column j is ``apply`` of
    the j-th unit image, raveled."""
    import numpy as np

    h, w = shape
    columns = []
    for j in range(h * w):
        unit = np.zeros(h * w)
        unit[j] = 1.0
        columns.append(np.ravel(apply(unit.reshape(h, w))))
    return np.stack(columns, axis=1)


def fit_regression(model, coords, target, optimiser, steps: int = 200) -> tuple[float, float]:
    """Fit ``model(coords)`` to ``target`` by MSE for ``steps`` steps; (start, end) MSE."""
    import torch

    with torch.no_grad():
        start = torch.mean((model(coords) - target) ** 2).item()
    for _ in range(steps):
        loss = torch.mean((model(coords) - target) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        end = torch.mean((model(coords) - target) ** 2).item()
    return start, end


def tiny_siren_recipe(iterations: int) -> dict:
    """A small SIREN + TV method recipe (16 x 1 hidden) for fits of a few seconds."""
    return {
        "inr": {
            "type": "siren",
            "hidden_features": 16,
            "hidden_layers": 1,
            "first_omega0": 30.0,
            "omega0": 30.0,
        },
        "regulariser": {"type": "tv", "weight": 1e-3},
        "fit": {
            "iterations": iterations,
            "lr": 2e-3,
            "lr_min": 1e-5,
            "grad_clip": 1.0,
            "device": "cpu",
        },
    }
