"""Every INR type of a method recipe: built from validated params, sizes in closed form."""

from __future__ import annotations

import math

import pytest
import torch

from inrdeblur.config import ParamsError, validate_params
from inrdeblur.inr import build_inr
from inrdeblur.inr.factory import hashgrid_config


def recipe(**inr) -> dict:
    params = {
        "studies": {"s": {"datasets": ["demo"], "blurs": ["b"], "methods": ["m"], "seeds": [0]}},
        "datasets": {"demo": {}},
        "blurs": {"b": {"model": "uniform"}},
        "methods": {"m": {"inr": inr, "regulariser": {"type": "none"}}},
    }
    return validate_params(params)["methods"]["m"]["inr"]


def n_params(model: torch.nn.Module) -> int:
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() for t in tensors)


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def test_fourier_defaults_have_the_reference_size():
    # B (224 x 2, frozen) + Linear(448, 448) + 4 x Linear(448, 448) + Linear(448, 3): the
    # 1,007,555 values of the reference FOURIER_MAPPED_MLP (icb_spec 6.2).
    model = build_inr(recipe(type="fourier"))
    assert n_params(model) == 224 * 2 + 5 * linear(448, 448) + linear(448, 3) == 1_007_555


def test_dif_mlp_variant_has_the_thesis_size():
    model = build_inr(recipe(type="dif", variant="mlp"), latent_shape=(70, 90))
    pe = 2 * (1 + 2 * 4)  # (x, y) and sin/cos at 4 frequencies
    coefficients = linear(pe, 64) + linear(64, 144, bias=False)
    bases = sum(linear(pe, 64) + linear(64, d, bias=False) for d in (32, 32, 32, 16, 16, 16))
    projection = linear(144, 1024) + linear(1024, 1024) + linear(1024, 3, bias=False)
    assert n_params(model) == coefficients + bases + projection == 1_228_096


def test_dif_needs_the_latent_size():
    with pytest.raises(ValueError, match="latent size"):
        build_inr(recipe(type="dif"))


def test_hashgrid_thesis_preset_size_and_override():
    spec = recipe(type="hashgrid", backend="torch")
    assert hashgrid_config(spec)["n_levels"] == 14
    entries = 0
    for level in range(14):
        resolution = math.ceil(12 * 1.5**level - 1) + 1
        entries += min(2**20, math.ceil(resolution**2 / 8) * 8)
    mlp = linear(28, 128) + linear(128, 128) + linear(128, 3)
    model = build_inr(spec)
    assert sum(p.numel() for p in model.parameters()) == 2 * entries + mlp
    small = recipe(type="hashgrid", preset="instant_ngp", n_levels=4, backend="torch")
    config = hashgrid_config(small)
    assert (config["n_levels"], config["log2_hashmap_size"], config["hidden_features"]) == (
        4,
        19,
        64,
    )


@pytest.mark.parametrize(
    ("inr", "latent"),
    [({"type": "siren"}, None), ({"type": "fourier"}, None), ({"type": "dif"}, (20, 24)),
     ({"type": "hashgrid", "backend": "torch", "log2_hashmap_size": 12}, None)],
    ids=["siren", "fourier", "dif", "hashgrid"],
)  # fmt: skip
def test_every_type_maps_coordinates_to_rgb_with_gradients(inr, latent):
    torch.manual_seed(0)
    model = build_inr(recipe(**inr), latent_shape=latent)
    coords = torch.rand(50, 2, requires_grad=True) * 2 - 1
    out = model(coords)
    assert out.shape == (50, 3) and torch.isfinite(out).all()
    (grad,) = torch.autograd.grad(out.sum(), coords, create_graph=True)
    assert grad.shape == (50, 2)
    grad.abs().sum().backward()  # the autograd TV differentiates through this
    assert any(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    ("inr", "message"),
    [
        ({"type": "siren", "hidden_features": -4}, "methods.m.inr.hidden_features: -4 is less"),
        ({"type": "hashgrid", "n_levels": 0}, "methods.m.inr.n_levels: 0 is less than"),
        ({"type": "hashgrid", "backend": "cuda"}, "methods.m.inr.backend: 'cuda' is not one of"),
        ({"type": "dif", "omega0": 30.0}, "methods.m.inr.omega0: unknown key for type 'dif'"),
        ({"type": "nerf"}, "methods.m.inr.type: 'nerf' is not one of"),
    ],
)
def test_bad_inr_params_are_named_at_validation(inr, message):
    with pytest.raises(ParamsError) as info:
        recipe(**inr)
    assert any(problem.startswith(message) for problem in info.value.problems), info.value
