"""The evaluate stage: metrics of fits against the sharp scene.

Metrics are computed on [0, 1] images with data_range 1; the estimate is clipped to
[0, 1] first (the image a user would see), the blurry input is clipped the same way for
its reference row. The reference is the part of the sharp image the blurry image shows
(all of it, or the centre for a 'valid' blur).

The shift-aligned PSNR and SSIM (:mod:`inrdeblur.metrics.aligned`, Levin's
``comp_upto_shift``) follow the published protocol: the estimate is rounded to 8 bits, a
gray scene is compared on its one channel, a colour one on MATLAB's Y channel.

A blind fit (its record holds a kernel estimate) of a blurred image with a true kernel (a
uniform blur) is also scored by the kernel similarity
(:func:`inrdeblur.metrics.kernels.kernel_similarity`); every record says whether its fit
was ``blind``.

A scene without ground truth (``sharp`` None: the user's photos) has no reference: its
records keep the fit's time, size and iterations, hold null PSNR, SSIM and LPIPS (the
blurry input's too, and no shift-aligned metrics), and say why in ``reference`` (e.g.
``"none: the photos dataset has no sharp images"``), a key only such records have.

One evaluate job (:func:`evaluate_set`) covers one method on one blur of one dataset, every
scene and seed, and writes ``results/metrics/<method>/<blur>/<dataset>.json``: a list of
records (:func:`score_fit`) with the keys of the input contract in
:mod:`inrdeblur.metrics.tables`. The image's side of a record (the sharp reference, the
blurry input's scores) is computed once per scene (:func:`load_reference`) and shared by
its seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from inrdeblur import layout
from inrdeblur.colour import rgb_to_y
from inrdeblur.fileio import InputFileError, read_json, write_json
from inrdeblur.methods.base import observation_sha256
from inrdeblur.metrics.aligned import aligned_metrics
from inrdeblur.metrics.convergence import convergence_summary, read_trace, write_convergence
from inrdeblur.metrics.fidelity import psnr, ssim
from inrdeblur.metrics.kernels import kernel_similarity
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.fit import FitEstimate
from inrdeblur.records.scene import Scene

if TYPE_CHECKING:
    from inrdeblur.metrics.perceptual import LPIPS

#: Values of ``metrics.aligned``.
ALIGNED_MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class Reference:
    """One image's side of an evaluation, shared by every fit of it.

    Attributes:
        dataset, scene: the scene's identifiers.
        sharp: (H, W, C) float64 reference, the part of the sharp image the blurry one
            shows; None when the scene has no sharp image (then every score is None).
        aligned: whether fits of it get the shift-aligned metrics.
        blurry_scores: the blurry input's ``psnr_blurry``, ``ssim_blurry``, ``lpips_blurry``
            and, when ``aligned``, ``psnr_aligned_blurry``, ``ssim_aligned_blurry``.
        lpips_status: the LPIPS metric's status (why a value is missing, if it is).
        category: the scene's category (``attrs["category"]``: a Lai image category, a
            VirtualCMB motion group), or ``""`` when its dataset has none.
        kernel: the blurred image's true (k_h, k_w) kernel (a uniform blur), else None.
    """

    dataset: str
    scene: str
    sharp: np.ndarray | None
    aligned: bool
    blurry_scores: dict[str, Any]
    lpips_status: str
    category: str = ""
    kernel: np.ndarray | None = None
    #: why there is no sharp reference (``"none: <reason>"``), else None
    no_reference: str | None = None


def _check_aligned(aligned: str) -> None:
    if aligned not in ALIGNED_MODES:
        raise ValueError(f"aligned must be one of {ALIGNED_MODES}, got {aligned!r}")


def _lpips_metric(lpips: bool, lpips_metric: LPIPS | None) -> LPIPS | None:
    """The LPIPS metric to use: the one given, a freshly loaded one, or None when disabled."""
    if not lpips:
        return None
    if lpips_metric is not None:
        return lpips_metric
    from inrdeblur.metrics.perceptual import LPIPS

    return LPIPS(net="alex")


def load_reference(
    scene_path: Path,
    blurred_path: Path,
    lpips_metric: LPIPS | None = None,
    aligned: str = "auto",
) -> Reference:
    """Read one scene and its blurred image and score the blurry input once
    (:func:`make_reference`)."""
    return make_reference(
        Scene.load(scene_path), BlurredImage.load(blurred_path), lpips_metric, aligned
    )


def make_reference(
    scene: Scene,
    blurred: BlurredImage,
    lpips_metric: LPIPS | None = None,
    aligned: str = "auto",
) -> Reference:
    """One image's side of an evaluation: the sharp reference and the blurry input's scores.

    ``lpips_metric``: the LPIPS metric, or None when LPIPS is disabled. ``aligned``
    (``metrics.aligned``): 'always', 'never', or 'auto' for blurs whose observation is the
    scene's stored blurry image.
    """
    _check_aligned(aligned)
    if scene.sharp is None:  # no ground truth: nothing to score against
        why = f"the {scene.dataset} dataset has no sharp images"
        return Reference(
            dataset=scene.dataset,
            scene=scene.id,
            sharp=None,
            aligned=False,
            blurry_scores={"psnr_blurry": None, "ssim_blurry": None, "lpips_blurry": None},
            lpips_status=f"missing: no sharp reference ({why})",
            category=str(scene.attrs.get("category") or ""),
            no_reference=f"none: {why}",
        )
    sharp = blurred.target(scene.sharp).astype(np.float64)
    blurry = np.clip(blurred.blurry.astype(np.float64), 0.0, 1.0)
    use_aligned = aligned == "always" or (
        aligned == "auto" and blurred.attrs.get("observation") == "scene"
    )
    scores: dict[str, Any] = {
        "psnr_blurry": psnr(blurry, sharp),
        "ssim_blurry": ssim(blurry, sharp),
        "lpips_blurry": lpips_metric(blurry, sharp) if lpips_metric is not None else None,
    }
    if use_aligned:
        fit = protocol_aligned(blurry, sharp)
        scores.update(psnr_aligned_blurry=fit["psnr"], ssim_aligned_blurry=fit["ssim"])
    return Reference(
        dataset=scene.dataset,
        scene=scene.id,
        sharp=sharp,
        aligned=use_aligned,
        blurry_scores=scores,
        lpips_status=(
            lpips_metric.status
            if lpips_metric is not None
            else "missing: disabled in params (metrics.lpips: false)"
        ),
        category=str(scene.attrs.get("category") or ""),
        kernel=blurred.kernel,
    )


def score_estimate(
    reference: Reference, estimate: np.ndarray, lpips_metric: LPIPS | None = None
) -> dict[str, Any]:
    """The scores of one (H, W, C) estimate of ``reference``'s image, clipped to [0, 1]:
    ``psnr``, ``ssim``, ``lpips``, ``reference_sha256`` (the identity of the pixels scored
    against) and, when ``reference.aligned``, ``psnr_aligned``, ``ssim_aligned``,
    ``shift_aligned`` and ``ssd_aligned`` (for error ratios).

    ``lpips_metric`` must be the metric the reference was made with (None: disabled).
    """
    sharp = reference.sharp
    if sharp is None:  # no ground truth
        if not np.all(np.isfinite(estimate)):
            raise ValueError("estimate has non-finite values")
        return {"psnr": None, "ssim": None, "lpips": None, "reference_sha256": None}
    if estimate.shape != sharp.shape:
        raise ValueError(f"estimate shape {estimate.shape} != sharp {sharp.shape}")
    if not np.all(np.isfinite(estimate)):
        raise ValueError("estimate has non-finite values")
    est = np.clip(estimate.astype(np.float64), 0.0, 1.0)
    scores = {
        "psnr": psnr(est, sharp),
        "ssim": ssim(est, sharp),
        "lpips": lpips_metric(est, sharp) if lpips_metric is not None else None,
        "reference_sha256": observation_sha256(sharp),
    }
    if reference.aligned:
        fit = protocol_aligned(est, sharp)
        scores.update(
            psnr_aligned=fit["psnr"],
            ssim_aligned=fit["ssim"],
            shift_aligned=fit["shift"],
            ssd_aligned=fit["ssd"],
        )
    return scores


def score_fit(
    reference: Reference,
    estimate_path: Path,
    meta_path: Path,
    lpips_metric: LPIPS | None = None,
) -> dict[str, Any]:
    """The record of one fit of ``reference``'s image: its scores, the blurry input's, its meta.

    ``blind`` says whether the fit estimated a kernel; ``kernel_similarity`` is its
    estimate's similarity to the true kernel, null when the fit is not blind or the blur
    has no true kernel (not uniform). ``lpips_metric`` must be the metric
    :func:`load_reference` used (None: LPIPS disabled).
    """
    fit = FitEstimate.load(estimate_path)
    try:
        scores = score_estimate(reference, fit.estimate, lpips_metric)
    except ValueError as err:
        raise InputFileError(f"{estimate_path}: {err}") from err
    meta = read_json(meta_path)
    blurry = reference.blurry_scores
    record = {
        "dataset": reference.dataset,
        "blur": meta["blur"],
        "method": meta["method"],
        "scene": reference.scene,
        "seed": int(meta["seed"]),
        "category": reference.category,
        "psnr": scores["psnr"],
        "ssim": scores["ssim"],
        "lpips": scores["lpips"],
        "lpips_status": reference.lpips_status,
        "psnr_blurry": blurry["psnr_blurry"],
        "ssim_blurry": blurry["ssim_blurry"],
        "lpips_blurry": blurry["lpips_blurry"],
        "time_s": float(meta["time_s"]),
        "size_mb": float(meta["size_mb"]),
        "iterations": int(meta["iterations"]),
        "device": meta["device"],
        "observation_sha256": meta.get("observation_sha256"),
        "reference_sha256": scores["reference_sha256"],
        "blind": fit.kernel is not None,
        "kernel_similarity": (
            kernel_similarity(fit.kernel, reference.kernel)
            if fit.kernel is not None and reference.kernel is not None
            else None
        ),
    }
    if reference.no_reference is not None:
        record["reference"] = reference.no_reference
    if reference.aligned:
        record.update(
            psnr_aligned=scores["psnr_aligned"],
            ssim_aligned=scores["ssim_aligned"],
            shift_aligned=scores["shift_aligned"],
            ssd_aligned=scores["ssd_aligned"],
            psnr_aligned_blurry=blurry["psnr_aligned_blurry"],
            ssim_aligned_blurry=blurry["ssim_aligned_blurry"],
        )
    return record


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
    ``psnr_aligned``, ``ssim_aligned``, ``shift_aligned``, ``ssd_aligned`` (for error
    ratios) and the blurry input's ``psnr_aligned_blurry``, ``ssim_aligned_blurry``.
    """
    _check_aligned(aligned)
    metric = _lpips_metric(lpips, lpips_metric)
    reference = load_reference(scene_path, blurred_path, metric, aligned)
    record = score_fit(reference, estimate_path, meta_path, metric)
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
    convergence_out: Path | None = None,
) -> list[dict[str, Any]]:
    """One evaluate job: the record of every scene x seed of one evaluation set.

    Reads the scenes, blurred images and fits at their :mod:`inrdeblur.layout` paths under
    ``root`` and writes the records, scene-major, as one JSON list to ``out`` (a
    :data:`~inrdeblur.layout.METRICS_SET`). The LPIPS network is loaded once for all; each
    scene is read, and its blurry input scored, once for all its seeds. With
    ``convergence_out`` (a :data:`~inrdeblur.layout.CONVERGENCE_SET`), the traces of the
    same fits are summarised there (:func:`~inrdeblur.metrics.convergence.convergence_summary`).
    """
    _check_aligned(aligned)
    metric = _lpips_metric(lpips, None)
    records, traces = [], []
    for scene in tqdm(scenes, desc=f"evaluate {method} {blur}/{dataset}", disable=not progress):
        reference = load_reference(
            layout.scene_path(dataset, scene, root),
            layout.blurred_path(blur, dataset, scene, root),
            metric,
            aligned,
        )
        for seed in seeds:
            fit = layout.fit_outputs(layout.fit_dir(method, blur, dataset, scene, seed, root))
            record = score_fit(reference, fit["estimate_npz"], fit["meta"], metric)
            if (record["method"], record["seed"]) != (method, seed):
                raise InputFileError(
                    f"{fit['meta']}: a fit of {record['method']!r} with seed {record['seed']}, "
                    f"not {method!r} with seed {seed}"
                )
            records.append(record)
            if convergence_out is not None:
                traces.append(read_trace(fit["trace"]))
    if convergence_out is not None:
        write_convergence(convergence_out, convergence_summary(traces, dataset, blur, method))
    write_json(out, records)
    return records


def protocol_aligned(estimate: np.ndarray, sharp: np.ndarray) -> dict[str, Any]:
    """:func:`aligned_metrics` as the published protocol applies it (module docstring).

    Args:
        estimate: (H, W, C) float in [0, 1], C = 1 (gray) or 3 (RGB).
        sharp: (H, W, C) float in [0, 1], the reference.
    """
    quantised = np.round(np.clip(estimate, 0.0, 1.0) * 255.0) / 255.0
    if sharp.shape[2] == 1:
        return aligned_metrics(quantised[..., 0], sharp[..., 0])
    return aligned_metrics(rgb_to_y(quantised), rgb_to_y(sharp))
