#!/usr/bin/env python3
"""Non-blind deblurring with the true kernel: every method asked for, on the same observations.

Each image is read, blurred and scored by the pipeline's own code (``prepare_scene``,
``synthesize`` with a blur of params.yaml, the evaluate stage's ``score_estimate``), and
every method (``methods.<name>`` of params.yaml, INR or classical baseline, run through the
method registry exactly as the fit stage runs it, with the fit stage's per-image seed)
gets the *same* :class:`~inrdeblur.methods.base.Problem`: one observation array and one
operator. Every row records the observation's and the reference's SHA-256, so a table can
show that no method saw other data or was scored on other pixels.

Benchmarks (``--bench``):

- ``levin-1``: Levin et al. 2009, setting 1: the sharp image convolved with its true
  kernel ('valid', ``blurs.true_kernel_valid``) plus 1 % Gaussian noise, one gray channel,
  one noise draw; PSNR/SSIM on [0, 1] against the matching centre of the sharp image.
- ``levin-2``: setting 2: the stored (real) blurred images with the true kernels
  (``blurs.true_kernel_stored``), scored with the shift-aligned protocol (15 px crop, shifts
  up to 10 px in 0.25 px steps, 8-bit estimate) and the error ratio: the aligned SSD over
  that of the best classical baseline of the same run on the same image. The published
  known-kernel reference, 34.53 dB / 0.949, is printed under the table (the non-blind
  rows of the report's published figures that match the bench's data and blur,
  :mod:`inrdeblur.report.published`).
- ``lai``: Lai et al. 2016, the stored blurred images with the true kernels, on the Y
  channel (``channels: y``), downscaled to ``--max-side``, aligned protocol as above, one row
  per category and the mean.
- ``tuning``: the tuning set, which no reported table uses: Kodak images (``--kodak``),
  their Y channel downscaled so the longer side is 384 px, the centre 255 x 255 crop, each
  blurred with seeded random camera-shake kernels of 13 to 27 px ('valid', 1 % noise).
  Every setting of every method in params.yaml was chosen on it (``--grid``).

``--grid method.key.path=v1,v2,...`` adds one variant of the method per value (several
``--grid`` options for one method multiply); the variants are named
``method[key.path=v]``. Prints one row per method: mean +- std over images, the number of
images it wins, and its time per image; for ``levin-2`` and ``lai`` also the aligned
metrics and the error ratio. ``--quick``: Levin with one image per kernel (8).

    python benchmarks/nonblind.py --bench levin-1 [--quick] [--methods tikhonov hashgrid_tv]
        [--scenes im1_kernel1 ...] [--threads 2] [--csv out.csv [--resume]]
"""

from __future__ import annotations

import argparse
import copy
import csv
import itertools
import math
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.config import dataset_settings, load_params
from inrdeblur.data import kodak, lai, levin
from inrdeblur.data.prepare import fit_max_side, luma_scene, prepare_scene
from inrdeblur.data.synthesize import synthesize
from inrdeblur.fit.run import kernel_size_bound
from inrdeblur.methods import MethodResult, Problem, build_method
from inrdeblur.methods.classical import ClassicalMethod
from inrdeblur.metrics.evaluate import make_reference, score_estimate
from inrdeblur.metrics.kernels import kernel_similarity
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.scene import Scene
from inrdeblur.report.published import load_published, matching_rows
from inrdeblur.seeding import seed_from_string

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
#: Levin with one image per kernel, cycling through the four sharp images
QUICK_SCENES = tuple(f"im{(j - 1) % 4 + 1}_kernel{j}" for j in range(1, 9))
#: the tuning set: Kodak images (those of ../shared/data/kodak), kernel sizes and seeds
TUNING_IMAGES = ("kodim03", "kodim04", "kodim07", "kodim08")
TUNING_KERNELS = ((13, 1), (17, 2), (21, 3), (27, 4))
TUNING_SIDE, TUNING_CROP = 384, 255
BENCHES = {
    "levin-1": ("levin", "true_kernel_valid"),
    "levin-2": ("levin", "true_kernel_stored"),
    "lai": ("lai", "true_kernel_stored"),
    "tuning": ("tuning", "true_kernel_valid"),
}
#: a fit has "reached its final PSNR" once within this many dB of it
FINAL_PSNR_TOLERANCE_DB = 0.1


