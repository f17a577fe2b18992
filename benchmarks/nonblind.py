#!/usr/bin/env python3
"""Non-blind deblurring on Levin et al. 2009: every INR method against classical baselines.

Setting 1 of the non-blind Levin experiment: each sharp 255x255 image is convolved with
its true kernel ('valid', so the observation is (256 - k) px wide) and 1 % Gaussian
noise is added, exactly as the pipeline's ``levin_synthetic`` blur does. Every method
then restores the observation with the true kernel, and PSNR/SSIM are measured on
[0, 1] against the matching centre of the sharp image (no alignment is needed: the blur
is synthesised).

Methods, run in the same process on the same observations:

- the INR methods of params.yaml (``methods.<name>``, as the pipeline fits them, one
  seed), on the gray image in three equal channels; their time is the fit's wall time,
  and ``t_final`` is the time at which the fit first came within 0.1 dB of its final
  PSNR;
- scikit-image's Wiener filter with its balance tuned over a grid for the best mean PSNR
  on these very images (an oracle choice that favours the baseline), unsupervised Wiener
  (no parameter), and Richardson-Lucy with its iteration count tuned the same way. The
  observation is extended by symmetric padding of one kernel width before these
  FFT-based methods run and cropped back afterwards, so they see no circular wrap.

Prints one row per method (mean over the images) and the gap between the best INR and
the best baseline. ``--quick`` uses 8 images, one per kernel, covering the 4 images.

    python benchmarks/nonblind_levin.py [--levin ../shared/data/levin] [--quick]
        [--scenes im1_kernel1 ...] [--methods siren_tv hashgrid_tv ...] [--threads 2]
        [--csv out.csv]
"""

from __future__ import annotations

import argparse
import copy
import csv
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage import restoration

from inrdeblur.blur.synthesize import synthesize
from inrdeblur.config import load_params
from inrdeblur.data import levin
from inrdeblur.fit.nonblind import fit_nonblind
from inrdeblur.metrics.fidelity import psnr, ssim

REPO = Path(__file__).resolve().parents[1]
#: one image per kernel, cycling through the four sharp images
QUICK_SCENES = tuple(f"im{(j - 1) % 4 + 1}_kernel{j}" for j in range(1, 9))
WIENER_BALANCES = tuple(float(b) for b in np.logspace(-4, 0, 17))
RL_ITERATIONS = (10, 20, 30, 50, 100)
#: a fit has "reached its final PSNR" once within this many dB of it
FINAL_PSNR_TOLERANCE_DB = 0.1


