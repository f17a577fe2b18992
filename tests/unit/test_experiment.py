"""The studies' expansion (inrdeblur.experiment) against hand-written listings."""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from inrdeblur import experiment, layout
from inrdeblur.data.registry import WITH_REFERENCE_BLUR
from inrdeblur.metrics import tables

DEMO = ["astronaut", "coffee"]
LEVIN = ["im1_kernel1"]


def study(**sections) -> dict:
    """A study with the schema's defaults (enabled, no blur-formation models)."""
    return {"enabled": True, "title": "", "forward_models": [], **sections}


@pytest.fixture
def params() -> dict:
    """One study: the product of every section."""
    return {
        "studies": {
            "main": study(
                datasets=["demo", "levin"],
                blurs=["motion", "parallax"],
                methods=["siren_tv", "hashgrid_tv"],
                seeds=[0, 3],
                forward_models=["parallax"],
            )
        },
        "datasets": {"demo": {"scenes": DEMO}, "levin": {"scenes": LEVIN}},
    }


@pytest.fixture
def studies() -> dict:
    """Three enabled studies that overlap, one disabled; ``ffn_tv`` is in none.

    - ``a``: tikhonov and siren_tv, motion on demo, seeds 0 and 2;
    - ``b``: tikhonov, motion on demo and levin, seed 1 (shares tikhonov/motion/demo with a);
    - ``c``: siren_tv, parallax on demo, seed 5, and the blur-formation models;
    - ``off`` (disabled): hashgrid_tv on levin, seed 9, with a forward model of its own.
    """
    return {
        "studies": {
            "a": study(
                datasets=["demo"],
                blurs=["motion"],
                methods=["tikhonov", "siren_tv"],
                seeds=[2, 0],
                forward_models=["parallax"],
            ),
            "b": study(
                datasets=["demo", "levin"],
                blurs=["motion"],
                methods=["tikhonov"],
                seeds=[1],
                forward_models=["parallax"],
            ),
            "c": study(datasets=["demo"], blurs=["parallax"], methods=["siren_tv"], seeds=[5]),
            "off": study(
                enabled=False,
                datasets=["levin", "demo"],
                blurs=["true_kernel_valid", "motion"],
                methods=["hashgrid_tv", "tikhonov"],
                seeds=[9],
                forward_models=["per_pixel"],
            ),
        },
        "datasets": {"demo": {"scenes": DEMO}, "levin": {"scenes": LEVIN}},
        "methods": {"tikhonov": {}, "siren_tv": {}, "hashgrid_tv": {}, "ffn_tv": {}},
    }


def rows(items) -> list[tuple]:
    return [tuple(item.values()) for item in items]


def test_images_fits_and_evaluation_sets_enumerate_the_product(params):
    images = [("motion", "demo", "astronaut"), ("motion", "demo", "coffee")]
    images += [("motion", "levin", "im1_kernel1")]
    images += [("parallax", d, s) for _, d, s in images]
    assert rows(experiment.images(params)) == images
    jobs = [(m, *i) for m in ("siren_tv", "hashgrid_tv") for i in images]
    assert rows(experiment.fit_jobs(params, ["siren_tv", "hashgrid_tv"])) == jobs
    assert rows(experiment.fit_jobs(params)) == jobs
    assert rows(experiment.fit_jobs(params, ["hashgrid_tv"])) == jobs[len(images) :]
    fits = list(experiment.fits(params, ["hashgrid_tv"]))
    assert len(fits) == len(images) * 2
    assert {f["seed"] for f in fits} == {0, 3}
    sets = list(experiment.evaluation_sets(params))
    assert rows(sets) == list(
        itertools.product(("siren_tv", "hashgrid_tv"), ("motion", "parallax"), ("demo", "levin"))
    )
    assert experiment.all_seeds(params) == [0, 3]
    assert experiment.fit_seeds(params, "siren_tv", "parallax", "levin") == [0, 3]
    assert experiment.fit_seeds(params, "tikhonov", "parallax", "levin") == []


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
    with_reference = [d for d in params["studies"]["main"]["datasets"] if d in WITH_REFERENCE_BLUR]
    assert records == [
        Path(f"results/forward_models/parallax/{d}/{s}.json")
        for d in with_reference
        for s in params["datasets"][d]["scenes"]
    ]
    assert with_reference == ["demo"]


