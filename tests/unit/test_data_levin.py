"""Tests for inrdeblur.data.levin against the shared copy of the Levin et al. 2009 set.

Expected values come from outside the module: the file list and kernel sizes from the
dataset README, the kernel size bounds from the methods spec (SelfDeblur
``selfdeblur_levin.py``), hashes from ``hashlib`` and pixels read with PIL directly.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import LEVIN_DIR

from inrdeblur.data import levin
from inrdeblur.fileio import InputFileError
from inrdeblur.records.scene import Scene

LEVIN_ROOT = LEVIN_DIR
# README: "sizes 19,17,15,27,13,21,23,23 px"; spec: bounds 17, 15, 13, 27, 11, 19, 21, 21.
README_KERNEL_SIZES = [19, 17, 15, 27, 13, 21, 23, 23]
SPEC_SIZE_BOUNDS = [17, 15, 13, 27, 11, 19, 21, 21]


@pytest.fixture(scope="module")
def root() -> Path:
    if not (LEVIN_ROOT / "SHA256SUMS").is_file():
        pytest.skip(f"the shared Levin dataset is not present at {LEVIN_ROOT}")
    return LEVIN_ROOT


@pytest.fixture()
def tree_copy(root: Path, tmp_path: Path) -> Path:
    """A writable copy of the dataset folder (the shared files are read-only)."""
    copy = tmp_path / "levin"
    for path in root.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return copy


def _listed_hash(sums: Path, rel: str) -> str:
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name == rel:
            return digest
    raise AssertionError(f"{rel} not in {sums}")


# --------------------------------------------------------------------------- manifest


def test_scene_ids_are_the_32_image_kernel_pairs():
    expected = [f"im{i}_kernel{j}" for i in range(1, 5) for j in range(1, 9)]
    assert list(levin.SCENE_IDS) == expected
    assert levin.scene_ids() == expected
    assert levin.scene_ids(image="im2") == [f"im2_kernel{j}" for j in range(1, 9)]
    assert levin.scene_ids(kernel=6) == [f"im{i}_kernel6" for i in range(1, 5)]
    assert levin.scene_ids(image="im4", kernel=8) == ["im4_kernel8"]
    assert [levin.image_of(s) for s in expected] == [
        f"im{i}" for i in range(1, 5) for _ in range(8)
    ]
    assert [levin.kernel_of(s) for s in expected] == list(range(1, 9)) * 4


def test_kernel_tables_match_readme_and_spec():
    assert [levin.KERNEL_SIZE_BOUNDS[j] for j in range(1, 9)] == SPEC_SIZE_BOUNDS
    assert [levin.STORED_KERNEL_SIZES[j] for j in range(1, 9)] == README_KERNEL_SIZES


@pytest.mark.parametrize(
    "bad", ["im5_kernel1", "im1_kernel9", "im1_kernel0", "im1", "", "IM1_kernel1"]
)
def test_unknown_scene_id_lists_the_valid_ones(bad):
    with pytest.raises(ValueError, match="valid ids are") as info:
        levin.kernel_of(bad)
    assert "im1_kernel1" in str(info.value) and "im4_kernel8" in str(info.value)
    with pytest.raises(ValueError, match="im4_kernel8"):
        levin.make_scene(LEVIN_ROOT, bad)


def test_scene_ids_filter_rejects_unknown_category():
    with pytest.raises(ValueError, match="im5"):
        levin.scene_ids(image="im5")
    with pytest.raises(ValueError, match="kernel index"):
        levin.scene_ids(kernel=9)


def test_expected_files_equal_the_checksum_list(root):
    listed = [line.split("  ", 1)[1] for line in (root / "SHA256SUMS").read_text().splitlines()]
    on_disk = sorted(str(p.relative_to(root)) for p in root.rglob("*.png"))
    assert sorted(levin.EXPECTED_FILES) == sorted(listed) == on_disk
    assert len(levin.EXPECTED_FILES) == 4 + 8 + 32


# --------------------------------------------------------------------------- verify


def test_verify_passes_on_the_shared_copy(root):
    levin.verify(root)


def test_verify_names_the_file_and_both_hashes_after_a_byte_flip(tree_copy):
    rel = "blurred/im2_kernel3_img.png"
    path = tree_copy / rel
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    expected = _listed_hash(tree_copy / "SHA256SUMS", rel)
    actual = hashlib.sha256(bytes(data)).hexdigest()
    assert expected != actual
    with pytest.raises(InputFileError) as info:
        levin.verify(tree_copy)
    message = str(info.value)
    assert str(path) in message and expected in message and actual in message
    assert "1 problem" in message  # only the changed file is reported


def test_verify_names_a_missing_file(tree_copy):
    missing = tree_copy / "gt_kernels" / "kernel5.png"
    missing.unlink()
    with pytest.raises(InputFileError, match="not found") as info:
        levin.verify(tree_copy)
    assert str(missing) in str(info.value)


def test_verify_requires_every_expected_file_to_be_listed(tree_copy):
    sums = tree_copy / "SHA256SUMS"
    lines = [ln for ln in sums.read_text().splitlines() if not ln.endswith("gt_images/im3.png")]
    sums.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFileError, match="not listed") as info:
        levin.verify(tree_copy)
    assert str(tree_copy / "gt_images" / "im3.png") in str(info.value)


def test_verify_rejects_malformed_or_missing_checksum_file(tree_copy):
    sums = tree_copy / "SHA256SUMS"
    sums.write_text(sums.read_text() + "not a checksum line\n")
    with pytest.raises(InputFileError, match=r"SHA256SUMS:45"):
        levin.verify(tree_copy)
    sums.write_text(f"{'0' * 64}  ../outside.png\n")
    with pytest.raises(InputFileError, match="leaves the dataset folder"):
        levin.verify(tree_copy)
    sums.unlink()
    with pytest.raises(InputFileError, match="SHA256SUMS: file not found"):
        levin.verify(tree_copy)


# --------------------------------------------------------------------------- scenes


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "L"
        return np.asarray(img)


@pytest.mark.parametrize("scene_id", levin.SCENE_IDS)
def test_scene_matches_the_png_files(root, scene_id):
    i, j = scene_id.removeprefix("im").split("_kernel")
    scene = levin.make_scene(root, scene_id)
    assert isinstance(scene, Scene)
    assert (scene.dataset, scene.id) == ("levin", scene_id)
    assert scene.sharp.shape == scene.blurry.shape == (255, 255, 1)  # gray: one channel
    assert scene.sharp.dtype == scene.blurry.dtype == np.float32
    blurry = _png(root / "blurred" / f"im{i}_kernel{j}_img.png") / 255.0
    sharp = _png(root / "gt_images" / f"im{i}.png") / 255.0
    np.testing.assert_allclose(scene.blurry[..., 0], blurry, rtol=0, atol=1e-7)
    np.testing.assert_allclose(scene.sharp[..., 0], sharp, rtol=0, atol=1e-7)
    raw_kernel = _png(root / "gt_kernels" / f"kernel{j}.png").astype(np.float64)
    side = README_KERNEL_SIZES[int(j) - 1]
    assert scene.kernel.shape == raw_kernel.shape == (side, side)
    assert abs(float(scene.kernel.sum(dtype=np.float64)) - 1.0) < 1e-5
    # Kernels 1, 2, 3, 5, 6, 7 are stored rotated by 180 degrees (test_kernel_conventions).
    expected = raw_kernel / raw_kernel.sum()
    if int(j) in (1, 2, 3, 5, 6, 7):
        expected = expected[::-1, ::-1]
    np.testing.assert_allclose(scene.kernel, expected, rtol=1e-5, atol=1e-8)
    assert scene.depth is None and scene.trajectory is None and scene.intrinsics is None
    attrs = scene.attrs
    assert attrs["image"] == f"im{i}" and attrs["kernel_index"] == int(j)
    assert attrs["kernel_size_bound"] == SPEC_SIZE_BOUNDS[int(j) - 1]
    assert attrs["stored_kernel_size"] == [side, side]
    assert "Levin" in attrs["citation"] and "CVPR 2009" in attrs["citation"]
    assert "licence" in attrs and "rotated by 180 degrees" in attrs["kernel_note"]


def test_scene_record_round_trips(root, tmp_path):
    scene = levin.make_scene(root, "im3_kernel6")
    scene.save(tmp_path / "s.npz")
    loaded = Scene.load(tmp_path / "s.npz")
    assert (loaded.dataset, loaded.id) == ("levin", "im3_kernel6")
    assert loaded.attrs == scene.attrs
    np.testing.assert_array_equal(loaded.blurry, scene.blurry)
    np.testing.assert_array_equal(loaded.kernel, scene.kernel)


def test_missing_or_corrupt_file_names_the_path(tree_copy):
    blurred = tree_copy / "blurred" / "im1_kernel2_img.png"
    blurred.unlink()
    with pytest.raises(InputFileError, match="not found") as info:
        levin.make_scene(tree_copy, "im1_kernel2")
    assert str(blurred) in str(info.value)
    kernel = tree_copy / "gt_kernels" / "kernel3.png"
    kernel.write_bytes(kernel.read_bytes()[:40])
    with pytest.raises(InputFileError) as info:
        levin.make_scene(tree_copy, "im2_kernel3")
    assert str(kernel) in str(info.value)


def test_colour_or_resized_image_is_rejected(tree_copy):
    sharp = tree_copy / "gt_images" / "im1.png"
    rgb = np.zeros((255, 255, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(sharp)
    with pytest.raises(InputFileError, match="grayscale") as info:
        levin.make_scene(tree_copy, "im1_kernel1")
    assert str(sharp) in str(info.value)
    Image.fromarray(np.zeros((200, 255), dtype=np.uint8)).save(sharp)
    with pytest.raises(InputFileError, match="255x255"):
        levin.make_scene(tree_copy, "im1_kernel1")
