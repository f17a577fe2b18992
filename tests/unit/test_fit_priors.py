"""Image-domain priors: finite-difference TV, the DIP SkipNet, CNNPrior, the reference's bug."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inrdeblur.methods.inr.fit import coordinate_grid
from inrdeblur.methods.inr.priors import (
    CNN_PRIOR_SKIP_CHANNELS,
    CNNPrior,
    ReferenceRandomCNNPenalty,
    build_prior,
    channel_sum_gradients,
    finite_difference_tv,
)
from inrdeblur.methods.inr.regularisers import coordinate_tv
from inrdeblur.networks.skip import SkipNet

CPU = torch.device("cpu")
SMALL = {"down": (4, 8, 8), "up": (4, 8, 8), "skip": (0, 2, 2)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ramp(a: float, b: float, height: int, width: int, channels: int = 3) -> torch.Tensor:
    """(1, C, H, W) float64 image a*x + b*y (+ a per-channel offset), x, y in pixels."""
    y, x = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    return torch.stack([a * x + b * y + 0.25 * c for c in range(channels)])[None]


# --- finite-difference TV ----------------------------------------------------------------


@pytest.mark.parametrize("a, b", [(0.25, -0.5), (-0.125, 0.0), (0.0, 0.75), (1.5, 2.0)])
def test_forward_differences_of_a_ramp_are_exact(a, b):
    height, width = 7, 10
    gx, gy = channel_sum_gradients(ramp(a, b, height, width))
    assert gx.shape == gy.shape == (1, height, width)
    # Interior: the channel sum of 3 channels changes by 3a per column and 3b per row.
    assert torch.equal(gx[0, :, :-1], torch.full((height, width - 1), 3 * a, dtype=gx.dtype))
    assert torch.equal(gy[0, :-1, :], torch.full((height - 1, width), 3 * b, dtype=gy.dtype))
    # Replicate padding: the last column of gx and the last row of gy are 0, and count.
    assert torch.all(gx[0, :, -1] == 0) and torch.all(gy[0, -1, :] == 0)
    expected = 3 * (abs(a) * (width - 1) / width + abs(b) * (height - 1) / height)
    assert finite_difference_tv(ramp(a, b, height, width)).item() == pytest.approx(
        expected, rel=1e-14
    )


@pytest.mark.parametrize("a, b", [(0.25, -0.5), (1.5, 2.0)])
def test_reference_taps_are_two_thirds_of_forward_on_a_ramp(a, b):
    image = ramp(a, b, 9, 6)
    gx, gy = channel_sum_gradients(image, taps="reference")
    assert torch.allclose(gx[0, :, 1:-1], torch.full_like(gx[0, :, 1:-1], 2 * a))
    assert torch.allclose(gy[0, 1:-1, :], torch.full_like(gy[0, 1:-1, :], 2 * b))
    forward = finite_difference_tv(image).item()
    reference = finite_difference_tv(image, taps="reference").item()
    assert reference == pytest.approx(2 / 3 * forward, rel=1e-14)


def test_reference_taps_match_a_replicate_padded_convolution():
    # Second implementation: the reference's layout, a (3, 1) and a (1, 3) conv over all
    # channels with taps (-1/3, 0, 1/3) after replicate padding, then the L1 over (gx, gy).
    torch.manual_seed(1)
    image = torch.rand(2, 3, 11, 13, dtype=torch.float64)
    taps = torch.tensor([-1 / 3, 0.0, 1 / 3], dtype=torch.float64)
    vertical = taps.view(1, 1, 3, 1).expand(1, 3, 3, 1)
    horizontal = taps.view(1, 1, 1, 3).expand(1, 3, 1, 3)
    g_vertical = F.conv2d(F.pad(image, (0, 0, 1, 1), mode="replicate"), vertical)
    g_horizontal = F.conv2d(F.pad(image, (1, 1, 0, 0), mode="replicate"), horizontal)
    expected = torch.cat([g_vertical, g_horizontal], dim=1).norm(p=1, dim=1).mean()
    assert finite_difference_tv(image, taps="reference").item() == pytest.approx(
        expected.item(), rel=1e-12
    )


@pytest.mark.parametrize("taps", ["forward", "reference"])
def test_constant_image_has_zero_tv(taps):
    image = torch.full((1, 3, 8, 5), 0.37)
    assert finite_difference_tv(image, taps=taps).item() == 0.0


def analytic_field(coords: torch.Tensor) -> torch.Tensor:
    """(N, 2) coordinates in [-1, 1] -> (N, 3) smooth colour field."""
    x, y = coords[:, :1], coords[:, 1:]
    return torch.cat(
        [
            0.5 + 0.3 * torch.sin(3 * x + 1) * torch.cos(2 * y),
            0.4 + 0.2 * torch.tanh(2 * x - y),
            0.5 + 0.25 * torch.cos(2.5 * (x + y)) + 0.1 * x * y,
        ],
        dim=1,
    )


def test_forward_tv_converges_to_coordinate_tv_at_first_order():
    errors = []
    for size in (64, 128, 256):
        coords = coordinate_grid(size, size, CPU).double().requires_grad_(True)
        out = analytic_field(coords)
        pitch = (2 / (size - 1), 2 / (size - 1))
        continuous = coordinate_tv(out, coords, pitch).item()
        image = out.detach().reshape(size, size, 3).permute(2, 0, 1)[None]
        discrete = finite_difference_tv(image).item()
        errors.append(abs(discrete - continuous) / continuous)
    assert errors[-1] < 0.01
    # First-order scheme: doubling the resolution about halves the error.
    assert 1.6 < errors[0] / errors[1] < 2.5 and 1.6 < errors[1] / errors[2] < 2.5


def test_finite_difference_tv_rejects_bad_input():
    with pytest.raises(ValueError, match="taps"):
        finite_difference_tv(torch.zeros(1, 3, 4, 4), taps="sobel")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        finite_difference_tv(torch.zeros(3, 4, 4))


# --- SkipNet -----------------------------------------------------------------------------


def skipnet_parameter_count(c_in, c_out, down, up, skip):
    """Closed form: conv k*k*in*out + out, BatchNorm 2 per channel."""
    total, in_ch = 0, c_in
    for i, (d, u, s) in enumerate(zip(down, up, skip, strict=True)):
        deep = up[i + 1] if i + 1 < len(down) else d
        if s:
            total += in_ch * s + s + 2 * s  # 1x1 skip conv + BN
        total += 9 * in_ch * d + d + 2 * d  # stride-2 3x3 conv + BN
        total += 9 * d * d + d + 2 * d  # 3x3 conv + BN
        total += 2 * (s + deep)  # BN after the concatenation
        total += 9 * (s + deep) * u + u + 2 * u  # 3x3 up conv + BN
        total += u * u + u + 2 * u  # 1x1 up conv + BN
        in_ch = d
    return total + up[0] * c_out + c_out  # 1x1 head


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"in_channels": 1, "out_channels": 2, **SMALL}, {"down": (5,), "up": (6,), "skip": (3,)}],
)
def test_skipnet_parameter_count_matches_closed_form(kwargs):
    net = SkipNet(**kwargs)
    defaults = {
        "in_channels": 3,
        "out_channels": 3,
        "down": (8, 16, 32, 64, 128),
        "up": (8, 16, 32, 64, 128),
        "skip": (0, 0, 0, 4, 4),
    }
    args = {**defaults, **kwargs}
    expected = skipnet_parameter_count(
        args["in_channels"], args["out_channels"], args["down"], args["up"], args["skip"]
    )
    assert sum(p.numel() for p in net.parameters()) == expected
    if not kwargs:
        assert expected == 572_827


def test_cnn_prior_parameter_count():
    # A SkipNet with 3 + 2 inputs and a 4-channel skip branch at every scale.
    count = sum(p.numel() for p in CNNPrior().parameters())
    channels = (8, 16, 32, 64, 128)
    assert count == skipnet_parameter_count(5, 3, channels, channels, (4, 4, 4, 4, 4))
    # With the reference's skips only the first stride-2 conv grows, by 2 * 8 * 9.
    reference = sum(p.numel() for p in CNNPrior(skip=(0, 0, 0, 4, 4)).parameters())
    assert reference == 572_827 + 2 * 8 * 9


def test_cnn_prior_skips_every_scale_by_default():
    assert CNNPrior().net.body.skip is not None  # full resolution
    depth3 = CNNPrior(down=(4, 8, 8), up=(4, 8, 8))  # one skip per scale of ``down``
    level, widths = depth3.net.body, []
    while level is not None:
        widths.append(level.skip[0][1].out_channels)
        level = level.deeper
    assert widths == [CNN_PRIOR_SKIP_CHANNELS] * 3
    assert CNNPrior(**SMALL).net.body.skip is None  # an explicit skip is kept


@pytest.mark.parametrize("size", [(37, 45), (5, 7), (64, 64), (1, 1), (65, 33)])
def test_skipnet_keeps_any_input_size(size):
    torch.manual_seed(0)
    net = SkipNet()
    out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *size)
    assert torch.all((out > 0) & (out < 1))


def test_skipnet_padded_size():
    net = SkipNet()  # depth 5: multiples of 32, at least 64
    assert [net.padded_size(n) for n in (1, 37, 64, 65, 142)] == [64, 64, 64, 96, 160]
    assert SkipNet(**SMALL).padded_size(37) == 40  # depth 3: multiples of 8, at least 16


def test_skipnet_is_deterministic_for_a_seed():
    x = torch.rand(1, 3, 37, 45)
    torch.manual_seed(3)
    first = SkipNet()
    torch.manual_seed(3)
    second = SkipNet()
    for p, q in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(p, q)
    assert torch.equal(first(x), second(x))
    # The seed argument gives the same weights and leaves the global RNG alone.
    state = torch.get_rng_state()
    third = SkipNet(seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    for p, q in zip(first.parameters(), third.parameters(), strict=True):
        assert torch.equal(p, q)
    torch.manual_seed(4)
    other = SkipNet()
    assert not torch.equal(first(x), other(x))


def test_gradients_reach_every_skipnet_parameter_and_the_input():
    torch.manual_seed(0)
    prior = CNNPrior()
    latent = torch.rand(1, 3, 37, 45, requires_grad=True)
    target = torch.rand(1, 3, 37, 45)
    F.mse_loss(prior(latent), target).backward()
    assert latent.grad is not None and latent.grad.abs().sum() > 0
    for name, p in prior.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# --- CNNPrior ----------------------------------------------------------------------------


@pytest.mark.parametrize("mix_start", [0.1, 0.02])
def test_cnn_prior_starts_close_to_the_identity(mix_start):
    torch.manual_seed(0)
    prior = CNNPrior(mix_start=mix_start)
    latent = torch.rand(1, 3, 37, 45)
    with torch.no_grad():
        out = prior(latent)
    assert out.shape == latent.shape
    assert prior.mix == pytest.approx(mix_start)
    # The SkipNet output lies in (0, 1), so |out - latent| = m |s - latent| is bounded by
    # m * max(latent, 1 - latent) <= m for latents in [0, 1].
    bound = mix_start * torch.maximum(latent, 1 - latent)
    assert torch.all((out - latent).abs() <= bound + 1e-6)
    assert (out - latent).abs().mean() > 0.05 * mix_start  # the CNN does contribute


def test_cnn_prior_ramps_to_the_pure_reparameterisation():
    torch.manual_seed(0)
    latent = torch.rand(1, 3, 20, 30)
    prior = CNNPrior(mix_start=0.2, warmup_iterations=4, **SMALL)
    mixes = []
    for _ in range(6):
        mixes.append(prior.mix)
        prior.step()
    assert mixes == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    # At m = 1 the image is exactly the SkipNet's output.
    assert torch.equal(prior(latent), prior.net(prior.cnn_input(latent)))
    # The schedule position travels with the state dict.
    fresh = CNNPrior(mix_start=0.2, warmup_iterations=4, **SMALL)
    fresh.load_state_dict(prior.state_dict())
    assert fresh.iteration == 6 and fresh.mix == 1.0
    assert torch.equal(fresh(latent), prior(latent))
    # m = 0 is the identity; no warm-up is the pure DIP from the start.
    assert torch.equal(CNNPrior(mix_start=0.0, **SMALL)(latent), latent)
    assert CNNPrior(warmup_iterations=0, **SMALL).mix == 1.0


def test_cnn_input_appends_the_inr_coordinates():
    prior = CNNPrior(**SMALL)
    latent = torch.rand(2, 3, 6, 9)
    code = prior.cnn_input(latent)
    assert code.shape == (2, 5, 6, 9)
    assert torch.equal(code[:, :3], latent)
    # The same (x, y) as the INR's grid, row-major over (H, W).
    grid = coordinate_grid(6, 9, CPU).reshape(6, 9, 2).permute(2, 0, 1)
    assert torch.equal(code[0, 3:], grid) and torch.equal(code[1, 3:], grid)
    assert CNNPrior(coord_channels=False, **SMALL).cnn_input(latent) is latent


def test_coordinate_channels_keep_gradients_finite_for_a_constant_latent():
    # Hash-grid and dictionary-field INRs start nearly constant; BatchNorm alone would
    # divide by a vanishing spread. Scale: the gradient for a typical image latent.
    target = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(2))

    def latent_gradient_norm(amplitude, coord_channels):
        torch.manual_seed(0)
        prior = CNNPrior(warmup_iterations=0, coord_channels=coord_channels)
        latent = (0.5 + amplitude * noise).requires_grad_(True)
        F.mse_loss(prior(latent), target).backward()
        return latent.grad.norm().item()

    typical = latent_gradient_norm(0.2, True)
    for amplitude in (1e-5, 0.0):
        assert latent_gradient_norm(amplitude, True) < 10 * typical
    assert latent_gradient_norm(1e-5, False) > 1e3 * typical
    assert math.isnan(latent_gradient_norm(0.0, False))


def test_cnn_prior_is_the_same_in_train_and_eval_mode():
    torch.manual_seed(0)
    prior = CNNPrior(**SMALL)
    latent = torch.rand(1, 3, 20, 30)
    with torch.no_grad():
        train = prior.train()(latent)
        evaluated = prior.eval()(latent)
    assert torch.equal(train, evaluated)


def astronaut_32() -> torch.Tensor:
    from skimage import data, transform

    image = transform.resize(data.astronaut()[30:230, 150:350], (32, 32), anti_aliasing=True)
    return torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]


def fit_latent_through_prior(target, train_cnn, steps=50):
    """Adam on a learnable latent (lr 2e-2) and, if asked, the prior (lr 1e-2).

    The blend ramps to the pure reparameterisation over the first half of the steps.
    """
    torch.manual_seed(0)
    prior = CNNPrior(warmup_iterations=steps // 2)
    latent = torch.full_like(target, 0.5).requires_grad_(True)
    groups = [{"params": [latent], "lr": 2e-2}]
    if train_cnn:
        groups.append({"params": prior.parameters(), "lr": 1e-2})
    optimiser = torch.optim.Adam(groups)
    before = {n: p.detach().clone() for n, p in prior.named_parameters()}
    losses = []
    for _ in range(steps):
        loss = F.mse_loss(prior(latent), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        prior.step()
        losses.append(loss.item())
    assert prior.mix == 1.0
    changed = [not torch.equal(before[n], p) for n, p in prior.named_parameters()]
    return losses, changed


def test_joint_optimisation_of_latent_and_cnn_prior_fits_an_image():
    target = astronaut_32()
    losses, changed = fit_latent_through_prior(target, train_cnn=True)
    assert losses[-1] < 0.2 * losses[0]
    assert all(changed)
    # Only a trained CNN can carry the image once m = 1: frozen, it fits far worse.
    frozen_losses, frozen_changed = fit_latent_through_prior(target, train_cnn=False)
    assert not any(frozen_changed)
    assert losses[-1] < 0.3 * frozen_losses[-1]


def test_pure_dip_fits_an_image_from_a_fixed_input():
    # With m = 1 and a frozen input only the SkipNet can lower the loss: it is trainable.
    target = astronaut_32()
    torch.manual_seed(0)
    prior = CNNPrior(warmup_iterations=0)
    code = torch.rand_like(target) * 0.1
    optimiser = torch.optim.Adam(prior.parameters(), lr=1e-2)
    losses = []
    for _ in range(50):
        loss = F.mse_loss(prior(code), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_full_resolution_skips_let_the_cnn_pass_fine_detail_through():
    # At m = 1 the image is SkipNet(latent): the CNN must be able to carry the latent's
    # detail. Train it alone to reproduce a fixed latent (the identity map). Without skip
    # branches at the finest scales (the reference's (0, 0, 0, 4, 4)) every output pixel
    # comes from upsampled half-resolution features, and it stays far behind.
    target = astronaut_32()

    def identity_loss(**kwargs):
        torch.manual_seed(0)
        prior = CNNPrior(warmup_iterations=0, **kwargs)
        optimiser = torch.optim.Adam(prior.parameters(), lr=1e-2)
        for _ in range(100):
            loss = F.mse_loss(prior(target), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return loss.item()

    assert identity_loss() < 0.2 * identity_loss(skip=(0, 0, 0, 4, 4))


# --- ReferenceRandomCNNPenalty -----------------------------------------------------------


def test_reference_penalty_stays_frozen_while_an_outer_model_trains():
    torch.manual_seed(0)
    penalty = ReferenceRandomCNNPenalty()
    outer = torch.nn.Conv2d(3, 3, 3, padding=1)
    code = torch.rand(1, 3, 37, 45)
    frozen = {n: p.detach().clone() for n, p in penalty.named_parameters()}
    running = penalty.net.body.down[1].running_mean.clone()
    assert all(not p.requires_grad for p in penalty.parameters())
    optimiser = torch.optim.Adam(list(outer.parameters()) + list(penalty.parameters()), lr=1e-1)
    outer_before = outer.weight.detach().clone()
    penalty.eval()  # ignored: the reference runs the network in train mode throughout
    values = []
    for _ in range(3):
        latent = outer(code)
        value = penalty(latent)
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
        values.append(value.item())
    for name, p in penalty.named_parameters():
        assert p.grad is None, name
        assert torch.equal(p, frozen[name]), name
    assert penalty.net.training
    assert not torch.equal(penalty.net.body.down[1].running_mean, running)
    assert not torch.equal(outer.weight, outer_before)  # the gradient reached the latent
    assert all(0 < v < 1 for v in values)


def test_reference_penalty_ignores_the_network_space_transform():
    # Conv + BatchNorm at the start of every path removes the affine map x -> 2x - 1 that
    # the reference applied to its images; only BatchNorm's eps tells the two apart.
    torch.manual_seed(0)
    penalty = ReferenceRandomCNNPenalty()
    latent = torch.rand(1, 3, 37, 45, dtype=torch.float64)
    penalty.double()
    unit = penalty(latent).item()
    network = penalty(2 * latent - 1).item()
    assert network == pytest.approx(unit, abs=1e-4)
    assert abs(network - unit) > 0  # not identical: eps differs relative to the spread


# --- build_prior and argument checks -----------------------------------------------------


def test_build_prior_returns_the_right_object():
    spec = {"type": "cnn_prior", "mix_start": 0.2, "warmup_iterations": 10, "seed": 1}
    prior = build_prior({**spec, "weight": 1.0, **SMALL})
    assert isinstance(prior, CNNPrior)
    assert prior.mix == pytest.approx(0.2) and prior.warmup_iterations == 10
    assert prior.net.depth == 3
    listed = build_prior(
        {
            "type": "cnn_prior",
            **spec,
            "down": [4, 8, 8],
            "up": [4, 8, 8],
            "skip": [0, 2, 2],
        }
    )
    for p, q in zip(prior.parameters(), listed.parameters(), strict=True):
        assert torch.equal(p, q)
    plain = build_prior({"type": "cnn_prior", "coord_channels": False, **SMALL})
    assert plain.net.in_channels == 3 and prior.net.in_channels == 5
    penalty = build_prior({"type": "reference_random_cnn", "weight": 8e-6})
    assert isinstance(penalty, ReferenceRandomCNNPenalty)
    assert penalty.net.depth == 5


@pytest.mark.parametrize(
    "spec, needle",
    [
        ({"type": "u-net"}, "prior type"),
        ({"mix_start": 0.1}, "prior type"),
        ({"type": "cnn_prior", "lr": 1e-2}, "'lr'"),
        ({"type": "reference_random_cnn", "mix_start": 0.5}, "'mix_start'"),
        ({"type": "cnn_prior", "down": [8, 16], "up": [8, 16, 32]}, "same length"),
        ({"type": "cnn_prior", "skip": [0, 0, 4, 4]}, "same length"),
        ({"type": "cnn_prior", "channels": 0}, "channels"),
        ({"type": "cnn_prior", "down": [8, 16, 0, 64, 128]}, r"down\[2\]"),
        ({"type": "cnn_prior", "up": [8, 16, 32, -1, 128]}, r"up\[3\]"),
        ({"type": "cnn_prior", "skip": [0, 0, 0, -4, 4]}, r"skip\[3\]"),
        ({"type": "cnn_prior", "down": []}, "down"),
        ({"type": "cnn_prior", "mix_start": 1.5}, "mix_start"),
        ({"type": "cnn_prior", "mix_start": "0.1"}, "mix_start"),
        ({"type": "cnn_prior", "warmup_iterations": -1}, "warmup_iterations"),
        ({"type": "cnn_prior", "warmup_iterations": 2.5}, "warmup_iterations"),
        ({"type": "cnn_prior", "coord_channels": 1}, "coord_channels"),
        ({"type": "cnn_prior", "upsample_mode": "bicubic"}, "upsample_mode"),
        ({"type": "reference_random_cnn", "channels": 2.5}, "channels"),
    ],
)
def test_bad_specs_name_the_argument(spec, needle):
    with pytest.raises(ValueError, match=needle):
        build_prior(spec)


def test_bad_constructor_arguments_name_the_argument():
    with pytest.raises(ValueError, match="in_channels"):
        SkipNet(in_channels=0)
    with pytest.raises(ValueError, match="'channels'"):
        CNNPrior(in_channels=3)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        CNNPrior(**SMALL)(torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        ReferenceRandomCNNPenalty(**SMALL)(torch.rand(3, 8, 8))
