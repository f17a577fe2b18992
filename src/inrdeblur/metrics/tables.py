"""Result tables: per-fit metrics, per-method summary and the DVC metrics file.

Input contract: one record per fit, as the evaluate stage writes it to
``results/metrics/<method>/<blur>/<dataset>/<scene>/seed<k>.json``:

================  =========  ======================================================
key               type       meaning
================  =========  ======================================================
dataset, blur,    str        which fit (``scene`` is a string id, e.g. ``"0001"``)
method, scene
seed              int        fit seed
psnr, ssim        float|null estimate (clipped to [0, 1]) vs sharp, data_range 1;
                             null exactly when ``reference`` says there is none
lpips             float|null LPIPS (alex), null when it could not be computed
lpips_status      str        ``"ok"`` or ``"missing: <reason>"``
psnr_blurry,      float|null blurry input vs sharp (identical for every method and
ssim_blurry                  seed of a scene); null exactly as ``psnr``
lpips_blurry      float|null blurry input vs sharp
psnr_aligned,     float|null shift-aligned PSNR/SSIM (:mod:`inrdeblur.metrics.aligned`) of
ssim_aligned                 the estimate; optional, null or absent when not computed
psnr_aligned_     float|null the same for the blurry input
blurry, ssim_
aligned_blurry
time_s            float      fit wall time, seconds
size_mb           float      model size, MB
iterations        int        optimisation steps run
device            str        e.g. ``"cuda:0"`` or ``"cpu"``
category          str|null   the scene's category (a Lai image category, a VirtualCMB
                             motion group); optional, ``""`` in the table when none
ssd_aligned       float|null the aligned sum of squared differences (error ratios);
                             optional, null or absent when not computed
blind             bool       whether the fit estimated the kernel; optional, false
                             when absent (records from before blind methods)
kernel_similarity float|null the kernel estimate's similarity to the true kernel
                             (:mod:`inrdeblur.metrics.kernels`); null or absent when
                             the fit is not blind or the blur has no true kernel
reference         str        ``"none: <why>"`` for a scene without a sharp image (the
                             user's photos), whose reference metrics are null;
                             optional, absent otherwise; not a table column
================  =========  ======================================================

A record without a reference becomes a row whose PSNR and SSIM (its own and the blurry
input's) are NaN, so the means of its summary rows, the blurry input's too, are NaN
(shown as a dash).

A study's view of the table (:func:`study_rows`) adds ``error_ratio`` when the study
names an ``error_ratio_reference``: Levin et al.'s error ratio of every fit against the
reference method's fit of the same image (:func:`error_ratios`).

Outputs (paths from :mod:`inrdeblur.layout`):

- ``results/tables/metrics.csv``: :func:`metrics_table`, one row per fit, the columns above.
- ``results/tables/summary.csv``: :func:`summary_table`, one row per (dataset, blur,
  method) plus one ``"blurry input"`` row per (dataset, blur).
- ``results/metrics.json``: :func:`metrics_json`, the summary means for ``dvc metrics``
  (the :data:`SUMMARY_QUANTITIES`).

Floats are written with the shortest representation that reads back to the same float64
(Python's ``repr``); read the CSVs back with :func:`read_table`, which also keeps scene ids
such as ``"0001"`` as strings.
"""

from __future__ import annotations

import io
import math
import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inrdeblur.fileio import InputFileError, write_json, write_text
from inrdeblur.metrics.perceptual import lpips_help

__all__ = [
    "BLURRY_METHOD",
    "EXTRA_SUMMARY_QUANTITIES",
    "KEY_COLUMNS",
    "METRIC_COLUMNS",
    "SUMMARY_COLUMNS",
    "SUMMARY_QUANTITIES",
    "error_ratios",
    "metrics_json",
    "metrics_table",
    "read_table",
    "study_rows",
    "summary_table",
    "write_tables",
]