def test_the_sections_are_the_union_of_the_enabled_studies(studies):
    assert list(experiment.enabled_studies(studies)) == ["a", "b", "c"]
    assert experiment.datasets(studies) == ["demo", "levin"]
    assert experiment.blurs(studies) == ["motion", "parallax"]
    assert experiment.methods(studies) == ["tikhonov", "siren_tv"]
    assert experiment.all_seeds(studies) == [0, 1, 2, 5]
    assert experiment.scenes_by_dataset(studies) == {"demo": DEMO, "levin": LEVIN}
    assert experiment.blur_datasets(studies) == [
        ("motion", "demo"),
        ("motion", "levin"),
        ("parallax", "demo"),
    ]
    assert rows(experiment.images(studies)) == [
        ("motion", "demo", "astronaut"),
        ("motion", "demo", "coffee"),
        ("motion", "levin", "im1_kernel1"),
        ("parallax", "demo", "astronaut"),
        ("parallax", "demo", "coffee"),
    ]


def test_a_fit_two_studies_share_runs_once_with_the_union_of_their_seeds(studies):
    # tikhonov/motion/demo is in a (seeds 2, 0) and b (seed 1): one evaluation set.
    assert rows(experiment.evaluation_sets(studies)) == [
        ("tikhonov", "motion", "demo"),
        ("siren_tv", "motion", "demo"),
        ("tikhonov", "motion", "levin"),
        ("siren_tv", "parallax", "demo"),
    ]
    assert experiment.fit_seeds(studies, "tikhonov", "motion", "demo") == [0, 1, 2]
    assert experiment.fit_seeds(studies, "tikhonov", "motion", "levin") == [1]
    assert experiment.fit_seeds(studies, "siren_tv", "motion", "demo") == [0, 2]
    assert experiment.fit_seeds(studies, "siren_tv", "parallax", "demo") == [5]
    # Each of the three is in some study, but no study has all three: no seeds.
    assert experiment.fit_seeds(studies, "tikhonov", "parallax", "demo") == []
    assert experiment.fit_seeds(studies, "siren_tv", "motion", "levin") == []
    # Only the disabled study has it.
    assert experiment.fit_seeds(studies, "hashgrid_tv", "true_kernel_valid", "levin") == []

    fits = [tuple(f.values()) for f in experiment.fits(studies)]
    expected = [("tikhonov", "motion", "demo", scene, seed) for scene in DEMO for seed in (0, 1, 2)]
    expected += [("siren_tv", "motion", "demo", scene, seed) for scene in DEMO for seed in (0, 2)]
    expected += [("tikhonov", "motion", "levin", "im1_kernel1", 1)]
    expected += [("siren_tv", "parallax", "demo", scene, 5) for scene in DEMO]
    assert fits == expected
    assert len(set(fits)) == len(fits) == 6 + 4 + 1 + 2
    assert rows(experiment.fit_jobs(studies, ["tikhonov"])) == [
        ("tikhonov", "motion", "demo", "astronaut"),
        ("tikhonov", "motion", "demo", "coffee"),
        ("tikhonov", "motion", "levin", "im1_kernel1"),
    ]
    metas = experiment.fit_metas(studies, "tikhonov")
    assert metas[:3] == [
        Path(f"results/fits/tikhonov/motion/demo/astronaut/seed{s}/meta.json") for s in (0, 1, 2)
    ]
    assert len(metas) == 7
    # parallax is a forward model of a and b: once, on demo only (levin has no reference).
    assert rows(experiment.forward_model_scenes(studies)) == [
        ("parallax", "demo", scene) for scene in DEMO
    ]


def test_a_disabled_study_contributes_nothing(studies):
    without = copy.deepcopy(studies)
    del without["studies"]["off"]
    for expand in (
        experiment.datasets,
        experiment.blurs,
        experiment.methods,
        experiment.all_seeds,
        experiment.blur_datasets,
        experiment.scenes_by_dataset,
        experiment.plan,
    ):
        assert expand(studies) == expand(without), expand.__name__
    for expand in (
        experiment.images,
        experiment.evaluation_sets,
        experiment.fit_jobs,
        experiment.fits,
        experiment.forward_model_scenes,
    ):
        assert list(expand(studies)) == list(expand(without)), expand.__name__
    assert "true_kernel_valid" not in experiment.blurs(studies)
    # Enabled, the same study adds its work (and its seed to a set it shares with b).
    studies["studies"]["off"]["enabled"] = True
    assert experiment.methods(studies) == ["tikhonov", "siren_tv", "hashgrid_tv"]
    assert experiment.fit_seeds(studies, "tikhonov", "motion", "levin") == [1, 9]
    assert experiment.fit_seeds(studies, "hashgrid_tv", "true_kernel_valid", "levin") == [9]


