"""The evaluate stage: metrics of fits against the sharp scene.

Metrics are computed on [0, 1] images with data_range 1; the estimate is clipped to
[0, 1] first (the image a user would see), the blurry input is clipped the same way for
its reference row. The reference is the part of the sharp image the blurry image shows
(all of it, or the centre for a 'valid' blur).

The shift-aligned PSNR and SSIM (:mod:`inrdeblur.metrics.aligned`, Levin's
``comp_upto_shift``) follow the published protocol: the estimate is rounded to 8 bits, a
gray scene (three equal channels) is compared on its gray channel (the estimate's
channel mean), a colour one on MATLAB's Y channel.

One evaluate job (:func:`evaluate_set`) covers one method on one blur of one dataset, every
scene and seed, and writes ``results/metrics/<method>/<blur>/<dataset>.json``: a list of
records (:func:`evaluate_fit`) with the keys of the input contract in
:mod:`inrdeblur.report.tables`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from inrdeblur import layout
from inrdeblur.blur.synthesize import BlurredImage
from inrdeblur.data.scene import Scene
from inrdeblur.fileio import InputFileError, read_json, read_npz, write_json
from inrdeblur.metrics.aligned import aligned_metrics, rgb_to_y
from inrdeblur.metrics.fidelity import psnr, ssim

if TYPE_CHECKING:
    from inrdeblur.metrics.perceptual import LPIPS

#: Values of ``metrics.aligned``.
ALIGNED_MODES = ("auto", "always", "never")


def evaluate_fit(
    scene_path: Path,
    blurred_path: Path,
    estimate_path: Path,
    meta_path: Path,
    out: Path | None,
    lpips: bool = True,
    aligned: str = "auto",
    lpips_metric: LPIPS | None = None,
) -> dict[str, Any]:
    """Compute PSNR, SSIM and LPIPS of one fit and of its blurry input; the record.

    The record is also written to ``out`` unless it is None.

    ``lpips_metric``: an :class:`~inrdeblur.metrics.perceptual.LPIPS` to reuse (one is
    loaded when it is None and ``lpips`` is true).

    ``aligned`` (``metrics.aligned``): 'always', 'never', or 'auto' for blurs whose
    observation is the scene's stored blurry image; then the record also holds
    ``psnr_aligned``, ``ssim_aligned``, ``shift_aligned`` and the blurry input's
    ``psnr_aligned_blurry``, ``ssim_aligned_blurry``.
    """
    if aligned not in ALIGNED_MODES:
        raise ValueError(f"aligned must be one of {ALIGNED_MODES}, got {aligned!r}")
    scene = Scene.load(scene_path)
    blurred = BlurredImage.load(blurred_path)
    data = read_npz(estimate_path)
    if "estimate" not in data:
        raise InputFileError(f"{estimate_path}: missing array 'estimate'")
    estimate = data["estimate"]
    reference = blurred.target(scene.sharp)
    if estimate.shape != reference.shape:
        raise InputFileError(
            f"{estimate_path}: estimate shape {estimate.shape} != sharp {reference.shape}"
        )
    if not np.all(np.isfinite(estimate)):
        raise InputFileError(f"{estimate_path}: estimate has non-finite values")
    meta = read_json(meta_path)
    sharp = reference.astype(np.float64)
    est = np.clip(estimate.astype(np.float64), 0.0, 1.0)
    blurry = np.clip(blurred.blurry.astype(np.float64), 0.0, 1.0)

    lpips_value = lpips_blurry = None
    if lpips:
        from inrdeblur.metrics.perceptual import LPIPS

        metric = lpips_metric if lpips_metric is not None else LPIPS(net="alex")
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
    observed = blurred.attrs.get("observation") == "scene"
    if aligned == "always" or (aligned == "auto" and observed):
        fit = protocol_aligned(est, sharp)
        record.update(
            psnr_aligned=fit["psnr"], ssim_aligned=fit["ssim"], shift_aligned=fit["shift"]
        )
        blurry_fit = protocol_aligned(blurry, sharp)
        record.update(
            psnr_aligned_blurry=blurry_fit["psnr"], ssim_aligned_blurry=blurry_fit["ssim"]
        )
    if out is not None:
        write_json(out, record)
    return record


def evaluate_set(
    method: str,
    blur: str,
    dataset: str,
    scenes: list[str],
    seeds: list[int],
    out: Path,
    lpips: bool = True,
    aligned: str = "auto",
    root: str | Path = ".",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One evaluate job: :func:`evaluate_fit` of every scene x seed of one evaluation set.

    Reads the scenes, blurred images and fits at their :mod:`inrdeblur.layout` paths under
    ``root`` and writes the records, scene-major, as one JSON list to ``out`` (a
    :data:`~inrdeblur.layout.METRICS_SET`). The LPIPS network is loaded once for all.
    """
    metric = None
    if lpips:
        from inrdeblur.metrics.perceptual import LPIPS

        metric = LPIPS(net="alex")
    records = []
    todo = [(scene, seed) for scene in scenes for seed in seeds]
    for scene, seed in tqdm(todo, desc=f"evaluate {method} {blur}/{dataset}", disable=not progress):
        fit = layout.fit_outputs(layout.fit_dir(method, blur, dataset, scene, seed, root))
        record = evaluate_fit(
            layout.scene_path(dataset, scene, root),
            layout.blurred_path(blur, dataset, scene, root),
            fit["estimate_npz"],
            fit["meta"],
            out=None,
            lpips=lpips,
            aligned=aligned,
            lpips_metric=metric,
        )
        if (record["method"], record["seed"]) != (method, seed):
            raise InputFileError(
                f"{fit['meta']}: a fit of {record['method']!r} with seed {record['seed']}, "
                f"not {method!r} with seed {seed}"
            )
        records.append(record)
    write_json(out, records)
    return records


def protocol_aligned(estimate: np.ndarray, sharp: np.ndarray) -> dict[str, Any]:
    """:func:`aligned_metrics` as the published protocol applies it (module docstring).

    Args:
        estimate: (H, W, 3) float in [0, 1].
        sharp: (H, W, 3) float in [0, 1], the reference.
    """
    quantised = np.round(np.clip(estimate, 0.0, 1.0) * 255.0) / 255.0
    if np.array_equal(sharp[..., 0], sharp[..., 1]) and np.array_equal(
        sharp[..., 0], sharp[..., 2]
    ):
        return aligned_metrics(quantised.mean(axis=2), sharp[..., 0])
    return aligned_metrics(rgb_to_y(quantised), rgb_to_y(sharp))
