"""Levin et al.'s error ratio in a study's tables: hand-made records with closed-form
ratios, real images aligned by :func:`inrdeblur.metrics.aligned.align`, and the
``error_ratio_reference`` key of a study."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml

from inrdeblur.config import ParamsError, validate_params
from inrdeblur.metrics import tables
from inrdeblur.metrics.aligned import align, error_ratio


def rec(method: str, scene: str, seed: int, ssd: float | None, **kw) -> dict:
    """One metrics record of the stored-blur (aligned) setting with ``ssd_aligned``."""
    record = {
        "dataset": "levin",
        "blur": "stored",
        "method": method,
        "scene": scene,
        "seed": seed,
        "psnr": 25.0,
        "ssim": 0.8,
        "lpips": None,
        "lpips_status": "missing: disabled",
        "psnr_blurry": 20.0,
        "ssim_blurry": 0.5,
        "lpips_blurry": None,
        "time_s": 1.0,
        "size_mb": 0.1,
        "iterations": 10,
        "device": "cpu",
        "psnr_aligned": 26.0,
        "ssim_aligned": 0.85,
        "psnr_aligned_blurry": 21.0,
        "ssim_aligned_blurry": 0.55,
        "ssd_aligned": ssd,
    }
    record.update(kw)
    return record


STUDY = {
    "datasets": ["levin"],
    "blurs": ["stored", "synthetic"],
    "methods": ["nonblind", "blind", "partial"],
    "seeds": [0, 1],
    "error_ratio_reference": "nonblind",
}


def records() -> list[dict]:
    """The reference has seed 0 on s1, seeds 0 and 1 on s2; the blind method both seeds
    everywhere. SSDs are chosen so that every ratio is a simple square root."""
    return [
        rec("nonblind", "s1", 0, 4.0),
        rec("nonblind", "s2", 0, 1.0),
        rec("nonblind", "s2", 1, 9.0),
        rec("blind", "s1", 0, 16.0, blind=True),  # sqrt(16 / 4) = 2
        rec("blind", "s1", 1, 9.0, blind=True),  # reference lacks seed 1: its seed 0, 1.5
        rec("blind", "s2", 0, 4.0, blind=True),  # sqrt(4 / 1) = 2
        rec("blind", "s2", 1, 36.0, blind=True),  # same seed 1: sqrt(36 / 9) = 2
        rec("partial", "s1", 0, 1.0),  # sqrt(1 / 4) = 0.5
        rec("partial", "s3", 0, 1.0),  # no reference fit of s3: NaN
        # a synthesised observation: no alignment, so no ssd and no ratio
        rec("nonblind", "s1", 0, None, blur="synthetic", psnr_aligned=None, ssim_aligned=None,
            psnr_aligned_blurry=None, ssim_aligned_blurry=None),
        rec("blind", "s1", 0, None, blur="synthetic", blind=True, psnr_aligned=None,
            ssim_aligned=None, psnr_aligned_blurry=None, ssim_aligned_blurry=None),
    ]  # fmt: skip


def _ratios(rows) -> dict[tuple[str, str, str, int], float]:
    return {
        (r.blur, r.method, r.scene, r.seed): r.error_ratio for r in rows.itertuples(index=False)
    }


def test_closed_form_ratios_per_fit() -> None:
    rows = tables.study_rows(tables.metrics_table(records()), STUDY)
    got = _ratios(rows)
    assert got[("stored", "blind", "s1", 0)] == 2.0
    assert got[("stored", "blind", "s1", 1)] == 1.5
    assert got[("stored", "blind", "s2", 0)] == 2.0
    assert got[("stored", "blind", "s2", 1)] == 2.0
    assert got[("stored", "partial", "s1", 0)] == 0.5
    assert math.isnan(got[("stored", "partial", "s3", 0)])
    for seed_scene in (("s1", 0), ("s2", 0), ("s2", 1)):
        assert got[("stored", "nonblind", *seed_scene)] == 1.0
    for method in ("nonblind", "blind"):
        assert math.isnan(got[("synthetic", method, "s1", 0)])


def test_summary_mean_error_ratio() -> None:
    rows = tables.study_rows(tables.metrics_table(records()), STUDY)
    summary = tables.summary_table(rows).set_index(["blur", "method"])
    blind = summary.loc[("stored", "blind")]
    # 2, 1.5, 2, 2: mean 1.875, squared deviations 3 * 0.125**2 + 0.375**2 = 0.1875
    assert blind.error_ratio_mean == pytest.approx(1.875, rel=1e-15)
    assert blind.error_ratio_std == pytest.approx(math.sqrt(0.1875 / 3), rel=1e-14)
    reference = summary.loc[("stored", "nonblind")]
    assert (reference.error_ratio_mean, reference.error_ratio_std) == (1.0, 0.0)
    # an image without a reference fit makes the mean undefined, not silently smaller
    assert math.isnan(summary.loc[("stored", "partial")].error_ratio_mean)
    assert math.isnan(summary.loc[("stored", tables.BLURRY_METHOD)].error_ratio_mean)
    assert math.isnan(summary.loc[("synthetic", "blind")].error_ratio_mean)
    text = tables.format_summary(tables.summary_table(rows))
    assert "error ratio" in text.splitlines()[0]
    assert "1.875 ± 0.250" in text and "1.000 ± 0.000" in text


def test_no_reference_no_ratio() -> None:
    metrics = tables.metrics_table(records())
    rows = tables.study_rows(metrics, {**STUDY, "error_ratio_reference": None})
    assert "error_ratio" not in rows.columns
    summary = tables.summary_table(rows)
    assert summary["error_ratio_mean"].isna().all()
    assert "error ratio" not in tables.format_summary(summary)
    # the global tables and metrics.json are unchanged by a study's reference
    leaf = tables.metrics_json(tables.summary_table(metrics))["levin"]["stored"]["blind"]
    assert "error_ratio" not in leaf


def test_zero_reference_error_follows_error_ratio() -> None:
    """As :func:`~inrdeblur.metrics.aligned.error_ratio`: 1 when both errors are 0, inf
    when only the reference's is."""
    data = [
        rec("nonblind", "s1", 0, 0.0),
        rec("blind", "s1", 0, 0.0, blind=True),
        rec("blind", "s1", 1, 2.0, blind=True),
    ]
    rows = tables.study_rows(tables.metrics_table(data), STUDY)
    got = _ratios(rows)
    assert got[("stored", "nonblind", "s1", 0)] == 1.0
    assert got[("stored", "blind", "s1", 0)] == 1.0
    assert got[("stored", "blind", "s1", 1)] == math.inf


