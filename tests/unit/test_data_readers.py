"""Tests for the Lai, Kodak and GoPro-pair readers on folders written here in their layouts.

Each fixture writes small 8-bit PNGs with PIL in the documented layout (kernels scaled to
a maximum of 255, as the real sets store them) and keeps the arrays it wrote; the tests
compare what the readers return with ``array / 255`` and ``kernel / kernel.sum()``
computed here, and check that every error names the file at fault.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inrdeblur.data import gopro, kodak, lai
from inrdeblur.fileio import InputFileError
from inrdeblur.records.scene import Scene

LAI_CATEGORIES = ["manmade", "natural", "people", "saturated", "text"]
LAI_KERNEL_SIDES = {1: 31, 2: 51, 3: 55, 4: 75}  # the sizes the methods use (SelfDeblur)


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _as_float(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) / np.float32(255.0)


def _scaled_kernel(rng: np.random.Generator, side: int) -> np.ndarray:
    """A sparse non-negative kernel stored as 8-bit with its maximum at 255."""
    k = np.zeros((side, side))
    idx = rng.integers(0, side, size=(3 * side, 2))
    k[idx[:, 0], idx[:, 1]] = rng.uniform(0.1, 1.0, size=len(idx))
    return np.round(255.0 * k / k.max()).astype(np.uint8)


# --------------------------------------------------------------------------- Lai


@pytest.fixture()
def lai_tree(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A complete uniform Lai folder: 25 sharp, 4 kernels, 100 blurred (tiny, random)."""
    rng = np.random.default_rng(2016)
    root = tmp_path / "synthetic_dataset"
    written: dict[str, np.ndarray] = {}
    for c, category in enumerate(LAI_CATEGORIES):
        for n in range(1, 6):
            shape = (7 + c, 9 + n, 3)  # sizes differ from image to image, as in the set
            sharp = rng.integers(0, 256, size=shape, dtype=np.uint8)
            written[f"ground_truth/{category}_{n:02d}.png"] = sharp
            for k in range(1, 5):
                blurry = rng.integers(0, 256, size=shape, dtype=np.uint8)
                written[f"uniform/{category}_{n:02d}_kernel_{k:02d}.png"] = blurry
    for k, side in LAI_KERNEL_SIDES.items():
        written[f"kernel/kernel_{k:02d}.png"] = _scaled_kernel(rng, side)
    for rel, array in written.items():
        _png(root / rel, array)
    return root, written


def test_lai_ids_and_paths_follow_the_authors_list():
    # list/synthetic_uniform.txt (phoenix104104/cvpr16_deblur_study): 100 lines, this order
    expected = [
        f"{c}_{n:02d}_kernel_{k:02d}"
        for c in LAI_CATEGORIES
        for n in range(1, 6)
        for k in range(1, 5)
    ]
    assert list(lai.SCENE_IDS) == expected
    assert lai.scene_ids(category="people", image=3) == [
        f"people_03_kernel_{k:02d}" for k in range(1, 5)
    ]
    assert len(lai.scene_ids(kernel=2)) == 25
    sid = "saturated_04_kernel_03"
    assert (lai.sharp_path(sid), lai.kernel_path(sid), lai.blurry_path(sid)) == (
        "ground_truth/saturated_04.png",
        "kernel/kernel_03.png",
        "uniform/saturated_04_kernel_03.png",
    )
    assert len(lai.EXPECTED_FILES) == 25 + 4 + 100
    assert lai.KERNEL_SIZE_BOUNDS == LAI_KERNEL_SIDES


@pytest.mark.parametrize("bad", ["manmade_06_kernel_01", "text_01_kernel_05", "people_1_kernel_1"])
def test_lai_unknown_id_is_a_value_error(bad):
    with pytest.raises(ValueError, match="lai dataset: unknown scene id"):
        lai.make_scene("/nonexistent", bad)


