"""Blind fits in the report: kernel images in the visual grid, and the error-ratio and
kernel-similarity columns of a study's summary, from a hand-made results tree."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inrdeblur import layout
from inrdeblur.fileio import write_npz
from inrdeblur.metrics import tables
from inrdeblur.metrics.kernels import kernel_similarity
from inrdeblur.records.scene import Scene
from inrdeblur.report import html

SIZE = 16
SCENES = ("0001", "0002")
TRUE_KERNEL = np.array([[0.0, 0.2, 0.0], [0.1, 0.4, 0.1], [0.0, 0.2, 0.0]], np.float32)
#: the blind method's kernel estimate of each scene: a 5x5 kernel, the peak off-centre
ESTIMATES = {
    "0001": np.pad(np.array([[0.25, 0.5], [0.0, 0.25]], np.float32), ((1, 2), (2, 1))),
    "0002": np.pad(TRUE_KERNEL, 1),  # the true kernel exactly: similarity 1
}
#: aligned SSD of each method's fits (the error ratio of "blind" is sqrt(9 / 4) = 1.5)
SSD = {"nonblind": 4.0, "blind": 9.0}


def _record(method: str, scene: str, kernel_sim: float | None) -> dict:
    return {
        "dataset": "toy", "blur": "box", "method": method, "scene": scene, "seed": 0,
        "psnr": 25.0, "ssim": 0.8, "lpips": 0.2, "lpips_status": "ok", "psnr_blurry": 20.0,
        "ssim_blurry": 0.5, "lpips_blurry": 0.4, "time_s": 1.0, "size_mb": 0.1,
        "iterations": 5, "device": "cpu", "psnr_aligned": 26.0, "ssim_aligned": 0.85,
        "psnr_aligned_blurry": 21.0, "ssim_aligned_blurry": 0.55, "ssd_aligned": SSD[method],
        "blind": kernel_sim is not None, "kernel_similarity": kernel_sim,
    }  # fmt: skip


def make_results(root: Path) -> list[dict]:
    """Scenes, blurred records with the true kernel and two fits per scene (seed 0):
    'nonblind' (an estimate only) and 'blind' (an estimate and a kernel estimate)."""
    records = []
    rng = np.random.default_rng(0)
    for scene in SCENES:
        sharp = rng.random((SIZE, SIZE, 1)).astype(np.float32)
        Scene("toy", scene, sharp).save(layout.scene_path("toy", scene, root))
        write_npz(
            layout.blurred_path("box", "toy", scene, root), blurry=sharp * 0.5, kernel=TRUE_KERNEL
        )
        for method in ("nonblind", "blind"):
            fit = layout.fit_dir(method, "box", "toy", scene, 0, root)
            arrays = {"estimate": np.clip(sharp + 0.05, 0, 1)}
            similarity = None
            if method == "blind":
                arrays["kernel"] = ESTIMATES[scene] / ESTIMATES[scene].sum()
                similarity = kernel_similarity(arrays["kernel"], TRUE_KERNEL)
            write_npz(fit / "estimate.npz", **arrays)
            records.append(_record(method, scene, similarity))
    return records


class _Images(HTMLParser):
    """Every img's alt and src, and the text of figure captions."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: dict[str, str] = {}
        self.captions: list[str] = []
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images[a.get("alt") or ""] = a.get("src") or ""
        if tag == "figcaption":
            self._caption = []
        if tag == "br" and self._caption is not None:
            self._caption.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption" and self._caption is not None:
            self.captions.append(" ".join("".join(self._caption).split()))
            self._caption = None

    def handle_data(self, data: str) -> None:
        if self._caption is not None:
            self._caption.append(data)


def _gray(uri: str) -> np.ndarray:
    header, data = uri.split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"))


