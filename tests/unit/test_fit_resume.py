"""Fit checkpoints: an interrupted fit resumes to the uninterrupted result, a checkpoint of
another fit is refused, ``run_fit`` keeps its checkpoint beside the outputs, and a fit job
of several seeds that is killed refits only what was not finished."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from support import tiny_siren_recipe

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import UniformBlur, convolve
from inrdeblur.fileio import read_json
from inrdeblur.fit import run as fit_run
from inrdeblur.fit.run import CHECKPOINT_NAME, run_fit, run_fits
from inrdeblur.methods import inr as inr_method
from inrdeblur.methods.base import CheckpointError, MethodResult
from inrdeblur.methods.inr.fit import fit_nonblind
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.scene import Scene

RECIPE = tiny_siren_recipe(iterations=24)
SIZE, KERNEL = 24, 5


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth 24 x 24 colour image, blurred by a 5 x 5 motion kernel ('valid' on a latent)."""
    rng = np.random.default_rng(0)
    kernel = random_motion_kernel(KERNEL, 4)
    n = SIZE + KERNEL - 1
    latent = torch.from_numpy(rng.random((1, 3, n, n)).astype(np.float32))
    latent = torch.nn.functional.avg_pool2d(latent, 3, stride=1, padding=1)
    blurry = convolve(latent, torch.from_numpy(kernel), "valid")[0].permute(1, 2, 0).numpy()
    sharp = latent[0, :, 2:-2, 2:-2].permute(1, 2, 0).numpy()
    return np.ascontiguousarray(sharp), np.ascontiguousarray(blurry), kernel


class Interrupted(Exception):
    """Stands in for the job being killed."""


def interrupt_at(iteration: int):
    def callback(row: dict[str, float]) -> None:
        if row["iteration"] == iteration:
            raise Interrupted

    return callback


def fit(problem, recipe, checkpoint_every: int = 5, **kwargs) -> MethodResult:
    sharp, blurry, kernel = problem
    op = UniformBlur(kernel, blurry.shape[:2])
    seed = kwargs.pop("seed", 3)
    return fit_nonblind(
        blurry, op, recipe, seed=seed, sharp=sharp, checkpoint_every=checkpoint_every, **kwargs
    )


def without_seconds(trace: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in trace]


def assert_same_fit(a: MethodResult, b: MethodResult) -> None:
    np.testing.assert_array_equal(a.estimate, b.estimate)
    # NaN != NaN: compare the PSNR column (NaN until every tile was fitted) as arrays.
    np.testing.assert_array_equal(
        [[row[k] for k in sorted(row)] for row in without_seconds(a.trace)],
        [[row[k] for k in sorted(row)] for row in without_seconds(b.trace)],
    )


@pytest.mark.parametrize(
    "tile, stops",
    [
        (0, [13]),  # whole image: resume from the checkpoint of iteration 10
        (12, [7, 17]),  # 4 tiles, checkpoints mid-epoch; interrupted twice
    ],
)
def test_resumed_fit_equals_the_uninterrupted_fit(problem, tmp_path, tile, stops):
    recipe = copy.deepcopy(RECIPE)
    recipe["fit"]["tile"] = tile
    reference = fit(problem, recipe, checkpoint_every=0, progress=False)

    checkpoint = tmp_path / "checkpoint.pt"
    for stop in stops:
        with pytest.raises(Interrupted):
            fit(
                problem,
                recipe,
                progress=False,
                checkpoint_path=checkpoint,
                on_iteration=interrupt_at(stop),
            )
        assert checkpoint.is_file()
        assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporaries
    resumed = fit(problem, recipe, progress=False, checkpoint_path=checkpoint)

    assert resumed.extra["resumed_from"] == stops[-1] // 5 * 5
    assert [row["iteration"] for row in resumed.trace] == list(range(1, 25))
    assert_same_fit(resumed, reference)
    assert reference.trace[-1]["psnr"] == pytest.approx(resumed.trace[-1]["psnr"], abs=1e-6)


def test_a_checkpoint_of_the_last_iteration_only_renders(problem, tmp_path):
    recipe = copy.deepcopy(RECIPE)
    checkpoint = tmp_path / "checkpoint.pt"
    # 24 iterations, a checkpoint every 8: the last one is checkpointed.
    first = fit(problem, recipe, 8, progress=False, checkpoint_path=checkpoint)
    calls = []
    again = fit(
        problem, recipe, 8, progress=False, checkpoint_path=checkpoint, on_iteration=calls.append
    )
    assert calls == [] and again.extra["resumed_from"] == 24
    assert_same_fit(again, first)
    assert again.time_s >= first.trace[-1]["seconds"]  # the first run's time is counted


