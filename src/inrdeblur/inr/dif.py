"""Dictionary fields for 2-D images (Factor Fields; Chen, Xu, Wei, Tang, Su, Geiger, SIGGRAPH
2023; code ``autonomousvision/factor-fields``).

The signal is ``s(x) = P(c(x) * b(gamma(x)))`` (methods_spec D.1): a coefficient field ``c``
and a multi-level basis field ``b``, each with ``sum(basis_dims)`` channels, multiplied
elementwise and decoded by a small ReLU MLP ``P``. ``gamma`` is the sawtooth coordinate
transform that tiles level ``i`` of the basis with period ``basis_resos[i]`` pixels.

Coordinates. Like every INR here, :class:`DictionaryField` takes ``(x, y)`` in [-1, 1],
where -1 and +1 are the centres of the first and the last pixel of the latent image (the
``linspace(-1, 1, n)`` grid of :func:`inrdeblur.methods.inr.fit.coordinate_grid`). Factor
Fields is defined in pixel units (pixel ``j`` has its centre at ``j + 0.5``, the image box
is ``[0, W] x [0, H]``), so the module is told the latent size and converts internally
(:func:`pixel_coordinates`). The thesis code (Lehtonen 2024, icb_spec 7.3) fed [-1, 1]
coordinates straight into a model whose box was 256 x 192 pixels: the sawtooth inputs then
sat at about -1 for every pixel and the coefficient input in [-1.008, -0.992], so the
dictionary never saw the image. That is not reproduced here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FIELD_TYPES = ("grid", "mlp")
BASIS_MAPPINGS = ("sawtooth",)
SAMPLE_MODES = ("bilinear", "nearest")

#: Settings of the thesis variant (``Lauri-Lehtonen/INR-deblurring`` ``configs/image.yaml``):
#: MLP coefficients, MLP bases and a 3 x 1024 projection, 1,228,096 parameters.
THESIS_MLP_CONFIG: dict[str, Any] = {
    "coeff_type": "mlp",
    "basis_type": "mlp",
    "num_layers": 3,
    "hidden_dim": 1024,
}


def pixel_coordinates(coords: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 2) ``(x, y)`` in [-1, 1] -> (N, 2) pixel units, pixel ``j`` centred at ``j + 0.5``.

    -1 maps to 0.5 (centre of the first pixel) and +1 to ``n - 0.5`` (centre of the last),
    with ``n`` = width for x and height for y. A 1-pixel axis maps everything to 0.5.
    """
    size = coords.new_tensor([float(width), float(height)])
    return (coords + 1.0) * 0.5 * (size - 1.0) + 0.5


def sawtooth(pixels: torch.Tensor, period: float) -> torch.Tensor:
    """Upstream ``grid_mapping(..., 'sawtooth')`` with box origin 0: pixel units -> [-1, 1].

    ``((p mod period) / (period / 2) - 1)`` clamped to [-1, 1]: rises linearly from -1 at
    every multiple of ``period`` to just below +1, then jumps back (``mod`` is floored, so
    negative ``p`` wraps into [0, period) too).
    """
    return (torch.remainder(pixels, period) / (period / 2.0) - 1.0).clamp(-1.0, 1.0)


def positional_encoding(x: torch.Tensor, n_frequencies: int) -> torch.Tensor:
    """(N, D) -> (N, 2 D n): ``[sin(2^k x_d) ..., cos(2^k x_d) ...]``, k = 0..n-1.

    Upstream ``positional_encoding`` (no factor pi), ordered d-major then k, sines first.
    """
    bands = 2.0 ** torch.arange(n_frequencies, dtype=x.dtype, device=x.device)
    scaled = (x[..., None] * bands).reshape(*x.shape[:-1], -1)
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=-1)


