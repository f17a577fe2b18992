"""RealCMB (``dataset: realcmb``): real hand-held parallax blur from an iPhone, read from a folder.

Torres and Kämäräinen, SCIA 2023 (see :mod:`inrdeblur.data.virtualcmb`), data on Zenodo
record 7745713: 58 bursts captured with ARKit + LiDAR on an iPhone 12 Pro (Max) with the
HNDR ``DepthBundleRecorder`` app (Chugunov et al., CVPR 2022). The folder holds::

    sharp_ref/<id>.png        sharp reference, 8-bit RGB
    blurry/<id>.png           blurred observation, 8-bit RGB
    depth_ref/<id>.npz        key 'depth_ref': (H, W) float depth in metres (LiDAR)
    bundle_info/<id>.npz      key 'bundle_info': object array, one dict per frame

Scene ids are the ``blurry/*.png`` names without extension, sorted (:func:`list_ids`, the
reference's ``RealCMB_info.csv``). The image size is the depth map's.

**Frame dicts** (HNDR ``ConvertBinaries.read_header``): ``timestamp`` (s; HNDR subtracts
the bundle's first frame), ``world_to_camera`` (4x4, ARKit
``camera.viewMatrix(for: .portrait)``), ``intrinsics`` (3x3 K in px, ARKit
``camera.intrinsics``, transposed to row-major), ``world_pose`` and ``euler_angles``
(unused). HNDR rotates depth and colour frames to portrait (``np.flip(x.T, 1)``) and
asks ARKit for the portrait view matrix, so poses and images share the portrait frame;
``intrinsics`` however is ARKit's raw K for the landscape 1920x1440 colour stream.

**Poses.** As the reference (``RealCMBBundle.camera_motion``):
``F_k = world_to_camera_k @ inv(world_to_camera_ref)``, ``ref = N // 2 + 1``, ``F_ref = I``;
``F_k`` maps the reference camera's frame into camera ``k``'s. ARKit's camera frame is
x right, y up, z *backward* (the camera looks along -z); this project's
(:mod:`inrdeblur.blur.trajectory`) is x right, y up, z forward. So the pose used is
``S F_k S`` with ``S = diag(1, 1, -1, 1)``: ``t = (t_x, t_y, -t_z)`` and the rotation
conjugated by the z flip, then written as extrinsic x-y-z angles like every trajectory
here. The reference instead stores ``rot = -[r_x, r_y, r_z]`` of the 'rzxy' Euler angles
of ``F_k`` and ``trans = +T_k``. Because ``rzxy(S R S) = (r_z, -r_x, -r_y)``, its ``r_x``,
``r_y``, ``t_x`` and ``t_y`` (all ICB uses) are exactly the z-flip's in 'rzxy' form; its
``r_z`` and ``t_z`` have the opposite sign of a consistent conversion, which only the
full-homography PWB model sees. ``attrs['reference_rxry_max_diff_deg']`` records the
remaining 'rzxy' vs extrinsic-xyz difference in ``r_x, r_y``.

**Intrinsics.** The reference uses ``K[0, 0]`` (px) as the focal length in both axes and
the principal point ``(K[0, 2], K[1, 2])``, whatever the image size. The stored K belongs
to the landscape 1920x1440 colour stream while the depth (and, probably, the images:
INR-deblurring hard-codes 256x192) is 256x192 portrait; whether RealCMB rescaled K is not
documented. :func:`make_scene` therefore takes ``intrinsics_size``, the (H, W) frame K was
calibrated for, default ``(1440, 1920)``: K is rotated to portrait when the image is
portrait and that frame landscape (HNDR's ``np.flip(x.T, 1)``: new row = old column,
new column = ``H_K`` - old row, so ``fx' = fy``, ``fy' = fx``, ``cx' = H_K - cy``,
``cy' = cx``) and then scaled by the image / frame size ratio (``K`` in the corner
convention: pixel ``i`` covers ``[i, i + 1)``). As a guard, the stored principal point
must lie within 10% of that frame's centre, otherwise K was evidently not calibrated for
it and the reader refuses. ``intrinsics_size=None`` keeps K exactly as stored (the
reference's behaviour).

**Security.** ``bundle_info`` is an object array, i.e. a pickle. ``np.load(...,
allow_pickle=True)`` (what the reference does) would run any code a crafted file
contains. This module never passes ``allow_pickle``: object arrays of ``bundle_info``
files are rebuilt by :func:`read_bundle` with an unpickler that only constructs numpy
arrays, dtypes and scalars (plus plain dicts, lists, strings and numbers) and refuses
everything else. Depth files are read with pickling disabled.

>>> intrinsics_for_image(np.array([[1500.0, 0, 960], [0, 1500, 720], [0, 0, 1]]),
...                      (256, 192), (1440, 1920))[0].round(3).tolist()
[[200.0, 0.0, 96.0], [0.0, 200.0, 128.0], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from inrdeblur.blur.trajectory import Trajectory, reference_pose_index
from inrdeblur.data.virtualcmb import (
    CITATION,
    check_depth,
    check_scene_id,
    depth_scene,
    ids_in_folder,
    pose_from_transform,
    provenance,
    read_rgb,
    reference_angles_deg,
)
from inrdeblur.fileio import InputFileError, read_npz
from inrdeblur.records.scene import Scene

DATASET = "realcmb"
#: (H, W) of ARKit's colour stream, the frame the stored intrinsics are calibrated for.
ARKIT_COLOR_SIZE: tuple[int, int] = (1440, 1920)
#: ARKit camera axes (x right, y up, z backward) -> this project's (x right, y up, z forward).
ARKIT_TO_PROJECT = np.diag([1.0, 1.0, -1.0, 1.0])
#: Missing LiDAR depth is repaired with this multiple of the largest valid depth.
REPAIR_FACTOR = 1.5
#: The principal point must lie within this fraction of the frame size from its centre.
PRINCIPAL_POINT_TOLERANCE = 0.1
#: Image and calibration frame must have the same aspect ratio to this relative tolerance.
ASPECT_TOLERANCE = 0.01

LICENCE = (
    "Distributed on Zenodo (record 7745713) by the authors; the licence could not be read "
    "when this reader was written. Cite: " + CITATION
)
SOURCE = "RealCMB (Torres and Kämäräinen 2023), local copy of Zenodo 7745713"
POSE_NOTE = (
    "Poses are S F_k S with F_k = world_to_camera_k @ inv(world_to_camera_ref) (reference "
    "frame N//2+1) and S = diag(1, 1, -1) (ARKit z backward -> z forward); rotation as "
    "extrinsic x-y-z angles. The reference's r_x, r_y, t_x, t_y agree; its r_z and t_z "
    "have the opposite sign."
)

# --------------------------------------------------------------------------- bundle files


def _safe_globals() -> dict[tuple[str, str], Any]:
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(1.0).__reduce__()[0]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray}
    allowed[("numpy", "dtype")] = np.dtype
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x and 2.x
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    return allowed


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dtypes and scalars and nothing callable else."""

    _allowed = _safe_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _load_object_member(path: Path, key: str) -> np.ndarray:
    """Array ``key`` of the .npz ``path``; object arrays via :class:`_NumpyOnlyUnpickler`."""
    fmt = np.lib.format
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            member = f"{key}.npy"
            if member not in archive.namelist():
                names = ", ".join(n.removesuffix(".npy") for n in archive.namelist())
                raise InputFileError(f"{path}: no array '{key}' (has: {names})")
            with archive.open(member) as fp:
                version = fmt.read_magic(fp)
                if version == (1, 0):
                    _, _, dtype = fmt.read_array_header_1_0(fp)
                elif version == (2, 0):
                    _, _, dtype = fmt.read_array_header_2_0(fp)
                else:
                    raise InputFileError(f"{path}: unsupported .npy format version {version}")
                if dtype.hasobject:
                    array = _NumpyOnlyUnpickler(fp).load()
                else:
                    array = None
            if array is None:
                with archive.open(member) as fp:
                    array = fmt.read_array(fp, allow_pickle=False)
    except InputFileError:
        raise
    except pickle.UnpicklingError as err:
        raise InputFileError(
            f"{path}: '{key}' holds objects that are not plain data ({err})"
        ) from err
    except Exception as err:  # BadZipFile, ValueError, EOFError, OSError ...
        raise InputFileError(f"{path}: not a readable .npz file ({err})") from err
    if not isinstance(array, np.ndarray):
        raise InputFileError(f"{path}: '{key}' is not an array ({type(array).__name__})")
    return array


