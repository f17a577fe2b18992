"""The evaluate stage on blind fits: ``blind``, the kernel similarity against the true
kernel (closed forms), and the aligned SSD that the study tables' error ratio uses."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inrdeblur import layout
from inrdeblur.fileio import write_json
from inrdeblur.metrics import tables
from inrdeblur.metrics.aligned import error_ratio
from inrdeblur.metrics.evaluate import evaluate_set, make_reference, score_fit
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.fit import FitEstimate
from inrdeblur.records.scene import Scene

#: a two-tap horizontal box: a delta estimate scores 1 / sqrt(2) against it
TRUE_KERNEL = np.array([[0.5, 0.5]], np.float32)
#: method -> kernel estimate (None: non-blind)
KERNELS = {
    "nonblind": None,
    "delta": np.array([[1.0]], np.float32),
    "exact": np.pad(TRUE_KERNEL, ((2, 1), (0, 3))),  # the true kernel, elsewhere in a 4x5 box
}


def _sharp(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]] / max(shape)
    return (0.5 + 0.3 * np.sin(7 * xx + 2 * yy) * np.cos(5 * yy))[..., None]


def _write(root: Path, noise: dict[str, float]) -> np.ndarray:
    """Scene 's1' (gray 48x46), its stored-blur record with the true kernel, and one fit
    (seed 0) per method of :data:`KERNELS`; method m's estimate is sharp + noise[m]."""
    sharp = _sharp((48, 46)).astype(np.float32)
    Scene(dataset="d", id="s1", sharp=sharp).save(layout.scene_path("d", "s1", root))
    BlurredImage(
        blurry=sharp + np.float32(0.05),
        attrs={"observation": "scene", "settings": {"model": "uniform"}},
        kernel=TRUE_KERNEL,
    ).save(layout.blurred_path("b", "d", "s1", root))
    rng = np.random.default_rng(1)
    for method, kernel in KERNELS.items():
        fit = layout.fit_outputs(layout.fit_dir(method, "b", "d", "s1", 0, root))
        estimate = sharp + rng.normal(0, noise[method], sharp.shape)
        FitEstimate(estimate.astype(np.float32), kernel).save(fit["estimate_npz"])
        meta = {"blur": "b", "method": method, "seed": 0, "time_s": 1.0, "size_mb": 0.1}
        write_json(fit["meta"], {**meta, "iterations": 5, "device": "cpu"})
    return sharp


def _evaluate(root: Path) -> list[dict]:
    return [
        record
        for method in KERNELS
        for record in evaluate_set(
            method, "b", "d", ["s1"], [0], root / f"{method}.json", lpips=False, root=root,
            progress=False,
        )
    ]  # fmt: skip


def test_records_say_blind_and_score_the_kernel(tmp_path: Path) -> None:
    _write(tmp_path, {"nonblind": 0.01, "delta": 0.03, "exact": 0.02})
    by_method = {r["method"]: r for r in _evaluate(tmp_path)}
    assert by_method["nonblind"]["blind"] is False
    assert by_method["nonblind"]["kernel_similarity"] is None
    assert by_method["delta"]["blind"] is True
    # <delta, box> = 1/2 at the best placement; ||delta|| = 1, ||box|| = 1/sqrt(2)
    assert by_method["delta"]["kernel_similarity"] == pytest.approx(1 / math.sqrt(2), abs=1e-7)
    assert by_method["exact"]["kernel_similarity"] == pytest.approx(1.0, abs=1e-7)
    # the stored observation is aligned: each record has the aligned SSD
    for record in by_method.values():
        assert record["ssd_aligned"] > 0.0
    table = tables.metrics_table(list(by_method.values())).set_index("method")
    assert table["blind"].dtype == bool and not table.loc["nonblind", "blind"]
    assert math.isnan(table.loc["nonblind", "kernel_similarity"])
    summary = tables.summary_table(table.reset_index()).set_index("method")
    assert summary.loc["exact", "kernel_similarity_mean"] == pytest.approx(1.0, abs=1e-7)
    assert math.isnan(summary.loc["nonblind", "kernel_similarity_mean"])