def dct_atoms(n_atoms: int, size: int) -> torch.Tensor:
    """(n_atoms, size, size) orthonormal 2-D DCT-II atoms: the initial basis grid of a level.

    As upstream ``dct_dict``, ``p = floor(sqrt(n_atoms)) + 1`` cosines per axis make ``p^2``
    separable atoms (row index ``a p + b`` = y-cosine ``a`` times x-cosine ``b``), of which
    ``n_atoms`` are kept at the first index of each of ``n_atoms`` near-equal chunks
    (``numpy.array_split``), and every atom is scaled to unit norm. Upstream's cosines
    ``cos(pi k t / p)`` at samples ``t = 0..size-1`` are not orthogonal on ``size`` samples;
    here cosine ``k`` is the DCT-II atom ``cos(pi f_k (t + 1/2) / size)`` with
    ``f_k = round(k size / p)``, which has upstream's frequency (``k / (2p)`` cycles per
    sample) up to rounding and makes the atoms exactly orthonormal. Needs ``size >= p``.
    """
    per_axis = math.isqrt(n_atoms) + 1
    if size < per_axis:
        raise ValueError(f"dct_atoms: size must be >= {per_axis} for {n_atoms} atoms, got {size}")
    freqs = [math.floor(k * size / per_axis + 0.5) for k in range(per_axis)]
    t = np.arange(size) + 0.5
    cosines = np.stack([np.cos(np.pi * f * t / size) for f in freqs])  # (p, size)
    atoms = np.kron(cosines, cosines)  # (p^2, size^2)
    keep = [chunk[0] for chunk in np.array_split(np.arange(per_axis**2), n_atoms)]
    atoms = atoms[keep]
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    return torch.from_numpy(atoms.reshape(n_atoms, size, size)).float()


def basis_parameter_count(basis_dims: Sequence[int], basis_resos: Sequence[int]) -> int:
    """``T_basis = sum_i reso_i^2 dims_i``: entries of the basis grids (848,304 upstream)."""
    return sum(int(r) ** 2 * int(d) for d, r in zip(basis_dims, basis_resos, strict=True))


def coefficient_grid_shape(height: int, width: int, n_cells: int) -> tuple[int, int]:
    """(rows, cols) of a grid of about ``n_cells`` square cells over a ``height x width`` box.

    Upstream ``N_to_reso``: cell side ``sqrt(H W / n_cells)``, each axis gets
    ``floor(length / side)`` cells (at least 1; a 1e-6 tolerance absorbs round-off).
    """
    side = math.sqrt(height * width / n_cells)
    return (
        max(1, math.floor(height / side + 1e-6)),
        max(1, math.floor(width / side + 1e-6)),
    )


