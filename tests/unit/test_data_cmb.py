"""Tests for the VirtualCMB and RealCMB readers (inrdeblur.data.virtualcmb / .realcmb).

Every fixture is written byte for byte in the dataset's own format inside ``tmp_path``:
Unity-packed RGBA depth PNGs, one JSON camera log per sample nested in sub-folders,
param logs, and HNDR-style ``bundle_info`` npz files (pickled object arrays). The poses
are generated from a known trajectory in this project's convention (translation in
metres, extrinsic x-y-z angles in degrees, rotation matrices built here by explicit
products and cross-checked with scipy), so the reader must give back the same numbers.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from inrdeblur.blur.trajectory import reference_pose_index
from inrdeblur.data import realcmb, virtualcmb
from inrdeblur.fileio import InputFileError
from inrdeblur.records.scene import Scene

# --------------------------------------------------------------------------- geometry helpers


def rx(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def ry(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def rz(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def rigid(rotation: np.ndarray, translation) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = translation
    return m


def rigid_inverse(m: np.ndarray) -> np.ndarray:
    return rigid(m[:3, :3].T, -m[:3, :3].T @ m[:3, 3])


def known_trajectory(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) m and (N, 3) deg, zero at the reference pose N//2+1, all six axes moving."""
    k = np.arange(n, dtype=np.float64)[:, None]
    trans = np.array([1.5e-3, -0.8e-3, 0.4e-3]) * np.sin(0.7 * k + np.array([0.0, 1.0, 2.0]))
    rot = np.array([0.4, -0.3, 0.6]) * np.cos(0.5 * k + np.array([0.3, 1.1, 2.2]))
    ref = reference_pose_index(n)
    return trans - trans[ref], rot - rot[ref]


def pose_matrix(t: np.ndarray, r_deg: np.ndarray) -> np.ndarray:
    """``X_k = R X_ref + t`` with R the extrinsic x-y-z rotation: Rz @ Ry @ Rx."""
    return rigid(rz(r_deg[2]) @ ry(r_deg[1]) @ rx(r_deg[0]), t)


# --------------------------------------------------------------------------- VirtualCMB fixtures

H, W = 6, 8
DEPTH_MIN, DEPTH_MAX = 0.3, 20.0
FOCAL_MM, SENSOR_MM = 2.8, (5.6, 3.2332)
# the reference camera-set pose in the (Unity) world: any rigid transform
CAM_SET_TO_WORLD_REF = rigid(ry(30.0) @ rx(-10.0) @ rz(5.0), [2.0, 1.5, -4.0])


def unity_matrix(m: np.ndarray) -> dict[str, float]:
    return {f"e{r}{c}": float(m[r, c]) for r in range(4) for c in range(4)}