def test_the_plan_lists_each_stage_s_work(studies):
    plan = experiment.plan(studies)
    fits_of = {m: layout.PLAN_FITS.format(method=m) for m in studies["methods"]}
    assert sorted(plan) == sorted(
        [
            layout.PLAN_IMAGES,
            layout.PLAN_EVALUATION,
            layout.PLAN_FORWARD_MODELS,
            *fits_of.values(),
        ]
    )
    assert plan[layout.PLAN_IMAGES] == {
        "datasets": {"demo": DEMO, "levin": LEVIN},
        "blurs": [
            {"blur": "motion", "dataset": "demo"},
            {"blur": "motion", "dataset": "levin"},
            {"blur": "parallax", "dataset": "demo"},
        ],
    }
    assert plan[layout.PLAN_EVALUATION] == [
        {"method": "tikhonov", "blur": "motion", "dataset": "demo", "seeds": [0, 1, 2]},
        {"method": "siren_tv", "blur": "motion", "dataset": "demo", "seeds": [0, 2]},
        {"method": "tikhonov", "blur": "motion", "dataset": "levin", "seeds": [1]},
        {"method": "siren_tv", "blur": "parallax", "dataset": "demo", "seeds": [5]},
    ]
    assert plan[fits_of["tikhonov"]] == [
        {"blur": "motion", "dataset": "demo", "scenes": DEMO, "seeds": [0, 1, 2]},
        {"blur": "motion", "dataset": "levin", "scenes": LEVIN, "seeds": [1]},
    ]
    assert plan[fits_of["siren_tv"]] == [
        {"blur": "motion", "dataset": "demo", "scenes": DEMO, "seeds": [0, 2]},
        {"blur": "parallax", "dataset": "demo", "scenes": DEMO, "seeds": [5]},
    ]
    # In the disabled study only, and in no study: defined, so planned, with nothing to do.
    assert plan[fits_of["hashgrid_tv"]] == []
    assert plan[fits_of["ffn_tv"]] == []
    assert plan[layout.PLAN_FORWARD_MODELS] == [
        {"blur": "parallax", "dataset": "demo", "scene": scene} for scene in DEMO
    ]


def test_write_plan_writes_the_plan_and_removes_stale_files(studies, tmp_path):
    plan_dir = tmp_path / layout.PLAN_DIR
    (plan_dir / "fits").mkdir(parents=True)
    (plan_dir / "fits" / "removed_method.json").write_text("[]\n")
    (plan_dir / "old.json").write_text("{}\n")
    (plan_dir / "notes.txt").write_text("not a plan file\n")
    outside = tmp_path / "results" / "fits" / "tikhonov.json"
    outside.parent.mkdir(parents=True)
    outside.write_text("{}\n")

    written = experiment.write_plan(studies, tmp_path)

    plan = experiment.plan(studies)
    assert written == sorted(tmp_path / name for name in plan)
    assert sorted(plan_dir.rglob("*.json")) == written
    for name, content in plan.items():
        assert json.loads((tmp_path / name).read_text()) == content
    assert not (plan_dir / "fits" / "removed_method.json").exists()
    assert not (plan_dir / "old.json").exists()
    assert (plan_dir / "notes.txt").exists()  # only plan files (JSON) are the plan's
    assert outside.exists()

    # A method no longer defined loses its file on the next write.
    del studies["methods"]["ffn_tv"]
    experiment.write_plan(studies, tmp_path)
    assert not (tmp_path / layout.PLAN_FITS.format(method="ffn_tv")).exists()
    assert (tmp_path / layout.PLAN_FITS.format(method="hashgrid_tv")).exists()