def _matrix(value: Any, shape: tuple[int, int], where: str) -> np.ndarray:
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputFileError(f"{where}: not a numeric matrix ({err})") from err
    if m.shape != shape or not np.all(np.isfinite(m)):
        raise InputFileError(f"{where}: expected a finite {shape} matrix, got shape {m.shape}")
    return m


def read_bundle(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-frame dicts of ``bundle_info/<id>.npz`` (key ``bundle_info``), checked.

    Each returned dict has ``timestamp`` (float, s), ``world_to_camera`` (4, 4) and
    ``intrinsics`` (3, 3) as float64; other keys are passed through. A missing or
    unreadable file, a non-plain-data pickle, a frame that is not a dict or lacks a
    field raises :class:`InputFileError` naming the file (and the frame).
    """
    path = Path(path)
    array = _load_object_member(path, "bundle_info")
    items = array.item() if array.ndim == 0 else list(array)
    if not isinstance(items, list):
        raise InputFileError(f"{path}: 'bundle_info' must be a sequence of per-frame dicts")
    frames = []
    for index, info in enumerate(items):
        where = f"{path}: frame {index}"
        if not isinstance(info, dict):
            raise InputFileError(f"{where}: expected a dict, got {type(info).__name__}")
        for key in ("timestamp", "world_to_camera", "intrinsics"):
            if key not in info:
                raise InputFileError(f"{where}: missing '{key}'")
        try:
            timestamp = float(info["timestamp"])
        except (TypeError, ValueError) as err:
            raise InputFileError(f"{where}: 'timestamp' is not a number") from err
        if not math.isfinite(timestamp):
            raise InputFileError(f"{where}: 'timestamp' is not finite")
        frame = dict(info)
        frame["timestamp"] = timestamp
        frame["world_to_camera"] = _matrix(info["world_to_camera"], (4, 4), where)
        frame["intrinsics"] = _matrix(info["intrinsics"], (3, 3), where)
        frames.append(frame)
    return frames


# --------------------------------------------------------------------------- poses, intrinsics


def relative_transforms(frames: list[dict[str, Any]]) -> np.ndarray:
    """(N, 4, 4) ``F_k = world_to_camera_k @ inv(world_to_camera_ref)`` (ARKit axes), F_ref = I."""
    ref = reference_pose_index(len(frames))
    camera_to_world_ref = np.linalg.inv(frames[ref]["world_to_camera"])
    transforms = np.stack([f["world_to_camera"] @ camera_to_world_ref for f in frames])
    transforms[ref] = np.eye(4)
    return transforms


def trajectory_from_bundle(frames: list[dict[str, Any]], source: str) -> Trajectory:
    """The :class:`Trajectory` of a bundle in this project's convention (module docstring).

    Timestamps are the frames' minus the first one's and must not decrease; fewer than
    2 frames raises :class:`InputFileError` naming ``source``.
    """
    if len(frames) < 2:
        raise InputFileError(f"{source}: needs at least 2 frames, found {len(frames)}")
    timestamps = np.array([f["timestamp"] for f in frames], dtype=np.float64)
    if np.any(np.diff(timestamps) < 0):
        raise InputFileError(f"{source}: frame timestamps decrease; frames are out of order")
    translation = np.empty((len(frames), 3))
    rotation = np.empty((len(frames), 3))
    for k, matrix in enumerate(relative_transforms(frames)):
        flipped = ARKIT_TO_PROJECT @ matrix @ ARKIT_TO_PROJECT
        translation[k], rotation[k] = pose_from_transform(flipped, f"{source}: frame {k}")
    return Trajectory(
        translation, rotation, timestamps - timestamps[0], reference_pose_index(len(frames))
    )


def reference_rotation_deg(frames: list[dict[str, Any]]) -> np.ndarray:
    """(N, 3) the reference loader's ``rot``: ``-[r_x, r_y, r_z]`` of 'rzxy' angles (deg)."""
    return np.stack([-reference_angles_deg(m) for m in relative_transforms(frames)])


def intrinsics_for_image(
    intrinsics: np.ndarray,
    image_size: tuple[int, int],
    intrinsics_size: tuple[int, int] | None = ARKIT_COLOR_SIZE,
    source: str = "intrinsics",
) -> tuple[np.ndarray, dict[str, Any]]:
    """K for an image of ``image_size`` (H, W) from a K calibrated for ``intrinsics_size``.

    ``intrinsics_size=None`` returns K unchanged. Otherwise K is rotated to portrait when
    the image is portrait and the calibration frame landscape (HNDR's rotation, module
    docstring), then scaled by the image / frame ratio. Returns K and a dict with
    ``intrinsics_rotated`` and ``intrinsics_scale``. A principal point more than 10% of
    the frame away from its centre, or aspect ratios that do not match either way, raise
    :class:`InputFileError` naming ``source``.
    """
    k = np.array(intrinsics, dtype=np.float64)
    if intrinsics_size is None:
        return k, {"intrinsics_rotated": False, "intrinsics_scale": 1.0}
    frame_h, frame_w = (float(v) for v in intrinsics_size)
    height, width = (float(v) for v in image_size)
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    tol = PRINCIPAL_POINT_TOLERANCE
    if abs(cx - frame_w / 2) > tol * frame_w or abs(cy - frame_h / 2) > tol * frame_h:
        raise InputFileError(
            f"{source}: principal point ({cx:.1f}, {cy:.1f}) px is not near the centre of a "
            f"{frame_w:.0f}x{frame_h:.0f} (W x H) frame, so K was not calibrated for "
            f"intrinsics_size={tuple(intrinsics_size)}; pass the right size, or None to use "
            "K as stored"
        )
    rotated = False
    aspect, frame_aspect = height / width, frame_h / frame_w
    if abs(aspect / frame_aspect - 1) > ASPECT_TOLERANCE:
        if abs(aspect * frame_aspect - 1) > ASPECT_TOLERANCE:
            raise InputFileError(
                f"{source}: image {width:.0f}x{height:.0f} (W x H) has neither the aspect of "
                f"the {frame_w:.0f}x{frame_h:.0f} calibration frame nor its transpose"
            )
        rotated = True
        k = np.array([[fy, 0.0, frame_h - cy], [0.0, fx, cx], [0.0, 0.0, 1.0]])
        frame_h, frame_w = frame_w, frame_h
    scale_x, scale_y = width / frame_w, height / frame_h
    scaled = np.diag([scale_x, scale_y, 1.0]) @ k
    return scaled, {"intrinsics_rotated": rotated, "intrinsics_scale": [scale_x, scale_y]}


# --------------------------------------------------------------------------- scenes


def relative_paths(scene_id: str) -> dict[str, str]:
    """The scene's files, relative to the dataset root."""
    sid = check_scene_id(scene_id, DATASET)
    return {
        "sharp": f"sharp_ref/{sid}.png",
        "blurry": f"blurry/{sid}.png",
        "depth": f"depth_ref/{sid}.npz",
        "bundle": f"bundle_info/{sid}.npz",
    }


def list_ids(root: str | os.PathLike) -> list[str]:
    """Scene ids: the ``blurry/*.png`` names without extension, sorted by name."""
    return ids_in_folder(Path(root) / "blurry", ".png", "blurry image", "images")


def read_depth(path: str | os.PathLike, *, repair: bool = False) -> tuple[np.ndarray, int]:
    """``depth_ref/<id>.npz`` (key ``depth_ref``) as (H, W) float64 metres, and the number of
    repaired pixels; NaN/inf/<= 0 pixels are rejected or, with ``repair``, set to 1.5 x the
    largest valid depth."""
    path = Path(path)
    data = read_npz(path)
    if "depth_ref" not in data:
        raise InputFileError(f"{path}: no array 'depth_ref' (has: {', '.join(data)})")
    depth = data["depth_ref"]
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number) or min(depth.shape) < 1:
        raise InputFileError(f"{path}: 'depth_ref' must be a numeric (H, W) map, got {depth.shape}")
    depth = depth.astype(np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    fill = REPAIR_FACTOR * float(depth[valid].max()) if valid.any() else float("nan")
    return check_depth(depth, path, repair=repair, fill_value=fill)


def make_scene(
    root: str | os.PathLike,
    scene_id: str,
    *,
    repair_depth: bool = False,
    intrinsics_size: tuple[int, int] | None = ARKIT_COLOR_SIZE,
) -> Scene:
    """Read scene ``scene_id`` from the RealCMB folder ``root``.

    Returns a :class:`Scene` (``dataset`` ``"realcmb"``) with

    - ``sharp`` / ``blurry``: ``sharp_ref/<id>.png`` / ``blurry/<id>.png``, (H, W, 3)
      float32 in [0, 1]; (H, W) must be the depth map's;
    - ``depth``: ``depth_ref/<id>.npz`` (:func:`read_depth`), float32 metres;
    - ``trajectory``: from ``bundle_info/<id>.npz`` (:func:`trajectory_from_bundle`);
    - ``intrinsics``: the reference frame's K through :func:`intrinsics_for_image` with
      ``intrinsics_size`` (default: ARKit's 1440x1920 colour frame; ``None`` keeps K as
      stored, as the reference does);
    - ``attrs``: ``n_frames``, ``intrinsics_stored``, ``intrinsics_size``,
      ``intrinsics_rotated``, ``intrinsics_scale``, ``depth_repaired_pixels``,
      ``reference_rxry_max_diff_deg``, ``pose_convention``, ``files``, ``source``,
      ``licence``, ``citation``.

    Raises:
        ValueError: a scene id that is not a plain file name.
        InputFileError: a missing or unreadable file (naming its path), fewer than 2
            frames, a non-rigid pose, mismatched sizes, invalid depth without
            ``repair_depth``, intrinsics that do not fit ``intrinsics_size``.
    """
    root = Path(root)
    rel = relative_paths(scene_id)
    bundle_path = root / rel["bundle"]
    frames = read_bundle(bundle_path)
    trajectory = trajectory_from_bundle(frames, str(bundle_path))
    depth, repaired = read_depth(root / rel["depth"], repair=repair_depth)
    shape = (int(depth.shape[0]), int(depth.shape[1]))
    sharp = read_rgb(root / rel["sharp"], shape)
    blurry = read_rgb(root / rel["blurry"], shape)
    stored_k = frames[trajectory.reference_index]["intrinsics"]
    k, k_info = intrinsics_for_image(
        stored_k, shape, intrinsics_size, f"{bundle_path}: frame {trajectory.reference_index}"
    )
    reference_rxry = reference_rotation_deg(frames)[:, :2]
    attrs = {
        "n_frames": trajectory.n_poses,
        "intrinsics_stored": stored_k.tolist(),
        "intrinsics_size": None if intrinsics_size is None else list(intrinsics_size),
        **k_info,
        "depth_repaired_pixels": repaired,
        **provenance(trajectory, reference_rxry, rel, POSE_NOTE, SOURCE, LICENCE),
    }
    return depth_scene(DATASET, scene_id, (sharp, blurry), depth, trajectory, k, attrs)
