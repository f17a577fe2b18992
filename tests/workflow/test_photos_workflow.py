"""A blind method on a folder of the user's own photos, run by the real Snakemake.

The photos are made here: scikit-image's camera (gray), astronaut and coffee (RGB),
downscaled to 64 px wide, blurred by a 7x7 motion kernel with scipy and saved as JPEGs in
a folder of the project; ``kernel_sizes.csv`` gives each its own bound on the kernel side.
The study takes them as they are (a blur of model ``observed``, ``scenes: all``) and runs
a tiny SelfDeblur without a ``kernel_size`` of its own, and hands its kernels to
Tikhonov (a ``two_stage`` entry). The workflow must list the photos
itself, fetch nothing, fit each one with a kernel of the photo's bound, record that there
is no reference, and show the photos with their kernel estimates, without error maps, in
the report. A non-blind method on the photos is refused before anything runs.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml
from PIL import Image
from scipy import ndimage
from skimage import data
from skimage.transform import resize
from tiny_project import TINY_BLIND_METHOD, make_project, run, tiny_params

pytestmark = pytest.mark.workflow

FOLDER = "my_photos"
#: scene id -> (file name, (H, W) of the photo, the kernel side bound of its CSV row)
PHOTOS = {
    "astronaut": ("astronaut.jpg", (64, 64), 9),
    "camera": ("camera.jpg", (64, 64), 7),
    "coffee": ("coffee.jpeg", (48, 64), 5),
}


def motion_kernel() -> np.ndarray:
    """(7, 7) kernel along a bent stroke, like camera shake; sums to 1."""
    kernel = np.zeros((7, 7))
    for t in np.linspace(0.0, 1.0, 100):
        kernel[round(1 + 4 * t), round(1 + 3 * np.sin(np.pi * t) + 2 * t)] += 1.0
    return kernel / kernel.sum()


def write_photos(folder) -> None:
    """The three blurred JPEGs and a kernel_sizes.csv row for each, in ``folder``."""
    images = {
        "astronaut": data.astronaut(),
        "camera": data.camera()[..., None],
        "coffee": data.coffee(),
    }
    kernel = motion_kernel()
    folder.mkdir(parents=True)
    rows = ["image,kernel_size"]
    for scene, (name, shape, bound) in PHOTOS.items():
        image = resize(images[scene], shape, anti_aliasing=True)
        blurred = np.stack(
            [
                ndimage.convolve(image[..., c], kernel, mode="nearest")
                for c in range(image.shape[2])
            ],
            axis=2,
        )
        levels = np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(levels[..., 0] if levels.shape[2] == 1 else levels).save(
            folder / name, format="JPEG", quality=95
        )
        rows.append(f"{name},{bound}")
    (folder / "kernel_sizes.csv").write_text("\n".join(rows) + "\n")


def photos_params() -> dict:
    """The tiny project's params with one study: the photos as taken, tiny SelfDeblur."""
    params = tiny_params()
    params["methods"]["selfdeblur"] = TINY_BLIND_METHOD
    params["methods"]["tikhonov"] = {"type": "tikhonov_cg", "weight": 0.03}
    params["two_stage"] = {"selfdeblur_tikhonov": {"blind": "selfdeblur", "non_blind": "tikhonov"}}
    params["blurs"]["as_taken"] = {"model": "observed"}
    params["datasets"]["photos"] = {"root": FOLDER, "scenes": "all"}
    params["studies"] = {
        "photos": {
            "title": "My photos",
            "datasets": ["photos"],
            "blurs": ["as_taken"],
            "methods": ["selfdeblur", "selfdeblur_tikhonov"],
            "seeds": [0],
        }
    }
    params["metrics"]["lpips"] = False
    return params


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("photos") / "p", photos_params())
    write_photos(root / FOLDER)
    return root


def test_a_non_blind_method_on_the_photos_is_refused(project, tool_env):
    params = photos_params()
    params["studies"]["photos"]["methods"] = ["selfdeblur", "siren_tv"]
    params["two_stage"] = {}
    (project / "nonblind.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    check = run(["inrdeblur", "check-params", "nonblind.yaml"], project, tool_env)
    assert check.returncode == 2, check.stdout
    assert (
        "studies.photos: methods.siren_tv: type 'inr' deblurs with the blur's operator, and "
        "blur 'as_taken' (model 'observed') has none" in check.stdout
    )
    assert "studies.photos: methods.siren_tv: type 'inr' deblurs with a known blur, and " in (
        check.stdout
    )
    ok = run(["inrdeblur", "check-params", "params.yaml"], project, tool_env)
    assert ok.returncode == 0, ok.stdout


def test_the_dry_run_lists_every_photo_and_fetches_nothing(project, tool_env):
    dry = run(["snakemake", "-n", "--cores", "2"], project, tool_env)
    assert dry.returncode == 0, dry.stdout[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout, flags=re.M))
    assert int(counts["fit"]) == 2 * len(PHOTOS) and int(counts["prepare"]) == 1
    assert "fetch" not in counts
    for scene in PHOTOS:
        assert f"scene={scene}" in dry.stdout


