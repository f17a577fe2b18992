"""Dictionary fields (Factor Fields): coordinates, sawtooth, DCT init, sizes, gradients, fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.fft import idct
from support import fit_regression

from inrdeblur.inr.dif import (
    THESIS_MLP_CONFIG,
    DictionaryField,
    basis_parameter_count,
    coefficient_grid_shape,
    dct_atoms,
    pixel_coordinates,
    sample_grid,
    sawtooth,
)
from inrdeblur.methods.inr.fit import coordinate_grid
from inrdeblur.methods.inr.regularisers import coordinate_tv

CPU = torch.device("cpu")
# A small two-level field for the fast tests: T_basis = 8*8*8 + 16*16*8 = 2,560.
SMALL = {"basis_dims": (8, 8), "basis_resos": (8, 16), "total_params": 2_560 + 16 * 36}
VARIANTS = {
    "grid": {"coeff_type": "grid", "basis_type": "grid"},
    "mlp": {"coeff_type": "mlp", "basis_type": "mlp"},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_shapes(variant):
    torch.manual_seed(0)
    field = DictionaryField(12, 20, **SMALL, **VARIANTS[variant])
    coords = torch.rand(9, 2) * 2 - 1
    assert field.coefficients(coords).shape == (9, 16)
    assert field.basis(coords).shape == (9, 16)
    assert field.basis_coordinates(coords).shape == (9, 2, 2)
    assert field(coords).shape == (9, 3)
    grey = DictionaryField(12, 20, out_features=1, **SMALL, **VARIANTS[variant])
    assert grey(coords).shape == (9, 1)


def test_default_grid_config_sizes():
    field = DictionaryField(142, 142)
    assert field.basis_dims == [32, 32, 32, 16, 16, 16]
    assert field.basis_resos == [32, 51, 70, 89, 108, 128]
    assert basis_parameter_count(field.basis_dims, field.basis_resos) == 848_304  # spec D.1
    # (1,426,063 - 848,304) // 144 = 4,012 cells on a square latent: floor(sqrt(4012)) = 63.
    assert tuple(field.coeff_grid.shape) == (1, 144, 63, 63)
    projection = (144 * 64 + 64) + 64 * 3
    expected = 848_304 + 63 * 63 * 144 + projection
    assert sum(p.numel() for p in field.parameters()) == expected == 1_429_312
    assert torch.all(field.coeff_grid == 0.001)


def test_sawtooth_closed_form_at_hand_chosen_pixels():
    # Period 32: -1 at every multiple of 32, slope 1/16 per pixel, 0 at mid-period.
    pixels = torch.tensor([0.0, 0.5, 16.0, 31.5, 32.0, 33.0, 48.0, 64.5, -0.5, -32.0])
    expected = torch.tensor(
        [-1.0, -0.96875, 0.0, 0.96875, -1.0, -0.9375, 0.0, -0.96875, 0.96875, -1.0]
    )
    assert torch.allclose(sawtooth(pixels, 32.0), expected)
    # A period that is not a power of two: 51 px.
    assert torch.allclose(
        sawtooth(torch.tensor([0.0, 25.5, 50.0, 51.0, 76.5]), 51.0),
        torch.tensor([-1.0, 0.0, 1.0 - 2 / 51, -1.0, 0.0]),
    )


def test_basis_coordinates_wrap_between_pixels_31_and_32():
    field = DictionaryField(1, 128, basis_dims=(4, 4), basis_resos=(32, 128), total_params=10)
    coords = coordinate_grid(1, 128, CPU)
    local = field.basis_coordinates(coords)  # (128, 2 levels, (x, y))
    level32_x = local[:, 0, 0]
    # Pixel j has its centre at j + 0.5: (j + 0.5 mod 32) / 16 - 1.
    assert level32_x[0].item() == pytest.approx(-1 + 0.5 / 16)
    assert level32_x[31].item() == pytest.approx(1 - 0.5 / 16)
    assert level32_x[32].item() == pytest.approx(-1 + 0.5 / 16)
    assert level32_x[40].item() == pytest.approx(8.5 / 16 - 1)
    # The 128-px level spans the latent once, one pixel = 2/128.
    assert local[:, 1, 0].tolist() == pytest.approx([(j + 0.5) / 64 - 1 for j in range(128)])
    # y: a 1-pixel-tall latent sits at pixel centre 0.5.
    assert torch.allclose(local[:, 0, 1], torch.full((128,), 0.5 / 16 - 1))


def test_pixel_coordinates_put_the_corners_on_pixel_centres():
    h, w = 20, 50
    corners = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [1.0, -1.0]])
    expected = torch.tensor([[0.5, 0.5], [49.5, 19.5], [25.0, 10.0], [49.5, 0.5]])
    assert torch.allclose(pixel_coordinates(corners, h, w), expected)
    # Every grid point lands on its pixel centre (j + 0.5, i + 0.5), row-major.
    pixels = pixel_coordinates(coordinate_grid(h, w, CPU), h, w).reshape(h, w, 2)
    assert torch.allclose(pixels[3, 7], torch.tensor([7.5, 3.5]))
    assert torch.allclose(pixels[..., 0], torch.arange(w).float().expand(h, w) + 0.5, atol=1e-5)
    assert torch.allclose(
        pixels[..., 1], torch.arange(h).float()[:, None].expand(h, w) + 0.5, atol=1e-5
    )


def test_thesis_variant_sees_the_whole_sawtooth_range():
    """The thesis bug fed [-1, 1] into pixel-unit maths: basis inputs sat at about -1."""
    torch.manual_seed(0)
    config = {**THESIS_MLP_CONFIG, "hidden_dim": 8}  # the projection size does not matter here
    field = DictionaryField(128, 128, **config)
    seen: dict[str, torch.Tensor] = {}

    def keep(name):
        return lambda module, args: seen.__setitem__(name, args[0].detach())

    handles = [field.coeff_mlp.register_forward_pre_hook(keep("coeff"))]
    handles += [m.register_forward_pre_hook(keep(i)) for i, m in enumerate(field.basis_mlps)]
    with torch.no_grad():
        field(coordinate_grid(128, 128, CPU))
    for handle in handles:
        handle.remove()
    for i, reso in enumerate(field.basis_resos):
        x = seen[i]
        # Pixel centres 0.5 .. 127.5 reach both ends of every period of <= 128 px.
        assert x.min().item() == pytest.approx(-1 + 1 / reso, abs=1e-5)
        assert x.max().item() == pytest.approx(1 - 1 / reso, abs=1e-5)
        # Spread over the range, not bunched at the ends: the thesis bug gave values within
        # 0.07 of -1 or +1 only, none in the middle half.
        middle = ((x > -0.5) & (x < 0.5)).float().mean().item()
        assert middle == pytest.approx(0.5, abs=0.1)
    assert seen["coeff"].min().item() == pytest.approx(-1 + 1 / 128, abs=1e-5)
    assert seen["coeff"].max().item() == pytest.approx(1 - 1 / 128, abs=1e-5)


def test_thesis_parameter_count_from_the_layer_sizes():
    field = DictionaryField(192, 256, **THESIS_MLP_CONFIG)
    pe_in = 2 + 2 * 2 * 4  # (x, y) plus sin and cos at 4 octaves
    coeff = (pe_in * 64 + 64) + 64 * 144  # last layer without bias
    bases = sum((pe_in * 64 + 64) + 64 * d for d in (32, 32, 32, 16, 16, 16))
    projection = (144 * 1024 + 1024) + (1024 * 1024 + 1024) + 1024 * 3
    total = coeff + bases + projection
    assert sum(p.numel() for p in field.coeff_mlp.parameters()) == coeff
    assert sum(p.numel() for p in field.basis_mlps.parameters()) == bases
    assert sum(p.numel() for p in field.parameters()) == total == 1_228_096
    assert round(total / 1e6, 2) == 1.23  # spec 7.3 / D.3
    # The thesis variant does not depend on the latent size.
    small = DictionaryField(10, 10, **THESIS_MLP_CONFIG)
    assert sum(p.numel() for p in small.parameters()) == total


def test_coefficient_grid_follows_the_budget_and_aspect_ratio():
    # side = sqrt(100*200/4012) = 2.2327 px: 100/side = 44.79, 200/side = 89.58.
    assert coefficient_grid_shape(100, 200, 4012) == (44, 89)
    assert coefficient_grid_shape(8, 8, 64) == (8, 8)  # exact square, no round-off loss
    assert coefficient_grid_shape(5, 500, 3) == (1, 17)  # at least one cell per axis
    basis = basis_parameter_count((8, 8), (8, 16))
    assert basis == 8 * 8 * 8 + 16 * 16 * 8
    field = DictionaryField(
        100, 200, basis_dims=(8, 8), basis_resos=(8, 16), total_params=basis + 4012 * 16 + 15
    )
    assert tuple(field.coeff_grid.shape) == (1, 16, 44, 89)
    # A budget below T_basis falls back to upstream's 64 cells (8 x 8 on a square).
    tiny = DictionaryField(40, 40, basis_dims=(8, 8), basis_resos=(8, 16), total_params=100)
    assert tuple(tiny.coeff_grid.shape) == (1, 16, 8, 8)


@pytest.mark.parametrize(("n_atoms", "size"), [(32, 32), (32, 51), (16, 108), (16, 5), (4, 4)])
def test_dct_atoms_are_orthonormal(n_atoms, size):
    atoms = dct_atoms(n_atoms, size).reshape(n_atoms, -1).double()
    assert torch.allclose(atoms @ atoms.T, torch.eye(n_atoms, dtype=torch.float64), atol=1e-5)


def test_dct_atoms_are_scipy_dct_ii_vectors_at_upstream_frequencies():
    # 4 atoms on 9 px: p = 3 cosines per axis at DCT indices round(k * 9 / 3) = 0, 3, 6.
    # array_split(range(9), 4) starts its chunks at 0, 3, 5, 7 -> (a, b) pairs
    # (0, 0), (1, 0), (1, 2), (2, 1) -> (y, x) frequencies (0, 0), (3, 0), (3, 6), (6, 3).
    def dct_vector(f):
        return idct(np.eye(9)[f], type=2, norm="ortho")  # orthonormal DCT-II basis vector f

    expected = [
        np.outer(dct_vector(fy), dct_vector(fx)) for fy, fx in [(0, 0), (3, 0), (3, 6), (6, 3)]
    ]
    assert np.allclose(dct_atoms(4, 9).numpy(), np.stack(expected), atol=1e-6)


def test_basis_grids_start_orthonormal():
    field = DictionaryField(16, 16)
    for grid, dims in zip(field.basis_grids, field.basis_dims, strict=True):
        atoms = grid.detach().reshape(dims, -1).double()
        assert torch.allclose(atoms @ atoms.T, torch.eye(dims, dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grids_are_read_like_upstream_grid_sample(mode):
    """Second implementation: upstream's grid_sample calls on normalised coordinates."""
    torch.manual_seed(0)
    h, w = 13, 21
    field = DictionaryField(h, w, **SMALL, sample_mode=mode)
    with torch.no_grad():
        field.coeff_grid.normal_()
        for grid in field.basis_grids:
            grid.normal_()
    coords = torch.cat([coordinate_grid(h, w, CPU), torch.rand(50, 2) * 2 - 1])
    pixels = pixel_coordinates(coords, h, w)
    size = torch.tensor([float(w), float(h)])
    ref_coeff = (
        F.grid_sample(
            field.coeff_grid,
            (pixels * 2 / size - 1).view(1, 1, -1, 2),
            mode=mode,
            padding_mode="border",
            align_corners=False,
        )
        .view(16, -1)
        .T
    )
    ref_basis = []
    for grid, reso in zip(field.basis_grids, field.basis_resos, strict=True):
        local = (pixels % reso) / (reso / 2) - 1
        ref_basis.append(
            F.grid_sample(grid, local.view(1, 1, -1, 2), mode=mode, align_corners=True)
            .view(grid.shape[1], -1)
            .T
        )
    with torch.no_grad():
        assert torch.allclose(field.coefficients(coords), ref_coeff, atol=1e-5)
        assert torch.allclose(field.basis(coords), torch.cat(ref_basis, dim=1), atol=1e-5)


