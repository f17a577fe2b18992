"""Fourier-feature MLP (Tancik et al. 2020): encoding, frozen B, gradients, fitting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from support import fit_regression

from inrdeblur.inr.fourier import FourierFeatureMLP
from inrdeblur.methods.inr.fit import coordinate_grid, model_size_mb
from inrdeblur.methods.inr.regularisers import coordinate_tv

SMALL = {"n_frequencies": 16, "sigma": 3.0, "hidden_features": 32, "hidden_layers": 1}


def test_shapes():
    torch.manual_seed(0)
    net = FourierFeatureMLP()
    coords = torch.rand(7, 2) * 2 - 1
    assert net.B.shape == (224, 2)
    assert net.encode(coords).shape == (7, 448)
    assert net(coords).shape == (7, 3)
    grey = FourierFeatureMLP(out_features=1, **SMALL)
    assert grey(coords).shape == (7, 1)


def test_b_is_a_frozen_buffer_counted_in_the_model_size():
    torch.manual_seed(0)
    net = FourierFeatureMLP()
    assert "B" in dict(net.named_buffers())
    assert "B" in net.state_dict()
    assert all(p is not net.B for p in net.parameters())
    assert not net.B.requires_grad
    # Default sizes = the reference FOURIER_MAPPED_MLP: five 448x448 layers and a 448->3 head.
    trainable = 5 * (448 * 448 + 448) + (448 * 3 + 3)
    assert sum(p.numel() for p in net.parameters()) == trainable
    assert trainable + 224 * 2 == 1_007_555  # icb_spec 6.2, "incl. B"
    assert model_size_mb(net) == pytest.approx(1_007_555 * 4 / 2**20)
    net(torch.rand(5, 2)).sum().backward()
    assert net.B.grad is None


def test_b_entries_are_normal_with_standard_deviation_sigma():
    torch.manual_seed(1)
    net = FourierFeatureMLP(n_frequencies=20_000, sigma=7.0, hidden_features=1, hidden_layers=0)
    b = net.B.numpy().ravel()
    # 40,000 draws: the sample std is within ~0.4 % (1 s.e.) of sigma, the mean near 0.
    assert b.std() == pytest.approx(7.0, rel=0.02)
    assert abs(b.mean()) < 0.15
    assert np.mean(np.abs(b) < 7.0) == pytest.approx(0.6827, abs=0.01)


def test_encoding_matches_the_closed_form():
    net = FourierFeatureMLP(
        n_frequencies=2, **{k: v for k, v in SMALL.items() if k != "n_frequencies"}
    )
    with torch.no_grad():
        net.B.copy_(torch.tensor([[1.0, 0.0], [0.5, 2.0]]))
    coords = torch.tensor([[0.125, -1.0], [0.5, 0.25]])
    # Phases 2 pi B x: row 1 -> (pi/4, 2 pi (0.0625 - 2)); row 2 -> (pi, 2 pi (0.25 + 0.5)).
    s = math.sqrt(0.5)
    expected = torch.tensor(
        [
            [s, math.sin(2 * math.pi * -1.9375), s, math.cos(2 * math.pi * -1.9375)],
            [0.0, -1.0, -1.0, 0.0],
        ]
    )
    assert torch.allclose(net.encode(coords), expected, atol=1e-6)


def test_gradients_reach_the_weights_and_the_coordinates():
    torch.manual_seed(0)
    net = FourierFeatureMLP(**SMALL)
    coords = coordinate_grid(8, 8, torch.device("cpu")).requires_grad_(True)
    out = net(coords)
    tv = coordinate_tv(out, coords, (2 / 7, 2 / 7))
    # Through create_graph=True the TV alone trains every weight matrix. (Not the biases:
    # in a ReLU net they move the coordinate gradient only through the activation pattern,
    # which is piecewise constant, so d TV / d bias = 0.)
    tv.backward(retain_graph=True)
    for name, p in net.named_parameters():
        if name.endswith("weight"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    net.zero_grad()
    (torch.mean((out - 0.3) ** 2) + tv).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert coords.grad is not None and coords.grad.abs().sum() > 0


def test_coordinate_gradient_matches_finite_differences():
    torch.manual_seed(0)
    net = FourierFeatureMLP(**SMALL).double()
    coords = (torch.rand(6, 2, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert torch.autograd.gradcheck(net, (coords,), eps=1e-6, atol=1e-5)


def test_same_seed_gives_the_same_network():
    coords = torch.rand(10, 2) * 2 - 1
    outs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        outs.append(FourierFeatureMLP(**SMALL)(coords))
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(outs[0], outs[2])


def test_regression_fit_of_a_32x32_image(one_torch_thread):
    from skimage import data, transform

    image = transform.resize(data.astronaut()[30:230, 150:350], (32, 32), anti_aliasing=True)
    target = torch.from_numpy(image.astype(np.float32)).reshape(-1, 3)
    coords = coordinate_grid(32, 32, torch.device("cpu"))
    torch.manual_seed(0)
    net = FourierFeatureMLP(n_frequencies=64, sigma=5.0, hidden_features=64, hidden_layers=2)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    start, end = fit_regression(net, coords, target, optimiser)
    assert end < 0.01 * start
    assert -10 * math.log10(end) > 30  # dB


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"hidden_features": 0}, "hidden_features"),
        ({"hidden_layers": -1}, "hidden_layers"),
        ({"sigma": -1.0}, "sigma"),
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": math.nan}, "sigma"),
        ({"n_frequencies": 0}, "n_frequencies"),
        ({"in_features": 0}, "in_features"),
        ({"out_features": 0}, "out_features"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FourierFeatureMLP(**kwargs)