def test_study_rows_keep_the_study_s_datasets_blurs_methods_and_seeds(studies):
    grid = itertools.product(
        ("demo", "levin"), ("motion", "parallax"), ("tikhonov", "siren_tv"), (0, 1, 2, 5)
    )
    table = pd.DataFrame(
        [{"dataset": d, "blur": b, "method": m, "seed": s, "psnr": 20.0} for d, b, m, s in grid]
    )
    # Shuffle so the rows kept are not simply a prefix, and give the index gaps.
    table = table.sample(frac=1.0, random_state=0).set_index(pd.Index(range(0, 64, 2)))
    keys = ["dataset", "blur", "method", "seed"]

    def kept(name: str) -> set[tuple]:
        rows = tables.study_rows(table, studies["studies"][name])
        assert list(rows.index) == list(range(len(rows)))  # a fresh index
        assert list(rows.columns) == list(table.columns)
        return set(rows[keys].itertuples(index=False, name=None))

    assert kept("a") == {("demo", "motion", m, s) for m in ("tikhonov", "siren_tv") for s in (0, 2)}
    assert kept("b") == {("demo", "motion", "tikhonov", 1), ("levin", "motion", "tikhonov", 1)}
    assert kept("c") == {("demo", "parallax", "siren_tv", 5)}
    # A fit of a set two studies share, seeded by one of them, belongs to that one only;
    # with a seed both have, it belongs to both.
    studies["studies"]["b"]["seeds"] = [1, 2]
    assert ("demo", "motion", "tikhonov", 2) in kept("a") & kept("b")
    # A table without seeds (the convergence table) is filtered on the rest.
    no_seed = table.drop(columns="seed").drop_duplicates()
    rows = tables.study_rows(no_seed, studies["studies"]["b"])
    assert set(rows[["dataset", "blur", "method"]].itertuples(index=False, name=None)) == {
        ("demo", "motion", "tikhonov"),
        ("levin", "motion", "tikhonov"),
    }


def test_summary_cli_prints_one_table_per_enabled_study(tmp_path, repo_root):
    def record(method: str, seed: int, psnr: float) -> dict:
        return {
            "dataset": "demo", "blur": "motion", "method": method, "scene": "camera",
            "seed": seed, "psnr": psnr, "ssim": 0.9, "lpips": 0.1, "lpips_status": "ok",
            "psnr_blurry": 25.0, "ssim_blurry": 0.5, "lpips_blurry": 0.3, "time_s": 1.0,
            "size_mb": 0.0, "iterations": 10, "device": "cpu",
        }  # fmt: skip

    records = [record("tikhonov", 0, 30.0), record("tikhonov", 1, 32.0)]
    records += [record("siren_tv", 0, 27.0), record("siren_tv", 1, 29.0)]
    metrics_csv = tmp_path / "metrics.csv"
    metrics_csv.write_text(tables.to_csv(tables.metrics_table(records)))
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    common = {"datasets": ["demo"], "blurs": ["motion"], "forward_models": []}
    params["studies"] = {
        "a": {**common, "title": "Tikhonov only", "methods": ["tikhonov"], "seeds": [0, 1]},
        "off": {**common, "enabled": False, "methods": ["siren_tv"], "seeds": [0]},
        "b": {**common, "methods": ["siren_tv", "tikhonov"], "seeds": [1]},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    command = [sys.executable, "-m", "inrdeblur", "summary", str(path)]
    proc = subprocess.run(
        [*command, "--metrics-csv", str(metrics_csv)], capture_output=True, text=True, check=True
    )
    headings = [line for line in proc.stdout.splitlines() if line.startswith("== ")]
    assert headings == ["== Tikhonov only (study a)", "== b (study b)"]
    block_a, block_b = proc.stdout.split("== b (study b)")

    def row(block: str, method: str) -> str:
        (line,) = [line for line in block.splitlines() if line.startswith(method + " ")]
        return line

    # a: tikhonov's two seeds, PSNR 30 and 32: mean 31, sample std sqrt(2)
    assert "1 x 2" in row(block_a, "tikhonov") and "31.00 ± 1.41" in row(block_a, "tikhonov")
    assert "siren_tv" not in block_a
    # b: seed 1 only, of both methods
    assert "1 x 1" in row(block_b, "tikhonov") and "32.00" in row(block_b, "tikhonov")
    assert "31.00" not in block_b
    assert "1 x 1" in row(block_b, "siren_tv") and "29.00" in row(block_b, "siren_tv")
