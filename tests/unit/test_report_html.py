"""The HTML report and its figures, rendered from a tiny synthetic study (16x16)."""

from __future__ import annotations

import base64
import io
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from inrdeblur import layout
from inrdeblur.fileio import InputFileError, write_npz
from inrdeblur.metrics import tables
from inrdeblur.records.scene import Scene
from inrdeblur.report import figures, html

SIZE = 16
METHODS = ("hashgrid", "siren")
SCENES = ("0001", "0002", "0003")
SEEDS = (0, 1)
PARAMS = {
    "studies": {
        "tiny": {
            "enabled": True,
            "title": "tiny <script>alert('x')</script> & \"quoted\"",
            "datasets": ["toy"],
            "blurs": ["box"],
            "methods": list(METHODS),
            "seeds": list(SEEDS),
        }
    },
    "methods": {"siren": {"lr": 0.0001, "steps": 10}, "hashgrid": {"levels": 4}},
}
PROVENANCE = {
    "date": "2024-05-01T12:00:00+00:00",
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "git_dirty": True,
    "versions": {"numpy": "2.0.0", "pandas": "3.0.0"},
    "host": "node<1>",
}


def _psnr(estimate: np.ndarray, sharp: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(estimate, 0, 1) - sharp) ** 2)))


def make_study(root: Path) -> list[dict]:
    """Write scenes, blurred inputs and estimates through the layout; return the records.

    ``siren`` misses LPIPS; its seed-0 estimates overshoot [0, 1] (the grid must clip).
    Scene 0003 has only seed 1 (the grid must fall back to it).
    """
    rng = np.random.default_rng(0)
    records = []
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
    for s, scene in enumerate(SCENES):
        sharp = np.stack([xx, yy, (xx + yy + s * 0.2) % 1.0], axis=-1).astype(np.float32)
        Scene("toy", scene, sharp).save(layout.scene_path("toy", scene, root))
        blurry = (0.5 * sharp + 0.5 * sharp.mean(axis=(0, 1))).astype(np.float32)
        write_npz(layout.blurred_path("box", "toy", scene, root), blurry=blurry)
        for method in METHODS:
            for seed in SEEDS if scene != "0003" else (1,):
                estimate = sharp + 0.3 * (blurry - sharp) + rng.normal(0, 0.01, sharp.shape)
                if method == "siren" and seed == 0:
                    estimate = estimate + 0.5  # out of range: must be clipped
                fit = layout.fit_dir(method, "box", "toy", scene, seed, root)
                write_npz(fit / "estimate.npz", estimate=estimate.astype(np.float32))
                records.append(
                    {
                        "dataset": "toy",
                        "blur": "box",
                        "method": method,
                        "scene": scene,
                        "seed": seed,
                        "psnr": _psnr(estimate, sharp),
                        "ssim": 0.9,
                        "lpips": None if method == "siren" else 0.1,
                        "lpips_status": "missing: weights <alex> offline"
                        if method == "siren"
                        else "ok",
                        "psnr_blurry": _psnr(blurry, sharp),
                        "ssim_blurry": 0.5,
                        "lpips_blurry": 0.4,
                        "time_s": 2.0 + seed,
                        "size_mb": 0.5,
                        "iterations": 10,
                        "device": "cpu",
                    }
                )
    return records


