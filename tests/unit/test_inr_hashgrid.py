"""Multiresolution hash-grid INR: level layout, indexing, interpolation, gradients, backends."""

from __future__ import annotations

import copy
import importlib.util
import math

import numpy as np
import pytest
import torch

from inrdeblur.inr.hashgrid import (
    INSTANT_NGP_CONFIG,
    THESIS_CONFIG,
    HashGridEncoding,
    HashGridINR,
    _gather_rows,
    _scatter_add_rows_,
    hashgrid_param_count,
    resolve_backend,
)

PRIME_Y = 2654435761  # tcnn's fast_hash primes for (x, y) are (1, 2654435761)

ENC_KEYS = ("n_levels", "n_features_per_level", "log2_hashmap_size", "base_resolution")


def enc_config(config: dict) -> dict:
    return {k: config[k] for k in (*ENC_KEYS, "per_level_scale")}


# Small configs whose level-0 scale is 8, so u = (2k - 1) / 16 puts points exactly on grid lines.
DENSE0 = dict(
    n_levels=3, n_features_per_level=2, log2_hashmap_size=8, base_resolution=9, per_level_scale=2.0
)  # level 0: 9² = 81 <= 256 dense; levels 1, 2 hashed
HASHED0 = dict(DENSE0, log2_hashmap_size=6)  # level 0: 81 > 64, hashed
ODD_F = dict(DENSE0, n_features_per_level=3)


# ---------------------------------------------------------------------------------------------
# Slow, obviously-correct references, written from tcnn's grid.h rules, independent of the code.
# ---------------------------------------------------------------------------------------------


def reference_levels(n_levels, log2_hashmap_size, base_resolution, per_level_scale, **_):
    """[(scale, res, size, offset, hashed)] by the tcnn rule, one level at a time."""
    table_size, offset, levels = 2**log2_hashmap_size, 0, []
    for level in range(n_levels):
        # grid.h: exp2f(level * log2f(per_level_scale)) * base_resolution - 1.0f, all float32.
        f32 = np.float32
        growth = f32(2.0 ** float(f32(level) * f32(math.log2(f32(per_level_scale)))))
        scale = float(growth * f32(base_resolution) - f32(1))
        res = math.ceil(scale) + 1
        size = min(table_size, 8 * math.ceil(res * res / 8))
        levels.append((scale, res, size, offset, res * res > table_size))
        offset += size
    return levels


def reference_row(x, y, res, size, offset, hashed):
    if hashed:
        index = (x ^ ((y * PRIME_Y) % 2**32)) % size
    else:
        index = (x + y * res) % size
    return offset + index


def reference_encoding(table: np.ndarray, coords: np.ndarray, config: dict) -> np.ndarray:
    """Python loops over points, levels and corners; float64 blending of float32 positions."""
    levels = reference_levels(**config)
    n_feat = table.shape[1]
    out = np.zeros((coords.shape[0], len(levels) * n_feat))
    half = np.float32(0.5)
    for n, (cx, cy) in enumerate(coords):
        u = [np.float32(min(max(c, -1.0), 1.0)) * half + half for c in (cx, cy)]  # float32
        for lvl, (scale, res, size, offset, hashed) in enumerate(levels):
            # tcnn: pos = fmaf(scale, u, 0.5f) -> exact in float64, then one float32 rounding.
            pos = [float(np.float32(float(ui) * scale + 0.5)) for ui in u]
            cell = [math.floor(p) for p in pos]
            frac = [p - c for p, c in zip(pos, cell, strict=True)]
            for dy in (0, 1):
                for dx in (0, 1):
                    row = reference_row(cell[0] + dx, cell[1] + dy, res, size, offset, hashed)
                    weight = (frac[0] if dx else 1 - frac[0]) * (frac[1] if dy else 1 - frac[1])
                    out[n, lvl * n_feat : (lvl + 1) * n_feat] += weight * table[row]
    return out


