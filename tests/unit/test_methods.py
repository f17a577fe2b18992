"""Every method recipe of the repository's params.yaml fits a tiny blurred image."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import yaml

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.config import validate_params
from inrdeblur.data.demo import make_scene
from inrdeblur.methods import Problem, build_method

SIZE, KERNEL = 32, 7


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def methods(repo_root) -> dict:
    return validate_params(yaml.safe_load((repo_root / "params.yaml").read_text()))["methods"]


@pytest.fixture(scope="module")
def problem():
    """The 32x32 demo astronaut, a 7x7 motion blur (replicate border) and 1% noise."""
    sharp = make_scene("astronaut", SIZE).sharp
    kernel = random_motion_kernel(KERNEL, 2)
    x = torch.from_numpy(sharp.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        blurred = UniformBlur(kernel, (SIZE, SIZE)).blur(x, "replicate")
    blurry = blurred[0].permute(1, 2, 0).numpy()
    blurry = blurry + 0.01 * np.random.default_rng(1).standard_normal(blurry.shape)
    return sharp, blurry.astype(np.float32), kernel


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return -10 * math.log10(float(np.mean((np.clip(a, 0, 1) - b) ** 2)))


def test_every_method_of_params_yaml_is_tested(methods):
    assert sorted(methods) == sorted(METHODS + BLIND_METHODS)


METHODS = [
    "siren_tv", "ffn_tv", "hashgrid_tv", "dif_tv", "hashgrid_cnnprior", "siren_filter",
    "tikhonov", "tv_deconv", "richardson_lucy", "sparse_prior",
]  # fmt: skip
#: blind recipes: minutes to an hour per image, so here only built and run a few steps
#: (their quality is tested on a small problem in test_blind_methods.py)
BLIND_METHODS = [
    "cross_scale_inr", "selfdeblur", "vdip", "cross_scale_inr_cpu", "selfdeblur_cpu", "vdip_cpu",
]  # fmt: skip


@pytest.mark.parametrize("name", BLIND_METHODS)
def test_blind_recipe_builds_and_runs(methods, problem, name):
    """The recipe's networks are built at full size and take a few steps through every
    stage of the schedule (iterations shrunk, proportions kept) on the 32 px problem."""
    _, blurry, kernel = problem
    recipe = copy.deepcopy(methods[name])
    recipe["device"] = "cpu"
    scale = recipe["iterations"] // 10
    recipe["iterations"] = 10
    for key in ("init_iterations", "transition_iterations"):
        if key in recipe:
            recipe[key] = max(1, recipe[key] // scale)
    for key in ("mse_iterations", "elbo_iterations", "noise_sigma_every"):
        if isinstance(recipe.get(key), int):
            recipe[key] = max(1, recipe[key] // scale)
    warmup = 0
    if recipe["type"] == "vdip":  # the warm-up runs before the main loop's iterations
        warmup = recipe["warmup_iterations"] = 2
    recipe["lr_milestones"] = [max(1, m // scale) for m in recipe["lr_milestones"]]
    result = build_method(recipe).run(Problem(blurry, kernel_size=KERNEL), seed=0, progress=False)
    assert result.kernel.shape == (KERNEL, KERNEL)
    assert np.isfinite(result.estimate).all() and result.estimate.shape == blurry.shape
    assert len(result.trace) == 10 + warmup


@pytest.mark.parametrize("name", METHODS)
def test_method_lowers_the_loss_and_beats_the_blurry_input(methods, problem, name):
    sharp, blurry, kernel = problem
    recipe = copy.deepcopy(methods[name])
    if recipe["type"] == "inr":
        recipe["fit"]["device"] = "cpu"
        if recipe["inr"]["type"] == "hashgrid":
            recipe["inr"]["backend"] = "torch"
    else:
        recipe["device"] = "cpu"
    result = build_method(recipe).run(
        Problem(blurry, UniformBlur(kernel, (SIZE, SIZE)), sharp=sharp), seed=0, progress=False
    )
    first, last = result.trace[0], result.trace[-1]
    if recipe["type"] == "inr":  # from a random initialisation
        assert last["data_loss"] < 0.2 * first["data_loss"], name
    else:  # from the observation itself: the objective only goes down
        assert last["loss"] < first["loss"], name
    assert psnr(result.estimate, sharp) > psnr(blurry, sharp) + 0.2, name
