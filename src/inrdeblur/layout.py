"""Where every stage writes its files: the one definition of the pipeline's paths.

The Snakemake rules use these patterns as their outputs (the ``{name}`` fields are
wildcards) and the library uses them to find files, so the two cannot drift apart.
All paths are relative to the working directory (the repository root).

=============  ====================================================================
stage          files
=============  ====================================================================
fetch          ``data/raw/<dataset>/`` (the dataset's own files) and its stamp
               ``data/raw/<dataset>/.fetched.json``, written last
prepare        ``data/scenes/<dataset>/<scene>.npz`` (see :mod:`inrdeblur.data.scene`)
synthesize     ``data/blurred/<blur>/<dataset>/<scene>.npz``: ``blurry`` (H, W, 3)
               float32, the data that rebuilds the operator (``kernel`` or the
               geometry) and ``attrs`` (see :mod:`inrdeblur.blur.synthesize`)
forward model  ``results/forward_models/<blur>/<dataset>/<scene>.json``, tables
               ``results/forward_models/records.csv`` and ``summary.csv``
fit            ``results/fits/<method>/<blur>/<dataset>/<scene>/seed<k>/``:
               ``estimate.png``, ``estimate.npz`` (``estimate`` (H, W, 3) float32),
               ``trace.csv`` (iteration, loss, psnr, seconds), ``meta.json``
fit index      ``results/fits/<method>/index.csv``: one row per fit of the method
evaluate       ``results/metrics/<method>/<blur>/<dataset>/<scene>/seed<k>.json``
aggregate      ``results/tables/metrics.csv``, ``results/tables/summary.csv``,
               ``results/metrics.json``
report         ``reports/index.html``, ``reports/figures/*.png``
=============  ====================================================================
"""

from __future__ import annotations

from pathlib import Path

RAW_DIR = "data/raw"
FETCH_STAMP = RAW_DIR + "/{dataset}/.fetched.json"
SCENE = "data/scenes/{dataset}/{scene}.npz"
BLURRED = "data/blurred/{blur}/{dataset}/{scene}.npz"
FIT_DIR = "results/fits/{method}/{blur}/{dataset}/{scene}/seed{seed}"
FIT_ESTIMATE_PNG = FIT_DIR + "/estimate.png"
FIT_ESTIMATE_NPZ = FIT_DIR + "/estimate.npz"
FIT_TRACE = FIT_DIR + "/trace.csv"
FIT_META = FIT_DIR + "/meta.json"
FIT_INDEX = "results/fits/{method}/index.csv"
METRICS = "results/metrics/{method}/{blur}/{dataset}/{scene}/seed{seed}.json"
FORWARD_RECORD = "results/forward_models/{blur}/{dataset}/{scene}.json"
FORWARD_RECORDS_TABLE = "results/forward_models/records.csv"
FORWARD_SUMMARY_TABLE = "results/forward_models/summary.csv"
METRICS_TABLE = "results/tables/metrics.csv"
SUMMARY_TABLE = "results/tables/summary.csv"
METRICS_JSON = "results/metrics.json"
REPORT_HTML = "reports/index.html"
REPORT_FIGURES = "reports/figures"


def scene_path(dataset: str, scene: str, root: str | Path = ".") -> Path:
    return Path(root) / SCENE.format(dataset=dataset, scene=scene)


def blurred_path(blur: str, dataset: str, scene: str, root: str | Path = ".") -> Path:
    return Path(root) / BLURRED.format(blur=blur, dataset=dataset, scene=scene)


def fit_dir(
    method: str, blur: str, dataset: str, scene: str, seed: int, root: str | Path = "."
) -> Path:
    return Path(root) / FIT_DIR.format(
        method=method, blur=blur, dataset=dataset, scene=scene, seed=seed
    )


def metrics_path(
    method: str, blur: str, dataset: str, scene: str, seed: int, root: str | Path = "."
) -> Path:
    return Path(root) / METRICS.format(
        method=method, blur=blur, dataset=dataset, scene=scene, seed=seed
    )