def test_progress_bar_starts_at_the_checkpoint(problem, tmp_path, capsys):
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupted):
        fit(
            problem,
            RECIPE,
            progress=False,
            checkpoint_path=checkpoint,
            on_iteration=interrupt_at(12),
        )
    fit(problem, RECIPE, progress=True, checkpoint_path=checkpoint)
    err = capsys.readouterr().err
    assert "10/24" in err and "24/24" in err
    assert " 0/24" not in err


def test_changing_only_checkpoint_every_keeps_the_checkpoint(problem, tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupted):
        fit(
            problem,
            RECIPE,
            progress=False,
            checkpoint_path=checkpoint,
            on_iteration=interrupt_at(6),
        )
    resumed = fit(problem, RECIPE, progress=False, checkpoint_path=checkpoint, checkpoint_every=7)
    assert resumed.extra["resumed_from"] == 5
    assert torch.load(checkpoint, weights_only=True)["iteration"] == 24  # 7, 14, 21, last


@pytest.mark.parametrize(
    "change, field",
    [
        ("seed", "seed"),
        ("lr", "recipe_sha256"),
        ("tile", "recipe_sha256"),
        ("blurry", "blurry_sha256"),
        ("size", "blurry_shape"),
    ],
)
def test_a_checkpoint_of_another_fit_is_refused(problem, tmp_path, change, field):
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupted):
        fit(
            problem,
            RECIPE,
            progress=False,
            checkpoint_path=checkpoint,
            on_iteration=interrupt_at(5),
        )
    sharp, blurry, kernel = problem
    recipe, seed = copy.deepcopy(RECIPE), 3
    if change == "seed":
        seed = 4
    elif change == "lr":
        recipe["fit"]["lr"] = 1e-3
    elif change == "tile":
        recipe["fit"]["tile"] = 8
    elif change == "blurry":
        blurry = blurry.copy()
        blurry[3, 4, 1] += 1e-3
    else:
        sharp, blurry = sharp[:-2], blurry[:-2]
    with pytest.raises(
        CheckpointError,
        match=rf"{re.escape(str(checkpoint))}: checkpoint of a different fit.*{field}",
    ):
        fit((sharp, blurry, kernel), recipe, seed=seed, progress=False, checkpoint_path=checkpoint)
    assert checkpoint.is_file()  # never silently replaced


