"""What an experiment consists of: the images, fit jobs and evaluation sets of its params.

One definition for the workflow, whose targets these are, and for the stages that gather
results (the fit index, the blur-formation tables), which read exactly the files of the
experiment rather than whatever lies in ``results/``. No file lists travel on the command
line: at paper scale they are longer than the operating system allows for one argument
(128 KiB on Linux), so a gathering stage gets the params sections below and expands them
here.

``params`` is a validated params dict (:func:`inrdeblur.config.validate_params`); only
``experiment`` and ``datasets`` are read:

- an *image* is one blurred image: ``(blur, dataset, scene)`` for every blur x dataset x
  scene of the experiment;
- a *fit job* fits one method to one image for every seed in turn
  (:data:`inrdeblur.layout.FIT_SCENE_DIR`);
- an *evaluation set* is one method on one blur of one dataset: one evaluate job and one
  metrics file (:data:`inrdeblur.layout.METRICS_SET`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inrdeblur import layout
from inrdeblur.data.registry import has_reference_blur, scene_ids


def scenes_by_dataset(params: dict[str, Any]) -> dict[str, list[str]]:
    """Scene ids of every dataset of the experiment, in manifest order."""
    return {d: scene_ids(d, params["datasets"][d]) for d in params["experiment"]["datasets"]}


def images(
    params: dict[str, Any], scenes: dict[str, list[str]] | None = None
) -> Iterator[dict[str, str]]:
    """``{"blur", "dataset", "scene"}`` of every blurred image of the experiment.

    ``scenes``: :func:`scenes_by_dataset` of ``params``, when the caller has it already.
    """
    scenes = scenes_by_dataset(params) if scenes is None else scenes
    for blur in params["experiment"]["blurs"]:
        for dataset in params["experiment"]["datasets"]:
            for scene in scenes[dataset]:
                yield {"blur": blur, "dataset": dataset, "scene": scene}


def fit_jobs(
    params: dict[str, Any], methods: list[str], scenes: dict[str, list[str]] | None = None
) -> Iterator[dict[str, str]]:
    """``{"method", "blur", "dataset", "scene"}`` of every fit job of ``methods``."""
    scenes = scenes_by_dataset(params) if scenes is None else scenes
    for method in methods:
        for image in images(params, scenes):
            yield {"method": method, **image}


def fits(
    params: dict[str, Any], methods: list[str], scenes: dict[str, list[str]] | None = None
) -> Iterator[dict[str, Any]]:
    """``{"method", "blur", "dataset", "scene", "seed"}`` of every fit (job x seed)."""
    for job in fit_jobs(params, methods, scenes):
        for seed in params["experiment"]["seeds"]:
            yield {**job, "seed": seed}


def evaluation_sets(params: dict[str, Any]) -> Iterator[dict[str, str]]:
    """``{"method", "blur", "dataset"}`` of every evaluate job of the experiment."""
    experiment = params["experiment"]
    for method in experiment["methods"]:
        for blur in experiment["blurs"]:
            for dataset in experiment["datasets"]:
                yield {"method": method, "blur": blur, "dataset": dataset}


def forward_model_scenes(
    params: dict[str, Any], scenes: dict[str, list[str]] | None = None
) -> Iterator[dict[str, str]]:
    """``{"blur", "dataset", "scene"}`` of the blur-formation experiment: every blur of
    ``experiment.forward_models`` on every scene of a dataset with reference blurs."""
    scenes = scenes_by_dataset(params) if scenes is None else scenes
    for blur in params["experiment"]["forward_models"]:
        for dataset in params["experiment"]["datasets"]:
            if has_reference_blur(dataset):
                for scene in scenes[dataset]:
                    yield {"blur": blur, "dataset": dataset, "scene": scene}


def fit_metas(params: dict[str, Any], method: str, root: str | Path = ".") -> list[Path]:
    """The meta.json of every fit of ``method`` in the experiment."""
    return [Path(root) / layout.FIT_META.format(**fit) for fit in fits(params, [method])]


def forward_model_records(params: dict[str, Any], root: str | Path = ".") -> list[Path]:
    """The record of every blur model x scene of the blur-formation experiment."""
    return [
        Path(root) / layout.FORWARD_RECORD.format(**item) for item in forward_model_scenes(params)
    ]
