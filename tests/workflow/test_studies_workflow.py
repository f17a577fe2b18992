"""Three studies in one params file, run by the real Snakemake on tiny data, and their
report checked in headless Chromium.

The studies are those of a paper's tables: the demo (synthetic motion blur), Levin
settings 1 and 2 (two scenes of the shared copy) and Lai's stored blurred images (two
scenes of the shared subset, Y channel, downscaled). The params validate, dry-run and run;
the report has one section per study whose summary table holds only that study's
datasets, with the published rows that match Levin's and Lai's protocols. The page is
checked as a reader sees it at 1280 px; its screenshot is kept in
``$INRDEBLUR_TEST_ARTEFACTS`` (default ``.test-artefacts/`` in the repository).
"""

from __future__ import annotations

import os
import re

import pytest
from support import LAI_DIR, LEVIN_DIR
from tiny_project import REPO, TINY_BLIND_METHOD, TINY_METHOD, make_project, run, tiny_params

pytestmark = pytest.mark.workflow

STUDIES = {
    "demo": ["demo"],
    "levin": ["levin"],
    "levin_blind": ["levin"],
    "lai": ["lai"],
}
LEVIN_SCENES = ["im1_kernel1", "im2_kernel3"]
LAI_SCENES = ["manmade_01_kernel_01", "text_01_kernel_02"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, tool_env):
    if not (LEVIN_DIR / "SHA256SUMS").is_file() or not (LAI_DIR / "synthetic_dataset").is_dir():
        pytest.skip(f"the shared Levin and Lai copies are not present at {LEVIN_DIR.parent}")
    params = tiny_params(("siren_tv",))
    params["methods"]["siren_tv"] = TINY_METHOD
    params["methods"]["tikhonov"] = {"type": "tikhonov_cg", "weight": 0.03, "tuned_on": "test"}
    params["methods"]["selfdeblur"] = TINY_BLIND_METHOD
    params["studies"] = {
        "demo": {
            "title": "Demo",
            "datasets": ["demo"],
            "blurs": ["motion"],
            "methods": ["tikhonov", "siren_tv"],
            "seeds": [0, 1],
        },
        "levin": {
            "title": "Levin settings 1 and 2",
            "datasets": ["levin"],
            "blurs": ["true_kernel_valid", "true_kernel_stored"],
            "methods": ["tikhonov"],
            "seeds": [0],
        },
        "levin_blind": {
            "title": "Levin blind",
            "datasets": ["levin"],
            "blurs": ["true_kernel_stored"],
            "methods": ["tikhonov", "selfdeblur"],
            "seeds": [0],
            "error_ratio_reference": "tikhonov",
        },
        "lai": {
            "title": "Lai stored",
            "datasets": ["lai"],
            "blurs": ["true_kernel_stored"],
            "methods": ["tikhonov"],
            "seeds": [0],
        },
    }
    params["datasets"]["levin"] = {"root": str(LEVIN_DIR), "scenes": LEVIN_SCENES}
    params["datasets"]["lai"] = {
        "root": str(LAI_DIR),
        "scenes": LAI_SCENES,
        "channels": "y",
        "max_side": 128,
        "verify": False,  # the shared copy is a subset of the 100 scenes
    }
    params["metrics"]["lpips"] = False
    root = make_project(tmp_path_factory.mktemp("studies") / "p", params)
    return root


def test_params_validate_and_dry_run(project, tool_env):
    check = run(["inrdeblur", "check-params", "params.yaml"], project, tool_env)
    assert check.returncode == 0, check.stdout
    for name in STUDIES:
        assert re.search(rf"study {name}: 1 dataset\(s\), \d blur\(s\)", check.stdout)
    dry = run(["snakemake", "-n", "--cores", "2"], project, tool_env)
    assert dry.returncode == 0, dry.stdout[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout, flags=re.M))
    # demo 2 scenes x 2 methods; levin 2 scenes x 2 blurs; the blind method on levin's 2
    # stored images (its tikhonov fits are levin's); lai 2 scenes: one job per image
    assert int(counts["fit"]) == 2 * 2 + 2 * 2 + 2 + 2
    assert int(counts["prepare"]) == 3 and int(counts["evaluate"]) == 2 + 2 + 1 + 1


@pytest.fixture(scope="module")
def report(project, tool_env):
    proc = run(["snakemake", "--cores", "2"], project, tool_env)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return project / "reports" / "index.html"


def _section(html: str, name: str) -> str:
    """The HTML of the study's section, up to the next top-level section."""
    start = html.index(f'<section id="study-{name}"')
    ends = [
        html.find(marker, start + 1) for marker in ('<section id="study-', '<section id="grid"')
    ]
    return html[start : min(e for e in ends if e > 0)]


