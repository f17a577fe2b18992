"""Training the kernel space: the pairs against an independent convolution, the loss and
schedule in closed form, a run that lowers its loss, a resumed run that ends where an
uninterrupted one does, the user's weights kept, and the params checks."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import yaml
from scipy import signal
from support import REPO

from inrdeblur.config.params import ParamsError, validate_params
from inrdeblur.kernel_space.training import (
    PairSampler,
    UniformFamily,
    charbonnier,
    cosine_lr,
    run_training,
    train,
)
from inrdeblur.methods.checkpoint import Checkpointer
from inrdeblur.networks.kernel_space import KernelWizard
from inrdeblur.records.scene import Scene

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def images(n: int = 3, side: int = 72) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        noise = torch.from_numpy(rng.random((1, 3, side, side)).astype(np.float32))
        out.append(torch.nn.functional.avg_pool2d(noise, 5, 1, 2)[0].permute(1, 2, 0).numpy())
    return out


def test_charbonnier_and_the_cosine_schedule():
    a, b = torch.zeros(2, 3), torch.full((2, 3), 0.5)
    assert charbonnier(a, b).item() == pytest.approx(math.sqrt(0.25 + 1e-6))
    assert cosine_lr(1e-3, 1e-5, 0, 11) == pytest.approx(1e-3)
    assert cosine_lr(1e-3, 1e-5, 5, 11) == pytest.approx((1e-3 + 1e-5) / 2)
    assert cosine_lr(1e-3, 1e-5, 10, 11) == pytest.approx(1e-5)


def test_a_pair_is_the_valid_convolution_of_its_sharp_crop():
    """Inside the crop (away from its border by half the kernel), the blurry image is the
    sharp crop convolved with the pair's kernel (SciPy's 'valid' convolution); noise 0."""
    sampler = PairSampler(images(), UniformFamily(5, 9, 0.0), crop=32, seed=3)
    for _ in range(4):
        sharp, blurry, kernel = sampler.pair()
        half = kernel.shape[0] // 2
        for c in range(3):
            expected = signal.convolve2d(sharp[c], kernel, mode="valid")
            np.testing.assert_allclose(
                blurry[c, half:-half, half:-half], expected, rtol=1e-5, atol=1e-6
            )
    again = PairSampler(images(), UniformFamily(5, 9, 0.0), crop=32, seed=3)
    first = PairSampler(images(), UniformFamily(5, 9, 0.0), crop=32, seed=3).pair()
    np.testing.assert_array_equal(again.pair()[1], first[1])  # seeded
    with pytest.raises(ValueError, match=r"kernel_space\.crop: a, b are smaller than the crop 70"):
        PairSampler(images(2), UniformFamily(5, 9), crop=70, seed=0, names=["a", "b"])


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model = KernelWizard("small")
    sampler = PairSampler(images(), UniformFamily(5, 9, 0.0), crop=48, seed=0)
    trace, resumed = train(model, sampler, 40, 2, lr=1e-3, lr_min=1e-4)
    assert resumed == 0 and [r["iteration"] for r in trace] == list(range(1, 41))
    early = np.mean([r["loss"] for r in trace[:10]])
    late = np.mean([r["loss"] for r in trace[-10:]])
    assert late < 0.7 * early


def test_a_resumed_training_ends_bit_identical(tmp_path):
    def run(stop_at=None, path=None):
        torch.manual_seed(0)
        model = KernelWizard("small")
        sampler = PairSampler(images(), UniformFamily(5, 9, 0.01), crop=32, seed=1)

        def stop(row):
            if row["iteration"] == stop_at:
                raise KeyboardInterrupt

        checkpointer = Checkpointer(path, {"test": 1}, every=3)
        trace, resumed = train(model, sampler, 7, 2, on_iteration=stop, checkpointer=checkpointer)
        return model, trace, resumed

    whole, whole_trace, _ = run()
    with pytest.raises(KeyboardInterrupt):
        run(stop_at=5, path=tmp_path / "ks.pt")
    resumed, trace, first = run(path=tmp_path / "ks.pt")
    assert first == 3
    assert [r["loss"] for r in trace] == [r["loss"] for r in whole_trace]
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=0)


@pytest.fixture
def settings() -> dict:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["kernel_space"] = {"enabled": True, "datasets": ["demo"], "crop": 24, "iterations": 4}
    raw["kernel_space"]["family"] = {"min_size": 5, "max_size": 7}
    return validate_params(raw)["kernel_space"]


def test_the_stage_writes_weights_trace_and_meta(settings, tmp_path):
    paths = []
    for i, image in enumerate(images(2, 40)):
        paths.append(tmp_path / f"s{i}.npz")
        Scene(dataset="toy", id=f"s{i}", sharp=image).save(paths[-1])
    meta = run_training(settings, paths, tmp_path / "out", checkpoint_path=tmp_path / "c.pt")
    assert meta["iterations"] == 4 and meta["images"] == ["toy/s0", "toy/s1"]
    assert meta["retrieval"] is None and not (tmp_path / "out" / "retrieval.csv").exists()
    assert meta["parameters"]["total"] == sum(p.numel() for p in KernelWizard("small").parameters())
    assert (tmp_path / "out" / "trace.csv").read_text().count("\n") == 5
    assert not (tmp_path / "c.pt").exists()
    # the user's weights: checked and kept, nothing trained
    kept = dict(settings, weights=str(tmp_path / "out" / "weights.pt"))
    meta = run_training(kept, [], tmp_path / "kept")
    assert meta["iterations"] == 0 and meta["weights"] == kept["weights"]
    a = torch.load(tmp_path / "out" / "weights.pt", weights_only=True)
    b = torch.load(tmp_path / "kept" / "weights.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # one scene held out: trained on s0 only, the retrieval measured on s1
    held = dict(settings, held_out=1, retrieval_pairs=3)
    meta = run_training(held, paths, tmp_path / "held")
    assert meta["images"] == ["toy/s0"] and meta["retrieval"]["scenes"] == ["toy/s1"]
    rows = (tmp_path / "held" / "retrieval.csv").read_text().splitlines()
    assert rows[0] == "psnr,baseline" and len(rows) == 4
    values = np.array([[float(v) for v in row.split(",")] for row in rows[1:]])
    assert meta["retrieval"]["psnr_mean"] == pytest.approx(values[:, 0].mean())
    assert meta["retrieval"]["baseline_std"] == pytest.approx(values[:, 1].std(ddof=1))
    with pytest.raises(ValueError, match=r"held_out: 2 scene\(s\) held out of 2, none left"):
        run_training(dict(settings, held_out=2), paths, tmp_path / "none")
    gray = tmp_path / "gray.npz"
    Scene(dataset="toy", id="gray", sharp=images(1, 40)[0][..., :1]).save(gray)
    with pytest.raises(ValueError, match=r"scene toy/gray has no RGB sharp image"):
        run_training(settings, [gray], tmp_path / "g")


def test_params_refuse_settings_that_cannot_train():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["kernel_space"] = {
        "enabled": True,
        "datasets": ["demo", "kodak"],
        "family": {"min_size": 11, "max_size": 8},
        "lr": 1e-4,
        "lr_min": 1e-3,
    }
    with pytest.raises(ParamsError) as err:
        validate_params(copy.deepcopy(raw))
    assert err.value.problems == [
        "kernel_space.family.max_size: must be odd, got 8",
        "kernel_space.family.min_size: 11 is larger than max_size 8",
        "kernel_space.lr_min: 0.001 is larger than lr 0.0001",
        "kernel_space.datasets[1]: 'kodak' is in no enabled study; its scenes are prepared "
        "for the studies, so add it to one",
    ]
