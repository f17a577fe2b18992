"""The pieces of a gradient-descent fit: every regulariser and data term of the schema is
registered, each regulariser takes the path its INR allows, and the optimiser follows its
cosine schedule and resumes from its state."""

from __future__ import annotations

import math

import pytest
import torch

from inrdeblur.config import params
from inrdeblur.inr import build_inr
from inrdeblur.methods.data_terms import DATA_TERMS, data_term
from inrdeblur.methods.inr.priors import finite_difference_tv
from inrdeblur.methods.inr.regularisers import REGULARISERS, build_regulariser
from inrdeblur.methods.optimisation import AdamCosine

CPU = torch.device("cpu")
SIREN = {"type": "siren", "hidden_features": 8, "hidden_layers": 1}
HASHGRID = {"type": "hashgrid", "preset": "thesis", "backend": "torch"}


def context(model: torch.nn.Module, whole: bool = True) -> dict:
    return dict(model=model, channels=1, iterations=10, whole=whole, device=CPU)


def inr(spec: dict) -> torch.nn.Module:
    """The INR of ``spec`` with the schema's defaults filled."""
    raw = {
        "studies": {"s": {"datasets": ["demo"], "blurs": ["b"], "methods": ["m"], "seeds": [0]}},
        "datasets": {"demo": {}},
        "blurs": {"b": {"model": "uniform"}},
        "methods": {"m": {"inr": spec, "regulariser": {"type": "none"}}},
    }
    filled = params.validate_params(raw)["methods"]["m"]["inr"]
    return build_inr(filled, out_features=1, latent_shape=(8, 8), device=CPU)


def test_the_registries_match_the_schema():
    defs = params.schema()["$defs"]
    assert sorted(defs["regulariser"]["properties"]["type"]["enum"]) == sorted(REGULARISERS)
    fit = defs["method_inr"]["properties"]["fit"]["properties"]
    assert sorted(fit["data_term"]["enum"]) == sorted(DATA_TERMS)


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="regulariser.type: unknown type 'l0'"):
        build_regulariser({"type": "l0"}, **context(torch.nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="data_term: unknown data term 'l2' .known: mse"):
        data_term("l2")


def test_tv_takes_the_coordinate_gradient_where_the_inr_has_one():
    siren = build_regulariser({"type": "tv", "weight": 1e-3}, **context(inr(SIREN)))
    assert siren.point_grad and not siren.spatial_grads
    grid = build_regulariser({"type": "tv", "weight": 1e-3}, **context(inr(HASHGRID)))
    assert grid.spatial_grads and not grid.point_grad


def test_tv_falls_back_to_finite_differences_and_is_off_at_weight_zero():
    nearest = torch.nn.Linear(2, 1)
    nearest.sample_mode = "nearest"  # an INR without coordinate gradients
    reg = build_regulariser({"type": "tv", "weight": 1e-3}, **context(nearest))
    image = torch.rand(1, 1, 6, 7)
    assert not reg.point_grad and not reg.spatial_grads
    assert reg.loss(None, None, image, [], (0.1, 0.1)) == finite_difference_tv(image)
    off = build_regulariser({"type": "tv", "weight": 0.0}, **context(inr(SIREN)))
    assert not off.point_grad and off.loss(None, None, image, [], (0.1, 0.1)) == 0


def test_the_cnn_prior_owns_a_trained_module_and_needs_the_whole_image():
    settings = {"type": "cnn_prior", "lr": 1e-2, "mix_start": 0.1, "warmup_fraction": 0.25}
    reg = build_regulariser(settings, **context(inr(SIREN)))
    assert reg.trained == [reg.modules["prior"]] and reg.parameter_groups()[0]["lr"] == 1e-2
    with pytest.raises(ValueError, match=r"cnn_prior regulariser needs the whole image"):
        build_regulariser(settings, **context(inr(SIREN), whole=False))


def test_mse_is_the_mean_squared_residual():
    a, b = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    assert torch.equal(DATA_TERMS["mse"](a, b), ((a - b) ** 2).mean())


def quadratic_fit(
    steps: int, state: dict | None = None
) -> tuple[list[float], AdamCosine, torch.Tensor]:
    x = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    optimiser = AdamCosine([{"params": [x], "lr": 0.1}], iterations=10, lr_min=0.01, grad_clip=1.0)
    if state is not None:
        x.data.copy_(state["x"])
        optimiser.load_state_dict(state["optimiser"])
    lrs = [optimiser.step((x**2).sum()) for _ in range(steps)]
    return lrs, optimiser, x


def test_the_learning_rate_follows_the_cosine_schedule():
    lrs, _, _ = quadratic_fit(10)
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(10)]
    assert lrs == pytest.approx(expected, rel=1e-12)


def test_the_optimiser_resumes_from_its_state():
    _, _, straight = quadratic_fit(10)
    _, first_half, x = quadratic_fit(4)
    state = {"x": x.detach().clone(), "optimiser": first_half.state_dict()}
    lrs, _, resumed = quadratic_fit(6, state)
    assert torch.equal(resumed, straight) and lrs[0] == pytest.approx(
        0.01 + 0.045 * (1 + math.cos(0.4 * math.pi))
    )
