"""VirtualCMB (``dataset: virtualcmb``): synthetic parallax camera-motion blur, read from a folder.

Torres and Kämäräinen, "Depth-Aware Image Compositing Model for Parallax Camera Motion
Blur", SCIA 2023 (LNCS 13885, pp. 279-296), data on Zenodo record 7746117. 983 rendered
scenes, each a sharp reference view, a blurred rendering, a packed depth map and the
camera pose at every time sample of the exposure. The formats below are those the
reference code (``germanftv/ParallaxICB``) reads; the renderer is probably Unity with a
physical camera (the JSON field names are Unity's), which is inferred, not documented.

The folder (a local copy; fetching it is not this module's job) holds::

    sharp_ref/<id>.png                       sharp image at the reference pose, 8-bit RGB
    blurry/<id>.png                          rendered blur, 8-bit RGB
    depth_ref/<id>.png                       depth packed into 8-bit RGBA (decode_unity_depth)
    camera_logs/<id>/**/camera_logs_<k>.txt  one JSON per time sample (read_camera_log)
    param_logs/<id>.txt                      JSON: sceneName, traslationMode, rotationMode

Scene ids are the param-log names without ``.txt``, sorted by name (:func:`list_ids`;
the order of the reference's ``VirtualCMB_info.csv``). The tag (Macro / Trucking /
Standard) comes from the id (:func:`tag_of`); the motion group from the param log
(:func:`motion_group`).

**Poses.** Sample ``k``'s file gives ``worldToCamSetMatrix`` and ``camSetToWorldMatrix``
(4x4, keys ``e00`` .. ``e33``, ``e<row><col>``, column vectors). The relative motion is
``F_k = worldToCamSet_k @ camSetToWorld_ref`` with ``ref = N // 2 + 1``
(:func:`~inrdeblur.blur.trajectory.reference_pose_index`) and ``F_ref = I``: it maps a
point from the reference camera's frame into camera ``k``'s, which is exactly the pose of
:class:`~inrdeblur.blur.trajectory.Trajectory`. Unity's camera frame is x right, y up,
z forward, the axes of that convention, so no axis is flipped: translation ``t_k`` is the
translation of ``F_k`` (metres, Unity units assumed to be metres as in the reference).

The reference turns the rotation of ``F_k`` into angles with transforms3d
``mat2euler(R, 'rzxy')``, i.e. ``R = Rz(r_z) Rx(r_x) Ry(r_y)``, and stores
``[r_x, r_y, r_z]``; its PWB model then rebuilds ``R`` as the *extrinsic x-y-z* rotation of
those numbers (``Rotation.from_euler('xyz')``), which is a different matrix at second
order. This project's angles are the extrinsic x-y-z angles of ``R`` itself
(:func:`euler_xyz`), so ``Trajectory.rotation_matrices()`` gives back ``F_k``'s rotation
exactly. The two sets agree exactly for rotation about one axis; otherwise (comparing
both with the rotation vector) ``r_x`` and ``r_y``, the angles ICB uses, differ only at
third order and ``r_z`` by about ``r_x r_y`` (radians).
``attrs['reference_rxry_max_diff_deg']`` records the largest ``r_x, r_y`` difference.

**Intrinsics** come from the reference sample's log: ``f = focalLength`` mm, pixel pitch
``sensorSize / imageSize``, principal point at the sensor centre, so
``K = [[f W / s_x, 0, W / 2], [0, f H / s_y, H / 2], [0, 0, 1]]`` px with
``(W, H) = imageSize`` and ``(s_x, s_y) = sensorSize``. The centre ``(W/2, H/2)`` treats
pixel ``i`` as covering ``[i, i + 1)`` (the reference's convention); with pixel centres at
integer positions the centre would be half a pixel less, which only matters under rotation.

>>> tag_of("Street_Trucking_0042"), motion_group("xy", ""), sampling_rate_hz("Trucking")
('Trucking', 'parallax', 2000.0)
>>> rgba = encode_unity_depth(np.array([[2.5, 0.0]]), depth_max=10.0)
>>> decode_unity_depth(rgba, depth_min=0.1, depth_max=10.0).round(6).tolist()
[[2.5, 15.0]]
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inrdeblur.blur.trajectory import Trajectory, TrajectoryError, reference_pose_index
from inrdeblur.fileio import InputFileError, read_image, read_json
from inrdeblur.records.scene import Scene

DATASET = "virtualcmb"
#: Tags in the order the reference tests them against the file name (``*<Tag>_*``).
TAGS: tuple[str, ...] = ("Macro", "Trucking", "Standard")
#: Camera-log sampling rate: 2000 Hz for Trucking scenes, 500 Hz for every other scene.
TRUCKING_SAMPLING_HZ = 2000.0
DEFAULT_SAMPLING_HZ = 500.0
#: Decoded depth below ``depthRange.min`` (sky, empty) becomes ``SKY_FACTOR * depthRange.max``.
SKY_FACTOR = 1.5
#: ``(traslationMode, rotationMode)`` of the evaluated motion groups (reference ``summary.py``).
MOTION_GROUPS: dict[tuple[str, str], str] = {
    ("xy", ""): "parallax",
    ("xy", "xy"): "parallax+rot",
    ("xyz", "xyz"): "6d",
}
#: Largest deviation from a rigid transform (scale, shear, last row) accepted in a pose matrix.
RIGID_TOLERANCE = 1e-3

CITATION = (
    "G. F. Torres, J.-K. Kämäräinen. Depth-Aware Image Compositing Model for Parallax "
    "Camera Motion Blur. SCIA 2023, LNCS 13885, pp. 279-296 (arXiv 2303.09334)."
)
LICENCE = (
    "Distributed on Zenodo (record 7746117) by the authors; the licence could not be "
    "read when this reader was written. Cite: " + CITATION
)
SOURCE = "VirtualCMB (Torres and Kämäräinen 2023), local copy of Zenodo 7746117"
POSE_NOTE = (
    "Poses are F_k = worldToCamSet_k @ camSetToWorld_ref (reference sample N//2+1), "
    "Unity camera axes (x right, y up, z forward) used as they are; rotation as extrinsic "
    "x-y-z angles of F_k's rotation (the reference stores its 'rzxy' Euler angles instead)."
)

_MATRIX_KEYS = tuple(f"e{r}{c}" for r in range(4) for c in range(4))
_SCENE_ID = re.compile(r"^[^/\\]+$")


# --------------------------------------------------------------------------- depth


def decode_unity_depth(
    rgba_uint8: np.ndarray,
    depth_min: float,
    depth_max: float,
    sky_factor: float = SKY_FACTOR,
) -> np.ndarray:
    """Depth in metres from an 8-bit RGBA-packed depth map, exactly as the reference reads it.

    The reference (``read_RGBA_encoded_depth``) reads the PNG with OpenCV, whose BGR->RGB
    conversion drops the alpha channel, and then appends an alpha of 255. So the stored
    alpha byte is ignored and

        d = (R + G / 255 + B / 255^2 + 255 / 255^3) / 255,     D = d * depth_max,

    and pixels with ``D < depth_min`` (sky or empty, encoded as zero) become
    ``sky_factor * depth_max``.

    Precision: the packing stores base-255 digits of ``D / depth_max``; ignoring the
    fourth one bounds the error to ``0 <= D - D_true <= depth_max / 255^3`` (about
    ``6e-8 * depth_max``, below float32 resolution near ``depth_max``), always upwards. A
    zero-encoded pixel decodes to ``depth_max / 255^3 > 0``, so sky detection relies on
    ``depth_min`` being above that.

    Args:
        rgba_uint8: (H, W, 4) or (H, W, 3) uint8 ``R, G, B[, A]``.
        depth_min, depth_max: the reference camera log's ``depthRange`` in metres.
        sky_factor: sky depth as a multiple of ``depth_max``.

    Returns:
        (H, W) float64 depth in metres, > 0.
    """
    data = np.asarray(rgba_uint8)
    if data.dtype != np.uint8 or data.ndim != 3 or data.shape[2] not in (3, 4):
        raise ValueError(
            f"decode_unity_depth: expected (H, W, 3|4) uint8, got {data.shape} {data.dtype}"
        )
    _check_depth_range(depth_min, depth_max, "decode_unity_depth")
    encoded = np.empty(data.shape[:2] + (4,), dtype=np.float64)
    encoded[..., :3] = data[..., :3]
    encoded[..., 3] = 255.0  # the reference's RGB2RGBA: the stored alpha is never used
    weights = np.array([1.0, 1 / 255.0, 1 / 65025.0, 1 / 16581375.0])
    depth = np.dot(encoded, weights) / 255.0 * float(depth_max)
    depth[depth < depth_min] = sky_factor * float(depth_max)
    return depth


def encode_unity_depth(depth: np.ndarray, depth_max: float) -> np.ndarray:
    """Pack depth into 8-bit RGBA like Unity's ``EncodeFloatRGBA`` (to write fixtures).

    With ``v = depth / depth_max`` in [0, 1), ``enc = frac(v * (1, 255, 255^2, 255^3))``,
    then ``enc.xyz -= enc.yzw / 255`` (the carries), and the bytes are ``round(255 enc)``:
    the first three are the base-255 digits of ``v``. Depth 0 encodes as all zero bytes,
    which :func:`decode_unity_depth` reads as sky.

    Args:
        depth: (H, W) metres, finite, in ``[0, depth_max)``.
        depth_max: the ``depthRange.max`` the decoder will use, metres.

    Returns:
        (H, W, 4) uint8 ``R, G, B, A``.
    """
    d = np.asarray(depth, dtype=np.float64)
    if not (np.isfinite(depth_max) and depth_max > 0):
        raise ValueError(f"encode_unity_depth: depth_max must be finite and > 0, got {depth_max}")
    v = d / float(depth_max)
    if not np.all(np.isfinite(v)) or v.min(initial=0.0) < 0 or v.max(initial=0.0) >= 1:
        raise ValueError("encode_unity_depth: depth must be finite and in [0, depth_max)")
    scaled = v[..., None] * np.array([1.0, 255.0, 65025.0, 16581375.0])
    enc = scaled - np.floor(scaled)
    enc[..., :3] -= enc[..., 1:] / 255.0
    return np.clip(np.round(enc * 255.0), 0, 255).astype(np.uint8)


def read_depth_png(
    path: str | os.PathLike, depth_min: float, depth_max: float, sky_factor: float = SKY_FACTOR
) -> np.ndarray:
    """Decode ``depth_ref/<id>.png`` (8-bit RGB or RGBA) to (H, W) float64 metres.

    A missing file, an unreadable image or a pixel format other than 8-bit RGB(A) raises
    :class:`InputFileError` naming the file.
    """
    return decode_unity_depth(_read_rgba_bytes(Path(path)), depth_min, depth_max, sky_factor)


def _read_rgba_bytes(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode == "P":
                img = img.convert("RGBA")
            if img.mode not in ("RGB", "RGBA"):
                raise InputFileError(
                    f"{path}: expected an 8-bit RGB or RGBA packed depth map, got mode {img.mode!r}"
                )
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise InputFileError(f"{path}: not a readable image ({err})") from err


def _check_depth_range(depth_min: float, depth_max: float, source: str) -> None:
    if not (np.isfinite(depth_min) and np.isfinite(depth_max) and 0 <= depth_min < depth_max):
        raise InputFileError(
            f"{source}: depthRange must be finite with 0 <= min < max metres, "
            f"got min={depth_min}, max={depth_max}"
        )


def check_depth(
    depth: np.ndarray, path: str | os.PathLike, *, repair: bool, fill_value: float
) -> tuple[np.ndarray, int]:
    """``depth`` with NaN, infinite and <= 0 pixels rejected, or replaced when ``repair``.

    Returns the (H, W) float64 depth and the number of replaced pixels. Without
    ``repair`` any such pixel raises :class:`InputFileError` naming ``path`` and the
    counts; with it they become ``fill_value`` (which must be finite and > 0).
    """
    d = np.array(depth, dtype=np.float64)
    bad = ~np.isfinite(d) | (d <= 0)  # NaN compares False, so test finiteness first
    n_bad = int(bad.sum())
    if n_bad == 0:
        return d, 0
    if not repair:
        n_nan = int(np.isnan(d).sum())
        n_inf = int(np.isinf(d).sum())
        n_nonpositive = int((d <= 0).sum())
        raise InputFileError(
            f"{path}: depth must be finite and > 0 metres; {n_nan} NaN, {n_inf} infinite and "
            f"{n_nonpositive} <= 0 of {d.size} pixels (repair_depth=True replaces them "
            f"with {fill_value:g} m)"
        )
    if not (np.isfinite(fill_value) and fill_value > 0):
        raise InputFileError(f"{path}: cannot repair depth, fill value {fill_value} is not > 0")
    d[bad] = fill_value
    return d, n_bad


# --------------------------------------------------------------------------- rotations


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_rzxy(rz: float, rx: float, ry: float) -> np.ndarray:
    """``Rz(rz) @ Rx(rx) @ Ry(ry)`` (radians): transforms3d ``euler2mat(rz, rx, ry, 'rzxy')``."""
    return _rot_z(rz) @ _rot_x(rx) @ _rot_y(ry)


def rotation_xyz(rx: float, ry: float, rz: float) -> np.ndarray:
    """``Rz(rz) @ Ry(ry) @ Rx(rx)`` (radians): extrinsic x-y-z, scipy ``from_euler('xyz')``."""
    return _rot_z(rz) @ _rot_y(ry) @ _rot_x(rx)


_GIMBAL_EPS = np.finfo(float).eps * 4.0  # transforms3d's _EPS4


def euler_rzxy(rotation: np.ndarray) -> tuple[float, float, float]:
    """``(rz, rx, ry)`` radians with ``R = Rz(rz) Rx(rx) Ry(ry)``: the reference's angles.

    Reproduces transforms3d ``mat2euler(R, 'rzxy')`` (axes ``'rzxy'``: rotating frame,
    z then x then y), including its choice at gimbal lock (``|rx| = 90 deg``: ``rz = 0``).
    """
    m = np.asarray(rotation, dtype=np.float64)
    cos_x = math.hypot(m[1, 1], m[0, 1])
    if cos_x > _GIMBAL_EPS:
        return (
            math.atan2(-m[0, 1], m[1, 1]),
            math.atan2(m[2, 1], cos_x),
            math.atan2(-m[2, 0], m[2, 2]),
        )
    return 0.0, math.atan2(m[2, 1], cos_x), math.atan2(m[0, 2], m[0, 0])


def euler_xyz(rotation: np.ndarray) -> tuple[float, float, float]:
    """``(rx, ry, rz)`` radians with ``R = Rz(rz) Ry(ry) Rx(rx)``: this project's angles.

    The inverse of :func:`rotation_xyz` and of
    :meth:`~inrdeblur.blur.trajectory.Trajectory.rotation_matrices` (degrees there); at
    gimbal lock (``|ry| = 90 deg``) ``rz = 0``.
    """
    m = np.asarray(rotation, dtype=np.float64)
    cos_y = math.hypot(m[0, 0], m[1, 0])
    if cos_y > _GIMBAL_EPS:
        return (
            math.atan2(m[2, 1], m[2, 2]),
            math.atan2(-m[2, 0], cos_y),
            math.atan2(m[1, 0], m[0, 0]),
        )
    return math.atan2(-m[1, 2], m[1, 1]), math.atan2(-m[2, 0], cos_y), 0.0


def decompose_rigid(matrix: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Translation (3,) and rotation (3, 3) of a 4x4 rigid transform.

    The rotation is found as transforms3d ``affines.decompose44`` finds it (Gram-Schmidt
    on the columns of the upper-left 3x3), so float32 rounding in logged matrices is
    handled like the reference handles it. A matrix whose scale, shear or last row is
    off by more than :data:`RIGID_TOLERANCE`, or a reflection, raises
    :class:`InputFileError` naming ``source``.
    """
    a = np.asarray(matrix, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InputFileError(f"{source}: expected a finite 4x4 matrix, got shape {a.shape}")
    translation = a[:3, 3].copy()
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero column gives NaN
        col0, col1, col2 = (a[:3, i] for i in range(3))
        sx = float(np.linalg.norm(col0))
        m0 = col0 / sx
        sx_sxy = float(np.dot(m0, col1))
        m1 = col1 - sx_sxy * m0
        sy = float(np.linalg.norm(m1))
        m1 = m1 / sy
        sx_sxz, sy_syz = float(np.dot(m0, col2)), float(np.dot(m1, col2))
        m2 = col2 - sx_sxz * m0 - sy_syz * m1
        sz = float(np.linalg.norm(m2))
        m2 = m2 / sz
    rotation = np.stack([m0, m1, m2], axis=1)
    deviation = max(
        abs(sx - 1),
        abs(sy - 1),
        abs(sz - 1),
        abs(sx_sxy),
        abs(sx_sxz),
        abs(sy_syz),
        float(np.abs(a[3] - [0.0, 0.0, 0.0, 1.0]).max()),
    )
    # 'not <=' also catches NaN from a zero column
    if not deviation <= RIGID_TOLERANCE or not np.linalg.det(rotation) > 0:
        raise InputFileError(
            f"{source}: not a rigid transform (scale/shear/last-row deviation {deviation:.3g}, "
            f"det {np.linalg.det(a[:3, :3]):.6g})"
        )
    return translation, rotation


def pose_from_transform(matrix: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``(t (3,) m, r (3,) deg)`` of a 4x4 reference-to-camera transform in this project's
    axes (x right, y up, z forward): the translation and extrinsic x-y-z angles."""
    translation, rotation = decompose_rigid(matrix, source)
    return translation, np.rad2deg(np.array(euler_xyz(rotation)))


def reference_angles_deg(matrix: np.ndarray) -> np.ndarray:
    """The reference loader's ``[r_x, r_y, r_z]`` (deg) of a 4x4 transform: its 'rzxy'
    Euler angles, reordered; for comparison with the project's angles only."""
    rz, rx, ry = euler_rzxy(np.asarray(matrix, dtype=np.float64)[:3, :3])
    return np.rad2deg(np.array([rx, ry, rz]))


# --------------------------------------------------------------------------- camera logs


@dataclass(frozen=True)
class CameraLog:
    """One ``camera_logs_<k>.txt`` sample (units as logged: mm for the lens, px, metres)."""

    path: Path
    position: np.ndarray  # (3,) cameraPos.pos
    euler_angles: np.ndarray  # (3,) cameraPos.eulerAngles, Unity degrees
    focal_length_mm: float
    sensor_size_mm: tuple[float, float]  # (x, y)
    image_size_px: tuple[int, int]  # (x, y) = (W, H)
    projection: np.ndarray  # (4, 4)
    world_to_camera: np.ndarray  # (4, 4) Unity Camera.worldToCameraMatrix (OpenGL axes)
    camera_to_world: np.ndarray  # (4, 4)
    depth_min: float
    depth_max: float
    cam_set_to_world: np.ndarray  # (4, 4) camSetToWorldMatrix
    world_to_cam_set: np.ndarray  # (4, 4) worldToCamSetMatrix

    def intrinsics(self) -> np.ndarray:
        """(3, 3) K in pixels (module docstring): ``fx = f W / s_x``, ``cx = W / 2``, ..."""
        f = self.focal_length_mm * 1e-3
        pitch_x = self.sensor_size_mm[0] * 1e-3 / self.image_size_px[0]
        pitch_y = self.sensor_size_mm[1] * 1e-3 / self.image_size_px[1]
        u0 = 0.5 * self.sensor_size_mm[0] * 1e-3
        v0 = 0.5 * self.sensor_size_mm[1] * 1e-3
        return np.array(
            [[f / pitch_x, 0.0, u0 / pitch_x], [0.0, f / pitch_y, v0 / pitch_y], [0.0, 0.0, 1.0]]
        )


def _field(data: Any, keys: tuple[str, ...], path: Path) -> Any:
    value = data
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise InputFileError(f"{path}: missing key '{'.'.join(keys[: depth + 1])}'")
        value = value[key]
    return value


def _number(data: Any, keys: tuple[str, ...], path: Path) -> float:
    value = _field(data, keys, path)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputFileError(f"{path}: '{'.'.join(keys)}' must be a finite number, got {value!r}")
    return float(value)


def _vector(data: Any, keys: tuple[str, ...], path: Path, axes: str = "xyz") -> np.ndarray:
    return np.array([_number(data, keys + (axis,), path) for axis in axes])


def _matrix(data: Any, keys: tuple[str, ...], path: Path) -> np.ndarray:
    return np.array([_number(data, keys + (key,), path) for key in _MATRIX_KEYS]).reshape(4, 4)


def read_camera_log(path: str | os.PathLike) -> CameraLog:
    """Read one ``camera_logs_<k>.txt`` (JSON) into a :class:`CameraLog`.

    Every key the reference's ``CameraLog.from_log`` reads must be present:
    ``cameraPos.{pos,eulerAngles}.{x,y,z}``, ``cameraIntrinsics.{focalLength,
    sensorSize.{x,y}, imageSize.{x,y}, projectionMatrix, worldToCameraMatrix,
    cameraToWorldMatrix}``, ``depthRange.{min,max}``, ``camSetToWorldMatrix`` and
    ``worldToCamSetMatrix`` (4x4 as ``e00`` .. ``e33``). A missing file, invalid JSON, a
    missing key or a non-finite number raises :class:`InputFileError` naming the file
    (and the key).
    """
    path = Path(path)
    data = read_json(path)
    intr = ("cameraIntrinsics",)
    image_size = _vector(data, intr + ("imageSize",), path, "xy")
    sensor = _vector(data, intr + ("sensorSize",), path, "xy")
    focal = _number(data, intr + ("focalLength",), path)
    if focal <= 0 or sensor.min() <= 0 or image_size.min() < 1:
        raise InputFileError(
            f"{path}: focalLength, sensorSize and imageSize must be > 0, got {focal}, "
            f"{sensor.tolist()} and {image_size.tolist()}"
        )
    return CameraLog(
        path=path,
        position=_vector(data, ("cameraPos", "pos"), path),
        euler_angles=_vector(data, ("cameraPos", "eulerAngles"), path),
        focal_length_mm=focal,
        sensor_size_mm=(float(sensor[0]), float(sensor[1])),
        image_size_px=(int(round(image_size[0])), int(round(image_size[1]))),
        projection=_matrix(data, intr + ("projectionMatrix",), path),
        world_to_camera=_matrix(data, intr + ("worldToCameraMatrix",), path),
        camera_to_world=_matrix(data, intr + ("cameraToWorldMatrix",), path),
        depth_min=_number(data, ("depthRange", "min"), path),
        depth_max=_number(data, ("depthRange", "max"), path),
        cam_set_to_world=_matrix(data, ("camSetToWorldMatrix",), path),
        world_to_cam_set=_matrix(data, ("worldToCamSetMatrix",), path),
    )


def camera_log_paths(folder: str | os.PathLike) -> list[Path]:
    """The ``camera_logs_*.txt`` files under ``folder`` (recursive) in time order.

    The reference sorts by the integer formed by all digits of the path. Here the digits
    are taken from the path below ``folder``'s parent (``<id>/.../camera_logs_<k>.txt``),
    which gives the reference's order whenever the dataset root's own path has no digits
    (e.g. its default ``./data/VirtualCMB``) and does not depend on where the copy is
    mounted. Ties keep name order, as the reference's stable sort after ``sort()`` does.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"{folder}: camera log folder not found")

    def key(path: Path) -> tuple[int, str]:
        rel = f"{folder.name}/{path.relative_to(folder).as_posix()}"
        digits = "".join(ch for ch in rel if ch.isdigit())
        return (int(digits) if digits else -1, rel)

    return sorted((p for p in folder.rglob("camera_logs_*.txt") if p.is_file()), key=key)


def read_camera_logs(folder: str | os.PathLike) -> list[CameraLog]:
    """Every sample of one image's camera logs, in time order; fewer than 2 is an error."""
    paths = camera_log_paths(folder)
    if len(paths) < 2:
        raise InputFileError(
            f"{folder}: needs at least 2 camera_logs_<k>.txt samples, found {len(paths)}"
        )
    return [read_camera_log(p) for p in paths]


def sampling_rate_hz(tag: str | None) -> float:
    """Camera-log sampling rate: 2000 Hz for ``'Trucking'``, 500 Hz otherwise."""
    return TRUCKING_SAMPLING_HZ if tag == "Trucking" else DEFAULT_SAMPLING_HZ


def relative_transforms(logs: list[CameraLog]) -> np.ndarray:
    """(N, 4, 4) ``F_k = worldToCamSet_k @ camSetToWorld_ref``, ``F_ref = I``."""
    ref = reference_pose_index(len(logs))
    cam_set_to_world_ref = logs[ref].cam_set_to_world
    transforms = np.stack([log.world_to_cam_set @ cam_set_to_world_ref for log in logs])
    transforms[ref] = np.eye(4)
    return transforms


def trajectory_from_logs(logs: list[CameraLog], sampling_hz: float) -> Trajectory:
    """The :class:`Trajectory` of time-ordered samples (module docstring for the convention).

    Timestamps are ``k / sampling_hz``; the reference pose is ``N // 2 + 1``.
    """
    if len(logs) < 2:
        raise TrajectoryError(f"trajectory: needs at least 2 camera log samples, got {len(logs)}")
    transforms = relative_transforms(logs)
    translation = np.empty((len(logs), 3))
    rotation = np.empty((len(logs), 3))
    for k, (log, matrix) in enumerate(zip(logs, transforms, strict=True)):
        translation[k], rotation[k] = pose_from_transform(matrix, str(log.path))
    timestamps = np.arange(len(logs)) / float(sampling_hz)
    return Trajectory(translation, rotation, timestamps, reference_pose_index(len(logs)))


def read_trajectory(folder: str | os.PathLike, tag: str | None) -> Trajectory:
    """The trajectory of ``camera_logs/<id>`` (``tag`` sets the sampling rate)."""
    return trajectory_from_logs(read_camera_logs(folder), sampling_rate_hz(tag))


# --------------------------------------------------------------------------- param logs


@dataclass(frozen=True)
class ParamLog:
    """``param_logs/<id>.txt``: the rendered scene and how the camera moved."""

    scene: str  # basename of sceneName
    trans_mode: str  # 'xy' or 'xyz' (key traslationMode, misspelt in the data)
    rot_mode: str  # '', 'xy' or 'xyz'


def read_param_log(path: str | os.PathLike) -> ParamLog:
    """Read ``param_logs/<id>.txt`` (JSON ``sceneName``, ``traslationMode``, ``rotationMode``)."""
    path = Path(path)
    data = read_json(path)
    values = {}
    for key in ("sceneName", "traslationMode", "rotationMode"):
        value = _field(data, (key,), path)
        if not isinstance(value, str):
            raise InputFileError(f"{path}: '{key}' must be a string, got {value!r}")
        values[key] = value
    return ParamLog(
        scene=os.path.basename(values["sceneName"].replace("\\", "/")),
        trans_mode=values["traslationMode"],
        rot_mode=values["rotationMode"],
    )


def motion_group(trans_mode: str, rot_mode: str) -> str | None:
    """``'parallax'`` (xy, ''), ``'parallax+rot'`` (xy, xy), ``'6d'`` (xyz, xyz), else None."""
    return MOTION_GROUPS.get((trans_mode, rot_mode))


def tag_of(name: str) -> str | None:
    """The first of Macro / Trucking / Standard whose ``*<Tag>_*`` matches ``name``'s basename."""
    base = os.path.basename(str(name))
    for tag in TAGS:
        if fnmatch.fnmatchcase(base, f"*{tag}_*"):
            return tag
    return None


# --------------------------------------------------------------------------- scenes


def check_scene_id(scene_id: str, dataset: str = DATASET) -> str:
    """``scene_id`` if it is a plain file name (no slash, not ``.`` or ``..``), else
    ValueError naming ``dataset``."""
    if not isinstance(scene_id, str) or not _SCENE_ID.match(scene_id) or scene_id in (".", ".."):
        raise ValueError(f"{dataset} dataset: invalid scene id {scene_id!r}")
    return scene_id


def relative_paths(scene_id: str) -> dict[str, str]:
    """The scene's files and camera-log folder, relative to the dataset root."""
    sid = check_scene_id(scene_id)
    return {
        "sharp": f"sharp_ref/{sid}.png",
        "blurry": f"blurry/{sid}.png",
        "depth": f"depth_ref/{sid}.png",
        "camera_logs": f"camera_logs/{sid}",
        "param_log": f"param_logs/{sid}.txt",
    }


def ids_in_folder(folder: Path, suffix: str, kind: str, files: str) -> list[str]:
    """The names without ``suffix`` of the ``*<suffix>`` files in ``folder``, sorted; a
    missing folder (``kind``) or one without such ``files`` raises InputFileError."""
    if not folder.is_dir():
        raise InputFileError(f"{folder}: {kind} folder not found")
    ids = sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}") if p.is_file())
    if not ids:
        raise InputFileError(f"{folder}: no <id>{suffix} {files}")
    return ids


def list_ids(root: str | os.PathLike) -> list[str]:
    """Scene ids: the ``param_logs/*.txt`` names without extension, sorted by name."""
    return ids_in_folder(Path(root) / "param_logs", ".txt", "param log", "param logs")


def categories(root: str | os.PathLike, scene_id: str) -> dict[str, str | None]:
    """``scene``, ``trans_mode``, ``rot_mode``, ``motion_group`` and ``tag`` of a scene
    (reads only its param log)."""
    params = read_param_log(Path(root) / relative_paths(scene_id)["param_log"])
    return {
        "scene": params.scene,
        "trans_mode": params.trans_mode,
        "rot_mode": params.rot_mode,
        "motion_group": motion_group(params.trans_mode, params.rot_mode),
        "tag": tag_of(scene_id),
    }


def read_rgb(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """An RGB image file whose (H, W) must be ``shape``, the depth map's."""
    image = read_image(path)
    if image.ndim != 3:
        raise InputFileError(f"{path}: expected an RGB image, got a single channel")
    if image.shape[:2] != shape:
        raise InputFileError(
            f"{path}: image is {image.shape[0]}x{image.shape[1]}, the depth map is "
            f"{shape[0]}x{shape[1]}"
        )
    return image


def provenance(
    trajectory: Trajectory,
    reference_rxry: np.ndarray,
    files: dict[str, str],
    pose_note: str,
    source: str,
    licence: str,
) -> dict[str, Any]:
    """The ``attrs`` entries a CMB scene ends with (this module's and RealCMB's).

    ``reference_rxry_max_diff_deg`` is the largest difference between the trajectory's
    ``r_x, r_y`` and the reference loader's (``reference_rxry``, (N, 2) deg); then
    ``pose_convention``, ``files``, ``source``, ``licence`` and ``citation``.
    """
    return {
        "reference_rxry_max_diff_deg": float(
            np.abs(trajectory.rotation[:, :2] - reference_rxry).max()
        ),
        "pose_convention": pose_note,
        "files": dict(files),
        "source": source,
        "licence": licence,
        "citation": CITATION,
    }


def depth_scene(
    dataset: str,
    scene_id: str,
    images: tuple[np.ndarray, np.ndarray],
    depth: np.ndarray,
    trajectory: Trajectory,
    intrinsics: np.ndarray,
    attrs: dict[str, Any],
) -> Scene:
    """A :class:`Scene` of ``images`` (sharp, blurry) with float32 ``depth``, the
    ``trajectory`` and the ``intrinsics``."""
    sharp, blurry = images
    return Scene(
        dataset=dataset,
        id=scene_id,
        sharp=sharp,
        depth=depth.astype(np.float32),
        trajectory=trajectory,
        intrinsics=intrinsics,
        blurry=blurry,
        attrs=attrs,
    )


def make_scene(root: str | os.PathLike, scene_id: str, *, repair_depth: bool = False) -> Scene:
    """Read scene ``scene_id`` from the VirtualCMB folder ``root``.

    Returns a :class:`Scene` (``dataset`` ``"virtualcmb"``) with

    - ``sharp`` / ``blurry``: ``sharp_ref/<id>.png`` / ``blurry/<id>.png``, (H, W, 3)
      float32 in [0, 1] (level / dtype max, as the reference);
    - ``depth``: ``depth_ref/<id>.png`` decoded with the reference sample's
      ``depthRange`` (:func:`decode_unity_depth`; sky = 1.5 * depthRange.max), float32 m;
    - ``trajectory``: from ``camera_logs/<id>/**`` (:func:`trajectory_from_logs`), 2000 Hz
      for Trucking scenes, else 500 Hz;
    - ``intrinsics``: K of the reference sample (:meth:`CameraLog.intrinsics`);
    - ``attrs``: ``scene``, ``tag``, ``trans_mode``, ``rot_mode``, ``motion_group``,
      ``sampling_hz``, ``n_poses``, ``depth_range``, ``sky_depth``, ``sky_pixels``,
      ``depth_repaired_pixels``, ``intrinsics_image_size`` (the log's imageSize, W x H),
      ``reference_rxry_max_diff_deg``, ``pose_convention``, ``files``, ``source``,
      ``licence``, ``citation``.

    Depth that is NaN, infinite or <= 0 after decoding (possible only with a broken log)
    raises :class:`InputFileError`; ``repair_depth=True`` replaces it by the sky depth
    and counts it in ``attrs['depth_repaired_pixels']``.

    Raises:
        ValueError: a scene id that is not a plain file name.
        InputFileError: a missing or unreadable file (naming its path), fewer than 2
            camera-log samples, a non-rigid pose, mismatched image sizes, invalid depth.
    """
    root = Path(root)
    rel = relative_paths(scene_id)
    params = read_param_log(root / rel["param_log"])
    tag = tag_of(scene_id)
    logs = read_camera_logs(root / rel["camera_logs"])
    trajectory = trajectory_from_logs(logs, sampling_rate_hz(tag))
    ref_log = logs[trajectory.reference_index]
    _check_depth_range(ref_log.depth_min, ref_log.depth_max, str(ref_log.path))
    sky = SKY_FACTOR * ref_log.depth_max
    depth_path = root / rel["depth"]
    depth = read_depth_png(depth_path, ref_log.depth_min, ref_log.depth_max)
    sky_pixels = int(np.count_nonzero(depth == sky))
    depth, repaired = check_depth(depth, depth_path, repair=repair_depth, fill_value=sky)
    shape = (int(depth.shape[0]), int(depth.shape[1]))
    sharp = read_rgb(root / rel["sharp"], shape)
    blurry = read_rgb(root / rel["blurry"], shape)
    transforms = relative_transforms(logs)
    reference_rxry = np.stack([reference_angles_deg(m)[:2] for m in transforms])
    attrs = {
        "scene": params.scene,
        "tag": tag,
        "trans_mode": params.trans_mode,
        "rot_mode": params.rot_mode,
        "motion_group": motion_group(params.trans_mode, params.rot_mode),
        # the group the reference evaluation reports separately: per-category tables
        "category": motion_group(params.trans_mode, params.rot_mode),
        "sampling_hz": sampling_rate_hz(tag),
        "n_poses": trajectory.n_poses,
        "depth_range": [ref_log.depth_min, ref_log.depth_max],
        "sky_depth": sky,
        "sky_pixels": sky_pixels,
        "depth_repaired_pixels": repaired,
        "intrinsics_image_size": list(ref_log.image_size_px),
        **provenance(trajectory, reference_rxry, rel, POSE_NOTE, SOURCE, LICENCE),
    }
    if tuple(ref_log.image_size_px) != (shape[1], shape[0]):
        attrs["intrinsics_note"] = (
            f"K is for the logged imageSize {ref_log.image_size_px[0]}x"
            f"{ref_log.image_size_px[1]} (W x H) but the images are {shape[1]}x{shape[0]}; "
            "used unscaled, as the reference does"
        )
    intrinsics = ref_log.intrinsics()
    return depth_scene(DATASET, scene_id, (sharp, blurry), depth, trajectory, intrinsics, attrs)
