"""The evaluate stage: metrics of one fit against the sharp scene.

Metrics are computed on [0, 1] images with data_range 1; the estimate is clipped to
[0, 1] first (the image a user would see), the blurry input is clipped the same way for
its reference row. The record is written to ``results/metrics/.../seed<k>.json`` with
the keys of the input contract in :mod:`inrdeblur.report.tables`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inrdeblur.blur.synthesize import BlurredImage
from inrdeblur.data.scene import Scene
from inrdeblur.fileio import InputFileError, read_json, read_npz, write_json
from inrdeblur.metrics.fidelity import psnr, ssim


def evaluate_fit(
    scene_path: Path,
    blurred_path: Path,
    estimate_path: Path,
    meta_path: Path,
    out: Path,
    lpips: bool = True,
) -> dict[str, Any]:
    """Compute PSNR, SSIM and LPIPS of one fit and of its blurry input; write the record."""
    scene = Scene.load(scene_path)
    blurred = BlurredImage.load(blurred_path)
    data = read_npz(estimate_path)
    if "estimate" not in data:
        raise InputFileError(f"{estimate_path}: missing array 'estimate'")
    estimate = data["estimate"]
    if estimate.shape != scene.sharp.shape:
        raise InputFileError(
            f"{estimate_path}: estimate shape {estimate.shape} != sharp {scene.sharp.shape}"
        )
    if not np.all(np.isfinite(estimate)):
        raise InputFileError(f"{estimate_path}: estimate has non-finite values")
    meta = read_json(meta_path)
    sharp = scene.sharp.astype(np.float64)
    est = np.clip(estimate.astype(np.float64), 0.0, 1.0)
    blurry = np.clip(blurred.blurry.astype(np.float64), 0.0, 1.0)

    lpips_value = lpips_blurry = None
    if lpips:
        from inrdeblur.metrics.perceptual import LPIPS

        metric = LPIPS(net="alex")
        lpips_status = metric.status
        lpips_value = metric(est, sharp)
        lpips_blurry = metric(blurry, sharp)
    else:
        lpips_status = "missing: disabled in params (metrics.lpips: false)"
    record = {
        "dataset": scene.dataset,
        "blur": meta["blur"],
        "method": meta["method"],
        "scene": scene.id,
        "seed": int(meta["seed"]),
        "psnr": psnr(est, sharp),
        "ssim": ssim(est, sharp),
        "lpips": lpips_value,
        "lpips_status": lpips_status,
        "psnr_blurry": psnr(blurry, sharp),
        "ssim_blurry": ssim(blurry, sharp),
        "lpips_blurry": lpips_blurry,
        "time_s": float(meta["time_s"]),
        "size_mb": float(meta["size_mb"]),
        "iterations": int(meta["iterations"]),
        "device": meta["device"],
    }
    write_json(out, record)
    return record
