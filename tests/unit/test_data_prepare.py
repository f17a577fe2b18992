"""The prepare stage on tiny dataset folders written in tmp_path, and its downscaling.

Every dataset's folder is written here in the layout its reader documents (the Lai,
Kodak and GoPro fixtures and the VirtualCMB/RealCMB writers are those of
test_data_readers.py and test_data_cmb.py). The downscaling is checked against closed
forms: constants, block checkerboards whose box means are known, the intrinsics of a
smaller image written down directly, kernels whose shrunk mass is known.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import test_data_cmb
import test_data_readers
from PIL import Image
from test_data_cmb import DEPTH_MAX, FOCAL_MM, SENSOR_MM, STORED_K, write_realcmb, write_virtualcmb

from inrdeblur.config import ParamsError, dataset_settings
from inrdeblur.data import demo, kodak, lai, levin, prepare, realcmb, registry, virtualcmb
from inrdeblur.data.prepare import (
    PrepareError,
    area_resize,
    fit_max_side,
    nearest_resize,
    resample_kernel,
    scale_intrinsics,
    target_shape,
)
from inrdeblur.records.scene import Scene


def prepare_scene(dataset: str, scene_id: str, settings: dict):
    """:func:`prepare.prepare_scene` of settings validated as the ``prepare`` command does."""
    return prepare.prepare_scene(dataset, scene_id, dataset_settings(dataset, settings))


def prepare_dataset(dataset: str, settings: dict, out_dir: Path, progress: bool = True):
    """:func:`prepare.prepare_dataset` of settings validated as the ``prepare`` command does."""
    return prepare.prepare_dataset(dataset, dataset_settings(dataset, settings), out_dir, progress)


# the reader tests' folder fixtures, reused as they are
lai_tree = test_data_readers.lai_tree  # <tmp>/synthetic_dataset, 25 images x 4 kernels
kodak_tree = test_data_readers.kodak_tree  # <tmp>/kodak, all 24 images at full size
gopro_tree = test_data_readers.gopro_tree  # <tmp>/GOPRO_Large, 4 pairs of 6 x 10 px


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _checkerboard(shape: tuple[int, int], block: int) -> np.ndarray:
    """0/1 checkerboard of ``block`` x ``block`` squares, (H, W) float."""
    rows, cols = np.indices(shape)
    return ((rows // block + cols // block) % 2).astype(np.float64)


# --------------------------------------------------------------------------- Levin folder


def write_levin(root: Path) -> None:
    """A complete Levin folder with SHA256SUMS: every sharp and blurred image a 3-px block
    checkerboard (0 / 255), every kernel a 9 x 9 box (all 255)."""
    board = (255 * _checkerboard(levin.IMAGE_SIZE, 3)).astype(np.uint8)
    for rel in levin.EXPECTED_FILES:
        array = np.full((9, 9), 255, np.uint8) if rel.startswith("gt_kernels/") else board
        _png(root / rel, array)
    lines = [
        f"{hashlib.sha256((root / rel).read_bytes()).hexdigest()}  {rel}"
        for rel in levin.EXPECTED_FILES
    ]
    (root / levin.CHECKSUM_FILE).write_text("\n".join(lines) + "\n")


@pytest.fixture()
def levin_root(tmp_path: Path) -> Path:
    write_levin(tmp_path / "levin")
    return tmp_path / "levin"


# --------------------------------------------------------------------------- CMB folders

#: real names of the VirtualCMB fixture, in sorted order (so index i is the i-th)
VIRTUAL_NAMES = ("City_Trucking_1", "Forest_Standard_3", "Lab_Macro_2")
REAL_NAMES = ("bundle_03", "bundle_07")


@pytest.fixture()
def virtual_root(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "virtualcmb"
    truth = {
        name: write_virtualcmb(root, name, n_poses=5, rot_mode=mode, seed=i)
        for i, (name, mode) in enumerate(zip(VIRTUAL_NAMES, ("xy", "", "xy"), strict=True))
    }
    return root, truth


@pytest.fixture()
def real_root(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "realcmb"
    truth = {
        name: write_realcmb(root, name, n_frames=5, seed=i) for i, name in enumerate(REAL_NAMES)
    }
    return root, truth


# --------------------------------------------------------------------------- every dataset


def _assert_same(prepared: Scene, read: Scene) -> None:
    for key in ("sharp", "blurry", "kernel", "depth", "intrinsics"):
        a, b = getattr(prepared, key), getattr(read, key)
        assert (a is None) == (b is None), key
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=key)


def _assert_capabilities(scene: Scene, dataset: str) -> None:
    """The registry's capability lists say what the reader's scenes really carry."""
    assert (scene.blurry is not None) == (dataset in registry.WITH_BLURRY)
    assert (scene.kernel is not None) == (dataset in registry.WITH_KERNEL)
    has_geometry = all(
        x is not None for x in (scene.depth, scene.trajectory, scene.intrinsics, scene.blurry)
    )
    assert has_geometry == (dataset in registry.WITH_REFERENCE_BLUR)
    assert (scene.depth is not None) == (dataset in registry.WITH_DEPTH)


def test_demo_goes_through_the_registry():
    scene = prepare_scene("demo", "coins", {"size": 32})
    _assert_same(scene, demo.make_scene("coins", size=32))
    assert scene.attrs["categories"] == {"depth_model": "layered"}
    _assert_capabilities(scene, "demo")


def test_one_job_prepares_every_selected_scene_of_a_dataset(tmp_path):
    paths = prepare_dataset(
        "demo", {"size": 32, "scenes": ["coins", "astronaut"]}, tmp_path / "demo", progress=False
    )
    assert paths == [tmp_path / "demo" / "coins.npz", tmp_path / "demo" / "astronaut.npz"]
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["astronaut.npz", "coins.npz"]
    for path in paths:
        _assert_same(Scene.load(path), demo.make_scene(path.stem, size=32))
    with pytest.raises(ValueError, match="'nosuch'"):
        prepare_dataset("demo", {"scenes": ["coins", "nosuch"]}, tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_levin_is_verified_and_read(levin_root):
    scene = prepare_scene("levin", "im2_kernel3", {"root": str(levin_root)})
    _assert_same(scene, levin.make_scene(levin_root, "im2_kernel3"))
    assert scene.attrs["categories"] == {"image": 2, "kernel": 3}
    _assert_capabilities(scene, "levin")
    (levin_root / "blurred" / "im4_kernel8_img.png").unlink()  # verify sees the whole folder
    with pytest.raises(PrepareError, match="failed verification") as err:
        prepare_scene("levin", "im2_kernel3", {"root": str(levin_root)})
    assert "levin scene 'im2_kernel3'" in str(err.value)
    assert str(levin_root / "blurred" / "im4_kernel8_img.png") in str(err.value)
    prepare_scene("levin", "im2_kernel3", {"root": str(levin_root), "verify": False})


def test_lai_reads_the_synthetic_dataset_subfolder(lai_tree):
    folder, _ = lai_tree  # <tmp>/synthetic_dataset, the registry's root for lai
    scene = prepare_scene("lai", "people_03_kernel_02", {"root": str(folder.parent)})
    _assert_same(scene, lai.make_scene(folder, "people_03_kernel_02"))
    assert scene.attrs["categories"] == {"category": "people", "image": 3, "kernel": 2}
    _assert_capabilities(scene, "lai")


def test_kodak_is_read(kodak_tree):
    root, _ = kodak_tree
    scene = prepare_scene("kodak", "kodim05", {"root": str(root)})
    _assert_same(scene, kodak.make_scene(root, "kodim05"))
    assert scene.attrs["categories"] == {"image": 5}
    _assert_capabilities(scene, "kodak")


@pytest.mark.parametrize("blur", ["blur", "blur_gamma"])
def test_gopro_reads_the_chosen_blurry_folder(gopro_tree, blur):
    folder, written = gopro_tree  # <tmp>/GOPRO_Large
    sid = "train.GOPR0372_07_00.000048"
    scene = prepare_scene("gopro", sid, {"root": str(folder.parent), "scenes": [sid], "blur": blur})
    expected = written[f"train/GOPR0372_07_00/{blur}/000048.png"].astype(np.float32) / 255
    np.testing.assert_array_equal(scene.blurry, expected)
    assert scene.attrs["blur_folder"] == blur
    _assert_capabilities(scene, "gopro")


def test_gopro_verify_checks_the_published_pair_counts(gopro_tree):
    folder, _ = gopro_tree
    settings = {"root": str(folder.parent), "verify": True}
    with pytest.raises(PrepareError, match="3 pairs, expected 2103"):
        prepare_scene("gopro", "train.GOPR0372_07_00.000048", settings)


def test_virtualcmb_index_is_the_sorted_name(virtual_root):
    root, truth = virtual_root
    scene = prepare_scene("virtualcmb", "002", {"root": str(root)})
    _assert_same(scene, virtualcmb.make_scene(root, "Lab_Macro_2"))
    np.testing.assert_array_equal(scene.sharp, truth["Lab_Macro_2"]["sharp"] / np.float32(255))
    assert scene.id == "002" and scene.attrs["name"] == "Lab_Macro_2"
    assert scene.attrs["index"] == 2 and scene.attrs["local_scene_count"] == 3
    assert scene.attrs["categories"] == {"index": 2, "motion_group": "parallax+rot", "tag": "Macro"}
    assert "3 scenes, the published set 983" in scene.attrs["index_note"]
    first = prepare_scene("virtualcmb", "000", {"root": str(root)})
    assert first.attrs["categories"]["tag"] == "Trucking"
    middle = prepare_scene("virtualcmb", "001", {"root": str(root)})
    assert middle.attrs["categories"]["motion_group"] == "parallax"  # rotationMode ''
    _assert_capabilities(scene, "virtualcmb")


def test_virtualcmb_record_keeps_the_manifest_id(virtual_root, tmp_path):
    root, _ = virtual_root
    prepare_scene("virtualcmb", "001", {"root": str(root)}).save(tmp_path / "001.npz")
    again = Scene.load(tmp_path / "001.npz")
    assert again.id == "001" and again.attrs["name"] == "Forest_Standard_3"


def test_realcmb_index_and_intrinsics_size(real_root):
    root, truth = real_root
    scene = prepare_scene("realcmb", "01", {"root": str(root)})
    _assert_same(scene, realcmb.make_scene(root, "bundle_07"))
    assert scene.id == "01" and scene.attrs["name"] == "bundle_07"
    assert scene.attrs["categories"] == {"index": 1}
    raw = prepare_scene("realcmb", "00", {"root": str(root), "intrinsics_size": None})
    np.testing.assert_array_equal(raw.intrinsics, STORED_K)
    np.testing.assert_array_equal(raw.sharp, truth["bundle_03"]["sharp"] / np.float32(255))
    _assert_capabilities(scene, "realcmb")


def test_repair_depth_reaches_the_reader(real_root):
    root, _ = real_root
    depth = np.full((test_data_cmb.RH, test_data_cmb.RW), 2.0, np.float32)
    depth[0, 0] = np.nan
    write_realcmb(root, "bundle_03", n_frames=5, depth=depth)
    with pytest.raises(PrepareError, match="realcmb scene '00'.*1 NaN"):
        prepare_scene("realcmb", "00", {"root": str(root)})
    scene = prepare_scene("realcmb", "00", {"root": str(root), "repair_depth": True})
    assert scene.attrs["depth_repaired_pixels"] == 1 and scene.depth[0, 0] == 3.0


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("dataset", "scene_id", "message"),
    [
        ("levin", "im5_kernel1", "unknown levin scene 'im5_kernel1'"),
        ("kodak", "kodim25", "unknown kodak scene 'kodim25'"),
        ("virtualcmb", "983", "unknown virtualcmb scene '983'"),
        ("realcmb", "7", "unknown realcmb scene '7'"),
        ("gopro", "train/GOPR0372_07_00/000047", "is not '<split>.<sequence>.<frame>'"),
        ("demo", "lena", "unknown demo scene 'lena'"),
    ],
)
def test_unknown_scene_id_is_a_value_error(dataset, scene_id, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        prepare_scene(dataset, scene_id, {"root": str(tmp_path)} if dataset != "demo" else {})


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*levin, lai, kodak"):
        prepare.prepare_scene("imagenet", "x", {})


def test_index_beyond_the_local_copy_names_the_folder(virtual_root, real_root):
    root, _ = virtual_root
    with pytest.raises(PrepareError) as err:
        prepare_scene("virtualcmb", "005", {"root": str(root)})
    message = str(err.value)
    assert "virtualcmb scene '005': index 5 is beyond the local copy" in message
    assert f"has 3 scene(s) in {root / 'param_logs'}" in message
    root, _ = real_root
    with pytest.raises(PrepareError, match=r"index 57 .* has 2 scene\(s\) in .*blurry"):
        prepare_scene("realcmb", "57", {"root": str(root)})


@pytest.mark.parametrize("dataset", ["levin", "lai", "kodak", "gopro", "virtualcmb", "realcmb"])
def test_missing_root_names_the_path(dataset, tmp_path):
    scene_id = {"gopro": "train.GOPR0372_07_00.000047", "virtualcmb": "000", "realcmb": "00"}
    sid = scene_id.get(dataset) or registry.known_scene_ids(dataset)[0]
    missing = tmp_path / "nowhere"
    with pytest.raises(PrepareError, match="dataset folder .* not found") as err:
        prepare_scene(dataset, sid, {"root": str(missing)})
    expected = missing / registry.entry(dataset)["root"]  # lai and gopro read a subfolder
    assert f"{dataset} scene {sid!r}: dataset folder {expected} not found" in str(err.value)
    assert f"datasets.{dataset}.root" in str(err.value)


def test_reader_errors_name_dataset_id_and_file(kodak_tree):
    root, _ = kodak_tree
    (root / "kodim02.png").unlink()
    with pytest.raises(PrepareError) as err:
        prepare_scene("kodak", "kodim02", {"root": str(root), "verify": False})
    assert str(err.value).startswith("kodak scene 'kodim02': ")
    assert f"{root / 'kodim02.png'}: file not found" in str(err.value)


def test_bad_settings_name_the_key(tmp_path):
    with pytest.raises(ParamsError) as err:
        prepare_scene("gopro", "a.b.c", {"root": str(tmp_path), "blur": "linear", "max_side": 8})
    assert err.value.problems == [
        "datasets.gopro.blur: 'linear' is not one of 'blur', 'blur_gamma'",
        "datasets.gopro.max_side: 8 is less than the minimum of 16",
    ]


# --------------------------------------------------------------------------- downscaling


def test_target_shape_keeps_the_aspect_and_leaves_small_images_alone():
    assert target_shape((720, 1280), 512) == (288, 512)
    assert target_shape((1280, 720), 512) == (512, 288)
    assert target_shape((255, 255), 85) == (85, 85)
    assert target_shape((100, 60), 100) == (100, 60)
    assert target_shape((20, 300), 16) == (1, 16)


def test_area_resize_keeps_a_constant_at_any_factor():
    image = np.full((37, 53, 3), 0.3)
    out = area_resize(image, (11, 16))
    assert out.shape == (11, 16, 3)
    np.testing.assert_allclose(out, 0.3, rtol=1e-6)


def test_area_resize_of_checkerboards():
    # 1-px squares halved: every output pixel averages two black and two white pixels
    np.testing.assert_allclose(area_resize(_checkerboard((32, 32), 1), (16, 16)), 0.5)
    # 4-px squares quartered: exactly the 1-px checkerboard
    np.testing.assert_array_equal(
        area_resize(_checkerboard((32, 48), 4), (8, 12)), _checkerboard((8, 12), 1)
    )
    # 3 -> 2 samples: pixel 0 covers [0, 1.5) = a + b/2, pixel 1 covers [1.5, 3) = b/2 + c
    a, b, c = 0.2, 0.6, 1.0
    out = area_resize(np.array([[a, b, c]]), (1, 2))
    np.testing.assert_allclose(out[0], [(a + b / 2) / 1.5, (b / 2 + c) / 1.5], rtol=1e-6)


def test_nearest_resize_takes_the_pixel_under_each_centre():
    depth = np.arange(5 * 7, dtype=np.float64).reshape(5, 7)
    out = nearest_resize(depth, (2, 3))
    # rows floor((i + 0.5) * 5 / 2) = 1, 3; columns floor((j + 0.5) * 7 / 3) = 1, 3, 5
    np.testing.assert_array_equal(out, depth[np.ix_([1, 3], [1, 3, 5])])


def test_intrinsics_keep_the_image_centre_in_either_convention():
    k = np.array([[800.0, 0.0, 20.0], [0.0, 810.0, 15.0], [0.0, 0.0, 1.0]])
    # corner convention: a 40 x 30 (W x H) image centred at (20, 15) -> 10 x 6 at (5, 3)
    out = scale_intrinsics(k, 6 / 30, 10 / 40)
    np.testing.assert_allclose(out, [[200.0, 0, 5.0], [0, 162.0, 3.0], [0, 0, 1]])
    # centre convention: centre (19.5, 14.5) of 40 x 30 -> (4.5, 2.5) of 10 x 6
    centred = k.copy()
    centred[:2, 2] = [19.5, 14.5]
    out = scale_intrinsics(centred, 6 / 30, 10 / 40, convention="centre")
    np.testing.assert_allclose(out, [[200.0, 0, 4.5], [0, 162.0, 2.5], [0, 0, 1]])
    with pytest.raises(ValueError, match="pixel convention"):
        scale_intrinsics(k, 0.5, 0.5, convention="middle")


def test_resample_kernel_closed_forms():
    # a 9 x 9 box shrunk 3 times is a 3 x 3 box
    box = np.full((9, 9), 1 / 81)
    np.testing.assert_allclose(
        resample_kernel(box, 1 / 3, 1 / 3), np.full((3, 3), 1 / 9), atol=1e-7
    )
    # an even 4-px box halved spans [-1, 1]: 1/4 of its mass on each side pixel
    out = resample_kernel(np.full((1, 4), 0.25), 1.0, 0.5)
    np.testing.assert_allclose(out, [[0.25, 0.5, 0.25]], atol=1e-7)
    # a centred delta stays a centred delta; scale 1 changes nothing
    delta = np.zeros((5, 7))
    delta[2, 3] = 1.0
    shrunk = resample_kernel(delta, 0.5, 0.5)
    assert shrunk.shape == (3, 5) and shrunk[1, 2] == 1.0 and shrunk.sum() == 1.0
    rng = np.random.default_rng(0)
    kernel = rng.uniform(size=(7, 5))
    kernel /= kernel.sum()
    np.testing.assert_allclose(resample_kernel(kernel, 1.0, 1.0), kernel, atol=1e-7)


@pytest.mark.parametrize("scale", [0.13, 0.29, 0.5, 0.71])
def test_resampled_kernels_are_odd_and_sum_to_one(scale):
    rng = np.random.default_rng(1)
    for shape in [(19, 19), (27, 27), (4, 6), (75, 51)]:
        out = resample_kernel(rng.uniform(size=shape), scale, scale)
        assert out.shape[0] % 2 == 1 and out.shape[1] % 2 == 1
        assert out.shape[0] >= round(shape[0] * scale) and out.min() >= 0
        assert abs(float(out.sum(dtype=np.float64)) - 1.0) < 1e-6


def test_a_scene_that_fits_is_not_touched():
    scene = demo.make_scene("camera", size=32)
    assert fit_max_side(scene, 32) is scene
    assert "resize" not in prepare_scene("demo", "camera", {"size": 32}).attrs


def test_levin_downscaled_by_three(levin_root):
    """255 px checkerboards of 3-px squares and 9 x 9 boxes, shrunk to 85 px: exactly the
    1-px checkerboard and 3 x 3 boxes."""
    scene = prepare_scene("levin", "im1_kernel1", {"root": str(levin_root), "max_side": 85})
    board = _checkerboard((85, 85), 1)[..., None]
    np.testing.assert_allclose(scene.sharp, board, atol=1e-6)
    np.testing.assert_allclose(scene.blurry, board, atol=1e-6)
    np.testing.assert_allclose(scene.kernel, np.full((3, 3), 1 / 9), atol=1e-7)
    resize = scene.attrs["resize"]
    assert resize["original_shape"] == [255, 255] and resize["shape"] == [85, 85]
    assert resize["original_kernel_shape"] == [9, 9] and "approximately" in resize["kernel_note"]


def test_virtualcmb_downscaled_by_two(tmp_path, monkeypatch):
    monkeypatch.setattr(test_data_cmb, "H", 24)
    monkeypatch.setattr(test_data_cmb, "W", 32)
    truth = write_virtualcmb(tmp_path, "Forest_Standard_3", n_poses=5)
    full = virtualcmb.make_scene(tmp_path, "Forest_Standard_3")
    scene = prepare_scene("virtualcmb", "000", {"root": str(tmp_path), "max_side": 16})
    assert scene.shape == (12, 16)
    # K of a 16 x 12 image from the same sensor: fx = f W / s_x, centre (W/2, H/2)
    fx, fy = FOCAL_MM * 16 / SENSOR_MM[0], FOCAL_MM * 12 / SENSOR_MM[1]
    np.testing.assert_allclose(scene.intrinsics, [[fx, 0, 8], [0, fy, 6], [0, 0, 1]], rtol=1e-12)
    # depth: the source pixel under each centre, (2i + 1, 2j + 1); sky stays sky
    expected = truth["expected_depth"][1::2, 1::2]
    tol = DEPTH_MAX / 255**3 + expected * 2.0**-24
    assert np.all(np.abs(scene.depth - expected) <= tol)
    # images: means of 2 x 2 blocks of the 8-bit levels
    blocks = truth["sharp"].astype(np.float64).reshape(12, 2, 16, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(scene.sharp, blocks / 255, atol=1e-6)
    np.testing.assert_array_equal(scene.trajectory.as_array(), full.trajectory.as_array())
    assert scene.attrs["resize"]["scale"] == [0.5, 0.5]


def test_realcmb_downscaled_by_two(tmp_path, monkeypatch):
    monkeypatch.setattr(test_data_cmb, "RH", 32)
    monkeypatch.setattr(test_data_cmb, "RW", 24)
    write_realcmb(tmp_path, "bundle_07", n_frames=5)
    scene = prepare_scene("realcmb", "00", {"root": str(tmp_path), "max_side": 16})
    assert scene.shape == (16, 12)
    # the stored landscape K rotated to portrait and scaled straight to 12 x 16 (W x H)
    s = 12 / 1440
    fx, fy, cx, cy = 1500.0, 1502.0, 958.5, 721.2
    expected = [[fy * s, 0, (1440 - cy) * s], [0, fx * s, cx * s], [0, 0, 1]]
    np.testing.assert_allclose(scene.intrinsics, expected, rtol=1e-12)


def test_the_prepare_command_validates_the_section_and_names_the_key(tmp_path, capsys):
    from inrdeblur.cli import main

    bad = '{"size": 8, "scenez": "all"}'
    assert (
        main(["prepare", "--dataset", "demo", "--settings", bad, "--out-dir", str(tmp_path / "d")])
        == 2
    )
    err = capsys.readouterr().err
    assert "datasets.demo.scenez: unknown key" in err and "datasets.demo.size: 8" in err
    assert not (tmp_path / "d").exists()
    good = '{"size": 32, "scenes": ["coins"]}'
    assert (
        main(["prepare", "--dataset", "demo", "--settings", good, "--out-dir", str(tmp_path / "d")])
        == 0
    )
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["coins.npz"]


def test_max_side_scales_the_blind_kernel_bound_with_the_kernel():
    """Levin's 27 px bound of kernel 4, on the real files halved to 128 px: the smallest
    odd side holding 27 x 128/255 (= 13.6) is 15, and it still holds the downscaled true
    kernel; the paper's bound is kept in attrs["resize"]."""
    from support import LEVIN_DIR

    if not (LEVIN_DIR / "SHA256SUMS").is_file():
        pytest.skip(f"the shared Levin copy is not at {LEVIN_DIR}")
    scene = prepare_scene("levin", "im1_kernel4", {"root": str(LEVIN_DIR), "max_side": 128})
    assert max(scene.shape) == 128
    assert scene.attrs["kernel_size_bound"] == 15
    assert scene.attrs["resize"]["original_kernel_size_bound"] == 27
    assert max(scene.kernel.shape) <= 15
