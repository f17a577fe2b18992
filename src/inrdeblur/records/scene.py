"""The scene record: one image with everything known about it.

A scene is stored as ``data/scenes/<dataset>/<id>.npz`` with these arrays:

==============  ====================  ===============================================
key             shape / dtype         meaning
==============  ====================  ===============================================
sharp           (H, W, C) float32     sharp image, 8-bit levels / 255, in [0, 1]; C = 1
                                      for a gray dataset (Levin, Lai on its Y channel),
                                      3 for RGB; absent without ground truth (photos)
depth           (H, W) float32        depth along the optical axis, metres, > 0
poses           (N, 6) float64        trajectory ``[tx, ty, tz] m, [rx, ry, rz] deg``
timestamps      (N,) float64          pose times, seconds
reference_index () int64              index of the pose the sharp image was taken at
intrinsics      (3, 3) float64        pinhole matrix K in pixels
blurry          (H, W, C) float32     real blurry observation (optional; required
                                      when there is no ``sharp``)
kernel          (k, k) float32        true blur kernel, sums to 1 (optional)
attrs           () str                JSON: dataset, id, source, licence, notes
==============  ====================  ===============================================

``depth``, the trajectory and ``intrinsics`` are optional as a group: datasets without
geometry (Levin, Kodak) omit them. A scene without ground truth (the user's own photos,
``dataset: photos``) has ``sharp`` None and only its ``blurry`` image, which then sets the
scene's shape and channels.

Channels are a property of the scene: a gray image is stored with one channel, and every
stage after it (blur, noise, fit, metrics, report) keeps that one channel, so a gray
observation gets one noise draw per pixel, not three.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inrdeblur.blur.trajectory import Trajectory, TrajectoryError
from inrdeblur.fileio import InputFileError, read_npz, write_npz

#: channel counts of a scene image: gray or RGB
CHANNELS = (1, 3)


class SceneError(InputFileError):
    """A scene record is malformed; the message names the file and the field."""


@dataclass
class Scene:
    """One image with everything known about it (see the module docstring for units)."""

    dataset: str
    id: str
    sharp: np.ndarray | None
    depth: np.ndarray | None = None
    trajectory: Trajectory | None = None
    intrinsics: np.ndarray | None = None
    blurry: np.ndarray | None = None
    kernel: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def image(self) -> np.ndarray:
        """(H, W, C) ``sharp``, or ``blurry`` for a scene without ground truth."""
        return self.blurry if self.sharp is None else self.sharp

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def channels(self) -> int:
        """1 for a gray scene, 3 for RGB."""
        return int(self.image.shape[2])

    def validate(self, source: str | None = None) -> None:
        """Check shapes, ranges and units; raise :class:`SceneError` naming the field."""
        where = source or f"scene {self.dataset}/{self.id}"
        if self.sharp is None and self.blurry is None:
            raise SceneError(f"{where}: needs 'sharp' or, without ground truth, 'blurry'")
        # the image that sets the shape: the sharp one, or the blurry one without ground truth
        name = "blurry" if self.sharp is None else "sharp"
        sharp = np.asarray(getattr(self, name))
        if sharp.ndim != 3 or sharp.shape[2] not in CHANNELS:
            raise SceneError(f"{where}: '{name}' must be (H, W, 1) or (H, W, 3), got {sharp.shape}")
        if self.sharp is not None:
            if not np.all(np.isfinite(sharp)) or sharp.min() < 0 or sharp.max() > 1:
                raise SceneError(f"{where}: 'sharp' must hold finite values in [0, 1]")
            self.sharp = sharp.astype(np.float32, copy=False)
        if self.depth is not None:
            depth = np.asarray(self.depth, dtype=np.float32)
            if depth.shape != self.shape:
                raise SceneError(f"{where}: 'depth' shape {depth.shape} != image {self.shape}")
            if not np.all(np.isfinite(depth)):
                n = int((~np.isfinite(depth)).sum())
                raise SceneError(f"{where}: 'depth' has {n} non-finite (NaN/inf) values")
            if depth.min() <= 0:
                n = int((depth <= 0).sum())
                raise SceneError(f"{where}: 'depth' has {n} zero or negative values (metres)")
            self.depth = depth
        if self.intrinsics is not None:
            k = np.asarray(self.intrinsics, dtype=np.float64)
            if k.shape != (3, 3) or not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
                raise SceneError(f"{where}: 'intrinsics' must be a finite 3x3 K with fx, fy > 0")
            self.intrinsics = k
        if self.blurry is not None:
            blurry = np.asarray(self.blurry, dtype=np.float32)
            if blurry.shape != sharp.shape or not np.all(np.isfinite(blurry)):
                raise SceneError(f"{where}: 'blurry' must be finite with the shape of 'sharp'")
            self.blurry = blurry
        if self.kernel is not None:
            from inrdeblur.blur.kernels import validate_kernel

            try:
                self.kernel = validate_kernel(self.kernel, name=f"{where}: 'kernel'")
            except ValueError as err:
                raise SceneError(str(err)) from err

    def save(self, path: str | os.PathLike) -> None:
        """Write the scene to ``path`` (.npz) atomically."""
        arrays: dict[str, Any] = {} if self.sharp is None else {"sharp": self.sharp}
        if self.depth is not None:
            arrays["depth"] = self.depth
        if self.trajectory is not None:
            arrays.update(trajectory_arrays(self.trajectory))
        if self.intrinsics is not None:
            arrays["intrinsics"] = self.intrinsics
        if self.blurry is not None:
            arrays["blurry"] = self.blurry
        if self.kernel is not None:
            arrays["kernel"] = self.kernel
        attrs = {"dataset": self.dataset, "id": self.id, **self.attrs}
        arrays["attrs"] = np.array(json.dumps(attrs, sort_keys=True))
        write_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Scene:
        """Read and validate a scene record; errors name the file and the field."""
        path = Path(path)
        data = read_npz(path)
        for key in ("sharp", "attrs"):
            if key not in data and not (key == "sharp" and "blurry" in data):
                raise SceneError(f"{path}: missing array '{key}'")
        attrs = json.loads(str(data["attrs"]))
        trajectory = read_trajectory(data, path)
        scene = cls.__new__(cls)
        scene.dataset = attrs.pop("dataset")
        scene.id = attrs.pop("id")
        scene.sharp = data.get("sharp")
        scene.depth = data.get("depth")
        scene.trajectory = trajectory
        scene.intrinsics = data.get("intrinsics")
        scene.blurry = data.get("blurry")
        scene.kernel = data.get("kernel")
        scene.attrs = attrs
        scene.validate(source=str(path))
        return scene


def observed_part(sharp: np.ndarray | None, crop: list[int] | None) -> np.ndarray | None:
    """The part of ``sharp`` a blurred record shows: all of it, or ``crop``.

    ``crop`` is a blurred record's ``attrs["crop"]``, ``[top, left, height, width]`` px,
    set by a 'valid' blur, whose blurry image is smaller than the sharp image. None for a
    scene without ground truth (``sharp`` None).
    """
    if crop is None or sharp is None:
        return sharp
    top, left, height, width = (int(v) for v in crop)
    return sharp[top : top + height, left : left + width]


def trajectory_arrays(trajectory: Trajectory) -> dict[str, np.ndarray]:
    """The ``poses``, ``timestamps`` and ``reference_index`` arrays of a record."""
    return {
        "poses": trajectory.as_array(),
        "timestamps": trajectory.timestamps,
        "reference_index": np.int64(trajectory.reference_index),
    }


def read_trajectory(data: dict[str, np.ndarray], path: Path) -> Trajectory | None:
    """The trajectory stored in a record's arrays, or None; errors name ``path``."""
    if "poses" not in data:
        return None
    try:
        return Trajectory.from_array(
            data["poses"], data["timestamps"], int(data["reference_index"])
        )
    except (TrajectoryError, KeyError) as err:
        raise SceneError(f"{path}: trajectory: {err}") from err