def test_a_blind_reference_is_refused() -> None:
    study = {**STUDY, "error_ratio_reference": "blind"}
    with pytest.raises(ValueError, match="error_ratio_reference 'blind'.*blind"):
        tables.study_rows(tables.metrics_table(records()), study)


def test_ratio_of_aligned_images_equals_error_ratio() -> None:
    """SSDs from :func:`align` of real images in the records; the table's ratio is
    :func:`error_ratio` of the same images, seed by seed."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:46] / 47.0
    sharp = 0.5 + 0.3 * np.sin(6 * xx + 3 * yy) * np.cos(4 * yy)
    reference = np.clip(sharp + rng.normal(0, 0.01, sharp.shape), 0, 1)
    estimates = {
        0: np.clip(np.roll(sharp, (2, -1), axis=(0, 1)) + rng.normal(0, 0.03, sharp.shape), 0, 1),
        1: np.clip(0.9 * sharp + 0.05 + rng.normal(0, 0.02, sharp.shape), 0, 1),
    }
    data = [rec("nonblind", "s1", 0, align(reference, sharp).ssd)]
    data += [
        rec("blind", "s1", seed, align(est, sharp).ssd, blind=True)
        for seed, est in estimates.items()
    ]
    rows = tables.study_rows(tables.metrics_table(data), STUDY)
    got = _ratios(rows)
    for seed, est in estimates.items():
        expected = error_ratio(est, sharp, reference)
        assert got[("stored", "blind", "s1", seed)] == pytest.approx(expected, rel=1e-12)
        assert expected > 1.0  # worse than the reference, as built
    summary = tables.summary_table(rows).set_index("method")
    assert summary.loc["blind"].error_ratio_mean == pytest.approx(
        np.mean([error_ratio(e, sharp, reference) for e in estimates.values()]), rel=1e-12
    )


# --- the params key ---------------------------------------------------------------------


@pytest.fixture()
def params(repo_root) -> dict:
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["studies"]["levin"]["enabled"] = True  # validated either way
    return params


def problems_of(raw) -> list[str]:
    with pytest.raises(ParamsError) as info:
        validate_params(raw)
    return info.value.problems


def test_a_study_method_of_an_aligned_study_is_accepted(params) -> None:
    study = params["studies"]["levin"]
    assert "true_kernel_stored" in study["blurs"]  # observation 'scene': aligned
    study["error_ratio_reference"] = study["methods"][0]
    checked = validate_params(params)
    assert checked["studies"]["levin"]["error_ratio_reference"] == study["methods"][0]
    assert checked["studies"]["demo"]["error_ratio_reference"] is None  # the default


def test_the_reference_must_be_a_method_of_the_study(params) -> None:
    study = params["studies"]["levin"]
    other = next(m for m in params["methods"] if m not in study["methods"])
    study["error_ratio_reference"] = other
    (problem,) = problems_of(params)
    assert problem.startswith(
        f"studies.levin.error_ratio_reference: {other!r} is not one of the study's methods"
    )


def test_the_reference_needs_an_aligned_blur(params) -> None:
    demo = copy.deepcopy(params["studies"]["demo"])
    demo["error_ratio_reference"] = demo["methods"][0]
    params["studies"]["demo"] = demo  # synthesised blurs only: nothing is aligned
    (problem,) = problems_of(params)
    assert problem.startswith("studies.demo.error_ratio_reference: the error ratio compares")
    params["metrics"] = {"aligned": "always"}
    validate_params(params)
    params["studies"]["demo"]["error_ratio_reference"] = None
    params["studies"]["levin"]["error_ratio_reference"] = params["studies"]["levin"]["methods"][0]
    params["metrics"] = {"aligned": "never"}
    problems = problems_of(params)
    (problem,) = [p for p in problems if p.startswith("studies.levin.error_ratio_reference:")]
    assert "'never'" in problem


def test_the_reference_must_be_a_name(params) -> None:
    params["studies"]["levin"]["error_ratio_reference"] = 3
    assert problems_of(params) == [
        "studies.levin.error_ratio_reference: must be a method name or null, got 3"
    ]