class _Collector(HTMLParser):
    """Collects img sources, every src/href, the body rows of the summary table
    ``summary_id`` (each led by the dataset and blur of its group heading), the img of
    every figure by its id, and #params text."""

    def __init__(self, summary_id: str = "summary") -> None:
        super().__init__(convert_charrefs=True)
        self.imgs: list[str] = []
        self.links: list[str] = []
        self.summary_rows: list[list[str]] = []
        self.figures: dict[str, str] = {}
        self.params_text = ""
        self.ids: list[str] = []
        self._summary_id = summary_id
        self._figure: str | None = None
        self._in_summary = self._in_tbody = self._in_params = self._in_group = False
        self._cell: list[str] | None = None
        self._group: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"] or "")
        for key in ("src", "href"):
            if a.get(key):
                self.links.append(a[key] or "")
        if tag == "img":
            self.imgs.append(a.get("src") or "")
            if self._figure is not None:
                self.figures[self._figure] = a.get("src") or ""
        if tag == "figure":
            self._figure = a.get("id") or ""
        if tag == "table" and a.get("id") == self._summary_id:
            self._in_summary = True
        if self._in_summary and tag == "tbody":
            self._in_tbody = True
        if self._in_tbody and tag == "tr" and a.get("class") == "group":
            # A group heading names the dataset and blur of the rows below it: they
            # start with those two cells here, as the summary table's columns do.
            self._group = [a.get("data-dataset") or "", a.get("data-blur") or ""]
            self._in_group = True
        elif self._in_tbody and tag == "tr":
            self.summary_rows.append(list(self._group))
            self._in_group = False
        if self._in_tbody and tag in ("td", "th") and not self._in_group:
            self._cell = []
        if tag == "section" and a.get("id") == "params":
            self._in_params = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._in_group = False
        if self._in_tbody and tag in ("td", "th") and self._cell is not None:
            self.summary_rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "tbody":
            self._in_tbody = False
        if tag == "figure":
            self._figure = None
        if tag == "table":
            self._in_summary = False
        if tag == "section":
            self._in_params = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_params:
            self.params_text += data


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("project")
    metrics = tables.metrics_table(make_study(root))
    summary = tables.summary_table(metrics)
    figs = figures.write_figures(metrics, root / layout.REPORT_FIGURES)
    grid = html.build_grid(metrics, root=root)
    out = root / layout.REPORT_HTML
    html.render_report(
        out, root / layout.REPORT_FIGURES, metrics, summary, grid, PARAMS, PROVENANCE
    )
    text = out.read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(text)
    return {
        "root": root,
        "metrics": metrics,
        "summary": summary,
        "figures": figs,
        "grid": grid,
        "html": text,
        "parsed": parser,
    }


def test_summary_table_rows_match_summary(rendered: dict) -> None:
    summary: pd.DataFrame = rendered["summary"]
    rows = rendered["parsed"].summary_rows
    assert len(rows) == len(summary) == 3
    assert [r[:3] for r in rows] == summary[["dataset", "blur", "method"]].values.tolist()
    siren = summary.set_index("method").loc["siren"]
    cells = dict(
        zip(
            [
                "dataset",
                "blur",
                "method",
                "scenes_x_seeds",
                "psnr",
                "gain",
                "ssim",
                "lpips",
                "time",
                "size",
            ],
            rows[2],
            strict=True,
        )
    )
    assert cells["psnr"] == f"{siren.psnr_mean:.2f} ±\u00a0{siren.psnr_std:.2f}"
    assert cells["ssim"] == "0.9000 ±\u00a00.0000"
    # times 2, 3, 2, 3, 3 s: mean 13/5, sample variance (3 * 0.16 + 2 * 0.36) / 4 = 0.3
    assert cells["time"] == f"{13 / 5:.2f} ±\u00a0{math.sqrt(0.3):.2f}"
    # 3 scenes x 2 seeds, one fit missing: the count says so
    assert (siren.n_scenes, siren.n_seeds, siren.n_fits) == (3, 2, 5)
    assert cells["scenes_x_seeds"] == "3 × 2 (5 fits)"
    assert cells["lpips"] == "missing1"  # "missing" + footnote number
    assert rows[0][2] == "blurry input" and rows[0][7] == "0.4000 ±\u00a00.0000"


def test_lpips_reason_shown_once_and_escaped(rendered: dict) -> None:
    text = rendered["html"]
    assert text.count("weights &lt;alex&gt; offline") == 1
    assert "<alex>" not in text
    assert "fetch_lpips" not in text  # the reason is not the backbone file


def test_how_to_get_the_lpips_backbone_is_said_once(rendered: dict, tmp_path: Path) -> None:
    metrics = rendered["metrics"].assign(
        lpips=None, lpips_status="missing: backbone file not found (/x/alexnet.pth)"
    )
    out = tmp_path / "r.html"
    summary = tables.summary_table(metrics)
    html.render_report(out, tmp_path, metrics, summary, [], PARAMS, PROVENANCE)
    text = out.read_text(encoding="utf-8")
    assert text.count("backbone file not found (/x/alexnet.pth)") == 1
    assert text.count("fetch_lpips") == 1 and "$TORCH_HOME/hub/checkpoints/" in text


