#!/usr/bin/env python3
"""Training speed of the pure-PyTorch hash-grid INR against a straightforward baseline.

Times one training step (forward, MSE backward, Adam step) of the thesis config (14 levels x 2
features, T = 2^20, N_min = 12, b = 1.5, MLP 2 x 128 ReLU) on a batch of points, in points per
second, for ``inrdeblur.inr.hashgrid.HashGridINR`` and for a straightforward vectorised
implementation written below (loop over the 4 corners, ``torch.where`` between dense and hashed
indices, advanced indexing, autograd's generic backward, default Adam). Both run in the same
process, interleaved, so the ratio is what to compare across machines and changes. Also prints
where the time goes in our step (encoding, MLP, Adam).

Then the TV step of the ``hashgrid_tv`` fit (MSE + 2e-3 · coordinate TV, fused Adam) on the
``--tv-side`` x ``--tv-side`` pixel grid (default 255: 65,025 points, a Levin latent), in
seconds per step: the autograd TV (``coordinate_tv``: coordinates require grad, plain ops,
double backward) as the baseline, against the TV from ``forward_with_spatial_grad`` (one
backward) with the channel-sum derivatives the fit uses and with per-channel forward mode,
and the data term alone for scale.

    python benchmarks/hashgrid_speed.py [--batch 65536] [--steps 10] [--points raster] [--quick]
        [--tv-side 255]

On a shared machine, when other processes keep the cores busy, every OpenMP parallel region
waits for a descheduled thread and all variants slow down ~10x together; ``--threads 1`` gives
a comparison that is robust to that.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn

from inrdeblur.inr.hashgrid import THESIS_CONFIG, HashGridINR, grid_levels
from inrdeblur.methods.inr.regularisers import coordinate_tv, spatial_gradient_tv

TV_WEIGHT = 2e-3
"""``methods.hashgrid_tv.regulariser.weight`` in params.yaml."""


class BaselineHashGrid(nn.Module):
    """The straightforward version: vectorised over levels, generic autograd, int64 indices."""

    def __init__(self, config: dict):
        super().__init__()
        levels = grid_levels(
            config["n_levels"],
            config["log2_hashmap_size"],
            config["base_resolution"],
            config["per_level_scale"],
        )
        self.register_buffer("scale", torch.tensor([lv.scale for lv in levels]))
        self.register_buffer("res", torch.tensor([lv.resolution for lv in levels]))
        self.register_buffer("size", torch.tensor([lv.size for lv in levels]))
        self.register_buffer("offset", torch.tensor([lv.offset for lv in levels]))
        self.register_buffer("hashed", torch.tensor([lv.hashed for lv in levels]))
        n_rows = levels[-1].offset + levels[-1].size
        n_feat = config["n_features_per_level"]
        self.table = nn.Parameter(torch.empty(n_rows, n_feat).uniform_(-1e-4, 1e-4))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        u = (coords.clamp(-1, 1) + 1) * 0.5
        pos = u[:, None, :] * self.scale[None, :, None] + 0.5  # (N, L, 2)
        cell = torch.floor(pos)
        frac = pos - cell
        cell = cell.long()
        out = 0
        for dy in (0, 1):
            for dx in (0, 1):
                x, y = cell[..., 0] + dx, cell[..., 1] + dy
                dense = x + y * self.res
                hashed = x ^ (y * 2654435761)
                rows = torch.where(self.hashed, hashed, dense) % self.size + self.offset
                wx = frac[..., 0] if dx else 1 - frac[..., 0]
                wy = frac[..., 1] if dy else 1 - frac[..., 1]
                out = out + (wx * wy)[..., None] * self.table[rows]
        return out.reshape(coords.shape[0], -1)


class BaselineINR(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.encoding = BaselineHashGrid(config)
        width, layers = config["n_levels"] * config["n_features_per_level"], []
        for _ in range(config["hidden_layers"]):
            layers += [nn.Linear(width, config["hidden_features"]), nn.ReLU()]
            width = config["hidden_features"]
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 3))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.encoding(coords)) + 0.5


def make_points(batch: int, kind: str) -> torch.Tensor:
    """(batch, 2) in [-1, 1]: a raster (image fit, when batch is a square) or uniform random."""
    side = math.isqrt(batch)
    if kind == "raster" and side * side == batch:
        ys, xs = torch.meshgrid(
            torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij"
        )
        return torch.stack([xs, ys], -1).reshape(-1, 2)
    return torch.rand(batch, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1


def make_step(model: nn.Module, coords, target, fused: bool):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if fused else {}))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = (model(coords) - target).pow(2).mean()
        loss.backward()
        opt.step()

    return step


def make_tv_steps(model: HashGridINR, coords, target, side: int) -> dict:
    """One fit step (MSE + TV_WEIGHT · TV, backward, fused Adam) per way of taking the TV."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    pitch = (2 / (side - 1), 2 / (side - 1))

    def autograd_tv() -> None:
        opt.zero_grad(set_to_none=True)
        points = coords.detach().requires_grad_()
        out = model(points)
        loss = (out - target).pow(2).mean() + TV_WEIGHT * coordinate_tv(out, points, pitch)
        loss.backward()
        opt.step()

    def spatial_grad_tv(channel_sum: bool):
        def step() -> None:
            opt.zero_grad(set_to_none=True)
            out, dx, dy = model.forward_with_spatial_grad(coords, channel_sum=channel_sum)
            loss = (out - target).pow(2).mean() + TV_WEIGHT * spatial_gradient_tv(dx, dy, pitch)
            loss.backward()
            opt.step()

        return step

    def data_only() -> None:
        opt.zero_grad(set_to_none=True)
        (model(coords) - target).pow(2).mean().backward()
        opt.step()

    return {
        "autograd TV (double bwd)": autograd_tv,
        "spatial grad, channel sum": spatial_grad_tv(True),
        "spatial grad, per channel": spatial_grad_tv(False),
        "data term only (no TV)": data_only,
    }


