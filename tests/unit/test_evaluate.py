"""The evaluate stage on fits written at their layout paths.

Expected scores are closed forms: an estimate that is the reference plus a constant
``d`` has PSNR ``-20 log10 d`` on [0, 1] images, and the blurry input's PSNR is computed
here with numpy from its definition.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inrdeblur import layout
from inrdeblur.fileio import InputFileError, read_json, write_json, write_npz
from inrdeblur.metrics.evaluate import evaluate_fit, evaluate_set
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.scene import Scene

#: seed -> constant added to the reference to make that seed's estimate
OFFSETS = {0: 0.1, 1: 0.01}


def _write_set(root: Path, scenes: list[str]) -> dict[str, np.ndarray]:
    """Scenes, their blurred images and a fit per seed of method 'm' under ``root``."""
    rng = np.random.default_rng(0)
    blurry_by_scene = {}
    for scene_id in scenes:
        sharp = rng.integers(16, 48, size=(48, 44, 3)) / 64.0  # in [0.25, 0.75)
        Scene(dataset="d", id=scene_id, sharp=sharp.astype(np.float32)).save(
            layout.scene_path("d", scene_id, root)
        )
        blurry = sharp + rng.normal(0.0, 0.05, sharp.shape)
        BlurredImage(
            blurry=blurry.astype(np.float32),
            attrs={"observation": "synthesize", "settings": {"model": "uniform"}},
            kernel=np.ones((1, 1), np.float32),
        ).save(layout.blurred_path("b", "d", scene_id, root))
        blurry_by_scene[scene_id] = blurry.astype(np.float32)
        for seed, offset in OFFSETS.items():
            fit = layout.fit_outputs(layout.fit_dir("m", "b", "d", scene_id, seed, root))
            fit["meta"].parent.mkdir(parents=True, exist_ok=True)
            write_npz(fit["estimate_npz"], estimate=(sharp + offset).astype(np.float32))
            write_json(
                fit["meta"],
                {
                    "blur": "b",
                    "method": "m",
                    "seed": seed,
                    "time_s": 2.0,
                    "size_mb": 0.5,
                    "iterations": 3,
                    "device": "cpu",
                },
            )
    return blurry_by_scene


def test_every_scene_and_seed_gets_its_closed_form_scores(tmp_path: Path):
    blurry = _write_set(tmp_path, ["s1", "s2"])
    out = tmp_path / "metrics.json"
    records = evaluate_set(
        "m", "b", "d", ["s1", "s2"], [0, 1], out, lpips=False, root=tmp_path, progress=False
    )
    assert read_json(out) == records
    order = [(r["scene"], r["seed"]) for r in records]
    assert order == [("s1", 0), ("s1", 1), ("s2", 0), ("s2", 1)]
    for record in records:
        expected = -20.0 * math.log10(OFFSETS[record["seed"]])
        assert record["psnr"] == pytest.approx(expected, abs=1e-4)
        sharp = Scene.load(layout.scene_path("d", record["scene"], tmp_path)).sharp
        error = np.clip(blurry[record["scene"]].astype(np.float64), 0, 1) - sharp
        assert record["psnr_blurry"] == pytest.approx(-10.0 * math.log10(np.mean(error**2)))
        assert record["lpips"] is None and record["lpips_blurry"] is None
        assert record["lpips_status"].startswith("missing")
        assert (record["time_s"], record["size_mb"], record["iterations"]) == (2.0, 0.5, 3)
        assert "psnr_aligned" not in record  # a synthesised observation: no alignment


def test_the_set_records_equal_single_fit_records(tmp_path: Path):
    _write_set(tmp_path, ["s1"])
    records = evaluate_set(
        "m",
        "b",
        "d",
        ["s1"],
        [0, 1],
        tmp_path / "m.json",
        lpips=False,
        aligned="always",
        root=tmp_path,
        progress=False,
    )
    for record in records:
        fit = layout.fit_outputs(layout.fit_dir("m", "b", "d", "s1", record["seed"], tmp_path))
        single = evaluate_fit(
            layout.scene_path("d", "s1", tmp_path),
            layout.blurred_path("b", "d", "s1", tmp_path),
            fit["estimate_npz"],
            fit["meta"],
            out=None,
            lpips=False,
            aligned="always",
        )
        assert record == single
        assert {"psnr_aligned", "ssim_aligned", "psnr_aligned_blurry"} <= record.keys()


def test_a_fit_of_another_seed_names_its_meta_file(tmp_path: Path):
    _write_set(tmp_path, ["s1"])
    meta = layout.fit_outputs(layout.fit_dir("m", "b", "d", "s1", 1, tmp_path))["meta"]
    write_json(meta, {**read_json(meta), "seed": 7})
    out = tmp_path / "m.json"
    with pytest.raises(InputFileError, match=rf"{meta}.*seed 7.*not 'm' with seed 1"):
        evaluate_set("m", "b", "d", ["s1"], [0, 1], out, lpips=False, root=tmp_path, progress=False)
    assert not out.exists()


def test_an_unknown_alignment_mode_is_refused_before_any_work(tmp_path: Path):
    with pytest.raises(ValueError, match="aligned must be one of"):
        evaluate_set("m", "b", "d", ["s1"], [0], tmp_path / "m.json", aligned="sometimes")
