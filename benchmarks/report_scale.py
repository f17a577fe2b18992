#!/usr/bin/env python3
"""Time and size of the report stage at paper scale, against a small report.

Writes, in a temporary folder at the pipeline's layout paths, a synthetic metrics table of
about ``--fits`` fit records in three studies shaped like a paper's tables (VirtualCMB
with parallax blur, 71 % of the fits; Levin settings 1 and 2 with three seeds; Lai's stored
images; ten methods each) and the image files the visual grid reads
(``report.max_scenes`` scenes per dataset), then builds the report
with :func:`inrdeblur.report.build.build_report` twice in this process: first a baseline
of ``--fits / 10`` records (a tenth of the scenes), then the full one. It prints wall
time, HTML size and figure count of both, the ratios full / baseline, and whether the
full report meets the targets (at most 30 s and 20 MB on 2 cores).

Only the metrics table grows with the fits; the grid is bounded by ``max_scenes`` and the
figures switch to one box per method above 30 scenes a panel, so the time should grow far
slower than the record count.

    python benchmarks/report_scale.py [--fits 10000] [--size 128] [--max-scenes 8]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np

from inrdeblur import layout
from inrdeblur.config import load_params
from inrdeblur.fileio import write_npz
from inrdeblur.metrics.tables import metrics_table, to_csv
from inrdeblur.records.scene import Scene
from inrdeblur.report.build import build_report

METHODS = (
    "siren_tv",
    "ffn_tv",
    "hashgrid_tv",
    "dif_tv",
    "hashgrid_cnnprior",
    "siren_filter",
    "tikhonov",
    "tv_deconv",
    "richardson_lucy",
    "sparse_prior",
)
#: study -> (datasets, blurs, seeds, share of the scenes): a paper's three tables
STUDIES = {
    "cmb": (["virtualcmb"], ["parallax"], [0], 0.708),
    "levin": (["levin"], ["true_kernel_valid", "true_kernel_stored"], [0, 1, 2], 0.192),
    "lai": (["lai"], ["true_kernel_stored"], [0], 0.1),
}
TARGET_S = 30.0
TARGET_MB = 20.0


def params_for() -> dict:
    """The repository's params.yaml (its blur and method definitions) with the studies of
    :data:`STUDIES`; the report reads no data through it."""
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    params["studies"] = {
        name: {
            "enabled": True,
            "title": f"{name} at scale",
            "datasets": datasets,
            "blurs": blurs,
            "methods": list(METHODS),
            "seeds": seeds,
            "forward_models": [],
        }
        for name, (datasets, blurs, seeds, _) in STUDIES.items()
    }
    return params


def write_project(root: Path, n_fits: int, size: int, max_scenes: int) -> tuple[Path, int]:
    """The metrics table of about ``n_fits`` records under ``root`` and the files of the
    grid; returns the table path and the number of records."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    records = []
    for datasets, blurs, seeds, share in STUDIES.values():
        per_image = len(METHODS) * len(seeds) * len(blurs) * len(datasets)
        n_scenes = max(1, round(n_fits * share / per_image))
        scenes = [f"s{i:04d}" for i in range(n_scenes)]
        for dataset, scene in itertools.product(datasets, scenes):
            in_grid = scene in scenes[:max_scenes]
            if in_grid:
                sharp = np.stack([xx, yy, (xx * yy + rng.random()) % 1.0], -1)
                sharp = sharp.astype(np.float32)
                Scene(dataset, scene, sharp).save(layout.scene_path(dataset, scene, root))
            for blur in blurs:
                psnr_blurry = float(rng.uniform(20, 26))
                if in_grid:
                    blurry = (0.6 * sharp + 0.4 * sharp.mean()).astype(np.float32)
                    write_npz(layout.blurred_path(blur, dataset, scene, root), blurry=blurry)
                for method, seed in itertools.product(METHODS, seeds):
                    if in_grid:
                        noise = rng.normal(0, 0.02, sharp.shape).astype(np.float32)
                        fit = layout.fit_dir(method, blur, dataset, scene, seed, root)
                        write_npz(fit / "estimate.npz", estimate=sharp + noise)
                    records.append(
                        {
                            "dataset": dataset,
                            "blur": blur,
                            "method": method,
                            "scene": scene,
                            "seed": seed,
                            "psnr": psnr_blurry + float(rng.uniform(0, 8)),
                            "ssim": float(rng.uniform(0.7, 0.95)),
                            "lpips": None,
                            "lpips_status": "missing: benchmark",
                            "psnr_blurry": psnr_blurry,
                            "ssim_blurry": 0.6,
                            "lpips_blurry": None,
                            "time_s": float(rng.uniform(1, 100)),
                            "size_mb": 0.5,
                            "iterations": 100,
                            "device": "cpu",
                        }
                    )
    path = root / layout.METRICS_TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_csv(metrics_table(records)), encoding="utf-8")
    return path, len(records)


def build(root: Path, n_fits: int, size: int, max_scenes: int) -> tuple[int, float, float, int]:
    """Records, seconds to build their report, its size in MB, and its figure count."""
    metrics_csv, n_records = write_project(root, n_fits, size, max_scenes)
    out = root / layout.REPORT_HTML
    figures = root / layout.REPORT_FIGURES
    start = time.perf_counter()
    build_report(metrics_csv, params_for(), out, figures, max_scenes=max_scenes, root=root)
    seconds = time.perf_counter() - start
    return n_records, seconds, out.stat().st_size / 1e6, len(list(figures.rglob("*.png")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=128, help="side of the grid images, px")
    parser.add_argument("--max-scenes", type=int, default=8)
    args = parser.parse_args()
    rows = []
    for label, n in (("baseline", args.fits // 10), ("full", args.fits)):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append((label, *build(Path(tmp), n, args.size, args.max_scenes)))
    print(f"{'run':<10}{'fits':>8}{'seconds':>10}{'HTML MB':>10}{'figures':>9}")
    for label, n, seconds, mb, n_figures in rows:
        print(f"{label:<10}{n:>8}{seconds:>10.1f}{mb:>10.2f}{n_figures:>9}")
    (_, n0, t0, mb0, _), (_, n1, t1, mb1, _) = rows
    print(
        f"ratio full / baseline: records {n1 / n0:.1f}x, time {t1 / t0:.2f}x, size {mb1 / mb0:.2f}x"
    )
    print(
        f"targets (<= {TARGET_S:g} s, <= {TARGET_MB:g} MB): "
        f"time {'met' if t1 <= TARGET_S else 'NOT met'}, "
        f"size {'met' if mb1 <= TARGET_MB else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