def reference_torch(table: torch.Tensor, coords: torch.Tensor, config: dict) -> torch.Tensor:
    """Differentiable float64 reference (loop over levels and corners, plain indexing)."""
    u = coords.clamp(-1, 1) * 0.5 + 0.5
    feats = []
    for scale, res, size, offset, hashed in reference_levels(**config):
        pos = u * scale + 0.5
        cell = pos.detach().floor()
        frac = pos - cell
        x, y = cell.long().unbind(1)
        acc = 0.0
        for dy in (0, 1):
            for dx in (0, 1):
                xx, yy = x + dx, y + dy
                if hashed:
                    rows = offset + torch.bitwise_xor(xx, (yy * PRIME_Y) % 2**32) % size
                else:
                    rows = offset + (xx + yy * res) % size
                wx = frac[:, 0] if dx else 1 - frac[:, 0]
                wy = frac[:, 1] if dy else 1 - frac[:, 1]
                acc = acc + (wx * wy)[:, None] * table[rows]
        feats.append(acc)
    return torch.cat(feats, dim=1)


def sample_points(config: dict, n_random: int = 200, seed: int = 0) -> torch.Tensor:
    """Random points, the domain corners and edge midpoints, and points on level-0 grid lines."""
    gen = torch.Generator().manual_seed(seed)
    random = torch.rand(n_random, 2, generator=gen) * 2 - 1
    special = torch.tensor(
        [[-1, -1], [1, -1], [-1, 1], [1, 1], [0, 0], [0, 1], [1, 0], [-1, 0], [0, -1]],
        dtype=torch.float32,
    )
    scale0 = reference_levels(**config)[0][0]
    k = torch.arange(1, int(scale0) + 1, dtype=torch.float32)
    line = 2 * ((k - 0.5) / scale0) - 1  # u·scale + 0.5 = k (exact when scale0 is a power of 2)
    other = torch.rand(line.numel(), generator=gen) * 2 - 1
    on_lines = torch.cat(
        [torch.stack([line, other], 1), torch.stack([other, line], 1), torch.stack([line, line], 1)]
    )
    return torch.cat([random, special, on_lines])


def randomised(enc: HashGridEncoding, seed: int = 1) -> HashGridEncoding:
    with torch.no_grad():
        enc.table.uniform_(-1, 1, generator=torch.Generator().manual_seed(seed))
    return enc


# ---------------------------------------------------------------------------------------------
# Layout, indexing and values.
# ---------------------------------------------------------------------------------------------


CONFIGS = [enc_config(THESIS_CONFIG), DENSE0, HASHED0, ODD_F]
CONFIG_IDS = ["thesis", "dense0", "hashed0", "f3"]


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "general"])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_encoding_matches_loop_reference(config, fast_path, torch_threads):
    enc = randomised(HashGridEncoding(**config, fast_path=fast_path))
    levels = reference_levels(**config)
    assert [lv.hashed for lv in enc.levels] == [lv[4] for lv in levels]
    if config is DENSE0:
        assert [lv[4] for lv in levels] == [False, True, True]
    if config is HASHED0:
        assert levels[0][4]
    coords = sample_points(config)
    assert enc.uses_fast_path(coords) == fast_path
    got = enc(coords).detach().double().numpy()
    want = reference_encoding(enc.table.detach().double().numpy(), coords.numpy(), config)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_corner_rows_match_reference_rule():
    config = enc_config(THESIS_CONFIG)
    enc = HashGridEncoding(**config)
    coords = sample_points(config, n_random=50)
    rows = enc.corner_rows(coords)
    levels = reference_levels(**config)
    assert [lv.resolution for lv in enc.levels] == [lv[1] for lv in levels]
    for n, (cx, cy) in enumerate(coords.tolist()):
        for lvl, (scale, res, size, offset, hashed) in enumerate(levels):
            u = [np.float32(np.float32(c) * np.float32(0.5)) + np.float32(0.5) for c in (cx, cy)]
            cell = [math.floor(np.float32(float(ui) * scale + 0.5)) for ui in u]
            want = [
                reference_row(cell[0] + dx, cell[1] + dy, res, size, offset, hashed)
                for dy in (0, 1)
                for dx in (0, 1)
            ]
            assert rows[n, lvl].tolist() == want


