"""The blur-formation experiment: how well does a blur model reproduce real blur?

For a scene with depth, a camera trajectory, intrinsics and a reference blurry image
(a real photograph, or a reprojection rendering for the demo set), build the model's
operator from the scene's own trajectory, blur the sharp image with it, and compare the
result with the reference (Torres & Kamarainen 2023, Sec. 5.1). The record holds PSNR and
SSIM against the reference (data_range 1, both images clipped to [0, 1]), the time to
build the operator (bins, kernels, mattes or per-pixel shifts) and to apply it once, and
the operator's memory (its buffers, MB of 2**20 bytes).

Records go to ``results/forward_models/<blur>/<dataset>/<scene>.json``; the table of
every record and the blur model x dataset summary to ``results/forward_models/``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from inrdeblur.blur.models import build_operator
from inrdeblur.fileio import write_text
from inrdeblur.metrics.fidelity import psnr, ssim
from inrdeblur.metrics.tables import mean_std, read_table, to_csv
from inrdeblur.records.scene import Scene

RECORD_COLUMNS = (
    "dataset", "blur", "model", "scene", "height", "width", "psnr", "ssim", "build_time_s",
    "apply_time_s", "operator_mb", "support", "n_layers", "n_poses",
)  # fmt: skip
SUMMARY_METRICS = ("psnr", "ssim", "build_time_s", "apply_time_s", "operator_mb")
SUMMARY_COLUMNS = ("dataset", "blur", "model", "n_scenes") + tuple(
    f"{m}_{s}" for m in SUMMARY_METRICS for s in ("mean", "std")
)
COLUMN_TYPES = {
    **{c: "str" for c in ("dataset", "blur", "model", "scene")},
    **{c: "int64" for c in ("height", "width", "support", "n_poses", "n_scenes")},
    **{c: "float64" for c in (*SUMMARY_COLUMNS[4:], *RECORD_COLUMNS[6:11], "n_layers")},
}


def evaluate_forward_model(scene: Scene, blur_name: str, settings: dict[str, Any]) -> dict:
    """Blur ``scene.sharp`` with the ``settings`` model along the scene's own trajectory
    and compare with ``scene.blurry``; return the record (see the module docstring)."""
    where = f"scene {scene.dataset}/{scene.id}"
    missing = [
        name
        for name in ("blurry", "depth", "trajectory", "intrinsics")
        if getattr(scene, name) is None
    ]
    if missing:
        raise ValueError(f"{where}: the blur-formation experiment needs {', '.join(missing)}")
    start = time.perf_counter()
    operator = build_operator(
        settings,
        scene.shape,
        depth=scene.depth,
        trajectory=scene.trajectory,
        intrinsics=scene.intrinsics,
    )
    build_time = time.perf_counter() - start
    sharp = torch.from_numpy(np.ascontiguousarray(scene.sharp.transpose(2, 0, 1)))[None]
    start = time.perf_counter()
    with torch.no_grad():
        blurred = operator.blur(sharp, settings["boundary"])
    apply_time = time.perf_counter() - start
    estimate = np.clip(blurred[0].numpy().transpose(1, 2, 0).astype(np.float64), 0.0, 1.0)
    reference = np.clip(scene.blurry.astype(np.float64), 0.0, 1.0)
    facts = operator.describe()
    top, bottom, _, _ = operator.margin
    return {
        "dataset": scene.dataset,
        "blur": blur_name,
        "model": settings["model"],
        "scene": scene.id,
        "height": scene.shape[0],
        "width": scene.shape[1],
        "psnr": psnr(estimate, reference),
        "ssim": ssim(estimate, reference),
        "build_time_s": build_time,
        "apply_time_s": apply_time,
        "operator_mb": operator.size_mb(),
        "support": top + bottom + 1,
        "n_layers": facts.get("n_layers"),
        "n_poses": scene.trajectory.n_poses,
    }


def forward_model_tables(records: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every record sorted, summary): mean and sample std per blur model x dataset.

    No records give two tables with their columns and no rows (the experiment is off).
    """
    if not records:
        empty = pd.DataFrame(columns=list(RECORD_COLUMNS)), pd.DataFrame(columns=SUMMARY_COLUMNS)
        return empty
    for i, record in enumerate(records):
        missing = [c for c in RECORD_COLUMNS if c not in record]
        if missing:
            raise ValueError(f"forward-model record {i}: missing {', '.join(missing)}")
    table = pd.DataFrame([{c: r[c] for c in RECORD_COLUMNS} for r in records])
    keys = ["dataset", "blur", "scene"]
    if table.duplicated(keys).any():
        raise ValueError(
            f"forward models: duplicate records for {table[keys][table.duplicated(keys)].values[0]}"
        )
    table = table.sort_values(keys, kind="mergesort", ignore_index=True)
    rows = []
    for (dataset, blur), group in table.groupby(["dataset", "blur"], sort=True):
        row: dict[str, Any] = {
            "dataset": dataset,
            "blur": blur,
            "model": group["model"].iloc[0],
            "n_scenes": len(group),
        }
        for metric in SUMMARY_METRICS:
            row[f"{metric}_mean"], row[f"{metric}_std"] = mean_std(group[metric].to_numpy())
        rows.append(row)
    return table, pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def write_forward_model_tables(
    records: list[dict[str, Any]], records_csv: str | os.PathLike, summary_csv: str | os.PathLike
) -> pd.DataFrame:
    """Write both tables atomically; return the summary."""
    table, summary = forward_model_tables(records)
    write_text(records_csv, to_csv(table))
    write_text(summary_csv, to_csv(summary))
    return summary


def read_forward_model_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a records or summary table written by :func:`write_forward_model_tables`."""
    return read_table(path, dtypes=COLUMN_TYPES)
