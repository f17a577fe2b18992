"""Camera trajectories: a sequence of 6-DoF poses during the exposure.

Convention: pose ``k`` is the camera motion relative to the reference pose
``reference_index`` (whose pose is zero). Translation is in metres along the camera
axes (x right, y down, z forward); rotation is in degrees about those axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class TrajectoryError(ValueError):
    """A trajectory is malformed (too few poses, non-finite values, bad shapes)."""


@dataclass(frozen=True)
class Trajectory:
    """Camera poses during one exposure.

    Attributes:
        translation: (N, 3) metres, relative to the reference pose.
        rotation: (N, 3) degrees (about x, y, z), relative to the reference pose.
        timestamps: (N,) seconds from the first pose.
        reference_index: index of the reference pose (the sharp image's pose).
    """

    translation: np.ndarray
    rotation: np.ndarray
    timestamps: np.ndarray
    reference_index: int

    def __post_init__(self) -> None:
        t = np.asarray(self.translation, dtype=np.float64)
        r = np.asarray(self.rotation, dtype=np.float64)
        ts = np.asarray(self.timestamps, dtype=np.float64)
        if t.ndim != 2 or t.shape[1] != 3 or r.shape != t.shape or ts.shape != (t.shape[0],):
            raise TrajectoryError(
                "trajectory: expected translation (N, 3), rotation (N, 3) and timestamps (N,), "
                f"got {t.shape}, {r.shape} and {ts.shape}"
            )
        if t.shape[0] < 2:
            raise TrajectoryError(f"trajectory: needs at least 2 poses, got {t.shape[0]}")
        for name, arr in (("translation", t), ("rotation", r), ("timestamps", ts)):
            if not np.all(np.isfinite(arr)):
                raise TrajectoryError(f"trajectory: {name} has non-finite values")
        if not 0 <= self.reference_index < t.shape[0]:
            raise TrajectoryError(
                f"trajectory: reference_index {self.reference_index} outside 0..{t.shape[0] - 1}"
            )
        object.__setattr__(self, "translation", t)
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "timestamps", ts)

    @property
    def n_poses(self) -> int:
        return self.translation.shape[0]

    def as_array(self) -> np.ndarray:
        """(N, 6) array ``[tx, ty, tz (m), rx, ry, rz (deg)]``."""
        return np.concatenate([self.translation, self.rotation], axis=1)

    @classmethod
    def from_array(
        cls, poses: np.ndarray, timestamps: np.ndarray, reference_index: int
    ) -> Trajectory:
        poses = np.asarray(poses, dtype=np.float64)
        if poses.ndim != 2 or poses.shape[1] != 6:
            raise TrajectoryError(f"trajectory: expected poses of shape (N, 6), got {poses.shape}")
        return cls(poses[:, :3], poses[:, 3:], np.asarray(timestamps), int(reference_index))


def hand_shake(
    seed: int,
    n_poses: int = 64,
    exposure_s: float = 0.05,
    translation_std_m: float = 2e-3,
    rotation_std_deg: float = 0.15,
    inertia: float = 0.9,
) -> Trajectory:
    """Seeded hand-held camera shake: a random walk with inertia in all 6 degrees of freedom.

    The velocity follows ``v[k+1] = inertia * v[k] + noise`` and the pose integrates it,
    which gives the smooth, drifting paths seen in recorded camera shake. The path is then
    scaled so each axis group has the requested standard deviation over the exposure and
    expressed relative to the middle pose ``n_poses // 2``.

    Args:
        seed: random seed; the same seed gives the same trajectory.
        n_poses: number of poses N (>= 2).
        exposure_s: exposure time; poses are evenly spaced over it.
        translation_std_m: target standard deviation of the translation, metres.
        rotation_std_deg: target standard deviation of the rotation, degrees.
        inertia: velocity persistence in [0, 1).
    """
    if n_poses < 2:
        raise TrajectoryError(f"hand_shake: n_poses must be >= 2, got {n_poses}")
    if not 0.0 <= inertia < 1.0:
        raise TrajectoryError(f"hand_shake: inertia must be in [0, 1), got {inertia}")
    rng = np.random.default_rng(seed)
    velocity = np.zeros(6)
    poses = np.zeros((n_poses, 6))
    for k in range(1, n_poses):
        velocity = inertia * velocity + rng.standard_normal(6)
        poses[k] = poses[k - 1] + velocity
    ref = n_poses // 2
    poses -= poses[ref]
    for cols, std in ((slice(0, 3), translation_std_m), (slice(3, 6), rotation_std_deg)):
        current = poses[:, cols].std()
        if current > 0:
            poses[:, cols] *= std / current
    timestamps = np.linspace(0.0, exposure_s, n_poses)
    return Trajectory.from_array(poses, timestamps, ref)