def test_far_edge_wraps_like_tcnn():
    """At u = 1 the +0.5 offset reaches lattice x = res on levels with frac(scale) >= 0.5 or
    integer scale; tcnn takes (x + y·res) mod size, i.e. the next row's first node."""
    enc = HashGridEncoding(**enc_config(THESIS_CONFIG))
    rows = enc.corner_rows(torch.tensor([[1.0, 0.0]]))
    lv = enc.levels[0]  # scale 11, res 12: pos_x = 11.5, corners x = 11, 12
    y = math.floor(np.float32(0.5 * 11 + 0.5))
    assert rows[0, 0, 1].item() == lv.offset + (12 + y * 12) % lv.size == lv.offset + (y + 1) * 12


@pytest.mark.parametrize("config", [enc_config(THESIS_CONFIG), DENSE0], ids=["thesis", "dense0"])
def test_dense_levels_never_collide(config):
    enc = HashGridEncoding(**config)
    for lvl, lv in enumerate(enc.levels):
        if lv.hashed or lv.resolution > 310:  # x + y·res < res² <= size: injective by construction
            continue
        # Points at cell centres x + 0.5 for x = 0 .. res - 2 touch every node of [0, res)².
        k = torch.arange(lv.resolution - 1, dtype=torch.float64)
        side = (2 * (k / lv.scale) - 1).float()
        coords = torch.cartesian_prod(side, side)[:, [1, 0]]
        rows = enc.corner_rows(coords)[:, lvl].reshape(-1)
        assert rows.unique().numel() == lv.resolution**2  # injective on the lattice
        assert rows.min().item() >= lv.offset and rows.max().item() < lv.offset + lv.size


def test_param_count_closed_form():
    # Thesis: 12·1.5^l − 1 -> res 12, 18, 27, 41, 61, 92, 137, 206, 308, 462, 692 (dense, res² ≤
    # 2^20), then 1038, 1557, 2336 (res² > 2^20: 2^20 entries each); 2 features per entry.
    res = [math.ceil(12 * 1.5**lvl - 1) + 1 for lvl in range(14)]
    assert res == [12, 18, 27, 41, 61, 92, 137, 206, 308, 462, 692, 1038, 1557, 2336]
    entries = [min(2**20, 8 * math.ceil(r * r / 8)) for r in res]
    dense = [144, 328, 736, 1688, 3728, 8464, 18776, 42440, 94864, 213448, 478864]
    assert entries == dense + [2**20] * 3
    entries = sum(entries)
    want = 2 * entries
    assert hashgrid_param_count(**enc_config(THESIS_CONFIG)) == want
    assert abs(want - 8.02e6) < 0.01e6  # icb_spec §7.2: "grid ≈ 8.02 M params"
    enc = HashGridEncoding(**enc_config(THESIS_CONFIG))
    assert enc.table.numel() == want and enc.tcnn_params().numel() == want
    # Instant-NGP: N_min = 16, b = 128^(1/15) so that level 15 reaches N_max = 2048.
    b = INSTANT_NGP_CONFIG["per_level_scale"]
    assert 16 * b**15 == pytest.approx(2048, rel=1e-9)
    res = [math.ceil(np.float32(16 * b**lvl) - 1) + 1 for lvl in range(16)]
    want = 2 * sum(min(2**19, 8 * math.ceil(r * r / 8)) for r in res)
    assert hashgrid_param_count(**enc_config(INSTANT_NGP_CONFIG)) == want


def test_init_is_small_uniform():
    enc = HashGridEncoding(**DENSE0)
    table = enc.table.detach()
    assert table.abs().max().item() <= 1e-4
    assert table.std().item() == pytest.approx(2e-4 / math.sqrt(12), rel=0.1)


