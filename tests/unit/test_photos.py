"""The ``photos`` dataset: the user's own blurry photographs, without ground truth.

The photos are made here: scikit-image's camera (gray), astronaut and coffee (RGB),
downscaled to 96 px and blurred by a motion-like kernel built below, saved as JPEGs. What
the prepare stage reads is compared with a plain Pillow read of the same files, with the
arrays the JPEGs were made from (within JPEG's error), with closed forms (BT.601 luma, 2x2
block means, levels / 65535 of 16-bit PNGs written here by a minimal PNG encoder) and
with the image rotated by numpy for an EXIF orientation.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage import data
from skimage.transform import resize

from inrdeblur.cli import main
from inrdeblur.config import dataset_settings
from inrdeblur.data import photos, registry
from inrdeblur.data.prepare import PrepareError, prepare_dataset, prepare_scene
from inrdeblur.data.synthesize import synthesize
from inrdeblur.fileio import InputFileError, read_json, write_json
from inrdeblur.metrics.evaluate import evaluate_fit
from inrdeblur.records.fit import FitEstimate
from inrdeblur.records.scene import Scene, SceneError

#: scene id -> (file name, shape of the photo as made here)
PHOTOS = {
    "astronaut": ("astronaut.jpg", (96, 96, 3)),
    "camera": ("camera.jpg", (96, 96, 1)),
    "coffee": ("coffee.JPEG", (64, 96, 3)),
}
JPEG_QUALITY = 95
#: mean absolute difference a quality-95 JPEG keeps to its source, [0, 1] units
JPEG_MAE = 0.02


def motion_kernel() -> np.ndarray:
    """(9, 9) kernel along a curved stroke, like camera shake; sums to 1."""
    kernel = np.zeros((9, 9))
    for t in np.linspace(0.0, 1.0, 200):
        kernel[round(1 + 6 * t), round(2 + 4 * np.sin(np.pi * t) + 2 * t)] += 1.0
    return kernel / kernel.sum()


def blurred_sources() -> dict[str, np.ndarray]:
    """(H, W, C) uint8 levels of each photo: downscaled, blurred, rounded."""
    images = {
        "astronaut": resize(data.astronaut(), (96, 96), anti_aliasing=True),
        "camera": resize(data.camera(), (96, 96), anti_aliasing=True)[..., None],
        "coffee": resize(data.coffee(), (64, 96), anti_aliasing=True),
    }
    kernel = motion_kernel()
    out = {}
    for name, image in images.items():
        blurred = np.stack(
            [
                ndimage.convolve(image[..., c], kernel, mode="nearest")
                for c in range(image.shape[2])
            ],
            axis=2,
        )
        out[name] = np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8)
    return out


def save_jpeg(path: Path, levels: np.ndarray, **options) -> None:
    image = Image.fromarray(levels[..., 0] if levels.shape[2] == 1 else levels)
    image.save(path, format="JPEG", quality=JPEG_QUALITY, **options)


def write_png16(path: Path, levels: np.ndarray) -> None:
    """A 16-bit gray (H, W) or RGB (H, W, 3) PNG written from its definition (no Pillow)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    height, width = levels.shape[:2]
    colour_type = 2 if levels.ndim == 3 else 0
    rows = levels.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def sources() -> dict[str, np.ndarray]:
    return blurred_sources()


@pytest.fixture()
def folder(tmp_path: Path, sources: dict[str, np.ndarray]) -> Path:
    root = tmp_path / "my photos"
    root.mkdir()
    for scene_id, (name, _) in PHOTOS.items():
        save_jpeg(root / name, sources[scene_id])
    (root / "notes.txt").write_text("not a photo\n")
    return root


def settings(root: Path, **more) -> dict:
    return dataset_settings("photos", {"root": str(root), **more})


def pil_read(path: Path) -> np.ndarray:
    """An independent read: Pillow's decode, (H, W, C) levels / 255."""
    with Image.open(path) as image:
        array = np.asarray(image, dtype=np.float64) / 255.0
    return array[..., None] if array.ndim == 2 else array


