"""Fixtures for the browser tests: a Debian Chromium and a rendered synthetic report.

Chromium comes from the distribution (``/usr/bin/chromium``), never from
``playwright install``. When it is missing and we are root it is installed with apt-get;
otherwise the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from inrdeblur import layout
from inrdeblur.fileio import write_npz
from inrdeblur.records.scene import Scene

CHROMIUM = Path("/usr/bin/chromium")
APT_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Path of a Chromium executable; installed from Debian when missing and root."""
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    if CHROMIUM.exists():
        return CHROMIUM
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip(
            f"{CHROMIUM} is missing and we are not root, so cannot apt-get install "
            "chromium; install it (apt-get install chromium) to run browser tests"
        )
    if shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and apt-get is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    start = time.monotonic()
    try:
        subprocess.run(
            "apt-get update && apt-get install -y --no-install-recommends chromium",
            shell=True,
            check=True,
            env=env,
            timeout=APT_TIMEOUT_S,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    except subprocess.CalledProcessError as err:
        pytest.fail(f"apt-get install chromium failed:\n{err.stdout[-3000:]}")
    print(f"\ninstalled chromium with apt-get in {time.monotonic() - start:.1f} s")
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} does not exist")
    return CHROMIUM


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


def make_experiment(
    root: Path,
    n_scenes: int = 3,
    methods: tuple[str, ...] = ("hashgrid", "siren"),
    seeds: tuple[int, ...] = (0, 1),
    size: int = 16,
    datasets: tuple[str, ...] = ("toy",),
) -> list[dict]:
    """Write a synthetic experiment through the layout paths; return its metric records."""
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


def render_experiment(root: Path, **kwargs) -> tuple[Path, int]:
    """Make a synthetic experiment under ``root`` and render its report.

    Returns the report path and the number of summary rows.
    """
    from inrdeblur.metrics import tables
    from inrdeblur.report import figures, html

    metrics = tables.metrics_table(make_experiment(root, **kwargs))
    summary = tables.summary_table(metrics)
    figures.write_figures(metrics, root / layout.REPORT_FIGURES)
    out = root / layout.REPORT_HTML
    params = {"experiment": {"name": "browser <test> & more"}, "seeds": [0, 1]}
    provenance = {
        "date": "2024-05-01T12:00:00+00:00",
        "git_commit": "abc123",
        "git_dirty": False,
        "versions": {"numpy": np.__version__},
    }
    html.render_report(
        out,
        root / layout.REPORT_FIGURES,
        metrics,
        summary,
        html.build_grid(metrics, root=root),
        params,
        provenance,
    )
    return out, len(summary)


@pytest.fixture(scope="session")
def rendered_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A report of 3 scenes x 2 methods x 2 seeds (32x32 images) and its summary row count."""
    return render_experiment(tmp_path_factory.mktemp("browser_project"), size=32)