#: Columns that identify one fit; unique in the metrics table.
KEY_COLUMNS: tuple[str, ...] = ("dataset", "blur", "method", "scene", "seed")
#: Columns of the metrics table, in order.
METRIC_COLUMNS: tuple[str, ...] = (
    *KEY_COLUMNS,
    "psnr",
    "ssim",
    "lpips",
    "lpips_status",
    "psnr_blurry",
    "ssim_blurry",
    "lpips_blurry",
    "time_s",
    "size_mb",
    "iterations",
    "device",
    "psnr_aligned",
    "ssim_aligned",
    "psnr_aligned_blurry",
    "ssim_aligned_blurry",
    "category",
    "ssd_aligned",
    "blind",
    "kernel_similarity",
)
#: Method name of the summary rows that score the blurry input itself.
BLURRY_METHOD = "blurry input"
#: Quantities summarised as ``<name>_mean`` and ``<name>_std`` in the summary table.
SUMMARY_QUANTITIES: tuple[str, ...] = (
    "psnr",
    "ssim",
    "lpips",
    "time_s",
    "size_mb",
    "psnr_gain",
    "psnr_aligned",
    "ssim_aligned",
)
#: Quantities also summarised as ``<name>_mean`` and ``<name>_std``, but not written to
#: metrics.json: the kernel similarity (blind fits only) and the error ratio (a study's
#: view only, :func:`study_rows`; NaN without one).
EXTRA_SUMMARY_QUANTITIES: tuple[str, ...] = ("kernel_similarity", "error_ratio")
#: Columns of the summary table, in order.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "dataset",
    "blur",
    "method",
    "n_scenes",
    "n_seeds",
    "n_fits",
    *(
        f"{q}_{stat}"
        for q in (*SUMMARY_QUANTITIES, *EXTRA_SUMMARY_QUANTITIES)
        for stat in ("mean", "std")
    ),
    "lpips_status",
)

_STRING_COLUMNS = ("dataset", "blur", "method", "scene", "lpips_status", "device")
_INT_COLUMNS = ("seed", "iterations")
_FINITE_COLUMNS = ("psnr", "ssim", "psnr_blurry", "ssim_blurry", "time_s", "size_mb")
#: Columns of :data:`_FINITE_COLUMNS` that are null (NaN) in a record without a reference.
_REFERENCE_COLUMNS = ("psnr", "ssim", "psnr_blurry", "ssim_blurry")
#: How the ``reference`` of a record without a sharp image starts.
NO_REFERENCE = "none:"
_OPTIONAL_COLUMNS = ("lpips", "lpips_blurry")
#: Columns a record may omit (then NaN, as when null).
_ABSENT_OK_COLUMNS = (
    "psnr_aligned",
    "ssim_aligned",
    "psnr_aligned_blurry",
    "ssim_aligned_blurry",
    "ssd_aligned",
    "kernel_similarity",
)
#: Boolean columns a record may omit (then false).
_ABSENT_OK_BOOLS = ("blind",)
#: String columns a record may omit or leave null (then ""): the scene's category.
_ABSENT_OK_STRINGS = ("category",)
#: Largest disagreement tolerated between two records' blurry-input metrics of one scene.
_BLURRY_ATOL = 1e-6


def _describe(record: dict[str, Any], index: int) -> str:
    """Name a record in error messages: its position and its key if readable."""
    parts = [f"{k}={record[k]!r}" for k in KEY_COLUMNS if k in record]
    return f"metrics record {index} ({', '.join(parts)})"


def _check_record(record: dict[str, Any], index: int) -> dict[str, Any]:
    """Validate one record against the input contract; return it with only contract keys."""
    where = _describe(record, index)
    optional = (*_ABSENT_OK_COLUMNS, *_ABSENT_OK_STRINGS, *_ABSENT_OK_BOOLS)
    missing = [k for k in METRIC_COLUMNS if k not in record and k not in optional]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    row: dict[str, Any] = {}
    for key in _STRING_COLUMNS:
        if not isinstance(record[key], str) or not record[key]:
            raise ValueError(f"{where}: '{key}' must be a non-empty string, got {record[key]!r}")
        row[key] = record[key]
    for key in _ABSENT_OK_STRINGS:
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{where}: '{key}' must be a string or null, got {value!r}")
        row[key] = value or ""
    for key in _ABSENT_OK_BOOLS:
        value = record.get(key, False)
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"{where}: '{key}' must be true or false, got {value!r}")
        row[key] = bool(value)
    for key in _INT_COLUMNS:
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{where}: '{key}' must be an integer, got {value!r}")
        row[key] = int(value)
    reference = record.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise ValueError(f"{where}: 'reference' must be a string, got {reference!r}")
    no_reference = reference is not None and reference.startswith(NO_REFERENCE)
    for key in _FINITE_COLUMNS:
        value = record[key]
        if no_reference and key in _REFERENCE_COLUMNS:
            if value is not None:
                raise ValueError(
                    f"{where}: '{key}' is {value!r}, but 'reference' says there is none "
                    f"({reference!r}); it must be null"
                )
            row[key] = math.nan
            continue
        if value is None and key in _REFERENCE_COLUMNS:
            raise ValueError(
                f"{where}: '{key}' is null, which only a record whose 'reference' is "
                f"'{NO_REFERENCE} <why>' (no sharp image) may be"
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{where}: '{key}' must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{where}: '{key}' must be finite, got {value!r}")
        row[key] = float(value)
    for key in (*_OPTIONAL_COLUMNS, *_ABSENT_OK_COLUMNS):
        value = record.get(key)
        if value is None:
            row[key] = math.nan
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{where}: '{key}' must be a number or null, got {value!r}")
        else:
            row[key] = float(value)
    status = row["lpips_status"]
    if status != "ok" and not status.startswith("missing:"):
        raise ValueError(
            f"{where}: 'lpips_status' must be 'ok' or 'missing: <reason>', got {status!r}"
        )
    if (status == "ok") != math.isfinite(row["lpips"]):
        raise ValueError(
            f"{where}: 'lpips' is {record['lpips']!r} but 'lpips_status' is {status!r}"
        )
    if math.isfinite(row["kernel_similarity"]) and not row["blind"]:
        raise ValueError(f"{where}: 'kernel_similarity' is given but the fit is not 'blind'")
    if row["ssd_aligned"] < 0:
        raise ValueError(f"{where}: 'ssd_aligned' must be >= 0, got {record['ssd_aligned']!r}")
    if row["method"] == BLURRY_METHOD:
        raise ValueError(f"{where}: method name {BLURRY_METHOD!r} is reserved for the input")
    return row


def _empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in columns})


