"""Camera trajectories: a sequence of 6-DoF poses during the exposure.

Convention (that of the ICB/PWB reference code, with one Euler order throughout; the
VirtualCMB and RealCMB readers convert their logs into it and document where the reference
code's own conversion differs):

- Pose ``k`` is the rigid transform from the reference camera's frame to camera ``k``'s
  frame, ``X_k = R_k X_ref + t_k``; the reference pose (index ``reference_index``, the
  pose of the sharp image) is zero.
- Axes: x right, y up, z forward (the optical axis). Translation ``t`` in metres,
  rotation ``r = (r_x, r_y, r_z)`` in degrees; ``R_k`` is the extrinsic x-y-z Euler
  rotation of ``r_k``.
- A scene point at depth ``Z`` seen through a camera with focal length ``f`` px moves by
  the shift ``s = (s_x, s_y)`` px under pose ``k`` (small rotations, see
  :meth:`Trajectory.shifts`). Because y points up and image rows point down, the point
  spread function of that pose sits at kernel offset ``(row, col) = (-s_y, +s_x)``
  (:func:`psf_offsets`).

Datasets record the sharp image at pose ``N // 2 + 1`` (:func:`reference_pose_index`).
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

    def scaled(self, factor: float) -> Trajectory:
        """The same path with every translation and rotation multiplied by ``factor``."""
        if not np.isfinite(factor) or factor <= 0:
            raise TrajectoryError(f"trajectory: scale must be finite and > 0, got {factor}")
        return Trajectory(
            self.translation * factor, self.rotation * factor, self.timestamps, self.reference_index
        )

    def rotation_matrices(self) -> np.ndarray:
        """(N, 3, 3) rotation matrices ``R_k``: extrinsic x, y, z Euler angles in degrees."""
        from scipy.spatial.transform import Rotation

        return Rotation.from_euler("xyz", self.rotation, degrees=True).as_matrix()

    def shifts(self, focal_px: tuple[float, float], depth_m: float | np.ndarray) -> np.ndarray:
        """Image-plane shifts ``(s_x, s_y)`` in pixels of points at ``depth_m``, per pose.

        The fronto-parallel approximation of the ICB model: only x/y translation and
        x/y rotation move the image, the rotation as a uniform shift,

            s_x = f_x (t_x / Z + theta_y),    s_y = f_y (t_y / Z - theta_x),

        with ``theta`` in radians. z translation and roll are ignored.

        Args:
            focal_px: ``(f_x, f_y)`` focal lengths in pixels.
            depth_m: depth ``Z`` > 0 in metres, a scalar or an array of shape D.

        Returns:
            (N, 2) for a scalar depth, else (N, *D, 2), unrounded.
        """
        depth = np.asarray(depth_m, dtype=np.float64)
        if not np.all(np.isfinite(depth)) or np.any(depth <= 0):
            raise TrajectoryError(f"shifts: depth must be finite and > 0 metres, got {depth_m}")
        theta = np.deg2rad(self.rotation)
        expand = (slice(None),) + (None,) * depth.ndim
        fx, fy = focal_px
        sx = fx * (self.translation[:, 0][expand] / depth + theta[:, 1][expand])
        sy = fy * (self.translation[:, 1][expand] / depth - theta[:, 0][expand])
        return np.stack([sx, sy], axis=-1)

    @classmethod
    def from_array(
        cls, poses: np.ndarray, timestamps: np.ndarray, reference_index: int
    ) -> Trajectory:
        poses = np.asarray(poses, dtype=np.float64)
        if poses.ndim != 2 or poses.shape[1] != 6:
            raise TrajectoryError(f"trajectory: expected poses of shape (N, 6), got {poses.shape}")
        return cls(poses[:, :3], poses[:, 3:], np.asarray(timestamps), int(reference_index))


def reference_pose_index(n_poses: int) -> int:
    """Index of the sharp image's pose among ``n_poses``: ``N // 2 + 1`` (the data's
    convention, one past the middle), kept inside the trajectory for ``N = 2``."""
    if n_poses < 2:
        raise TrajectoryError(f"trajectory: needs at least 2 poses, got {n_poses}")
    return min(n_poses // 2 + 1, n_poses - 1)


def round_half_up(values: np.ndarray) -> np.ndarray:
    """``floor(x + 0.5)`` as integers: the rounding of the reference kernels."""
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5).astype(np.int64)


def psf_offsets(shifts: np.ndarray) -> np.ndarray:
    """Kernel offsets ``(row, col)`` of the PSF for shifts ``(..., 2)`` = ``(s_x, s_y)``.

    Shifts are rounded half up first, then ``row = -s_y`` and ``col = +s_x`` (y up,
    rows down). The result has the shape of ``shifts`` and integer dtype.
    """
    rounded = round_half_up(shifts)
    return np.stack([-rounded[..., 1], rounded[..., 0]], axis=-1)


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
    expressed relative to the pose :func:`reference_pose_index`.

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
    ref = reference_pose_index(n_poses)
    poses -= poses[ref]
    for cols, std in ((slice(0, 3), translation_std_m), (slice(3, 6), rotation_std_deg)):
        current = poses[:, cols].std()
        if current > 0:
            poses[:, cols] *= std / current
    timestamps = np.linspace(0.0, exposure_s, n_poses)
    return Trajectory.from_array(poses, timestamps, ref)
