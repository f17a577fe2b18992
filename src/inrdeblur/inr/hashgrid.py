"""Multiresolution hash-grid INR (Instant-NGP; Müller et al., SIGGRAPH 2022) in pure PyTorch.

Coordinates (N, 2) in [-1, 1] as (x, y) are mapped to u = (coords + 1) / 2 in [0, 1] (tiny-cuda-nn
expects [0, 1]; the thesis code fed it [-1, 1], see ``icb_spec.md`` §7.2 — that bug is not copied).
Each of L levels holds a grid of F-dimensional feature vectors; the features of the four corners of
the cell around the point are blended bilinearly, the L results are concatenated to an (N, L·F)
encoding and a ReLU MLP maps it to RGB in [0, 1] image space (+0.5 offset, as :class:`Siren`).

Conventions follow tiny-cuda-nn's ``include/tiny-cuda-nn/encodings/grid.h`` (HashGrid, Linear
interpolation, 2-D input):

* level l: ``scale = 2^(l·log2 b)·N_min − 1`` (float32), ``resolution = ceil(scale) + 1``;
* position ``p = u·scale + 0.5`` (one float32 rounding, like ``fmaf``), cell ``floor(p)``, bilinear
  weights from ``p − floor(p)``;
* entries per level ``min(T, res² rounded up to a multiple of 8)``, levels stored back to back in
  one (n_entries, F) table, row-major, i.e. tcnn's flat parameter layout;
* level index: dense ``(x + y·res) mod size`` when ``res² ≤ T``, else the spatial hash
  ``(x·1 XOR y·2654435761) mod T`` in uint32 arithmetic;
* features initialised U(−1e-4, 1e-4).

Known consequences of those conventions, kept for tcnn parity: the +0.5 offset means in-domain
points reach lattice coordinate ``res`` on the far (u = 1) edge of some levels, which then wraps
onto the next row (dense) exactly as in tcnn; lattice nodes inside [0, res)² never collide on a
dense level. Deviations: coordinates are clamped to [-1, 1] first (in both backends; tcnn would
wrap negative cells through uint32), and the MLP is ``torch.nn.Linear`` layers with biases (tcnn's
FullyFusedMLP has none and pads its widths; it is not used here).

Speed (CPU): encoding and MLP have fused autograd Functions used when no gradient w.r.t. the
coordinates is recorded; with ``coords.requires_grad`` (autograd TV) plain, twice-differentiable
ops run instead, with the same values. ``benchmarks/hashgrid_speed.py`` measures them.

Spatial derivatives: ``HashGridINR.forward_with_spatial_grad`` returns the output and its exact
derivatives w.r.t. x and y without a graph through the coordinates (what the TV regulariser
uses; a loss on them needs one ordinary backward instead of a double backward). The encoding's
derivatives reuse the gathered corners (derivative of the bilinear weights times scale / 2);
the MLP carries two tangents in forward mode (per channel), or, for the channel sum only, takes
the sum's input gradient by one reverse pass and dots it with the two tangents (half the
matmuls). Both have fused CPU Functions under the same conditions as the fast path, and plain
autograd ops elsewhere (CUDA, float16); the tcnn backend has no such path.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

HASH_PRIME_Y = 2654435761
"""tcnn's prime for the second dimension; the first dimension's "prime" is 1."""

THESIS_CONFIG: dict[str, Any] = {
    "n_levels": 14,
    "n_features_per_level": 2,
    "log2_hashmap_size": 20,
    "base_resolution": 12,
    "per_level_scale": 1.5,
    "hidden_features": 128,
    "hidden_layers": 2,
}
"""The thesis's ``configs/config_hash.json`` (icb_spec §7.2): 14 × 2 features, T = 2^20."""


def per_level_scale_for(n_levels: int, base_resolution: float, finest_resolution: float) -> float:
    """Growth factor b = exp((ln N_max − ln N_min) / (L − 1)) (Müller et al. 2022, eq. 3)."""
    if n_levels < 2:
        return 1.0
    return math.exp((math.log(finest_resolution) - math.log(base_resolution)) / (n_levels - 1))


INSTANT_NGP_CONFIG: dict[str, Any] = {
    "n_levels": 16,
    "n_features_per_level": 2,
    "log2_hashmap_size": 19,
    "base_resolution": 16,
    "per_level_scale": per_level_scale_for(16, 16, 2048),
    "hidden_features": 64,
    "hidden_layers": 2,
}
"""Instant-NGP's image setting: L = 16, F = 2, T = 2^19, N_min = 16, N_max = 2048 (so b ≈ 1.382),
MLP with 2 hidden layers of 64 neurons (paper §4 and Table 1)."""

BACKENDS = ("auto", "torch", "tcnn")


@dataclass(frozen=True)
class GridLevel:
    """One level of the grid: float32 ``scale``, ``resolution`` per side, table rows ``size``
    starting at row ``offset``, and whether lattice points are ``hashed`` (else dense)."""

    scale: float
    resolution: int
    size: int
    offset: int
    hashed: bool


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def _check_encoding_args(
    n_levels: Any,
    n_features_per_level: Any,
    log2_hashmap_size: Any,
    base_resolution: Any,
    per_level_scale: Any,
) -> tuple[int, int, int, int, float]:
    n_levels = _check_int("n_levels", n_levels, 1, 32)  # tcnn's offset table holds 32 levels
    n_features = _check_int("n_features_per_level", n_features_per_level, 1)
    log2_t = _check_int("log2_hashmap_size", log2_hashmap_size, 4, 30)
    base = _check_int("base_resolution", base_resolution, 2)
    if isinstance(per_level_scale, bool) or not isinstance(per_level_scale, (int, float)):
        raise ValueError(f"per_level_scale must be a number, got {per_level_scale!r}")
    if not math.isfinite(per_level_scale) or per_level_scale < 1.0:
        raise ValueError(f"per_level_scale must be a finite number >= 1, got {per_level_scale}")
    return n_levels, n_features, log2_t, base, float(per_level_scale)