@pytest.mark.parametrize("n_feat", [1, 2, 3, 4])
def test_gather_scatter_fast_paths_match_indexing(n_feat):
    gen = torch.Generator().manual_seed(n_feat)
    table = torch.randn(50, n_feat, generator=gen)
    index = torch.randint(0, 50, (400,), generator=gen)
    torch.testing.assert_close(_gather_rows(table, index), table[index], rtol=0, atol=0)
    grad = torch.randn(400, n_feat, generator=gen)
    want = torch.zeros(50, n_feat, dtype=torch.float64).index_put_(
        (index,), grad.double(), accumulate=True
    )
    got = torch.zeros(50, n_feat)
    _scatter_add_rows_(got, index, grad)
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------
# Gradients.
# ---------------------------------------------------------------------------------------------


def test_table_gradient_matches_reference():
    enc = randomised(HashGridEncoding(**DENSE0))
    coords = sample_points(DENSE0, n_random=100)
    weight = torch.randn(enc.n_output_dims, generator=torch.Generator().manual_seed(3))
    (enc(coords) @ weight).pow(2).sum().backward()
    table = enc.table.detach().double().requires_grad_()
    (reference_torch(table, coords.double(), DENSE0) @ weight.double()).pow(2).sum().backward()
    assert enc.table.grad.abs().sum() > 0
    torch.testing.assert_close(enc.table.grad.double(), table.grad, rtol=1e-4, atol=1e-4)


