#!/usr/bin/env python3
"""Speed and memory of the ICB and PWB blur operators on an HD image.

Builds one 720x1280 RGB scene (a ground ramp from 5 m to 1.2 m with two boxes at 1.5 m and
2.5 m, f = 1000 px) and a realistic hand-shake trajectory, then measures in this process:

- ICB: operator construction and one forward pass;
- the practical floor of ICB: one FFT convolution of the same support per non-empty layer
  (image spectrum, kernel spectrum, product, inverse), without mattes or compositing;
- PWB: construction and one forward pass (per-pixel gather);
- PWB as the reference formulates it: dense per-pixel kernels applied by unfolding, in
  row chunks (``--dense-rows`` rows, extrapolated to the image; 0 skips it);

and, each in a fresh subprocess, the peak resident memory of building and applying each
operator above the memory of the process after importing torch and making the image.
Times are the median of ``--repeats`` runs. It prints the figures and the ratios against
the targets: ICB at most 3x the floor, at least 10x faster than PWB, PWB under 2 GB.

    python benchmarks/blur_models.py [--threads 2] [--repeats 5] [--translation-std 5e-3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from inrdeblur.blur.icb import ICBBlur
from inrdeblur.blur.pwb import PWBBlur
from inrdeblur.blur.trajectory import hand_shake

HEIGHT, WIDTH, FOCAL = 720, 1280, 1000.0


def scene(translation_std: float, seed: int) -> tuple[np.ndarray, object, np.ndarray, np.ndarray]:
    rows = np.arange(HEIGHT)[:, None] * np.ones((1, WIDTH))
    depth = 5.0 - 3.8 * rows / (HEIGHT - 1)
    depth[200:420, 150:500] = 2.5
    depth[350:650, 700:1000] = 1.5
    intrinsics = np.array(
        [[FOCAL, 0, (WIDTH - 1) / 2], [0, FOCAL, (HEIGHT - 1) / 2], [0, 0, 1]], dtype=np.float64
    )
    trajectory = hand_shake(
        seed, n_poses=64, translation_std_m=translation_std, rotation_std_deg=0.1
    )
    image = np.random.default_rng(seed).uniform(size=(1, 3, HEIGHT, WIDTH)).astype(np.float32)
    return depth, trajectory, intrinsics, image


def build(model: str, depth, trajectory, intrinsics):
    if model == "icb":
        return ICBBlur.from_scene(depth, trajectory, (intrinsics[0, 0], intrinsics[1, 1]))
    return PWBBlur.from_scene(depth, trajectory, intrinsics)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, FFT plans, thread pool
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fft_floor(latent: torch.Tensor, kernels: torch.Tensor, out_shape) -> torch.Tensor:
    """One FFT convolution per kernel ('valid' crop), summed: no mattes, no tiling."""
    s = kernels.shape[-1]
    h, w = latent.shape[-2:]
    total = torch.zeros((*latent.shape[:2], *out_shape))
    for kernel in kernels:
        spectrum = torch.fft.rfft2(latent, s=(h, w))
        k_spec = torch.fft.rfft2(kernel, s=(h, w))  # a product of spectra is a convolution
        full = torch.fft.irfft2(spectrum * k_spec, s=(h, w))
        total += full[..., s - 1 : s - 1 + out_shape[0], s - 1 : s - 1 + out_shape[1]]
    return total


def peak_rss_mb() -> float:
    """This process's peak resident set size (``VmHWM``), MB.

    Not ``getrusage``: Linux carries ``ru_maxrss`` across ``exec``, so a child started
    from this (large) process would report the parent's peak.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def child(model: str, translation_std: float, seed: int) -> None:
    """Peak RSS (MB) of building and applying one operator, above the baseline."""
    depth, trajectory, intrinsics, image = scene(translation_std, seed)
    x = torch.from_numpy(image)
    base = peak_rss_mb()
    op = build(model, depth, trajectory, intrinsics)
    with torch.no_grad():
        op.blur(x, "replicate")
    print(json.dumps({"baseline_mb": base, "peak_mb": peak_rss_mb()}))


