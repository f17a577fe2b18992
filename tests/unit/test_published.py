"""Published figures: the package copy against the project's reference file, which blur
settings they belong beside, and how the report shows them."""

from __future__ import annotations

import csv
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support import REPO

from inrdeblur.metrics import tables
from inrdeblur.report import html
from inrdeblur.report.published import (
    COLUMNS,
    load_published,
    matching_rows,
    parse_published,
)

REFERENCE = REPO.parent / "shared" / "reference" / "published_results.csv"
STORED = {"model": "uniform", "kernel": "scene", "observation": "scene"}
VALID = {"model": "uniform", "kernel": "scene", "boundary": "valid", "noise_std": 0.01}
ICB_STORED = {"model": "icb", "observation": "scene"}
ICB_SYNTH = {"model": "icb", "noise_std": 0.01}


def test_the_package_copy_quotes_the_reference_file_exactly():
    if not REFERENCE.is_file():
        pytest.skip(f"the project's reference file is not present at {REFERENCE}")
    reference = list(csv.DictReader(REFERENCE.open()))
    ours = load_published()
    assert len(ours) == len(reference) == 39
    for ref, row in zip(reference, ours, strict=True):
        assert row.source == ref["source"]
        assert row.table == ref["source"].rpartition("_T")[2]
        assert (row.dataset, row.subset, row.task, row.method) == (
            ref["dataset"],
            ref["subset"],
            ref["task"],
            ref["method"],
        )
        for column in ("psnr", "ssim", "lpips_x1e4", "time_s", "size_mb", "error_ratio"):
            value = getattr(row, column)
            if ref[column] == "":
                assert math.isnan(value), (row.source, row.method, column)
            else:
                assert value == float(ref[column]), (row.source, row.method, column)
        assert row.citation
        # A note that only says "same as above" would be lost beside another table.
        if ref["protocol_note"] not in ("", "same caveats"):
            assert row.protocol_note == ref["protocol_note"]
        assert "same caveats" not in row.protocol_note


def test_levin_setting_2_gets_the_known_kernel_and_blind_rows_of_table_11():
    rows = matching_rows("levin", STORED, load_published())
    assert {(r.source, r.task) for r in rows} == {
        ("Zhang2024_crossscale_T11", "nonblind_uniform"),
        ("Zhang2024_crossscale_T11", "blind_uniform"),
    }
    known = [r for r in rows if r.task == "nonblind_uniform"]
    assert [(r.psnr, r.ssim, r.error_ratio) for r in known] == [(34.53, 0.949, 1.0)]
    assert len(rows) == 5 and all(r.aligned for r in rows)


@pytest.mark.parametrize(
    ("dataset", "blur"),
    [
        ("levin", VALID),  # setting 1: a synthesised observation, not the papers' images
        ("levin", {"model": "uniform", "kernel": "random_motion", "observation": "scene"}),
        ("levin", ICB_STORED),
        ("demo", STORED),
        ("realcmb", ICB_SYNTH),
        ("lai", {"model": "pwb", "observation": "scene"}),
    ],
)
def test_other_protocols_get_no_published_rows(dataset, blur):
    assert matching_rows(dataset, blur, load_published()) == []


def test_lai_and_the_cmb_sets_get_their_own_tables():
    published = load_published()
    lai = matching_rows("lai", STORED, published)
    assert {r.source for r in lai} == {"Zhang2024_crossscale_T1", "Zhang2024_crossscale_T5"}
    assert all(r.aligned for r in lai)
    real = matching_rows("realcmb", ICB_STORED, published)
    assert {r.table for r in real} == {"4.1", "4.2", "4.4"}
    assert not any(r.aligned for r in real)
    virtual = matching_rows("virtualcmb", ICB_STORED, published)
    assert {(r.table, r.method) for r in virtual} == {
        ("4.3", m) for m in ("InstantNGP", "DiF", "SIREN", "FourierFeatures")
    }


def _csv(*lines: str) -> str:
    return "\n".join([",".join(COLUMNS), *lines]) + "\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a,b\n1,2\n", "columns must be"),
        (_csv("S_T1,cite,1,Levin,all,task,m,thirty,,,,,,"), r"line 2: column 'psnr'"),
        (_csv("S_T1,cite,1,Levin,all,task,m,nan,,,,,,"), r"line 2: column 'psnr' is not finite"),
        (_csv("S_T1,cite,1,Levin,all,task,m,30"), "line 2: expected 14 fields"),
        (_csv(",cite,1,Levin,all,task,m,30,,,,,,"), "line 2: source, dataset and method"),
    ],
)
def test_a_bad_published_file_is_named_with_its_line(text, match):
    with pytest.raises(ValueError, match=match):
        parse_published(text, "mine.csv")


