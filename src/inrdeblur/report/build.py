"""The report stage: read the tables, draw the figures, load the visual grid, write HTML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from inrdeblur.experiment import enabled_studies
from inrdeblur.metrics.convergence import read_convergence
from inrdeblur.metrics.tables import metrics_json, read_table, study_rows, summary_table
from inrdeblur.report.changes import committed_metrics, metric_changes
from inrdeblur.report.figures import write_figures
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
    ``convergence_csv``, when given and not empty, its figures. When ``root`` is a git
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
    )


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
