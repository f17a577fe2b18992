"""The HTML report: one self-contained file (``reports/index.html``).

Every image is inlined as a base64 PNG ``data:`` URI and the CSS is inlined from
``templates/report.css``; the page loads nothing else (no scripts, fonts or remote
resources), so it works offline and can be mailed or archived as it is. The template is
``templates/index.html`` (Jinja2, autoescaped); sections carry the ids ``summary`` (the
table), ``figures``, ``grid``, ``params``, ``protocol`` and ``provenance``.

In the visual grid a blind fit's cell also shows its kernel estimate beside the blurred
image's true kernel (when it has one), each scaled to its own maximum and enlarged
without smoothing (:func:`~inrdeblur.blur.kernels.kernel_image`), with their kernel similarity
(:mod:`inrdeblur.metrics.kernels`). A scene without a sharp image (the user's photos)
shows its input, the estimates and their kernel estimates only: no reference, no error
map and no PSNR.

``provenance`` is a dict with the keys ``date`` (str), ``git_commit`` (str),
``git_dirty`` (bool) and ``versions`` (``{package: version}``); any other key is shown as
it is in the provenance section. :func:`collect_provenance` builds one.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inrdeblur import experiment, layout
from inrdeblur.blur.kernels import kernel_image, validate_kernel
from inrdeblur.blur.models import OBSERVED
from inrdeblur.data.registry import WITHOUT_SHARP, category_values
from inrdeblur.fileio import (
    InputFileError,
    encode_palette_png,
    encode_png,
    read_npz,
    write_text,
)
from inrdeblur.metrics.perceptual import lpips_help
from inrdeblur.metrics.tables import BLURRY_METHOD, METRIC_COLUMNS, SUMMARY_COLUMNS
from inrdeblur.provenance import package_versions
from inrdeblur.records.scene import observed_part
from inrdeblur.report.figures import FIGURE_CAPTIONS
from inrdeblur.report.published import PublishedRow, load_published, matching_rows

__all__ = [
    "ERROR_MAP_VMAX",
    "GridRow",
    "REPORT_PACKAGES",
    "StudySection",
    "area_downscale",
    "build_grid",
    "category_tables",
    "collect_provenance",
    "png_data_uri",
    "render_report",
    "thumbnail_factor",
]

#: Error maps saturate (white) at this absolute luma difference.
ERROR_MAP_VMAX = 0.2
#: Kernels of the visual grid are enlarged by the integer factor that brings the largest
#: kernel of a row closest to this many pixels without exceeding it (at least 1).
KERNEL_PX = 64
#: Packages whose versions :func:`collect_provenance` records.
REPORT_PACKAGES = (
    "inrdeblur",
    "numpy",
    "scipy",
    "torch",
    "lpips",
    "scikit-image",
    "pandas",
    "matplotlib",
    "seaborn",
    "jinja2",
    "snakemake",
    "dvc",
)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class GridRow:
    """One row of the visual grid: a scene, one seed, and every method's estimate.

    Images are ``(H, W, C)`` float in [0, 1] (C = 1 or 3); ``sharp`` is None for a scene
    without ground truth (the user's photos). ``methods`` lists the columns in order; a
    method without an estimate for this seed is absent from ``estimates`` (empty cell).
    ``kernels`` holds the (k_h, k_w) kernel estimates of the blind fits among them,
    ``true_kernel`` the blurred image's kernel (a uniform blur), else None.
    """

    dataset: str
    blur: str
    scene: str
    seed: int
    methods: list[str]
    sharp: np.ndarray | None
    blurry: np.ndarray
    estimates: dict[str, np.ndarray] = field(default_factory=dict)
    kernels: dict[str, np.ndarray] = field(default_factory=dict)
    true_kernel: np.ndarray | None = None


def _load_image(
    path: Path,
    key: str,
    shape: tuple[int, ...] | None = None,
    data: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Array ``key`` of an ``.npz`` as an ``(H, W, C)`` float32 image, C = 1 (gray) or 3;
    errors name the file.

    ``data``: the arrays of ``path`` when the caller has already read them.
    """
    if data is None:
        data = read_npz(path)
    if key not in data:
        raise InputFileError(f"{path}: missing array '{key}' (has {', '.join(sorted(data))})")
    image = np.asarray(data[key], dtype=np.float32)
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise InputFileError(f"{path}: '{key}' must be (H, W, 1) or (H, W, 3), got {image.shape}")
    if shape is not None and image.shape != shape:
        raise InputFileError(f"{path}: '{key}' has shape {image.shape}, the scene {shape}")
    if not np.all(np.isfinite(image)):
        raise InputFileError(f"{path}: '{key}' holds non-finite values")
    return image


def _load_kernel(path: Path, data: dict[str, np.ndarray]) -> np.ndarray:
    """The ``kernel`` array of an ``.npz`` already read as ``data``; errors name the file."""
    try:
        return validate_kernel(data["kernel"], f"{path}: 'kernel'")
    except ValueError as err:
        raise InputFileError(str(err)) from err


def build_grid(
    metrics: pd.DataFrame, root: str | os.PathLike = ".", max_scenes_per_dataset: int = 8
) -> list[GridRow]:
    """Load the images of the visual grid for the fits listed in ``metrics``.

    Per dataset the first ``max_scenes_per_dataset`` scenes (sorted ids) are shown, for
    every blur. Per (dataset, blur, scene) the smallest seed present is used. ``sharp``
    comes from the scene record (None when it has none: the user's photos), ``blurry`` and
    the true kernel (if any) from the blurred record, and each estimate (clipped to
    [0, 1]) and a blind fit's kernel estimate from ``<fit dir>/estimate.npz``; paths from
    :mod:`inrdeblur.layout`.

    Raises:
        InputFileError: a file is missing or holds an array of the wrong shape.
    """
    missing = [c for c in METRIC_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics table lacks column(s) {', '.join(missing)}")
    rows: list[GridRow] = []
    for dataset, by_dataset in metrics.groupby("dataset", sort=True):
        scenes = sorted(by_dataset["scene"].unique())[:max_scenes_per_dataset]
        for blur, by_blur in by_dataset.groupby("blur", sort=True):
            methods = sorted(by_blur["method"].unique())
            for scene in scenes:
                fits = by_blur[by_blur["scene"] == scene]
                if fits.empty:
                    continue
                seed = int(fits["seed"].min())
                scene_path = layout.scene_path(dataset, scene, root)
                scene_arrays = read_npz(scene_path)
                sharp = (
                    _load_image(scene_path, "sharp", data=scene_arrays)
                    if "sharp" in scene_arrays
                    else None  # no ground truth (the user's photos)
                )
                blurred_path = layout.blurred_path(blur, dataset, scene, root)
                record = read_npz(blurred_path)
                crop = json.loads(str(record["attrs"])).get("crop") if "attrs" in record else None
                sharp = observed_part(sharp, crop)
                shape = None if sharp is None else sharp.shape
                blurry = _load_image(blurred_path, "blurry", shape, data=record)
                true_kernel = _load_kernel(blurred_path, record) if "kernel" in record else None
                estimates, kernels = {}, {}
                for method in sorted(fits.loc[fits["seed"] == seed, "method"]):
                    path = layout.fit_dir(method, blur, dataset, scene, seed, root) / "estimate.npz"
                    fit = read_npz(path)
                    estimate = _load_image(path, "estimate", blurry.shape, data=fit)
                    estimates[method] = np.clip(estimate, 0.0, 1.0)
                    if "kernel" in fit:
                        kernels[method] = _load_kernel(path, fit)
                rows.append(
                    GridRow(
                        dataset,
                        blur,
                        scene,
                        seed,
                        methods,
                        sharp,
                        blurry,
                        estimates,
                        kernels,
                        true_kernel,
                    )
                )
    return rows


def png_data_uri(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` of a float image in [0, 1] ((H, W), (H, W, 1) or
    (H, W, 3)).

    Values are clipped to [0, 1] and rounded to 8 bits, as :func:`fileio.write_png` does.
    """
    return _png_bytes_uri(encode_png(image, optimize=True))


def _png_bytes_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --- formatting -------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _fmt(value: Any, decimals: int) -> str:
    return f"{float(value):.{decimals}f}" if _is_number(value) else "—"


def _time_decimals(value: float) -> int:
    """Decimals for a time in seconds: 3 significant digits, at most 2 decimals."""
    magnitude = abs(float(value))
    return 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2


def _mean_std(mean: Any, std: Any, decimals: int) -> str:
    """``"m ± s"``; just ``"m"`` when the std is NaN (one value); ``"—"`` when no mean."""
    if not _is_number(mean):
        return "—"
    if not _is_number(std):
        return _fmt(mean, decimals)
    return f"{_fmt(mean, decimals)} ± {_fmt(std, decimals)}"


def _counts(row: dict[str, Any]) -> str:
    """The summary's "Scenes × seeds" cell: ``"8 × 2"``, the fits in brackets when some
    are missing (``"8 × 2 (15 fits)"``); the blurry input has one value per scene."""
    if row["method"] == BLURRY_METHOD:
        return str(int(row["n_scenes"]))
    scenes, seeds, fits = int(row["n_scenes"]), int(row["n_seeds"]), int(row["n_fits"])
    text = f"{scenes} × {seeds}"
    return text if fits == scenes * seeds else f"{text} ({fits} fits)"


def _summary_rows(summary: pd.DataFrame) -> tuple[list[dict[str, Any]], list[str]]:
    """Display rows of the summary table and the distinct LPIPS-missing reasons."""
    missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"summary table lacks column(s) {', '.join(missing)}")
    reasons: list[str] = []
    best: dict[tuple[str, str, str], float] = {}
    methods = summary[summary["method"] != BLURRY_METHOD]
    for (dataset, blur), group in methods.groupby(["dataset", "blur"], sort=False):
        for column, pick in (
            ("psnr_mean", max),
            ("ssim_mean", max),
            ("lpips_mean", min),
            ("error_ratio_mean", min),
            ("kernel_similarity_mean", max),
        ):
            values = [v for v in group[column] if _is_number(v)]
            if len(group) > 1 and values:
                best[(dataset, blur, column)] = pick(values)
    rows = []
    for row in summary.to_dict("records"):
        cells: dict[str, Any] = {
            "dataset": row["dataset"],
            "blur": row["blur"],
            "method": row["method"],
            "is_input": row["method"] == BLURRY_METHOD,
            "is_published": False,
            "source": None,
            "n_scenes": int(row["n_scenes"]),
            "n_seeds": int(row["n_seeds"]) if row["method"] != BLURRY_METHOD else "—",
            "n_fits": int(row["n_fits"]) if row["method"] != BLURRY_METHOD else "—",
            "counts": _counts(row),
            "psnr": _mean_std(row["psnr_mean"], row["psnr_std"], 2),
            "psnr_gain": _mean_std(row["psnr_gain_mean"], row["psnr_gain_std"], 2),
            "ssim": _mean_std(row["ssim_mean"], row["ssim_std"], 4),
            "time": _mean_std(
                row["time_s_mean"],
                row["time_s_std"],
                _time_decimals(row["time_s_mean"]) if _is_number(row["time_s_mean"]) else 0,
            ),
            "size": _mean_std(row["size_mb_mean"], row["size_mb_std"], 2),
            "psnr_aligned": _mean_std(row["psnr_aligned_mean"], row["psnr_aligned_std"], 2),
            "ssim_aligned": _mean_std(row["ssim_aligned_mean"], row["ssim_aligned_std"], 4),
            "error_ratio": _mean_std(row["error_ratio_mean"], row["error_ratio_std"], 3),
            "kernel_similarity": _mean_std(
                row["kernel_similarity_mean"], row["kernel_similarity_std"], 3
            ),
            "lpips_missing": None,
        }
        if row["lpips_status"] == "ok":
            cells["lpips"] = _mean_std(row["lpips_mean"], row["lpips_std"], 4)
        else:
            reason = str(row["lpips_status"]).removeprefix("missing:").strip() or "no reason"
            if reason not in reasons:
                reasons.append(reason)
            cells["lpips"] = "missing"
            cells["lpips_missing"] = reasons.index(reason) + 1
        for key in ("psnr", "ssim", "lpips", "error_ratio", "kernel_similarity"):
            column = f"{key}_mean"
            target = best.get((row["dataset"], row["blur"], column))
            cells[f"{key}_best"] = (
                not cells["is_input"] and target is not None and row[column] == target
            )
        rows.append(cells)
    return rows, reasons


def _with_published(
    rows: list[dict[str, Any]],
    params: dict[str, Any],
    show_aligned: bool,
    published: list[PublishedRow],
    categories: frozenset[str] = frozenset(),
) -> tuple[list[dict[str, Any]], list[str]]:
    """``rows`` with, after each (dataset, blur) group, the published rows measured on the
    same data and forward model (:func:`~inrdeblur.report.published.matching_rows`), and
    the numbered sources (citation, table and protocol note) they refer to."""
    blurs = params.get("blurs") or {}
    sources: list[str] = []
    out: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        out.append(row)
        following = rows[index + 1] if index + 1 < len(rows) else None
        last = following is None or (following["dataset"], following["blur"]) != (
            row["dataset"],
            row["blur"],
        )
        settings = blurs.get(row["blur"])
        if not last or not isinstance(settings, dict):
            continue
        # with a per-category table, the papers' per-category rows are shown there
        skip = categories | category_values(row["dataset"]) if categories else frozenset()
        for pub in matching_rows(row["dataset"], settings, published):
            if pub.subset.lower() in skip:
                continue
            number = _source_number(pub, sources)
            aligned = pub.aligned and show_aligned
            psnr, ssim = _fmt(pub.psnr, 2), _fmt(pub.ssim, 4)
            lpips = pub.lpips_x1e4 * 1e-4 if _is_number(pub.lpips_x1e4) else math.nan
            out.append(
                {
                    "dataset": row["dataset"],
                    "blur": row["blur"],
                    "method": f"published: {pub.label}",
                    "is_input": False,
                    "is_published": True,
                    "source": number,
                    "n_scenes": "—",
                    "n_seeds": "—",
                    "n_fits": "—",
                    "counts": "—",
                    "psnr": "—" if aligned else psnr,
                    "psnr_gain": "—",
                    "ssim": "—" if aligned else ssim,
                    "lpips": f"{lpips:.2e}" if _is_number(lpips) else "—",
                    "lpips_missing": None,
                    "psnr_aligned": psnr if aligned else "—",
                    "ssim_aligned": ssim if aligned else "—",
                    # the paper's error ratio: against its own known-kernel deconvolution
                    "error_ratio": (
                        _fmt(pub.error_ratio, 3) if aligned and _is_number(pub.error_ratio) else "—"
                    ),
                    "kernel_similarity": "—",
                    "time": _fmt(pub.time_s, _time_decimals(pub.time_s)),
                    "size": _fmt(pub.size_mb, 2),
                    "psnr_best": False,
                    "ssim_best": False,
                    "lpips_best": False,
                    "error_ratio_best": False,
                    "kernel_similarity_best": False,
                }
            )
    return out, sources


def _forward_model_rows(forward: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Display rows of the blur-formation summary (blur model x dataset); best PSNR and
    SSIM per dataset marked."""
    if forward is None or forward.empty:
        return []
    best = {
        (dataset, column): group[column].max()
        for dataset, group in forward.groupby("dataset")
        for column in ("psnr_mean", "ssim_mean")
        if len(group) > 1
    }
    rows = []
    for row in forward.to_dict("records"):
        rows.append(
            {
                "dataset": row["dataset"],
                "blur": row["blur"],
                "model": row["model"],
                "n_scenes": int(row["n_scenes"]),
                "psnr": _mean_std(row["psnr_mean"], row["psnr_std"], 2),
                "ssim": _mean_std(row["ssim_mean"], row["ssim_std"], 4),
                "build": _mean_std(row["build_time_s_mean"], row["build_time_s_std"], 3),
                "apply": _mean_std(row["apply_time_s_mean"], row["apply_time_s_std"], 3),
                "size": _mean_std(row["operator_mb_mean"], row["operator_mb_std"], 2),
                "psnr_best": best.get((row["dataset"], "psnr_mean")) == row["psnr_mean"],
                "ssim_best": best.get((row["dataset"], "ssim_mean")) == row["ssim_mean"],
            }
        )
    return rows


def _summary_notes(summary: pd.DataFrame) -> list[str]:
    """Warnings about comparability: unequal scene sets or incomplete seeds."""
    notes = []
    methods = summary[summary["method"] != BLURRY_METHOD]
    for (dataset, blur), group in methods.groupby(["dataset", "blur"], sort=False):
        if group["n_scenes"].nunique() > 1:
            counts = ", ".join(
                f"{m}: {n}" for m, n in zip(group["method"], group["n_scenes"], strict=True)
            )
            notes.append(
                f"{dataset} / {blur}: methods were evaluated on different numbers of scenes "
                f"({counts}); their means are not directly comparable."
            )
        incomplete = group[group["n_fits"] != group["n_scenes"] * group["n_seeds"]]
        for row in incomplete.itertuples(index=False):
            notes.append(
                f"{dataset} / {blur} / {row.method}: {row.n_fits} fits for {row.n_scenes} "
                f"scenes x {row.n_seeds} seeds; some scenes have fewer seeds and weigh less."
            )
    return notes


def _read_figures(figures_dir: Path) -> list[dict[str, str]]:
    """Known figures in report order with their captions, then any other PNG by name."""
    figures_dir = Path(figures_dir)
    found = sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []
    by_name = {path.stem: path for path in found}
    names = [n for n in FIGURE_CAPTIONS if n in by_name] + sorted(
        n for n in by_name if n not in FIGURE_CAPTIONS
    )
    out = []
    for name in names:
        png = by_name[name].read_bytes()
        if not png.startswith(_PNG_MAGIC):
            raise InputFileError(f"{by_name[name]}: not a PNG file")
        out.append(
            {
                "name": name,
                "caption": FIGURE_CAPTIONS.get(name, name),
                "src": _png_bytes_uri(png),
            }
        )
    return out


def thumbnail_factor(shape: tuple[int, ...], max_px: int) -> int:
    """The smallest integer factor that brings the longer side of ``shape`` (H, W, ...)
    down to ``max_px`` or less (1: the image is embedded as it is)."""
    return max(1, math.ceil(max(shape[0], shape[1]) / max_px))


def area_downscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of every ``factor`` x ``factor`` block of an ``(H, W)`` or ``(H, W, C)`` image,
    after dropping the last rows and columns that do not fill a block.

    >>> area_downscale(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    if factor == 1:
        return image
    h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, *image.shape[2:])
    return blocks.mean(axis=(1, 3))


def _kernel_scale(kernels: list[np.ndarray]) -> int:
    """The enlargement of a row's kernels: one factor for all, so their taps match
    (:data:`KERNEL_PX`)."""
    if not kernels:
        return 1
    return max(1, KERNEL_PX // max(max(k.shape) for k in kernels))


def _grid_tables(
    grid: list[GridRow], metrics: pd.DataFrame, thumbnail_px: int = 320
) -> list[dict[str, Any]]:
    """Grid rows grouped by (dataset, blur), with data URIs and PSNR labels; images whose
    longer side exceeds ``thumbnail_px`` are embedded downscaled by an integer factor
    (block means; the error map is the block mean of the full-resolution error). A blind
    fit's cell also gets its kernel estimate and the true kernel
    (:func:`~inrdeblur.blur.kernels.kernel_image`)
    and their similarity from ``metrics`` (``—`` when it has none). Rows without a sharp
    image have no reference, error maps or PSNR (``None``); a table whose rows all lack
    one (a dataset of photos) drops those columns (``has_sharp`` false)."""
    from inrdeblur.metrics.errormap import error_indices, error_map

    psnr = {
        (r.dataset, r.blur, r.method, r.scene, int(r.seed)): (r.psnr, r.psnr_blurry)
        for r in metrics.itertuples(index=False)
    }
    similarity = (
        {
            (r.dataset, r.blur, r.method, r.scene, int(r.seed)): r.kernel_similarity
            for r in metrics.itertuples(index=False)
        }
        if "kernel_similarity" in metrics.columns
        else {}
    )
    blurry = {(r.dataset, r.blur, r.scene): r.psnr_blurry for r in metrics.itertuples(index=False)}
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for row in grid:
        table = tables.setdefault(
            (row.dataset, row.blur),
            {
                "dataset": row.dataset,
                "blur": row.blur,
                "methods": [],
                "rows": [],
                "has_sharp": False,
            },
        )
        table["has_sharp"] |= row.sharp is not None
        for method in row.methods:
            if method not in table["methods"]:
                table["methods"].append(method)
        blurry_psnr = blurry.get((row.dataset, row.blur, row.scene))
        factor = thumbnail_factor(row.blurry.shape, thumbnail_px)
        shown = list(row.kernels.values())
        if row.kernels and row.true_kernel is not None:
            shown.append(row.true_kernel)
        scale = _kernel_scale(shown)
        true_kernel = (
            png_data_uri(kernel_image(row.true_kernel, scale))
            if row.kernels and row.true_kernel is not None
            else None
        )
        cells = {}
        for method, estimate in row.estimates.items():
            key = (row.dataset, row.blur, method, row.scene, row.seed)
            value = psnr.get(key, (None, None))[0]
            error_uri = None  # no error map without a sharp image
            if row.sharp is not None:
                error = area_downscale(error_map(estimate, row.sharp), factor)
                indices = error_indices(error, vmax=ERROR_MAP_VMAX)
                error_uri = _png_bytes_uri(encode_palette_png(*indices))
            kernel = row.kernels.get(method)
            cells[method] = {
                "estimate": png_data_uri(area_downscale(estimate, factor)),
                "error": error_uri,
                "psnr": None if row.sharp is None else _fmt(value, 2),
                "kernel": None if kernel is None else png_data_uri(kernel_image(kernel, scale)),
                "true_kernel": None if kernel is None else true_kernel,
                "kernel_similarity": _fmt(similarity.get(key), 3),
            }
        sharp_uri = None if row.sharp is None else png_data_uri(area_downscale(row.sharp, factor))
        table["rows"].append(
            {
                "scene": row.scene,
                "seed": row.seed,
                "shape": f"{row.blurry.shape[1]}×{row.blurry.shape[0]}",
                "factor": factor,
                "width": int(row.blurry.shape[1]) // factor,
                "sharp": sharp_uri,
                "blurry": png_data_uri(area_downscale(row.blurry, factor)),
                "blurry_psnr": None if row.sharp is None else _fmt(blurry_psnr, 2),
                "cells": cells,
            }
        )
    for table in tables.values():
        table["thumb_px"] = _thumb_px(len(table["methods"]), table["has_sharp"])
        for row in table["rows"]:  # nearest-neighbour only where thumbnails enlarge
            row["pixelated"] = row["width"] < table["thumb_px"]
    return list(tables.values())


def _thumb_px(n_methods: int, has_sharp: bool = True) -> int:
    """Displayed thumbnail width (CSS px) so a grid of ``n_methods`` fits ~1150 px (a
    reference and an error map per method where there is a sharp image)."""
    columns = 2 + 2 * n_methods if has_sharp else 1 + n_methods
    return int(np.clip((1150 - 90) / columns - 10, 120, 168))


def _error_colorbar() -> str:
    """Data URI of the error-map colour scale, 0 (left) to ``ERROR_MAP_VMAX`` (right)."""
    from inrdeblur.metrics.errormap import error_map_rgb

    ramp = np.repeat(np.linspace(0.0, ERROR_MAP_VMAX, 256)[None, :, None], 3, axis=2)
    ramp = np.repeat(ramp, 10, axis=0)
    return png_data_uri(error_map_rgb(ramp, np.zeros_like(ramp), vmax=ERROR_MAP_VMAX))


def _params_yaml(params: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(params, sort_keys=False, allow_unicode=True, default_flow_style=False)


def break_before_std(text: Any) -> str:
    """``"m ± s"`` with a non-breaking space after the ±, so that a narrow table cell wraps
    only between the mean and ``"± s"``."""
    return str(text).replace(" ± ", " ±\u00a0")


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("inrdeblur.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["break_before_std"] = break_before_std
    return env


def observation_rows(params: dict[str, Any], root: str | os.PathLike = ".") -> list[dict[str, str]]:
    """What every dataset x blur of the studies observes and how it is scored: the
    observation's source, channels (read from its first blurred record under ``root``),
    noise, boundary and the pixels the metrics compare."""
    aligned_mode = params.get("metrics", {}).get("aligned", "auto")
    rows = []
    order = experiment.datasets(params)
    for blur, dataset in sorted(experiment.blur_datasets(params), key=lambda p: order.index(p[1])):
        settings = params["blurs"][blur]
        stored = settings["model"] == OBSERVED or settings.get("observation") == "scene"
        records = sorted(
            Path(root, layout.BLURRED_DIR.format(blur=blur, dataset=dataset)).glob("*.npz")
        )
        channels = "unknown"
        if records:
            c = int(read_npz(records[0])["blurry"].shape[2])
            channels = f"{c} ({'gray' if c == 1 else 'RGB'})"
        valid = settings.get("boundary") == "valid"
        aligned = aligned_mode == "always" or (aligned_mode == "auto" and stored)
        scored = "the matching centre of the sharp image" if valid else "the whole image"
        if aligned:
            scored += "; aligned: after the best sub-pixel shift, 15 px border crop"
        if dataset in WITHOUT_SHARP:
            scored = "not scored: no sharp image"
        if settings.get("boundary") is None:
            boundary = "none (no operator)"
        else:
            boundary = "none ('valid')" if valid else str(settings["boundary"])
        rows.append(
            {
                "dataset": dataset,
                "blur": blur,
                "model": settings["model"],
                "observation": "the scene's stored blurry image" if stored else "synthesized",
                "channels": channels,
                "noise": (
                    "as recorded"
                    if stored
                    else f"Gaussian, std {settings['noise_std']:g}, one draw per channel"
                ),
                "boundary": boundary,
                "scored": scored,
            }
        )
    return rows


def method_rows(params: dict[str, Any]) -> list[dict[str, str]]:
    """Every method of the studies, its type and what its settings were tuned on (none
    when ``params`` has no ``studies``, as for a report of bare tables)."""
    methods = params.get("methods", {})
    two_stage = params.get("two_stage", {})
    rows = []
    for name in experiment.methods(params) if "studies" in params else []:
        if name in methods:
            kind = str(methods[name].get("type", "inr"))
            tuned_on = str(methods[name].get("tuned_on") or "not stated")
        elif name in two_stage:
            blind, non_blind = two_stage[name]["blind"], two_stage[name]["non_blind"]
            kind = f"two_stage: {blind} -> {non_blind}"
            tuned_on = f"as {blind} and {non_blind}"
        else:
            continue
        rows.append({"method": name, "type": kind, "tuned_on": tuned_on})
    return rows


def _source_number(pub: PublishedRow, sources: list[str]) -> int:
    """The footnote number of ``pub``'s source in ``sources`` (appended when new)."""
    source = f"{pub.citation}, Table {pub.table}" + (
        f": {pub.protocol_note}" if pub.protocol_note else ""
    )
    if source not in sources:
        sources.append(source)
    return sources.index(source) + 1


def _category_cells(frame: pd.DataFrame, categories: list[str], psnr: str, ssim: str) -> list[str]:
    """``"PSNR / SSIM"`` means of ``frame`` per category, then over all of it."""
    groups = [frame[frame["category"] == c] for c in categories] + [frame]
    return [f"{g[psnr].mean():.2f} / {g[ssim].mean():.4f}" if len(g) else "—" for g in groups]


def category_tables(
    metrics: pd.DataFrame,
    params: dict[str, Any],
    published: list[PublishedRow],
    sources: list[str],
) -> list[dict[str, Any]]:
    """Per (dataset, blur) whose scenes have categories (a Lai image category, a
    VirtualCMB motion group): PSNR / SSIM means per category and over all, one row per
    method after the blurry input, then the published figures given per category for the
    same data and forward model (a paper's "Average" under "all"). ``sources`` is the
    section's footnote list, extended with new sources."""
    if "category" not in metrics.columns:
        return []
    blurs = params.get("blurs") or {}
    tables = []
    for (dataset, blur), data in metrics.groupby(["dataset", "blur"], sort=False):
        data = data[data["category"] != ""]
        if data.empty:
            continue
        categories = list(dict.fromkeys(data.sort_values("scene")["category"]))
        blurry = data.drop_duplicates("scene")
        # Where the protocol aligns (stored observations), the aligned figures: the ones
        # the papers give for such data.
        aligned = bool(data["psnr_aligned"].notna().all())
        ours, inputs = (
            (("psnr_aligned", "ssim_aligned"), ("psnr_aligned_blurry", "ssim_aligned_blurry"))
            if aligned
            else (("psnr", "ssim"), ("psnr_blurry", "ssim_blurry"))
        )
        rows = [
            {
                "method": BLURRY_METHOD,
                "kind": "input",
                "sources": [],
                "cells": _category_cells(blurry, categories, *inputs),
            }
        ]
        for method, group in data.groupby("method", sort=True):
            cells = _category_cells(group, categories, *ours)
            rows.append({"method": method, "kind": "method", "sources": [], "cells": cells})
        settings = blurs.get(blur)
        by_method: dict[str, dict[str, PublishedRow]] = {}
        for pub in matching_rows(dataset, settings, published) if settings else []:
            if pub.aligned != aligned:
                continue
            by_method.setdefault(f"{pub.method} ({pub.task.replace('_', ' ')})", {})[
                pub.subset.lower()
            ] = pub
        for label, subsets in by_method.items():
            columns = [*categories, "average"]
            if not any(c in subsets for c in categories):
                continue
            pubs = [subsets.get(c) for c in columns]
            numbers = {_source_number(p, sources) for p in pubs if p is not None}
            rows.append(
                {
                    "method": f"published: {label}",
                    "kind": "published",
                    "sources": sorted(numbers),
                    "cells": [
                        f"{_fmt(p.psnr, 2)} / {_fmt(p.ssim, 4)}" if p is not None else "—"
                        for p in pubs
                    ],
                }
            )
        tables.append(
            {
                "dataset": dataset,
                "blur": blur,
                "aligned": aligned,
                "categories": categories,
                "n_scenes": {c: int((blurry["category"] == c).sum()) for c in categories},
                "rows": rows,
            }
        )
    return tables


@dataclass
class StudySection:
    """One study's part of the report: its summary table (with the published rows that
    match it), blur-formation table and figures.

    ``name`` is the study's key in ``studies`` (empty for a report of everything in one
    section); ``figures_dir`` holds its figure PNGs (:func:`figures.write_figures`);
    ``metrics``, the study's fits, gives the per-category tables (none when None);
    ``error_ratio_reference`` names the method the summary's error ratios are against
    (``studies.<name>.error_ratio_reference``), None when there are none.
    """

    name: str
    title: str
    summary: pd.DataFrame
    figures_dir: Path
    forward_models: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    error_ratio_reference: str | None = None


def _section_context(
    section: StudySection, params: dict[str, Any], published: list[PublishedRow]
) -> dict[str, Any]:
    """What the template shows of one study section (``published``: the package's
    published figures)."""
    summary_rows, lpips_reasons = _summary_rows(section.summary)
    show_aligned = bool(section.summary["psnr_aligned_mean"].notna().any())
    show_error_ratio = bool(section.summary["error_ratio_mean"].notna().any())
    show_kernel_similarity = bool(section.summary["kernel_similarity_mean"].notna().any())
    categories = frozenset(
        () if section.metrics is None else set(section.metrics.get("category", [])) - {""}
    )
    summary_rows, published_sources = _with_published(
        summary_rows, params, show_aligned, published, categories
    )
    by_category = (
        []
        if section.metrics is None
        else category_tables(section.metrics, params, published, published_sources)
    )
    suffix = f"-{section.name}" if section.name else ""
    return {
        "name": section.name,
        "title": section.title,
        "id": f"study{suffix}",
        "suffix": suffix,
        "summary_rows": summary_rows,
        "show_aligned": show_aligned,
        "show_error_ratio": show_error_ratio,
        "show_kernel_similarity": show_kernel_similarity,
        "has_psnr": section.summary.empty or bool(section.summary["psnr_mean"].notna().any()),
        "error_ratio_reference": section.error_ratio_reference or "the reference method",
        "n_columns": 8 + 2 * show_aligned + show_error_ratio + show_kernel_similarity,
        "published_sources": published_sources,
        "lpips_reasons": lpips_reasons,
        "lpips_help": lpips_help(lpips_reasons),
        "summary_notes": _summary_notes(section.summary),
        "forward_rows": _forward_model_rows(section.forward_models),
        "category_tables": by_category,
        "figures": _read_figures(section.figures_dir),
    }


#: decimals and unit of each compared quantity in the changes table
_CHANGE_FORMAT = {
    "psnr": (2, " dB"),
    "psnr_aligned": (2, " dB"),
    "ssim": (4, ""),
    "lpips": (4, ""),
    "time_s": (1, " s"),
}


def _change_row(row: dict[str, Any]) -> dict[str, Any]:
    """Display cells of one :func:`~inrdeblur.report.changes.metric_changes` row."""
    decimals, unit = _CHANGE_FORMAT.get(row["quantity"], (4, ""))
    change = row["change"]
    if isinstance(change, str):
        shown = change
    else:
        shown = f"{change:+.{decimals}f}{unit}"
    better = None
    if not isinstance(change, str) and row["quantity"] != "time_s":
        better = (change < 0) if row["quantity"] == "lpips" else (change > 0)
    return {
        **{k: row[k] for k in ("dataset", "blur", "method", "quantity")},
        "old": _fmt(row["old"], decimals),
        "new": _fmt(row["new"], decimals),
        "change": shown,
        "better": better,
    }


def render_report(
    out_html: str | os.PathLike,
    figures_dir: str | os.PathLike,
    metrics: pd.DataFrame,
    summary: pd.DataFrame,
    grid: list[GridRow],
    params: dict[str, Any],
    provenance: dict[str, Any],
    forward_models: pd.DataFrame | None = None,
    title: str = "inrdeblur benchmark report",
    observations: list[dict[str, str]] | None = None,
    studies: list[StudySection] | None = None,
    changes: list[dict[str, Any]] | None = None,
    thumbnail_px: int = 320,
    kernel_space: dict[str, Any] | None = None,
) -> None:
    """Write the self-contained HTML report to ``out_html`` atomically.

    Args:
        out_html: destination, normally :data:`inrdeblur.layout.REPORT_HTML`.
        figures_dir: folder of the figure PNGs (:func:`figures.write_figures`); every
            ``*.png`` there is inlined, known figures first with their captions.
        metrics: long table of :func:`tables.metrics_table` (PSNR labels of the grid).
        summary: table of :func:`tables.summary_table`, shown as the summary table.
        grid: rows of :func:`build_grid`.
        params: the parameters, shown as YAML.
        provenance: ``date``, ``git_commit``, ``git_dirty``, ``versions`` (module doc).
        forward_models: summary of the blur-formation experiment
            (:func:`inrdeblur.studies.blur_formation.forward_model_tables`), or None.
        observations: :func:`observation_rows` of the studies, for the protocol.
        studies: one section per study; when given, ``summary``, ``forward_models`` and
            ``figures_dir`` are not shown (each section has its own). None: one section
            of ``summary``, ``forward_models`` and the figures of ``figures_dir``.
        changes: :func:`inrdeblur.report.changes.metric_changes` against the committed
            results, or None when there are none to compare with (no section).
        thumbnail_px: longest side of the grid's embedded images; larger ones are
            downscaled by an integer factor (``report.thumbnail_px``).
        kernel_space: :func:`inrdeblur.report.build.kernel_space_context`, or None (no
            section).
    """
    if studies is None:
        studies = [StudySection("", "Summary", summary, Path(figures_dir), forward_models, metrics)]
    published = load_published()
    versions = dict(provenance.get("versions") or {})
    extra = {
        k: v
        for k, v in provenance.items()
        if k not in ("date", "git_commit", "git_dirty", "versions")
    }
    dirty = provenance.get("git_dirty")
    context = {
        "title": title,
        "css": resources.files("inrdeblur.report")
        .joinpath("templates/report.css")
        .read_text(encoding="utf-8"),
        "date": str(provenance.get("date", "unknown")),
        "git_commit": str(provenance.get("git_commit") or "unknown"),
        "git_dirty": None if dirty is None else bool(dirty),
        "versions": versions,
        "provenance_extra": {k: str(v) for k, v in extra.items()},
        "sections": [_section_context(section, params, published) for section in studies],
        "changes": None if changes is None else [_change_row(row) for row in changes],
        "grid_tables": _grid_tables(grid, metrics, thumbnail_px),
        "thumbnail_px": thumbnail_px,
        "error_vmax": ERROR_MAP_VMAX,
        "error_colorbar": _error_colorbar() if grid else None,
        "params_yaml": _params_yaml(params),
        "observation_rows": observations or [],
        "method_rows": method_rows(params),
        "kernel_space": _kernel_space_context(kernel_space),
    }
    html = _environment().get_template("index.html").render(**context)
    write_text(out_html, html)


def _kernel_space_context(facts: dict[str, Any] | None) -> dict[str, Any] | None:
    """The kernel-space section's cells: formatted facts and the figure as a data URI."""
    if facts is None:
        return None
    psnr = facts["final_psnr"]
    return {
        "rows": [
            ("networks", f"{facts['size']} ({facts['parameters']:,} parameters)"),
            ("weights", "trained here" if facts["weights"] == "trained" else facts["weights"]),
            ("training images", str(facts["images"])),
            ("iterations", f"{facts['iterations']:,}"),
            ("time", f"{facts['time_s']:.0f} s"),
            ("last batch's re-synthesis PSNR", "—" if psnr is None else f"{psnr:.2f} dB"),
            ("blur retrieval on held-out scenes", _retrieval_cell(facts.get("retrieval"))),
        ],
        "figure": None if facts["figure"] is None else _png_bytes_uri(facts["figure"]),
        "caption": facts["caption"],
    }


def _retrieval_cell(retrieval: dict[str, Any] | None) -> str:
    """'A(x, E(x, y)) m ± s dB against y; x itself m ± s dB (n pairs, k scenes)'."""
    if not retrieval:
        return "not measured (kernel_space.held_out: 0)"
    scenes = len(retrieval["scenes"])
    return (
        f"A(x, E(x, y)) {retrieval['psnr_mean']:.2f} ± {retrieval['psnr_std']:.2f} dB "
        f"against y; the sharp x itself {retrieval['baseline_mean']:.2f} ± "
        f"{retrieval['baseline_std']:.2f} dB ({retrieval['n_pairs']} pairs, "
        f"{scenes} scene{'' if scenes == 1 else 's'})"
    )


def collect_provenance(root: str | os.PathLike = ".") -> dict[str, Any]:
    """Date (UTC, ISO 8601), git commit and dirty flag of ``root``, and package versions.

    Git fields are ``"unknown"`` / ``None`` outside a git checkout; a package that is not
    installed is listed as ``"not installed"``.
    """

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    versions = package_versions(REPORT_PACKAGES)
    return {
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "git_commit": commit or "unknown",
        "git_dirty": None if status is None else bool(status),
        "versions": versions,
    }