@dataclass
class Image:
    """One benchmark image: its scene, the blurred observation, its category and the
    evaluate stage's reference (the sharp pixels scored against, the blurry input's scores)."""

    scene: Scene
    blurred: BlurredImage
    category: str

    def __post_init__(self) -> None:
        self.reference = make_reference(self.scene, self.blurred, lpips_metric=None)


def tuning_scenes(kodak_root: Path) -> Iterator[Scene]:
    """The tuning set (module docstring): two kernels per Kodak image, 8 scenes."""
    for n, name in enumerate(TUNING_IMAGES):
        base = fit_max_side(luma_scene(kodak.make_scene(kodak_root, name)), TUNING_SIDE)
        h, w = base.shape
        top, left = (h - TUNING_CROP) // 2, (w - TUNING_CROP) // 2
        sharp = base.sharp[top : top + TUNING_CROP, left : left + TUNING_CROP]
        for size, seed in (TUNING_KERNELS[n], TUNING_KERNELS[(n + 2) % 4]):
            yield Scene(
                dataset="tuning",
                id=f"{name}_motion{size}",
                sharp=np.ascontiguousarray(sharp),
                kernel=random_motion_kernel(size, seed),
                attrs={"category": "tuning"},
            )


def bench_images(args: argparse.Namespace, params: dict[str, Any]) -> Iterator[Image]:
    """The images of the benchmark, each blurred by the pipeline's synthesize stage."""
    dataset, blur = BENCHES[args.bench]
    settings = params["blurs"][blur]
    if dataset == "tuning":
        for scene in tuning_scenes(args.kodak):
            if not args.scenes or scene.id in args.scenes:
                yield Image(scene, synthesize(scene, blur, settings), "tuning")
        return
    if dataset == "levin":
        ids = args.scenes or (QUICK_SCENES if args.quick else levin.SCENE_IDS)
        data = {"root": str(args.levin), "verify": True}
    else:
        stored = sorted(p.stem for p in (args.lai / "synthetic_dataset" / "uniform").glob("*.png"))
        ids = args.scenes or stored
        data = {"root": str(args.lai), "verify": False, "channels": "y"}
    if args.max_side:
        data["max_side"] = args.max_side
    for scene_id in ids:
        scene = prepare_scene(dataset, scene_id, dataset_settings(dataset, data))
        category = (
            lai.category_of(scene_id) if dataset == "lai" else f"kernel{levin.kernel_of(scene_id)}"
        )
        yield Image(scene, synthesize(scene, blur, settings), category)


def method_variants(
    params: dict[str, Any], names: list[str], grids: list[str]
) -> dict[str, dict[str, Any]]:
    """``{label: recipe}``: each named method, or one variant per value of its ``--grid``s."""
    axes: dict[str, list[tuple[str, list[Any]]]] = {}
    for grid in grids:
        key, _, values = grid.partition("=")
        method, _, path = key.partition(".")
        if method not in names or not path or not values:
            raise SystemExit(f"--grid {grid!r}: expected <method>.<key path>=v1,v2 of --methods")
        axes.setdefault(method, []).append((path, [_value(v) for v in values.split(",")]))
    variants = {}
    for name in names:
        if name not in params["methods"]:
            raise SystemExit(f"--methods: {name!r} is not in params.yaml methods")
        base = params["methods"][name]
        paths = axes.get(name, [])
        for values in itertools.product(*(v for _, v in paths)):
            recipe = copy.deepcopy(base)
            labels = []
            for (path, _), value in zip(paths, values, strict=True):
                *parents, leaf = path.split(".")
                node = recipe
                for part in parents:
                    node = node[part]
                if leaf not in node:
                    raise SystemExit(f"--grid: methods.{name}.{path} is not a key of the recipe")
                node[leaf] = value
                labels.append(f"{path}={value}")
            variants[f"{name}[{','.join(labels)}]" if labels else name] = recipe
    return variants


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def run_method(image: Image, label: str, recipe: dict[str, Any], seed: int) -> dict[str, Any]:
    """One method on one image: its scores and facts, as one row."""
    return fit_method(image, label, recipe, seed)[0]


