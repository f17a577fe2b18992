# Parameters, wildcard constraints and target lists. No rule lives here.
# Job granularity: prepare runs once per dataset, synthesize once per blur and dataset, fit
# once per blurred image and method (every seed in turn), evaluate once per method, blur and
# dataset; a paper-scale DAG (benchmarks/dag_scale.py) then has about one job per image and
# method. The per-image rules (fit, forward_model) have no `message:`: Snakemake already
# logs their rule name and wildcards, and formatting a message costs time per job.
import json
import shlex

from inrdeblur import experiment, layout, preflight
from inrdeblur.config import ParamsError, validate_params
from inrdeblur.config.params import resolved_recipe
from inrdeblur.data.download import torch_hub_dir
from inrdeblur.data.registry import entry
from inrdeblur.fileio import InputFileError

try:
    config.update(validate_params(config, source="params.yaml"))
except ParamsError as err:
    raise WorkflowError(str(err)) from None

#: the union of the enabled studies: what the workflow runs
DATASETS = experiment.datasets(config)
METHODS = experiment.methods(config)
try:  # a folder of the user's own (photos) with `scenes: all` is listed now
    SCENES = experiment.scenes_by_dataset(config)
except InputFileError as err:
    raise WorkflowError(str(err)) from None
CONDA_ENV = "../envs/inrdeblur.yaml"
LPIPS_FLAG = "--lpips" if config["metrics"]["lpips"] else "--no-lpips"
#: where `inrdeblur fetch` puts each downloaded dataset (its default --raw-dir)
RAW_DIR = layout.RAW_DIR
#: written last into data/raw/<dataset>/ by `inrdeblur fetch`: the fetch rule's output
FETCH_STAMP = layout.FETCH_STAMP
#: the LPIPS backbone in the torch hub cache, where the LPIPS metric reads it
LPIPS_BACKBONE = str(torch_hub_dir() / entry("lpips_alexnet")["layout"]["weights"])


def is_fetched(dataset):
    """True when the scenes of `dataset` are read from data/raw/<dataset>, the folder that
    `inrdeblur fetch` fills (inrdeblur.preflight.is_fetched)."""
    return preflight.is_fetched(config, dataset)


onstart:
    # Before any job is queued: dataset roots, mirrors and the executor's commands.
    problems = preflight.preflight_problems(config, workflow.executor_plugin.name)
    if problems:
        raise WorkflowError(
            "preflight: nothing was run\n" + "\n".join(f"  - {p}" for p in problems)
        )


#: every configured dataset the fetch rule may fetch (its wildcard constraint)
FETCHED_DATASETS = sorted(name for name in config["datasets"] if is_fetched(name))


wildcard_constraints:
    dataset="[a-z][a-z0-9_]*",
    blur="[a-z][a-z0-9_]*",
    method="[a-z][a-z0-9_]*",
    scene="[A-Za-z0-9][A-Za-z0-9_.-]*",
    seed="[0-9]+",


def _as_json(value):
    return json.dumps(value, sort_keys=True)


def dataset_settings(wildcards):
    return _as_json(config["datasets"][wildcards.dataset])


def fetched_dataset(wildcards):
    """The fetch stamp of the scene's dataset, if it is fetched. Ancient: a fetch that
    reruns (a new mirror, say) only re-verifies the copy, so the scenes stay valid."""
    if is_fetched(wildcards.dataset):
        return [ancient(FETCH_STAMP.format(dataset=wildcards.dataset))]
    return []


def user_folder_files(wildcards):
    """The files of a folder of the user's own (photos) that prepare reads, so that a
    changed or added photo prepares the scenes again; none for other datasets, or when
    the folder cannot be read (preflight and prepare say why)."""
    try:
        return experiment.user_folder_files(
            wildcards.dataset, config["datasets"][wildcards.dataset]
        )
    except InputFileError:
        return []


def fetch_mirror_option(wildcards):
    """`--mirror <datasets.<dataset>.mirror>`, or nothing when no mirror is set."""
    mirror = config["datasets"][wildcards.dataset].get("mirror")
    return f"--mirror {shlex.quote(str(mirror))}" if mirror else ""


def fetched_dataset_pattern():
    """Wildcard constraint of the fetch rule: the names of FETCHED_DATASETS."""
    return "|".join(FETCHED_DATASETS) or "(?!)"


