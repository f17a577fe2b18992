#!/usr/bin/env python3
"""Speed of one evaluate job: every fit scored on its own vs the image's side shared by seeds.

An evaluate job scores every seed of every scene of one method on one blur of one dataset.
This writes, in a temporary folder at the pipeline's layout paths, ``--scenes`` scenes of
``--size`` px with a stored-observation blur (so the shift-aligned protocol runs) and
``--seeds`` fits each, then times in this process, alternating the two:

- baseline: :func:`inrdeblur.metrics.evaluate.evaluate_fit` once per scene x seed, which
  reads the scene and blurred image and scores the blurry input (PSNR, SSIM, the aligned
  shift search) for every fit;
- new: :func:`inrdeblur.metrics.evaluate.evaluate_set`, which does that once per scene.

Both give the same records (checked). LPIPS is off here: its backbone cannot always be
fetched, and it would add the same per-image work to both sides of the ratio.

    python benchmarks/evaluate_speed.py [--scenes 3] [--seeds 3] [--size 255] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from inrdeblur import layout
from inrdeblur.fileio import write_json, write_npz
from inrdeblur.metrics.evaluate import evaluate_fit, evaluate_set
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.scene import Scene

METHOD, BLUR, DATASET = "m", "stored", "d"


def write_set(root: Path, scenes: list[str], seeds: list[int], size: int) -> None:
    """Scenes, stored-observation blurred images and noisy fits of every seed under ``root``."""
    rng = np.random.default_rng(0)
    for scene_id in scenes:
        sharp = rng.random((size, size, 3)).astype(np.float32)
        Scene(dataset=DATASET, id=scene_id, sharp=sharp).save(
            layout.scene_path(DATASET, scene_id, root)
        )
        blurry = np.roll(sharp, (1, 2), axis=(0, 1)) + rng.normal(0, 0.02, sharp.shape)
        BlurredImage(
            blurry=blurry.astype(np.float32),
            attrs={"observation": "scene", "settings": {"model": "uniform"}},
            kernel=np.ones((1, 1), np.float32),
        ).save(layout.blurred_path(BLUR, DATASET, scene_id, root))
        for seed in seeds:
            fit = layout.fit_outputs(layout.fit_dir(METHOD, BLUR, DATASET, scene_id, seed, root))
            fit["meta"].parent.mkdir(parents=True, exist_ok=True)
            estimate = np.clip(sharp + rng.normal(0, 0.01, sharp.shape), 0, 1)
            write_npz(fit["estimate_npz"], estimate=estimate.astype(np.float32))
            meta = {"blur": BLUR, "method": METHOD, "seed": seed, "time_s": 1.0}
            meta.update(size_mb=1.0, iterations=1, device="cpu")
            write_json(fit["meta"], meta)


def per_fit(root: Path, scenes: list[str], seeds: list[int]) -> list[dict]:
    """The baseline: every fit evaluated on its own."""
    records = []
    for scene_id in scenes:
        for seed in seeds:
            fit = layout.fit_outputs(layout.fit_dir(METHOD, BLUR, DATASET, scene_id, seed, root))
            records.append(
                evaluate_fit(
                    layout.scene_path(DATASET, scene_id, root),
                    layout.blurred_path(BLUR, DATASET, scene_id, root),
                    fit["estimate_npz"],
                    fit["meta"],
                    out=None,
                    lpips=False,
                    aligned="auto",
                )
            )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--size", type=int, default=255)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scenes = [f"s{i}" for i in range(args.scenes)]
    seeds = list(range(args.seeds))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_set(root, scenes, seeds, args.size)
        out = root / "set.json"
        times: dict[str, list[float]] = {"baseline": [], "new": []}
        for _ in range(args.repeat):
            start = time.perf_counter()
            baseline = per_fit(root, scenes, seeds)
            times["baseline"].append(time.perf_counter() - start)
            start = time.perf_counter()
            new = evaluate_set(
                METHOD, BLUR, DATASET, scenes, seeds, out, lpips=False, root=root, progress=False
            )
            times["new"].append(time.perf_counter() - start)
            if new != baseline:
                raise SystemExit("evaluate_set and evaluate_fit disagree")
    fits = len(scenes) * len(seeds)
    base_s, new_s = (statistics.median(times[k]) for k in ("baseline", "new"))
    print(f"{fits} fits ({args.scenes} scenes x {args.seeds} seeds, {args.size} px, aligned)")
    print(f"baseline (evaluate_fit per fit): {base_s:.2f} s  ({base_s / fits:.2f} s per fit)")
    print(f"new (evaluate_set):              {new_s:.2f} s  ({new_s / fits:.2f} s per fit)")
    print(f"ratio new / baseline: {new_s / base_s:.2f}")


if __name__ == "__main__":
    main()