def test_every_image_is_an_inline_png(rendered: dict) -> None:
    imgs = rendered["parsed"].imgs
    grid_rows = rendered["grid"]
    n_grid = sum(2 + 2 * len(row.estimates) for row in grid_rows)
    assert len(imgs) == len(rendered["figures"]) + 1 + n_grid  # + error colour scale
    prefix = "data:image/png;base64,"
    for src in imgs:
        assert src.startswith(prefix)
        png = base64.b64decode(src[len(prefix) :], validate=True)
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            image.verify()


def test_self_contained(rendered: dict) -> None:
    text = rendered["html"].lower()
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text and "@import" not in text
    for link in rendered["parsed"].links:
        assert link.startswith(("data:image/png;base64,", "#")), link[:40]
    ids = rendered["parsed"].ids
    for section in ("summary", "figures", "grid", "params", "provenance", "protocol"):
        assert ids.count(section) == 1


def test_params_and_provenance_escaped(rendered: dict) -> None:
    text = rendered["html"]
    params_text = rendered["parsed"].params_text
    assert "tiny <script>alert('x')</script> & \"quoted\"" in params_text
    assert "&lt;script&gt;alert(" in text
    assert "lr: 0.0001" in params_text and "levels: 4" in params_text
    assert "node&lt;1&gt;" in text
    assert PROVENANCE["git_commit"] in text and "uncommitted changes" in text
    assert "pandas&nbsp;3.0.0" in text
    for phrase in ("data_range = 1", "clipped to [0, 1]", "11×11", "σ = 1.5", "AlexNet", "[−1, 1]"):
        assert phrase in text


def test_grid_uses_smallest_seed_and_clips(rendered: dict) -> None:
    grid = rendered["grid"]
    assert [(r.scene, r.seed) for r in grid] == [("0001", 0), ("0002", 0), ("0003", 1)]
    for row in grid:
        assert row.methods == list(METHODS) and set(row.estimates) == set(METHODS)
        assert row.sharp.shape == row.blurry.shape == (SIZE, SIZE, 3)
        for estimate in row.estimates.values():
            assert estimate.shape == (SIZE, SIZE, 3)
            assert 0.0 <= estimate.min() and estimate.max() <= 1.0
    assert grid[0].estimates["siren"].max() == 1.0  # overshooting seed-0 estimate clipped
    sharp = np.load(layout.scene_path("toy", "0002", rendered["root"]))["sharp"]
    np.testing.assert_array_equal(grid[1].sharp, sharp)


def test_grid_psnr_labels_come_from_metrics(rendered: dict) -> None:
    metrics = rendered["metrics"]
    row = metrics[(metrics.method == "hashgrid") & (metrics.scene == "0002") & (metrics.seed == 0)]
    assert f"{row.psnr.iloc[0]:.2f} dB" in rendered["html"]
    assert f"{row.psnr_blurry.iloc[0]:.2f} dB" in rendered["html"]


def test_build_grid_limits_scenes_and_names_missing_files(rendered: dict, tmp_path: Path) -> None:
    grid = html.build_grid(rendered["metrics"], root=rendered["root"], max_scenes_per_dataset=2)
    assert [r.scene for r in grid] == ["0001", "0002"]
    with pytest.raises(InputFileError, match="scenes/toy/0001.npz"):
        html.build_grid(rendered["metrics"], root=tmp_path)


def test_figures_written_deterministic_and_valid(rendered: dict) -> None:
    written = rendered["figures"]
    # Two seeds per scene: the seed-spread figure follows the ones always drawn.
    assert list(written) == [*figures.FIGURES, "seed_spread"]
    figdir = rendered["root"] / layout.REPORT_FIGURES
    for name, png in written.items():
        assert (figdir / f"{name}.png").read_bytes() == png
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 200
    again = figures.render_figures(rendered["metrics"])
    again["seed_spread"] = figures.figure_png(figures.seed_spread(rendered["metrics"]))
    assert again == written