def assert_no_output(out: Path) -> None:
    assert not out.exists() or list(out.iterdir()) == []


# --------------------------------------------------------------------------- reading


def test_prepare_reads_every_photo(folder: Path, tmp_path: Path, sources):
    out = tmp_path / "scenes"
    paths = prepare_dataset("photos", settings(folder), out, progress=False)
    assert [p.name for p in paths] == ["astronaut.npz", "camera.npz", "coffee.npz"]
    for path in paths:
        scene = Scene.load(path)
        name, shape = PHOTOS[scene.id]
        assert scene.dataset == "photos" and scene.sharp is None
        assert scene.blurry.shape == shape and scene.blurry.dtype == np.float32
        assert scene.shape == shape[:2] and scene.channels == shape[2]
        assert 0.0 <= scene.blurry.min() and scene.blurry.max() <= 1.0
        np.testing.assert_allclose(scene.blurry, pil_read(folder / name), atol=1e-7)
        made = sources[scene.id] / 255.0
        assert np.abs(scene.blurry - made).mean() < JPEG_MAE
        assert scene.attrs["files"] == {"blurry": name}
        assert scene.attrs["format"] == "JPEG" and scene.attrs["bit_depth"] == 8
        assert "kernel_size_bound" not in scene.attrs
        assert "sharp" not in np.load(path).files
    # the registry's capability lists say what the scenes carry
    assert "photos" in registry.WITH_BLURRY and "photos" in registry.WITHOUT_SHARP
    assert "photos" not in registry.WITH_KERNEL + registry.WITH_DEPTH
    assert registry.is_scanned("photos") and photos.list_ids(folder) == sorted(PHOTOS)


def test_a_listed_scene_is_read_alone(folder: Path, tmp_path: Path):
    out = tmp_path / "scenes"
    paths = prepare_dataset("photos", settings(folder, scenes=["coffee"]), out, progress=False)
    assert [p.name for p in paths] == ["coffee.npz"]
    scene = prepare_scene("photos", "camera", settings(folder))
    assert scene.blurry.shape == (96, 96, 1)


def test_kernel_sizes_csv_lands_in_attrs(folder: Path):
    (folder / "kernel_sizes.csv").write_text("image,kernel_size\ncamera.jpg,15\n\nastronaut, 9\n")
    assert photos.read_kernel_sizes(folder) == {"camera": 15, "astronaut": 9}
    assert prepare_scene("photos", "camera", settings(folder)).attrs["kernel_size_bound"] == 15
    astronaut = prepare_scene("photos", "astronaut", settings(folder))
    assert astronaut.attrs["kernel_size_bound"] == 9
    assert astronaut.attrs["files"]["kernel_sizes"] == "kernel_sizes.csv"
    assert "kernel_size_bound" not in prepare_scene("photos", "coffee", settings(folder)).attrs


def test_max_side_and_luma(folder: Path):
    (folder / "kernel_sizes.csv").write_text("image,kernel_size\ncamera,15\n")
    camera = prepare_scene("photos", "camera", settings(folder, max_side=48))
    full = pil_read(folder / "camera.jpg")
    blocks = full.reshape(48, 2, 48, 2, 1).mean(axis=(1, 3))  # area average at scale 1/2
    np.testing.assert_allclose(camera.blurry, blocks, atol=1e-6)
    # the bound follows the image: the smallest odd side holding 15 px / 2 = 7.5 px
    assert camera.attrs["kernel_size_bound"] == 9
    assert camera.attrs["resize"]["original_kernel_size_bound"] == 15
    astronaut = prepare_scene("photos", "astronaut", settings(folder, channels="y"))
    rgb = pil_read(folder / "astronaut.jpg")
    luma = (16.0 + rgb @ np.array([65.481, 128.553, 24.966])) / 255.0  # MATLAB rgb2ycbcr
    assert astronaut.blurry.shape == (96, 96, 1) and astronaut.sharp is None
    np.testing.assert_allclose(astronaut.blurry[..., 0], luma, atol=1e-5)