def blur_settings(wildcards):
    return _as_json(config["blurs"][wildcards.blur])


def method_recipe(wildcards):
    """The method's recipe; a two-stage entry's, with its non-blind method's recipe."""
    return _as_json(resolved_recipe(config, wildcards.method))


def blind_fit_of(wildcards):
    """A two-stage fit reads the kernel estimates of its blind method's fit of the same
    image; other fits read no fit."""
    entry = config["two_stage"].get(wildcards.method)
    if entry is None:
        return []
    return [
        layout.FIT_SCENE_DIR.format(
            method=entry["blind"],
            blur=wildcards.blur,
            dataset=wildcards.dataset,
            scene=wildcards.scene,
        )
    ]


def fit_seeds(wildcards):
    """Every seed of the studies with this method, blur and dataset: a fit job fits them
    in turn, and the evaluate job of the set scores them."""
    return experiment.fit_seeds(config, wildcards.method, wildcards.blur, wildcards.dataset)


def fit_seeds_option(wildcards):
    return " ".join(map(str, fit_seeds(wildcards)))


def fit_runtime(wildcards, attempt):
    """Minutes a fit job may take: two hours per seed, doubled for each retry
    (inrdeblur.experiment.fit_job_resources)."""
    return experiment.fit_job_resources(len(fit_seeds(wildcards)), attempt)["runtime"]


def fit_mem_mb(wildcards, attempt):
    """A fit job's memory: 8 GB, raised by half for each retry."""
    return experiment.fit_job_resources(len(fit_seeds(wildcards)), attempt)["mem_mb"]


def report_settings(wildcards):
    """Every section that shapes the results (not the executor), for the report, in the
    order of params.yaml: the report's study sections follow it."""
    return json.dumps({k: v for k, v in config.items() if k != "executor"})


def study_sections(wildcards):
    """The sections a gathering stage expands itself (inrdeblur.experiment): file lists
    of a paper-scale study are too long for one shell command."""
    return _as_json({k: config[k] for k in ("studies", "datasets")})


def all_fetch_stamps():
    """The fetch stamp of every dataset of the studies that is fetched."""
    return [FETCH_STAMP.format(dataset=d) for d in DATASETS if is_fetched(d)]


def all_scene_dirs():
    return [layout.SCENES_DIR.format(dataset=d) for d in DATASETS]


def all_blurred_dirs():
    return [
        layout.BLURRED_DIR.format(blur=b, dataset=d) for b, d in experiment.blur_datasets(config)
    ]


def fit_dirs_of_method(wildcards):
    """The output folder of every fit job of the method."""
    return [
        layout.FIT_SCENE_DIR.format(**job)
        for job in experiment.fit_jobs(config, [wildcards.method], SCENES)
    ]


def all_fit_indexes():
    return [layout.FIT_INDEX.format(method=m) for m in METHODS]


def evaluation_set_inputs(wildcards):
    """The scenes and blurred images one evaluate job reads, and the fit index of its
    method, which stands for every fit folder it lists: it is rewritten after any of them
    changes. One input instead of a folder per fit job keeps a paper-scale DAG small."""
    return {
        "scenes": layout.SCENES_DIR.format(**wildcards),
        "blurred": layout.BLURRED_DIR.format(**wildcards),
        "fits": layout.FIT_INDEX.format(method=wildcards.method),
    }


def all_metric_sets():
    return [layout.METRICS_SET.format(**s) for s in experiment.evaluation_sets(config)]


def all_convergence_sets():
    return [layout.CONVERGENCE_SET.format(**s) for s in experiment.evaluation_sets(config)]


def all_forward_model_records():
    return [
        layout.FORWARD_RECORD.format(**item)
        for item in experiment.forward_model_scenes(config, SCENES)
    ]


def kernel_space_scene_dirs(wildcards):
    """The scene folders the kernel space trains on (and measures on, held out): none
    when it is off, or takes the user's weights and holds nothing out."""
    settings = config["kernel_space"]
    if not settings["enabled"] or (settings["weights"] and not settings["held_out"]):
        return []
    return [layout.SCENES_DIR.format(dataset=d) for d in settings["datasets"]]


def kernel_space_targets():
    """The trained kernel space, when kernel_space.enabled."""
    return [layout.KERNEL_SPACE_DIR] if config["kernel_space"]["enabled"] else []