def test_sample_grid_matches_grid_sample_outside_the_grid_too():
    torch.manual_seed(1)
    grid = torch.randn(3, 4, 6, dtype=torch.float64)
    texels = torch.rand(40, 2, dtype=torch.float64) * 10 - 3  # beyond both borders
    size = torch.tensor([6.0, 4.0], dtype=torch.float64)
    normalised = texels * 2 / (size - 1) - 1  # align_corners=True
    for mode in ("bilinear", "nearest"):
        ref = F.grid_sample(
            grid[None],
            normalised.view(1, 1, -1, 2),
            mode=mode,
            padding_mode="border",
            align_corners=True,
        )
        assert torch.allclose(sample_grid(grid, texels, mode), ref.view(3, -1).T)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_gradients_reach_parameters_and_coordinates(variant):
    torch.manual_seed(0)
    field = DictionaryField(10, 12, **SMALL, **VARIANTS[variant])
    if field.coeff_grid is not None:
        with torch.no_grad():
            field.coeff_grid.normal_()  # break the constant initialisation
    coords = coordinate_grid(10, 12, CPU).requires_grad_(True)
    out = field(coords)
    tv = coordinate_tv(out, coords, (2 / 11, 2 / 9))
    # The TV alone reaches the grids / field MLP weights (double backward, create_graph).
    tv.backward(retain_graph=True)
    for name, p in field.named_parameters():
        if "bias" not in name:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    field.zero_grad()
    (torch.mean((out - 0.3) ** 2) + tv).backward()
    for name, p in field.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert coords.grad is not None and coords.grad.abs().sum() > 0


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_coordinate_gradient_matches_finite_differences(variant):
    torch.manual_seed(0)
    field = DictionaryField(10, 12, **SMALL, **VARIANTS[variant]).double()
    if field.coeff_grid is not None:
        with torch.no_grad():
            field.coeff_grid.normal_()
    # Points away from texel edges and sawtooth wraps, where the field is smooth.
    coords = torch.tensor([[-0.71, 0.23], [0.13, -0.37], [0.52, 0.61]], dtype=torch.float64)
    assert torch.autograd.gradcheck(field, (coords.requires_grad_(True),), eps=1e-7, atol=1e-5)


