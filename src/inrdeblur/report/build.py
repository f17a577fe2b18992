"""The report stage: read the tables, draw the figures, load the visual grid, write HTML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from inrdeblur.experiment import enabled_studies
from inrdeblur.fileio import atomic_path, read_json
from inrdeblur.metrics.convergence import read_convergence
from inrdeblur.metrics.tables import metrics_json, read_table, study_rows, summary_table
from inrdeblur.report.changes import committed_metrics, metric_changes
from inrdeblur.report.figures import (
    KERNEL_SPACE_CAPTION,
    figure_png,
    kernel_space_training,
    write_figures,
)
from inrdeblur.report.html import (
    StudySection,
    build_grid,
    collect_provenance,
    observation_rows,
    render_report,
)
from inrdeblur.studies.blur_formation import read_forward_model_table


def build_report(
    metrics_csv: str | os.PathLike,
    params: dict[str, Any],
    out_html: str | os.PathLike,
    figures_dir: str | os.PathLike,
    max_scenes: int = 8,
    thumbnail_px: int = 320,
    root: str | os.PathLike = ".",
    forward_models_csv: str | os.PathLike | None = None,
    convergence_csv: str | os.PathLike | None = None,
    forward_records_csv: str | os.PathLike | None = None,
    kernel_space_dir: str | os.PathLike | None = None,
) -> None:
    """Write ``out_html`` and the figure PNGs in ``figures_dir`` from the aggregate tables.

    The report has one section per enabled study of ``params``: the summary table of the
    study's fits (its datasets, blurs, methods and seeds; with error ratios when the study
    names an ``error_ratio_reference``, :func:`~inrdeblur.metrics.tables.study_rows`), its
    blur-formation table and its figures, written to ``figures_dir/<study>/``. Images of
    the visual grid are read from the scene, blurred and fit files under ``root`` (paths
    from :mod:`inrdeblur.layout`); ``params`` are shown as used. The blur-formation
    summary ``forward_models_csv``, when given and not empty, gets its tables, and its
    per-scene records ``forward_records_csv`` a figure; the convergence table
    ``convergence_csv``, when given and not empty, its figures. The trained kernel space
    in ``kernel_space_dir`` (``meta.json``, ``trace.csv``), when given and trained, gets a
    section with its training curve (:func:`kernel_space_context`). When ``root`` is a git
    checkout with committed results, a table shows what changed since
    (:mod:`inrdeblur.report.changes`).
    """
    metrics = read_table(metrics_csv)
    convergence = read_convergence(convergence_csv) if convergence_csv else None
    forward = read_forward_model_table(forward_models_csv) if forward_models_csv else None
    records = read_forward_model_table(forward_records_csv) if forward_records_csv else None
    sections = []
    for name, study in enabled_studies(params).items():
        study_dir = Path(figures_dir) / name
        study_dir.mkdir(parents=True, exist_ok=True)
        for stale in study_dir.glob("*.png"):  # a figure this run does not draw
            stale.unlink()
        study_metrics = study_rows(metrics, study)
        write_figures(
            study_metrics,
            study_dir,
            None if convergence is None else study_rows(convergence, study),
            _study_forward_models(records, study),
        )
        sections.append(
            StudySection(
                name=name,
                title=study["title"] or name,
                summary=summary_table(study_metrics),
                figures_dir=study_dir,
                forward_models=_study_forward_models(forward, study),
                metrics=study_metrics,
                error_ratio_reference=study.get("error_ratio_reference"),
            )
        )
    grid = build_grid(metrics, root=root, max_scenes_per_dataset=max_scenes)
    summary = summary_table(metrics)
    committed = committed_metrics(root)
    render_report(
        out_html,
        figures_dir,
        metrics=metrics,
        summary=summary,
        grid=grid,
        params=params,
        provenance=collect_provenance(root),
        forward_models=forward,
        observations=observation_rows(params, root),
        studies=sections,
        changes=None if committed is None else metric_changes(committed, metrics_json(summary)),
        thumbnail_px=thumbnail_px,
        kernel_space=None
        if kernel_space_dir is None
        else kernel_space_context(kernel_space_dir, figures_dir),
    )


def kernel_space_context(folder: str | os.PathLike, figures_dir: str | os.PathLike) -> dict | None:
    """What the report shows of the kernel-space stage's folder: None when it was off;
    else its meta's facts and, when it trained, the training figure, written to
    ``figures_dir/kernel_space/training.png`` as well."""
    meta = read_json(Path(folder) / "meta.json")
    if meta.get("enabled") is False:
        return None
    context = {
        "size": meta["size"],
        "weights": meta["weights"],
        "parameters": meta["parameters"]["total"],
        "iterations": meta["iterations"],
        "time_s": meta["time_s"],
        "final_psnr": meta["final_psnr"],
        "images": len(meta["images"]),
        "retrieval": meta.get("retrieval"),
        "figure": None,
        "caption": KERNEL_SPACE_CAPTION,
    }
    trace = pd.read_csv(Path(folder) / "trace.csv")
    if not trace.empty:
        png = figure_png(kernel_space_training(trace))
        with atomic_path(Path(figures_dir) / "kernel_space" / "training.png") as tmp:
            tmp.write_bytes(png)
        context["figure"] = png
    return context


def _study_forward_models(
    forward: pd.DataFrame | None, study: dict[str, Any]
) -> pd.DataFrame | None:
    """The rows of a blur-formation table (summary or records) that belong to ``study``."""
    if forward is None or forward.empty:
        return forward
    keep = forward["blur"].isin(study["forward_models"]) & forward["dataset"].isin(
        study["datasets"]
    )
    return forward[keep].reset_index(drop=True)
