"""The blurred-image record: a blurry observation and what rebuilds its blur operator.

A blurred record is stored as ``data/blurred/<blur>/<dataset>/<scene>.npz`` with
``blurry`` (H, W, C) float32 (the scene's C channels: 1 gray, 3 RGB) and ``attrs`` (JSON:
the blur name and recipe, the seeds of kernel, trajectory and noise, the operator's
description, blurry_psnr), plus what rebuilds the operator: ``kernel`` (k_h, k_w) float32
for a uniform blur, or the geometry of an ICB or PWB blur in the scene record's format
(``depth``, ``poses``, ``timestamps``, ``reference_index``, ``intrinsics``).
:meth:`BlurredImage.operator` rebuilds it. A blur of model ``observed`` (the scene's
stored blurry image as it is, e.g. a user's photo) has no operator: its record holds only
``blurry`` and ``attrs``, and only blind methods can deblur it. The synthesize stage
(:mod:`inrdeblur.data.synthesize`) writes these records; the fit, evaluate and report
stages read them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inrdeblur.blur import kernels
from inrdeblur.blur.models import OBSERVED, build_operator, scene_inputs
from inrdeblur.blur.operator import BlurOperator
from inrdeblur.blur.trajectory import Trajectory
from inrdeblur.fileio import InputFileError, read_npz, write_npz
from inrdeblur.records.scene import (
    Scene,
    SceneError,
    observed_part,
    read_trajectory,
    trajectory_arrays,
)


@dataclass
class BlurredImage:
    """A blurry observation and what rebuilds the operator that produced it.

    Attributes:
        blurry: (H, W, C) float32, blurred sharp image plus noise (not clipped); C is the
            scene's channel count, and the noise is drawn once per observed channel.
        attrs: JSON-able facts; ``attrs["settings"]`` is the blur recipe.
        kernel: (k_h, k_w) kernel of a uniform blur, else None.
        depth: (H, W) metres of an ICB/PWB blur, else None.
        trajectory: camera motion of an ICB/PWB blur, else None.
        intrinsics: (3, 3) K in pixels of an ICB/PWB blur, else None.
    """

    blurry: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    kernel: np.ndarray | None = None
    depth: np.ndarray | None = None
    trajectory: Trajectory | None = None
    intrinsics: np.ndarray | None = None

    def operator(self) -> BlurOperator:
        """The blur operator of this image, rebuilt from the stored recipe and data.

        Raises:
            ValueError: the blur has no operator (model ``observed``), naming the blur.
        """
        if self.attrs["settings"]["model"] == OBSERVED:
            raise ValueError(
                f"blurs.{self.attrs.get('blur')}.model: {OBSERVED!r} has no blur operator: the "
                "observation is the scene's stored blurry image as it is, so only a blind "
                "method (which estimates the blur) can deblur it"
            )
        return build_operator(
            self.attrs["settings"],
            self.blurry.shape[:2],
            kernel=self.kernel,
            depth=self.depth,
            trajectory=self.trajectory,
            intrinsics=self.intrinsics,
        )

    def target(self, sharp: np.ndarray) -> np.ndarray:
        """The part of the scene's ``sharp`` image this observation shows.

        The whole image, except for a 'valid' blur, whose blurry image is the centre of
        the sharp image shrunk by the kernel's margin (``attrs["crop"]`` = top, left,
        height, width).
        """
        return observed_part(sharp, self.attrs.get("crop"))

    def save(self, path: str | os.PathLike) -> None:
        arrays: dict[str, Any] = {"blurry": self.blurry.astype(np.float32)}
        if self.kernel is not None:
            arrays["kernel"] = self.kernel.astype(np.float32)
        if self.depth is not None:
            arrays["depth"] = self.depth.astype(np.float32)
        if self.trajectory is not None:
            arrays.update(trajectory_arrays(self.trajectory))
        if self.intrinsics is not None:
            arrays["intrinsics"] = np.asarray(self.intrinsics, dtype=np.float64)
        arrays["attrs"] = np.array(json.dumps(self.attrs, sort_keys=True))
        write_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BlurredImage:
        path = Path(path)
        data = read_npz(path)
        for key in ("blurry", "attrs"):
            if key not in data:
                raise InputFileError(f"{path}: missing array '{key}'")
        blurry = data["blurry"].astype(np.float32)
        if blurry.ndim != 3 or not np.all(np.isfinite(blurry)):
            raise InputFileError(f"{path}: 'blurry' must be a finite (H, W, C) image")
        attrs = json.loads(str(data["attrs"]))
        model = attrs.get("settings", {}).get("model")
        try:
            inputs = scene_inputs(model)
        except ValueError as err:
            raise InputFileError(f"{path}: attrs.settings.{err}") from err
        # A trajectory is stored as the scene record's arrays, 'poses' first.
        needed = ["poses" if name == "trajectory" else name for name in inputs]
        for key in needed:
            if key not in data:
                raise InputFileError(f"{path}: missing array '{key}' of a {model!r} blur")
        kernel = None
        if "kernel" in data:
            try:
                kernel = kernels.validate_kernel(data["kernel"], name=f"{path}: 'kernel'")
            except ValueError as err:
                raise InputFileError(str(err)) from err
        try:
            # Validates depth, trajectory and intrinsics exactly as a scene record.
            geometry = Scene(
                dataset="blurred",
                id=str(path),
                sharp=np.zeros(blurry.shape, dtype=np.float32),
                depth=data.get("depth"),
                trajectory=read_trajectory(data, path),
                intrinsics=data.get("intrinsics"),
            )
        except SceneError as err:
            raise InputFileError(f"{path}: {err}") from err
        return cls(
            blurry=blurry,
            attrs=attrs,
            kernel=kernel,
            depth=geometry.depth,
            trajectory=geometry.trajectory,
            intrinsics=geometry.intrinsics,
        )
