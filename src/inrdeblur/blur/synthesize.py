"""The synthesize stage: make a blurry image from a sharp scene with a named blur.

A blurred record is stored as ``data/blurred/<blur>/<dataset>/<scene>.npz`` with
``blurry`` (H, W, 3) float32, ``kernel`` (k, k) float32 (the operator a non-blind fit
re-applies) and ``attrs`` (JSON: blur name, model, kernel family, boundary, noise_std,
kernel_seed, noise_seed, blurry_psnr).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inrdeblur.blur.kernels import random_motion_kernel, validate_kernel
from inrdeblur.blur.uniform import convolve
from inrdeblur.data.scene import Scene
from inrdeblur.fileio import InputFileError, read_npz, write_npz
from inrdeblur.seeding import seed_from_string


@dataclass
class BlurredImage:
    """A blurry observation and the operator that produced it."""

    blurry: np.ndarray
    kernel: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> None:
        write_npz(
            path,
            blurry=self.blurry.astype(np.float32),
            kernel=self.kernel.astype(np.float32),
            attrs=np.array(json.dumps(self.attrs, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> BlurredImage:
        path = Path(path)
        data = read_npz(path)
        for key in ("blurry", "kernel", "attrs"):
            if key not in data:
                raise InputFileError(f"{path}: missing array '{key}'")
        blurry = data["blurry"].astype(np.float32)
        if blurry.ndim != 3 or not np.all(np.isfinite(blurry)):
            raise InputFileError(f"{path}: 'blurry' must be a finite (H, W, C) image")
        try:
            kernel = validate_kernel(data["kernel"], name=f"{path}: 'kernel'")
        except ValueError as err:
            raise InputFileError(str(err)) from err
        return cls(blurry=blurry, kernel=kernel, attrs=json.loads(str(data["attrs"])))


def make_kernel(settings: dict[str, Any], seed: int) -> np.ndarray:
    """The kernel of a uniform blur (validated ``blurs.<name>`` settings)."""
    family = settings["kernel"]
    if family == "random_motion":
        return random_motion_kernel(settings["kernel_size"], seed)
    raise ValueError(f"kernel: unknown kernel family {family!r} (known: random_motion)")


def synthesize(scene: Scene, blur_name: str, settings: dict[str, Any]) -> BlurredImage:
    """Blur ``scene.sharp`` with the blur ``settings`` and add Gaussian noise.

    Seeds of the kernel and the noise are derived from the blur's base seed, the blur
    name and the scene's dataset and id, so every image gets its own reproducible draw.
    """
    if settings["model"] != "uniform":
        raise ValueError(f"blurs.{blur_name}.model: unknown blur model {settings['model']!r}")
    size = settings["kernel_size"]
    height, width = scene.shape
    if size >= min(height, width):
        raise ValueError(
            f"blurs.{blur_name}.kernel_size: {size} px is not smaller than the image "
            f"{scene.dataset}/{scene.id} ({height}x{width})"
        )
    base = (blur_name, settings["seed"], scene.dataset, scene.id)
    kernel_seed = seed_from_string("kernel", *base)
    noise_seed = seed_from_string("noise", *base)
    kernel = make_kernel(settings, kernel_seed)
    sharp = torch.from_numpy(np.ascontiguousarray(scene.sharp.transpose(2, 0, 1)))[None]
    with torch.no_grad():
        blurred = convolve(sharp.double(), torch.from_numpy(kernel).double(), settings["boundary"])
    blurry = blurred[0].numpy().transpose(1, 2, 0)
    rng = np.random.default_rng(noise_seed)
    blurry = blurry + settings["noise_std"] * rng.standard_normal(blurry.shape)
    mse = float(np.mean((blurry - scene.sharp) ** 2))
    attrs = {
        "blur": blur_name,
        "model": settings["model"],
        "kernel_family": settings["kernel"],
        "kernel_size": size,
        "boundary": settings["boundary"],
        "noise_std": settings["noise_std"],
        "kernel_seed": kernel_seed,
        "noise_seed": noise_seed,
        "blurry_psnr": -10.0 * np.log10(mse) if mse > 0 else float("inf"),
    }
    return BlurredImage(blurry=blurry.astype(np.float32), kernel=kernel, attrs=attrs)
