#!/usr/bin/env python3
"""Blind deblurring on Levin et al.'s stored blurry images: every blind method asked for,
on the same observations, with the known-kernel reference beside them.

The images are those of ``benchmarks/nonblind.py --bench levin-2`` (the published blurred
images, one gray channel, ``blurs.true_kernel_stored``), read, prepared and scored by the
pipeline's own code; each blind method (``methods.<name>`` of params.yaml) gets the
observation and the dataset's kernel-size bound (17, 15, 13, 27, 11, 19, 21, 21 for
kernels 1-8), never the kernel, and runs with the fit stage's per-image seed for each of
``--seeds``. The ``--reference`` method (default ``sparse_prior``, the hyper-Laplacian
deconvolution Levin et al. used) runs non-blind with the true kernel on the same images.

Prints, per method, mean ± std over images and seeds of the aligned PSNR and SSIM (15 px
crop, shifts up to 10 px in 0.25 px steps, 8-bit estimate), the error ratio (aligned SSD
over that of the reference on the same image; Levin et al. 2009), the kernel similarity
to the true kernel (maximum normalised cross-correlation over shifts), the seconds per
image, and the published blind figures of the papers under the table. ``--quick``: one
image per kernel (8). ``--csv`` keeps every finished row, and each estimated kernel
beside it (``<csv stem>_kernels/``), ``--resume`` skips them, so a run of hours can be
split and restarted.

``--two-stage <non-blind method>`` adds the papers' second protocol: each blind fit's
estimated kernel handed to that method (``sparse_prior``: Levin et al.'s deconvolution),
which deblurs the same observation with the 'valid' uniform operator of that kernel, the
blind methods' own forward model; its rows, ``<blind> -> <method>``, are scored the same
way, and their kernel similarity is the blind fit's.

    python benchmarks/blind_levin.py --quick --methods cross_scale_inr_cpu selfdeblur_cpu \\
        --seeds 0 1 [--reference sparse_prior] [--two-stage sparse_prior] \\
        [--csv blind.csv --resume] [--threads 2]
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
from typing import Any

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nonblind import (  # noqa: E402
    QUICK_SCENES,
    REPO,
    SHARED,
    _append,
    _typed,
    bench_images,
    check_same_data,
    fit_method,
)
from nonblind import _mean_std as mean_std  # noqa: E402

from inrdeblur.config import load_params  # noqa: E402
from inrdeblur.methods import method_class  # noqa: E402
from inrdeblur.metrics import tables  # noqa: E402
from inrdeblur.report.published import load_published, matching_rows  # noqa: E402

BLUR = "true_kernel_stored"


def _mean_std(values: list[float], decimals: int = 2) -> str:
    """nonblind's mean ± std of the values that are numbers."""
    return mean_std([v for v in values if not math.isnan(v)], decimals)


def error_ratios(rows: list[dict[str, Any]], reference: str) -> list[float]:
    """Per row, the report's error ratio (:func:`inrdeblur.metrics.tables.error_ratios`):
    sqrt(aligned SSD / the reference's on the same image, same seed or its first)."""
    frame = pd.DataFrame(rows).assign(dataset="levin", blur=BLUR)
    return list(tables.error_ratios(frame, reference))


def print_table(rows: list[dict[str, Any]], reference: str, title: str) -> None:
    ratios = error_ratios(rows, reference)
    images = {r["scene"]: r["psnr_aligned_blurry"] for r in rows}
    print(f"\n{title}: {len(images)} images")
    print(f"blurry input: {_mean_std(list(images.values()))} dB aligned")
    header = (
        f"{'method':<34}{'fits':>5}{'aligned PSNR dB':>17}{'aligned SSIM':>18}"
        f"{'error ratio':>15}{'kernel sim.':>15}{'s/image':>9}"
    )
    print(header)
    print("-" * len(header))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [(i, r) for i, r in enumerate(rows) if r["method"] == method]
        print(
            f"{method:<34}{len(mine):>5}"
            f"{_mean_std([r['psnr_aligned'] for _, r in mine]):>17}"
            f"{_mean_std([r['ssim_aligned'] for _, r in mine], 4):>18}"
            f"{_mean_std([ratios[i] for i, _ in mine], 3):>15}"
            f"{_mean_std([r['kernel_similarity'] for _, r in mine], 3):>15}"
            f"{statistics.fmean(r['time_s'] for _, r in mine):>9.0f}"
        )
    print(f"error ratio: sqrt(aligned SSD / that of {reference} with the true kernel), per image")


def on_device(recipe: dict[str, Any], device: str) -> dict[str, Any]:
    """A copy of a non-blind recipe that runs on ``device``."""
    recipe = copy.deepcopy(recipe)
    if recipe.get("type", "inr") == "inr":
        recipe["fit"]["device"] = device
    else:
        recipe["device"] = device
    return recipe


