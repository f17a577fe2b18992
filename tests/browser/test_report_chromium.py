"""The rendered report in real headless Chromium: images decode, nothing is fetched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

#: Flags for a quiet, offline headless Chromium (the Debian build, not playwright's).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_report_in_chromium(
    chromium_path: Path, rendered_report: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    report, n_summary_rows = rendered_report
    studies = list(n_summary_rows)
    console_errors: list[str] = []
    failed: list[str] = []
    foreign: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(f"{r.url[:80]} {r.failure}"))
            page.on(
                "request",
                lambda r: (
                    foreign.append(r.url[:80]) if not r.url.startswith(("data:", "file:")) else None
                ),
            )
            page.goto(report.resolve().as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])"
            )
            rows = {
                name: page.locator(f"table#summary-{name} > tbody > tr:not(.group)").count()
                for name in studies
            }
            per_study = ", ".join(f"#study-{n}, #summary-{n}, #figures-{n}" for n in studies)
            sections = page.eval_on_selector_all(
                f"{per_study}, #grid, #params, #provenance", "els => els.length"
            )
            figures = {
                name: page.locator(f"#figures-{name} figure img").count() for name in studies
            }
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert images, "no <img> in the report"
    undecoded = [i for i, (done, w, h) in enumerate(images) if not (done and w > 0 and h > 0)]
    assert not undecoded, f"images {undecoded} did not decode"
    assert rows == n_summary_rows and studies == ["all", "first"]
    assert rows["all"] == 3 and rows["first"] == 2  # blurry input + each method
    assert sections == 3 * len(studies) + 3
    assert all(n > 0 for n in figures.values()), figures
    assert console_errors == []
    assert failed == []
    assert foreign == []
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.shape[0] > 900 and pixels.shape[1] == 1280  # full page is taller
    assert pixels.std() > 10.0, "screenshot is blank"
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 200