def interleaved_times(variants: dict, steps: int) -> dict[str, list[float]]:
    """Seconds per call of each variant after one warm-up call, the variants interleaved."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for step in variants.values():  # warm-up: allocator, thread pool, Adam state
        step()
    for _ in range(steps):  # interleaved, so load changes on a shared machine hit all variants
        for name, step in variants.items():
            times[name].append(timed(step))
    return times


def tv_comparison(side: int, steps: int) -> None:
    """Print the TV step's seconds per step and speed-up over the autograd TV."""
    torch.manual_seed(0)
    coords = make_points(side * side, "raster")
    target = torch.rand(side * side, 3)
    model = HashGridINR(**THESIS_CONFIG, backend="torch")
    times = interleaved_times(make_tv_steps(model, coords, target, side), steps)
    print(f"TV step (MSE + {TV_WEIGHT:g} TV, fused Adam), {side}x{side} = {side * side} points:")
    print(f"{'variant':<28}{'s/step (median)':>17}{'best':>8}{'worst':>8}{'speed-up':>10}")
    base = statistics.median(times["autograd TV (double bwd)"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<28}{med:>17.3f}{min(ts):>8.3f}{max(ts):>8.3f}{base / med:>10.2f}")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def breakdown(model: HashGridINR, coords, target, repeats: int) -> dict[str, float]:
    """Median seconds of the pieces of our step, each run on its own."""
    enc, mlp = model.encoding, model.mlp
    feats = enc(coords).detach().requires_grad_()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)

    def encoding() -> None:
        enc.table.grad = None
        enc(coords).sum().backward()

    def head() -> None:
        (mlp(feats) + 0.5 - target).pow(2).mean().backward()

    pieces = {"encoding fwd+bwd": encoding, "MLP fwd+bwd": head, "Adam step (fused)": opt.step}
    out = {}
    for name, fn in pieces.items():
        fn()
        out[name] = statistics.median(timed(fn) for _ in range(repeats))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=65536)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--points", choices=("raster", "random"), default="raster")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 steps, no breakdown")
    parser.add_argument("--tv-side", type=int, default=255, help="TV step grid side; 0: skip")
    args = parser.parse_args()
    steps = 3 if args.quick else args.steps

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    coords = make_points(args.batch, args.points)
    target = torch.rand(args.batch, 3)
    ours = HashGridINR(**THESIS_CONFIG, backend="torch")
    base = BaselineINR(THESIS_CONFIG)
    variants = {
        "hashgrid.py, fused Adam": make_step(ours, coords, target, fused=True),
        "hashgrid.py, default Adam": make_step(ours, coords, target, fused=False),
        "baseline, default Adam": make_step(base, coords, target, fused=False),
    }
    times = interleaved_times(variants, steps)

    device = f"cpu x{torch.get_num_threads()}"
    print(f"thesis hash grid, batch {args.batch} {args.points} points, {steps} steps, {device}")
    print(f"{'variant':<28}{'M pts/s (median)':>18}{'best':>8}{'worst':>8}{'vs base':>9}")
    base_median = statistics.median(times["baseline, default Adam"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"{name:<28}{args.batch / med / 1e6:>18.3f}{args.batch / min(ts) / 1e6:>8.3f}"
            f"{args.batch / max(ts) / 1e6:>8.3f}{base_median / med:>9.2f}"
        )
    if not args.quick:
        print("where our step goes (median ms, pieces run alone):")
        for name, seconds in breakdown(ours, coords, target, steps).items():
            print(f"  {name:<26}{seconds * 1e3:>8.1f}")
    if args.tv_side > 1:
        del ours, base, variants  # free the first part's tables and buffers
        tv_comparison(args.tv_side, steps)


if __name__ == "__main__":
    main()
