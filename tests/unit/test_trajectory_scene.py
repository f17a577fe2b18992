"""Camera trajectories and the scene record: shapes, units, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from inrdeblur.blur.trajectory import (
    Trajectory,
    TrajectoryError,
    hand_shake,
    psf_offsets,
    reference_pose_index,
)
from inrdeblur.records.scene import Scene, SceneError


def test_hand_shake_is_seeded_and_relative_to_the_reference_pose():
    a = hand_shake(3, n_poses=50, translation_std_m=2e-3, rotation_std_deg=0.2)
    b = hand_shake(3, n_poses=50, translation_std_m=2e-3, rotation_std_deg=0.2)
    np.testing.assert_array_equal(a.as_array(), b.as_array())
    assert a.reference_index == 26
    np.testing.assert_array_equal(a.as_array()[26], 0.0)
    assert a.translation.std() == pytest.approx(2e-3)
    assert a.rotation.std() == pytest.approx(0.2)
    assert a.timestamps[-1] == pytest.approx(0.05)
    assert not np.array_equal(a.as_array(), hand_shake(4, n_poses=50).as_array())


@pytest.mark.parametrize(
    ("poses", "message"),
    [
        (np.zeros((1, 6)), "at least 2 poses"),
        (np.array([[0, 0, 0, 0, 0, 0], [np.nan, 0, 0, 0, 0, 0]]), "non-finite"),
        (np.zeros((3, 5)), r"\(N, 6\)"),
    ],
)
def test_bad_trajectories(poses, message):
    with pytest.raises(TrajectoryError, match=message):
        Trajectory.from_array(poses, np.arange(len(poses)), 0)


def make_scene(**overrides) -> Scene:
    fields = {
        "dataset": "test",
        "id": "s1",
        "sharp": np.random.default_rng(0).random((8, 9, 3)).astype(np.float32),
        "depth": np.full((8, 9), 2.0, np.float32),
        "trajectory": hand_shake(0, n_poses=5),
        "intrinsics": np.array([[10.0, 0, 4], [0, 10.0, 3.5], [0, 0, 1]]),
        "attrs": {"source": "unit test"},
    }
    fields.update(overrides)
    return Scene(**fields)


def test_scene_round_trip(tmp_path):
    scene = make_scene(kernel=np.full((3, 3), 1 / 9))
    scene.save(tmp_path / "s1.npz")
    back = Scene.load(tmp_path / "s1.npz")
    np.testing.assert_array_equal(back.sharp, scene.sharp)
    np.testing.assert_array_equal(back.depth, scene.depth)
    np.testing.assert_array_equal(back.trajectory.as_array(), scene.trajectory.as_array())
    assert back.attrs == {"source": "unit test"}
    assert (back.dataset, back.id) == ("test", "s1")
    # Reproducible bytes: DVC sees an unchanged file when the same scene is written again.
    first = (tmp_path / "s1.npz").read_bytes()
    scene.save(tmp_path / "s1.npz")
    assert (tmp_path / "s1.npz").read_bytes() == first


@pytest.mark.parametrize(
    ("depth_value", "message"), [(np.nan, "non-finite"), (0.0, "zero or negative")]
)
def test_bad_depth_is_rejected_with_the_field_name(depth_value, message):
    depth = np.full((8, 9), 2.0, np.float32)
    depth[3, 4] = depth_value
    with pytest.raises(SceneError, match=f"'depth' has 1 {message}"):
        make_scene(depth=depth)


def test_bad_depth_on_disk_names_the_file(tmp_path):
    path = tmp_path / "bad.npz"
    make_scene().save(path)
    data = dict(np.load(path))
    data["depth"][0, 0] = -1.0
    np.savez(path, **data)
    with pytest.raises(SceneError, match=str(path)):
        Scene.load(path)


def test_corrupt_scene_file_names_the_file(tmp_path):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(Exception, match="corrupt.npz"):
        Scene.load(path)


def test_sharp_out_of_range_is_rejected():
    with pytest.raises(SceneError, match="'sharp'"):
        make_scene(sharp=np.full((8, 9, 3), 1.5, np.float32))


def test_reference_pose_index_is_one_past_the_middle():
    assert [reference_pose_index(n) for n in (2, 3, 4, 5, 64)] == [1, 2, 3, 3, 33]
    with pytest.raises(TrajectoryError, match="at least 2 poses"):
        reference_pose_index(1)


def test_shifts_closed_form_and_psf_offsets():
    poses = np.array([[0.01, -0.02, 0.5, 0.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.1, -0.2, 0.0]])
    traj = Trajectory.from_array(poses, [0.0, 1.0], 0)
    shifts = traj.shifts((200.0, 100.0), 4.0)
    # z translation and roll are ignored; x uses rotation about y, y minus rotation about x.
    np.testing.assert_allclose(shifts[0], [200 * 0.01 / 4, 100 * -0.02 / 4])
    np.testing.assert_allclose(shifts[1], [200 * np.deg2rad(-0.2), -100 * np.deg2rad(0.1)])
    per_pixel = traj.shifts((200.0, 100.0), np.full((2, 3), 4.0))
    assert per_pixel.shape == (2, 2, 3, 2)
    np.testing.assert_allclose(per_pixel[:, 1, 2], shifts)
    # Half-up rounding, then (row, col) = (-s_y, +s_x).
    offsets = psf_offsets(np.array([[0.5, 0.5], [-0.5, -1.5], [1.49, 2.51]]))
    np.testing.assert_array_equal(offsets, [[-1, 1], [1, 0], [-3, 1]])
    with pytest.raises(TrajectoryError, match="depth"):
        traj.shifts((200.0, 100.0), np.array([1.0, np.nan]))
    with pytest.raises(TrajectoryError, match="depth"):
        traj.shifts((200.0, 100.0), 0.0)


def test_rotation_matrices_are_extrinsic_xyz():
    poses = np.zeros((2, 6))
    poses[1, 3:] = [90.0, 0.0, 90.0]
    rot = Trajectory.from_array(poses, [0.0, 1.0], 0).rotation_matrices()
    np.testing.assert_allclose(rot[0], np.eye(3), atol=1e-12)
    rx = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    rz = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(rot[1], rz @ rx, atol=1e-12)