@pytest.mark.parametrize(
    "sid", ["manmade_01_kernel_01", "natural_03_kernel_02", "text_05_kernel_04"]
)
def test_lai_scene_reads_back_exactly(lai_tree, sid):
    root, written = lai_tree
    category, number, _, k = sid.split("_")
    sharp = written[f"ground_truth/{category}_{number}.png"]
    blurry = written[f"uniform/{sid}.png"]
    kernel_u8 = written[f"kernel/kernel_{k}.png"]
    scene = lai.make_scene(root, sid)
    assert scene.dataset == "lai" and scene.id == sid
    np.testing.assert_array_equal(scene.sharp, _as_float(sharp))
    np.testing.assert_array_equal(scene.blurry, _as_float(blurry))
    expected_kernel = kernel_u8.astype(np.float64) / kernel_u8.astype(np.float64).sum()
    # The authors blurred by correlation: the reader rotates the PNG by 180 degrees.
    np.testing.assert_allclose(scene.kernel, expected_kernel[::-1, ::-1], rtol=1e-6, atol=1e-9)
    assert abs(float(scene.kernel.astype(np.float64).sum()) - 1.0) < 1e-5
    assert scene.attrs["category"] == category
    assert scene.attrs["image"] == f"{category}_{number}"
    assert scene.attrs["kernel_index"] == int(k)
    assert scene.attrs["kernel_size_bound"] == LAI_KERNEL_SIDES[int(k)]
    assert scene.attrs["stored_kernel_size"] == list(kernel_u8.shape)
    assert scene.depth is None and scene.trajectory is None


def test_lai_scene_survives_a_save_load_round_trip(lai_tree, tmp_path):
    root, _ = lai_tree
    scene = lai.make_scene(root, "people_02_kernel_03")
    scene.save(tmp_path / "scene.npz")
    again = Scene.load(tmp_path / "scene.npz")
    np.testing.assert_array_equal(again.sharp, scene.sharp)
    np.testing.assert_array_equal(again.kernel, scene.kernel)
    assert again.attrs == scene.attrs


def test_lai_gray_sharp_is_replicated(lai_tree):
    root, _ = lai_tree
    gray = np.arange(7 * 10, dtype=np.uint8).reshape(7, 10)
    _png(root / "ground_truth/manmade_01.png", gray)
    scene = lai.make_scene(root, "manmade_01_kernel_01")
    for channel in range(3):
        np.testing.assert_array_equal(scene.sharp[..., channel], _as_float(gray))
    assert scene.attrs["channels"]["sharp"].startswith("grayscale")


def test_lai_missing_blurred_file_names_its_path(lai_tree):
    root, _ = lai_tree
    missing = root / "uniform/text_02_kernel_03.png"
    missing.unlink()
    with pytest.raises(InputFileError, match="file not found") as err:
        lai.make_scene(root, "text_02_kernel_03")
    assert str(missing) in str(err.value)


def test_lai_corrupt_sharp_png_names_the_file(lai_tree):
    root, _ = lai_tree
    corrupt = root / "ground_truth/people_04.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(InputFileError, match="not a readable image") as err:
        lai.make_scene(root, "people_04_kernel_01")
    assert str(corrupt) in str(err.value)


def test_lai_all_zero_kernel_names_the_file(lai_tree):
    root, _ = lai_tree
    kernel = root / "kernel/kernel_02.png"
    _png(kernel, np.zeros((51, 51), dtype=np.uint8))
    with pytest.raises(InputFileError, match="all zero") as err:
        lai.make_scene(root, "natural_01_kernel_02")
    assert str(kernel) in str(err.value)


def test_lai_size_mismatch_names_both_files(lai_tree):
    root, written = lai_tree
    sid = "manmade_02_kernel_04"
    h, w, _ = written[f"uniform/{sid}.png"].shape
    _png(root / f"uniform/{sid}.png", np.zeros((h + 1, w, 3), dtype=np.uint8))
    with pytest.raises(InputFileError) as err:
        lai.make_scene(root, sid)
    assert str(root / f"uniform/{sid}.png") in str(err.value)
    assert str(root / "ground_truth/manmade_02.png") in str(err.value)


