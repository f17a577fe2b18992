# Parameters, wildcard constraints and target lists. No rule lives here.
# Rules with one job per image (prepare, synthesize, fit, evaluate, forward_model) have no
# `message:`: Snakemake already logs their rule name and wildcards, and formatting a
# message costs about 1 ms per job when a paper-scale DAG is built (benchmarks/dag_scale.py).
import json
import os
import shlex

from inrdeblur import layout
from inrdeblur.config import ParamsError, validate_params
from inrdeblur.data.fetch import torch_hub_dir
from inrdeblur.data.registry import entry, has_reference_blur, scene_ids

try:
    config.update(validate_params(config, source="params.yaml"))
except ParamsError as err:
    raise WorkflowError(str(err)) from None

EXPERIMENT = config["experiment"]
SCENES = {
    dataset: scene_ids(dataset, config["datasets"][dataset]) for dataset in EXPERIMENT["datasets"]
}
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
    `inrdeblur fetch` fills, i.e. a downloaded dataset whose `root` is the default. A root
    set by the user is a local copy (nothing is fetched); generated data (demo) has none."""
    root = config["datasets"].get(dataset, {}).get("root")
    return root is not None and os.path.normpath(root) == os.path.join(RAW_DIR, dataset)


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
    return _as_json(config["methods"][wildcards.method])


def experiment_settings(wildcards):
    """Every section that shapes the results (not the executor), for the report."""
    return _as_json({k: v for k, v in config.items() if k != "executor"})


def _images():
    for blur in EXPERIMENT["blurs"]:
        for dataset in EXPERIMENT["datasets"]:
            for scene in SCENES[dataset]:
                yield {"blur": blur, "dataset": dataset, "scene": scene}


def _fits(methods):
    for method in methods:
        for image in _images():
            for seed in EXPERIMENT["seeds"]:
                yield {"method": method, "seed": seed, **image}


def all_fetch_stamps():
    """The fetch stamp of every dataset of the experiment that is fetched."""
    return [FETCH_STAMP.format(dataset=d) for d in EXPERIMENT["datasets"] if is_fetched(d)]


def all_scene_files():
    return sorted({layout.SCENE.format(**image) for image in _images()})


def all_blurred_files():
    return [layout.BLURRED.format(**image) for image in _images()]


def fit_metas_of_method(wildcards):
    return [layout.FIT_META.format(**fit) for fit in _fits([wildcards.method])]


def all_fit_indexes():
    return [layout.FIT_INDEX.format(method=m) for m in EXPERIMENT["methods"]]


def all_fit_estimates():
    return [layout.FIT_ESTIMATE_NPZ.format(**fit) for fit in _fits(EXPERIMENT["methods"])]


def all_metric_files():
    return [layout.METRICS.format(**fit) for fit in _fits(EXPERIMENT["methods"])]


def _forward_model_scenes():
    for blur in EXPERIMENT["forward_models"]:
        for dataset in EXPERIMENT["datasets"]:
            if has_reference_blur(dataset):
                for scene in SCENES[dataset]:
                    yield {"blur": blur, "dataset": dataset, "scene": scene}


def all_forward_model_records():
    return [layout.FORWARD_RECORD.format(**item) for item in _forward_model_scenes()]