def test_nearest_sampling_has_no_coordinate_gradient():
    torch.manual_seed(0)
    field = DictionaryField(10, 12, **SMALL, sample_mode="nearest")
    coords = coordinate_grid(10, 12, CPU).requires_grad_(True)
    out = field(coords)
    # Zero, as documented (a TV prior then needs finite differences), not an autograd error.
    assert coordinate_tv(out, coords, (2 / 11, 2 / 9)).item() == 0.0
    out.sum().backward()
    assert coords.grad is not None and torch.all(coords.grad == 0)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_regression_fit_of_a_32x32_image(variant, one_torch_thread):
    from skimage import data, transform

    image = transform.resize(data.astronaut()[30:230, 150:350], (32, 32), anti_aliasing=True)
    target = torch.from_numpy(image.astype(np.float32)).reshape(-1, 3)
    coords = coordinate_grid(32, 32, CPU)
    torch.manual_seed(0)
    # T_basis = 8 (64 + 256 + 1024) = 10,752; the budget leaves 49 cells -> 7 x 7 coefficients.
    field = DictionaryField(
        32,
        32,
        basis_dims=(8, 8, 8),
        basis_resos=(8, 16, 32),
        total_params=10_752 + 24 * 49,
        **VARIANTS[variant],
    )
    optimiser = torch.optim.Adam(field.parameters(), lr=2e-2 if variant == "grid" else 5e-3)
    start, end = fit_regression(field, coords, target, optimiser)
    assert end < 0.01 * start
    assert -10 * math.log10(end) > 30  # dB


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"basis_dims": (), "basis_resos": ()}, "basis_dims"),
        ({"basis_dims": (8, 8), "basis_resos": (8,)}, "basis_resos"),
        ({"basis_dims": (8, 0), "basis_resos": (8, 8)}, "basis_dims"),
        ({"basis_dims": (8, 8), "basis_resos": (8, 0)}, "basis_resos"),
        ({"basis_dims": (8, 8), "basis_resos": (8, -4), "basis_type": "mlp"}, "basis_resos"),
        ({"basis_dims": (32,), "basis_resos": (5,)}, r"basis_resos\[0\]"),
        ({"coeff_type": "hash"}, "coeff_type"),
        ({"basis_type": "vm"}, "basis_type"),
        ({"basis_mapping": "triangle"}, "basis_mapping"),
        ({"sample_mode": "bicubic"}, "sample_mode"),
        ({"height": 0}, "height"),
        ({"width": -3}, "width"),
        ({"num_layers": 0}, "num_layers"),
        ({"hidden_dim": 0}, "hidden_dim"),
        ({"total_params": 0}, "total_params"),
        ({"coef_init": math.inf}, "coef_init"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    args = {"height": 8, "width": 8, **kwargs}
    with pytest.raises(ValueError, match=name):
        DictionaryField(**args)
