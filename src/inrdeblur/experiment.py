"""What the studies of a params file consist of: the images, fit jobs and evaluation sets.

One definition for the workflow, whose targets these are, and for the stages that gather
results (the fit index, the blur-formation tables), which read exactly the files of the
studies rather than whatever lies in ``results/``. No file lists travel on the command
line: at paper scale they are longer than the operating system allows for one argument
(128 KiB on Linux), so a gathering stage gets the params sections below and expands them
here.

``params`` is a validated params dict (:func:`inrdeblur.config.validate_params`); only
``studies`` and ``datasets`` are read. The scenes of a dataset are those its settings list
or, for ``scenes: all``, its whole manifest; a folder of the user's own (photos) has no
manifest, and its ``all`` is every photo in it when this module is asked
(:func:`dataset_scene_ids`, relative roots from the working directory). Each enabled
study is its own datasets x blurs x methods x seeds; what runs is their union, each item
once:

- an *image* is one blurred image: ``(blur, dataset, scene)`` for every blur x dataset x
  scene of a study;
- a *fit job* fits one method to one image (:data:`inrdeblur.layout.FIT_SCENE_DIR`), for
  every seed of every study that has that method, blur and dataset (:func:`fit_seeds`);
- an *evaluation set* is one method on one blur of one dataset: one evaluate job and one
  metrics file (:data:`inrdeblur.layout.METRICS_SET`).

>>> params = {"datasets": {"demo": {"scenes": ["camera"]}}, "studies": {
...     "a": {"enabled": True, "datasets": ["demo"], "blurs": ["motion"],
...           "methods": ["tikhonov"], "seeds": [0], "forward_models": []},
...     "b": {"enabled": True, "datasets": ["demo"], "blurs": ["motion", "parallax"],
...           "methods": ["tikhonov", "siren_tv"], "seeds": [1, 0], "forward_models": []}}}
>>> [tuple(job.values()) for job in fit_jobs(params)]  # doctest: +NORMALIZE_WHITESPACE
[('tikhonov', 'motion', 'demo', 'camera'), ('tikhonov', 'parallax', 'demo', 'camera'),
 ('siren_tv', 'motion', 'demo', 'camera'), ('siren_tv', 'parallax', 'demo', 'camera')]
>>> fit_seeds(params, "tikhonov", "motion", "demo")
[0, 1]
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inrdeblur import layout
from inrdeblur.config.params import method_names
from inrdeblur.data.registry import (
    USER_FOLDERS,
    entry,
    has_reference_blur,
    reader_root,
    scene_ids,
)
from inrdeblur.fileio import InputFileError, write_json


def enabled_studies(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The studies that run, by name, in params order."""
    return {name: study for name, study in params["studies"].items() if study["enabled"]}


def _union(params: dict[str, Any], section: str) -> list[str]:
    """Every name of ``section`` in the enabled studies, once each, in first-seen order."""
    names: dict[str, None] = {}
    for study in enabled_studies(params).values():
        names.update(dict.fromkeys(study[section]))
    return list(names)


def datasets(params: dict[str, Any]) -> list[str]:
    """The datasets of the enabled studies."""
    return _union(params, "datasets")


def blurs(params: dict[str, Any]) -> list[str]:
    """The blurs of the enabled studies (not their forward models)."""
    return _union(params, "blurs")


def methods(params: dict[str, Any]) -> list[str]:
    """The methods of the enabled studies."""
    return _union(params, "methods")


def all_seeds(params: dict[str, Any]) -> list[int]:
    """Every seed of the enabled studies, sorted."""
    return sorted({s for study in enabled_studies(params).values() for s in study["seeds"]})


def fit_seeds(params: dict[str, Any], method: str, blur: str, dataset: str) -> list[int]:
    """The seeds ``method`` is fitted with on the images of ``blur`` x ``dataset``: the
    union of the seeds of every enabled study with all three, sorted (empty: none has)."""
    seeds: set[int] = set()
    for study in enabled_studies(params).values():
        if method in study["methods"] and blur in study["blurs"] and dataset in study["datasets"]:
            seeds.update(study["seeds"])
    return sorted(seeds)


def _user_folder_reader(dataset: str):
    """The reader module of a user's folder (``list_ids``, ``input_files``)."""
    return importlib.import_module(entry(dataset)["reader"])


