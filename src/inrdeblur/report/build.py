"""The report stage: read the tables, draw the figures, load the visual grid, write HTML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from inrdeblur.metrics.convergence import read_convergence
from inrdeblur.metrics.tables import read_table
from inrdeblur.report.figures import write_figures
from inrdeblur.report.html import (
    build_grid,
    collect_provenance,
    observation_rows,
    render_report,
)
from inrdeblur.studies.blur_formation import read_forward_model_table


def build_report(
    metrics_csv: str | os.PathLike,
    summary_csv: str | os.PathLike,
    params: dict[str, Any],
    out_html: str | os.PathLike,
    figures_dir: str | os.PathLike,
    max_scenes: int = 8,
    root: str | os.PathLike = ".",
    forward_models_csv: str | os.PathLike | None = None,
    convergence_csv: str | os.PathLike | None = None,
) -> None:
    """Write ``out_html`` and the figure PNGs in ``figures_dir`` from the aggregate tables.

    Images of the visual grid are read from the scene, blurred and fit files under
    ``root`` (paths from :mod:`inrdeblur.layout`); ``params`` are shown as used. The
    blur-formation summary ``forward_models_csv``, when given and not empty, gets its table;
    the convergence table ``convergence_csv``, when given and not empty, its figure.
    """
    metrics = read_table(metrics_csv)
    summary = read_table(summary_csv)
    Path(figures_dir).mkdir(parents=True, exist_ok=True)
    convergence = read_convergence(convergence_csv) if convergence_csv else None
    write_figures(metrics, figures_dir, convergence)
    grid = build_grid(metrics, root=root, max_scenes_per_dataset=max_scenes)
    render_report(
        out_html,
        figures_dir,
        metrics=metrics,
        summary=summary,
        grid=grid,
        params=params,
        provenance=collect_provenance(root),
        forward_models=(
            read_forward_model_table(forward_models_csv) if forward_models_csv else None
        ),
        observations=observation_rows(params, root),
    )
