"""Fixtures for the browser tests: a rendered synthetic report (Chromium itself comes from
the ``chromium_path`` fixture of ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inrdeblur import layout
from inrdeblur.fileio import write_npz
from inrdeblur.records.scene import Scene


def _psnr(estimate: np.ndarray, sharp: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(estimate, 0, 1) - sharp) ** 2)))


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """A sharp (size, size, 3) image in [0, 1]: a colour gradient, discs and stripes."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    image = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.7 - 0.4 * xx * yy], axis=-1)
    for _ in range(4):
        cy, cx, r = rng.uniform(0.15, 0.85, 2).tolist() + [rng.uniform(0.06, 0.2)]
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = rng.uniform(0, 1, 3)
    image[: size // 4, size // 2 :] = ((np.arange(size)[None, size // 2 :] // 3) % 2)[..., None]
    return np.clip(image, 0, 1).astype(np.float32)


def _box_blur(image: np.ndarray, k: int) -> np.ndarray:
    """Horizontal box blur of width k with edge replication (a motion blur)."""
    padded = np.pad(image, ((0, 0), (k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
    return np.mean([padded[:, i : i + image.shape[1]] for i in range(k)], axis=0)


def make_study(
    root: Path,
    n_scenes: int = 3,
    methods: tuple[str, ...] = ("hashgrid", "siren"),
    seeds: tuple[int, ...] = (0, 1),
    size: int = 16,
    datasets: tuple[str, ...] = ("toy",),
) -> list[dict]:
    """Write a synthetic study through the layout paths; return its metric records."""
    rng = np.random.default_rng(1)
    quality = {m: 0.15 + 0.2 * i for i, m in enumerate(methods)}
    records = []
    for dataset in datasets:
        for s in range(n_scenes):
            scene = f"{s + 1:04d}"
            sharp = _texture(size, rng)
            Scene(dataset, scene, sharp).save(layout.scene_path(dataset, scene, root))
            blurry = _box_blur(sharp, max(3, size // 8)).astype(np.float32)
            write_npz(layout.blurred_path("motion", dataset, scene, root), blurry=blurry)
            for m, method in enumerate(methods):
                for seed in seeds:
                    residual = (quality[method] + 0.05 * rng.standard_normal()) * (blurry - sharp)
                    noise = rng.normal(0, 0.01, sharp.shape)
                    estimate = (sharp + residual + noise).astype(np.float32)
                    fit = layout.fit_dir(method, "motion", dataset, scene, seed, root)
                    write_npz(fit / "estimate.npz", estimate=estimate)
                    records.append(
                        {
                            "dataset": dataset,
                            "blur": "motion",
                            "method": method,
                            "scene": scene,
                            "seed": seed,
                            "psnr": _psnr(estimate, sharp),
                            "ssim": float(0.8 + 0.02 * m + 0.01 * rng.random()),
                            "lpips": float(0.2 - 0.02 * m + 0.01 * rng.random()),
                            "lpips_status": "ok",
                            "psnr_blurry": _psnr(blurry, sharp),
                            "ssim_blurry": 0.6,
                            "lpips_blurry": 0.45,
                            "time_s": float((20 + 200 * m) * (1 + 0.1 * rng.random())),
                            "size_mb": 0.26 + 8.0 * m,
                            "iterations": 2000,
                            "device": "cpu",
                        }
                    )
    return records


def render_studies(root: Path, **kwargs) -> tuple[Path, dict[str, int]]:
    """Make a synthetic study under ``root`` and render its report as the report stage
    does (:func:`inrdeblur.report.build.build_report`): one section per study, figures in
    ``<figures>/<study>/``. Two studies: ``all`` (everything made) and ``first`` (the first
    method and seed only).

    Returns the report path and the number of summary rows of each study.
    """
    from inrdeblur.metrics import tables
    from inrdeblur.report import figures, html

    records = make_study(root, **kwargs)
    metrics = tables.metrics_table(records)
    methods = list(dict.fromkeys(r["method"] for r in records))
    seeds = sorted({r["seed"] for r in records})
    everything = {
        "enabled": True,
        "datasets": sorted({r["dataset"] for r in records}),
        "blurs": ["motion"],
        "methods": methods,
        "seeds": seeds,
        "forward_models": [],
    }
    params = {
        "studies": {
            "all": {**everything, "title": "browser <test> & more"},
            "first": {**everything, "title": "", "methods": methods[:1], "seeds": seeds[:1]},
        },
    }
    sections = []
    for name, study in params["studies"].items():
        study_metrics = tables.study_rows(metrics, study)
        study_dir = root / layout.REPORT_FIGURES / name
        figures.write_figures(study_metrics, study_dir)
        sections.append(
            html.StudySection(
                name, study["title"] or name, tables.summary_table(study_metrics), study_dir
            )
        )
    provenance = {
        "date": "2024-05-01T12:00:00+00:00",
        "git_commit": "abc123",
        "git_dirty": False,
        "versions": {"numpy": np.__version__},
    }
    out = root / layout.REPORT_HTML
    html.render_report(
        out,
        root / layout.REPORT_FIGURES,
        metrics,
        tables.summary_table(metrics),
        html.build_grid(metrics, root=root),
        params,
        provenance,
        studies=sections,
    )
    return out, {section.name: len(section.summary) for section in sections}


@pytest.fixture(scope="session")
def rendered_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A report of 3 scenes x 2 methods x 2 seeds (32x32 images) in two studies, and the
    summary row count of each."""
    return render_studies(tmp_path_factory.mktemp("browser_project"), size=32)