def _dtype(column: str) -> str:
    if column in (*_STRING_COLUMNS, *_ABSENT_OK_STRINGS):
        return "str"
    if column in _ABSENT_OK_BOOLS:
        return "bool"
    if column in (*_INT_COLUMNS, "n_scenes", "n_seeds", "n_fits"):
        return "int64"
    return "float64"


def metrics_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Long table of per-fit metrics: one row per dataset x blur x method x scene x seed.

    Args:
        records: metric records as written by the evaluate stage (module docstring).
            Keys outside the contract are dropped; a null ``lpips`` becomes NaN.

    Returns:
        DataFrame with columns :data:`METRIC_COLUMNS`, sorted by :data:`KEY_COLUMNS`
        (``seed`` numerically), with a fresh 0..n-1 index.

    Raises:
        ValueError: a record breaks the contract (the message names the record and the
            key), or two records share a key (the message names the duplicate).
    """
    rows = [_check_record(record, i) for i, record in enumerate(records)]
    if not rows:
        return _empty_frame(METRIC_COLUMNS)
    table = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    duplicated = table.duplicated(list(KEY_COLUMNS), keep=False)
    if duplicated.any():
        first = [rows[int(np.flatnonzero(duplicated.to_numpy())[0])][k] for k in KEY_COLUMNS]
        key = ", ".join(f"{k}={v!r}" for k, v in zip(KEY_COLUMNS, first, strict=True))
        count = int((table[list(KEY_COLUMNS)] == first).all(axis=1).sum())
        raise ValueError(f"duplicate metrics record ({count} records) for {key}")
    table = table.astype({c: _dtype(c) for c in METRIC_COLUMNS})
    return table.sort_values(list(KEY_COLUMNS), kind="mergesort", ignore_index=True)


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of ``values``; NaN propagates; std NaN for n < 2."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return math.nan, math.nan
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
    return mean, std


def _lpips_status(statuses: pd.Series, values: pd.Series, column: str) -> str:
    """``"ok"`` when every value is present, else the first ``"missing: ..."`` reason."""
    if values.notna().all():
        return "ok"
    reasons = [s for s in statuses if s != "ok"]
    return reasons[0] if reasons else f"missing: {column} is null"


def _check_metrics_frame(metrics: pd.DataFrame) -> None:
    missing = [c for c in METRIC_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics table lacks column(s) {', '.join(missing)}")


def _blurry_row(dataset: str, blur: str, group: pd.DataFrame) -> dict[str, Any]:
    """Summary row of the blurry input: one value per scene, whatever the methods/seeds."""
    columns = [
        "psnr_blurry",
        "ssim_blurry",
        "lpips_blurry",
        "psnr_aligned_blurry",
        "ssim_aligned_blurry",
    ]
    for scene, per_scene in group.groupby("scene", sort=True):
        values = per_scene[columns].to_numpy(dtype=np.float64)
        same = np.isclose(values, values[0], rtol=0.0, atol=_BLURRY_ATOL, equal_nan=True)
        if not same.all():
            bad = columns[int(np.argmax(~same.all(axis=0)))]
            raise ValueError(
                f"{dataset}/{blur}/{scene}: records disagree on '{bad}' "
                f"({sorted(set(per_scene[bad].tolist()))}); the blurry input is the same for "
                "every method and seed, so some metrics files are stale"
            )
    per_scene = group.drop_duplicates("scene", keep="first")
    row: dict[str, Any] = {
        "dataset": dataset,
        "blur": blur,
        "method": BLURRY_METHOD,
        "n_scenes": len(per_scene),
        "n_seeds": 1,
        "n_fits": len(per_scene),
    }
    for quantity in ("psnr", "ssim", "lpips", "psnr_aligned", "ssim_aligned"):
        row[f"{quantity}_mean"], row[f"{quantity}_std"] = mean_std(
            per_scene[f"{quantity}_blurry"].to_numpy()
        )
    for quantity in ("time_s", "size_mb", "psnr_gain", *EXTRA_SUMMARY_QUANTITIES):
        row[f"{quantity}_mean"] = row[f"{quantity}_std"] = math.nan
    row["lpips_status"] = _lpips_status(
        per_scene["lpips_status"], per_scene["lpips_blurry"], "lpips_blurry"
    )
    return row


def study_rows(table: pd.DataFrame, study: dict[str, Any]) -> pd.DataFrame:
    """The rows of a metrics or convergence table that belong to ``study`` (a
    ``studies.<name>`` section): its datasets, blurs and methods and, where the table has
    seeds, its seeds. A fit shared with another study appears in both.

    For a metrics table of a study with an ``error_ratio_reference``, the rows also get
    ``error_ratio`` (:func:`error_ratios` against that method's fits in the study).
    """
    keep = (
        table["dataset"].isin(study["datasets"])
        & table["blur"].isin(study["blurs"])
        & table["method"].isin(study["methods"])
    )
    if "seed" in table.columns:
        keep &= table["seed"].isin(study["seeds"])
    rows = table[keep].reset_index(drop=True)
    reference = study.get("error_ratio_reference")
    if reference and "ssd_aligned" in rows.columns:
        rows = rows.assign(error_ratio=error_ratios(rows, reference))
    return rows


def _ratio(ssd: float, reference_ssd: float) -> float:
    """``sqrt(ssd / reference_ssd)`` as :func:`inrdeblur.metrics.aligned.error_ratio`
    returns it: 1 when both are 0, inf when only the reference is; NaN when one is."""
    if math.isnan(ssd) or math.isnan(reference_ssd):
        return math.nan
    if reference_ssd == 0.0:
        return 1.0 if ssd == 0.0 else math.inf
    return math.sqrt(ssd / reference_ssd)


def error_ratios(metrics: pd.DataFrame, reference: str) -> np.ndarray:
    """Levin et al.'s (2009) error ratio of every fit of ``metrics`` against ``reference``.

    ``ER = ||x_hat - x|| / ||x_ref - x|| = sqrt(ssd_aligned / ssd_aligned of the
    reference)``, both errors after the shift alignment
    (:func:`inrdeblur.metrics.aligned.error_ratio`), where ``x_ref`` is the fit of the
    ``reference`` method (a non-blind deconvolution with the true kernel) on the same
    dataset, blur and scene: of the same seed when it has one, else of its smallest seed.
    The reference's own fits get 1.

    Args:
        metrics: a metrics table (:data:`METRIC_COLUMNS`).
        reference: a method name.

    Returns:
        (n,) float64, one value per row: NaN where the fit or its reference fit has no
        ``ssd_aligned`` (the aligned protocol is off), or the image has no reference fit.

    Raises:
        ValueError: the reference's fits are blind (they estimated a kernel).
    """
    fits = metrics[metrics["method"] == reference]
    if "blind" in fits.columns and fits["blind"].any():
        raise ValueError(
            f"error_ratio_reference {reference!r}: its fits estimated a kernel (blind); the "
            "error ratio's reference is a non-blind deconvolution with the true kernel"
        )
    by_image: dict[tuple[str, str, str], dict[int, float]] = {}
    for fit in fits.itertuples(index=False):
        by_image.setdefault((fit.dataset, fit.blur, fit.scene), {})[int(fit.seed)] = float(
            fit.ssd_aligned
        )
    out = np.full(len(metrics), math.nan)
    for i, row in enumerate(metrics.itertuples(index=False)):
        seeds = by_image.get((row.dataset, row.blur, row.scene))
        if seeds:
            out[i] = _ratio(float(row.ssd_aligned), seeds.get(int(row.seed), seeds[min(seeds)]))
    return out


def summary_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per-method summary of a metrics table.

    One row per (dataset, blur, method) with ``n_scenes``, ``n_seeds`` (distinct values)
    and ``n_fits`` (rows), and ``<q>_mean`` / ``<q>_std`` for every ``q`` in
    :data:`SUMMARY_QUANTITIES` and :data:`EXTRA_SUMMARY_QUANTITIES`, pooled over all fits
    (images and seeds); the std is the sample std (ddof=1), NaN for a single value.
    ``psnr_gain`` is ``psnr - psnr_blurry`` per fit; ``error_ratio`` is NaN unless the
    table has that column (a study's view, :func:`study_rows`). A mean is NaN when any of
    its values is (no value is dropped silently): the LPIPS mean and std then, and
    ``lpips_status`` is the first ``"missing: <reason>"`` of the group.

    Each (dataset, blur) also gets one row with method :data:`BLURRY_METHOD`, first in
    its group, scoring the blurry input (``psnr_blurry`` ...) with one value per scene
    (``n_seeds`` 1, ``n_fits`` = ``n_scenes``); its time, size, gain, kernel similarity
    and error ratio are NaN.

    Raises:
        ValueError: columns are missing, or two records of one scene disagree on the
            blurry input's metrics (stale metrics files).
    """
    _check_metrics_frame(metrics)
    if metrics.empty:
        return _empty_frame(SUMMARY_COLUMNS)
    data = metrics.assign(psnr_gain=metrics["psnr"] - metrics["psnr_blurry"])
    if "error_ratio" not in data.columns:
        data = data.assign(error_ratio=math.nan)
    rows: list[dict[str, Any]] = []
    for (dataset, blur), by_blur in data.groupby(["dataset", "blur"], sort=True):
        rows.append(_blurry_row(dataset, blur, by_blur))
        for method, group in by_blur.groupby("method", sort=True):
            row: dict[str, Any] = {
                "dataset": dataset,
                "blur": blur,
                "method": method,
                "n_scenes": int(group["scene"].nunique()),
                "n_seeds": int(group["seed"].nunique()),
                "n_fits": len(group),
            }
            for quantity in (*SUMMARY_QUANTITIES, *EXTRA_SUMMARY_QUANTITIES):
                row[f"{quantity}_mean"], row[f"{quantity}_std"] = mean_std(
                    group[quantity].to_numpy()
                )
            row["lpips_status"] = _lpips_status(group["lpips_status"], group["lpips"], "lpips")
            rows.append(row)
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return table.astype({c: _dtype(c) for c in SUMMARY_COLUMNS})


def _text_mean_std(mean: float, std: float, decimals: int) -> str:
    if not math.isfinite(mean):
        return "-"
    return f"{mean:.{decimals}f}" + (f" ± {std:.{decimals}f}" if math.isfinite(std) else "")


def format_summary(summary: pd.DataFrame) -> str:
    """The summary table as plain text for a terminal: one block per (dataset, blur), a
    row per method (the blurry input first) with scenes x seeds, PSNR, SSIM, LPIPS, the
    aligned PSNR, error ratio and kernel similarity where any row has them, and the fit
    time, mean ± std; LPIPS's missing reasons as numbered notes under the table, each
    once."""
    if summary.empty:
        return "(no results)"
    aligned = bool(summary["psnr_aligned_mean"].notna().any())
    # (column, header, decimals) of the optional columns a row may have
    extra = [
        (f"{q}_mean", name, decimals)
        for q, name, decimals in (
            ("error_ratio", "error ratio", 3),
            ("kernel_similarity", "kernel sim.", 3),
        )
        if f"{q}_mean" in summary.columns and summary[f"{q}_mean"].notna().any()
    ]
    header = ["method", "scenes x seeds", "PSNR dB", "SSIM", "LPIPS"]
    header += ["aligned PSNR dB"] if aligned else []
    header += [name for _, name, _ in extra]
    header += ["fit time s"]
    reasons: list[str] = []
    blocks: list[tuple[str, list[list[str]]]] = []
    for (dataset, blur), group in summary.groupby(["dataset", "blur"], sort=False):
        lines = []
        for row in group.to_dict("records"):
            status = str(row["lpips_status"])
            if status == "ok":
                lpips = _text_mean_std(row["lpips_mean"], row["lpips_std"], 4)
            else:
                reason = status.removeprefix("missing:").strip() or "no reason"
                reasons += [] if reason in reasons else [reason]
                lpips = f"missing [{reasons.index(reason) + 1}]"
            blurry = row["method"] == BLURRY_METHOD
            cells = [
                row["method"],
                f"{row['n_scenes']}" if blurry else f"{row['n_scenes']} x {row['n_seeds']}",
                _text_mean_std(row["psnr_mean"], row["psnr_std"], 2),
                _text_mean_std(row["ssim_mean"], row["ssim_std"], 4),
                lpips,
            ]
            if aligned:
                cells.append(_text_mean_std(row["psnr_aligned_mean"], row["psnr_aligned_std"], 2))
            for column, _, decimals in extra:
                std = row[column.removesuffix("_mean") + "_std"]
                cells.append(_text_mean_std(row[column], std, decimals))
            cells.append(_text_mean_std(row["time_s_mean"], row["time_s_std"], 1))
            lines.append(cells)
        blocks.append((f"{dataset} / {blur}", lines))
    widths = [
        max(len(header[i]), *(len(cells[i]) for _, lines in blocks for cells in lines))
        for i in range(len(header))
    ]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    out = [line(header), "-" * len(line(header))]
    for title, lines in blocks:
        out += [title, *(line(cells) for cells in lines), ""]
    out += [f"[{i}] LPIPS missing: {reason}" for i, reason in enumerate(reasons, start=1)]
    help_line = lpips_help(reasons)
    out += [help_line] if help_line else []
    return "\n".join(out).rstrip()


def _json_float(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def metrics_json(summary: pd.DataFrame) -> dict[str, Any]:
    """Nested means for ``dvc metrics``: ``{dataset: {blur: {method: {...}}}}``.

    Each leaf holds the ``_mean`` column of every :data:`SUMMARY_QUANTITIES` (``psnr``,
    ``ssim``, ``lpips``, ``time_s``, ``size_mb``, ``psnr_gain``, ``psnr_aligned``,
    ``ssim_aligned``); NaN becomes ``None`` (JSON null).
    """
    out: dict[str, Any] = {}
    for row in summary.itertuples(index=False):
        leaf = {q: _json_float(getattr(row, f"{q}_mean")) for q in SUMMARY_QUANTITIES}
        out.setdefault(row.dataset, {}).setdefault(row.blur, {})[row.method] = leaf
    return out


def _float_repr(value: float) -> str:
    return repr(float(value))


def to_csv(table: pd.DataFrame) -> str:
    """CSV text; floats as Python ``repr`` (shortest string that round-trips float64)."""
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format=_float_repr, lineterminator="\n")
    return buffer.getvalue()


def write_tables(
    records: list[dict[str, Any]],
    metrics_csv: str | os.PathLike,
    summary_csv: str | os.PathLike,
    metrics_json_path: str | os.PathLike,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the metrics and summary tables from ``records`` and write all three files.

    Every file is written atomically. Floats keep full float64 precision (NaN is an empty
    CSV field, JSON null). Returns ``(metrics, summary)``.
    """
    metrics = metrics_table(records)
    summary = summary_table(metrics)
    write_text(metrics_csv, to_csv(metrics))
    write_text(summary_csv, to_csv(summary))
    write_json(metrics_json_path, metrics_json(summary))
    return metrics, summary


def read_table(path: str | os.PathLike, dtypes: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a CSV written by :func:`write_tables` (or :func:`to_csv`), exactly.

    String columns stay strings (a scene ``"0001"`` is not turned into 1), floats are
    parsed with round-trip precision and empty fields become NaN. Column types are those
    of the metrics and summary tables; ``dtypes`` gives the types of other tables'
    columns (``"str"``, ``"int64"`` or ``"float64"``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    types = {c: _dtype(c) for c in (*METRIC_COLUMNS, *SUMMARY_COLUMNS)} | (dtypes or {})
    try:
        header = pd.read_csv(path, nrows=0).columns
        floats = [c for c in header if types.get(c) == "float64"]
        dtypes = {c: ("str" if c in floats else types[c]) for c in header if c in types}
        table = pd.read_csv(path, dtype=dtypes, keep_default_na=False)
        for column in floats:  # Python's float() is exact; pandas' C parser may not be
            table[column] = np.array(
                [float(v) if v != "" else math.nan for v in table[column]], dtype=np.float64
            )
        return table
    except (ValueError, pd.errors.ParserError) as err:
        raise InputFileError(f"{path}: not a readable table ({err})") from err
