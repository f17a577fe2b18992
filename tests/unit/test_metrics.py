"""Tests for inrdeblur.metrics.

Every number is checked against a closed form or an independent implementation:
scikit-image for PSNR/SSIM, and for LPIPS a re-implementation of the formula of Zhang et al.
(2018) written here from torchvision's AlexNet and the lpips wheel's linear weights.
No test needs the network: the LPIPS backbone is a seeded random AlexNet saved to a
temporary ``$TORCH_HOME``.
"""

from __future__ import annotations

import math
import socket
from pathlib import Path

import lpips as lpips_pkg
import numpy as np
import pytest
import torch
import torchvision
from scipy.ndimage import gaussian_filter
from skimage import data as skdata
from skimage.color import rgb2gray
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from inrdeblur.metrics import (
    BACKBONE_FILENAME,
    LPIPS,
    LPIPS_HELP,
    backbone_path,
    error_map,
    error_map_rgb,
    psnr,
    ssim,
)

# --------------------------------------------------------------------------- images


def _astronaut(size: int = 96) -> np.ndarray:
    """(size, size, 3) float64 in [0, 1]."""
    img = skdata.astronaut().astype(np.float64) / 255.0
    return np.clip(resize(img, (size, size), anti_aliasing=True), 0.0, 1.0)


def _coffee_crop() -> np.ndarray:
    """(80, 120, 3) float64 in [0, 1], non-square on purpose."""
    return skdata.coffee()[150:230, 250:370].astype(np.float64) / 255.0


def _noisy(img: np.ndarray, sigma: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0.0, sigma, img.shape), 0.0, 1.0)