def test_table_error_ratio_equals_error_ratio_of_the_evaluated_images(tmp_path: Path) -> None:
    """The evaluate stage aligns the 8-bit estimate (the published protocol); the study
    table's ratio of the recorded SSDs is error_ratio of those same images."""
    _write(tmp_path, {"nonblind": 0.01, "delta": 0.04, "exact": 0.02})
    study = {
        "datasets": ["d"],
        "blurs": ["b"],
        "methods": list(KERNELS),
        "seeds": [0],
        "error_ratio_reference": "nonblind",
    }
    rows = tables.study_rows(tables.metrics_table(_evaluate(tmp_path)), study)
    got = dict(zip(rows["method"], rows["error_ratio"], strict=True))
    sharp = Scene.load(layout.scene_path("d", "s1", tmp_path)).sharp.astype(np.float64)[..., 0]

    def quantised(method: str) -> np.ndarray:
        path = layout.fit_outputs(layout.fit_dir(method, "b", "d", "s1", 0, tmp_path))
        estimate = FitEstimate.load(path["estimate_npz"]).estimate.astype(np.float64)[..., 0]
        return np.round(np.clip(estimate, 0.0, 1.0) * 255.0) / 255.0

    for method in ("delta", "exact"):
        expected = error_ratio(quantised(method), sharp, quantised("nonblind"))
        assert got[method] == pytest.approx(expected, rel=1e-12)
    assert got["nonblind"] == 1.0


def test_no_true_kernel_leaves_the_similarity_missing(tmp_path: Path) -> None:
    """A blind fit of a blur without a stored kernel (as a non-uniform blur): blind, but
    no similarity; nothing fails."""
    sharp = _sharp((20, 20))
    scene = Scene(dataset="d", id="s1", sharp=sharp.astype(np.float32))
    blurry = (sharp + 0.1).astype(np.float32)
    blurred = BlurredImage(blurry=blurry, attrs={"observation": "synthesize"})
    reference = make_reference(scene, blurred, lpips_metric=None, aligned="never")
    fit = layout.fit_outputs(layout.fit_dir("delta", "b", "d", "s1", 0, tmp_path))
    FitEstimate((sharp + 0.01).astype(np.float32), KERNELS["delta"]).save(fit["estimate_npz"])
    meta = {"blur": "b", "method": "delta", "seed": 0, "time_s": 1.0, "size_mb": 0.1}
    write_json(fit["meta"], {**meta, "iterations": 5, "device": "cpu"})
    record = score_fit(reference, fit["estimate_npz"], fit["meta"])
    assert record["blind"] is True and record["kernel_similarity"] is None
    assert "ssd_aligned" not in record
    (row,) = tables.metrics_table([record]).itertuples(index=False)
    assert row.blind and math.isnan(row.kernel_similarity) and math.isnan(row.ssd_aligned)


def test_kernel_fields_in_the_records_contract() -> None:
    base = {
        "dataset": "d", "blur": "b", "method": "m", "scene": "s", "seed": 0, "psnr": 20.0,
        "ssim": 0.5, "lpips": None, "lpips_status": "missing: off", "psnr_blurry": 18.0,
        "ssim_blurry": 0.4, "lpips_blurry": None, "time_s": 1.0, "size_mb": 0.1,
        "iterations": 1, "device": "cpu",
    }  # fmt: skip
    # records from before blind methods: not blind, no similarity
    (row,) = tables.metrics_table([base]).itertuples(index=False)
    assert not row.blind and math.isnan(row.kernel_similarity)
    with pytest.raises(ValueError, match="'kernel_similarity' is given but the fit is not"):
        tables.metrics_table([{**base, "kernel_similarity": 0.9}])
    with pytest.raises(ValueError, match="'blind' must be true or false"):
        tables.metrics_table([{**base, "blind": "yes"}])
    with pytest.raises(ValueError, match="'ssd_aligned' must be >= 0"):
        tables.metrics_table([{**base, "ssd_aligned": -1.0}])