def test_figures_refuse_empty_table() -> None:
    with pytest.raises(ValueError, match="empty"):
        figures.psnr_vs_time(tables.metrics_table([]))


def test_missing_summary_column_is_named(rendered: dict, tmp_path: Path) -> None:
    summary = rendered["summary"].drop(columns=["psnr_std"])
    with pytest.raises(ValueError, match="psnr_std"):
        html.render_report(tmp_path / "r.html", tmp_path, rendered["metrics"], summary, [], {}, {})
    assert not (tmp_path / "r.html").exists()


def test_collect_provenance_keys(tmp_path: Path) -> None:
    prov = html.collect_provenance(tmp_path)  # not a git checkout
    assert prov["git_commit"] == "unknown" and prov["git_dirty"] is None
    assert prov["versions"]["pandas"] == pd.__version__


def test_method_without_the_grid_seed_gets_an_empty_cell(rendered: dict, tmp_path: Path) -> None:
    metrics = rendered["metrics"]
    # drop hashgrid's seed-0 fit of scene 0001: the grid keeps seed 0 (siren has it)
    keep = ~((metrics.method == "hashgrid") & (metrics.scene == "0001") & (metrics.seed == 0))
    partial = metrics[keep].reset_index(drop=True)
    grid = html.build_grid(partial, root=rendered["root"], max_scenes_per_dataset=1)
    assert len(grid) == 1 and grid[0].seed == 0 and list(grid[0].estimates) == ["siren"]
    out = tmp_path / "report.html"
    summary = tables.summary_table(partial)
    html.render_report(out, tmp_path, partial, summary, grid, {}, {})
    text = out.read_text(encoding="utf-8")
    assert text.count("no fit for seed 0") == 1
    assert "No figures were found." in text and "git state unknown" in text
    parser = _Collector()
    parser.feed(text)
    assert len(parser.imgs) == 1 + 2 + 2  # colour scale, sharp + blurry, siren + error map


def test_blur_formation_table(rendered: dict, tmp_path: Path) -> None:
    from inrdeblur.studies.blur_formation import forward_model_tables

    def record(blur: str, scene: str, psnr: float, ssim: float) -> dict:
        return {
            "dataset": "demo", "blur": blur, "model": blur, "scene": scene, "height": 16,
            "width": 16, "psnr": psnr, "ssim": ssim, "build_time_s": 0.5, "apply_time_s": 0.25,
            "operator_mb": 2.0, "support": 7, "n_layers": None, "n_poses": 8,
        }  # fmt: skip

    _, forward = forward_model_tables(
        [
            record("icb", "a", 30.0, 0.9),
            record("icb", "b", 32.0, 0.8),
            record("pwb", "a", 33.0, 0.7),
        ]
    )
    out = tmp_path / "r.html"
    html.render_report(
        out, tmp_path, rendered["metrics"], rendered["summary"], [], {}, {}, forward_models=forward
    )
    text = out.read_text(encoding="utf-8")
    # The table has its own subsection of the (single) study section.
    parser = _Collector()
    parser.feed(text)
    assert parser.ids.count("forward-models") == parser.ids.count("forward-models-table") == 1
    assert parser.ids.index("study") < parser.ids.index("forward-models")
    assert parser.ids.index("forward-models") < parser.ids.index("figures")
    assert '<h3 id="forward-models-title">Blur formation</h3>' in text
    start = text.index('id="forward-models-table"')
    section = text[start : text.index("</table>", start)]
    icb = section[section.index('<th scope="row">icb</th>') :].split("</tr>")[0]
    assert f"31.00 ± {np.std([30.0, 32.0], ddof=1):.2f}" in icb
    assert '<td class="num best">0.8500 ± 0.0707</td>' in icb  # best SSIM (pwb: 0.7)
    pwb = section[section.index('<th scope="row">pwb</th>') :].split("</tr>")[0]
    assert '<td class="num best">33.00</td>' in pwb  # one scene: no std; best PSNR in bold
    # Without forward models the section is absent.
    assert 'id="forward-models"' not in rendered["html"]


