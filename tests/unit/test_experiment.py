"""The experiment's expansion (inrdeblur.experiment) against a hand-written listing."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from inrdeblur import experiment
from inrdeblur.data.registry import WITH_REFERENCE_BLUR


@pytest.fixture
def params() -> dict:
    return {
        "experiment": {
            "datasets": ["demo", "levin"],
            "blurs": ["motion", "parallax"],
            "methods": ["siren_tv", "hashgrid_tv"],
            "seeds": [0, 3],
            "forward_models": ["parallax"],
        },
        "datasets": {
            "demo": {"scenes": ["astronaut", "coffee"]},
            "levin": {"scenes": ["im1_kernel1"]},
        },
    }


def test_images_fits_and_evaluation_sets_enumerate_the_product(params):
    images = [("motion", "demo", "astronaut"), ("motion", "demo", "coffee")]
    images += [("motion", "levin", "im1_kernel1")]
    images += [("parallax", d, s) for _, d, s in images]
    assert [tuple(i.values()) for i in experiment.images(params)] == images
    jobs = [(m, *i) for m in ("siren_tv", "hashgrid_tv") for i in images]
    assert [
        tuple(j.values()) for j in experiment.fit_jobs(params, ["siren_tv", "hashgrid_tv"])
    ] == jobs
    fits = list(experiment.fits(params, ["hashgrid_tv"]))
    assert len(fits) == len(images) * 2
    assert {f["seed"] for f in fits} == {0, 3}
    sets = list(experiment.evaluation_sets(params))
    assert [tuple(s.values()) for s in sets] == list(
        itertools.product(("siren_tv", "hashgrid_tv"), ("motion", "parallax"), ("demo", "levin"))
    )


def test_all_scenes_of_a_dataset_come_from_its_manifest(params):
    params["datasets"]["levin"]["scenes"] = "all"
    scenes = experiment.scenes_by_dataset(params)
    assert len(scenes["levin"]) == 32 and scenes["levin"][0] == "im1_kernel1"
    assert scenes["demo"] == ["astronaut", "coffee"]


def test_gathered_files_follow_the_layout(params, tmp_path):
    metas = experiment.fit_metas(params, "siren_tv", tmp_path)
    assert len(metas) == 6 * 2  # images x seeds
    assert metas[0] == tmp_path / "results/fits/siren_tv/motion/demo/astronaut/seed0/meta.json"
    assert metas[1] == tmp_path / "results/fits/siren_tv/motion/demo/astronaut/seed3/meta.json"
    records = experiment.forward_model_records(params)
    with_reference = [d for d in params["experiment"]["datasets"] if d in WITH_REFERENCE_BLUR]
    assert records == [
        Path(f"results/forward_models/parallax/{d}/{s}.json")
        for d in with_reference
        for s in params["datasets"][d]["scenes"]
    ]
    assert with_reference == ["demo"]