def test_an_unreadable_checkpoint_is_a_clear_error(problem, tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(
        CheckpointError, match=rf"{re.escape(str(checkpoint))}: not a readable fit checkpoint"
    ):
        fit(problem, RECIPE, progress=False, checkpoint_path=checkpoint)


# -- run_fit ------------------------------------------------------------------------------


def write_inputs(problem, folder: Path) -> tuple[Path, Path]:
    sharp, blurry, kernel = problem
    scene_path, blurred_path = folder / "scene.npz", folder / "blurred.npz"
    Scene(dataset="toy", id="smooth", sharp=sharp).save(scene_path)
    attrs = {"blur": "motion", "settings": {"model": "uniform"}}
    BlurredImage(blurry=blurry, attrs=attrs, kernel=kernel).save(blurred_path)
    return scene_path, blurred_path


def test_run_fit_resumes_from_the_checkpoint_beside_its_outputs(problem, tmp_path, monkeypatch):
    scene_path, blurred_path = write_inputs(problem, tmp_path)
    fit_dir = tmp_path / "fits" / "toy"
    outputs = {
        "estimate_png": fit_dir / "estimate.png",
        "estimate_npz": fit_dir / "estimate.npz",
        "trace": fit_dir / "trace.csv",
        "meta": fit_dir / "meta.json",
    }
    args = dict(
        scene_path=scene_path,
        blurred_path=blurred_path,
        method="toy",
        recipe=RECIPE,
        seed=0,
        threads=1,
        outputs=outputs,
        progress=False,
        checkpoint_every=5,
    )

    def killed(*args, **kwargs):
        raise Interrupted

    # The job dies after the fit, before its outputs are written: the checkpoint of the
    # last iteration (24; the others are every 5) stays in the fit's folder.
    with monkeypatch.context() as patch:
        patch.setattr(fit_run, "write_png", killed)
        with pytest.raises(Interrupted):
            run_fit(**args)
    assert (fit_dir / CHECKPOINT_NAME).is_file()
    assert not outputs["meta"].exists()

    meta = run_fit(**args)  # the requeued job: renders the estimate, fits nothing
    assert meta["resumed_from"] == 24 and meta["iterations"] == 24
    assert meta["tiles"] == 1 and meta["amp"] is False
    assert read_json(outputs["meta"])["resumed_from"] == 24
    assert all(path.is_file() for path in outputs.values())
    assert not (fit_dir / CHECKPOINT_NAME).exists()  # removed once the outputs are safe
    assert sorted(p.name for p in fit_dir.iterdir()) == sorted(p.name for p in outputs.values())


def test_a_killed_fit_job_resumes_every_seed_where_it_stopped(problem, tmp_path, monkeypatch):
    """Seed 0 finished, seed 1 was killed at iteration 12; Snakemake then deletes the job's
    output folder. The rerun renders seed 0 from its final checkpoint, resumes seed 1 from
    iteration 10, and ends with the estimates of a job that was never interrupted."""
    scene_path, blurred_path = write_inputs(problem, tmp_path)
    args = dict(
        scene_path=scene_path,
        blurred_path=blurred_path,
        method="toy",
        recipe=RECIPE,
        seeds=[0, 1],
        threads=1,
        progress=False,
        checkpoint_every=5,
    )
    run_fits(**args, out_dir=tmp_path / "clean", checkpoint_dir=tmp_path / "clean.ckpt")
    assert not (tmp_path / "clean.ckpt").exists()  # deleted once every seed is written

    real_fit, calls = inr_method.fit_nonblind, []

    def dies_in_the_second_fit(*fargs, **kwargs):
        calls.append(kwargs["description"])
        if len(calls) == 2:

            def kill(row):
                if row["iteration"] == 12:
                    raise Interrupted

            kwargs["on_iteration"] = kill
        return real_fit(*fargs, **kwargs)

    out_dir, checkpoints = tmp_path / "job", tmp_path / "job.ckpt"
    with monkeypatch.context() as patch:
        patch.setattr(inr_method, "fit_nonblind", dies_in_the_second_fit)
        with pytest.raises(Interrupted):
            run_fits(**args, out_dir=out_dir, checkpoint_dir=checkpoints)
    assert (out_dir / "seed0" / "meta.json").is_file()
    assert sorted(p.name for p in checkpoints.iterdir()) == ["seed0.pt", "seed1.pt"]
    shutil.rmtree(out_dir)  # what Snakemake does to a failed job's output folder

    metas = run_fits(**args, out_dir=out_dir, checkpoint_dir=checkpoints)
    assert [m["resumed_from"] for m in metas] == [24, 10]
    assert not checkpoints.exists()
    for seed in (0, 1):
        resumed = np.load(out_dir / f"seed{seed}" / "estimate.npz")["estimate"]
        clean = np.load(tmp_path / "clean" / f"seed{seed}" / "estimate.npz")["estimate"]
        np.testing.assert_array_equal(resumed, clean)
        assert read_json(out_dir / f"seed{seed}" / "meta.json")["seed"] == seed


def test_a_fit_job_restarts_a_seed_whose_checkpoint_is_stale(problem, tmp_path, caplog):
    """A checkpoint left by a killed job whose recipe has since changed cannot be resumed:
    the job deletes it, says so, and fits that seed from the start."""
    scene_path, blurred_path = write_inputs(problem, tmp_path)
    common = dict(
        scene_path=scene_path, blurred_path=blurred_path, method="toy", seeds=[0], threads=1
    )
    checkpoints = tmp_path / "job.ckpt"
    older = copy.deepcopy(RECIPE)
    older["fit"]["lr"] = 1e-3
    fit(problem, older, progress=False, checkpoint_path=checkpoints / "seed0.pt")
    assert (checkpoints / "seed0.pt").is_file()  # what the killed job left

    with caplog.at_level("WARNING", logger="inrdeblur.fit.run"):
        (meta,) = run_fits(
            **common,
            recipe=RECIPE,
            out_dir=tmp_path / "job",
            checkpoint_dir=checkpoints,
            progress=False,
            checkpoint_every=5,
        )
    assert meta["resumed_from"] == 0
    assert str(checkpoints / "seed0.pt") in caplog.text and "afresh" in caplog.text
    (clean,) = run_fits(
        **common,
        recipe=RECIPE,
        out_dir=tmp_path / "clean",
        checkpoint_dir=tmp_path / "clean.ckpt",
        progress=False,
        checkpoint_every=5,
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / "job/seed0/estimate.npz")["estimate"],
        np.load(tmp_path / "clean/seed0/estimate.npz")["estimate"],
    )