def _scores(estimate: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    est = np.clip(estimate.astype(np.float64), 0.0, 1.0)
    return psnr(est, target), ssim(est, target)


def _padded(restore, blurry: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``restore`` on the observation padded symmetrically by one kernel width, cropped back."""
    pad = max(kernel.shape)
    extended = np.pad(blurry, pad, mode="symmetric")
    return restore(extended)[pad:-pad, pad:-pad]


def classical(blurry: np.ndarray, kernel: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """Every classical estimate of one gray observation: name -> (estimate, seconds)."""
    out: dict[str, tuple[np.ndarray, float]] = {}
    for balance in WIENER_BALANCES:
        start = time.perf_counter()
        est = _padded(
            lambda y, b=balance: restoration.wiener(y, kernel, b, clip=False), blurry, kernel
        )
        out[f"wiener balance={balance:.2e}"] = (est, time.perf_counter() - start)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    est = _padded(
        lambda y: restoration.unsupervised_wiener(y, kernel, clip=False, rng=rng)[0], blurry, kernel
    )
    out["unsupervised wiener"] = (est, time.perf_counter() - start)
    for n_iter in RL_ITERATIONS:
        start = time.perf_counter()
        est = _padded(
            lambda y, n=n_iter: restoration.richardson_lucy(
                np.clip(y, 1e-6, None), kernel, num_iter=n, clip=False
            ),
            blurry,
            kernel,
        )
        out[f"richardson-lucy iterations={n_iter}"] = (est, time.perf_counter() - start)
    return out


def inr(blurred, target: np.ndarray, recipe: dict) -> tuple[np.ndarray, float, float]:
    """(estimate, fit seconds, seconds to come within the tolerance of the final PSNR)."""
    result = fit_nonblind(
        blurred.blurry, blurred.operator(), recipe, seed=0, sharp=target, progress=False
    )
    final = result.trace[-1]["psnr"]
    reached = next(
        row["seconds"] for row in result.trace if row["psnr"] >= final - FINAL_PSNR_TOLERANCE_DB
    )
    return result.estimate, result.time_s, reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levin", type=Path, default=REPO.parent / "shared" / "data" / "levin")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--quick", action="store_true", help="8 images, one per kernel")
    parser.add_argument("--scenes", nargs="+", help="these scene ids instead (e.g. im1_kernel1)")
    parser.add_argument("--methods", nargs="*", help="INR methods (default: all in params)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--csv", type=Path, help="also write per-image rows here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params = load_params(args.params)
    blur_settings = params["blurs"]["levin_synthetic"]
    methods = args.methods if args.methods is not None else list(params["methods"])
    scenes = args.scenes or (QUICK_SCENES if args.quick else levin.SCENE_IDS)
    levin.verify(args.levin)

    rows: list[dict] = []
    for n, scene_id in enumerate(scenes, 1):
        scene = levin.make_scene(args.levin, scene_id)
        blurred = synthesize(scene, "levin_synthetic", blur_settings)
        target = blurred.target(scene.sharp)
        gray_target = target[..., 0].astype(np.float64)
        gray_blurry = blurred.blurry[..., 0].astype(np.float64)
        base = {"scene": scene_id, "blurry_psnr": _scores(gray_blurry, gray_target)[0]}
        for name, (est, seconds) in classical(gray_blurry, scene.kernel).items():
            p, s = _scores(est, gray_target)
            rows.append({**base, "method": name, "psnr": p, "ssim": s, "time_s": seconds})
        for method in methods:
            recipe = copy.deepcopy(params["methods"][method])
            recipe["fit"]["device"] = "cpu"
            est, seconds, reached = inr(blurred, target, recipe)
            p, s = _scores(est, target.astype(np.float64))
            rows.append(
                {
                    **base,
                    "method": method,
                    "psnr": p,
                    "ssim": s,
                    "time_s": seconds,
                    "t_final_s": reached,
                }
            )
            print(
                f"[{n}/{len(scenes)}] {scene_id} {method}: {p:.2f} dB in {seconds:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    if args.csv:
        with args.csv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=sorted({k for r in rows for k in r}))
            writer.writeheader()
            writer.writerows(rows)
    report(rows, methods, len(scenes))


def _mean(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if key in r]
    return statistics.fmean(values) if values else math.nan


def report(rows: list[dict], methods: list[str], n_images: int) -> None:
    by_method: dict[str, list[dict]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    tuned = {
        "wiener (tuned balance)": max(
            (m for m in by_method if m.startswith("wiener")),
            key=lambda m: _mean(by_method[m], "psnr"),
        ),
        "unsupervised wiener": "unsupervised wiener",
        "richardson-lucy (tuned iterations)": max(
            (m for m in by_method if m.startswith("richardson-lucy")),
            key=lambda m: _mean(by_method[m], "psnr"),
        ),
    }
    threads = torch.get_num_threads()
    print(f"Levin setting 1 (true kernel, 'valid', 1 % noise), {n_images} images, cpu x{threads}")
    print(f"blurry input: {_mean(rows, 'blurry_psnr'):.2f} dB")
    header = f"{'method':<36}{'PSNR dB':>9}{'SSIM':>8}{'time s':>9}{'t_final s':>11}"
    print(header)
    print("-" * len(header))
    best_classical = -math.inf
    for label, key in tuned.items():
        group = by_method[key]
        mean_psnr = _mean(group, "psnr")
        best_classical = max(best_classical, mean_psnr)
        setting = key.split(" ", 1)[1] if " " in key and label != key else ""
        print(
            f"{label:<36}{mean_psnr:>9.2f}{_mean(group, 'ssim'):>8.4f}"
            f"{_mean(group, 'time_s'):>9.2f}{'':>11}  {setting}"
        )
    best_inr = (-math.inf, "")
    for method in methods:
        group = by_method[method]
        mean_psnr = _mean(group, "psnr")
        best_inr = max(best_inr, (mean_psnr, method))
        print(
            f"{method:<36}{mean_psnr:>9.2f}{_mean(group, 'ssim'):>8.4f}"
            f"{_mean(group, 'time_s'):>9.1f}{_mean(group, 't_final_s'):>11.1f}"
        )
    if methods:
        print(
            f"best INR ({best_inr[1]}) - best classical: {best_inr[0] - best_classical:+.2f} dB "
            "(target >= +1.5 dB)"
        )


if __name__ == "__main__":
    main()