def fit_method(
    image: Image,
    label: str,
    recipe: dict[str, Any],
    seed: int,
    kernel: np.ndarray | None = None,
) -> tuple[dict[str, Any], MethodResult]:
    """One method on one image: the row of :func:`run_method` and the method's result.

    ``kernel``: a non-blind method deblurs with this kernel instead of the blur's
    operator, by the 'valid' uniform operator of the blind methods' own forward model
    (the second stage of the two-stage protocol); the row's kernel similarity is then
    that of ``kernel``.
    """
    scene, blurred, reference = image.scene, image.blurred, image.reference
    recipe = copy.deepcopy(recipe)
    method = build_method(recipe)
    if kernel is not None and method.blind:
        raise ValueError(f"{label}: a blind method estimates its own kernel")
    operator = None
    if not method.blind:
        shape = blurred.blurry.shape[:2]
        operator = blurred.operator() if kernel is None else UniformBlur(kernel, shape)
    problem = Problem(
        blurry=blurred.blurry,
        operator=operator,
        kernel_size=kernel_size_bound(label, recipe, scene, blurred) if method.blind else None,
        sharp=blurred.target(scene.sharp),
        description=f"{label} {scene.id}",
    )
    torch_seed = seed_from_string("fit", seed, scene.dataset, scene.id)
    start = time.perf_counter()
    result = method.run(problem, torch_seed, progress=False)
    elapsed = time.perf_counter() - start
    final = result.trace[-1]["psnr"]
    reached = next(
        r["seconds"] for r in result.trace if r["psnr"] >= final - FINAL_PSNR_TOLERANCE_DB
    )
    scores = score_estimate(reference, result.estimate)
    estimated = result.kernel if kernel is None else kernel
    return {
        "scene": scene.id,
        "category": image.category,
        "method": label,
        "classical": isinstance(method, ClassicalMethod),
        "seed": seed,
        "psnr": scores["psnr"],
        "ssim": scores["ssim"],
        "psnr_aligned": scores.get("psnr_aligned", math.nan),
        "ssim_aligned": scores.get("ssim_aligned", math.nan),
        "ssd_aligned": scores.get("ssd_aligned", math.nan),
        "psnr_blurry": reference.blurry_scores["psnr_blurry"],
        "psnr_aligned_blurry": reference.blurry_scores.get("psnr_aligned_blurry", math.nan),
        "time_s": elapsed,
        "t_final_s": reached,
        "channels": problem.channels,
        "observation_sha256": problem.observation_sha256(),
        "reference_sha256": scores["reference_sha256"],
        "kernel_similarity": (
            kernel_similarity(estimated, blurred.kernel)
            if estimated is not None and blurred.kernel is not None
            else math.nan
        ),
    }, result


# -- the table ----------------------------------------------------------------------------


def _mean_std(values: list[float], decimals: int = 2) -> str:
    if not values:
        return "n/a"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{decimals}f} ± {std:.{decimals}f}"


def summarise(rows: list[dict[str, Any]], aligned: bool) -> tuple[list[dict[str, Any]], str | None]:
    """One summary per method (mean over images and seeds), with wins and error ratio, and
    the best classical baseline (the error ratio's denominator)."""
    key = "psnr_aligned" if aligned else "psnr"
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by_image: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_image.setdefault((row["scene"], row["seed"]), {})[row["method"]] = row
    classical = [m for m in methods if any(r["classical"] for r in rows if r["method"] == m)]
    mean_of = {m: statistics.fmean(r[key] for r in rows if r["method"] == m) for m in methods}
    best_classical = max(classical, key=mean_of.get) if classical else None
    out = []
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        wins = sum(
            1
            for fits in by_image.values()
            if method in fits and max(fits, key=lambda m: fits[m][key]) == method
        )
        ratios = [
            math.sqrt(
                by_image[(r["scene"], r["seed"])][method]["ssd_aligned"] / base["ssd_aligned"]
            )
            for r in mine
            if aligned
            and best_classical
            and (base := by_image[(r["scene"], r["seed"])].get(best_classical))
        ]
        out.append(
            {
                "method": method,
                "n": len(mine),
                "psnr": [r[key] for r in mine],
                "ssim": [r["ssim_aligned" if aligned else "ssim"] for r in mine],
                "error_ratio": ratios,
                "wins": wins,
                "time_s": statistics.fmean(r["time_s"] for r in mine),
                "t_final_s": statistics.fmean(r["t_final_s"] for r in mine),
            }
        )
    return out, best_classical