def test_report_has_one_section_per_study_with_its_own_rows(report):
    html = report.read_text(encoding="utf-8")
    order = [html.index(f'id="study-{name}"') for name in STUDIES]
    assert order == sorted(order)
    for name, datasets in STUDIES.items():
        section = _section(html, name)
        table = section[section.index(f'<table id="summary-{name}"') :]
        table = table[: table.index("</table>")]
        groups = re.findall(r'<tr class="group" data-dataset="(\w+)"', table)
        assert groups and set(groups) == set(datasets), (name, groups)
        assert f'id="figures-{name}"' in section and "<img" in section
    # The published known-kernel and blind rows of the papers sit in the Levin and Lai
    # tables, with their sources; the demo has none.
    assert "published:" not in _section(html, "demo")
    for name, citation in (("levin", "Levin"), ("lai", "Zhang")):
        section = _section(html, name)
        assert re.search(r'<tr class="published[^"]*">', section), name
        assert citation in section[section.index('class="notes sources"') :]
    # Lai has image categories: a per-category table of aligned figures, ours (one scene
    # each) beside the papers' per-category rows.
    lai = _section(html, "lai")
    table = lai[lai.index('id="categories-lai-lai-true_kernel_stored"') :]
    table = table[: table.index("</table>")]
    assert "Aligned PSNR (dB) / aligned SSIM" in table
    assert "manmade <span" in table and "text <span" in table
    assert re.search(r'<tr class="published"><th scope="row">published: CrossScaleINR', table)


def test_blind_fits_report_kernels_and_error_ratios(report, project):
    """The blind method's fits carry their kernel estimates at the dataset's bound (Levin
    kernel 1: 17 px, kernel 3: 13 px), are scored against the true kernels and, in the
    study that names a reference, by the error ratio; the grid shows both kernels."""
    import json

    import numpy as np
    from PIL import Image

    from inrdeblur.records.fit import FitEstimate

    for scene, bound in (("im1_kernel1", 17), ("im2_kernel3", 13)):
        fit = project / "results/fits/selfdeblur/true_kernel_stored/levin" / scene / "seed0"
        kernel = FitEstimate.load(fit / "estimate.npz").kernel
        assert kernel.shape == (bound, bound)
        png = np.asarray(Image.open(fit / "kernel.png"), dtype=np.float64)
        np.testing.assert_allclose(png / 255, kernel / kernel.max(), atol=0.5 / 255 + 1e-6)
        assert json.loads((fit / "meta.json").read_text())["kernel_size"] == bound
    records = json.loads(
        (project / "results/metrics/selfdeblur/true_kernel_stored/levin.json").read_text()
    )
    assert all(r["blind"] and 0 < r["kernel_similarity"] <= 1 for r in records)
    html = report.read_text(encoding="utf-8")
    section = _section(html, "levin_blind")
    assert "Error ratio ↓</th>" in section and "Kernel similarity ↑</th>" in section
    assert "Error ratio ↓</th>" not in _section(html, "levin")
    # the papers' error ratios beside ours (Zhang, Quan & Ji 2024, Table 11)
    assert re.search(r"published: CrossScaleINR.*?<td class=\"num\">1\.185</td>", section, re.S)
    assert re.search(r"estimated \| true kernel<br>similarity 0\.\d{3}", html)
    assert np.isfinite([r["ssd_aligned"] for r in records]).all()


def test_report_in_chromium(report, chromium_path):
    from playwright.sync_api import sync_playwright

    artefacts = os.environ.get("INRDEBLUR_TEST_ARTEFACTS", str(REPO / ".test-artefacts"))
    os.makedirs(artefacts, exist_ok=True)
    shot = os.path.join(artefacts, "studies_report.png")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium_path), args=["--headless", "--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(report.resolve().as_uri(), wait_until="load")
            overflow = page.evaluate("document.documentElement.scrollWidth")
            # Tables sit in scrolling boxes; none of them needs to scroll at 1280 px.
            scrolled = page.eval_on_selector_all(
                "table.data",
                "ts => ts.filter(t => t.scrollWidth > t.parentElement.clientWidth).map(t => t.id)",
            )
            styles = page.eval_on_selector_all(
                "table.data",
                """tables => tables.map(t => {
                    const cell = t.querySelector('tbody td'), head = t.querySelector('thead th');
                    const c = getComputedStyle(cell), h = getComputedStyle(head);
                    return [t.id, getComputedStyle(t).borderCollapse, c.fontSize, c.paddingLeft,
                            c.borderBottomStyle, h.borderBottomWidth, h.fontWeight];
                })""",
            )
            published = {
                name: page.locator(f"#summary-{name} tr.published th sup").count()
                for name in STUDIES
            }
            figures = {
                name: page.eval_on_selector_all(
                    f"#figures-{name} img", "els => els.map(e => e.naturalWidth)"
                )
                for name in STUDIES
            }
            page.screenshot(path=shot, full_page=True)
        finally:
            browser.close()
    assert overflow <= 1280, f"the page is {overflow} px wide at a 1280 px window"
    assert scrolled == [], f"tables wider than the page: {scrolled}"
    ids = [s[0] for s in styles]
    assert {f"summary-{n}" for n in STUDIES} <= set(ids) and "methods-table" in ids
    assert len({tuple(s[1:]) for s in styles}) == 1, styles  # every data table alike
    assert published["demo"] == 0 and published["levin"] > 0 and published["lai"] > 0
    assert all(widths and min(widths) > 300 for widths in figures.values()), figures
    assert os.path.getsize(shot) > 10_000