def grid_levels(
    n_levels: int,
    log2_hashmap_size: int,
    base_resolution: int,
    per_level_scale: float,
) -> list[GridLevel]:
    """The level layout tcnn's ``GridEncodingTemplated`` builds (2-D input).

    ``scale`` is evaluated in float32 as tcnn does, ``exp2f(l · log2f(b)) · N_min − 1``, with a
    correctly rounded exp2 (CUDA's exp2f is within 2 ulp; this matters only where
    ``N_min·b^l`` is an integer, e.g. the thesis config's levels 0–2, where both give the exact
    integer).
    """
    f32 = np.float32
    table_size = 1 << log2_hashmap_size
    log2_b = f32(math.log2(f32(per_level_scale)))
    levels, offset = [], 0
    for level in range(n_levels):
        growth = f32(np.exp2(np.float64(f32(level) * log2_b)))
        scale = f32(growth * f32(base_resolution)) - f32(1.0)
        resolution = int(math.ceil(float(scale))) + 1
        dense_size = resolution * resolution
        size = min(table_size, -(-dense_size // 8) * 8)
        levels.append(GridLevel(float(scale), resolution, size, offset, dense_size > table_size))
        offset += size
    return levels


def hashgrid_param_count(
    n_levels: int = 14,
    n_features_per_level: int = 2,
    log2_hashmap_size: int = 20,
    base_resolution: int = 12,
    per_level_scale: float = 1.5,
) -> int:
    """Number of trainable encoding parameters (= tcnn's ``n_params()`` for the same config)."""
    n_levels, n_features, log2_t, base, growth = _check_encoding_args(
        n_levels, n_features_per_level, log2_hashmap_size, base_resolution, per_level_scale
    )
    levels = grid_levels(n_levels, log2_t, base, growth)
    return (levels[-1].offset + levels[-1].size) * n_features


# --------------------------------------------------------------------------------------------
# CPU scratch buffers. Every fresh multi-MiB tensor re-faults its pages on each step (measured
# here: ~0.4 ms per MiB, 8,193 minor faults for one 32 MiB activation), which was about a
# quarter of a thesis-config training step. The pool hands a buffer out again only when nothing
# but the pool references its storage, so buffers saved for backward, returned as gradients or
# kept by the caller are never overwritten; without torch's storage use count it allocates.
# --------------------------------------------------------------------------------------------

_storage_use_count = getattr(torch._C, "_storage_Use_Count", None)


class _ScratchPool:
    """Named, reusable CPU buffers; ``get`` returns a fresh alias of a free buffer.

    The alias is a new, contiguous tensor on the buffer's storage (not a view, so it can be
    returned from an autograd Function like any fresh tensor).

    Up to ``MAX_PER_NAME`` flat buffers per (name, dtype); a request is served by the smallest
    free one that is large enough, so varying batch sizes do not grow the pool without bound.
    """

    MAX_PER_NAME = 3

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, torch.dtype], list[torch.Tensor]] = {}
        self._lock = threading.Lock()  # check-then-hand-out must not interleave across threads

    @staticmethod
    def _is_free(buf: torch.Tensor) -> bool:
        # 2 = the pool's own tensor + the temporary storage object made for the query.
        return _storage_use_count(buf.untyped_storage()._cdata) == 2

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        if _storage_use_count is None:
            return torch.empty(shape, dtype=dtype)
        numel = math.prod(shape)
        with self._lock:
            buffers = self._buffers.setdefault((name, dtype), [])
            free = [buf for buf in buffers if self._is_free(buf)]
            fitting = [buf for buf in free if buf.numel() >= numel]
            if fitting:
                return self._alias(min(fitting, key=torch.Tensor.numel), shape)
            buf = torch.empty(numel, dtype=dtype)
            if len(buffers) >= self.MAX_PER_NAME and free:
                buffers.remove(free[0])  # too small for this request; let it go
            if len(buffers) < self.MAX_PER_NAME:
                buffers.append(buf)
            return self._alias(buf, shape)

    @staticmethod
    def _alias(buf: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.empty(0, dtype=buf.dtype).set_(buf.untyped_storage(), 0, shape)

    def clear(self) -> None:
        with self._lock:
            self._buffers.clear()


class _ScratchOwner:
    """Mixin: a lazily created :class:`_ScratchPool`, left out of pickles and deep copies."""

    @property
    def _scratch(self) -> _ScratchPool:
        pool = self.__dict__.get("_scratch_pool")
        if pool is None:
            pool = self.__dict__["_scratch_pool"] = _ScratchPool()
        return pool

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_scratch_pool", None)
        return state

    def release_scratch(self) -> None:
        """Drop the pooled CPU buffers (memory is freed once no graph still holds them)."""
        self._scratch.clear()


_ROW_GATHER_DTYPE = {4: torch.float32, 8: torch.complex64, 16: torch.complex128}

_EXECUTOR: tuple[int, ThreadPoolExecutor] | None = None


def _helper_thread() -> ThreadPoolExecutor:
    """One worker thread for the finer half of the levels (re-created after a fork)."""
    global _EXECUTOR
    if _EXECUTOR is None or _EXECUTOR[0] != os.getpid():
        _EXECUTOR = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="hashgrid-levels"))
    return _EXECUTOR[1]


def _over_level_halves(work, split: int, n_levels: int) -> None:
    """``work(0, split)`` here and ``work(split, n_levels)`` on the helper thread, in parallel.

    For serial ops (1-D ``index_select``/``index_add_`` do not use torch's intra-op threads);
    falls back to one call when torch is limited to one thread.
    """
    if 0 < split < n_levels and torch.get_num_threads() > 1:
        finer = _helper_thread().submit(_without_grad, work, split, n_levels)
        work(0, split)
        finer.result()
    else:
        work(0, n_levels)


def _without_grad(work, *args) -> None:
    with torch.no_grad():  # grad mode is thread-local; the helper thread starts with it on
        work(*args)


