"""Coordinate derivatives of the hash-grid INR without autograd through the coordinates, and
the TV built on them.

The reference everywhere is the existing autograd path: ``torch.autograd.grad`` of
``HashGridINR.forward`` w.r.t. coordinates that require grad (plain, twice-differentiable ops),
and :func:`coordinate_tv` backpropagated with a double backward. ``channel_sum=False`` is the
per-channel forward mode, ``channel_sum=True`` the channel sum's derivatives (reverse mode
inside the MLP on the fast path), which the TV uses.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd import forward_ad

from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.inr import Siren
from inrdeblur.inr.hashgrid import THESIS_CONFIG, HashGridEncoding, HashGridINR, ReLUMLP
from inrdeblur.methods.inr import regularisers
from inrdeblur.methods.inr.fit import coordinate_grid, fit_nonblind
from inrdeblur.methods.inr.regularisers import (
    coordinate_tv,
    has_spatial_gradients,
    spatial_gradient_tv,
)

SMALL = dict(
    n_levels=4,
    n_features_per_level=2,
    log2_hashmap_size=8,
    base_resolution=5,
    per_level_scale=1.7,
    hidden_features=16,
    hidden_layers=2,
)  # levels 0-1 dense, 2-3 hashed
SMALL_F3 = dict(SMALL, n_features_per_level=3, hidden_layers=1)  # no complex64 pairing
LINEAR_HEAD = dict(SMALL, hidden_layers=0)
CONFIGS = {"thesis": THESIS_CONFIG, "small": SMALL, "small-f3": SMALL_F3, "linear": LINEAR_HEAD}
PITCH = (2 / 254, 2 / 254)  # a 255 x 255 latent


def random_inr(config: dict, fast_path: bool, seed: int = 0) -> HashGridINR:
    """Table U(-1, 1) and PyTorch's default (random, biased) MLP init, so ReLUs are mixed."""
    torch.manual_seed(seed)
    inr = HashGridINR(**config, backend="torch", fast_path=fast_path)
    with torch.no_grad():
        inr.encoding.table.uniform_(-1, 1, generator=torch.Generator().manual_seed(seed + 1))
    return inr


def reference_copy(inr: HashGridINR) -> HashGridINR:
    """The same weights on the general path (what an autograd TV runs)."""
    ref = copy.deepcopy(inr)
    ref.fast_path = ref.encoding.fast_path = False
    return ref


def inside_cells(enc: HashGridEncoding, coords: torch.Tensor, margin: float = 1e-3):
    """Mask of points whose bilinear fraction is in (margin, 1 - margin) on every level."""
    u = (coords.double().clamp(-1, 1) * 0.5 + 0.5).t()  # (2, N)
    pos = (enc._scales.view(1, -1, 1) * u.unsqueeze(1) + 0.5).float()  # tcnn's rounding
    frac = pos - pos.floor()
    return ((frac > margin) & (frac < 1 - margin)).all(dim=1).all(dim=0)


def sample_points(enc: HashGridEncoding, n: int = 400, seed: int = 2) -> torch.Tensor:
    """Random points in the domain and on its border (x or y = ±1), inside every level's cells,
    plus two outside [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    points = torch.rand(n, 2, generator=gen) * 2 - 1
    border = torch.rand(40, 2, generator=gen) * 2 - 1
    border[:10, 0], border[10:20, 0], border[20:30, 1], border[30:, 1] = -1, 1, -1, 1
    points = torch.cat([points, border])
    points = points[inside_cells(enc, points)]
    outside = torch.tensor([[1.25, 0.3], [-0.2, -1.5]])
    return torch.cat([points, outside])


def autograd_derivatives(inr: HashGridINR, coords: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(out, d out/dx, d out/dy), each (N, C), by reverse mode one channel at a time."""
    coords = coords.clone().requires_grad_()
    out = inr(coords)
    grads = [
        torch.autograd.grad(out[:, c].sum(), coords, retain_graph=True)[0]
        for c in range(out.shape[1])
    ]  # C x (N, 2)
    grad = torch.stack(grads, dim=2)  # (N, 2, C)
    return out.detach(), grad[:, 0], grad[:, 1]


def assert_close_relative(got: torch.Tensor, want: torch.Tensor, rtol: float, msg: str = ""):
    """Elementwise within rtol·|want| + rtol·max|want| (near-zero entries judged by the scale)."""
    scale = want.abs().max().item()
    assert scale > 0, msg
    torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * scale, msg=msg)


