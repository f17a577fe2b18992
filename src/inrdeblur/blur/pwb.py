"""PWB: the pixel-wise blur baseline of Torres and Kämäräinen (SCIA 2023, arXiv 2303.09334).

Every pixel gets its own blur kernel from the full 6-DoF camera motion. For pixel
``x = (u, v, 1)`` (u = column, v = row, pixel centres at integers) with depth ``d_x`` and
pose ``k`` the induced homography is

    P_k(x) = K (R_k + t_k e3^T / d_x) K^-1,    x' = P_k x,    s_k(x) = x' / x'_z - x,

and the pose's PSF offset is ``(row, col) = (-round(s_y), +round(s_x))``
(:func:`inrdeblur.blur.trajectory.psf_offsets`, rounding half up). The pixel's kernel is the
histogram of its N offsets with equal weights on a common odd support ``S = 2 max|offset| + 1``,
indexed like the ICB kernels (spec §3.3, §4). Blurring is a true convolution with that
per-pixel kernel:

    blurry[p] = (1 / N) sum_k latent[p_row + P - row_k(p), p_col + P - col_k(p)],  P = S // 2.

The reference code stores the dense kernels, H W S^2 floats (about 6 GB for 720x1280 and
S = 41). Here only one integer per pixel and pose is kept (2 N H W bytes, 113 MB for
720x1280 and N = 64) and the operator is a gather over row chunks, so memory stays bounded.
:meth:`PWBBlur.per_pixel_kernels` and :meth:`PWBBlur.forward_dense` rebuild the dense
kernels and the reference's unfold formulation, for inspection and tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inrdeblur.blur.camera import scene_geometry, validate_depth, validate_intrinsics
from inrdeblur.blur.operator import BlurOperator
from inrdeblur.blur.trajectory import Trajectory, round_half_up

#: default temporary-memory budget of one row chunk, MB of 2**20 bytes
DEFAULT_CHUNK_MB = 128.0


def _check_support(support: int, image_shape: tuple[int, int]) -> None:
    h, w = image_shape
    if support > h or support > w:
        raise ValueError(
            f"PWB: kernel support S = {support} px is larger than the image {h}x{w} px; "
            "the camera motion is too large for this image"
        )


def pixel_offsets(
    depth: np.ndarray | torch.Tensor,
    trajectory: Trajectory,
    intrinsics: np.ndarray | torch.Tensor,
) -> np.ndarray:
    """Per-pixel, per-pose PSF offsets of the 6-DoF homography blur (spec §4).

    Args:
        depth: (H, W) depth in metres, finite and > 0.
        trajectory: N camera poses (translation in metres, rotation in degrees).
        intrinsics: K (3, 3) in pixels.

    Returns:
        (N, H, W, 2) integer offsets ``(row, col) = (-round(s_y), +round(s_x))``, int8 when
        every ``|offset| <= 127`` px, else int16.

    Computed in float64, one pose at a time (about 6 H W floats of temporaries). Raises
    ``ValueError`` for bad depth or K, a point that projects behind camera ``k``
    (``x'_z <= 0``), or a support ``S`` larger than the image.
    """
    d = validate_depth(depth)
    k = validate_intrinsics(intrinsics)
    if not isinstance(trajectory, Trajectory):
        raise ValueError(f"trajectory: expected a Trajectory, got {type(trajectory).__name__}")
    h, w = d.shape
    inv_depth = 1.0 / d
    u = np.arange(w, dtype=np.float64)[None, :]
    v = np.arange(h, dtype=np.float64)[:, None]
    k_inv = np.linalg.inv(k)
    rotations = trajectory.rotation_matrices()
    out = np.empty((trajectory.n_poses, h, w, 2), dtype=np.int8)
    for n, (rot, t) in enumerate(zip(rotations, trajectory.translation, strict=True)):
        # K^-1 x has third component 1 (K's last row is e3), so
        # P_k x = (K R_k K^-1) x + (K t_k) / d_x.
        m = k @ rot @ k_inv
        kt = k @ t
        z = m[2, 0] * u + m[2, 1] * v + m[2, 2] + kt[2] * inv_depth
        n_behind = int(np.count_nonzero(z <= 0))
        if n_behind:
            raise ValueError(
                f"PWB: {n_behind} pixels project behind camera pose {n} (x'_z <= 0); "
                "the trajectory moves the camera past the scene or rotates too far"
            )
        su = (m[0, 0] * u + m[0, 1] * v + m[0, 2] + kt[0] * inv_depth) / z - u
        sv = (m[1, 0] * u + m[1, 1] * v + m[1, 2] + kt[1] * inv_depth) / z - v
        largest = float(max(np.abs(su).max(), np.abs(sv).max()))
        if largest > max(h, w):
            # Far beyond any image: report the support before casting to integers.
            support = 2 * int(np.floor(min(largest, 1e18) + 0.5)) + 1
            _check_support(support, (h, w))
        col = round_half_up(su)
        row = -round_half_up(sv)
        peak = int(max(np.abs(col).max(), np.abs(row).max()))
        _check_support(2 * peak + 1, (h, w))
        if peak > np.iinfo(out.dtype).max:
            out = out.astype(np.int16)
        out[n, ..., 0] = row
        out[n, ..., 1] = col
    return out


class _Gather(torch.autograd.Function):
    """``latent -> op.gather(latent)``; the gradient is the adjoint, so nothing is saved."""

    @staticmethod
    def forward(ctx: Any, latent: torch.Tensor, op: PWBBlur) -> torch.Tensor:
        ctx.op = op
        return op._gather(latent)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _Scatter.apply(grad, ctx.op), None


class _Scatter(torch.autograd.Function):
    """``blurry -> op.scatter(blurry)``; the gradient is the forward map."""

    @staticmethod
    def forward(ctx: Any, blurry: torch.Tensor, op: PWBBlur) -> torch.Tensor:
        ctx.op = op
        return op._scatter(blurry)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _Gather.apply(grad, ctx.op), None


class PWBBlur(BlurOperator):
    """Pixel-wise 6-DoF homography blur (PWB, Torres and Kämäräinen, SCIA 2023).

    Maps a (B, C, H + 2P, W + 2P) latent to a (B, C, H, W) blurry image, ``P = S // 2``,
    as the mean over poses of a per-pixel gather (see the module docstring). Linear,
    differentiable with respect to the latent (the backward pass is :meth:`adjoint`, so
    autograd stores no indices), and device-agnostic: ``.to(device)`` moves the buffer.

    Args:
        offsets: (N, H, W, 2) integer PSF offsets ``(row, col)`` per pose and pixel
            (:func:`pixel_offsets`).
        support: odd kernel side S; default ``2 max|offset| + 1``. A larger S only widens
            the margin (e.g. to share a latent with another operator).
        chunk_rows: image rows per chunk; ``None`` picks them from ``chunk_mb``.
        chunk_mb: budget for one chunk's temporaries (int64 indices, scattered values), MB.

    Buffer ``deltas``: (H, W, N) int16 (int32 for very wide supports), the linear latent
    offset ``row * (W + 2P) + col`` of each pose's PSF tap, so a chunk's gather index is one
    subtraction and :func:`torch.nn.functional.embedding_bag` (mode ``mean``) does the
    gather and the pose average in one pass.
    """

    model = "pwb"
    scene_inputs = ("depth", "trajectory", "intrinsics")

    def __init__(
        self,
        offsets: np.ndarray | torch.Tensor,
        support: int | None = None,
        chunk_rows: int | None = None,
        chunk_mb: float = DEFAULT_CHUNK_MB,
    ):
        offsets = torch.as_tensor(offsets)
        if offsets.ndim != 4 or offsets.shape[-1] != 2 or offsets.shape[0] < 1:
            raise ValueError(f"offsets: expected (N, H, W, 2), got {tuple(offsets.shape)}")
        if (
            offsets.dtype.is_floating_point
            or offsets.dtype.is_complex
            or offsets.dtype == torch.bool
        ):
            raise ValueError(f"offsets: must be integers, got {offsets.dtype}")
        n, h, w = (int(v) for v in offsets.shape[:3])
        largest = max(int(offsets.max()), -int(offsets.min()))
        needed = 2 * largest + 1
        if support is None:
            support = needed
        if support < needed or support % 2 == 0:
            raise ValueError(
                f"support: must be odd and >= 2 max|offset| + 1 = {needed}, got {support}"
            )
        _check_support(support, (h, w))
        if chunk_rows is not None and chunk_rows < 1:
            raise ValueError(f"chunk_rows: must be >= 1 or None, got {chunk_rows}")
        if not chunk_mb > 0:
            raise ValueError(f"chunk_mb: must be > 0, got {chunk_mb}")
        half = support // 2
        super().__init__((h, w), (half, half, half, half))
        self.support = int(support)
        self.chunk_rows = chunk_rows
        self.chunk_mb = float(chunk_mb)
        lat_w = self.latent_shape[1]
        dtype = torch.int16 if half * lat_w + half <= torch.iinfo(torch.int16).max else torch.int32
        deltas = torch.empty((h, w, n), dtype=dtype, device=offsets.device)
        for row0 in range(0, h, 32):  # bounded temporaries for large images
            band = offsets[:, row0 : row0 + 32].to(torch.int32)
            deltas[row0 : row0 + 32] = (band[..., 0] * lat_w + band[..., 1]).permute(1, 2, 0)
        self.register_buffer("deltas", deltas)

    @classmethod
    def from_scene(
        cls,
        depth: np.ndarray | torch.Tensor,
        trajectory: Trajectory,
        intrinsics: np.ndarray | torch.Tensor,
        support: int | None = None,
        chunk_rows: int | None = None,
        chunk_mb: float = DEFAULT_CHUNK_MB,
    ) -> PWBBlur:
        """The PWB operator of a scene: depth (H, W) metres, a trajectory, K (3, 3) px."""
        return cls(
            pixel_offsets(depth, trajectory, intrinsics),
            support=support,
            chunk_rows=chunk_rows,
            chunk_mb=chunk_mb,
        )

    @classmethod
    def from_recipe(
        cls, settings: dict[str, Any], image_shape: tuple[int, int], **inputs: Any
    ) -> PWBBlur:
        """The blur of a ``model: pwb`` recipe from the scene's ``depth``, ``trajectory``
        and ``intrinsics``."""
        depth, intrinsics = scene_geometry(cls.model, image_shape, inputs)
        return cls.from_scene(depth, inputs["trajectory"], intrinsics)

    def crop(self, row0: int, row1: int, col0: int, col1: int) -> BlurOperator:
        """The tile's per-pixel offsets, for a tile of at least S x S px (smaller ones are
        embedded, :meth:`BlurOperator.crop`)."""
        if self.is_whole_image(row0, row1, col0, col1):
            return self
        if min(row1 - row0, col1 - col0) < self.support:
            return super().crop(row0, row1, col0, col1)
        return PWBBlur(
            self.offsets(row0, row1)[:, :, col0:col1],
            support=self.support,
            chunk_rows=self.chunk_rows,
            chunk_mb=self.chunk_mb,
        )

    @property
    def n_poses(self) -> int:
        return int(self.deltas.shape[-1])

    def offsets(self, row0: int = 0, row1: int | None = None) -> torch.Tensor:
        """PSF offsets ``(row, col)`` of image rows ``row0:row1``: (N, rows, W, 2) int64."""
        row0, row1 = self._check_rows(row0, row1)
        half, lat_w = self.support // 2, self.latent_shape[1]
        delta = self.deltas[row0:row1].permute(2, 0, 1).long()
        # delta = row * lat_w + col with |col| <= half < lat_w / 2: decode exactly.
        row = torch.div(delta + half, lat_w, rounding_mode="floor")
        return torch.stack([row, delta - row * lat_w], dim=-1)

    def rows_per_chunk(self, channels: int = 3, element_size: int = 4) -> int:
        """Image rows per chunk for ``channels`` = B * C planes of ``element_size`` bytes."""
        if self.chunk_rows is not None:
            return min(self.chunk_rows, self.image_shape[0])
        # Per image row and pose: the int64 index and, in the adjoint, the repeated values.
        per_row = self.n_poses * self.image_shape[1] * (8 + channels * element_size)
        return int(min(self.image_shape[0], max(1, self.chunk_mb * 2**20 // per_row)))

    def _check_rows(self, row0: int, row1: int | None) -> tuple[int, int]:
        h = self.image_shape[0]
        row1 = h if row1 is None else row1
        if not 0 <= row0 < row1 <= h:
            raise ValueError(f"rows: need 0 <= row0 < row1 <= {h}, got {row0}, {row1}")
        return row0, row1

    def _chunk_index(self, row0: int, row1: int) -> torch.Tensor:
        """((row1 - row0) * W, N) int64 latent index read by each pixel (bag) and pose."""
        half = self.support // 2
        lat_w = self.latent_shape[1]
        device = self.deltas.device
        rows = torch.arange(row0 + half, row1 + half, device=device)
        cols = torch.arange(half, half + self.image_shape[1], device=device)
        base = rows[:, None] * lat_w + cols[None, :]
        return (base[..., None] - self.deltas[row0:row1]).view(-1, self.n_poses)

    def _check_tensor(self, tensor: torch.Tensor, name: str) -> None:
        if tensor.device != self.deltas.device:
            raise ValueError(
                f"{name}: on {tensor.device}, but the operator is on {self.deltas.device}; "
                "move one with .to(device)"
            )
        if not tensor.dtype.is_floating_point:
            raise ValueError(f"{name}: must be a floating-point tensor, got {tensor.dtype}")

    def _gather(self, latent: torch.Tensor) -> torch.Tensor:
        b, c = latent.shape[:2]
        h, w = self.image_shape
        # (L, B*C): each index reads the B*C values of one latent pixel together.
        table = latent.reshape(b * c, -1).t().contiguous()
        out = table.new_empty(h * w, b * c)
        step = self.rows_per_chunk(b * c, latent.element_size())
        for row0 in range(0, h, step):
            row1 = min(row0 + step, h)
            index = self._chunk_index(row0, row1)
            out[row0 * w : row1 * w] = F.embedding_bag(index, table, mode="mean")
        return out.t().reshape(b, c, h, w)

    def _scatter(self, blurry: torch.Tensor) -> torch.Tensor:
        b, c = blurry.shape[:2]
        h, w = self.image_shape
        n = self.n_poses
        lat_h, lat_w = self.latent_shape
        # (B*C, L) here: index_add_ along the last axis is the fastest layout on CPU.
        values = blurry.reshape(b * c, -1) / n
        out = values.new_zeros(b * c, lat_h * lat_w)
        step = self.rows_per_chunk(b * c, blurry.element_size())
        for row0 in range(0, h, step):
            row1 = min(row0 + step, h)
            index = self._chunk_index(row0, row1)
            source = values[:, row0 * w : row1 * w, None].expand(-1, -1, n).reshape(b * c, -1)
            out.index_add_(1, index.view(-1), source)
        return out.view(b, c, lat_h, lat_w)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Blur a (B, C, H + 2P, W + 2P) latent to (B, C, H, W), same dtype and device."""
        self.check_latent(latent)
        self._check_tensor(latent, "latent")
        return _Gather.apply(latent, self)

    def adjoint(self, blurry: torch.Tensor) -> torch.Tensor:
        """The transpose map, (B, C, H, W) -> (B, C, H + 2P, W + 2P), by ``index_add``."""
        if blurry.ndim != 4 or tuple(blurry.shape[-2:]) != self.image_shape:
            raise ValueError(
                f"PWBBlur: expected a (B, C, {self.image_shape[0]}, {self.image_shape[1]}) "
                f"blurry image, got {tuple(blurry.shape)}"
            )
        self._check_tensor(blurry, "blurry")
        return _Scatter.apply(blurry, self)

    def per_pixel_kernels(
        self, row0: int = 0, row1: int | None = None, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """Dense kernels of image rows ``row0:row1``: (S, S, rows, W) ``dtype``, each summing to 1.

        ``k[c + row, c + col, i, j] += 1 / N`` for every pose's offset at pixel
        ``(row0 + i, j)``, ``c = S // 2``: the layout of
        :func:`inrdeblur.blur.kernels.psf_histogram`.
        """
        row0, row1 = self._check_rows(row0, row1)
        s, centre, n = self.support, self.support // 2, self.n_poses
        band = self.offsets(row0, row1)
        cell = ((centre + band[..., 0]) * s + (centre + band[..., 1])).reshape(n, -1)
        weight = torch.full(cell.shape, 1.0 / n, dtype=dtype, device=cell.device)
        kernels = torch.zeros(s * s, cell.shape[1], dtype=dtype, device=cell.device)
        kernels.scatter_add_(0, cell, weight)
        return kernels.view(s, s, row1 - row0, self.image_shape[1])

    def forward_dense(self, latent: torch.Tensor, chunk_rows: int = 8) -> torch.Tensor:
        """The reference formulation (spec §4): ``sum_m flip(K_p)[m] unfold(latent)(p)[m]``.

        Builds dense kernels and unfolded patches ``chunk_rows`` image rows at a time
        (B C S^2 chunk_rows W floats). Slow; an independent implementation for tests.
        """
        self.check_latent(latent)
        self._check_tensor(latent, "latent")
        b, c = latent.shape[:2]
        h, w = self.image_shape
        s = self.support
        bands = []
        for row0 in range(0, h, chunk_rows):
            row1 = min(row0 + chunk_rows, h)
            patches = F.unfold(latent[:, :, row0 : row1 + s - 1], s)
            patches = patches.view(b, c, s * s, (row1 - row0) * w)
            kernels = self.per_pixel_kernels(row0, row1, latent.dtype).view(s * s, -1).flip(0)
            bands.append((patches * kernels).sum(2).view(b, c, row1 - row0, w))
        return torch.cat(bands, dim=2)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "support": self.support,
            "n_poses": self.n_poses,
            "chunk_rows": self.chunk_rows,
            "chunk_mb": self.chunk_mb,
        }


#: the operator class of this blur model (:mod:`inrdeblur.blur.models`)
OPERATOR = PWBBlur