def test_each_study_gets_its_own_section(rendered: dict, tmp_path: Path) -> None:
    from inrdeblur.studies.blur_formation import forward_model_tables

    metrics = rendered["metrics"]
    hashgrid = tables.summary_table(metrics[metrics.method == "hashgrid"].reset_index(drop=True))
    siren = tables.summary_table(metrics[metrics.method == "siren"].reset_index(drop=True))
    pngs = list(rendered["figures"].values())
    dir_a, dir_b = tmp_path / "figures" / "a", tmp_path / "figures" / "b"
    dir_a.mkdir(parents=True)
    dir_b.mkdir(parents=True)
    for name, png in rendered["figures"].items():
        (dir_a / f"{name}.png").write_bytes(png)
    first = next(iter(rendered["figures"]))
    (dir_b / f"{first}.png").write_bytes(pngs[-1])  # b's figure differs from a's
    (dir_b / "extra.png").write_bytes(pngs[0])
    _, forward = forward_model_tables(
        [
            {
                "dataset": "toy", "blur": "icb", "model": "icb", "scene": "0001", "height": 16,
                "width": 16, "psnr": 30.0, "ssim": 0.9, "build_time_s": 0.5,
                "apply_time_s": 0.25, "operator_mb": 2.0, "support": 7, "n_layers": None,
                "n_poses": 8,
            }
        ]
    )  # fmt: skip
    sections = [
        html.StudySection("a", "Hash grids", hashgrid, dir_a, forward_models=forward),
        html.StudySection("b", "b", siren, dir_b),
    ]
    out = tmp_path / "r.html"
    html.render_report(
        out,
        tmp_path / "unused",
        metrics,
        rendered["summary"],  # not shown: each section has its own
        [],
        PARAMS,
        {},
        forward_models=forward,
        studies=sections,
    )
    text = out.read_text(encoding="utf-8")
    uri = "data:image/png;base64,"

    parsed = {}
    for name, summary in (("a", hashgrid), ("b", siren)):
        parser = _Collector(f"summary-{name}")
        parser.feed(text)
        parsed[name] = parser
        rows = parser.summary_rows
        assert len(rows) == len(summary) == 2  # blurry input + the section's method
        assert [r[:3] for r in rows] == summary[["dataset", "blur", "method"]].values.tolist()
        ours = summary.iloc[1]
        assert rows[1][4] == f"{ours.psnr_mean:.2f} ±\u00a0{ours.psnr_std:.2f}"
    assert parsed["a"].summary_rows[1][2] == "hashgrid"
    assert parsed["b"].summary_rows[1][2] == "siren"

    ids = parsed["a"].ids
    for name in ("a", "b"):
        for prefix in ("study", "summary", "figures"):
            assert ids.count(f"{prefix}-{name}") == 1, f"{prefix}-{name}"
    # a's figures and blur-formation table lie in a's section, before b's
    assert ids.index("study-a") < ids.index("forward-models-table-a") < ids.index("study-b")
    assert ids.index("figures-a") < ids.index("study-b") < ids.index("figures-b")
    assert "forward-models-b" not in ids and "forward-models-table-b" not in ids
    for single in ("study", "summary", "figures", "forward-models", "forward-models-table"):
        assert single not in ids  # the one-section ids are not used
    assert text.count('class="data summary"') == 2
    assert 'href="#study-a">Hash grids</a>' in text and 'href="#study-b">b</a>' in text
    assert "(study <code>a</code>)" in text and "(study <code>b</code>)" not in text

    figures_by_id = parsed["a"].figures
    expected = {f"figure-a-{name}": png for name, png in rendered["figures"].items()}
    expected[f"figure-b-{first}"] = pngs[-1]
    expected["figure-b-extra"] = pngs[0]
    assert sorted(figures_by_id) == sorted(expected)
    for figure_id, png in expected.items():
        assert figures_by_id[figure_id] == uri + base64.b64encode(png).decode("ascii")
    assert "Figure 1 (a)." in text and "Figure 2 (b)." in text