def print_table(rows: list[dict[str, Any]], title: str, aligned: bool) -> None:
    summary, best_classical = summarise(rows, aligned)
    blurry_key = "psnr_aligned_blurry" if aligned else "psnr_blurry"
    images = {(r["scene"], r["seed"]): r[blurry_key] for r in rows}
    print(f"\n{title}: {len(images)} images")
    print(f"blurry input: {_mean_std(list(images.values()))} dB")
    header = f"{'method':<44}{'n':>4}{'PSNR dB':>16}{'SSIM':>14}"
    header += f"{'error ratio':>14}" if aligned else ""
    header += f"{'wins':>6}{'s/image':>9}{'t_final':>9}"
    print(header)
    print("-" * len(header))
    for s in summary:
        line = f"{s['method']:<44}{s['n']:>4}{_mean_std(s['psnr']):>16}"
        ssim = s["ssim"]
        line += (
            f"{statistics.fmean(ssim):>8.4f} ± {statistics.stdev(ssim) if len(ssim) > 1 else 0:.3f}"
        )
        if aligned:
            line += f"{_mean_std(s['error_ratio']):>14}"
        line += f"{s['wins']:>6}{s['time_s']:>9.1f}{s['t_final_s']:>9.1f}"
        print(line)
    if aligned and best_classical:
        print(
            f"error ratio: sqrt(aligned SSD / that of {best_classical}, the best baseline), "
            "per image"
        )
    inr = [
        s for s in summary if not any(r["classical"] for r in rows if r["method"] == s["method"])
    ]
    if inr and best_classical:
        best = max(inr, key=lambda s: statistics.fmean(s["psnr"]))
        gap = statistics.fmean(best["psnr"]) - statistics.fmean(
            next(s for s in summary if s["method"] == best_classical)["psnr"]
        )
        print(f"best INR ({best['method']}) - best baseline ({best_classical}): {gap:+.2f} dB")


def print_category_table(rows: list[dict[str, Any]], aligned: bool) -> None:
    """Mean PSNR (aligned where the protocol aligns) per category and method, and the mean
    over all images; the blurry input in the first column."""
    key = "psnr_aligned" if aligned else "psnr"
    methods = list(dict.fromkeys(r["method"] for r in rows))
    categories = list(dict.fromkeys(r["category"] for r in rows))
    width = max(12, *(len(m) + 2 for m in methods))
    print(f"\n{'PSNR dB' + (' (aligned)' if aligned else ''):<14}{'blurry':>{width}}", end="")
    print("".join(f"{m:>{width}}" for m in methods))
    for category in [*categories, "mean"]:
        subset = [r for r in rows if category in ("mean", r["category"])]
        images = {
            (r["scene"], r["seed"]): r[key + "_blurry" if aligned else "psnr_blurry"]
            for r in subset
        }
        line = f"{category:<14}{statistics.fmean(images.values()):>{width}.2f}"
        for method in methods:
            values = [r[key] for r in subset if r["method"] == method]
            line += f"{statistics.fmean(values):>{width}.2f}" if values else f"{'':>{width}}"
        print(line + f"   ({len(images)} images)")