def user_folder_files(dataset: str, settings: dict[str, Any]) -> list[Path]:
    """Every file the reader of a user's folder (:data:`~inrdeblur.data.registry.USER_FOLDERS`)
    reads in ``settings["root"]``: the photos and ``kernel_sizes.csv``, so that a changed
    file prepares the scenes again; ``[]`` for other datasets.

    Raises:
        InputFileError: the folder is missing or holds no photo, naming
            ``datasets.<dataset>.root`` and the folder.
    """
    if dataset not in USER_FOLDERS:
        return []
    folder = reader_root(dataset, settings["root"])
    try:
        return list(_user_folder_reader(dataset).input_files(folder))
    except InputFileError as err:
        raise InputFileError(f"datasets.{dataset}.root: {err}") from err


def dataset_scene_ids(dataset: str, settings: dict[str, Any]) -> list[str]:
    """Scene ids of ``dataset`` selected by its validated ``datasets.<dataset>`` settings:
    :func:`~inrdeblur.data.registry.scene_ids`, except that ``scenes: all`` of a user's
    folder (:data:`~inrdeblur.data.registry.USER_FOLDERS`: photos) is every scene its
    reader lists in ``settings["root"]`` now, sorted.

    Raises:
        InputFileError: that folder is missing or holds no photo, naming
            ``datasets.<dataset>.root`` and the folder.
    """
    if dataset in USER_FOLDERS and settings.get("scenes", "all") == "all":
        folder = reader_root(dataset, settings["root"])
        try:
            return list(_user_folder_reader(dataset).list_ids(folder))
        except InputFileError as err:
            raise InputFileError(f"datasets.{dataset}.root: {err}") from err
    return scene_ids(dataset, settings)


def scenes_by_dataset(params: dict[str, Any]) -> dict[str, list[str]]:
    """Scene ids of every dataset of the enabled studies, in manifest order (a user's
    folder: :func:`dataset_scene_ids`)."""
    return {d: dataset_scene_ids(d, params["datasets"][d]) for d in datasets(params)}


