"""Every method of a comparison gets the identical observation and is scored on the same
pixels: in the pipeline (fit stage meta, evaluate records) and in the benchmark tables
(``benchmarks/nonblind.py``), each row carries the SHA-256 of the observation array the
method was given and of the reference it was scored against.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest
from support import REPO

from inrdeblur import layout
from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.config import validate_params
from inrdeblur.data.demo import make_scene
from inrdeblur.data.prepare import luma_scene
from inrdeblur.data.synthesize import synthesize
from inrdeblur.fit.run import run_fits
from inrdeblur.methods.base import observation_sha256
from inrdeblur.metrics.evaluate import evaluate_set
from inrdeblur.records.scene import Scene

pytestmark = pytest.mark.usefixtures("one_torch_thread")

METHODS = {
    "tikhonov": {"type": "tikhonov_cg", "weight": 0.03},
    "richardson_lucy": {"type": "richardson_lucy", "iterations": 10},
    "siren": {
        "inr": {"type": "siren", "hidden_features": 16, "hidden_layers": 1},
        "regulariser": {"type": "tv", "weight": 1e-3},
        "fit": {"iterations": 5, "device": "cpu"},
    },
}


@pytest.fixture(scope="module")
def params() -> dict:
    return validate_params(
        {
            "studies": {
                "same_data": {
                    "datasets": ["levin"],
                    "blurs": ["valid"],
                    "methods": list(METHODS),
                    "seeds": [0, 1],
                }
            },
            "datasets": {"levin": {}},
            "blurs": {
                "valid": {"model": "uniform", "kernel": "scene", "boundary": "valid"},
            },
            "methods": METHODS,
        }
    )


@pytest.fixture(scope="module")
def gray_scene() -> Scene:
    rgb = make_scene("camera", 40)
    scene = Scene(
        dataset="levin", id="im1_kernel1", sharp=rgb.sharp, kernel=random_motion_kernel(7, 2)
    )
    return luma_scene(scene)


def test_the_fit_and_evaluate_stages_record_one_observation_and_one_reference(
    params, gray_scene, tmp_path
):
    scene_path = layout.scene_path("levin", gray_scene.id, tmp_path)
    blurred_path = layout.blurred_path("valid", "levin", gray_scene.id, tmp_path)
    gray_scene.save(scene_path)
    blurred = synthesize(gray_scene, "valid", params["blurs"]["valid"])
    blurred.save(blurred_path)
    for method, recipe in params["methods"].items():
        run_fits(
            scene_path,
            blurred_path,
            method,
            recipe,
            seeds=[0, 1],
            threads=1,
            out_dir=tmp_path
            / layout.FIT_SCENE_DIR.format(
                method=method, blur="valid", dataset="levin", scene=gray_scene.id
            ),
            checkpoint_dir=tmp_path / "checkpoints" / method,
            progress=False,
        )
    records = [
        record
        for method in METHODS
        for record in evaluate_set(
            method, "valid", "levin", [gray_scene.id], [0, 1],
            tmp_path / f"{method}.json", lpips=False, root=tmp_path, progress=False,
        )
    ]  # fmt: skip
    assert len(records) == 6
    assert {r["observation_sha256"] for r in records} == {observation_sha256(blurred.blurry)}
    target = blurred.target(gray_scene.sharp).astype(np.float64)
    assert {r["reference_sha256"] for r in records} == {observation_sha256(target)}


def _benchmark_module():
    """``benchmarks/nonblind.py`` as a module (benchmarks are scripts, not a package)."""
    name = "benchmarks_nonblind"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "nonblind.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_every_row_of_a_benchmark_table_has_the_same_observation_and_reference(params, gray_scene):
    bench = _benchmark_module()
    blurred = synthesize(gray_scene, "valid", params["blurs"]["valid"])
    image = bench.Image(gray_scene, blurred, "kernel1")
    rows = [
        bench.run_method(image, name, recipe, seed)
        for name, recipe in params["methods"].items()
        for seed in (0, 1)
    ]
    bench.check_same_data(rows)
    assert {r["observation_sha256"] for r in rows} == {observation_sha256(blurred.blurry)}
    assert len({r["reference_sha256"] for r in rows}) == 1 and rows[0]["channels"] == 1
    rows[2] = {**rows[2], "observation_sha256": "0" * 64}  # one method given other data
    with pytest.raises(RuntimeError, match="different observation_sha256 on im1_kernel1"):
        bench.check_same_data(rows)


def test_the_two_stage_protocol_with_the_true_kernel_is_the_non_blind_fit(params, gray_scene):
    """The second stage deblurs with the 'valid' uniform operator of the kernel it is
    given: handed the true kernel of a 'valid' uniform blur, it is the non-blind fit,
    estimate for estimate, on the same observation."""
    bench = _benchmark_module()
    blurred = synthesize(gray_scene, "valid", params["blurs"]["valid"])
    image = bench.Image(gray_scene, blurred, "kernel1")
    recipe = params["methods"]["tikhonov"]
    direct, direct_result = bench.fit_method(image, "tikhonov", recipe, 0)
    second, second_result = bench.fit_method(image, "tikhonov", recipe, 0, kernel=blurred.kernel)
    np.testing.assert_allclose(second_result.estimate, direct_result.estimate, atol=1e-6)
    assert second["observation_sha256"] == direct["observation_sha256"]
    assert second["kernel_similarity"] == pytest.approx(1.0)
    assert math.isnan(direct["kernel_similarity"])