@pytest.fixture(scope="module")
def report(project, tool_env):
    before = sorted(p.name for p in (project / FOLDER).iterdir())
    proc = run(["snakemake", "--cores", "2"], project, tool_env)
    assert proc.returncode == 0, proc.stdout[-5000:]
    # nothing fetched: no stamp, checksums or SHA256SUMS in or beside the user's folder
    assert sorted(p.name for p in (project / FOLDER).iterdir()) == before
    assert not (project / "data" / "raw").exists()
    return project / "reports" / "index.html"


def test_every_photo_is_fitted_with_a_kernel_of_its_bound(report, project):
    from inrdeblur.records.fit import FitEstimate

    for scene, (_, shape, bound) in PHOTOS.items():
        fit = project / "results/fits/selfdeblur/as_taken/photos" / scene / "seed0"
        result = FitEstimate.load(fit / "estimate.npz")
        channels = 1 if scene == "camera" else 3
        assert result.estimate.shape == (*shape, channels)
        assert result.kernel.shape == (bound, bound), scene
        assert result.kernel.min() >= 0 and abs(float(result.kernel.sum()) - 1.0) < 1e-4
        meta = json.loads((fit / "meta.json").read_text())
        assert meta["kernel_size"] == bound and meta["final_psnr"] is None


def test_the_two_stage_fits_deblur_with_the_estimated_kernels(report, project):
    """Each photo's SelfDeblur kernel, handed to Tikhonov: the same kernel is saved with
    the second stage's estimate, and its meta names the blind estimate it used."""
    import hashlib

    from inrdeblur.records.fit import FitEstimate

    for scene, (_, shape, _) in PHOTOS.items():
        blind = project / "results/fits/selfdeblur/as_taken/photos" / scene / "seed0"
        second = project / "results/fits/selfdeblur_tikhonov/as_taken/photos" / scene / "seed0"
        kernel = FitEstimate.load(blind / "estimate.npz").kernel
        result = FitEstimate.load(second / "estimate.npz")
        np.testing.assert_array_equal(result.kernel, kernel)
        assert result.estimate.shape[:2] == shape and np.isfinite(result.estimate).all()
        meta = json.loads((second / "meta.json").read_text())
        assert meta["type"] == "two_stage" and meta["recipe"]["non_blind"] == "tikhonov"
        sha = hashlib.sha256((blind / "estimate.npz").read_bytes()).hexdigest()
        assert meta["blind_estimate_sha256"] == sha
    records = json.loads(
        (project / "results/metrics/selfdeblur_tikhonov/as_taken/photos.json").read_text()
    )
    assert sorted(r["scene"] for r in records) == sorted(PHOTOS)
    assert all(r["blind"] and r["psnr"] is None for r in records)


def test_the_records_say_there_is_no_reference(report, project):
    records = json.loads((project / "results/metrics/selfdeblur/as_taken/photos.json").read_text())
    assert sorted(r["scene"] for r in records) == sorted(PHOTOS)
    for record in records:
        assert record["reference"] == "none: the photos dataset has no sharp images"
        for key in ("psnr", "ssim", "lpips", "psnr_blurry", "ssim_blurry"):
            assert record[key] is None, key
        assert record["blind"] and record["kernel_similarity"] is None
        assert record["time_s"] > 0 and record["iterations"] == 20


def test_the_report_shows_the_photos_with_their_kernels(report):
    html = report.read_text(encoding="utf-8")
    grid = html[html.index('<section id="grid"') :]
    grid = grid[: grid.index("</section>")]
    for scene in PHOTOS:
        for alt in ("blurry", "selfdeblur", "selfdeblur kernel estimate", "selfdeblur_tikhonov"):
            assert f'alt="{scene} {alt}"' in grid, (scene, alt)
        assert f'alt="{scene} sharp"' not in grid
    assert "error map" not in grid and "dB</figcaption>" not in grid
    assert grid.count("estimated kernel (no true kernel)") == 2 * len(PHOTOS)
    summary = html[html.index('<table id="summary-photos"') :]
    summary = summary[: summary.index("</table>")]
    assert "blurry input" in summary and "selfdeblur" in summary
    assert "No figures: they plot the PSNR against the sharp images" in html