@pytest.mark.parametrize("channel_sum", [False, True], ids=["per-channel", "channel-sum"])
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "general"])
@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
def test_derivatives_equal_autograd(config, fast_path, channel_sum, torch_threads):
    inr = random_inr(config, fast_path)
    inr.mlp.chunk = 37  # several chunks and a ragged last one
    coords = sample_points(inr.encoding)
    assert coords.shape[0] > 300
    assert inr.encoding.uses_fast_path(coords) == fast_path
    out, dx, dy = inr.forward_with_spatial_grad(coords, channel_sum=channel_sum)
    want_out, want_dx, want_dy = autograd_derivatives(reference_copy(inr), coords)
    if channel_sum:
        want_dx, want_dy = want_dx.sum(1), want_dy.sum(1)
    assert out.shape == (coords.shape[0], 3) and dx.shape == dy.shape == want_dx.shape
    torch.testing.assert_close(out.detach(), want_out, rtol=0, atol=1e-5)
    assert_close_relative(dx.detach(), want_dx, 1e-5, "d/dx")
    assert_close_relative(dy.detach(), want_dy, 1e-5, "d/dy")
    # Outside [-1, 1] the output is constant along the clamped axis (and autograd says 0).
    assert dx[-2].abs().max() == 0 and dy[-1].abs().max() == 0
    assert dy[-2].abs().max() > 0 and dx[-1].abs().max() > 0


# torch's forward AD scripts a decomposition for an op on first use (torch's own warning).
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_encoding_and_mlp_derivatives_are_the_chain_rule_pieces():
    """Each half against PyTorch's own forward-mode AD (dual numbers) of that half alone."""
    inr = random_inr(SMALL, fast_path=True)
    coords = sample_points(inr.encoding)[:-2]
    jet = inr.encoding.forward_with_spatial_grad(coords).detach()
    general = reference_copy(inr).encoding
    for axis in range(2):
        tangent = torch.zeros_like(coords)
        tangent[:, axis] = 1
        value, want = jvp(general, coords, tangent)
        torch.testing.assert_close(jet[:, 0], value, rtol=0, atol=1e-6)
        assert_close_relative(jet[:, 1 + axis], want, 1e-5)
    mlp: ReLUMLP = inr.mlp
    x = torch.randn(100, 3, mlp.layers[0].in_features, generator=torch.Generator().manual_seed(3))
    for fast in (True, False):
        got = mlp.forward_with_tangents(x, fast=fast).detach()
        out, sums = mlp.forward_with_sum_tangents(x, fast=fast)
        for k in (1, 2):
            value, want = jvp(lambda v: mlp(v, fast=False), x[:, 0], x[:, k])
            torch.testing.assert_close(got[:, 0], value, rtol=0, atol=1e-5)
            torch.testing.assert_close(out.detach(), value, rtol=0, atol=1e-5)
            assert_close_relative(got[:, k], want, 1e-5)
            assert_close_relative(sums[:, k - 1].detach(), want.sum(1), 1e-5)


