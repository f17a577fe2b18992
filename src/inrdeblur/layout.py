"""Where every stage writes its files: the one definition of the pipeline's paths.

The Snakemake rules use these patterns as their outputs (the ``{name}`` fields are
wildcards) and the library uses them to find files, so the two cannot drift apart.
All paths are relative to the working directory (the repository root).

=============  ====================================================================
stage          files
=============  ====================================================================
fetch          ``data/raw/<dataset>/`` (the dataset's own files) and its stamp
               ``data/raw/<dataset>/.fetched.json``, written last
prepare        ``data/scenes/<dataset>/<scene>.npz`` (see :mod:`inrdeblur.records.scene`);
               one job per dataset, whose output is that folder
synthesize     ``data/blurred/<blur>/<dataset>/<scene>.npz``: ``blurry`` (H, W, C)
               float32, the data that rebuilds the operator (``kernel`` or the
               geometry) and ``attrs`` (see :mod:`inrdeblur.records.blurred`); one
               job per blur and dataset, whose output is that folder
forward model  ``results/forward_models/<blur>/<dataset>/<scene>.json``, tables
               ``results/forward_models/records.csv`` and ``summary.csv``
fit            ``results/fits/<method>/<blur>/<dataset>/<scene>/seed<k>/``:
               ``estimate.png``, ``estimate.npz`` (``estimate`` (H, W, C) float32,
               a blind method's ``kernel``),
               ``trace.csv`` (iteration, loss, psnr, seconds), ``meta.json``; one
               job fits every seed of an image, so its folder ``.../<scene>/`` holds
               one ``seed<k>/`` per seed
               (the job's output is that folder); checkpoints of a running job in
               ``results/checkpoints/<method>/<blur>/<dataset>/<scene>/seed<k>.pt``
fit index      ``results/fits/<method>/index.csv``: one row per fit of the method
evaluate       ``results/metrics/<method>/<blur>/<dataset>.json``: a JSON list, one
               record per scene and seed (one evaluate job per method, blur, dataset),
               and ``results/convergence/<method>/<blur>/<dataset>.csv``, the
               traces of those fits summarised (:mod:`inrdeblur.metrics.convergence`)
aggregate      ``results/tables/metrics.csv``, ``results/tables/summary.csv``,
               ``results/tables/convergence.csv``, ``results/metrics.json``
report         ``reports/index.html``, ``reports/figures/*.png``
=============  ====================================================================
"""

from __future__ import annotations

from pathlib import Path

RAW_DIR = "data/raw"
FETCH_STAMP = RAW_DIR + "/{dataset}/.fetched.json"
#: the scenes of one dataset: one prepare job writes them all
SCENES_DIR = "data/scenes/{dataset}"
SCENE = SCENES_DIR + "/{scene}.npz"
#: the blurred images of one blur of one dataset: one synthesize job writes them all
BLURRED_DIR = "data/blurred/{blur}/{dataset}"
BLURRED = BLURRED_DIR + "/{scene}.npz"
#: the folder of one fit job: every seed of one method on one blurred image
FIT_SCENE_DIR = "results/fits/{method}/{blur}/{dataset}/{scene}"
#: one seed's folder inside a fit job's folder
SEED = "seed{seed}"
FIT_DIR = FIT_SCENE_DIR + "/" + SEED
#: the four outputs of one fit (one seed), by role, as names inside its FIT_DIR
FIT_FILES = {
    "estimate_png": "estimate.png",
    "estimate_npz": "estimate.npz",
    "trace": "trace.csv",
    "meta": "meta.json",
}
FIT_ESTIMATE_PNG = FIT_DIR + "/" + FIT_FILES["estimate_png"]
FIT_ESTIMATE_NPZ = FIT_DIR + "/" + FIT_FILES["estimate_npz"]
FIT_TRACE = FIT_DIR + "/" + FIT_FILES["trace"]
FIT_META = FIT_DIR + "/" + FIT_FILES["meta"]
#: a blind fit's kernel estimate as an image, beside the four outputs (scaled to its max)
FIT_KERNEL_PNG_NAME = "kernel.png"
FIT_INDEX = "results/fits/{method}/index.csv"
#: the checkpoints of a running fit job, one ``seed<k>.pt`` per seed, deleted when the job
#: ends; outside the job's folder, which Snakemake deletes before it reruns a failed job
FIT_CHECKPOINT_DIR = "results/checkpoints/{method}/{blur}/{dataset}/{scene}"
#: the metric records of one evaluate job: every fit of a method on a blur of a dataset
METRICS_SET = "results/metrics/{method}/{blur}/{dataset}.json"
CONVERGENCE_SET = "results/convergence/{method}/{blur}/{dataset}.csv"
FORWARD_RECORD = "results/forward_models/{blur}/{dataset}/{scene}.json"
FORWARD_RECORDS_TABLE = "results/forward_models/records.csv"
FORWARD_SUMMARY_TABLE = "results/forward_models/summary.csv"
#: what each DVC stage runs, from the enabled studies (:func:`inrdeblur.experiment.write_plan`):
#: a stage depends on its plan file, not on the whole ``studies`` section, so editing one
#: study reruns only the stages whose work changed
PLAN_DIR = "results/plan"
PLAN_IMAGES = PLAN_DIR + "/images.json"
PLAN_FITS = PLAN_DIR + "/fits/{method}.json"
PLAN_EVALUATION = PLAN_DIR + "/evaluation.json"
PLAN_FORWARD_MODELS = PLAN_DIR + "/forward_models.json"
#: the trained kernel space (:mod:`inrdeblur.kernel_space.training`): weights, trace, meta
KERNEL_SPACE_DIR = "results/kernel_space"
KERNEL_SPACE_META = KERNEL_SPACE_DIR + "/meta.json"
KERNEL_SPACE_CHECKPOINT = "results/checkpoints/kernel_space.pt"
METRICS_TABLE = "results/tables/metrics.csv"
SUMMARY_TABLE = "results/tables/summary.csv"
CONVERGENCE_TABLE = "results/tables/convergence.csv"
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


def seed_dir(scene_dir: str | Path, seed: int) -> Path:
    """One seed's folder in a fit job's folder (a :data:`FIT_SCENE_DIR`): a :data:`FIT_DIR`."""
    return Path(scene_dir) / SEED.format(seed=seed)


def fit_outputs(fit_folder: str | Path) -> dict[str, Path]:
    """The four outputs of one fit in ``fit_folder`` (a :data:`FIT_DIR`), by role."""
    return {role: Path(fit_folder) / name for role, name in FIT_FILES.items()}
