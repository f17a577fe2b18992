"""The two-stage protocol: a blind fit's kernel estimates handed to a non-blind method.

Checked against the non-blind method run by hand on the same observation with the
'valid' uniform operator of the blind fit's kernel (estimate for estimate), and the
params checks that keep a two-stage entry next to its blind method."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from support import REPO

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import UniformBlur, convolve
from inrdeblur.config.params import ParamsError, method_names, resolved_recipe, validate_params
from inrdeblur.fileio import read_json
from inrdeblur.fit.run import run_fits
from inrdeblur.methods import Problem, build_method
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.fit import FitEstimate
from inrdeblur.records.scene import Scene

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_BLIND = {
    "type": "selfdeblur",
    "iterations": 12,
    "mse_iterations": 6,
    "lr_milestones": [10],
    "kernel_size": 5,
    "image_net": {"channels": 8, "skip": 2, "levels": 3, "non_local": False},
    "kernel_net": {"noise_dim": 16, "hidden": 32},
    "device": "cpu",
}


@pytest.fixture
def raw_params() -> dict:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["methods"]["tiny_blind"] = TINY_BLIND
    raw["two_stage"]["tiny_blind_tikhonov"] = {"blind": "tiny_blind", "non_blind": "tikhonov"}
    return raw


def problems(raw: dict) -> list[str]:
    with pytest.raises(ParamsError) as err:
        validate_params(raw)
    return err.value.problems


def test_a_two_stage_entry_names_a_blind_and_a_non_blind_method(raw_params):
    params = validate_params(raw_params)
    assert method_names(params)[-2:] == ["selfdeblur_cpu_sparse", "tiny_blind_tikhonov"]
    recipe = resolved_recipe(params, "tiny_blind_tikhonov")
    assert recipe == {
        "type": "two_stage",
        "blind": "tiny_blind",
        "non_blind": "tikhonov",
        "non_blind_recipe": params["methods"]["tikhonov"],
    }
    assert resolved_recipe(params, "tikhonov") is params["methods"]["tikhonov"]
    raw_params["two_stage"]["swapped"] = {"blind": "tikhonov", "non_blind": "tiny_blind"}
    raw_params["two_stage"]["typo"] = {"blind": "tiny_blnd", "non_blind": "tikhonov"}
    raw_params["two_stage"]["tikhonov"] = {"blind": "tiny_blind", "non_blind": "tikhonov"}
    assert problems(raw_params) == [
        "two_stage.swapped.blind: 'tikhonov' is not a blind method",
        "two_stage.swapped.non_blind: 'tiny_blind' is not a non-blind method",
        "two_stage.typo.blind: unknown method 'tiny_blnd' (defined under methods: "
        + ", ".join(sorted(raw_params["methods"]))
        + ")",
        "two_stage.tikhonov: 'tikhonov' is also a method; a name is one or the other",
    ]


def test_a_study_lists_a_two_stage_entry_beside_its_blind_method(raw_params):
    study = raw_params["studies"]["demo"]
    study["methods"] = ["tikhonov", "tiny_blind_tikhonov"]
    assert problems(raw_params) == [
        "studies.demo.methods[1]: two_stage 'tiny_blind_tikhonov' uses the kernels of "
        "'tiny_blind'; list that method in the study too"
    ]
    study["methods"] = ["tiny_blind", "tiny_blind_tikhonov", "tiny_blind_tv"]
    (problem,) = problems(raw_params)
    assert problem.startswith(
        "studies.demo.methods[2]: unknown method 'tiny_blind_tv' (defined under methods or "
        "two_stage: "
    )


@pytest.fixture
def image(tmp_path) -> tuple[Path, Path, np.ndarray]:
    """A smooth 24 x 27 gray image blurred by a 5 x 5 motion kernel ('valid'), on disk."""
    rng = np.random.default_rng(0)
    kernel = random_motion_kernel(5, 4)
    latent = torch.from_numpy(rng.random((1, 1, 28, 31)).astype(np.float32))
    latent = torch.nn.functional.avg_pool2d(latent, 3, stride=1, padding=1)
    blurry = convolve(latent, torch.from_numpy(kernel), "valid")[0].permute(1, 2, 0).numpy()
    sharp = latent[0, :, 2:-2, 2:-2].permute(1, 2, 0).numpy()
    scene_path, blurred_path = tmp_path / "scene.npz", tmp_path / "blurred.npz"
    Scene(dataset="toy", id="smooth", sharp=np.ascontiguousarray(sharp)).save(scene_path)
    attrs = {"blur": "motion", "settings": {"model": "uniform"}}
    BlurredImage(blurry=np.ascontiguousarray(blurry), attrs=attrs, kernel=kernel).save(blurred_path)
    return scene_path, blurred_path, np.ascontiguousarray(blurry)


def test_the_second_stage_is_the_non_blind_fit_with_the_estimated_kernel(
    raw_params, image, tmp_path, caplog
):
    params = validate_params(raw_params)
    scene_path, blurred_path, blurry = image
    common = dict(scene_path=scene_path, blurred_path=blurred_path, threads=1, progress=False)
    blind_dir = tmp_path / "fits" / "tiny_blind"
    run_fits(
        **common,
        method="tiny_blind",
        recipe=params["methods"]["tiny_blind"],
        seeds=[0, 1],
        out_dir=blind_dir,
        checkpoint_dir=tmp_path / "ckpt" / "tiny_blind",
    )
    # a checkpoint older than the blind fit it would resume against: another kernel
    stale = tmp_path / "ckpt" / "two" / "seed0.pt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from before the blind fit was redone")
    os.utime(stale, (0, 0))
    recipe = resolved_recipe(params, "tiny_blind_tikhonov")
    with caplog.at_level("WARNING", logger="inrdeblur.fit.run"):
        metas = run_fits(
            **common,
            method="tiny_blind_tikhonov",
            recipe=recipe,
            seeds=[0, 1],
            out_dir=tmp_path / "fits" / "two",
            checkpoint_dir=stale.parent,
            kernels_from=blind_dir,
        )
    assert "predates" in caplog.text and not stale.exists()
    tikhonov = build_method(params["methods"]["tikhonov"])
    for seed, meta in zip((0, 1), metas, strict=True):
        blind_npz = blind_dir / f"seed{seed}" / "estimate.npz"
        kernel = FitEstimate.load(blind_npz).kernel
        by_hand = tikhonov.run(
            Problem(blurry=blurry, operator=UniformBlur(kernel, blurry.shape[:2])),
            seed=0,
            progress=False,
        )
        two = FitEstimate.load(tmp_path / "fits" / "two" / f"seed{seed}" / "estimate.npz")
        np.testing.assert_array_equal(two.estimate, by_hand.estimate)
        np.testing.assert_array_equal(two.kernel, kernel)
        assert (tmp_path / "fits" / "two" / f"seed{seed}" / "kernel.png").is_file()
        saved = read_json(tmp_path / "fits" / "two" / f"seed{seed}" / "meta.json")
        assert saved == meta
        assert meta["type"] == "two_stage" and meta["blind_method"] == "tiny_blind"
        assert meta["non_blind_method"] == "tikhonov" and meta["kernel_shape"] == [5, 5]
        assert meta["blind_estimate_sha256"] == hashlib.sha256(blind_npz.read_bytes()).hexdigest()
    kernels = [FitEstimate.load(blind_dir / f"seed{s}" / "estimate.npz").kernel for s in (0, 1)]
    assert not np.array_equal(*kernels)  # each seed used its own blind fit's kernel


def test_a_missing_blind_fit_is_named(raw_params, image, tmp_path):
    params = validate_params(raw_params)
    scene_path, blurred_path, _ = image
    with pytest.raises(FileNotFoundError, match=r"seed3.estimate\.npz: two-stage "):
        run_fits(
            scene_path=scene_path,
            blurred_path=blurred_path,
            method="tiny_blind_tikhonov",
            recipe=resolved_recipe(params, "tiny_blind_tikhonov"),
            seeds=[3],
            threads=1,
            out_dir=tmp_path / "two",
            checkpoint_dir=tmp_path / "ckpt",
            progress=False,
            kernels_from=tmp_path / "no_blind_fit",
        )
    assert not (tmp_path / "two").exists()
