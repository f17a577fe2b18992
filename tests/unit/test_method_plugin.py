"""A method type is one module: a new ``inrdeblur.methods.<type>`` module with a ``METHOD``
is found by name and run by the fit stage, which stores a blind method's kernel estimate
in the fit record."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import inrdeblur.methods
from inrdeblur.fileio import InputFileError, read_json, write_npz
from inrdeblur.fit.run import run_fit
from inrdeblur.methods import build_method, method_class
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.fit import FitEstimate
from inrdeblur.records.scene import Scene

#: a whole method type: blind, returns the observation and a centred delta kernel
PLUGIN = textwrap.dedent(
    """
    import numpy as np

    from inrdeblur.methods.base import Method, MethodResult


    class IdentityBlind(Method):
        type = "identity_blind"
        blind = True

        def run(self, problem, seed, **kwargs):
            assert problem.operator is None  # a blind method is not given the blur
            size = self.recipe["kernel_size"]
            kernel = np.zeros((size, size), np.float32)
            kernel[size // 2, size // 2] = 1.0
            row = dict(iteration=1, loss=0.0, data_loss=0.0, reg_loss=float("nan"),
                       psnr=float("nan"), lr=float("nan"), seconds=0.0)
            return MethodResult(problem.blurry.copy(), [row], 0.0, 0.0, 0, "cpu", kernel)


    METHOD = IdentityBlind
    """
)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "identity_blind.py").write_text(PLUGIN)
    monkeypatch.setattr(inrdeblur.methods, "__path__", [*inrdeblur.methods.__path__, str(folder)])
    yield
    sys.modules.pop("inrdeblur.methods.identity_blind", None)


def test_a_new_module_is_a_new_method_type(plugin):
    cls = method_class("identity_blind")
    assert cls.__name__ == "IdentityBlind" and cls.blind
    assert build_method({"type": "identity_blind", "kernel_size": 5}).recipe["kernel_size"] == 5


def test_the_fit_stage_runs_it_and_keeps_its_kernel_estimate(plugin, tmp_path):
    rng = np.random.default_rng(0)
    sharp = rng.random((12, 10, 1)).astype(np.float32)
    blurry = (sharp + 0.01 * rng.standard_normal(sharp.shape)).astype(np.float32)
    Scene(dataset="toy", id="noise", sharp=sharp).save(tmp_path / "scene.npz")
    attrs = {"blur": "motion", "settings": {"model": "uniform"}}
    BlurredImage(blurry=blurry, attrs=attrs, kernel=np.full((3, 3), 1 / 9)).save(
        tmp_path / "blurred.npz"
    )
    names = {"estimate_png": "estimate.png", "estimate_npz": "estimate.npz"}
    outputs = {k: tmp_path / "fit" / v for k, v in names.items()}
    outputs.update(trace=tmp_path / "fit/trace.csv", meta=tmp_path / "fit/meta.json")
    meta = run_fit(
        tmp_path / "scene.npz",
        tmp_path / "blurred.npz",
        "identity",
        {"type": "identity_blind", "kernel_size": 5},
        seed=0,
        threads=1,
        outputs=outputs,
        progress=False,
    )
    assert meta["type"] == "identity_blind" and meta["kernel_shape"] == [5, 5]
    assert read_json(outputs["meta"])["kernel_shape"] == [5, 5]
    fit = FitEstimate.load(outputs["estimate_npz"])
    np.testing.assert_array_equal(fit.estimate, blurry)
    expected = np.zeros((5, 5), np.float32)
    expected[2, 2] = 1.0
    np.testing.assert_array_equal(fit.kernel, expected)


def test_a_non_blind_fit_record_has_no_kernel_and_a_bad_kernel_is_named(tmp_path):
    path = tmp_path / "estimate.npz"
    FitEstimate(np.zeros((4, 4, 3), np.float32)).save(path)
    assert FitEstimate.load(path).kernel is None
    write_npz(path, estimate=np.zeros((4, 4, 3), np.float32), kernel=np.ones((3, 3)))
    with pytest.raises(InputFileError, match=r"estimate.npz: 'kernel': .*sum"):
        FitEstimate.load(path)
    write_npz(path, estimate=np.zeros((4, 4), np.float32))
    with pytest.raises(InputFileError, match=r"estimate.npz: 'estimate' must be \(H, W, 1 or 3\)"):
        FitEstimate.load(path)
