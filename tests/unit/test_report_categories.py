"""Per-category tables of the report (Lai's image categories) against hand-computed means
and the published per-category figures read straight from the package's CSV."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from inrdeblur.metrics import tables
from inrdeblur.report.html import category_tables
from inrdeblur.report.published import load_published

STORED = {"model": "uniform", "kernel": "scene", "observation": "scene"}
PARAMS = {"blurs": {"true_kernel_stored": STORED}}


def _record(scene: str, method: str, seed: int, psnr: float, ssim: float, category: str):
    return {
        "dataset": "lai", "blur": "true_kernel_stored", "method": method, "scene": scene,
        "seed": seed, "psnr": psnr, "ssim": ssim, "lpips": None,
        "lpips_status": "missing: off", "psnr_blurry": 20.0 + len(scene) % 3,
        "ssim_blurry": 0.5, "lpips_blurry": None, "time_s": 1.0, "size_mb": 0.0,
        "iterations": 1, "device": "cpu", "category": category,
        # stored observations: the shift-aligned protocol, 1 dB and 0.01 above here
        "psnr_aligned": psnr + 1.0, "ssim_aligned": ssim + 0.01,
        "psnr_aligned_blurry": 21.0 + len(scene) % 3, "ssim_aligned_blurry": 0.51,
    }  # fmt: skip


def _published(subset: str, method: str = "CrossScaleINR") -> tuple[str, str]:
    text = resources.files("inrdeblur.report").joinpath("published_results.csv").read_text()
    for row in csv.DictReader(text.splitlines()):
        if row["dataset"] == "Lai_uniform" and row["subset"] == subset and row["method"] == method:
            return f"{float(row['psnr']):.2f}", f"{float(row['ssim']):.4f}"
    raise AssertionError(f"no published {method} row for {subset}")


def test_category_means_and_published_columns() -> None:
    records = [
        _record("manmade_01_kernel_01", "tv", 0, 30.0, 0.90, "manmade"),
        _record("manmade_01_kernel_01", "tv", 1, 31.0, 0.92, "manmade"),
        _record("manmade_02_kernel_01", "tv", 0, 26.0, 0.80, "manmade"),
        _record("text_01_kernel_01", "tv", 0, 20.0, 0.70, "text"),
        _record("text_01_kernel_01", "rl", 0, 19.0, 0.60, "text"),
    ]
    metrics = tables.metrics_table(records)
    sources: list[str] = ["an earlier source"]
    (table,) = category_tables(metrics, PARAMS, load_published(), sources)
    assert table["categories"] == ["manmade", "text"]
    assert table["n_scenes"] == {"manmade": 2, "text": 1}
    rows = {row["method"]: row for row in table["rows"]}
    # Aligned figures (every fit has them), as the papers give for stored observations.
    assert table["aligned"] is True
    # tv: manmade (31 + 32 + 27) / 3, (0.91 + 0.93 + 0.81) / 3; text 21; all four fits
    assert rows["tv"]["cells"] == ["30.00 / 0.8833", "21.00 / 0.7100", "27.75 / 0.8400"]
    assert rows["rl"]["cells"] == ["—", "20.00 / 0.6100", "20.00 / 0.6100"]
    # the blurry input: one value per scene (psnr_aligned_blurry 21 + len(scene) % 3)
    manmade = [21.0 + len("manmade_01_kernel_01") % 3, 21.0 + len("manmade_02_kernel_01") % 3]
    text = 21.0 + len("text_01_kernel_01") % 3
    assert rows["blurry input"]["cells"][0] == f"{sum(manmade) / 2:.2f} / 0.5100"
    assert rows["blurry input"]["cells"][2] == f"{(sum(manmade) + text) / 3:.2f} / 0.5100"
    assert [row["kind"] for row in table["rows"][:3]] == ["input", "method", "method"]
    # Published: a paper's per-category figures under our categories, "Average" under all.
    cross = rows["published: CrossScaleINR (blind uniform)"]
    assert cross["kind"] == "published"
    assert cross["cells"] == [" / ".join(_published(s)) for s in ("Manmade", "Text", "Average")]
    assert cross["sources"] == [2] and len(sources) == 2 and "Zhang" in sources[1]
    # SelfDeblur is published for Lai only as an average over all categories: no row.
    assert "published: SelfDeblur (blind uniform)" not in rows


def test_unaligned_figures_are_not_set_beside_aligned_published_ones() -> None:
    record = _record("manmade_01_kernel_01", "tv", 0, 30.0, 0.90, "manmade")
    record.update(psnr_aligned=None, ssim_aligned=None)
    (table,) = category_tables(tables.metrics_table([record]), PARAMS, load_published(), [])
    assert table["aligned"] is False
    assert [row["kind"] for row in table["rows"]] == ["input", "method"]
    assert table["rows"][1]["cells"] == ["30.00 / 0.9000", "30.00 / 0.9000"]


def test_no_categories_no_table() -> None:
    records = [_record("manmade_01_kernel_01", "tv", 0, 30.0, 0.9, "")]
    metrics = tables.metrics_table(records)
    assert category_tables(metrics, PARAMS, load_published(), []) == []
    demo = metrics.assign(category="")
    assert category_tables(demo, {}, [], []) == []


@pytest.mark.parametrize("value", [3, ["a"]])
def test_a_category_must_be_a_string(value) -> None:
    record = _record("manmade_01_kernel_01", "tv", 0, 30.0, 0.9, "manmade")
    record["category"] = value
    with pytest.raises(ValueError, match="'category' must be a string or null"):
        tables.metrics_table([record])


def test_the_report_shows_the_category_table(tmp_path) -> None:
    from inrdeblur.report.html import render_report

    records = [
        _record("manmade_01_kernel_01", "tv", 0, 30.0, 0.90, "manmade"),
        _record("text_01_kernel_01", "tv", 0, 20.0, 0.70, "text"),
    ]
    metrics = tables.metrics_table(records)
    out = tmp_path / "r.html"
    render_report(out, tmp_path, metrics, tables.summary_table(metrics), [], PARAMS, {})
    text = out.read_text(encoding="utf-8")
    table = text[text.index('id="categories-lai-true_kernel_stored"') :]
    table = table[: table.index("</table>")]
    assert "31.00 / 0.9100" in table and "26.00 / 0.8100" in table  # manmade, all (aligned)
    assert "published: CrossScaleINR (blind uniform)<sup>[" in table
    # The summary table keeps the papers' overall rows; their per-category rows are here.
    summary = text[text.index('id="summary"') :]
    summary = summary[: summary.index("</table>")]
    assert "CrossScaleINR (blind uniform, Average)" in summary
    for category in ("Manmade", "Natural", "People", "Saturated", "Text"):
        assert f"uniform, {category})" not in summary  # also those we have no scene of
