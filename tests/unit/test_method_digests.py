"""Every INR method of the zoo gives bit-identical estimates across refactors.

The digests in ``data/method_digests.json`` were recorded with the fitting code as it was
before the method interface (``fit_nonblind`` called directly), on a 24x24 RGB crop of the
demo astronaut blurred by a 5x5 motion kernel plus 1 % noise, 8 iterations, seed 7, one
CPU thread. Running the same recipes through the method registry must reproduce them to
the bit: a change of any fit's numerics shows here. (An intentional change records new
digests, and says why in its commit.)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.data.demo import make_scene
from inrdeblur.methods import Problem, build_method

DIGESTS = json.loads((Path(__file__).parent / "data" / "method_digests.json").read_text())
OBSERVATION_SHA256 = "2c84b789467f1687b7ab7ba5ca924b85e4499afb96f03d62b8db004866ddc88e"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def problem() -> tuple[np.ndarray, np.ndarray]:
    """(blurry (24, 24, 3) float32, kernel (5, 5)), exactly as when the digests were made."""
    sharp = make_scene("astronaut", 32).sharp[4:28, 4:28].copy()
    kernel = random_motion_kernel(5, 3)
    x = torch.from_numpy(sharp.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        blurry = UniformBlur(kernel, (24, 24)).blur(x, "replicate")[0].permute(1, 2, 0).numpy()
    blurry = blurry + 0.01 * np.random.default_rng(4).standard_normal(blurry.shape)
    blurry = blurry.astype(np.float32)
    assert hashlib.sha256(blurry.tobytes()).hexdigest() == OBSERVATION_SHA256
    return blurry, kernel


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_estimate_is_bit_identical_to_the_recorded_digest(problem, name):
    blurry, kernel = problem
    recipe = DIGESTS[name]["recipe"]
    result = build_method(recipe).run(
        Problem(blurry=blurry, operator=UniformBlur(kernel, (24, 24))), seed=7, progress=False
    )
    digest = hashlib.sha256(np.ascontiguousarray(result.estimate).tobytes()).hexdigest()
    assert digest == DIGESTS[name]["estimate_sha256"], name