def _blurred(img: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    spatial = (sigma, sigma) + (0.0,) * (img.ndim - 2)
    return gaussian_filter(img, sigma=spatial, mode="reflect")


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    astro = _astronaut()
    coffee = _coffee_crop()
    coffee_gray = rgb2gray(coffee)
    return {
        "astronaut-rgb-noisy": (_noisy(astro), astro),
        "astronaut-rgb-blurred": (_blurred(astro), astro),
        "astronaut-gray-blurred-noisy": (_noisy(_blurred(rgb2gray(astro)), 0.02), rgb2gray(astro)),
        "coffee-rgb-blurred": (_blurred(coffee, 1.2), coffee),
        "coffee-gray-noisy": (_noisy(coffee_gray, 0.1, seed=1), coffee_gray),
    }


PAIRS = _pairs()

# --------------------------------------------------------------------------- PSNR


@pytest.mark.parametrize("offset", [0.5, 0.1, 0.01, 1.0 / 255.0])
def test_psnr_constant_offset_closed_form(offset: float) -> None:
    ref = _astronaut(32)
    ref[0, 0] = [1.0, 1.0, 1.0]
    ref[0, 1] = [0.0, 0.0, 0.0]
    # ref +- offset leaves [0, 1]: the closed form only holds if psnr does not clip.
    assert psnr(ref + offset, ref) == pytest.approx(20.0 * math.log10(1.0 / offset), rel=1e-12)
    assert psnr(ref - offset, ref) == pytest.approx(20.0 * math.log10(1.0 / offset), rel=1e-12)


def test_psnr_known_mse_and_data_range() -> None:
    ref = np.zeros((10, 10, 3))
    est = ref.copy()
    est[:5] = 0.2  # half the values off by 0.2 -> MSE = 0.02
    assert psnr(est, ref) == pytest.approx(10.0 * math.log10(1.0 / 0.02), rel=1e-12)
    # Same images in 8-bit units: the PSNR is unchanged when data_range follows the unit.
    assert psnr(est * 255.0, ref * 255.0, data_range=255.0) == pytest.approx(
        10.0 * math.log10(1.0 / 0.02), rel=1e-12
    )
    assert psnr(est, ref, data_range=2.0) == pytest.approx(10.0 * math.log10(4.0 / 0.02), rel=1e-12)


def test_psnr_identical_is_inf() -> None:
    img = _astronaut(16)
    assert psnr(img, img.copy()) == math.inf


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_psnr_matches_skimage(name: str) -> None:
    est, ref = PAIRS[name]
    expected = peak_signal_noise_ratio(ref, est, data_range=1.0)
    assert psnr(est, ref) == pytest.approx(expected, rel=1e-12)
    # float32 input is computed in float64 and stays within float32 rounding.
    assert psnr(est.astype(np.float32), ref.astype(np.float32)) == pytest.approx(expected, rel=1e-5)


# --------------------------------------------------------------------------- SSIM


def _skimage_ssim(est: np.ndarray, ref: np.ndarray, data_range: float = 1.0) -> float:
    return structural_similarity(
        np.asarray(est, dtype=np.float64),
        np.asarray(ref, dtype=np.float64),
        data_range=data_range,
        channel_axis=-1 if est.ndim == 3 else None,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_ssim_matches_skimage(name: str) -> None:
    est, ref = PAIRS[name]
    expected = _skimage_ssim(est, ref)
    assert 0.2 < expected < 0.999  # a non-trivial case
    assert ssim(est, ref) == pytest.approx(expected, abs=1e-6)


def test_ssim_matches_skimage_other_data_range() -> None:
    est, ref = PAIRS["astronaut-rgb-noisy"]
    expected = _skimage_ssim(est * 255.0, ref * 255.0, data_range=255.0)
    assert ssim(est * 255.0, ref * 255.0, data_range=255.0) == pytest.approx(expected, abs=1e-6)
    # data_range is a real parameter: 2 (the reference code's skimage-0.19 default for
    # floats) gives a different, larger SSIM, and we reproduce skimage there too.
    inflated = _skimage_ssim(est, ref, data_range=2.0)
    assert ssim(est, ref, data_range=2.0) == pytest.approx(inflated, abs=1e-6)
    assert ssim(est, ref, data_range=2.0) > ssim(est, ref) + 1e-3


def test_ssim_float32_input() -> None:
    est, ref = PAIRS["coffee-rgb-blurred"]
    est32, ref32 = est.astype(np.float32), ref.astype(np.float32)
    assert ssim(est32, ref32) == pytest.approx(_skimage_ssim(est32, ref32), abs=1e-6)


def test_ssim_constant_images_closed_form() -> None:
    # Constant images have zero local (co)variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 0.3, 0.7
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ssim(np.full((20, 24), a), np.full((20, 24), b)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_ssim_identical_is_one(name: str) -> None:
    _, ref = PAIRS[name]
    assert ssim(ref, ref.copy()) == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_shape_mismatch_names_both_shapes(metric) -> None:
    with pytest.raises(ValueError, match=r"\(32, 32, 3\).*\(32, 31, 3\)"):
        metric(np.zeros((32, 32, 3)), np.zeros((32, 31, 3)))


@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_rejected(metric, bad: float) -> None:
    est = np.full((16, 16), 0.5)
    est[3, 4] = bad
    with pytest.raises(ValueError, match="non-finite"):
        metric(est, np.zeros((16, 16)))
    with pytest.raises(ValueError, match="non-finite"):
        metric(np.zeros((16, 16)), est)


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_data_range_must_be_positive(metric) -> None:
    with pytest.raises(ValueError, match="data_range"):
        metric(np.zeros((16, 16)), np.zeros((16, 16)), data_range=0.0)


def test_ssim_rejects_images_smaller_than_window() -> None:
    with pytest.raises(ValueError, match="11x11"):
        ssim(np.zeros((10, 40)), np.zeros((10, 40)))


# --------------------------------------------------------------------------- LPIPS


def _forbid_network(mp: pytest.MonkeyPatch) -> None:
    """Make any attempt to open a network connection fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket, "create_connection", refuse)


def _point_torch_home(mp: pytest.MonkeyPatch, home: Path) -> Path:
    """Point TORCH_HOME at ``home`` and make torch.hub follow it; return the hub dir."""
    mp.setenv("TORCH_HOME", str(home))
    # torch.hub reads TORCH_HOME only while no explicit hub dir is set.
    mp.setattr(torch.hub, "_hub_dir", None, raising=True)
    hub = Path(torch.hub.get_dir())
    assert hub == home / "hub"
    return hub


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TORCH_HOME; returns the path the backbone is expected at."""
    hub = _point_torch_home(monkeypatch, tmp_path / "torch")
    _forbid_network(monkeypatch)
    return hub / "checkpoints" / BACKBONE_FILENAME


@pytest.fixture(scope="module")
def random_backbone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A TORCH_HOME holding a seeded random torchvision AlexNet as the backbone file."""
    home = tmp_path_factory.mktemp("torch_home")
    torch.manual_seed(1234)
    state = torchvision.models.alexnet(weights=None).state_dict()
    path = home / "hub" / "checkpoints" / BACKBONE_FILENAME
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return home, state


@pytest.fixture(scope="module")
def lpips_metric(random_backbone: tuple[Path, dict]) -> LPIPS:
    home, _ = random_backbone
    with pytest.MonkeyPatch.context() as mp:
        _point_torch_home(mp, home)
        _forbid_network(mp)
        metric = LPIPS()
    return metric


def _reference_lpips(state: dict, x: np.ndarray, y: np.ndarray) -> float:
    """LPIPS v0.1 (Zhang et al. 2018) written from the paper, in float64.

    AlexNet features from ``state``, taps after ReLU 1..5, ScalingLayer constants,
    channel-unit normalisation, squared difference, 1x1 lin weights from the lpips wheel,
    spatial mean, sum over layers.
    """
    alex = torchvision.models.alexnet(weights=None)
    alex.load_state_dict(state)
    features = alex.features[:12].double().eval()
    lin_path = Path(lpips_pkg.__file__).parent / "weights" / "v0.1" / "alex.pth"
    lin = torch.load(lin_path, map_location="cpu", weights_only=True)
    shift = torch.tensor([-0.030, -0.088, -0.188], dtype=torch.float64).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450], dtype=torch.float64).view(1, 3, 1, 1)

    def taps(img: np.ndarray) -> list:
        h = torch.from_numpy(np.asarray(img, dtype=np.float64).transpose(2, 0, 1).copy())[None]
        h = ((2.0 * h - 1.0) - shift) / scale
        out = []
        for index, layer in enumerate(features):
            h = layer(h)
            if index in (1, 4, 7, 9, 11):
                out.append(h.clone())
        return out

    def unit(f):
        return f / (torch.sqrt((f**2).sum(dim=1, keepdim=True)) + 1e-10)

    total = 0.0
    with torch.no_grad():
        for k, (fx, fy) in enumerate(zip(taps(x), taps(y), strict=True)):
            w = lin[f"lin{k}.model.1.weight"].double()
            diff = (unit(fx) - unit(fy)) ** 2
            total += float(torch.nn.functional.conv2d(diff, w).mean())
    return total


def test_backbone_path_follows_torch_home(empty_torch_home: Path) -> None:
    assert backbone_path() == empty_torch_home
    assert empty_torch_home.name == "alexnet-owt-7be5be79.pth"


def test_lpips_missing_backbone(empty_torch_home: Path) -> None:
    metric = LPIPS()
    assert metric.available is False
    assert metric.status.startswith("missing")
    assert str(empty_torch_home) in metric.status
    assert metric.status == f"missing: backbone file not found ({empty_torch_home})"
    assert "$TORCH_HOME/hub/checkpoints/" in LPIPS_HELP and "fetch_lpips" in LPIPS_HELP
    img = _astronaut(64)
    assert metric(img, _noisy(img)) is None


def test_lpips_corrupt_backbone(empty_torch_home: Path) -> None:
    empty_torch_home.parent.mkdir(parents=True)
    empty_torch_home.write_bytes(b"this is not a torch checkpoint\x00\x01\x02" * 100)
    metric = LPIPS()
    assert metric.available is False
    assert metric.status.startswith("missing")
    assert str(empty_torch_home) in metric.status
    assert "unreadable" in metric.status
    img = _astronaut(64)
    assert metric(img, _noisy(img)) is None


def test_lpips_backbone_with_wrong_keys(empty_torch_home: Path) -> None:
    empty_torch_home.parent.mkdir(parents=True)
    torch.save({"conv.weight": torch.zeros(3, 3)}, empty_torch_home)
    metric = LPIPS()
    assert metric.available is False
    assert metric.status.startswith("missing")
    assert "features.0.weight" in metric.status


def test_lpips_matches_formula(lpips_metric: LPIPS, random_backbone: tuple[Path, dict]) -> None:
    _, state = random_backbone
    assert lpips_metric.available is True
    assert lpips_metric.status == "ok"
    ref = _astronaut(64)
    for est in (_noisy(ref, 0.1), _blurred(ref, 1.5)):
        expected = _reference_lpips(state, est, ref)
        assert expected > 1e-4
        assert lpips_metric(est, ref) == pytest.approx(expected, abs=1e-6)


def test_lpips_identity_and_positivity(lpips_metric: LPIPS) -> None:
    ref = _astronaut(64)
    assert lpips_metric(ref, ref.copy()) == 0.0
    assert lpips_metric(_noisy(ref, 0.1), ref) > 0.0
    # Symmetric by construction.
    assert lpips_metric(_noisy(ref, 0.1), ref) == pytest.approx(
        lpips_metric(ref, _noisy(ref, 0.1)), rel=1e-6
    )


def test_lpips_gray_is_replicated(lpips_metric: LPIPS) -> None:
    ref = rgb2gray(_astronaut(64))
    est = _noisy(ref, 0.1)
    rgb = lpips_metric(np.repeat(est[..., None], 3, 2), np.repeat(ref[..., None], 3, 2))
    assert lpips_metric(est, ref) == pytest.approx(rgb, rel=1e-6)


def test_lpips_input_errors(lpips_metric: LPIPS) -> None:
    img = _astronaut(64)
    with pytest.raises(ValueError, match=r"\(64, 64, 3\).*\(64, 63, 3\)"):
        lpips_metric(img, img[:, :63])
    with pytest.raises(ValueError, match="at least 31x31"):
        lpips_metric(img[:30, :30], img[:30, :30])
    bad = img.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        lpips_metric(bad, img)


def test_lpips_rejects_unknown_net() -> None:
    with pytest.raises(ValueError, match="alex"):
        LPIPS(net="vgg")


# --------------------------------------------------------------------------- error maps


def test_error_map_closed_form_rgb() -> None:
    est = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5]]])
    ref = np.zeros_like(est)
    ref[0, 3] = [1.0, 1.0, 1.0]
    expected = np.array([[0.299, 0.587, 0.114, 0.5]])
    out = error_map(est, ref)
    assert out.shape == (1, 4)
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_error_map_gray_passes_through() -> None:
    est = np.array([[0.2, 0.7], [0.0, 1.0]])
    ref = np.array([[0.5, 0.5], [0.25, 0.0]])
    np.testing.assert_allclose(error_map(est, ref), [[0.3, 0.2], [0.25, 1.0]], atol=1e-12)


def test_error_map_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"\(4, 4, 3\).*\(4, 4\)"):
        error_map(np.zeros((4, 4, 3)), np.zeros((4, 4)))


def test_error_map_rgb_colours() -> None:
    ref = np.zeros((2, 3))
    est = np.array([[0.0, 0.2, 0.5], [0.05, 0.1, 0.15]])
    out = error_map_rgb(est, ref, vmax=0.2)
    assert out.shape == (2, 3, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0
    # 'hot' runs black-red -> yellow -> white; errors >= vmax saturate to white.
    np.testing.assert_allclose(out[0, 1], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(out[0, 2], [1.0, 1.0, 1.0])
    assert out[0, 0, 1] == 0.0 and out[0, 0, 2] == 0.0 and out[0, 0, 0] < 0.1
    brightness = out[1].sum(axis=1)
    assert np.all(np.diff(brightness) > 0)
    rgb = error_map_rgb(np.zeros((5, 6, 3)), np.full((5, 6, 3), 0.5))
    assert rgb.shape == (5, 6, 3)