def test_sixteen_bit_pngs(tmp_path: Path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 65536, size=(20, 30), dtype=np.uint16)
    rgb = rng.integers(0, 65536, size=(12, 10, 3), dtype=np.uint16)
    write_png16(tmp_path / "gray16.png", gray)
    write_png16(tmp_path / "rgb16.png", rgb)
    scene = photos.make_scene(tmp_path, "gray16")
    np.testing.assert_array_equal(scene.blurry[..., 0], gray.astype(np.float32) / 65535)
    scene = photos.make_scene(tmp_path, "rgb16")
    assert scene.attrs["bit_depth"] == 16
    np.testing.assert_array_equal(scene.blurry, rgb.astype(np.float32) / 65535)


def test_exif_orientation_turns_a_jpeg_upright(tmp_path: Path, sources):
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    save_jpeg(tmp_path / "turned.jpg", sources["coffee"], exif=exif.tobytes())
    scene = photos.make_scene(tmp_path, "turned")
    assert scene.blurry.shape == (96, 64, 3) and scene.attrs["exif_orientation"] == 6
    upright = np.rot90(sources["coffee"], k=-1) / 255.0  # clockwise
    assert np.abs(scene.blurry - upright).mean() < JPEG_MAE


def test_a_scene_needs_a_sharp_or_a_blurry_image():
    with pytest.raises(SceneError, match="needs 'sharp' or, without ground truth, 'blurry'"):
        Scene(dataset="photos", id="x", sharp=None)


# --------------------------------------------------------------------------- bad input


def _corrupt(root: Path) -> tuple[str, list[str]]:
    (root / "zz_broken.jpg").write_bytes(b"this is not a JPEG")
    return "not a readable image", [str(root / "zz_broken.jpg")]


