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
from inrdeblur.methods.inr.fit import fit_nonblind

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


@pytest.mark.parametrize(
    "name", ["siren_tv", "ffn_tv", "hashgrid_tv", "dif_tv", "hashgrid_cnnprior", "siren_filter"]
)
def test_method_lowers_the_loss_and_beats_the_blurry_input(methods, problem, name):
    sharp, blurry, kernel = problem
    recipe = copy.deepcopy(methods[name])
    recipe["fit"]["device"] = "cpu"
    if recipe["inr"]["type"] == "hashgrid":
        recipe["inr"]["backend"] = "torch"
    result = fit_nonblind(
        blurry, UniformBlur(kernel, (SIZE, SIZE)), recipe, seed=0, sharp=sharp, progress=False
    )
    first, last = result.trace[0], result.trace[-1]
    assert last["data_loss"] < 0.2 * first["data_loss"], name
    assert psnr(result.estimate, sharp) > psnr(blurry, sharp) + 0.2, name