def peak_memory(model: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", model, "--threads", str(args.threads)]
    cmd += ["--translation-std", str(args.translation_std), "--seed", str(args.seed)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--translation-std", type=float, default=5e-3, help="metres")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dense-rows", type=int, default=48, help="rows of dense PWB to time")
    parser.add_argument("--child", choices=["icb", "pwb"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        child(args.child, args.translation_std, args.seed)
        return

    depth, trajectory, intrinsics, image = scene(args.translation_std, args.seed)
    x = torch.from_numpy(image)
    start = time.perf_counter()
    icb = build("icb", depth, trajectory, intrinsics)
    icb_build = time.perf_counter() - start
    start = time.perf_counter()
    pwb = build("pwb", depth, trajectory, intrinsics)
    pwb_build = time.perf_counter() - start
    nonempty = icb.kernels[icb.mattes.flatten(1).amax(dim=1) > 0]
    icb_latent = icb.pad(x, "replicate")
    pwb_latent = pwb.pad(x, "replicate")
    with torch.no_grad():
        icb_time = median_time(lambda: icb(icb_latent), args.repeats)
        floor = median_time(lambda: fft_floor(icb_latent, nonempty, icb.image_shape), args.repeats)
        pwb_time = median_time(lambda: pwb(pwb_latent), args.repeats)
        dense = None
        if args.dense_rows > 0:
            rows = args.dense_rows
            band = pwb_latent[..., : rows + pwb.support - 1, :]
            sub = PWBBlur(pwb.offsets(0, rows), support=pwb.support)
            start = time.perf_counter()
            sub.forward_dense(band)
            dense = (time.perf_counter() - start) * HEIGHT / rows
    memory = {model: peak_memory(model, args) for model in ("icb", "pwb")}

    device = f"cpu x{torch.get_num_threads()}"
    shake = f"translation std {args.translation_std} m, rotation std 0.1 deg"
    print(f"{HEIGHT}x{WIDTH} RGB, f = {FOCAL:.0f} px, 64-pose hand shake ({shake}), {device}")
    print(
        f"ICB: {icb.n_layers} layers ({len(nonempty)} non-empty), support {icb.support} px, "
        f"operator {icb.size_mb():.0f} MB; PWB: support {pwb.support} px, "
        f"operator {pwb.size_mb():.0f} MB"
    )
    rows = [
        ("ICB build", icb_build),
        ("ICB forward", icb_time),
        (f"FFT floor ({len(nonempty)} layers)", floor),
        ("PWB build", pwb_build),
        ("PWB forward (gather)", pwb_time),
    ]
    if dense is not None:
        rows.append((f"PWB dense kernels (from {args.dense_rows} rows)", dense))
    print(f"{'':<40}{'seconds':>10}")
    for name, seconds in rows:
        print(f"{name:<40}{seconds:>10.3f}")
    for model, mem in memory.items():
        extra = mem["peak_mb"] - mem["baseline_mb"]
        print(
            f"{model.upper()} build + forward peak RSS: {mem['peak_mb']:.0f} MB "
            f"({extra:.0f} MB above {mem['baseline_mb']:.0f} MB after imports)"
        )
    print()
    checks = [
        ("ICB forward / FFT floor", icb_time / floor, "<= 3", icb_time / floor <= 3),
        ("PWB forward / ICB forward", pwb_time / icb_time, ">= 10", pwb_time / icb_time >= 10),
        ("PWB peak RSS (GB)", memory["pwb"]["peak_mb"] / 1024, "< 2",
         memory["pwb"]["peak_mb"] / 1024 < 2),
    ]  # fmt: skip
    if dense is not None:
        checks.append(("PWB dense / ICB forward", dense / icb_time, "(reference)", True))
    print(f"{'ratio':<40}{'value':>10}  target")
    for name, value, target, ok in checks:
        verdict = "" if target == "(reference)" else ("met" if ok else "MISSED")
        print(f"{name:<40}{value:>10.2f}  {target} {verdict}")


if __name__ == "__main__":
    main()