def test_input_gradient_and_double_backward_match_reference():
    """What an autograd TV regulariser does: grad w.r.t. coords with create_graph, then backprop."""
    enc = randomised(HashGridEncoding(**DENSE0))
    gen = torch.Generator().manual_seed(4)
    coords = (torch.rand(150, 2, generator=gen) * 1.9 - 0.95).requires_grad_()
    weight = torch.randn(enc.n_output_dims, generator=gen)
    (grad,) = torch.autograd.grad((enc(coords) @ weight).sum(), coords, create_graph=True)
    grad.abs().sum().backward()

    table = enc.table.detach().double().requires_grad_()
    coords64 = coords.detach().double().requires_grad_()
    out = reference_torch(table, coords64, DENSE0) @ weight.double()
    (grad64,) = torch.autograd.grad(out.sum(), coords64, create_graph=True)
    grad64.abs().sum().backward()

    assert grad.abs().min() > 0
    torch.testing.assert_close(grad.detach().double(), grad64.detach(), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(enc.table.grad.double(), table.grad, rtol=1e-4, atol=1e-3)


def paired_inrs(**kwargs) -> tuple[HashGridINR, HashGridINR]:
    """The same randomly initialised INR twice: CPU fast path on, and off."""
    torch.manual_seed(5)
    fast = HashGridINR(**kwargs, backend="torch", fast_path=True)
    randomised(fast.encoding)
    slow = HashGridINR(**kwargs, backend="torch", fast_path=False)
    slow.load_state_dict(fast.state_dict())
    return fast, slow


def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def assert_grads_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("hidden_layers", [0, 2])
def test_fast_path_matches_general_path(hidden_layers, torch_threads):
    fast, slow = paired_inrs(**DENSE0, hidden_features=16, hidden_layers=hidden_layers)
    fast.mlp.chunk = 37  # several chunks, and a ragged last one
    coords = sample_points(DENSE0)
    out_fast, out_slow = fast(coords), slow(coords)
    assert fast.encoding.uses_fast_path(coords) and not slow.encoding.uses_fast_path(coords)
    torch.testing.assert_close(out_fast, out_slow, rtol=0, atol=1e-6)
    target = torch.rand_like(out_fast)
    (out_fast - target).pow(2).mean().backward()
    (out_slow - target).pow(2).mean().backward()
    assert_grads_close(grads(fast), grads(slow))


def test_fast_path_buffers_are_not_reused_while_in_use():
    """Pooled buffers: two live graphs, retain_graph, and accumulation without zero_grad."""
    fast, slow = paired_inrs(**DENSE0, hidden_features=16)
    gen = torch.Generator().manual_seed(6)
    c1, c2 = torch.rand(300, 2, generator=gen) * 2 - 1, torch.rand(300, 2, generator=gen) * 2 - 1
    for model in (fast, slow):  # two forwards before one backward
        (model(c1).sum() + 2 * model(c2).pow(2).sum()).backward()
    assert_grads_close(grads(fast), grads(slow))
    for model in (fast, slow):  # accumulate, then backward twice through one graph
        loss = model(c1).pow(2).sum()
        loss.backward(retain_graph=True)
        loss.backward()
    assert_grads_close(grads(fast), grads(slow))
    kept = fast.encoding.table.grad  # a reference the caller keeps across steps
    kept_copy = kept.clone()
    fast.zero_grad(set_to_none=True)
    fast(c2).sum().backward()
    torch.testing.assert_close(kept, kept_copy, rtol=0, atol=0)
    for n in (100, 300, 50, 300, 200):  # varying batch sizes reuse, and bound, the pool
        fast(c1[:n]).sum().backward()
    pools = [fast.encoding._scratch._buffers, fast.mlp._scratch._buffers]
    assert max(len(bufs) for pool in pools for bufs in pool.values()) <= 3
    fast.release_scratch()
    assert not any(pools)


def test_copies_and_state_dict_round_trip():
    fast, _ = paired_inrs(**DENSE0, hidden_features=16)
    coords = sample_points(DENSE0)
    want = fast(coords)
    clone = copy.deepcopy(fast)
    torch.testing.assert_close(clone(coords), want, rtol=0, atol=0)
    other = HashGridINR(**DENSE0, hidden_features=16, backend="torch")
    other.load_state_dict(fast.state_dict())
    torch.testing.assert_close(other(coords), want, rtol=0, atol=0)
    assert set(fast.state_dict()) == {"encoding.table"} | {
        f"mlp.layers.{i}.{p}" for i in range(3) for p in ("weight", "bias")
    }


def test_inr_gradients_reach_table_mlp_and_coords():
    torch.manual_seed(0)
    inr = HashGridINR(n_levels=4, log2_hashmap_size=10, base_resolution=4, hidden_features=16)
    coords = (torch.rand(64, 2) * 2 - 1).requires_grad_()
    out = inr(coords)
    assert out.shape == (64, 3) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    (grad,) = torch.autograd.grad(out.sum(), coords, create_graph=True)
    ((out - 0.3).pow(2).mean() + grad.pow(2).mean()).backward()
    for name, param in inr.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_output_starts_near_mid_grey():
    torch.manual_seed(0)
    inr = HashGridINR(**DENSE0, hidden_features=32, hidden_layers=2)
    out = inr(sample_points(DENSE0))
    # Features start at |f| <= 1e-4, so the output is the MLP's bias path plus the +0.5 offset.
    assert out.shape[1] == 3
    assert (out - 0.5).abs().max() < 1.0
    assert out.std(dim=0).max() < 1e-3


def test_fit_smooth_image_reduces_mse(one_torch_thread):
    torch.manual_seed(0)
    side = 32
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij")
    coords = torch.stack([xs, ys], -1).reshape(-1, 2)
    x, y = coords.unbind(1)
    target = torch.stack(
        [
            0.5 + 0.4 * torch.sin(math.pi * x) * torch.cos(math.pi * y),
            0.5 + 0.3 * x * y,
            0.5 + 0.4 * torch.exp(-(x**2 + y**2)) - 0.2,
        ],
        dim=1,
    )
    small = dict(n_levels=8, log2_hashmap_size=12, base_resolution=4, per_level_scale=1.5)
    inr = HashGridINR(**small, hidden_features=32, hidden_layers=2, backend="torch")
    opt = torch.optim.Adam(inr.parameters(), lr=1e-2)
    initial = (inr(coords) - target).pow(2).mean().item()
    for _ in range(100):
        opt.zero_grad(set_to_none=True)
        loss = (inr(coords) - target).pow(2).mean()
        loss.backward()
        opt.step()
    final = (inr(coords) - target).pow(2).mean().item()
    assert final < initial / 100, (initial, final)


# ---------------------------------------------------------------------------------------------
# Configs, validation, backends.
# ---------------------------------------------------------------------------------------------


def test_named_configs_build():
    inr = HashGridINR(**THESIS_CONFIG, backend="torch")
    assert inr.encoding.n_output_dims == 28
    assert [layer.out_features for layer in inr.mlp.layers] == [128, 128, 3]
    assert INSTANT_NGP_CONFIG["n_levels"] == 16 and INSTANT_NGP_CONFIG["log2_hashmap_size"] == 19


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_levels": 0}, "n_levels"),
        ({"n_features_per_level": 0}, "n_features_per_level"),
        ({"log2_hashmap_size": 3}, "log2_hashmap_size"),
        ({"log2_hashmap_size": 31}, "log2_hashmap_size"),
        ({"base_resolution": 1}, "base_resolution"),
        ({"per_level_scale": 0.9}, "per_level_scale"),
        ({"per_level_scale": float("nan")}, "per_level_scale"),
        ({"hidden_features": 0}, "hidden_features"),
        ({"hidden_layers": -1}, "hidden_layers"),
        ({"in_features": 3}, "in_features"),
        ({"backend": "cuda"}, "backend"),
        ({"n_levels": 2.5}, "n_levels"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HashGridINR(**{"n_levels": 2, "log2_hashmap_size": 8, "hidden_features": 8, **kwargs})


def test_bad_arguments_raise_for_encoding_and_count():
    with pytest.raises(ValueError, match="log2_hashmap_size"):
        HashGridEncoding(log2_hashmap_size=40)
    with pytest.raises(ValueError, match="base_resolution"):
        hashgrid_param_count(base_resolution=0)
    with pytest.raises(ValueError, match="coords"):
        HashGridEncoding(**DENSE0)(torch.zeros(4, 3))


def test_hidden_layers_zero_is_linear_head():
    inr = HashGridINR(n_levels=2, log2_hashmap_size=8, hidden_features=8, hidden_layers=0)
    assert len(inr.mlp.layers) == 1 and inr.mlp.layers[0].in_features == 4


TCNN_INSTALLED = importlib.util.find_spec("tinycudann") is not None


def test_backend_selection_on_cpu():
    assert resolve_backend("auto", "cpu") == "torch"
    assert resolve_backend("torch", "cpu") == "torch"
    assert HashGridINR(n_levels=2, log2_hashmap_size=8, backend="auto").backend == "torch"
    with pytest.raises(RuntimeError, match="tcnn"):
        HashGridINR(n_levels=2, log2_hashmap_size=8, backend="tcnn", device="cpu")


@pytest.mark.skipif(TCNN_INSTALLED, reason="checks the error raised when tinycudann is missing")
def test_tcnn_backend_missing_gives_clear_error():
    with pytest.raises(RuntimeError, match="tinycudann"):
        HashGridINR(n_levels=2, log2_hashmap_size=8, backend="tcnn")


def tcnn_usable() -> bool:
    if not torch.cuda.is_available() or not TCNN_INSTALLED:
        return False
    from inrdeblur.inr.hashgrid import _import_tcnn

    return _import_tcnn()[0] is not None


@pytest.mark.skipif(not tcnn_usable(), reason="needs CUDA and tiny-cuda-nn (tinycudann)")
@pytest.mark.parametrize("config", CONFIGS[:3], ids=CONFIG_IDS[:3])
def test_torch_and_tcnn_encodings_agree_on_gpu(config):
    from inrdeblur.inr.hashgrid import TcnnHashGridEncoding, copy_encoding_params

    torch_enc = randomised(HashGridEncoding(**config)).cuda()
    tcnn_enc = TcnnHashGridEncoding(**config, device="cuda")
    assert tcnn_enc.encoding.params.numel() == hashgrid_param_count(**config)
    copy_encoding_params(torch_enc, tcnn_enc)
    coords = sample_points(config, n_random=2000).cuda()
    with torch.no_grad():
        # fp16 parameters and output in tcnn: allow ~1e-3 on values in [-1, 1].
        torch.testing.assert_close(tcnn_enc(coords), torch_enc(coords), rtol=0, atol=3e-3)
    back = HashGridEncoding(**config).cuda()
    copy_encoding_params(tcnn_enc, back)
    torch.testing.assert_close(back.table, torch_enc.table, rtol=0, atol=1e-3)
    assert HashGridINR(**config, hidden_features=16, device="cuda").backend == "tcnn"