def _gather_rows(
    table: torch.Tensor, index: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``table[index]`` for a contiguous (M, F) table and (K,) int64 index -> (K, F).

    On CPU the F·4 bytes of a float32 row are moved as one element of a same-size dtype
    (complex64 for F = 2), which makes ``index_select`` a 1-D gather, ~3x faster than the 2-D
    row gather (and ~8x faster than advanced indexing).
    """
    n_rows, n_feat = table.shape
    packed = _ROW_GATHER_DTYPE.get(n_feat * table.element_size())
    if out is None:
        out = torch.empty(index.numel(), n_feat, dtype=table.dtype, device=table.device)
    if table.device.type == "cpu" and packed is not None and table.dtype == torch.float32:
        torch.index_select(table.view(packed).view(n_rows), 0, index, out=out.view(packed).view(-1))
        return out
    return torch.index_select(table, 0, index, out=out)


def _scatter_add_rows_(target: torch.Tensor, index: torch.Tensor, src: torch.Tensor) -> None:
    """``target[index[k]] += src[k]`` for (M, F) ``target`` and contiguous (K, F) ``src``.

    On CPU, pairs of float32 features are accumulated as one complex64 (complex addition is
    component-wise), so F = 2 is a single 1-D ``index_add_``, ~5x faster than the 2-D
    ``index_add_``/``index_put_(accumulate=True)`` behind autograd's indexing backward.
    """
    n_feat = target.shape[1]
    if target.device.type != "cpu" or target.dtype != torch.float32:
        target.index_add_(0, index, src)
        return
    if n_feat % 2 == 0:
        target, src = target.view(torch.complex64), src.view(torch.complex64)
    for col in range(target.shape[1]):
        target[:, col].index_add_(0, index, src[:, col])


class _GatherRows(torch.autograd.Function):
    """(M, F) table, (K,) int64 index -> (K, F) rows; backward scatters with ``index_add_``.

    Used by the general (differentiable-in-coords, any-device) path.
    """

    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.n_rows = table.shape[0]
        return _gather_rows(table, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        (index,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        zeros = grad.new_zeros(ctx.n_rows, grad.shape[1])
        if torch.is_grad_enabled():  # create_graph=True: stay differentiable w.r.t. grad
            return zeros.index_add(0, index, grad), None
        _scatter_add_rows_(zeros, index, grad.contiguous())
        return zeros, None


class _InterpolateRows(torch.autograd.Function):
    """CPU fast path: bilinear blend of gathered corner rows, coords treated as constants.

    table (M, F), rows (L, 4, N) int64, weights (2, L, N, F) = (fx, fy) repeated over F ->
    (N, L·F). Backward forms the (L, 4, N, F) corner contributions with six contiguous
    elementwise ops and scatters them with :func:`_scatter_add_rows_`, the finer levels on a
    second thread (levels own disjoint rows, so the two ``index_add_`` never write the same
    memory).
    """

    @staticmethod
    def forward(ctx, table, rows, weights, scratch, split_level):
        n_levels, _, n = rows.shape
        n_feat = table.shape[1]
        values = scratch.get("values", (n_levels, 4, n, n_feat), table.dtype)

        def gather(first: int, last: int) -> None:
            out = values[first:last].view(-1, n_feat)
            _gather_rows(table, rows[first:last].view(-1), out=out)

        _over_level_halves(gather, split_level, n_levels)
        fx, fy = weights
        top = torch.lerp(values[:, 0], values[:, 1], fx, out=values[:, 0])
        bottom = torch.lerp(values[:, 2], values[:, 3], fx, out=values[:, 2])
        blended = torch.lerp(top, bottom, fy, out=values[:, 1])  # (L, N, F)
        out = scratch.get("out", (n, n_levels * n_feat), table.dtype)  # returned: not a view
        _transpose_pairs(blended, out.view(n, n_levels, n_feat).permute(1, 0, 2))
        ctx.save_for_backward(rows, weights)
        ctx.scratch, ctx.split_level, ctx.n_rows = scratch, split_level, table.shape[0]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        rows, (fx, fy) = ctx.saved_tensors[0], ctx.saved_tensors[1]
        n_levels, _, n = rows.shape
        n_feat = grad.shape[1] // n_levels
        scratch = ctx.scratch
        contrib = scratch.get("contrib", (n_levels, 4, n, n_feat), grad.dtype)
        g = _transpose_pairs(grad.reshape(n, n_levels, n_feat).permute(1, 0, 2), contrib[:, 0])
        # Corner weights: c = 2·cy + cx -> (1 - fy or fy) · (1 - fx or fx).
        torch.mul(g, fy, out=contrib[:, 2])  # g·fy
        torch.sub(g, contrib[:, 2], out=contrib[:, 0])  # g·(1 - fy)
        torch.mul(contrib[:, 0], fx, out=contrib[:, 1])
        contrib[:, 0].sub_(contrib[:, 1])
        torch.mul(contrib[:, 2], fx, out=contrib[:, 3])
        contrib[:, 2].sub_(contrib[:, 3])
        grad_table = scratch.get("grad_table", (ctx.n_rows, n_feat), grad.dtype).zero_()

        def scatter(first: int, last: int) -> None:
            _scatter_add_rows_(
                grad_table, rows[first:last].view(-1), contrib[first:last].view(-1, n_feat)
            )

        _over_level_halves(scatter, ctx.split_level, n_levels)
        return grad_table, None, None, None, None


class _InterpolateRowsWithSpatialGrad(torch.autograd.Function):
    """CPU fast path of the encoding and its coordinate derivatives, coords as constants.

    table (M, F), rows (L, 4, N), weights (2, L, N, F) as in :class:`_InterpolateRows`,
    grad_scales (L,) = d(cell position)/d(coordinate) per level -> (N, 3, L·F): the encoding,
    its x and its y derivative. With corner values v_c (c = 2·cy + cx) and a = d/dx scale:
    value ``lerp(lerp(v0, v1, fx), lerp(v2, v3, fx), fy)``, d/dx ``a·lerp(v1 − v0, v3 − v2,
    fy)``, d/dy ``a·(lerp(v2, v3, fx) − lerp(v0, v1, fx))``: one gather serves all three.
    All three are linear in the table, so backward forms each corner's contribution of the
    three incoming gradients (eight in-place ops on (L, N, F) blocks) and scatters once, as
    :class:`_InterpolateRows` does.
    """

    @staticmethod
    def forward(ctx, table, rows, weights, grad_scales, scratch, split_level):
        n_levels, _, n = rows.shape
        n_feat = table.shape[1]
        values = scratch.get("values", (n_levels, 4, n, n_feat), table.dtype)

        def gather(first: int, last: int) -> None:
            out = values[first:last].view(-1, n_feat)
            _gather_rows(table, rows[first:last].view(-1), out=out)

        _over_level_halves(gather, split_level, n_levels)
        fx, fy = weights
        v0, v1, v2, v3 = values.unbind(1)
        v1.sub_(v0)  # v1 − v0
        v3.sub_(v2)  # v3 − v2
        v0.addcmul_(fx, v1)  # top
        v2.addcmul_(fx, v3)  # bottom
        v2.sub_(v0)  # bottom − top = d value / d fy
        v0.addcmul_(fy, v2)  # value
        torch.lerp(v1, v3, fy, out=v1)  # d value / d fx
        values[:, 1:3].mul_(grad_scales.view(-1, 1, 1, 1))
        out = scratch.get("jet_out", (n, 3, n_levels * n_feat), table.dtype)
        _transpose_pairs(values[:, :3], out.view(n, 3, n_levels, n_feat).permute(2, 1, 0, 3))
        ctx.save_for_backward(rows, weights, grad_scales)
        ctx.scratch, ctx.split_level, ctx.n_rows = scratch, split_level, table.shape[0]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None, None
        rows, (fx, fy), grad_scales = ctx.saved_tensors
        n_levels, _, n = rows.shape
        n_feat = grad.shape[2] // n_levels
        scratch = ctx.scratch
        contrib = scratch.get("contrib", (n_levels, 4, n, n_feat), grad.dtype)
        grad = grad.reshape(n, 3, n_levels, n_feat).permute(2, 1, 0, 3)
        _transpose_pairs(grad, contrib[:, :3])  # g (value), gx, gy
        contrib[:, 1:3].mul_(grad_scales.view(-1, 1, 1, 1))
        # Corner weights: value X·Y, d/dx a·X'·Y, d/dy a·X·Y' with X = (1 − fx, fx), X' = (−1, 1)
        # and likewise Y, Y'. With P1 = g·fx + gx, P0 = g − P1, Q1 = gy·fx, Q0 = gy − Q1 the
        # corners get (1 − fy)·P0 − Q0, (1 − fy)·P1 − Q1, fy·P0 + Q0, fy·P1 + Q1.
        c0, c1, c2, c3 = contrib.unbind(1)
        c1.addcmul_(c0, fx)  # P1
        c0.sub_(c1)  # P0
        torch.mul(c2, fx, out=c3)  # Q1
        c2.sub_(c3)  # Q0
        c2.addcmul_(fy, c0)  # corner 2
        c0.sub_(c2)  # corner 0
        c3.addcmul_(fy, c1)  # corner 3
        c1.sub_(c3)  # corner 1
        grad_table = scratch.get("grad_table", (ctx.n_rows, n_feat), contrib.dtype).zero_()

        def scatter(first: int, last: int) -> None:
            _scatter_add_rows_(
                grad_table, rows[first:last].view(-1), contrib[first:last].view(-1, n_feat)
            )

        _over_level_halves(scatter, ctx.split_level, n_levels)
        return grad_table, None, None, None, None, None


def _pairs_as_complex(t: torch.Tensor) -> bool:
    """Whether ``t.view(torch.complex64)`` works: float32, last dim 2 contiguous, even strides."""
    return (
        t.dtype == torch.float32
        and t.shape[-1] == 2
        and t.stride(-1) == 1
        and t.storage_offset() % 2 == 0
        and all(stride % 2 == 0 for stride in t.stride()[:-1])
    )


def _transpose_pairs(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """``dst.copy_(src)`` for (A, B, F) views, moving F = 2 float32 as one complex64."""
    if _pairs_as_complex(src) and _pairs_as_complex(dst):
        dst.view(torch.complex64).copy_(src.view(torch.complex64))
    else:
        dst.copy_(src)
    return dst


def _saved_layers(ctx) -> tuple[torch.Tensor, tuple, tuple]:
    """What an MLP Function saved as ``(x, *hidden, *params)``: x, hidden, params."""
    saved = ctx.saved_tensors
    return saved[0], saved[1 : 1 + ctx.n_hidden], saved[1 + ctx.n_hidden :]


def _param_grads(params: tuple) -> tuple[tuple, list, list, list]:
    """The weights of a flat ``(weight, bias, ...)`` list and zeroed gradients for it:
    ``(weights, grads, grad_w, grad_b)``, the last two views of ``grads``."""
    grads = [torch.zeros_like(p) for p in params]
    return params[0::2], grads, grads[0::2], grads[1::2]


class _ReLUMLPFunction(torch.autograd.Function):
    """CPU fast path of a ReLU MLP: x (N, in) -> (N, out), processed in row chunks.

    Forward writes the hidden activations into pooled buffers (saved for backward); backward
    walks the same chunks and keeps each chunk's gradients in cache, accumulating weight and
    bias gradients with ``addmm_``. Not twice differentiable (the general path is).
    """

    @staticmethod
    def forward(ctx, x, scratch, chunk, *params):
        weights, biases = params[0::2], params[1::2]
        n = x.shape[0]
        hidden = [
            scratch.get(f"mlp_hidden{i}", (n, w.shape[0]), x.dtype)
            for i, w in enumerate(weights[:-1])
        ]
        out = torch.empty(n, weights[-1].shape[0], dtype=x.dtype)
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            inp = x[rows]
            for w, b, h in zip(weights[:-1], biases[:-1], hidden, strict=True):
                torch.addmm(b, inp, w.t(), out=h[rows])
                inp = h[rows].relu_()
            torch.addmm(biases[-1], inp, weights[-1].t(), out=out[rows])
        ctx.save_for_backward(x, *hidden, *params)
        ctx.chunk, ctx.n_hidden, ctx.scratch = chunk, len(hidden), scratch
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, hidden, params = _saved_layers(ctx)
        weights, grads, grad_w, grad_b = _param_grads(params)
        n, chunk = x.shape[0], ctx.chunk
        scratch = ctx.scratch
        grad_x = scratch.get("mlp_grad_x", x.shape, x.dtype) if ctx.needs_input_grad[0] else None
        inputs = [x, *hidden]  # input of layer k is inputs[k]
        # Two ping-pong buffers of the hidden width (all hidden layers share it).
        work = [
            scratch.get(f"mlp_grad{i}", (min(chunk, n), h.shape[1]), x.dtype)
            for i, h in enumerate(hidden[-1:] * 2)
        ]
        grad_out = grad_out.contiguous()
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            g = grad_out[rows]
            for k in range(len(weights) - 1, -1, -1):
                inp = inputs[k][rows]
                grad_w[k].addmm_(g.t(), inp)
                grad_b[k].add_(g.sum(0))
                if k > 0:
                    g_in = work[k % 2][: g.shape[0], : weights[k].shape[1]]
                    torch.mm(g, weights[k], out=g_in)
                    # ReLU' from the saved post-ReLU activation, in place (no bool mask).
                    torch.ops.aten.threshold_backward.grad_input(g_in, inp, 0, grad_input=g_in)
                    g = g_in
                elif grad_x is not None:
                    torch.mm(g, weights[0], out=grad_x[rows])
        return (grad_x, None, None, *grads)


class _ReLUMLPTangentFunction(torch.autograd.Function):
    """CPU fast path of :meth:`ReLUMLP.forward_with_tangents`: x (N, 3, in) -> (N, 3, out).

    Row n holds a value and two tangents (directional derivatives) of it. Per chunk of rows
    one matmul per layer maps all three (3·chunk rows: the layout keeps a point's three rows
    together); the bias is added to the value, and the value's ReLU mask is applied to the
    value and the tangents. Backward runs the same three-row matmuls, so weight gradients
    collect the value's and the tangents' terms in one ``addmm_``; the ReLU masks count as
    constants (their derivative is zero almost everywhere). Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, x, scratch, chunk, *params):
        weights, biases = params[0::2], params[1::2]
        n = x.shape[0]
        hidden = [
            scratch.get(f"mlp_jet_hidden{i}", (n, 3, w.shape[0]), x.dtype)
            for i, w in enumerate(weights[:-1])
        ]
        out = torch.empty(n, 3, weights[-1].shape[0], dtype=x.dtype)
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            inp = x[rows]
            for w, b, h in zip(weights[:-1], biases[:-1], hidden, strict=True):
                h = h[rows]
                torch.mm(inp.view(-1, inp.shape[2]), w.t(), out=h.view(-1, h.shape[2]))
                h[:, 0].add_(b).relu_()
                # Tangents times ReLU'(pre-activation), read off the post-ReLU value.
                torch.ops.aten.threshold_backward.grad_input(
                    h[:, 1:], h[:, :1], 0, grad_input=h[:, 1:]
                )
                inp = h
            head = out[rows]
            torch.mm(inp.view(-1, inp.shape[2]), weights[-1].t(), out=head.view(-1, head.shape[2]))
            head[:, 0].add_(biases[-1])
        ctx.save_for_backward(x, *hidden, *params)
        ctx.chunk, ctx.n_hidden, ctx.scratch = chunk, len(hidden), scratch
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, hidden, params = _saved_layers(ctx)
        weights, grads, grad_w, grad_b = _param_grads(params)
        n, chunk = x.shape[0], ctx.chunk
        scratch = ctx.scratch
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = scratch.get("mlp_jet_grad_x", x.shape, x.dtype)
        inputs = [x, *hidden]  # input of layer k is inputs[k]
        work = [
            scratch.get(f"mlp_jet_grad{i}", (min(chunk, n), 3, h.shape[2]), x.dtype)
            for i, h in enumerate(hidden[-1:] * 2)
        ]
        grad_out = grad_out.contiguous()
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            g = grad_out[rows]
            for k in range(len(weights) - 1, -1, -1):
                inp = inputs[k][rows]
                g_rows = g.view(-1, g.shape[2])
                grad_w[k].addmm_(g_rows.t(), inp.view(-1, inp.shape[2]))
                grad_b[k].add_(g[:, 0].sum(0))
                if k > 0:
                    g_in = work[k % 2][: g.shape[0]]  # all hidden layers share one width
                    torch.mm(g_rows, weights[k], out=g_in.view(-1, g_in.shape[2]))
                    # ReLU' of the value's pre-activation, for the value and both tangents.
                    torch.ops.aten.threshold_backward.grad_input(
                        g_in, inp[:, :1], 0, grad_input=g_in
                    )
                    g = g_in
                elif grad_x is not None:
                    torch.mm(g_rows, weights[0], out=grad_x[rows].view(-1, x.shape[2]))
        return (grad_x, None, None, *grads)