def test_lai_verify_checks_presence_and_known_hashes(lai_tree):
    root, written = lai_tree
    lai.verify(root)  # complete, no checksums known: presence only
    sums = {rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in written}
    (root / "SHA256SUMS").write_text("".join(f"{h}  {rel}\n" for rel, h in sums.items()))
    lai.verify(root)
    changed = root / "uniform/natural_05_kernel_01.png"
    _png(changed, np.zeros((3, 3, 3), dtype=np.uint8))
    (root / "kernel/kernel_04.png").unlink()
    with pytest.raises(InputFileError, match=r"2 problem\(s\)") as err:
        lai.verify(root)
    message = str(err.value)
    assert f"{changed}: sha256 mismatch: expected {sums['uniform/natural_05_kernel_01.png']}" in (
        message
    )
    assert f"{root / 'kernel/kernel_04.png'}: file not found" in message
    # explicit checksums (e.g. from the registry) replace the SHA256SUMS file
    with pytest.raises(InputFileError, match="sha256 mismatch"):
        lai.verify(root, checksums={"ground_truth/text_01.png": "0" * 64})


# --------------------------------------------------------------------------- Kodak

KODAK_PORTRAIT = {"kodim05"}  # the fixture's choice, not a claim about the real set


@pytest.fixture()
def kodak_tree(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """All 24 ``kodimNN.png`` at the real sizes, smooth content (cheap to encode)."""
    root = tmp_path / "kodak"
    written = {}
    for n in range(1, 25):
        sid = f"kodim{n:02d}"
        h, w = (768, 512) if sid in KODAK_PORTRAIT else (512, 768)
        rows, cols = np.mgrid[0:h, 0:w]
        image = np.stack([(rows + n) % 256, (cols * 3) % 256, (rows + cols) % 256], axis=2)
        written[sid] = image.astype(np.uint8)
        _png(root / f"{sid}.png", written[sid])
    return root, written


def test_kodak_ids_and_urls():
    assert list(kodak.SCENE_IDS) == [f"kodim{n:02d}" for n in range(1, 25)]
    assert kodak.image_url("kodim24") == "http://r0k.us/graphics/kodak/kodak/kodim24.png"
    with pytest.raises(ValueError, match="kodim01 .. kodim24"):
        kodak.image_path("kodim25")


@pytest.mark.parametrize("sid", ["kodim01", "kodim05", "kodim24"])
def test_kodak_scene_reads_back_exactly(kodak_tree, sid):
    root, written = kodak_tree
    scene = kodak.make_scene(root, sid)
    np.testing.assert_array_equal(scene.sharp, _as_float(written[sid]))
    assert scene.blurry is None and scene.kernel is None
    assert scene.attrs["image_number"] == int(sid[-2:])
    assert scene.attrs["orientation"] == ("portrait" if sid in KODAK_PORTRAIT else "landscape")


def test_kodak_verify(kodak_tree):
    root, _ = kodak_tree
    kodak.verify(root)
    (root / "kodim13.png").unlink()
    with pytest.raises(InputFileError) as err:
        kodak.verify(root)
    assert f"{root / 'kodim13.png'}: file not found" in str(err.value)


def test_kodak_errors_name_the_file(kodak_tree):
    root, _ = kodak_tree
    (root / "kodim02.png").unlink()
    with pytest.raises(InputFileError, match="file not found") as err:
        kodak.make_scene(root, "kodim02")
    assert str(root / "kodim02.png") in str(err.value)
    _png(root / "kodim03.png", np.zeros((512, 767, 3), dtype=np.uint8))
    with pytest.raises(InputFileError, match="768x512 or 512x768") as err:
        kodak.make_scene(root, "kodim03")
    assert str(root / "kodim03.png") in str(err.value)
    _png(root / "kodim04.png", np.zeros((512, 768), dtype=np.uint8))
    with pytest.raises(InputFileError, match="expected an RGB image"):
        kodak.make_scene(root, "kodim04")
    (root / "kodim06.png").write_bytes(b"garbage")
    with pytest.raises(InputFileError, match="not a readable image") as err:
        kodak.make_scene(root, "kodim06")
    assert str(root / "kodim06.png") in str(err.value)


# --------------------------------------------------------------------------- GoPro pairs

GOPRO_FRAMES = {
    ("train", "GOPR0372_07_00"): ["000047", "000048"],
    ("train", "GOPR0374_11_00"): ["000001"],
    ("test", "GOPR0384_11_00"): ["000001"],
}


@pytest.fixture()
def gopro_tree(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """GOPRO_Large-shaped folder: {split}/{sequence}/{sharp,blur,blur_gamma}/{frame}.png."""
    rng = np.random.default_rng(2017)
    root = tmp_path / "GOPRO_Large"
    written = {}
    for (split, sequence), frames in GOPRO_FRAMES.items():
        for frame in frames:
            for folder in ("sharp", "blur", "blur_gamma"):
                rel = f"{split}/{sequence}/{folder}/{frame}.png"
                written[rel] = rng.integers(0, 256, size=(6, 10, 3), dtype=np.uint8)
                _png(root / rel, written[rel])
    (root / "train/GOPR0372_07_00/sharp/notes.txt").write_text("not an image")
    return root, written


def test_pair_ids_encode_and_decode():
    sid = gopro.encode_id("train", "GOPR0372_07_00", "000047")
    assert sid == "train.GOPR0372_07_00.000047"
    assert gopro.decode_id(sid) == ("train", "GOPR0372_07_00", "000047")
    for bad in ("train/GOPR0372_07_00/000047", "train.GOPR0372_07_00", "a.b.c.d", ".a.b"):
        with pytest.raises(ValueError, match="<split>.<sequence>.<frame>"):
            gopro.decode_id(bad)
    with pytest.raises(ValueError, match="no dots"):
        gopro.encode_id("train", "GOPR.0372", "000001")
    with pytest.raises(ValueError, match="unknown blurry folder"):
        gopro.blurry_path(sid, blur="blur_linear")


def test_pair_list_ids_scans_the_folder(gopro_tree):
    root, _ = gopro_tree
    assert gopro.list_ids(root) == [
        "test.GOPR0384_11_00.000001",
        "train.GOPR0372_07_00.000047",
        "train.GOPR0372_07_00.000048",
        "train.GOPR0374_11_00.000001",
    ]
    assert gopro.list_ids(root, splits=["train"], blur="blur_gamma") == [
        "train.GOPR0372_07_00.000047",
        "train.GOPR0372_07_00.000048",
        "train.GOPR0374_11_00.000001",
    ]
    with pytest.raises(InputFileError, match="split folder not found") as err:
        gopro.list_ids(root, splits=["val"])
    assert str(root / "val") in str(err.value)


@pytest.mark.parametrize("blur", ["blur", "blur_gamma"])
def test_pair_scene_reads_back_exactly(gopro_tree, blur):
    root, written = gopro_tree
    sid = "train.GOPR0372_07_00.000048"
    scene = gopro.make_scene(root, sid, blur=blur)
    assert scene.dataset == "gopro" and scene.id == sid
    np.testing.assert_array_equal(
        scene.sharp, _as_float(written["train/GOPR0372_07_00/sharp/000048.png"])
    )
    np.testing.assert_array_equal(
        scene.blurry, _as_float(written[f"train/GOPR0372_07_00/{blur}/000048.png"])
    )
    assert scene.kernel is None
    assert (scene.attrs["split"], scene.attrs["sequence"], scene.attrs["frame"]) == (
        "train",
        "GOPR0372_07_00",
        "000048",
    )
    assert scene.attrs["blur_folder"] == blur
    other = gopro.make_scene(root, sid, dataset="mypairs")
    assert other.dataset == "mypairs" and "licence" not in other.attrs


def test_pair_missing_partner_names_the_expected_path(gopro_tree):
    root, _ = gopro_tree
    missing = root / "train/GOPR0374_11_00/blur/000001.png"
    missing.unlink()
    with pytest.raises(InputFileError, match="file not found") as err:
        gopro.list_ids(root)
    assert str(missing) in str(err.value)
    assert str(root / "train/GOPR0374_11_00/sharp/000001.png") in str(err.value)
    with pytest.raises(InputFileError, match="file not found") as err:
        gopro.make_scene(root, "train.GOPR0374_11_00.000001")
    assert str(missing) in str(err.value)
    # the other way round: a blurry frame without its sharp one
    lonely_sharp = root / "test/GOPR0384_11_00/sharp/000001.png"
    lonely_sharp.unlink()
    with pytest.raises(InputFileError) as err:
        gopro.list_ids(root, splits=["test"])
    assert str(lonely_sharp) in str(err.value)


def test_pair_missing_folder_and_bad_names(gopro_tree):
    root, _ = gopro_tree
    (root / "test/GOPR0999_00_00").mkdir()
    with pytest.raises(InputFileError, match="folder not found") as err:
        gopro.list_ids(root)
    assert str(root / "test/GOPR0999_00_00/sharp") in str(err.value)
    (root / "test/GOPR0999_00_00").rmdir()
    bad = root / "train/GOPR0374_11_00"
    for folder in ("sharp", "blur"):
        _png(bad / folder / "frame.1.png", np.zeros((6, 10, 3), dtype=np.uint8))
    with pytest.raises(InputFileError, match="cannot be part of a scene id") as err:
        gopro.list_ids(root)
    assert str(bad / "sharp/frame.1.png") in str(err.value)


def test_pair_size_mismatch_names_both_files(gopro_tree):
    root, _ = gopro_tree
    blurry = root / "test/GOPR0384_11_00/blur/000001.png"
    _png(blurry, np.zeros((6, 11, 3), dtype=np.uint8))
    with pytest.raises(InputFileError, match="differs from its sharp frame") as err:
        gopro.make_scene(root, "test.GOPR0384_11_00.000001")
    assert str(blurry) in str(err.value)
    assert str(root / "test/GOPR0384_11_00/sharp/000001.png") in str(err.value)
    with pytest.raises(InputFileError, match="differs from its sharp frame"):
        gopro.verify(root)


def test_pair_verify_counts(gopro_tree):
    root, _ = gopro_tree
    ids = gopro.verify(root, expected_counts={"train": 3, "test": 1})
    assert len(ids) == 4
    assert gopro.GOPRO_PAIR_COUNTS == {"train": 2103, "test": 1111}  # DeepDeblur README
    with pytest.raises(InputFileError, match="3 pairs, expected 2103") as err:
        gopro.verify(root, expected_counts=gopro.GOPRO_PAIR_COUNTS)
    assert "1 pairs, expected 1111" in str(err.value)


def test_pair_corrupt_png_names_the_file(gopro_tree):
    root, _ = gopro_tree
    corrupt = root / "train/GOPR0372_07_00/sharp/000047.png"
    corrupt.write_bytes(b"not a png at all")
    with pytest.raises(InputFileError, match="not a readable image") as err:
        gopro.make_scene(root, "train.GOPR0372_07_00.000047")
    assert str(corrupt) in str(err.value)
    with pytest.raises(InputFileError, match="not a readable image") as err:
        gopro.verify(root)
    assert str(corrupt) in str(err.value)