def jvp(fn, primal: torch.Tensor, tangent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(primal), its derivative along tangent) by torch.autograd.forward_ad."""
    with torch.no_grad(), forward_ad.dual_level():
        value, derivative = forward_ad.unpack_dual(fn(forward_ad.make_dual(primal, tangent)))
    return value, derivative


def grid_coords(height: int, width: int) -> torch.Tensor:
    return coordinate_grid(height, width, torch.device("cpu"))


@pytest.mark.parametrize("config", [THESIS_CONFIG, SMALL], ids=["thesis", "small"])
def test_tv_value_equals_coordinate_tv(config):
    """On a pixel grid, border included (where the clamp makes the outward derivative 0)."""
    inr = random_inr(config, fast_path=True)
    coords = grid_coords(61, 47)
    ref = reference_copy(inr)
    points = coords.clone().requires_grad_()
    want = coordinate_tv(ref(points), points, PITCH)
    assert want.item() > 0
    for channel_sum in (False, True):
        _, dx, dy = inr.forward_with_spatial_grad(coords, channel_sum=channel_sum)
        got = spatial_gradient_tv(dx, dy, PITCH)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=0)


def parameter_grads(model: nn.Module) -> dict[str, torch.Tensor]:
    """Gradients by name; None (a parameter the loss does not reach) as zeros."""
    return {
        name: torch.zeros_like(p) if p.grad is None else p.grad.clone()
        for name, p in model.named_parameters()
    }


@pytest.mark.parametrize("channel_sum", [False, True], ids=["per-channel", "channel-sum"])
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "general"])
@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
@pytest.mark.parametrize("weight", [2e-3, None], ids=["data+tv", "tv-only"])
def test_loss_gradients_equal_double_backward(
    config, fast_path, channel_sum, weight, torch_threads
):
    """Parameter gradients of data + w·TV: one backward through the derivatives against the
    old double backward through coordinate_tv."""
    inr = random_inr(config, fast_path)
    inr.mlp.chunk = 150
    coords = sample_points(inr.encoding, n=600)[:-2]
    target = torch.rand(coords.shape[0], 3, generator=torch.Generator().manual_seed(4))

    def loss_of(out: torch.Tensor, tv: torch.Tensor) -> torch.Tensor:
        return tv if weight is None else (out - target).pow(2).mean() + weight * tv

    out, dx, dy = inr.forward_with_spatial_grad(coords, channel_sum=channel_sum)
    loss_of(out, spatial_gradient_tv(dx, dy, PITCH)).backward()

    ref = reference_copy(inr)
    ref.zero_grad(set_to_none=True)
    points = coords.clone().requires_grad_()
    ref_out = ref(points)
    loss_of(ref_out, coordinate_tv(ref_out, points, PITCH)).backward()

    got, want = parameter_grads(inr), parameter_grads(ref)
    assert got.keys() == want.keys()
    for name in got:
        if weight is None and name.endswith("bias"):
            # The TV sees biases only through the ReLU masks: zero gradient a.e.
            assert got[name].abs().max() == 0 and want[name].abs().max() == 0, name
            continue
        assert_close_relative(got[name], want[name], 1e-4, name)


def test_fast_path_buffers_survive_two_live_graphs():
    """Two forwards with derivatives before one backward: pooled buffers must not be shared."""
    fast = random_inr(SMALL, fast_path=True)
    slow = reference_copy(fast)
    gen = torch.Generator().manual_seed(5)
    c1, c2 = torch.rand(300, 2, generator=gen) * 2 - 1, torch.rand(200, 2, generator=gen) * 2 - 1
    for model in (fast, slow):
        (o1, x1, y1), (o2, x2, y2) = (model.forward_with_spatial_grad(c) for c in (c1, c2))
        (o3, x3, y3) = model.forward_with_spatial_grad(c1, channel_sum=True)
        loss = o1.sum() + spatial_gradient_tv(x1, y1, PITCH) + 2 * (o2 * x2 - y2).pow(2).sum()
        (loss + (o3.sum(1) * x3 + y3.pow(2)).sum()).backward()
    got, want = parameter_grads(fast), parameter_grads(slow)
    for name in got:
        assert_close_relative(got[name], want[name], 1e-4, name)


def test_fit_uses_the_spatial_grad_tv_with_the_same_result(monkeypatch):
    """fit_nonblind takes the channel-sum derivatives of the hash grid; forcing the old
    autograd TV gives the same losses and estimate."""
    rng = np.random.default_rng(0)
    sharp = rng.random((20, 22, 3)).astype(np.float32)
    kernel = np.ones((3, 3), np.float32) / 9
    op = UniformBlur(kernel, (18, 20))
    blurry = op(torch.from_numpy(sharp.transpose(2, 0, 1))[None])[0].numpy().transpose(1, 2, 0)
    sharp = sharp[1:-1, 1:-1]  # the estimate's part of the latent (margin 1 px)
    inr_spec = {"type": "hashgrid", "backend": "torch", **SMALL}
    recipe = {
        "inr": inr_spec,
        "regulariser": {"type": "tv", "weight": 2e-2},
        "fit": {"iterations": 8, "lr": 1e-2, "lr_min": 1e-4, "grad_clip": 0.0, "device": "cpu"},
    }
    calls = []
    original = HashGridINR.forward_with_spatial_grad

    def counted(self, coords, channel_sum=False):
        calls.append((coords.requires_grad, channel_sum))
        return original(self, coords, channel_sum)

    monkeypatch.setattr(HashGridINR, "forward_with_spatial_grad", counted)
    new = fit_nonblind(blurry, op, recipe, seed=0, sharp=sharp, progress=False)
    assert calls == [(False, True)] * 8  # every step, on constant coordinates
    monkeypatch.setattr(regularisers, "has_spatial_gradients", lambda model: False)
    old = fit_nonblind(blurry, op, recipe, seed=0, sharp=sharp, progress=False)
    assert len(calls) == 8
    for key in ("loss", "reg_loss"):
        np.testing.assert_allclose(
            [row[key] for row in new.trace], [row[key] for row in old.trace], rtol=1e-4
        )
    assert new.trace[0]["reg_loss"] > 0
    np.testing.assert_allclose(new.estimate, old.estimate, rtol=0, atol=1e-4)


def test_which_models_provide_spatial_gradients():
    assert has_spatial_gradients(HashGridINR(**SMALL, backend="torch"))
    assert not has_spatial_gradients(Siren(hidden_features=8, hidden_layers=1))

    class TcnnLike(nn.Module):  # tcnn's encoding has no derivative path
        backend = "tcnn"

        def forward_with_spatial_grad(self, coords):
            raise AssertionError("not to be called")

    assert not has_spatial_gradients(TcnnLike())


def test_tcnn_backend_refuses_spatial_grad():
    inr = HashGridINR(**SMALL, backend="torch")
    inr.backend = "tcnn"  # what build_inr's tcnn backend sets (no CUDA here to build one)
    with pytest.raises(NotImplementedError, match="tcnn"):
        inr.forward_with_spatial_grad(torch.zeros(4, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_general_path_on_cuda_matches_cpu_fast_path():
    inr = random_inr(SMALL, fast_path=True)
    coords = sample_points(inr.encoding)
    gpu = copy.deepcopy(inr).cuda()
    for channel_sum in (False, True):
        want = inr.forward_with_spatial_grad(coords, channel_sum)
        got = gpu.forward_with_spatial_grad(coords.cuda(), channel_sum)
        for g, w in zip(got, want, strict=True):
            assert_close_relative(g.detach().cpu(), w.detach(), 1e-5)