def check_same_data(rows: list[dict[str, Any]]) -> None:
    """Every method of an image got the same observation and was scored on the same pixels."""
    for key in ("observation_sha256", "reference_sha256"):
        seen: dict[str, set[str]] = {}
        for row in rows:
            seen.setdefault(row["scene"], set()).add(row[key])
        bad = sorted(scene for scene, values in seen.items() if len(values) != 1)
        if bad:
            raise RuntimeError(f"methods got different {key} on {', '.join(bad)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", choices=sorted(BENCHES), required=True)
    parser.add_argument("--levin", type=Path, default=SHARED / "levin")
    parser.add_argument("--lai", type=Path, default=SHARED / "lai")
    parser.add_argument("--kodak", type=Path, default=SHARED / "kodak")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--max-side", type=int, help="downscale so the longer side fits")
    parser.add_argument("--quick", action="store_true", help="Levin: one image per kernel")
    parser.add_argument("--scenes", nargs="+", help="these scene ids instead")
    parser.add_argument("--methods", nargs="+", required=True, help="names in params.yaml")
    parser.add_argument("--grid", action="append", default=[], help="method.key=v1,v2,...")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--csv", type=Path, help="append per-image rows here as they finish")
    parser.add_argument("--resume", action="store_true", help="skip rows already in --csv")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=[],
        help="also count the rows of these CSVs (a run split over processes with --scenes)",
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="print the tables of the rows read (--csv with --resume, --merge), run nothing",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params = load_params(args.params)
    variants = method_variants(params, args.methods, args.grid)
    for recipe in variants.values():
        (recipe["fit"] if recipe.get("type", "inr") == "inr" else recipe)["device"] = args.device
    sources = [args.csv] if args.resume and args.csv and args.csv.is_file() else []
    done: list[dict[str, Any]] = []
    for source in [*sources, *args.merge]:
        with source.open() as handle:
            done += [_typed(row) for row in csv.DictReader(handle)]
    rows = [r for r in done if r["method"] in variants]
    finished = {(r["scene"], r["method"], r["seed"]) for r in rows}
    aligned = BENCHES[args.bench][1] == "true_kernel_stored"
    for n, image in enumerate([] if args.table_only else bench_images(args, params), 1):
        for seed, (label, recipe) in itertools.product(args.seeds, variants.items()):
            if (image.scene.id, label, seed) in finished:
                continue
            row = run_method(image, label, recipe, seed)
            rows.append(row)
            if args.csv:
                _append(args.csv, row)
            score = row["psnr_aligned"] if aligned else row["psnr"]
            print(
                f"[{n}] {image.scene.id} {label} seed{seed}: {score:.2f} dB, {row['time_s']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    check_same_data(rows)
    dataset, blur = BENCHES[args.bench]
    channels = sorted({r["channels"] for r in rows})
    title = (
        f"{args.bench} ({dataset}, blurs.{blur}, {'/'.join(map(str, channels))} channel(s)"
        f"{f', max side {args.max_side}' if args.max_side else ''})"
        + (", rows read from CSV" if args.table_only else f", cpu x{torch.get_num_threads()}")
    )
    print_table(rows, title, aligned)
    common = common_images(rows)
    if len(common) < len(rows):
        print("\nNot every method has every image; the same table on the images they all have:")
        print_table(common, title, aligned)
    if args.bench == "lai":
        print_category_table(rows, aligned)
    for pub in matching_rows(dataset, params["blurs"][blur], load_published()):
        if pub.task == "nonblind_uniform":  # a known-kernel figure, like every row above
            print(f"\npublished, not run here: {pub.label}: {pub.psnr:.2f} dB, ", end="")
            print(f"SSIM {pub.ssim:.3f}, error ratio {pub.error_ratio:.3f}")
            print(f"  ({pub.citation}, Table {pub.table}: {pub.protocol_note})")


def common_images(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the (scene, seed) pairs that every method of ``rows`` has."""
    methods = {r["method"] for r in rows}
    have: dict[tuple[str, int], set[str]] = {}
    for r in rows:
        have.setdefault((r["scene"], r["seed"]), set()).add(r["method"])
    return [r for r in rows if have[(r["scene"], r["seed"])] == methods]


_FLOATS = {
    "psnr", "ssim", "psnr_aligned", "ssim_aligned", "ssd_aligned", "psnr_blurry",
    "psnr_aligned_blurry", "time_s", "t_final_s", "kernel_similarity",
}  # fmt: skip


def _typed(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(row)
    for key in _FLOATS:
        out[key] = float(row.get(key, "nan"))
    out["seed"], out["channels"] = int(row["seed"]), int(row["channels"])
    out["classical"] = row["classical"] == "True"
    return out


def _append(path: Path, row: dict[str, Any]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


if __name__ == "__main__":
    main()