class _Rows(HTMLParser):
    """The #summary body rows: (class, [dataset, blur, cell texts...])."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[tuple[str, list[str]]] = []
        self.sources: list[str] = []
        self._in = self._cell = self._source = self._heading = False
        self._group: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._in = a.get("id") == "summary"
        if self._in and tag == "tr" and a.get("class") == "group":
            self._group = [a.get("data-dataset") or "", a.get("data-blur") or ""]
            self._heading = True
        elif self._in and tag == "tr" and a.get("class"):
            # each row led by the dataset and blur of its group heading
            self.rows.append((a["class"].split()[0], list(self._group)))
            self._heading = False
        if self._heading:
            return
        if self._in and tag in ("td", "th") and self.rows:
            self.rows[-1][1].append("")
            self._cell = True
        if tag == "ol" and "sources" in (a.get("class") or ""):
            self._source = True
        if self._source and tag == "li":
            self.sources.append("")

    def handle_endtag(self, tag):
        if tag == "tr":
            self._heading = False
        if tag in ("td", "th"):
            self._cell = False
        if tag == "table":
            self._in = False
        if tag == "ol":
            self._source = False

    def handle_data(self, data):
        if self._in and self._cell:
            self.rows[-1][1][-1] += data
        elif self._source and self.sources:
            self.sources[-1] += data


def _record(scene: str, method: str, psnr: float) -> dict:
    return {
        "dataset": "levin", "blur": "true_kernel_stored", "method": method, "scene": scene,
        "seed": 0, "psnr": psnr, "ssim": 0.9, "lpips": None,
        "lpips_status": "missing: no weights", "psnr_blurry": 22.0, "ssim_blurry": 0.6,
        "lpips_blurry": None, "time_s": 3.0, "size_mb": 0.0, "iterations": 10,
        "device": "cpu", "psnr_aligned": psnr + 1.0, "ssim_aligned": 0.92,
        "psnr_aligned_blurry": 23.0, "ssim_aligned_blurry": 0.65,
    }  # fmt: skip


def test_the_report_puts_published_rows_after_ours_with_their_sources(tmp_path: Path):
    records = [
        _record(s, "sparse_prior", p) for s, p in (("im1_kernel1", 33.0), ("im2_kernel2", 34.0))
    ]
    metrics = tables.metrics_table(records)
    summary = tables.summary_table(metrics)
    params = {"blurs": {"true_kernel_stored": STORED}}
    out = tmp_path / "r.html"
    html.render_report(out, tmp_path, metrics, summary, [], params, {})
    parser = _Rows()
    parser.feed(out.read_text(encoding="utf-8"))
    kinds = [kind for kind, _ in parser.rows]
    assert kinds == ["input", "method"] + ["published"] * 5
    ours = parser.rows[1][1]
    assert ours[2] == "sparse_prior" and ours[8] == "34.50 ±\u00a00.71"  # aligned PSNR column
    known = next(cells for kind, cells in parser.rows if "known_kernel" in cells[2])
    assert known[2] == "published: known_kernel_reference (nonblind uniform, all 32)[1]"
    # Aligned figures go in the aligned columns only.
    assert (known[4], known[6], known[8], known[9]) == ("—", "—", "34.53", "0.9490")
    assert known[3] == "—"  # scenes x seeds
    assert len(parser.sources) == 2  # Table 11's two protocol notes
    assert parser.sources[0].startswith("[1] Zhang, Quan and Ji")
    assert "Table 11: Levin groundk deconvolution; comp_upto_shift" in parser.sources[0]


def test_the_report_has_no_published_rows_for_the_demo(tmp_path: Path):
    records = [_record("a", "siren_tv", 30.0)]
    for record in records:
        record.update(dataset="demo", blur="motion")
    metrics = tables.metrics_table(records)
    out = tmp_path / "r.html"
    params = {"blurs": {"motion": {"model": "uniform", "kernel": "random_motion"}}}
    html.render_report(out, tmp_path, metrics, tables.summary_table(metrics), [], params, {})
    parser = _Rows()
    parser.feed(out.read_text(encoding="utf-8"))
    assert [kind for kind, _ in parser.rows] == ["input", "method"]
    assert parser.sources == []


def test_thesis_rows_fill_the_plain_columns_with_time_size_and_lpips(tmp_path: Path):
    records = [_record("scene_0001", "hashgrid_tv", 30.0)]
    for record in records:
        record.update(dataset="realcmb", blur="icb_stored", psnr_aligned=None)
        record.update(ssim_aligned=None, psnr_aligned_blurry=None, ssim_aligned_blurry=None)
    metrics = tables.metrics_table(records)
    out = tmp_path / "r.html"
    params = {"blurs": {"icb_stored": ICB_STORED}}
    html.render_report(out, tmp_path, metrics, tables.summary_table(metrics), [], params, {})
    parser = _Rows()
    parser.feed(out.read_text(encoding="utf-8"))
    published = [cells for kind, cells in parser.rows if kind == "published"]
    assert len(published) == 2 + 4 + 3  # thesis Tables 4.1, 4.2 and 4.4 on RealCMB
    dif = next(cells for cells in published if cells[2].startswith("published: DiF"))
    # no aligned columns: PSNR, gain, SSIM, LPIPS, time, size
    assert dif[4:10] == ["28.48", "—", "0.9073", "2.14e-05", "1274", "8.69"]
    assert any("data_range=2" in source for source in parser.sources)