def sample_grid(grid: torch.Tensor, texels: torch.Tensor, mode: str) -> torch.Tensor:
    """Sample a (C, h, w) grid at (N, 2) texel coordinates ``(x, y)`` -> (N, C).

    Texel ``grid[:, i, j]`` sits at ``(x, y) = (j, i)``; coordinates are clamped to the grid
    (``grid_sample``'s border padding). ``'bilinear'`` blends the four neighbours;
    ``'nearest'`` takes the closest (ties to even, like ``grid_sample``) and has a zero
    gradient with respect to the coordinates. Same values as ``F.grid_sample``, but built
    from gathers and products, so the double backward that a coordinate-gradient
    regulariser needs stays cheap (``grid_sample``'s double backward is a slow
    decomposition on CPU: about 10 s instead of 0.5 s for the default field on 142 x 142).
    """
    channels, height, width = grid.shape
    table = grid.reshape(channels, height * width).T  # (h w, C)
    x = texels[:, 0].clamp(0.0, width - 1.0)
    y = texels[:, 1].clamp(0.0, height - 1.0)
    if mode == "nearest":
        index = torch.round(y).long() * width + torch.round(x).long()
        # + 0 * (x + y): the coordinates stay in the graph with a zero gradient, as with
        # grid_sample, so an autograd TV evaluates to 0 instead of raising.
        return table.index_select(0, index) + 0.0 * (x + y)[:, None]
    x0 = x.detach().floor().clamp(max=max(width - 2, 0))
    y0 = y.detach().floor().clamp(max=max(height - 2, 0))
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    ix0, iy0 = x0.long(), y0.long()
    ix1, iy1 = (ix0 + 1).clamp(max=width - 1), (iy0 + 1).clamp(max=height - 1)

    def at(iy: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
        return table.index_select(0, iy * width + ix)

    top_left = at(iy0, ix0)
    bottom_left = at(iy1, ix0)
    top = top_left + fx * (at(iy0, ix1) - top_left)
    bottom = bottom_left + fx * (at(iy1, ix1) - bottom_left)
    return top + fy * (bottom - top)


class ReluMLP(nn.Module):
    """Upstream ``MLPMixer``: optional positional encoding, ReLU MLP, no bias on the last layer.

    (N, in_dim) -> [x, positional_encoding(x, pe)] (N, in_dim (1 + 2 pe)) -> ``num_layers``
    Linear layers (``hidden_dim`` wide, ReLU between, none after the last) -> (N, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, num_layers: int, hidden_dim: int, pe: int = 0):
        super().__init__()
        self.pe = int(pe)
        widths = [in_dim * (1 + 2 * self.pe)] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(
            nn.Linear(w_in, w_out, bias=i < num_layers - 1)
            for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:], strict=True))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, positional_encoding(x, self.pe)], dim=-1) if self.pe > 0 else x
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        return h


class DictionaryField(nn.Module):
    """Coordinates (N, 2) ``(x, y)`` in [-1, 1] -> RGB (N, out_features), image space [0, 1].

    ``s(x) = P(c(x) * b(x)) + 0.5`` over a latent of ``height x width`` pixels (the +0.5 makes
    a zero projection paint mid-grey, as :class:`~inrdeblur.inr.siren.Siren`). With ``p`` the
    pixel coordinate (:func:`pixel_coordinates`) and ``C = sum(basis_dims)``:

    * Coefficients ``c`` (C channels) at the box-normalised coordinate
      ``p * 2 / (W, H) - 1`` (in ``[-1 + 1/n, 1 - 1/n]`` on the pixel centres):

      - ``'grid'``: one learnable (1, C, rows, cols) grid, every entry ``coef_init``, read
        like ``grid_sample(align_corners=False, padding_mode='border')``, so cell ``k``
        covers pixels ``[k, k + 1) * W / cols``. Its size comes from the parameter budget
        as upstream: ``T_coeff = total_params - T_basis`` (:func:`basis_parameter_count`;
        when that is not positive, upstream's fallback of 64 cells), then
        ``T_coeff // C`` cells spread over the latent's aspect ratio
        (:func:`coefficient_grid_shape`). Upstream image.yaml's budget, 1,426,063, gives a
        63 x 63 grid on a square latent.
      - ``'mlp'``: :class:`ReluMLP` (2 -> PE ``mlp_frequencies`` -> ``mlp_hidden_dim`` -> C).

    * Basis ``b``: level ``i`` (``basis_dims[i]`` channels) is evaluated at
      ``sawtooth(p, basis_resos[i])``, a (2,) coordinate in [-1, 1] that repeats every
      ``basis_resos[i]`` pixels along x and y; the levels are concatenated.

      - ``'grid'``: a learnable (1, dims_i, reso_i, reso_i) grid read like
        ``grid_sample(align_corners=True)`` (sawtooth -1 and +1 are its first and last
        texel, about one texel per pixel), initialised with orthonormal 2-D DCT atoms
        (:func:`dct_atoms`).
      - ``'mlp'``: :class:`ReluMLP` (2 -> PE ``mlp_frequencies`` -> ``mlp_hidden_dim`` ->
        dims_i).

    * Projection ``P``: :class:`ReluMLP` (C -> ``hidden_dim`` x (``num_layers`` - 1) ->
      out_features), no bias on the last layer, no output activation.

    Grid sampling (``sample_mode``, both grids): ``'bilinear'`` (default) makes the field
    piecewise bilinear, so autograd gradients with respect to the coordinates exist and the
    coordinate TV regulariser works. ``'nearest'`` is upstream image.yaml's choice; the
    grids are then piecewise constant and give no gradient with respect to the
    coordinates (identically zero for grid/grid), so a TV prior needs finite differences.
    Grids are read with :func:`sample_grid`, which matches ``F.grid_sample``.

    Defaults are upstream ``configs/image.yaml`` (grid/grid, 2 x 64 projection, budget
    1,426,063) except ``sample_mode``; on a 142 x 142 latent that is 848,304 (bases) +
    571,536 (63 x 63 x 144 coefficients) + 9,472 (projection) = 1,429,312 parameters. The
    thesis variant is ``**THESIS_MLP_CONFIG`` (mlp/mlp, 3 x 1024 projection): 10,432
    (coefficients) + 16,512 (six bases) + 1,201,152 (projection) = 1,228,096 parameters,
    whatever the latent size; it ignores ``total_params``, ``coef_init`` and
    ``sample_mode``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> field = DictionaryField(height=16, width=24, basis_dims=(4, 4), basis_resos=(4, 8),
        ...                         total_params=1000)
        >>> field(torch.zeros(7, 2)).shape
        torch.Size([7, 3])
        >>> tuple(field.coeff_grid.shape)  # (1000 - 320) // 8 = 85 cells over 16 x 24 px
        (1, 8, 7, 11)
    """

    def __init__(
        self,
        height: int,
        width: int,
        out_features: int = 3,
        basis_dims: Sequence[int] = (32, 32, 32, 16, 16, 16),
        basis_resos: Sequence[int] = (32, 51, 70, 89, 108, 128),
        coeff_type: str = "grid",
        basis_type: str = "grid",
        basis_mapping: str = "sawtooth",
        num_layers: int = 2,
        hidden_dim: int = 64,
        total_params: int = 1_426_063,
        coef_init: float = 0.001,
        sample_mode: str = "bilinear",
        mlp_hidden_dim: int = 64,
        mlp_frequencies: int = 4,
    ):
        super().__init__()
        basis_dims = [int(d) for d in basis_dims]
        basis_resos = [int(r) for r in basis_resos]
        _validate(dict(locals()))
        self.height, self.width = int(height), int(width)
        self.basis_dims, self.basis_resos = basis_dims, basis_resos
        self.coeff_type, self.basis_type = coeff_type, basis_type
        self.basis_mapping, self.sample_mode = basis_mapping, sample_mode
        channels = sum(basis_dims)

        self.coeff_grid: nn.Parameter | None = None
        self.coeff_mlp: ReluMLP | None = None
        if coeff_type == "grid":
            t_coeff = total_params - basis_parameter_count(basis_dims, basis_resos)
            if t_coeff <= 0:
                t_coeff = 8**2 * channels
            rows, cols = coefficient_grid_shape(self.height, self.width, t_coeff // channels)
            self.coeff_grid = nn.Parameter(torch.full((1, channels, rows, cols), float(coef_init)))
        else:
            self.coeff_mlp = ReluMLP(2, channels, 2, mlp_hidden_dim, pe=mlp_frequencies)

        self.basis_grids: nn.ParameterList | None = None
        self.basis_mlps: nn.ModuleList | None = None
        if basis_type == "grid":
            self.basis_grids = nn.ParameterList(
                nn.Parameter(dct_atoms(d, r)[None])
                for d, r in zip(basis_dims, basis_resos, strict=True)
            )
        else:
            self.basis_mlps = nn.ModuleList(
                ReluMLP(2, d, 2, mlp_hidden_dim, pe=mlp_frequencies) for d in basis_dims
            )
        self.projection = ReluMLP(channels, out_features, num_layers, hidden_dim)

    def to_pixels(self, coords: torch.Tensor) -> torch.Tensor:
        """(N, 2) [-1, 1] -> (N, 2) pixel units of this latent (see :func:`pixel_coordinates`)."""
        return pixel_coordinates(coords, self.height, self.width)

    def basis_coordinates(self, coords: torch.Tensor) -> torch.Tensor:
        """(N, 2) [-1, 1] -> (N, L, 2): the sawtooth coordinate of every level, in [-1, 1]."""
        pixels = self.to_pixels(coords)
        return torch.stack([sawtooth(pixels, float(r)) for r in self.basis_resos], dim=1)

    def coefficients(self, coords: torch.Tensor) -> torch.Tensor:
        """(N, 2) [-1, 1] -> (N, C) coefficient field ``c``."""
        pixels = self.to_pixels(coords)
        size = coords.new_tensor([float(self.width), float(self.height)])
        if self.coeff_mlp is not None:
            return self.coeff_mlp(pixels * (2.0 / size) - 1.0)
        assert self.coeff_grid is not None
        rows, cols = self.coeff_grid.shape[2:]
        cells = coords.new_tensor([float(cols), float(rows)])
        # grid_sample(align_corners=False) at p * 2 / size - 1 reads texel p * cells / size - 1/2.
        return sample_grid(self.coeff_grid[0], pixels * (cells / size) - 0.5, self.sample_mode)

    def basis(self, coords: torch.Tensor) -> torch.Tensor:
        """(N, 2) [-1, 1] -> (N, C) basis field ``b``, the levels concatenated."""
        local = self.basis_coordinates(coords)
        levels = []
        for i, reso in enumerate(self.basis_resos):
            if self.basis_mlps is not None:
                levels.append(self.basis_mlps[i](local[:, i]))
            else:
                assert self.basis_grids is not None
                # grid_sample(align_corners=True): -1 and +1 are the first and last texel.
                texels = (local[:, i] + 1.0) * (0.5 * (reso - 1))
                levels.append(sample_grid(self.basis_grids[i][0], texels, self.sample_mode))
        return torch.cat(levels, dim=1)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.projection(self.coefficients(coords) * self.basis(coords)) + 0.5


def _validate(args: dict[str, Any]) -> None:
    """Raise a ValueError naming the first bad constructor argument of DictionaryField."""

    def fail(name: str, rule: str) -> None:
        raise ValueError(f"DictionaryField: {name} must be {rule}, got {args[name]!r}")

    for name in ("height", "width", "out_features", "num_layers", "hidden_dim"):
        if args[name] < 1:
            fail(name, ">= 1")
    if args["mlp_hidden_dim"] < 1:
        fail("mlp_hidden_dim", ">= 1")
    if args["mlp_frequencies"] < 0:
        fail("mlp_frequencies", ">= 0")
    if args["total_params"] < 1:
        fail("total_params", ">= 1")
    if not math.isfinite(args["coef_init"]):
        fail("coef_init", "finite")
    for name, known in (
        ("coeff_type", FIELD_TYPES),
        ("basis_type", FIELD_TYPES),
        ("basis_mapping", BASIS_MAPPINGS),
        ("sample_mode", SAMPLE_MODES),
    ):
        if args[name] not in known:
            fail(name, f"one of {known}")
    dims, resos = args["basis_dims"], args["basis_resos"]
    if not dims:
        fail("basis_dims", "a non-empty list")
    if len(resos) != len(dims):
        raise ValueError(
            f"DictionaryField: basis_resos must have one entry per level of basis_dims "
            f"({len(dims)}), got {len(resos)}"
        )
    if min(dims) < 1:
        fail("basis_dims", "all >= 1")
    if min(resos) < 1:
        fail("basis_resos", "all >= 1")
    if args["basis_type"] == "grid":
        for i, (d, r) in enumerate(zip(dims, resos, strict=True)):
            need = math.isqrt(d) + 1
            if r < need:
                raise ValueError(
                    f"DictionaryField: basis_resos[{i}] must be >= {need} to hold "
                    f"basis_dims[{i}] = {d} orthogonal DCT atoms, got {r}"
                )
