"""Data terms: how far a method's re-blurred estimate is from the observation.

``DATA_TERMS`` maps the name a recipe selects (``fit.data_term`` of an INR method) to a
function ``(prediction, target) -> 0-d tensor``. Methods that fit by gradient descent
(INR fits, and the blind fits that share their pieces) look it up here.

>>> import torch
>>> float(DATA_TERMS["mse"](torch.ones(2, 2), torch.zeros(2, 2)))
1.0
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def mean_squared_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over pixels and channels of the squared residual: the Gaussian-noise
    log-likelihood up to constants."""
    return torch.mean((prediction - target) ** 2)


#: data-term name -> function (prediction, target) -> 0-d tensor
DATA_TERMS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": mean_squared_error,
}


def data_term(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The data term called ``name``."""
    if name not in DATA_TERMS:
        raise ValueError(f"data_term: unknown data term {name!r} (known: {', '.join(DATA_TERMS)})")
    return DATA_TERMS[name]