class _ReLUMLPSumGradFunction(torch.autograd.Function):
    """CPU fast path of :meth:`ReLUMLP.forward_with_sum_tangents`.

    x (N, 3, in) = input and two tangents -> out (N, out) and (N, 2), the derivatives of the
    channel sum ``s = Σ_c out_c`` along the two tangents. Forward takes them in reverse mode:
    ``g = ∂s/∂x0`` is one backward pass of one vector, which starts without a matmul (the
    last hidden layer's adjoint is ``ReLU' ⊙ Σ_c W_last[c]``), then ``s_t = g · x_t``. So the
    two derivatives cost one matmul chain, not two, and no tangent activations are stored.
    Backward is the data term's usual backward plus that reverse pass's adjoint written out
    (three more matmuls per hidden layer; the ReLU masks count as constants, their
    derivative is zero almost everywhere, so the derivatives give the biases no gradient).
    Chunked like :class:`_ReLUMLPFunction`; not twice differentiable.

    Hidden layer k (``weights[k]``, output ``hidden[k]``) has adjoint
    ``adj[k] = ∂s/∂(pre-activation k)``: ``adj[-1] = ReLU'·w_sum``,
    ``adj[k - 1] = ReLU'·(adj[k] @ weights[k])``, and ``g = adj[0] @ weights[0]``.
    """

    @staticmethod
    def forward(ctx, x, scratch, chunk, *params):
        weights, biases = params[0::2], params[1::2]
        n_hidden = len(weights) - 1
        n, n_in = x.shape[0], x.shape[2]
        w_sum = weights[-1].sum(0)  # ∂s/∂(last hidden activation, or the input)
        hidden = [
            scratch.get(f"mlp_hidden{i}", (n, w.shape[0]), x.dtype)
            for i, w in enumerate(weights[:-1])
        ]
        adj = [
            scratch.get(f"mlp_adjoint{i}", (n, w.shape[0]), x.dtype)
            for i, w in enumerate(weights[:-1])
        ]
        grad_in = scratch.get("mlp_sum_grad", (n, n_in), x.dtype)
        out = torch.empty(n, weights[-1].shape[0], dtype=x.dtype)
        sums = torch.empty(n, 2, dtype=x.dtype)
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            inp = x[rows, 0]
            for w, b, h in zip(weights[:-1], biases[:-1], hidden, strict=True):
                torch.addmm(b, inp, w.t(), out=h[rows])
                inp = h[rows].relu_()
            torch.addmm(biases[-1], inp, weights[-1].t(), out=out[rows])
            g = grad_in[rows]
            if n_hidden:
                a = adj[-1][rows]
                torch.ops.aten.threshold_backward.grad_input(
                    w_sum.expand_as(a), hidden[-1][rows], 0, grad_input=a
                )
                for k in range(n_hidden - 1, 0, -1):
                    a = torch.mm(a, weights[k], out=adj[k - 1][rows])
                    torch.ops.aten.threshold_backward.grad_input(
                        a, hidden[k - 1][rows], 0, grad_input=a
                    )
                torch.mm(a, weights[0], out=g)
            else:
                g.copy_(w_sum.expand_as(g))
        prod = scratch.get("mlp_tangent_prod", (n, 2, n_in), x.dtype)
        torch.sum(torch.mul(x[:, 1:], grad_in.unsqueeze(1), out=prod), dim=2, out=sums)
        ctx.save_for_backward(x, grad_in, *hidden, *adj, *params)
        ctx.chunk, ctx.n_hidden, ctx.scratch = chunk, n_hidden, scratch
        return out, sums

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_sums):
        x, grad_in, *rest = ctx.saved_tensors
        n_hidden = ctx.n_hidden
        hidden, adj, params = rest[:n_hidden], rest[n_hidden : 2 * n_hidden], rest[2 * n_hidden :]
        weights, grads, grad_w, grad_b = _param_grads(params)
        n, n_in, chunk = x.shape[0], x.shape[2], ctx.chunk
        scratch = ctx.scratch
        grad_x = scratch.get("mlp_jet_grad_x", x.shape, x.dtype)
        inputs = [x[:, 0], *hidden]  # input of layer k is inputs[k]
        work = [
            scratch.get(f"mlp_grad{i}", (min(chunk, n), h.shape[1]), x.dtype)
            for i, h in enumerate(hidden[-1:] * 2)
        ]
        grad_out = grad_out.contiguous()
        # The derivatives' backward starts at s_t = g·x_t: ∂L/∂x_t = γ_t·g, ∂L/∂g = Σ_t γ_t·x_t.
        gamma = grad_sums.unsqueeze(2)  # (N, 2, 1)
        torch.mul(gamma, grad_in.unsqueeze(1), out=grad_x[:, 1:])
        prod = torch.mul(
            gamma, x[:, 1:], out=scratch.get("mlp_tangent_prod", (n, 2, n_in), x.dtype)
        )
        d_grad_in = torch.sum(prod, dim=1, out=scratch.get("mlp_sum_grad_adj", (n, n_in), x.dtype))
        if not n_hidden:
            grad_w[-1].add_(d_grad_in.sum(0))  # g = w_sum, the same for every point
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            # The data term's backward, as in _ReLUMLPFunction.
            g = grad_out[rows]
            for k in range(len(weights) - 1, -1, -1):
                inp = inputs[k][rows]
                grad_w[k].addmm_(g.t(), inp)
                grad_b[k].add_(g.sum(0))
                if k > 0:
                    g_in = torch.mm(g, weights[k], out=work[k % 2][: g.shape[0]])
                    torch.ops.aten.threshold_backward.grad_input(g_in, inp, 0, grad_input=g_in)
                    g = g_in
                else:
                    torch.mm(g, weights[0], out=grad_x[rows, 0])
            if not n_hidden:
                continue
            # ... then through g = adj[0] @ weights[0], adj[k - 1] = ReLU'·(adj[k] @ weights[k]).
            d_g = d_grad_in[rows]
            grad_w[0].addmm_(adj[0][rows].t(), d_g)
            d_a = torch.mm(d_g, weights[0].t(), out=work[0][: d_g.shape[0]])  # ∂L/∂adj[0]
            for k in range(1, n_hidden):
                torch.ops.aten.threshold_backward.grad_input(
                    d_a, hidden[k - 1][rows], 0, grad_input=d_a
                )
                grad_w[k].addmm_(adj[k][rows].t(), d_a)
                d_a = torch.mm(d_a, weights[k].t(), out=work[k % 2][: d_a.shape[0]])
            torch.ops.aten.threshold_backward.grad_input(d_a, hidden[-1][rows], 0, grad_input=d_a)
            grad_w[-1].add_(d_a.sum(0))  # ∂L/∂w_sum, on every output row
        return (grad_x, None, None, *grads)


