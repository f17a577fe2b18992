"""Result tables against hand-computed means and standard deviations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inrdeblur import layout
from inrdeblur.metrics import tables
from inrdeblur.metrics.perceptual import LPIPS_HELP


def rec(method: str, scene: str, seed: int, psnr: float, psnr_blurry: float, **kw) -> dict:
    """One metrics record with defaults for everything not given."""
    record = {
        "dataset": "levin",
        "blur": "uniform",
        "method": method,
        "scene": scene,
        "seed": seed,
        "psnr": psnr,
        "ssim": 0.9,
        "lpips": 0.1,
        "lpips_status": "ok",
        "psnr_blurry": psnr_blurry,
        "ssim_blurry": 0.5,
        "lpips_blurry": 0.3,
        "time_s": 10.0,
        "size_mb": 2.5,
        "iterations": 100,
        "device": "cpu",
    }
    record.update(kw)
    return record


def records() -> list[dict]:
    """siren: 2 scenes x 2 seeds; inr: one fit on a third scene. psnr_blurry 25, 24, 26."""
    return [
        rec("siren", "s1", 0, 30.0, 25.0, time_s=10.0, ssim=0.80),
        rec("siren", "s1", 1, 32.0, 25.0, time_s=20.0, ssim=0.90),
        rec("siren", "s2", 0, 27.0, 24.0, time_s=30.0, ssim=0.70),
        rec("siren", "s2", 1, 29.0, 24.0, time_s=40.0, ssim=0.60),
        rec("inr", "s3", 0, 28.0, 26.0, lpips=None, lpips_status="missing: no weights"),
    ]


@pytest.fixture
def summary() -> pd.DataFrame:
    return tables.summary_table(tables.metrics_table(records())).set_index("method")


def test_metrics_table_columns_and_order() -> None:
    shuffled = [
        rec("b", "x", 10, 1.0, 1.0),
        rec("b", "x", 2, 1.0, 1.0),
        rec("a", "y", 0, 1.0, 1.0),
        rec("a", "x", 0, 1.0, 1.0),
    ]
    table = tables.metrics_table(shuffled)
    assert list(table.columns) == list(tables.METRIC_COLUMNS)
    # seeds sort numerically (2 before 10), methods and scenes alphabetically
    assert table[["method", "scene", "seed"]].values.tolist() == [
        ["a", "x", 0],
        ["a", "y", 0],
        ["b", "x", 2],
        ["b", "x", 10],
    ]
    assert table["seed"].dtype == np.int64 and list(table.index) == [0, 1, 2, 3]


def test_method_means_and_stds_closed_form(summary: pd.DataFrame) -> None:
    siren = summary.loc["siren"]
    assert (siren.n_scenes, siren.n_seeds, siren.n_fits) == (2, 2, 4)
    # PSNR 30, 32, 27, 29: mean 29.5, squared deviations 0.25 + 6.25 + 6.25 + 0.25 = 13
    assert siren.psnr_mean == pytest.approx(29.5, rel=1e-15)
    assert siren.psnr_std == pytest.approx(math.sqrt(13 / 3), rel=1e-14)
    # gains 5, 7, 3, 5: mean 5, squared deviations 0 + 4 + 4 + 0
    assert siren.psnr_gain_mean == pytest.approx(5.0, rel=1e-15)
    assert siren.psnr_gain_std == pytest.approx(math.sqrt(8 / 3), rel=1e-14)
    # times 10, 20, 30, 40: mean 25, squared deviations 225 + 25 + 25 + 225
    assert siren.time_s_mean == pytest.approx(25.0, rel=1e-15)
    assert siren.time_s_std == pytest.approx(math.sqrt(500 / 3), rel=1e-14)
    # SSIM 0.8, 0.9, 0.7, 0.6: mean 0.75, squared deviations 0.0025 + 0.0225 + 0.0025 + 0.0225
    assert siren.ssim_mean == pytest.approx(0.75, rel=1e-14)
    assert siren.ssim_std == pytest.approx(math.sqrt(0.05 / 3), rel=1e-12)
    assert siren.size_mb_mean == 2.5 and siren.size_mb_std == 0.0
    assert siren.lpips_mean == pytest.approx(0.1, rel=1e-15) and siren.lpips_status == "ok"


def test_single_fit_has_nan_std(summary: pd.DataFrame) -> None:
    inr = summary.loc["inr"]
    assert (inr.n_scenes, inr.n_seeds, inr.n_fits) == (1, 1, 1)
    assert inr.psnr_mean == 28.0 and math.isnan(inr.psnr_std)
    assert inr.psnr_gain_mean == 2.0 and math.isnan(inr.psnr_gain_std)


def test_missing_lpips_gives_nan_not_zero(summary: pd.DataFrame) -> None:
    inr = summary.loc["inr"]
    assert math.isnan(inr.lpips_mean) and math.isnan(inr.lpips_std)
    assert inr.lpips_status == "missing: no weights"
    mixed = records()[:2] + [
        rec("siren", "s2", 0, 27.0, 24.0, lpips=None, lpips_status="missing: cpu timeout")
    ]
    row = tables.summary_table(tables.metrics_table(mixed)).set_index("method").loc["siren"]
    assert math.isnan(row.lpips_mean) and row.lpips_status == "missing: cpu timeout"


def test_blurry_input_row_one_value_per_scene(summary: pd.DataFrame) -> None:
    blurry = summary.loc[tables.BLURRY_METHOD]
    # scenes s1, s2, s3 have psnr_blurry 25, 24, 26 (s1, s2 repeated over 2 seeds):
    # deduplicated mean 25 and std 1; without deduplication the mean would be
    # (2 * 25 + 2 * 24 + 26) / 5 = 24.8
    assert (blurry.n_scenes, blurry.n_seeds, blurry.n_fits) == (3, 1, 3)
    assert blurry.psnr_mean == 25.0 and blurry.psnr_std == pytest.approx(1.0, rel=1e-15)
    assert blurry.ssim_mean == pytest.approx(0.5) and blurry.ssim_std == 0.0
    assert blurry.lpips_mean == pytest.approx(0.3) and blurry.lpips_status == "ok"
    for column in ("time_s_mean", "time_s_std", "size_mb_mean", "psnr_gain_mean"):
        assert math.isnan(blurry[column])


def test_summary_layout() -> None:
    more = records() + [dict(r, blur="icb") for r in records()[:2]]
    table = tables.summary_table(tables.metrics_table(more))
    assert list(table.columns) == list(tables.SUMMARY_COLUMNS)
    assert table[["blur", "method"]].values.tolist() == [
        ["icb", "blurry input"],
        ["icb", "siren"],
        ["uniform", "blurry input"],
        ["uniform", "inr"],
        ["uniform", "siren"],
    ]


def test_blurry_rows_missing_lpips_reason() -> None:
    data = [
        rec(
            "a",
            "s1",
            0,
            30.0,
            25.0,
            lpips=None,
            lpips_blurry=None,
            lpips_status="missing: lpips not installed",
        )
    ]
    row = tables.summary_table(tables.metrics_table(data)).iloc[0]
    assert row.method == tables.BLURRY_METHOD and math.isnan(row.lpips_mean)
    assert row.lpips_status == "missing: lpips not installed"


def test_stale_blurry_metrics_are_refused() -> None:
    data = records() + [rec("inr", "s1", 0, 30.0, 25.5)]
    with pytest.raises(ValueError, match=r"levin/uniform/s1.*psnr_blurry.*stale"):
        tables.summary_table(tables.metrics_table(data))


def test_duplicates_are_named() -> None:
    data = records() + [rec("siren", "s2", 1, 99.0, 24.0)]
    with pytest.raises(
        ValueError,
        match=r"duplicate.*2 records.*method='siren'.*"
        r"scene='s2'.*seed=1",
    ):
        tables.metrics_table(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": "0"}, "'seed' must be an integer"),
        ({"psnr": float("inf")}, "'psnr' must be finite"),
        ({"lpips": None}, "'lpips' is None but 'lpips_status' is 'ok'"),
        ({"lpips_status": "missing: x"}, "'lpips' is 0.1 but"),
        ({"lpips_status": "n/a"}, "'lpips_status' must be"),
        ({"scene": 1}, "'scene' must be a non-empty string"),
        ({"method": "blurry input"}, "reserved"),
    ],
)
def test_contract_violations_are_named(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=rf"metrics record 1 .*{message}"):
        tables.metrics_table([records()[0], {**records()[1], **change}])


def photo(method: str, scene: str, seed: int, time_s: float) -> dict:
    """The record of a fit of a photo without a sharp image, as the evaluate stage writes it."""
    return rec(
        method,
        scene,
        seed,
        None,
        None,
        dataset="photos",
        blur="as_taken",
        ssim=None,
        ssim_blurry=None,
        lpips=None,
        lpips_blurry=None,
        lpips_status="missing: no sharp reference (the photos dataset has no sharp images)",
        reference="none: the photos dataset has no sharp images",
        time_s=time_s,
        blind=True,
    )


def test_records_without_a_reference_have_no_psnr_and_dashes_in_the_summary() -> None:
    data = [photo("selfdeblur", "a", 0, 10.0), photo("selfdeblur", "b", 0, 30.0)]
    metrics = tables.metrics_table([*records(), *data])
    rows = metrics[metrics["dataset"] == "photos"]
    assert len(rows) == 2
    for column in ("psnr", "ssim", "lpips", "psnr_blurry", "ssim_blurry", "lpips_blurry"):
        assert rows[column].isna().all(), column
    summary = tables.summary_table(metrics).set_index(["dataset", "method"])
    for method in ("selfdeblur", tables.BLURRY_METHOD):
        for column in ("psnr_mean", "ssim_mean", "lpips_mean", "psnr_gain_mean"):
            assert math.isnan(summary.loc[("photos", method), column]), (method, column)
    assert summary.loc[("photos", "selfdeblur"), "time_s_mean"] == 20.0  # (10 + 30) / 2
    assert summary.loc[("levin", "siren"), "psnr_mean"] == 29.5  # the others are unchanged
    text = tables.format_summary(tables.summary_table(metrics))
    block = text[text.index("photos / as_taken") :].splitlines()
    assert block[1].split()[:5] == ["blurry", "input", "2", "-", "-"]
    assert block[2].split()[:5] == ["selfdeblur", "2", "x", "1", "-"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"psnr": None}, "'psnr' is null, which only a record whose 'reference' is 'none:"),
        ({"reference": "none: no sharp image"}, "'psnr' is 32.0, but 'reference' says"),
        ({"reference": 1}, "'reference' must be a string"),
    ],
)
def test_a_null_psnr_needs_a_record_without_a_reference(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=rf"metrics record 1 .*{message}"):
        tables.metrics_table([records()[0], {**records()[1], **change}])


def test_missing_key_is_named() -> None:
    bad = {k: v for k, v in records()[0].items() if k != "time_s"}
    with pytest.raises(ValueError, match="missing key.*time_s"):
        tables.metrics_table([bad])


def test_csv_round_trip_is_exact(tmp_path: Path) -> None:
    # differences in the 15th significant digit must survive ("%.6g" would merge them)
    data = [
        rec("siren", "0001", 0, 30.000000000000004, 1 / 3, time_s=123.456789012345),
        rec("siren", "0001", 1, 30.000000000000007, 1 / 3, time_s=0.1 + 0.2),
        rec(
            "siren",
            "0002",
            0,
            31.41592653589793,
            0.1,
            lpips=None,
            lpips_status='missing: a, "quoted" reason',
        ),
    ]
    paths = (
        tmp_path / layout.METRICS_TABLE,
        tmp_path / layout.SUMMARY_TABLE,
        tmp_path / layout.METRICS_JSON,
    )
    metrics, summary = tables.write_tables(data, *paths)
    back = tables.read_table(paths[0])
    pd.testing.assert_frame_equal(back, metrics, check_exact=True)
    assert back["scene"].tolist() == ["0001", "0001", "0002"]
    assert back["psnr"].iloc[1] - back["psnr"].iloc[0] == 30.000000000000007 - 30.000000000000004
    assert back["time_s"].iloc[1] == 0.1 + 0.2
    pd.testing.assert_frame_equal(tables.read_table(paths[1]), summary, check_exact=True)
    assert not list(tmp_path.rglob(".*"))  # no temporary files left behind


def test_metrics_json_structure(tmp_path: Path, summary: pd.DataFrame) -> None:
    out = tables.metrics_json(summary.reset_index())
    assert list(out) == ["levin"] and list(out["levin"]) == ["uniform"]
    methods = out["levin"]["uniform"]
    assert list(methods) == ["blurry input", "inr", "siren"]
    for leaf in methods.values():
        assert list(leaf) == [
            "psnr",
            "ssim",
            "lpips",
            "time_s",
            "size_mb",
            "psnr_gain",
            "psnr_aligned",
            "ssim_aligned",
        ]
    assert methods["siren"]["psnr"] == pytest.approx(29.5) and methods["siren"]["lpips"] == 0.1
    assert methods["inr"]["lpips"] is None
    assert methods["blurry input"]["time_s"] is None
    path = tmp_path / "metrics.json"
    tables.write_tables(records(), tmp_path / "m.csv", tmp_path / "s.csv", path)
    assert json.loads(path.read_text()) == out


def test_empty_input() -> None:
    metrics = tables.metrics_table([])
    assert metrics.empty and list(metrics.columns) == list(tables.METRIC_COLUMNS)
    summary = tables.summary_table(metrics)
    assert summary.empty and list(summary.columns) == list(tables.SUMMARY_COLUMNS)
    assert tables.metrics_json(summary) == {}


def test_format_summary_prints_every_row_with_its_numbers(tmp_path: Path) -> None:
    summary = tables.summary_table(tables.metrics_table(records()))
    path = tmp_path / "summary.csv"
    path.write_text(tables.to_csv(summary))
    text = tables.format_summary(tables.read_table(path))
    lines = text.splitlines()
    assert lines[0].split() == ["method", "scenes", "x", "seeds", "PSNR", "dB", "SSIM"] + [
        "LPIPS",
        "fit",
        "time",
        "s",
    ]  # no aligned column: no record has aligned metrics
    assert lines[2] == "levin / uniform"
    rows = {line.split()[0]: line for line in lines[3:6]}
    assert set(rows) == {tables.BLURRY_METHOD.split()[0], "inr", "siren"}
    # siren: PSNR 29.5 ± sqrt(13/3), SSIM 0.75 ± sqrt(0.05/3), time 25 ± sqrt(500/3)
    assert f"29.50 ± {math.sqrt(13 / 3):.2f}" in rows["siren"]
    assert f"0.7500 ± {math.sqrt(0.05 / 3):.4f}" in rows["siren"]
    assert f"25.0 ± {math.sqrt(500 / 3):.1f}" in rows["siren"]
    assert "2 x 2" in rows["siren"] and "0.1000 ± 0.0000" in rows["siren"]
    # one fit: no std; LPIPS missing, its reason once under the table
    assert "28.00  " in rows["inr"] + "  " and "missing [1]" in rows["inr"]
    assert text.count("no weights") == 1 and lines[-1] == "[1] LPIPS missing: no weights"


def test_format_summary_says_how_to_get_the_lpips_backbone_once() -> None:
    status = "missing: backbone file not found (/x/alexnet-owt-7be5be79.pth)"
    data = [
        rec(m, s, 0, 30.0, 25.0, lpips=None, lpips_status=status)
        for m in ("siren", "inr")
        for s in ("s1", "s2")
    ]
    text = tables.format_summary(tables.summary_table(tables.metrics_table(data)))
    lines = text.splitlines()
    assert text.count("backbone file not found") == 1
    assert lines[-2] == f"[1] LPIPS missing: {status.removeprefix('missing: ')}"
    assert lines[-1] == LPIPS_HELP and text.count("fetch_lpips") == 1


def test_format_summary_adds_the_aligned_column_when_computed() -> None:
    data = [rec("siren", "s1", 0, 30.0, 25.0, psnr_aligned=31.25, psnr_aligned_blurry=26.0)]
    text = tables.format_summary(tables.summary_table(tables.metrics_table(data)))
    assert "aligned PSNR dB" in text.splitlines()[0]
    assert "31.25" in text and "26.00" in text
    assert tables.format_summary(tables.summary_table(tables.metrics_table([]))) == "(no results)"