def _truncated(root: Path) -> tuple[str, list[str]]:
    whole = (root / "camera.jpg").read_bytes()
    (root / "zz_cut.jpg").write_bytes(whole[: len(whole) // 2])
    return "not a readable image", [str(root / "zz_cut.jpg")]


def _no_photos(root: Path) -> tuple[str, list[str]]:
    for name, _ in PHOTOS.values():
        (root / name).unlink()
    return "no photos", [str(root), "notes.txt"]


def _same_stem(root: Path) -> tuple[str, list[str]]:
    Image.open(root / "camera.jpg").save(root / "camera.png")
    return "would both be scene 'camera'", ["camera.jpg", "camera.png"]


def _csv(rows: str, message: str, *named: str):
    def make(root: Path) -> tuple[str, list[str]]:
        (root / "kernel_sizes.csv").write_text(f"image,kernel_size\ncamera.jpg,15\n{rows}\n")
        return message, [str(root / "kernel_sizes.csv"), *named]

    return make


BAD_INPUT = {
    "corrupt photo": _corrupt,
    "truncated photo": _truncated,
    "no photos": _no_photos,
    "two files, one id": _same_stem,
    "even bound": _csv("astronaut.jpg,14", "is even", "line 3", "'14'"),
    "bound not a number": _csv("astronaut.jpg,abc", "not a positive odd", "line 3", "'abc'"),
    "bound zero": _csv("astronaut.jpg,0", "not a positive odd", "line 3", "'0'"),
    "bound negative": _csv("astronaut.jpg,-3", "not a positive odd", "line 3", "'-3'"),
    "bound not an integer": _csv("astronaut.jpg,7.0", "not a positive odd", "line 3", "'7.0'"),
    "bound larger than the image": _csv(
        "coffee.JPEG,65", "larger than the image", "line 3", "coffee.JPEG", "65 px", "96x64"
    ),
    "row of a missing image": _csv("kodim01.png,15", "is not a photo", "line 3", "'kodim01.png'"),
    "two rows of one image": _csv("camera,9", "a second kernel_size", "line 3", "line 2"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_named_and_writes_nothing(folder: Path, tmp_path: Path, case: str):
    message, named = BAD_INPUT[case](folder)
    out = tmp_path / "scenes"
    with pytest.raises(PrepareError) as err:
        prepare_dataset("photos", settings(folder), out, progress=False)
    text = str(err.value)
    assert message in text
    for part in named:
        assert part in text, f"{part!r} not in {text!r}"
    assert_no_output(out)


def test_a_missing_folder_or_scene_is_named(tmp_path: Path, folder: Path):
    out = tmp_path / "scenes"
    missing = tmp_path / "nowhere"
    with pytest.raises(PrepareError, match="photos folder not found") as err:
        prepare_dataset("photos", settings(missing), out, progress=False)
    assert str(missing) in str(err.value)
    with pytest.raises(PrepareError, match="no photo kodim01.png, .jpg or .jpeg") as err:
        prepare_dataset("photos", settings(folder, scenes=["camera", "kodim01"]), out)
    assert str(folder) in str(err.value)
    with pytest.raises(InputFileError, match="scene 'kodim01'"):
        photos.make_scene(folder, "kodim01")
    with pytest.raises(ValueError, match="photos scene id 'a/b'"):
        prepare_scene("photos", "a/b", settings(folder))
    assert_no_output(out)


def test_prepare_through_the_cli(folder: Path, tmp_path: Path, capsys):
    out = tmp_path / "scenes"
    argv = ["prepare", "--dataset", "photos", "--out-dir", str(out), "--no-progress"]
    assert main([*argv, "--settings", json.dumps({"root": str(folder)})]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.npz", "camera.npz", "coffee.npz"]
    (folder / "kernel_sizes.csv").write_text("image,kernel_size\ncamera.jpg,8\n")
    bad_out = tmp_path / "bad"
    bad = ["prepare", "--dataset", "photos", "--out-dir", str(bad_out), "--no-progress"]
    assert main([*bad, "--settings", json.dumps({"root": str(folder)})]) == 2
    stderr = capsys.readouterr().err
    assert "inrdeblur prepare: error:" in stderr and str(folder / "kernel_sizes.csv") in stderr
    assert_no_output(bad_out)


# --------------------------------------------------------------------------- later stages

STORED = {
    "model": "uniform",
    "kernel": "random_motion",
    "kernel_size": 9,
    "boundary": "replicate",
    "observation": "scene",
    "noise_std": 0.01,
    "seed": 0,
}


class RefusingLPIPS:
    """An LPIPS metric that must not be called: there is nothing to compare with."""

    status = "ok"

    def __call__(self, estimate, reference):
        raise AssertionError("LPIPS computed without a sharp reference")


def test_blur_and_evaluate_without_ground_truth(folder: Path, tmp_path: Path):
    scene = prepare_scene("photos", "astronaut", settings(folder))
    blurred = synthesize(scene, "stored", STORED)
    np.testing.assert_array_equal(blurred.blurry, scene.blurry)
    assert blurred.attrs["observation"] == "scene" and blurred.attrs["blurry_psnr"] is None
    with pytest.raises(ValueError, match="no ground truth"):
        synthesize(scene, "motion", {**STORED, "observation": "synthesize"})

    paths = {name: tmp_path / f"{name}.npz" for name in ("scene", "blurred", "estimate")}
    scene.save(paths["scene"])
    blurred.save(paths["blurred"])
    FitEstimate(np.clip(scene.blurry * 1.1, 0, 1)).save(paths["estimate"])
    meta = {"blur": "stored", "method": "m", "seed": 0, "time_s": 2.5, "size_mb": 0.25}
    write_json(tmp_path / "meta.json", {**meta, "iterations": 7, "device": "cpu"})
    out = tmp_path / "record.json"
    record = evaluate_fit(
        paths["scene"],
        paths["blurred"],
        paths["estimate"],
        tmp_path / "meta.json",
        out,
        lpips=True,
        lpips_metric=RefusingLPIPS(),
    )
    assert record["reference"] == "none: the photos dataset has no sharp images"
    for key in ("psnr", "ssim", "lpips", "psnr_blurry", "ssim_blurry", "lpips_blurry"):
        assert record[key] is None, key
    assert "psnr_aligned" not in record  # 'auto' would align a stored observation
    assert record["lpips_status"].startswith("missing: no sharp reference")
    assert (record["time_s"], record["size_mb"], record["iterations"]) == (2.5, 0.25, 7)
    assert read_json(out) == record


# --------------------------------------------------------------------------- the workflow's view


def test_scenes_all_is_the_folder_listed_when_the_jobs_are_built(folder: Path, tmp_path: Path):
    from inrdeblur.experiment import dataset_scene_ids, user_folder_files

    assert dataset_scene_ids("photos", settings(folder)) == sorted(PHOTOS)
    assert dataset_scene_ids("photos", settings(folder, scenes=["coffee"])) == ["coffee"]
    files = [folder / name for _, (name, _) in sorted(PHOTOS.items())]
    assert user_folder_files("photos", settings(folder)) == files  # not notes.txt
    (folder / "kernel_sizes.csv").write_text("image,kernel_size\ncamera.jpg,9\n")
    assert user_folder_files("photos", settings(folder)) == [*files, folder / "kernel_sizes.csv"]
    assert user_folder_files("levin", {"root": str(folder)}) == []
    missing = tmp_path / "nowhere"
    with pytest.raises(InputFileError, match=rf"datasets.photos.root: {missing}: photos folder"):
        dataset_scene_ids("photos", settings(missing))


def test_photos_are_never_fetched_and_preflight_checks_their_folder(folder: Path, tmp_path):
    from inrdeblur.data.download import FetchError
    from inrdeblur.data.fetch import fetch_entry
    from inrdeblur.preflight import dataset_problems, is_fetched

    params = {
        "studies": {"mine": {"enabled": True, "datasets": ["photos"]}},
        "datasets": {"photos": {"root": "data/raw/photos"}},  # the default root
    }
    assert not is_fetched(params, "photos")
    (problem,) = dataset_problems(params, tmp_path)
    assert problem.startswith(
        f"datasets.photos.root: {tmp_path / 'data/raw/photos'}: photos folder not found"
    )
    (tmp_path / "data/raw/photos").mkdir(parents=True)
    (problem,) = dataset_problems(params, tmp_path)
    assert problem.startswith(f"datasets.photos.root: {tmp_path / 'data/raw/photos'}: no photos")
    params["datasets"]["photos"]["root"] = str(folder)
    assert dataset_problems(params, tmp_path) == []
    raw = tmp_path / "data/raw"
    (raw / "photos" / "a.png").write_bytes((folder / "coffee.JPEG").read_bytes())
    with pytest.raises(FetchError, match="'photos' is a folder of your own"):
        fetch_entry("photos", raw_dir=raw, progress=False)
    # nothing written: no stamp or SHA256SUMS in the folder, no checksums beside it
    assert [p.name for p in raw.iterdir()] == ["photos"]
    assert [p.name for p in (raw / "photos").iterdir()] == ["a.png"]


def test_a_blind_fit_of_a_photo_needs_a_kernel_bound(folder: Path):
    from inrdeblur.fit.run import kernel_size_bound

    (folder / "kernel_sizes.csv").write_text("image,kernel_size\ncamera.jpg,9\n")
    recipe = {"type": "selfdeblur", "kernel_size": None}
    for scene_id, expected in (("camera", 9), ("coffee", None)):
        scene = prepare_scene("photos", scene_id, settings(folder))
        blurred = synthesize(scene, "as_taken", {"model": "observed"})
        assert blurred.kernel is None
        if expected is not None:
            assert kernel_size_bound("sd", recipe, scene, blurred) == expected
            assert kernel_size_bound("sd", {**recipe, "kernel_size": 15}, scene, blurred) == 15
        else:  # no CSV row, no kernel of its blur: the recipe must give one
            with pytest.raises(ValueError, match=r"methods.sd.kernel_size: .* photos/coffee"):
                kernel_size_bound("sd", recipe, scene, blurred)