def make_photos(root: Path) -> list[dict]:
    """Two photos without sharp images, each with one blind fit (an estimate and a 5x5
    kernel estimate, seeds 0 and 1), written through the layout; their records, as the
    evaluate stage writes them (null PSNR, ``reference: none: ...``)."""
    rng = np.random.default_rng(1)
    kernel = np.zeros((5, 5), dtype=np.float32)
    kernel[2, 1:4] = 1.0 / 3.0
    records = []
    for scene in ("IMG_1", "IMG_2"):
        blurry = rng.uniform(0.2, 0.8, (12, 20, 3)).astype(np.float32)
        Scene("photos", scene, None, blurry=blurry).save(layout.scene_path("photos", scene, root))
        write_npz(layout.blurred_path("as_taken", "photos", scene, root), blurry=blurry)
        for seed in (0, 1):
            fit = layout.fit_dir("selfdeblur", "as_taken", "photos", scene, seed, root)
            write_npz(fit / "estimate.npz", estimate=np.clip(blurry * 1.1, 0, 1), kernel=kernel)
            records.append(
                {
                    "dataset": "photos", "blur": "as_taken", "method": "selfdeblur",
                    "scene": scene, "seed": seed, "psnr": None, "ssim": None, "lpips": None,
                    "lpips_status": "missing: no sharp reference (no sharp images)",
                    "psnr_blurry": None, "ssim_blurry": None, "lpips_blurry": None,
                    "time_s": 5.0, "size_mb": 1.0, "iterations": 20, "device": "cpu",
                    "blind": True, "reference": "none: the photos dataset has no sharp images",
                }
            )  # fmt: skip
    return records


def test_photos_without_sharp_images_show_input_estimate_and_kernel(
    rendered: dict, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    toy = make_study(root)
    photos = tables.metrics_table(make_photos(root))
    mixed = tables.metrics_table([*toy, *make_photos(root)])
    # The figures leave the photos' rows out: the same PNG bytes as the toy study alone.
    assert figures.write_figures(mixed, tmp_path / "mixed") == rendered["figures"]
    assert figures.write_figures(photos, tmp_path / "photos") == {}
    assert not list((tmp_path / "photos").glob("*.png"))

    grid = html.build_grid(photos, root=root)
    assert [(r.scene, r.seed) for r in grid] == [("IMG_1", 0), ("IMG_2", 0)]
    for row in grid:
        assert row.sharp is None and row.blurry.shape == (12, 20, 3)
        assert list(row.kernels) == ["selfdeblur"] and row.true_kernel is None
    out = tmp_path / "report.html"
    html.render_report(out, tmp_path / "photos", photos, tables.summary_table(photos), grid, {}, {})
    text = out.read_text(encoding="utf-8")
    grid_html = text[text.index('<section id="grid"') :]
    grid_html = grid_html[: grid_html.index("</section>")]
    assert '<th scope="col">Sharp</th>' not in grid_html and "error map" not in grid_html
    assert "dB</figcaption>" not in grid_html and "input (no sharp image)" in grid_html
    for scene in ("IMG_1", "IMG_2"):
        assert f'alt="{scene} blurry"' in grid_html and f'alt="{scene} selfdeblur"' in grid_html
        assert f'alt="{scene} selfdeblur kernel estimate"' in grid_html
    assert "estimated kernel (no true kernel)" in grid_html
    parser = _Collector()
    parser.feed(text)
    # colour scale, and per photo its input, the estimate and the kernel estimate
    assert len(parser.imgs) == 1 + 2 * 3
    assert "No figures: they plot the PSNR against the sharp images" in text
    rows = {r[2]: r for r in parser.summary_rows}
    assert rows["blurry input"][4] == rows["selfdeblur"][4] == "—"  # the PSNR column


def test_the_protocol_says_an_observed_blur_has_no_operator_and_no_score() -> None:
    params = {
        "studies": {
            "mine": {"enabled": True, "datasets": ["photos"], "blurs": ["as_taken"]},
        },
        "blurs": {"as_taken": {"model": "observed"}},
    }
    (row,) = html.observation_rows(params, root="/nonexistent")
    assert row["observation"] == "the scene's stored blurry image"
    assert (row["noise"], row["boundary"]) == ("as recorded", "none (no operator)")
    assert row["scored"] == "not scored: no sharp image"