# --------------------------------------------------------------------------------------------
# Encodings.
# --------------------------------------------------------------------------------------------


def _scatter_split_level(levels: list[GridLevel]) -> int:
    """Level at which gather and scatter are split between two threads: the middle.

    Measured at the thesis config (65,536 points, one ``index_add_`` per level), every level
    costs about the same, 0.4-0.7 ms: coarse levels repeat rows (serialised updates), fine
    levels miss the cache.
    """
    return (len(levels) + 1) // 2


class HashGridEncoding(_ScratchOwner, nn.Module):
    """Multiresolution hash encoding of 2-D points, pure PyTorch (any device).

    ``forward``: coords (N, 2) float32 in [-1, 1] as (x, y) -> (N, n_levels · F) float32 features,
    ordered level-major ``[l0 f0, l0 f1, l1 f0, ...]`` like tcnn. Differentiable w.r.t. the table
    and w.r.t. ``coords`` (twice, so autograd TV regularisers work). ``table``: (n_rows, F)
    float32 parameter, all levels back to back (``levels[l].offset``).

    No Python loop over levels: the corner rows of all levels are one (L, 4, N) tensor built by
    two broadcast ops (dense prefix of levels, hashed suffix), then one gather and three
    ``lerp``s. On CPU, unless a gradient w.r.t. ``coords`` is recorded, a fused autograd
    Function with pooled buffers and a two-thread ``index_add_`` backward is used
    (``fast_path``); otherwise plain autograd ops around a custom gather.

    ``forward_with_spatial_grad``: the features and their exact derivatives w.r.t. x and y from
    the same gathered corners (forward mode), for a TV regulariser without double backward.

    >>> enc = HashGridEncoding(n_levels=4, n_features_per_level=2, log2_hashmap_size=8,
    ...                        base_resolution=4, per_level_scale=2.0)
    >>> enc(torch.zeros(5, 2)).shape
    torch.Size([5, 8])
    """

    def __init__(
        self,
        n_levels: int = 14,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 20,
        base_resolution: int = 12,
        per_level_scale: float = 1.5,
        fast_path: bool = True,
    ):
        super().__init__()
        n_levels, n_features, log2_t, base, growth = _check_encoding_args(
            n_levels, n_features_per_level, log2_hashmap_size, base_resolution, per_level_scale
        )
        self.fast_path = bool(fast_path)
        self.n_levels, self.n_features_per_level = n_levels, n_features
        self.log2_hashmap_size, self.base_resolution = log2_t, base
        self.per_level_scale = growth
        self.levels = grid_levels(n_levels, log2_t, base, growth)
        n_rows = self.levels[-1].offset + self.levels[-1].size
        self.n_output_dims = n_levels * n_features

        self.table = nn.Parameter(torch.empty(n_rows, n_features).uniform_(-1e-4, 1e-4))

        hashed = [lv.hashed for lv in self.levels]
        n_dense = hashed.index(True) if any(hashed) else n_levels
        if any(hashed[:n_dense]) or not all(hashed[n_dense:]):
            raise AssertionError("dense levels must precede hashed ones (per_level_scale >= 1)")
        self.n_dense_levels = n_dense
        dense, hashed_lv = self.levels[:n_dense], self.levels[n_dense:]

        def constant(name: str, values: list, dtype: torch.dtype = torch.int64) -> None:
            self.register_buffer(name, torch.tensor(values, dtype=dtype), persistent=False)

        # float64 copy of the float32 scales: u·scale + 0.5 is exact in float64, so one rounding
        # to float32 reproduces tcnn's fmaf(scale, u, 0.5f) bit for bit.
        constant("_scales", [lv.scale for lv in self.levels], torch.float64)
        # d(position)/d(coordinate) = scale · du/dcoord = scale / 2 (float32, the table's dtype).
        constant("_grad_scales", [0.5 * lv.scale for lv in self.levels], torch.float32)
        constant("_dense_res", [lv.resolution for lv in dense])
        # Corner c = 2·cy + cx of cell (x, y) is row offset + x + y·res + [0, 1, res, res + 1].
        constant(
            "_dense_corner",
            [[lv.offset + d for d in (0, 1, lv.resolution, lv.resolution + 1)] for lv in dense],
        )
        # A cell can reach past its level's rows (and must wrap) only if its last corner does.
        constant("_dense_limit", [lv.size - lv.resolution - 1 for lv in dense])
        constant("_dense_end", [lv.offset + lv.size for lv in dense])
        constant("_dense_size", [lv.size for lv in dense])
        constant("_hash_offset", [lv.offset for lv in hashed_lv])
        self._hash_mask = (1 << log2_t) - 1
        self._split_level = _scatter_split_level(self.levels)

    def extra_repr(self) -> str:
        return (
            f"n_levels={self.n_levels}, n_features_per_level={self.n_features_per_level}, "
            f"log2_hashmap_size={self.log2_hashmap_size}, base_resolution={self.base_resolution}, "
            f"per_level_scale={self.per_level_scale:.6g}, n_params={self.table.numel()}, "
            f"dense_levels={self.n_dense_levels}"
        )

    # -- the level-vectorised index computation --------------------------------------------
    # Layouts: cells (2, L, N), corner rows (L, 4, N), gathered values (L, 4, N, F). Level-major
    # keeps one level's table slice in cache while its N points are gathered or scattered (as
    # tcnn's one-level-per-block kernels do); corner-major makes each corner's (L, N·F) block
    # contiguous, so the interpolation runs vectorised.

    def _alloc(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, pooled: bool):
        if pooled:
            return self._scratch.get(name, shape, dtype)
        return torch.empty(shape, dtype=dtype, device=self.table.device)

    def _unit_coords(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (N, 2) in [-1, 1] -> u (2, N) float64 in [0, 1] (clamped; float32 rounding)."""
        if coords.dim() != 2 or coords.shape[1] != 2:
            raise ValueError(f"coords must have shape (N, 2), got {tuple(coords.shape)}")
        return (coords.float().clamp(-1.0, 1.0) * 0.5 + 0.5).t().double()

    def _cells(self, coords: torch.Tensor, pooled: bool) -> tuple[torch.Tensor, ...]:
        """coords (N, 2) -> float32 position, its floor, and the int64 cell, each (2, L, N)."""
        u = self._unit_coords(coords.detach())
        shape = (2, self.n_levels, coords.shape[0])
        pos64 = self._alloc("pos64", shape, torch.float64, pooled)
        torch.mul(self._scales.view(1, -1, 1), u.unsqueeze(1), out=pos64).add_(0.5)  # exact
        pos = self._alloc("pos", shape, torch.float32, pooled).copy_(pos64)  # one rounding
        cellf = torch.floor(pos, out=self._alloc("cellf", shape, torch.float32, pooled))
        cell = self._alloc("cell", shape, torch.int64, pooled).copy_(cellf)
        return pos, cellf, cell

    def _corner_rows(self, cell: torch.Tensor, pooled: bool) -> torch.Tensor:
        """cell (2, L, N) int64 -> table rows (L, 4, N) int64 of the corners c = 2·cy + cx."""
        _, n_levels, n = cell.shape
        n_dense = self.n_dense_levels
        rows = self._alloc("rows", (n_levels, 4, n), torch.int64, pooled)
        if n_dense:
            x, y = cell[0, :n_dense], cell[1, :n_dense]
            base = self._alloc("base", (n_dense, n), torch.int64, pooled)
            torch.addcmul(x, y, self._dense_res.view(-1, 1), out=base)  # x + y·res
            torch.add(base.unsqueeze(1), self._dense_corner.view(-1, 4, 1), out=rows[:n_dense])
            # tcnn takes (x + y·res) mod size; only cells touching the far edge can reach size.
            edge = base >= self._dense_limit.view(-1, 1)
            if edge.any():
                lv, pt = edge.nonzero(as_tuple=True)
                sub = rows[lv, :, pt]
                wrapped = sub - self._dense_size[lv].unsqueeze(1)
                rows[lv, :, pt] = torch.where(sub >= self._dense_end[lv].unsqueeze(1), wrapped, sub)
        if n_dense < n_levels:
            n_hashed, mask = n_levels - n_dense, self._hash_mask
            x, y = cell[0, n_dense:], cell[1, n_dense:]
            # (a XOR b) mod 2^k = (a mod 2^k) XOR (b mod 2^k): mask the 2 + 2 terms, not the 4
            # corners; int64 products keep the low 32 bits of tcnn's uint32 arithmetic.
            hx = self._alloc("hash_x", (n_hashed, 2, n), torch.int64, pooled)
            torch.bitwise_and(x, mask, out=hx[:, 0])
            torch.add(x, 1, out=hx[:, 1]).bitwise_and_(mask)
            hy = self._alloc("hash_y", (n_hashed, 2, n), torch.int64, pooled)
            torch.mul(y, HASH_PRIME_Y, out=hy[:, 0])
            torch.add(hy[:, 0], HASH_PRIME_Y, out=hy[:, 1])
            hy.bitwise_and_(mask)
            hash_rows = rows[n_dense:].view(n_hashed, 2, 2, n)
            torch.bitwise_xor(hy.unsqueeze(2), hx.unsqueeze(1), out=hash_rows)
            hash_rows += self._hash_offset.view(-1, 1, 1, 1)
        return rows

    def corner_rows(self, coords: torch.Tensor) -> torch.Tensor:
        """Table rows (N, L, 4) int64 of the four cell corners per level, corner c = 2·cy + cx."""
        _, _, cell = self._cells(coords, pooled=False)
        return self._corner_rows(cell, pooled=False).permute(2, 0, 1)

    def uses_fast_path(self, coords: torch.Tensor) -> bool:
        """CPU float32, and no gradient w.r.t. ``coords`` is being recorded."""
        return (
            self.fast_path
            and coords.device.type == "cpu"
            and self.table.dtype == torch.float32
            and not (torch.is_grad_enabled() and coords.requires_grad)
        )

    def _fast_weights(self, pos: torch.Tensor, cellf: torch.Tensor) -> torch.Tensor:
        """Bilinear weights (fx, fy) repeated over the F features: (2, L, N, F) contiguous."""
        frac = torch.sub(pos, cellf, out=pos)
        shape = (2, self.n_levels, pos.shape[2], self.n_features_per_level)
        weights = self._scratch.get("weights", shape, pos.dtype)
        return weights.copy_(frac.unsqueeze(3).expand(shape))

    def _general_corners(
        self, coords: torch.Tensor, cellf: torch.Tensor, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """General path: fx, fy (L, N, 1) as plain autograd ops of ``coords`` (twice
        differentiable) and the corner values (L, 4, N, F) through :class:`_GatherRows`."""
        n_levels, n, n_feat = self.n_levels, coords.shape[0], self.n_features_per_level
        u = self._unit_coords(coords)
        frac = (self._scales.view(1, -1, 1) * u.unsqueeze(1) + 0.5).float() - cellf
        frac = frac.to(self.table.dtype)
        values = _GatherRows.apply(self.table, rows.view(-1)).view(n_levels, 4, n, n_feat)
        return frac[0].unsqueeze(2), frac[1].unsqueeze(2), values

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        fast = self.uses_fast_path(coords)
        pos, cellf, cell = self._cells(coords, pooled=fast)
        rows = self._corner_rows(cell, pooled=fast)
        if fast:
            weights = self._fast_weights(pos, cellf)
            return _InterpolateRows.apply(
                self.table, rows, weights, self._scratch, self._split_level
            )
        fx, fy, values = self._general_corners(coords, cellf, rows)
        top = torch.lerp(values[:, 0], values[:, 1], fx)
        out = torch.lerp(top, torch.lerp(values[:, 2], values[:, 3], fx), fy)
        return out.permute(1, 0, 2).reshape(coords.shape[0], self.n_output_dims)

    def forward_with_spatial_grad(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (N, 2) -> (N, 3, L·F): the features and their derivatives d/dx, d/dy.

        Exact (forward mode, not finite differences), in the units autograd would give
        w.r.t. ``coords``: per level d(fx)/dx = scale / 2 times the derivative of the
        bilinear weights, applied to the corner values gathered once for all three. As
        autograd through the clamp to [-1, 1] gives, the derivative along an axis is 0 where
        the coordinate is not strictly inside (torch's clamp passes no gradient at its
        bounds, so the image border's outward derivative is 0 in both). Under the conditions
        of :meth:`uses_fast_path`, :class:`_InterpolateRowsWithSpatialGrad`; otherwise plain
        autograd ops, differentiable w.r.t. the table and ``coords``.
        """
        fast = self.uses_fast_path(coords)
        pos, cellf, cell = self._cells(coords, pooled=fast)
        rows = self._corner_rows(cell, pooled=fast)
        n = coords.shape[0]
        if fast:
            weights = self._fast_weights(pos, cellf)
            jet = _InterpolateRowsWithSpatialGrad.apply(
                self.table, rows, weights, self._grad_scales, self._scratch, self._split_level
            )
        else:
            fx, fy, values = self._general_corners(coords, cellf, rows)
            v0, v1, v2, v3 = values.unbind(1)
            top, bottom = torch.lerp(v0, v1, fx), torch.lerp(v2, v3, fx)
            scale = self._grad_scales.to(values.dtype).view(-1, 1, 1)
            jet = torch.stack(
                (
                    torch.lerp(top, bottom, fy),
                    scale * torch.lerp(v1 - v0, v3 - v2, fy),
                    scale * (bottom - top),
                ),
                dim=1,
            )  # (L, 3, N, F)
            jet = jet.permute(2, 1, 0, 3).reshape(n, 3, self.n_output_dims)
        inside = coords.detach().abs() < 1
        if not bool(inside.all()):
            keep = torch.cat((inside.new_ones(n, 1), inside), dim=1).to(jet.dtype)
            jet = jet * keep.unsqueeze(2)
        return jet

    # -- tcnn parameter exchange -----------------------------------------------------------

    def tcnn_params(self) -> torch.Tensor:
        """The table as tcnn's flat parameter vector (n_params,) float32 (same row-major layout)."""
        return self.table.detach().reshape(-1)

    @torch.no_grad()
    def load_tcnn_params(self, params: torch.Tensor) -> None:
        """Set the table from a tcnn HashGrid parameter vector of the same config."""
        if params.numel() != self.table.numel():
            raise ValueError(f"params: expected {self.table.numel()} values, got {params.numel()}")
        self.table.copy_(params.detach().reshape(self.table.shape).to(self.table))


def _import_tcnn() -> tuple[Any, str]:
    """(tinycudann module or None, reason it is unavailable)."""
    try:
        import tinycudann  # noqa: PLC0415 - optional, imported lazily on request
    except ImportError as exc:
        return None, f"tinycudann is not installed ({exc})"
    except (OSError, RuntimeError) as exc:  # e.g. "Unknown compute capability" without CUDA
        return None, f"tinycudann failed to import ({exc})"
    return tinycudann, ""


class TcnnHashGridEncoding(nn.Module):
    """The same encoding through tiny-cuda-nn's fused CUDA kernel (``tcnn.Encoding``).

    Inputs are mapped to [0, 1] (and clamped) exactly as in :class:`HashGridEncoding`; the
    fp16 output is cast to float32. Raises ``RuntimeError`` if tinycudann or CUDA is missing.
    """

    def __init__(
        self,
        n_levels: int = 14,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 20,
        base_resolution: int = 12,
        per_level_scale: float = 1.5,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        n_levels, n_features, log2_t, base, growth = _check_encoding_args(
            n_levels, n_features_per_level, log2_hashmap_size, base_resolution, per_level_scale
        )
        tcnn, reason = _import_tcnn()
        if tcnn is None:
            raise RuntimeError(f"backend='tcnn' is unavailable: {reason}")
        device = torch.device(device if device is not None else "cuda")
        if device.type != "cuda":
            raise RuntimeError(f"backend='tcnn' needs a CUDA device, got {device}")
        self.config = {
            "otype": "HashGrid",
            "n_levels": n_levels,
            "n_features_per_level": n_features,
            "log2_hashmap_size": log2_t,
            "base_resolution": base,
            "per_level_scale": growth,
            "interpolation": "Linear",
        }
        self.n_levels, self.n_features_per_level = n_levels, n_features
        self.n_output_dims = n_levels * n_features
        with torch.cuda.device(device):
            self.encoding = tcnn.Encoding(2, self.config)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        if coords.dim() != 2 or coords.shape[1] != 2:
            raise ValueError(f"coords must have shape (N, 2), got {tuple(coords.shape)}")
        u = coords.float().clamp(-1.0, 1.0) * 0.5 + 0.5
        return self.encoding(u)[:, : self.n_output_dims].float()

    def tcnn_params(self) -> torch.Tensor:
        """The flat tcnn parameter vector as float32."""
        return self.encoding.params.detach().float()

    @torch.no_grad()
    def load_tcnn_params(self, params: torch.Tensor) -> None:
        """Set the tcnn parameters (cast to tcnn's parameter dtype)."""
        target = self.encoding.params
        if params.numel() != target.numel():
            raise ValueError(f"params: expected {target.numel()} values, got {params.numel()}")
        target.copy_(params.detach().reshape(-1).to(target))


def copy_encoding_params(
    source: HashGridEncoding | TcnnHashGridEncoding,
    target: HashGridEncoding | TcnnHashGridEncoding,
) -> None:
    """Copy the grid features between a torch and a tcnn encoding (either direction)."""
    target.load_tcnn_params(source.tcnn_params().to(target.tcnn_params().device))


def resolve_backend(backend: str, device: torch.device | str | None = None) -> str:
    """``"auto"`` -> ``"tcnn"`` if tinycudann imports and ``device`` is CUDA, else ``"torch"``.

    ``"tcnn"`` is returned as is (availability is checked when the encoding is built).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    device = torch.device(device) if device is not None else torch.empty(0).device
    if device.type != "cuda":
        return "torch"
    return "tcnn" if _import_tcnn()[0] is not None else "torch"


class ReLUMLP(_ScratchOwner, nn.Module):
    """x (N, in_features) -> (N, out_features): ``hidden_layers`` x (Linear -> ReLU), Linear.

    ``forward(x, fast=True)`` on CPU float32 runs :class:`_ReLUMLPFunction` (chunked, pooled
    activations, once differentiable); ``fast=False`` is plain autograd (twice differentiable).
    ``chunk``: rows per chunk; ``None`` picks 4096 with one torch thread and 16384 with more.
    Measured, 65,536 x (28 -> 128 -> 128 -> 3) fwd + bwd, idle machine: 1 thread 115 ms
    (4096 rows), 134 ms (16384), 154 ms (65536); 2 threads 73, 83, 92 ms. But each chunk is
    ~20 OpenMP parallel regions, and when another process keeps a core busy every region waits
    for a descheduled thread: 2 threads then took 4.0 s (4096), 1.2 s (16384), 0.55 s (65536).

    ``forward_with_tangents`` / ``forward_with_sum_tangents`` also carry two input tangents
    (the coordinate derivatives of an encoding) through the MLP, with the same chunking.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int,
        hidden_layers: int,
        chunk: int | None = None,
    ):
        super().__init__()
        widths = [in_features] + [hidden_features] * hidden_layers + [out_features]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.chunk = None if chunk is None else _check_int("chunk", chunk, 1)

    def forward(self, x: torch.Tensor, fast: bool = True) -> torch.Tensor:
        if fast and x.device.type == "cpu" and x.dtype == torch.float32:
            return _ReLUMLPFunction.apply(x, *self._fast_args())
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)

    def forward_with_tangents(self, x: torch.Tensor, fast: bool = True) -> torch.Tensor:
        """x (N, 3, in_features): inputs and two tangents of them -> (N, 3, out_features).

        ``x[:, 0]`` is the input, ``x[:, 1]`` and ``x[:, 2]`` its derivatives along two
        directions (e.g. d/dx, d/dy of an encoding); the result holds ``forward(x[:, 0])``
        and its derivatives along the same directions (forward mode): each tangent goes
        through the same weight matrices, without bias, times the ReLU masks. CPU float32
        with ``fast``: :class:`_ReLUMLPTangentFunction` (chunked like :meth:`forward`); else
        plain autograd ops.
        """
        _check_jet(x)
        if fast and x.device.type == "cpu" and x.dtype == torch.float32:
            return _ReLUMLPTangentFunction.apply(x.contiguous(), *self._fast_args())
        value, tangents = x[:, 0], x[:, 1:]
        for layer in self.layers[:-1]:
            value = torch.relu(layer(value))
            tangents = torch.matmul(tangents, layer.weight.t()) * (value > 0).unsqueeze(1)
        value = self.layers[-1](value)
        tangents = torch.matmul(tangents, self.layers[-1].weight.t())
        return torch.cat((value.unsqueeze(1), tangents), dim=1)

    def forward_with_sum_tangents(
        self, x: torch.Tensor, fast: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 3, in_features) as in :meth:`forward_with_tangents` -> ``forward(x[:, 0])``
        (N, out_features) and (N, 2), the derivatives of its channel sum along the tangents.

        The same numbers as ``forward_with_tangents(x)[:, 1:].sum(-1)``; CPU float32 with
        ``fast``: :class:`_ReLUMLPSumGradFunction` (reverse mode inside, one matmul chain for
        both tangents), else exactly that expression in plain autograd ops.
        """
        _check_jet(x)
        if fast and x.device.type == "cpu" and x.dtype == torch.float32:
            return _ReLUMLPSumGradFunction.apply(x.contiguous(), *self._fast_args())
        jet = self.forward_with_tangents(x, fast=False)
        return jet[:, 0], jet[:, 1:].sum(dim=2)

    def _fast_args(self) -> tuple:
        """Scratch pool, rows per chunk and the flat (weight, bias, ...) list."""
        params = [t for layer in self.layers for t in (layer.weight, layer.bias)]
        chunk = self.chunk or (4096 if torch.get_num_threads() == 1 else 16384)
        return (self._scratch, chunk, *params)


def _check_jet(x: torch.Tensor) -> None:
    if x.dim() != 3 or x.shape[1] != 3:
        raise ValueError(f"x must have shape (N, 3, in_features), got {tuple(x.shape)}")


class HashGridINR(nn.Module):
    """Coordinates (N, 2) in [-1, 1] as (x, y) -> RGB (N, out_features), hash encoding + MLP.

    MLP (:class:`ReLUMLP`): ``hidden_layers`` x (Linear -> ReLU) of width ``hidden_features``
    (tcnn's ``n_hidden_layers`` convention: the thesis's "2 hidden layers × 128" is
    28 -> 128 -> 128 -> 3), then a linear output layer; the output is offset by +0.5 like
    :class:`Siren`. ``backend``: ``"torch"`` (pure PyTorch, any device), ``"tcnn"``
    (tiny-cuda-nn encoding, CUDA only) or ``"auto"`` (tcnn when it imports and ``device`` is
    CUDA). The MLP is PyTorch in both.

    On CPU, when no gradient w.r.t. ``coords`` is recorded (a plain data-term fit), encoding and
    MLP run fused autograd Functions (``fast_path=True``); when ``coords.requires_grad`` (e.g. an
    autograd TV regulariser) both run plain, twice-differentiable autograd ops. Same values.
    :meth:`forward_with_spatial_grad` gives the coordinate derivatives without that graph
    (fused on CPU too); the TV regulariser uses it.

    >>> inr = HashGridINR(n_levels=4, log2_hashmap_size=10, base_resolution=4, hidden_features=16)
    >>> inr(torch.zeros(3, 2)).shape
    torch.Size([3, 3])
    """

    def __init__(
        self,
        in_features: int = 2,
        out_features: int = 3,
        n_levels: int = THESIS_CONFIG["n_levels"],
        n_features_per_level: int = THESIS_CONFIG["n_features_per_level"],
        log2_hashmap_size: int = THESIS_CONFIG["log2_hashmap_size"],
        base_resolution: int = THESIS_CONFIG["base_resolution"],
        per_level_scale: float = THESIS_CONFIG["per_level_scale"],
        hidden_features: int = THESIS_CONFIG["hidden_features"],
        hidden_layers: int = THESIS_CONFIG["hidden_layers"],
        backend: str = "auto",
        device: torch.device | str | None = None,
        fast_path: bool = True,
    ):
        super().__init__()
        if in_features != 2:
            raise ValueError(f"in_features must be 2 (2-D hash grid), got {in_features!r}")
        out_features = _check_int("out_features", out_features, 1)
        hidden_features = _check_int("hidden_features", hidden_features, 1)
        hidden_layers = _check_int("hidden_layers", hidden_layers, 0)
        enc_args = _check_encoding_args(
            n_levels, n_features_per_level, log2_hashmap_size, base_resolution, per_level_scale
        )
        self.backend = resolve_backend(backend, device)
        self.fast_path = bool(fast_path)
        if self.backend == "tcnn":
            self.encoding: nn.Module = TcnnHashGridEncoding(*enc_args, device=device)
        else:
            self.encoding = HashGridEncoding(*enc_args, fast_path=fast_path)
        self.mlp = ReLUMLP(
            self.encoding.n_output_dims, out_features, hidden_features, hidden_layers
        )
        if device is not None:
            self.to(device)

    def release_scratch(self) -> None:
        """Drop the CPU fast path's pooled buffers.

        At the thesis config they hold ~3.7 KB per point of the largest batch seen plus one or
        two table-sized (32 MB) gradient buffers: ~260 MB for 65,536 points.
        """
        for module in (self.encoding, self.mlp):
            if isinstance(module, _ScratchOwner):
                module.release_scratch()

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        fast = self.fast_path and not (torch.is_grad_enabled() and coords.requires_grad)
        return self.mlp(self.encoding(coords), fast=fast) + 0.5

    def forward_with_spatial_grad(
        self, coords: torch.Tensor, channel_sum: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """coords (N, 2) -> (output, d output/dx, d output/dy), each (N, out_features).

        The output equals ``self(coords)``; the derivatives equal what
        ``torch.autograd.grad`` gives w.r.t. ``coords``, but need no graph through the
        coordinates, so a loss on them takes one ordinary backward. The encoding's derivatives
        come from :meth:`HashGridEncoding.forward_with_spatial_grad`; the MLP carries them in
        forward mode (:meth:`ReLUMLP.forward_with_tangents`), or with ``channel_sum`` only
        the derivatives of the channel sum, each (N,), which a reverse pass inside the MLP
        gives at half the cost (:meth:`ReLUMLP.forward_with_sum_tangents`; what the TV
        regulariser uses). Fast CPU Functions under the same conditions as :meth:`forward`,
        plain autograd ops otherwise. The tcnn backend has no such path
        (``NotImplementedError``; its fits fall back to finite differences).
        """
        if self.backend == "tcnn":
            raise NotImplementedError("the tcnn encoding gives no spatial derivatives")
        fast = self.fast_path and not (torch.is_grad_enabled() and coords.requires_grad)
        jet = self.encoding.forward_with_spatial_grad(coords)
        if channel_sum:
            out, sums = self.mlp.forward_with_sum_tangents(jet, fast)
            return out + 0.5, sums[:, 0], sums[:, 1]
        jet = self.mlp.forward_with_tangents(jet, fast)
        return jet[:, 0] + 0.5, jet[:, 1], jet[:, 2]