def blur_datasets(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(blur, dataset)`` pair of the enabled studies, once each."""
    pairs: dict[tuple[str, str], None] = {}
    for study in enabled_studies(params).values():
        pairs.update(dict.fromkeys((b, d) for b in study["blurs"] for d in study["datasets"]))
    return list(pairs)


def images(
    params: dict[str, Any], scenes: dict[str, list[str]] | None = None
) -> Iterator[dict[str, str]]:
    """``{"blur", "dataset", "scene"}`` of every blurred image of the enabled studies.

    ``scenes``: :func:`scenes_by_dataset` of ``params``, when the caller has it already.
    """
    scenes = scenes_by_dataset(params) if scenes is None else scenes
    for blur, dataset in blur_datasets(params):
        for scene in scenes[dataset]:
            yield {"blur": blur, "dataset": dataset, "scene": scene}


def evaluation_sets(params: dict[str, Any]) -> Iterator[dict[str, str]]:
    """``{"method", "blur", "dataset"}`` of every evaluate job of the enabled studies."""
    sets: dict[tuple[str, str, str], None] = {}
    for study in enabled_studies(params).values():
        for method in study["methods"]:
            for blur in study["blurs"]:
                sets.update(dict.fromkeys((method, blur, d) for d in study["datasets"]))
    for method, blur, dataset in sets:
        yield {"method": method, "blur": blur, "dataset": dataset}


def fit_jobs(
    params: dict[str, Any],
    methods: list[str] | None = None,
    scenes: dict[str, list[str]] | None = None,
) -> Iterator[dict[str, str]]:
    """``{"method", "blur", "dataset", "scene"}`` of every fit job, in the order of
    :func:`evaluation_sets` (``methods``: only these)."""
    scenes = scenes_by_dataset(params) if scenes is None else scenes
    for item in evaluation_sets(params):
        if methods is None or item["method"] in methods:
            for scene in scenes[item["dataset"]]:
                yield {**item, "scene": scene}


def fits(
    params: dict[str, Any],
    methods: list[str] | None = None,
    scenes: dict[str, list[str]] | None = None,
) -> Iterator[dict[str, Any]]:
    """``{"method", "blur", "dataset", "scene", "seed"}`` of every fit (job x seed)."""
    for job in fit_jobs(params, methods, scenes):
        for seed in fit_seeds(params, job["method"], job["blur"], job["dataset"]):
            yield {**job, "seed": seed}


#: a fit job's first time limit per seed (minutes) and memory (MB)
FIT_MINUTES_PER_SEED = 120
FIT_MEM_MB = 8000


def fit_job_resources(n_seeds: int, attempt: int = 1) -> dict[str, int]:
    """``runtime`` (minutes) and ``mem_mb`` of a fit job of ``n_seeds`` seeds at its
    ``attempt`` (1 for the first submission): two hours per seed and 8 GB, the time
    doubled and the memory raised by half for each retry, so a job killed at its time
    or memory limit resumes from its checkpoint with more.

    >>> fit_job_resources(2), fit_job_resources(2, attempt=3)
    ({'runtime': 240, 'mem_mb': 8000}, {'runtime': 960, 'mem_mb': 16000})
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    return {
        "runtime": FIT_MINUTES_PER_SEED * max(1, n_seeds) * 2 ** (attempt - 1),
        "mem_mb": FIT_MEM_MB * (attempt + 1) // 2,
    }


def forward_model_scenes(
    params: dict[str, Any], scenes: dict[str, list[str]] | None = None
) -> Iterator[dict[str, str]]:
    """``{"blur", "dataset", "scene"}`` of the blur-formation experiment: every blur of a
    study's ``forward_models`` on every scene of its datasets with reference blurs."""
    scenes = scenes_by_dataset(params) if scenes is None else scenes
    pairs: dict[tuple[str, str], None] = {}
    for study in enabled_studies(params).values():
        for blur in study["forward_models"]:
            pairs.update(
                dict.fromkeys((blur, d) for d in study["datasets"] if has_reference_blur(d))
            )
    for blur, dataset in pairs:
        for scene in scenes[dataset]:
            yield {"blur": blur, "dataset": dataset, "scene": scene}


def fit_metas(params: dict[str, Any], method: str, root: str | Path = ".") -> list[Path]:
    """The meta.json of every fit of ``method`` in the enabled studies."""
    return [Path(root) / layout.FIT_META.format(**fit) for fit in fits(params, [method])]


def forward_model_records(params: dict[str, Any], root: str | Path = ".") -> list[Path]:
    """The record of every blur model x scene of the blur-formation experiment."""
    return [
        Path(root) / layout.FORWARD_RECORD.format(**item) for item in forward_model_scenes(params)
    ]


def plan(params: dict[str, Any]) -> dict[str, Any]:
    """What every DVC stage runs, by plan file (:data:`inrdeblur.layout.PLAN_DIR`): the
    images, each defined method's (and two-stage entry's) fit jobs with their seeds
    (none when no enabled study has it), the evaluation sets and the blur-formation
    items. Only names and seeds: the settings they point to are each stage's own
    params."""
    scenes = scenes_by_dataset(params)
    by_set = {
        (item["method"], item["blur"], item["dataset"]): fit_seeds(params, **item)
        for item in evaluation_sets(params)
    }
    files: dict[str, Any] = {
        layout.PLAN_IMAGES: {
            "datasets": {d: scenes[d] for d in datasets(params)},
            "blurs": [{"blur": b, "dataset": d} for b, d in blur_datasets(params)],
        },
        layout.PLAN_EVALUATION: [
            {"method": m, "blur": b, "dataset": d, "seeds": seeds}
            for (m, b, d), seeds in by_set.items()
        ],
        layout.PLAN_FORWARD_MODELS: list(forward_model_scenes(params, scenes)),
    }
    for method in method_names(params):
        files[layout.PLAN_FITS.format(method=method)] = [
            {"blur": b, "dataset": d, "scenes": scenes[d], "seeds": seeds}
            for (m, b, d), seeds in by_set.items()
            if m == method
        ]
    return files


def write_plan(params: dict[str, Any], root: str | Path = ".") -> list[Path]:
    """Write every file of :func:`plan` under ``root``; the plan folder holds nothing else
    afterwards (a method no longer defined loses its file). Returns the paths written."""
    files = plan(params)
    plan_dir = Path(root) / layout.PLAN_DIR
    keep = {Path(root) / name for name in files}
    if plan_dir.is_dir():
        for stale in plan_dir.rglob("*.json"):
            if stale not in keep:
                stale.unlink()
    for name, content in files.items():
        write_json(Path(root) / name, content)
    return sorted(keep)