def record(rows: list[dict[str, Any]], row: dict[str, Any], path: Path | None, n: int) -> None:
    """Keep a finished row (and append it to ``path``), and say so."""
    rows.append(row)
    if path:
        _append(path, row)
    print(
        f"[{n}] {row['scene']} {row['method']} seed{row['seed']}: {row['psnr_aligned']:.2f} dB "
        f"aligned, kernel similarity {row['kernel_similarity']:.3f}, {row['time_s']:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", required=True, help="blind methods of params")
    parser.add_argument("--reference", default="sparse_prior", help="non-blind, true kernel")
    parser.add_argument(
        "--two-stage", metavar="METHOD", help="non-blind method given each estimated kernel"
    )
    parser.add_argument("--levin", type=Path, default=SHARED / "levin")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--quick", action="store_true", help="one image per kernel")
    parser.add_argument("--scenes", nargs="+", help="these scene ids instead")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--csv", type=Path, help="append per-image rows here as they finish")
    parser.add_argument("--resume", action="store_true", help="skip rows already in --csv")
    args = parser.parse_args()
    args.bench, args.max_side = "levin-2", None

    torch.set_num_threads(args.threads)
    params = load_params(args.params)
    non_blind = [args.reference] + ([args.two_stage] if args.two_stage else [])
    for name in [*args.methods, *non_blind]:
        if name not in params["methods"]:
            raise SystemExit(f"{name!r} is not in params.yaml methods")
    kinds = {name: method_class(params["methods"][name]["type"]).blind for name in args.methods}
    if not all(kinds.values()):
        raise SystemExit(f"--methods must be blind: {[n for n, b in kinds.items() if not b]}")
    for name in non_blind:
        if method_class(params["methods"][name]["type"]).blind:
            raise SystemExit(f"{name!r} (--reference, --two-stage) must be a non-blind method")
    recipes = {name: dict(params["methods"][name], device=args.device) for name in args.methods}
    reference = on_device(params["methods"][args.reference], args.device)
    second = on_device(params["methods"][args.two_stage], args.device) if args.two_stage else None
    kernel_dir = args.csv.with_name(args.csv.stem + "_kernels") if args.csv else None
    rows: list[dict[str, Any]] = []
    if args.resume and args.csv and args.csv.is_file():
        with args.csv.open() as handle:
            rows = [_typed(row) for row in csv.DictReader(handle)]
    done = {(r["scene"], r["method"], r["seed"]) for r in rows}
    start = time.perf_counter()
    for n, image in enumerate(bench_images(args, params), 1):
        jobs = [(args.reference, reference, args.seeds[0])]
        jobs += [(name, recipe, seed) for seed in args.seeds for name, recipe in recipes.items()]
        for label, recipe, seed in jobs:
            two_stage = (
                f"{label} -> {args.two_stage}" if second and label != args.reference else None
            )
            kernel_file = None
            if kernel_dir is not None:
                kernel_file = kernel_dir / f"{image.scene.id}_{label}_seed{seed}.npy"
            kernel = None
            if (image.scene.id, label, seed) not in done:
                row, result = fit_method(image, label, recipe, seed)
                kernel = result.kernel
                if kernel_file is not None and kernel is not None:
                    kernel_dir.mkdir(exist_ok=True)
                    np.save(kernel_file, kernel)
                record(rows, row, args.csv, n)
            if two_stage is None or (image.scene.id, two_stage, seed) in done:
                continue
            if kernel is None:  # the blind fit was done in an earlier run
                if kernel_file is None or not kernel_file.is_file():
                    raise SystemExit(f"{two_stage}: no kernel of the earlier {label} fit")
                kernel = np.load(kernel_file)
            row, _ = fit_method(image, args.two_stage, second, seed, kernel=kernel)
            record(rows, {**row, "method": two_stage}, args.csv, n)
    check_same_data(rows)
    scenes = args.scenes or (QUICK_SCENES if args.quick else None)
    title = (
        f"Levin, stored blurry images ({'quick: one per kernel' if args.quick else 'scenes'}"
        f"{'' if scenes is None else f', {len(scenes)}'}), seeds {args.seeds}, "
        f"{args.device} x{torch.get_num_threads()}, {time.perf_counter() - start:.0f} s"
    )
    print_table(rows, args.reference, title)
    for pub in matching_rows("levin", params["blurs"][BLUR], load_published()):
        print(f"published, not run here: {pub.label}: {pub.psnr:.2f} dB, ", end="")
        print(f"SSIM {pub.ssim:.3f}, error ratio {pub.error_ratio:.3f}")
        print(f"  ({pub.citation}, Table {pub.table}: {pub.protocol_note})")


if __name__ == "__main__":
    main()