def _expected(kernel: np.ndarray, scale: int) -> np.ndarray:
    """Independent of the report's code: 8-bit kernel / max, each tap a scale x scale block."""
    k = np.asarray(kernel, np.float64)
    out = np.zeros((k.shape[0] * scale, k.shape[1] * scale))
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            out[i * scale : (i + 1) * scale, j * scale : (j + 1) * scale] = k[i, j] / k.max()
    return np.round(out * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("project")
    metrics = tables.metrics_table(make_results(root))
    study = {
        "datasets": ["toy"],
        "blurs": ["box"],
        "methods": ["nonblind", "blind"],
        "seeds": [0],
        "error_ratio_reference": "nonblind",
    }
    rows = tables.study_rows(metrics, study)
    section = html.StudySection(
        "toy_study",
        "Toy",
        tables.summary_table(rows),
        root / "figures",
        metrics=rows,
        error_ratio_reference="nonblind",
    )
    grid = html.build_grid(metrics, root=root)
    out = root / "report.html"
    html.render_report(
        out, root, metrics, tables.summary_table(metrics), grid, {}, {}, studies=[section]
    )
    text = out.read_text(encoding="utf-8")
    parser = _Images()
    parser.feed(text)
    return {"metrics": metrics, "grid": grid, "html": text, "parsed": parser}


def test_grid_rows_hold_the_blind_kernels_only(report: dict) -> None:
    for row in report["grid"]:
        assert set(row.estimates) == {"nonblind", "blind"}
        assert set(row.kernels) == {"blind"}
        np.testing.assert_array_equal(row.true_kernel, TRUE_KERNEL)
        expected = ESTIMATES[row.scene] / ESTIMATES[row.scene].sum()
        np.testing.assert_allclose(row.kernels["blind"], expected, rtol=1e-6)


def test_kernel_images_appear_for_the_blind_fit_only(report: dict) -> None:
    images = report["parsed"].images
    # the largest kernel of a row is 5 px: enlarged 64 // 5 = 12 times, true kernel too
    for scene in SCENES:
        estimate = _gray(images[f"{scene} blind kernel estimate"])
        kernel = ESTIMATES[scene] / ESTIMATES[scene].sum()
        np.testing.assert_array_equal(estimate, _expected(kernel, 12))
        np.testing.assert_array_equal(
            _gray(images[f"{scene} true kernel"]), _expected(TRUE_KERNEL, 12)
        )
        assert f"{scene} nonblind kernel estimate" not in images
        assert f"{scene} blind" in images and f"{scene} nonblind" in images
    assert sum(alt.endswith("kernel estimate") for alt in images) == len(SCENES)
    assert sum(alt.endswith("true kernel") for alt in images) == len(SCENES)
    assert all(src.startswith("data:image/png;base64,") for src in images.values())


def test_kernel_similarity_in_the_caption(report: dict) -> None:
    captions = [c for c in report["parsed"].captions if "similarity" in c]
    expected = [kernel_similarity(ESTIMATES[s] / ESTIMATES[s].sum(), TRUE_KERNEL) for s in SCENES]
    assert expected[1] == pytest.approx(1.0, abs=1e-6) and expected[0] < 0.9
    assert captions == [f"estimated | true kernel similarity {v:.3f}" for v in expected]


def test_summary_shows_error_ratio_and_kernel_similarity(report: dict) -> None:
    text = report["html"]
    start = text.index('id="summary-toy_study"')
    table = text[start : text.index("</table>", start)]
    assert "Error ratio ↓" in table and "Kernel similarity ↑" in table
    blind = table[table.index('<th scope="row">blind</th>') :].split("</tr>")[0]
    nonblind = table[table.index('<th scope="row">nonblind</th>') :].split("</tr>")[0]
    assert '<td class="num">1.500 ±\u00a00.000</td>' in blind  # sqrt(9 / 4) on both scenes
    assert "1.000 ±\u00a00.000" in nonblind  # the reference, by construction
    similarity = np.mean(
        [kernel_similarity(ESTIMATES[s] / ESTIMATES[s].sum(), TRUE_KERNEL) for s in SCENES]
    )
    assert f"{similarity:.3f} ±\u00a0" in blind
    assert "nonblind's fit of the same image" in table  # the caption names the reference