def camera_log(cam_set_to_world: np.ndarray, depth_range=(DEPTH_MIN, DEPTH_MAX)) -> dict:
    world_to_cam_set = rigid_inverse(cam_set_to_world)
    return {
        "cameraPos": {
            "pos": dict(zip("xyz", cam_set_to_world[:3, 3].tolist(), strict=True)),
            "eulerAngles": {"x": 0.0, "y": 30.0, "z": 0.0},
        },
        "cameraIntrinsics": {
            "focalLength": FOCAL_MM,
            "sensorSize": {"x": SENSOR_MM[0], "y": SENSOR_MM[1]},
            "imageSize": {"x": W, "y": H},
            "projectionMatrix": unity_matrix(np.eye(4)),
            "worldToCameraMatrix": unity_matrix(np.diag([1.0, 1.0, -1.0, 1.0]) @ world_to_cam_set),
            "cameraToWorldMatrix": unity_matrix(cam_set_to_world @ np.diag([1.0, 1.0, -1.0, 1.0])),
        },
        "depthRange": {"min": depth_range[0], "max": depth_range[1]},
        "camSetToWorldMatrix": unity_matrix(cam_set_to_world),
        "worldToCamSetMatrix": unity_matrix(world_to_cam_set),
    }


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def known_depth(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Depth to encode (0 = sky) and the depth the reader must return (sky = 1.5 max)."""
    depth = rng.uniform(0.5, 0.999 * DEPTH_MAX, size=(H, W))
    depth[0, 0] = 0.0  # encoded as zero bytes: sky
    depth[1, 2] = 0.2  # below depthRange.min: sky
    expected = depth.copy()
    expected[0, 0] = expected[1, 2] = 1.5 * DEPTH_MAX
    return depth, expected


def write_virtualcmb(
    root: Path,
    scene_id: str,
    n_poses: int = 13,
    rot_mode: str = "xy",
    seed: int = 0,
) -> dict:
    """A VirtualCMB scene; camera logs under ``part_a`` (k < 6) and ``part_b`` (k >= 6)."""
    rng = np.random.default_rng(seed)
    trans, rot = known_trajectory(n_poses)
    folder = root / "camera_logs" / scene_id
    for k in range(n_poses):
        cam_set_to_world = CAM_SET_TO_WORLD_REF @ rigid_inverse(pose_matrix(trans[k], rot[k]))
        sub = folder / ("part_a" if k < 6 else "part_b")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"camera_logs_{k}.txt").write_text(json.dumps(camera_log(cam_set_to_world)))
    depth, expected_depth = known_depth(rng)
    write_png(
        root / "depth_ref" / f"{scene_id}.png", virtualcmb.encode_unity_depth(depth, DEPTH_MAX)
    )
    sharp = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    blurry = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    write_png(root / "sharp_ref" / f"{scene_id}.png", sharp)
    write_png(root / "blurry" / f"{scene_id}.png", blurry)
    params = {"sceneName": "Assets/Scenes/Forest.unity", "traslationMode": "xy"}
    params["rotationMode"] = rot_mode
    (root / "param_logs").mkdir(parents=True, exist_ok=True)
    (root / "param_logs" / f"{scene_id}.txt").write_text(json.dumps(params))
    return {
        "trans": trans,
        "rot": rot,
        "depth": depth,
        "expected_depth": expected_depth,
        "sharp": sharp,
        "blurry": blurry,
    }


VIRTUAL_ID = "Forest_Standard_3"


@pytest.fixture()
def virtual_root(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "VirtualCMB"
    return root, write_virtualcmb(root, VIRTUAL_ID)


# --------------------------------------------------------------------------- rotations


@pytest.mark.parametrize("angles", [(12.0, -7.0, 25.0), (-0.3, 0.2, 0.1), (80.0, 45.0, -120.0)])
def test_euler_decompositions_invert_explicit_products(angles):
    a, b, c = angles
    # reference order: R = Rz(a) Rx(b) Ry(c), returned as (rz, rx, ry)
    got = np.rad2deg(virtualcmb.euler_rzxy(rz(a) @ rx(b) @ ry(c)))
    np.testing.assert_allclose(got, [a, b, c], atol=1e-10)
    # project order: R = Rz(c) Ry(b) Rx(a), returned as (rx, ry, rz)
    got = np.rad2deg(virtualcmb.euler_xyz(rz(c) @ ry(b) @ rx(a)))
    np.testing.assert_allclose(got, [a, b, c], atol=1e-10)
    np.testing.assert_allclose(
        virtualcmb.rotation_rzxy(*np.deg2rad([a, b, c])), rz(a) @ rx(b) @ ry(c), atol=1e-15
    )


def test_euler_conventions_agree_with_scipy():
    for matrix in Rotation.random(20, random_state=5).as_matrix():
        zxy = Rotation.from_matrix(matrix).as_euler("ZXY")  # intrinsic z-x'-y'' = Rz Rx Ry
        np.testing.assert_allclose(virtualcmb.euler_rzxy(matrix), zxy, atol=1e-9)
        xyz = Rotation.from_matrix(matrix).as_euler("xyz")  # extrinsic = Rz Ry Rx
        np.testing.assert_allclose(virtualcmb.euler_xyz(matrix), xyz, atol=1e-9)


def test_reference_and_project_angles_differ_only_at_second_order():
    # one axis at a time: identical
    for axis in range(3):
        r = np.zeros(3)
        r[axis] = 0.7
        m = rigid(Rotation.from_euler("xyz", r, degrees=True).as_matrix(), [0, 0, 0])
        np.testing.assert_allclose(virtualcmb.reference_angles_deg(m), r, atol=1e-12)
    # R = Ry Rx is not of the form Rz Rx Ry. Matching rotation vectors to second order
    # (BCH): r_x, r_y agree up to third order, the reference's r_z is -r_x r_y (radians).
    r = np.array([1.0, 1.0, 0.0])
    m = rigid(Rotation.from_euler("xyz", r, degrees=True).as_matrix(), [0, 0, 0])
    diff = virtualcmb.reference_angles_deg(m) - r
    second = math.degrees(math.radians(1.0) ** 2)
    assert np.abs(diff[:2]).max() < 0.02 * second
    assert diff[2] == pytest.approx(-second, rel=0.02)


def test_decompose_rigid_rejects_scaled_and_reflected_matrices():
    good = rigid(rz(10.0), [1, 2, 3])
    t, r = virtualcmb.decompose_rigid(good, "m")
    np.testing.assert_allclose(t, [1, 2, 3])
    np.testing.assert_allclose(r, rz(10.0), atol=1e-15)
    scaled = good.copy()
    scaled[:3, :3] *= 1.01
    with pytest.raises(InputFileError, match="logs/x.txt: not a rigid transform"):
        virtualcmb.decompose_rigid(scaled, "logs/x.txt")
    with pytest.raises(InputFileError, match="not a rigid transform"):
        virtualcmb.decompose_rigid(np.diag([1.0, 1.0, -1.0, 1.0]), "m")


# --------------------------------------------------------------------------- Unity depth


def test_unity_encoding_of_a_hand_computed_value():
    digits = np.array([10, 20, 30, 100])
    v = float(np.sum(digits / 255.0 ** np.arange(1, 5)))
    rgba = virtualcmb.encode_unity_depth(np.array([[v * DEPTH_MAX]]), DEPTH_MAX)
    assert rgba.tolist() == [[[10, 20, 30, 100]]]
    # the decoder ignores the stored alpha and uses 255 (the reference's RGB2RGBA)
    expected = DEPTH_MAX * (10 + 20 / 255 + 30 / 255**2 + 255 / 255**3) / 255
    got = virtualcmb.decode_unity_depth(rgba, DEPTH_MIN, DEPTH_MAX)
    assert got[0, 0] == pytest.approx(expected, rel=1e-15)


def test_unity_depth_round_trip_error_is_within_the_dropped_alpha_digit():
    """Bytes hold the base-255 digits of v = D / max; dropping the 4th (alpha forced to 255)
    leaves 0 <= D_decoded - D <= max / 255^3."""
    rng = np.random.default_rng(1)
    depth = rng.uniform(DEPTH_MIN, 0.9999 * DEPTH_MAX, size=(50, 40))
    rgba = virtualcmb.encode_unity_depth(depth, DEPTH_MAX)
    decoded = virtualcmb.decode_unity_depth(rgba, DEPTH_MIN, DEPTH_MAX)
    err = decoded - depth
    assert err.min() >= -1e-12 * DEPTH_MAX
    assert err.max() <= DEPTH_MAX / 255**3 * (1 + 1e-9)
    # alpha is ignored: any stored alpha decodes the same
    rgba[..., 3] = rng.integers(0, 256, size=rgba.shape[:2])
    np.testing.assert_array_equal(
        virtualcmb.decode_unity_depth(rgba, DEPTH_MIN, DEPTH_MAX), decoded
    )
    # and an RGB (no alpha) map too
    np.testing.assert_array_equal(
        virtualcmb.decode_unity_depth(rgba[..., :3], DEPTH_MIN, DEPTH_MAX), decoded
    )


def test_unity_encoder_rejects_depth_outside_its_range():
    with pytest.raises(ValueError, match=r"\[0, depth_max\)"):
        virtualcmb.encode_unity_depth(np.array([[DEPTH_MAX]]), DEPTH_MAX)
    with pytest.raises(ValueError):
        virtualcmb.encode_unity_depth(np.array([[np.nan]]), DEPTH_MAX)


# --------------------------------------------------------------------------- camera logs


def test_camera_logs_sort_by_digits_not_by_name(virtual_root):
    root, _ = virtual_root
    folder = root / "camera_logs" / VIRTUAL_ID
    paths = virtualcmb.camera_log_paths(folder)
    assert [p.name for p in paths] == [f"camera_logs_{k}.txt" for k in range(13)]
    by_name = sorted(str(p) for p in folder.rglob("camera_logs_*.txt"))
    assert [Path(p).name for p in by_name] != [p.name for p in paths]  # the fixture matters
    # the reference's own expression on the full paths gives the same order here
    reference = sorted(by_name, key=lambda f: int("".join(filter(str.isdigit, f))))
    assert [Path(p) for p in reference] == paths


def test_known_trajectory_is_recovered(virtual_root):
    root, truth = virtual_root
    traj = virtualcmb.read_trajectory(root / "camera_logs" / VIRTUAL_ID, "Standard")
    assert traj.n_poses == 13 and traj.reference_index == 7  # 13 // 2 + 1
    np.testing.assert_allclose(traj.translation, truth["trans"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(traj.rotation, truth["rot"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(traj.timestamps, np.arange(13) / 500.0, rtol=0, atol=1e-15)
    # the rotation matrices of the project's convention are the logged relative rotations
    logs = virtualcmb.read_camera_logs(root / "camera_logs" / VIRTUAL_ID)
    relative = virtualcmb.relative_transforms(logs)
    np.testing.assert_allclose(traj.rotation_matrices(), relative[:, :3, :3], atol=1e-12)


def test_trucking_samples_at_2000_hz(tmp_path):
    write_virtualcmb(tmp_path, "Road_Trucking_1", n_poses=4)
    traj = virtualcmb.read_trajectory(tmp_path / "camera_logs" / "Road_Trucking_1", "Trucking")
    np.testing.assert_allclose(traj.timestamps, [0, 0.0005, 0.001, 0.0015])
    assert traj.reference_index == 3


def test_intrinsics_closed_form(virtual_root):
    root, _ = virtual_root
    log = virtualcmb.read_camera_log(root / "camera_logs" / VIRTUAL_ID / "part_a/camera_logs_0.txt")
    # fx = f W / sensor_x, fy = f H / sensor_y, principal point at (W/2, H/2)
    expected = np.array(
        [
            [FOCAL_MM * W / SENSOR_MM[0], 0, W / 2],
            [0, FOCAL_MM * H / SENSOR_MM[1], H / 2],
            [0, 0, 1],
        ]
    )
    np.testing.assert_allclose(log.intrinsics(), expected, rtol=1e-13)
    assert log.depth_min == DEPTH_MIN and log.depth_max == DEPTH_MAX


def test_fewer_than_two_samples_is_an_error_naming_the_folder(tmp_path):
    folder = tmp_path / "camera_logs" / "x_Macro_1" / "a"
    folder.mkdir(parents=True)
    (folder / "camera_logs_0.txt").write_text(json.dumps(camera_log(np.eye(4))))
    with pytest.raises(InputFileError, match=r"x_Macro_1: needs at least 2.*found 1"):
        virtualcmb.read_trajectory(tmp_path / "camera_logs" / "x_Macro_1", "Macro")


def test_camera_log_missing_key_names_file_and_key(tmp_path):
    log = camera_log(np.eye(4))
    del log["cameraIntrinsics"]["sensorSize"]["y"]
    path = tmp_path / "camera_logs_0.txt"
    path.write_text(json.dumps(log))
    with pytest.raises(InputFileError, match=r"camera_logs_0.txt: missing key 'cameraIntrinsics"):
        virtualcmb.read_camera_log(path)


# --------------------------------------------------------------------------- param logs, ids


def test_param_log_tag_and_motion_group(virtual_root):
    root, _ = virtual_root
    params = virtualcmb.read_param_log(root / "param_logs" / f"{VIRTUAL_ID}.txt")
    assert (params.scene, params.trans_mode, params.rot_mode) == ("Forest.unity", "xy", "xy")
    assert [virtualcmb.tag_of(n) for n in ("a_Macro_1", "b_Trucking_2", "Standard_x", "Macro")] == [
        "Macro",
        "Trucking",
        "Standard",
        None,
    ]
    groups = [("xy", ""), ("xy", "xy"), ("xyz", "xyz"), ("xyz", ""), ("xy", "xyz")]
    assert [virtualcmb.motion_group(*g) for g in groups] == [
        "parallax",
        "parallax+rot",
        "6d",
        None,
        None,
    ]
    assert virtualcmb.categories(root, VIRTUAL_ID) == {
        "scene": "Forest.unity",
        "trans_mode": "xy",
        "rot_mode": "xy",
        "motion_group": "parallax+rot",
        "tag": "Standard",
    }


def test_list_ids_sorted_by_param_log_name(tmp_path):
    folder = tmp_path / "param_logs"
    folder.mkdir()
    for name in ("b_Macro_10", "b_Macro_9", "a_Standard_2"):
        (folder / f"{name}.txt").write_text("{}")
    assert virtualcmb.list_ids(tmp_path) == ["a_Standard_2", "b_Macro_10", "b_Macro_9"]
    with pytest.raises(InputFileError, match="param_logs: param log folder not found"):
        virtualcmb.list_ids(tmp_path / "nowhere")


# --------------------------------------------------------------------------- VirtualCMB scenes


def test_make_scene_reads_everything(virtual_root):
    root, truth = virtual_root
    scene = virtualcmb.make_scene(root, VIRTUAL_ID)
    assert scene.dataset == "virtualcmb" and scene.id == VIRTUAL_ID
    np.testing.assert_array_equal(scene.sharp, truth["sharp"].astype(np.float32) / 255)
    np.testing.assert_array_equal(scene.blurry, truth["blurry"].astype(np.float32) / 255)
    # depth tolerance: the dropped alpha digit (max / 255^3) plus float32 rounding
    expected = truth["expected_depth"]
    tol = DEPTH_MAX / 255**3 + expected * 2.0**-24
    assert np.all(np.abs(scene.depth - expected) <= tol)
    assert scene.depth[0, 0] == scene.depth[1, 2] == np.float32(1.5 * DEPTH_MAX)
    np.testing.assert_allclose(scene.trajectory.rotation, truth["rot"], atol=1e-9)
    assert scene.intrinsics[0, 0] == pytest.approx(FOCAL_MM * W / SENSOR_MM[0])
    attrs = scene.attrs
    assert attrs["motion_group"] == "parallax+rot" and attrs["tag"] == "Standard"
    assert (attrs["trans_mode"], attrs["rot_mode"], attrs["scene"]) == ("xy", "xy", "Forest.unity")
    assert attrs["sky_pixels"] == 2 and attrs["depth_repaired_pixels"] == 0
    assert attrs["sampling_hz"] == 500.0 and attrs["depth_range"] == [DEPTH_MIN, DEPTH_MAX]
    # sub-degree rotations about several axes: the reference's angles differ at 2nd order
    assert 0 < attrs["reference_rxry_max_diff_deg"] < 1e-2
    assert "intrinsics_note" not in attrs


def test_scene_round_trips_through_the_record(virtual_root, tmp_path):
    root, _ = virtual_root
    scene = virtualcmb.make_scene(root, VIRTUAL_ID)
    scene.save(tmp_path / "rec.npz")
    again = Scene.load(tmp_path / "rec.npz")
    np.testing.assert_array_equal(again.depth, scene.depth)
    assert again.attrs["motion_group"] == "parallax+rot"


def test_missing_file_names_its_path(virtual_root):
    root, _ = virtual_root
    missing = root / "blurry" / f"{VIRTUAL_ID}.png"
    missing.unlink()
    with pytest.raises(InputFileError, match=re.escape(f"{missing}: file not found")):
        virtualcmb.make_scene(root, VIRTUAL_ID)
    (root / "param_logs" / f"{VIRTUAL_ID}.txt").unlink()
    with pytest.raises(
        InputFileError, match=re.escape(f"param_logs/{VIRTUAL_ID}.txt: file not found")
    ):
        virtualcmb.make_scene(root, VIRTUAL_ID)


@pytest.mark.parametrize("name", ["sharp_ref", "depth_ref"])
def test_corrupt_png_names_the_file(virtual_root, name):
    root, _ = virtual_root
    path = root / name / f"{VIRTUAL_ID}.png"
    path.write_bytes(path.read_bytes()[:40])  # a truncated PNG
    with pytest.raises(InputFileError, match=re.escape(f"{path}: not a readable image")):
        virtualcmb.make_scene(root, VIRTUAL_ID)


def test_bad_depth_range_in_the_reference_log_is_an_error(tmp_path):
    root = tmp_path / "v"
    write_virtualcmb(root, VIRTUAL_ID)
    ref_log = root / "camera_logs" / VIRTUAL_ID / "part_b" / "camera_logs_7.txt"
    data = json.loads(ref_log.read_text())
    data["depthRange"]["max"] = 0.0
    ref_log.write_text(json.dumps(data))
    with pytest.raises(InputFileError, match=re.escape(f"{ref_log}: depthRange must be")):
        virtualcmb.make_scene(root, VIRTUAL_ID)


def test_check_depth_rejects_or_repairs_with_the_sky_value():
    depth = np.array([[1.0, np.nan], [0.0, -2.0]])
    with pytest.raises(InputFileError, match=r"d.png: .*1 NaN, 0 infinite and 2 <= 0 of 4"):
        virtualcmb.check_depth(depth, "d.png", repair=False, fill_value=30.0)
    fixed, n = virtualcmb.check_depth(depth, "d.png", repair=True, fill_value=30.0)
    assert n == 3 and fixed.tolist() == [[1.0, 30.0], [30.0, 30.0]]


def test_scene_id_must_be_a_plain_name(virtual_root):
    root, _ = virtual_root
    with pytest.raises(ValueError, match="invalid scene id"):
        virtualcmb.make_scene(root, "../etc")


# --------------------------------------------------------------------------- RealCMB fixtures

RH, RW = 8, 6  # portrait, like HNDR's 256x192 frames
STORED_K = np.array([[1500.0, 0.0, 958.5], [0.0, 1502.0, 721.2], [0.0, 0.0, 1.0]])
S = np.diag([1.0, 1.0, -1.0, 1.0])
WORLD_TO_CAMERA_REF = rigid(rx(20.0) @ ry(-35.0) @ rz(3.0), [0.3, -1.2, 0.8])


def write_realcmb(
    root: Path, scene_id: str, n_frames: int = 9, dtype=np.float64, depth=None, seed: int = 2
) -> dict:
    rng = np.random.default_rng(seed)
    trans, rot = known_trajectory(n_frames)
    frames = []
    for k in range(n_frames):
        f_arkit = S @ pose_matrix(trans[k], rot[k]) @ S  # project axes -> ARKit (z backward)
        frames.append(
            {
                "timestamp": 12.0 + k / 60.0,
                "euler_angles": np.zeros(3, dtype=np.float32),
                "world_pose": np.eye(4, dtype=dtype),
                "intrinsics": STORED_K.astype(dtype),
                "world_to_camera": (f_arkit @ WORLD_TO_CAMERA_REF).astype(dtype),
            }
        )
    (root / "bundle_info").mkdir(parents=True, exist_ok=True)
    np.savez(root / "bundle_info" / f"{scene_id}.npz", bundle_info=np.array(frames, dtype=object))
    if depth is None:
        depth = rng.uniform(0.4, 3.0, size=(RH, RW)).astype(np.float32)
    (root / "depth_ref").mkdir(parents=True, exist_ok=True)
    np.savez(root / "depth_ref" / f"{scene_id}.npz", depth_ref=depth)
    sharp = rng.integers(0, 256, size=(RH, RW, 3), dtype=np.uint8)
    write_png(root / "sharp_ref" / f"{scene_id}.png", sharp)
    write_png(root / "blurry" / f"{scene_id}.png", sharp[::-1].copy())
    return {"trans": trans, "rot": rot, "depth": depth, "sharp": sharp}


REAL_ID = "bundle_07"


def test_realcmb_known_trajectory_is_recovered(tmp_path):
    truth = write_realcmb(tmp_path, REAL_ID)
    scene = realcmb.make_scene(tmp_path, REAL_ID)
    traj = scene.trajectory
    assert traj.reference_index == 5  # 9 // 2 + 1
    np.testing.assert_allclose(traj.translation, truth["trans"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(traj.rotation, truth["rot"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(traj.timestamps, np.arange(9) / 60.0, atol=1e-12)
    np.testing.assert_array_equal(scene.depth, truth["depth"])
    np.testing.assert_array_equal(scene.sharp, truth["sharp"].astype(np.float32) / 255)
    assert scene.attrs["n_frames"] == 9 and scene.attrs["depth_repaired_pixels"] == 0


def test_realcmb_agrees_with_the_reference_on_the_axes_icb_uses(tmp_path):
    """rzxy(S R S) = (r_z, -r_x, -r_y): the reference's -[r_x, r_y] is the z flip's."""
    write_realcmb(tmp_path, REAL_ID)
    frames = realcmb.read_bundle(tmp_path / "bundle_info" / f"{REAL_ID}.npz")
    reference = realcmb.reference_rotation_deg(frames)
    for matrix, ref_rot in zip(realcmb.relative_transforms(frames), reference, strict=True):
        flipped = virtualcmb.reference_angles_deg(S @ matrix @ S)  # [r_x, r_y, r_z]
        np.testing.assert_allclose(flipped[:2], ref_rot[:2], atol=1e-12)
        np.testing.assert_allclose(flipped[2], -ref_rot[2], atol=1e-12)
    scene = realcmb.make_scene(tmp_path, REAL_ID)
    assert scene.attrs["reference_rxry_max_diff_deg"] < 1e-2


def test_realcmb_float32_bundles_are_accepted(tmp_path):
    truth = write_realcmb(tmp_path, REAL_ID, dtype=np.float32)
    traj = realcmb.make_scene(tmp_path, REAL_ID).trajectory
    np.testing.assert_allclose(traj.translation, truth["trans"], atol=1e-5)
    np.testing.assert_allclose(traj.rotation, truth["rot"], atol=1e-3)


def test_realcmb_intrinsics_rotated_to_portrait_and_scaled(tmp_path):
    write_realcmb(tmp_path, REAL_ID)
    scene = realcmb.make_scene(tmp_path, REAL_ID)
    s = RW / 1440  # == RH / 1920
    fx, fy, cx, cy = 1500.0, 1502.0, 958.5, 721.2
    expected = np.array([[fy * s, 0, (1440 - cy) * s], [0, fx * s, cx * s], [0, 0, 1]])
    np.testing.assert_allclose(scene.intrinsics, expected, rtol=1e-12)
    assert scene.attrs["intrinsics_rotated"] is True
    raw = realcmb.make_scene(tmp_path, REAL_ID, intrinsics_size=None)
    np.testing.assert_array_equal(raw.intrinsics, STORED_K)
    # a landscape image of the calibration aspect is only scaled
    k, info = realcmb.intrinsics_for_image(STORED_K, (144, 192), (1440, 1920))
    np.testing.assert_allclose(k, np.diag([0.1, 0.1, 1.0]) @ STORED_K, rtol=1e-12)
    assert info["intrinsics_rotated"] is False
    with pytest.raises(InputFileError, match="principal point"):
        realcmb.make_scene(tmp_path, REAL_ID, intrinsics_size=(192, 256))
    with pytest.raises(InputFileError, match="aspect"):
        realcmb.intrinsics_for_image(STORED_K, (100, 100), (1440, 1920))


def test_realcmb_nan_depth_is_rejected_unless_repaired(tmp_path):
    depth = np.full((RH, RW), 2.0, dtype=np.float32)
    depth[0, 0], depth[3, 2], depth[5, 5] = np.nan, 0.0, np.nan
    depth[1, 1] = 4.0
    write_realcmb(tmp_path, REAL_ID, depth=depth)
    path = tmp_path / "depth_ref" / f"{REAL_ID}.npz"
    with pytest.raises(
        InputFileError, match=re.escape(str(path)) + r": .*2 NaN, 0 infinite and 1 <= 0 of 48"
    ):
        realcmb.make_scene(tmp_path, REAL_ID)
    scene = realcmb.make_scene(tmp_path, REAL_ID, repair_depth=True)
    assert scene.attrs["depth_repaired_pixels"] == 3
    assert scene.depth[0, 0] == scene.depth[3, 2] == scene.depth[5, 5] == 1.5 * 4.0


def test_realcmb_fewer_than_two_frames_is_an_error(tmp_path):
    write_realcmb(tmp_path, REAL_ID, n_frames=2)
    frames = realcmb.read_bundle(tmp_path / "bundle_info" / f"{REAL_ID}.npz")
    path = tmp_path / "bundle_info" / "one.npz"
    np.savez(path, bundle_info=np.array(frames[:1], dtype=object))
    with pytest.raises(
        InputFileError, match=re.escape(f"{path}: needs at least 2 frames, found 1")
    ):
        realcmb.trajectory_from_bundle(realcmb.read_bundle(path), str(path))


class _Unsafe:
    """Unpickling this object would call a function: the reader must refuse it."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_realcmb_refuses_pickles_that_are_not_plain_data(tmp_path):
    path = tmp_path / "bundle_info" / "evil.npz"
    path.parent.mkdir()
    np.savez(path, bundle_info=np.array([{"timestamp": 0.0, "x": _Unsafe()}], dtype=object))
    with pytest.raises(
        InputFileError, match=re.escape(str(path)) + r": .*refusing to load .*getcwd"
    ):
        realcmb.read_bundle(path)


def test_realcmb_missing_and_corrupt_files_name_their_path(tmp_path):
    write_realcmb(tmp_path, REAL_ID)
    bundle = tmp_path / "bundle_info" / f"{REAL_ID}.npz"
    bundle.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(InputFileError, match=re.escape(f"{bundle}: not a readable .npz")):
        realcmb.make_scene(tmp_path, REAL_ID)
    write_realcmb(tmp_path, REAL_ID)
    sharp = tmp_path / "sharp_ref" / f"{REAL_ID}.png"
    sharp.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputFileError, match=re.escape(f"{sharp}: not a readable image")):
        realcmb.make_scene(tmp_path, REAL_ID)
    sharp.unlink()
    with pytest.raises(InputFileError, match=re.escape(f"{sharp}: file not found")):
        realcmb.make_scene(tmp_path, REAL_ID)


def test_realcmb_list_ids(tmp_path):
    for name in ("b", "a10", "a9"):
        write_png(tmp_path / "blurry" / f"{name}.png", np.zeros((2, 2, 3), dtype=np.uint8))
    assert realcmb.list_ids(tmp_path) == ["a10", "a9", "b"]
