"""The fit stage: one method on one blurred scene with one seed, written to disk.

Outputs (all written atomically):

- ``estimate.png``: 8-bit sharp estimate, clipped to [0, 1];
- ``estimate.npz``: ``estimate`` (H, W, 3) float32, unclipped;
- ``trace.csv``: per iteration ``iteration, loss, data_loss, reg_loss, psnr, lr, seconds``
  (``psnr`` against the sharp image, for monitoring only; it never enters the loss);
- ``meta.json``: method, recipe, seeds, device, wall time, model size, package versions.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from inrdeblur.blur.synthesize import BlurredImage
from inrdeblur.data.scene import Scene
from inrdeblur.fileio import read_json, write_json, write_npz, write_png, write_text
from inrdeblur.fit.nonblind import TRACE_COLUMNS, fit_nonblind
from inrdeblur.provenance import package_versions
from inrdeblur.seeding import seed_from_string

VERSIONED_PACKAGES = ("inrdeblur", "torch", "numpy", "scikit-image", "lpips")
INDEX_COLUMNS = (
    "dataset", "blur", "scene", "seed", "device", "time_s", "size_mb", "iterations",
    "final_loss", "final_psnr",
)  # fmt: skip


def run_fit(
    scene_path: Path,
    blurred_path: Path,
    method: str,
    recipe: dict[str, Any],
    seed: int,
    threads: int,
    outputs: dict[str, Path],
    progress: bool = True,
) -> dict[str, Any]:
    """Fit ``recipe`` to the blurred scene and write the four fit outputs; return meta."""
    import torch

    torch.set_num_threads(max(1, threads))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    scene = Scene.load(scene_path)
    blurred = BlurredImage.load(blurred_path)
    if blurred.blurry.shape != scene.sharp.shape:
        raise ValueError(
            f"{blurred_path}: blurry image {blurred.blurry.shape} does not match the scene "
            f"{scene_path} {scene.sharp.shape}"
        )
    torch_seed = seed_from_string("fit", seed, scene.dataset, scene.id)
    result = fit_nonblind(
        blurred.blurry,
        blurred.operator(),
        recipe,
        seed=torch_seed,
        sharp=scene.sharp,
        progress=progress,
        description=f"{method} {scene.dataset}/{scene.id} seed{seed}",
    )
    write_png(outputs["estimate_png"], np.clip(result.estimate, 0.0, 1.0))
    write_npz(outputs["estimate_npz"], estimate=result.estimate)
    write_text(outputs["trace"], _trace_csv(result.trace))
    last = result.trace[-1]
    meta = {
        "method": method,
        "recipe": recipe,
        "dataset": scene.dataset,
        "blur": blurred.attrs.get("blur"),
        "scene": scene.id,
        "seed": seed,
        "torch_seed": torch_seed,
        "device": result.device,
        "threads": torch.get_num_threads(),
        "time_s": result.time_s,
        "total_time_s": time.perf_counter() - t0,
        "size_mb": result.size_mb,
        "n_parameters": result.n_parameters,
        "iterations": int(last["iteration"]),
        "final_loss": last["loss"],
        "final_psnr": last["psnr"],
        "started_at": started,
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "versions": package_versions(VERSIONED_PACKAGES, python=True),
    }
    write_json(outputs["meta"], meta)
    return meta


def _trace_csv(rows: list[dict[str, float]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TRACE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


def write_fit_index(method: str, meta_paths: list[Path], out: Path) -> None:
    """Write ``results/fits/<method>/index.csv``: one row per fit, from each meta.json."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    rows = []
    for path in meta_paths:
        meta = read_json(path)
        if meta.get("method") != method:
            raise ValueError(f"{path}: fit of method {meta.get('method')!r}, expected {method!r}")
        rows.append([meta[c] for c in INDEX_COLUMNS])
    for row in sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3])):
        writer.writerow(row)
    write_text(out, buffer.getvalue())
