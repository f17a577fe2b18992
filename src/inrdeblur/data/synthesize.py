"""The synthesize stage: blurred records (:class:`~inrdeblur.records.blurred.BlurredImage`)
made from the scene records of a dataset with a named blur of params.yaml.

A blur of model ``observed`` synthesizes nothing: its record is the scene's stored blurry
image as it is, without an operator (:func:`observed`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inrdeblur.blur import kernels
from inrdeblur.blur.models import OBSERVED, build_operator, scene_inputs
from inrdeblur.blur.trajectory import Trajectory, hand_shake
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.scene import Scene, SceneError, observed_part
from inrdeblur.seeding import seed_from_string


def make_kernel(
    settings: dict[str, Any], seed: int, scene: Scene | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The kernel of a uniform blur (validated ``blurs.<name>`` settings) and its facts.

    The 'scene' family is the true kernel of ``scene``.
    """
    family = settings["kernel"]
    size = settings["kernel_size"]
    if family == "scene":
        if scene is None or scene.kernel is None:
            where = f"scene {scene.dataset}/{scene.id}" if scene is not None else "no scene"
            raise ValueError(f"kernel: 'scene', but {where} has no true kernel")
        return scene.kernel, {"kernel_source": "scene"}
    if family == "random_motion":
        return kernels.random_motion_kernel(size, seed), {"kernel_seed": seed}
    if family == "gaussian":
        return kernels.gaussian_kernel(size, settings["sigma"]), {}
    if family == "defocus":
        return kernels.defocus_kernel(size, settings["radius"]), {}
    if family == "measured":
        path = Path(settings["kernel_path"])
        if path.is_dir():
            files = kernels.measured_kernels(path)
            path = files[seed % len(files)]
        return kernels.read_kernel(path), {"kernel_seed": seed, "kernel_file": str(path)}
    raise ValueError(f"kernel: unknown kernel family {family!r}")


def blur_trajectory(
    scene: Scene, blur_name: str, settings: dict[str, Any], seed: int
) -> Trajectory:
    """The camera motion of an ICB/PWB blur: the scene's own or a seeded hand shake, scaled."""
    spec = settings["trajectory"]
    if spec["source"] == "scene":
        if scene.trajectory is None:
            raise ValueError(
                f"blurs.{blur_name}.trajectory.source: 'scene', but scene "
                f"{scene.dataset}/{scene.id} has no trajectory"
            )
        trajectory = scene.trajectory
    else:
        trajectory = hand_shake(
            seed,
            n_poses=spec["n_poses"],
            exposure_s=spec["exposure_s"],
            translation_std_m=spec["translation_std_m"],
            rotation_std_deg=spec["rotation_std_deg"],
            inertia=spec["inertia"],
        )
    return trajectory if spec["scale"] == 1 else trajectory.scaled(spec["scale"])


def synthesize(scene: Scene, blur_name: str, settings: dict[str, Any]) -> BlurredImage:
    """Blur ``scene.sharp`` with the blur ``settings`` and add Gaussian noise.

    Seeds of the kernel, the trajectory and the noise are derived from the blur's base
    seed, the blur name and the scene's dataset and id, so every image gets its own
    reproducible draw. The sharp image is extended beyond its border by
    ``settings["boundary"]`` before the blur reads it; with 'valid' it is not extended,
    and the blurry image is the smaller part of the blur that sees only the sharp image
    (``attrs["crop"]`` locates it). With ``observation: scene`` the scene's stored
    blurry image is the observation: nothing is synthesized and no noise is added; it is
    the only observation of a scene without ground truth (``sharp`` None, e.g. photos),
    whose ``blurry_psnr`` is None. A blur of model ``observed`` is :func:`observed`.
    """
    model = settings["model"]
    if model == OBSERVED:
        return observed(scene, blur_name, settings)
    if scene.sharp is None and settings["observation"] != "scene":
        raise ValueError(
            f"blurs.{blur_name}.observation: {settings['observation']!r} blurs the sharp "
            f"image, which scene {scene.dataset}/{scene.id} does not have (no ground truth); "
            f"use model {OBSERVED!r}, or observation 'scene'"
        )
    base = (blur_name, settings["seed"], scene.dataset, scene.id)
    noise_seed = seed_from_string("noise", *base)
    facts: dict[str, Any] = {}
    record: dict[str, Any] = {}
    start = time.perf_counter()
    inputs = scene_inputs(model)
    geometry = [name for name in ("depth", "intrinsics") if name in inputs]
    if any(getattr(scene, name) is None for name in geometry):
        raise ValueError(
            f"blurs.{blur_name}.model: {model!r} needs {' and '.join(geometry)}, which scene "
            f"{scene.dataset}/{scene.id} does not have"
        )
    for name in inputs:
        if name == "kernel":
            kernel, kernel_facts = make_kernel(settings, seed_from_string("kernel", *base), scene)
            facts.update(kernel_facts)
            record["kernel"] = kernel
        elif name == "trajectory":
            trajectory_seed = seed_from_string("trajectory", *base)
            if settings["trajectory"]["source"] == "hand_shake":
                facts["trajectory_seed"] = trajectory_seed
            record["trajectory"] = blur_trajectory(scene, blur_name, settings, trajectory_seed)
        else:
            record[name] = getattr(scene, name)
    where = f"blurs.{blur_name} on {scene.dataset}/{scene.id}"
    valid = settings["boundary"] == "valid"
    shape = scene.shape
    if valid:
        if "kernel" not in inputs:
            raise ValueError(f"{where}: boundary 'valid' applies to uniform blurs only")
        k_h, k_w = record["kernel"].shape
        shape = (scene.shape[0] - k_h + 1, scene.shape[1] - k_w + 1)
    if min(shape) < 1:
        raise ValueError(f"{where}: the kernel is larger than the image {scene.shape}")
    try:
        operator = build_operator(settings, shape, **record)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    top, bottom, left, right = operator.margin
    support = (top + bottom + 1, left + right + 1)
    if support[0] > scene.shape[0] or support[1] > scene.shape[1]:
        raise ValueError(
            f"blurs.{blur_name}: blur support {support[0]}x{support[1]} px is larger than the "
            f"image {scene.dataset}/{scene.id} ({scene.shape[0]}x{scene.shape[1]})"
        )
    if valid:
        facts["crop"] = [top, left, shape[0], shape[1]]
    target = observed_part(scene.sharp, facts.get("crop"))
    if settings["observation"] == "scene":
        if scene.blurry is None:
            raise ValueError(
                f"{where}: observation 'scene', but the scene has no stored blurry image"
            )
        blurry = scene.blurry.astype(np.float64)
        facts["observation"] = "scene"
    else:
        sharp = torch.from_numpy(np.ascontiguousarray(scene.sharp.transpose(2, 0, 1)))[None]
        with torch.no_grad():
            if valid:
                blurred = operator.double()(sharp.double())
            else:
                blurred = operator.double().blur(sharp.double(), settings["boundary"])
        blurry = blurred[0].numpy().transpose(1, 2, 0)
        rng = np.random.default_rng(noise_seed)
        blurry = blurry + settings["noise_std"] * rng.standard_normal(blurry.shape)
        facts.update(observation="synthesize", noise_seed=noise_seed)
    elapsed = time.perf_counter() - start
    attrs = {
        "blur": blur_name,
        "model": model,
        "settings": settings,
        **facts,
        "operator": operator.describe(),
        "operator_time_s": elapsed,
        "blurry_psnr": _blurry_psnr(blurry, target),
    }
    return BlurredImage(blurry=blurry.astype(np.float32), attrs=attrs, **record)


def observed(scene: Scene, blur_name: str, settings: dict[str, Any]) -> BlurredImage:
    """The record of a blur of model ``observed``: the scene's stored blurry image as it
    is (``(H, W, C)``, e.g. a user's photo), without kernel, operator or noise.

    ``attrs`` say ``observation: "scene"`` and ``operator: None``; ``blurry_psnr`` is
    that of the stored image against the sharp one, None without ground truth.

    Raises:
        ValueError: the scene has no stored blurry image, naming the blur and the scene.
    """
    if scene.blurry is None:
        raise ValueError(
            f"blurs.{blur_name}.model: {OBSERVED!r} takes the scene's stored blurry image, "
            f"which scene {scene.dataset}/{scene.id} does not have"
        )
    blurry = scene.blurry.astype(np.float64)
    target = scene.sharp if scene.sharp is not None and scene.sharp.shape == blurry.shape else None
    attrs = {
        "blur": blur_name,
        "model": OBSERVED,
        "settings": settings,
        "observation": "scene",
        "operator": None,
        "operator_time_s": 0.0,
        "blurry_psnr": _blurry_psnr(blurry, target),
    }
    return BlurredImage(blurry=blurry.astype(np.float32), attrs=attrs)


def _blurry_psnr(blurry: np.ndarray, target: np.ndarray | None) -> float | None:
    """PSNR (dB, data range 1) of the observation against the sharp image it shows; None
    without ground truth."""
    if target is None:
        return None
    mse = float(np.mean((blurry - target) ** 2))
    return -10.0 * np.log10(mse) if mse > 0 else float("inf")


def synthesize_folder(
    scenes_dir: str | os.PathLike,
    blur_name: str,
    settings: dict[str, Any],
    out_dir: str | os.PathLike,
    progress: bool = True,
) -> list[Path]:
    """:func:`synthesize` every scene record ``<scene>.npz`` in ``scenes_dir`` (a prepare
    job's folder), each saved atomically as ``out_dir/<scene>.npz``; the paths, in name
    order. One synthesize job per blur and dataset: a blur takes about a second per
    720x1280 image (ICB; PWB a few), less than starting a process for it."""
    from tqdm import tqdm

    scene_paths = sorted(Path(scenes_dir).glob("*.npz"))
    if not scene_paths:
        raise SceneError(f"{scenes_dir}: no scene records (*.npz) to blur")
    paths = []
    for scene_path in tqdm(scene_paths, desc=f"synthesize {blur_name}", disable=not progress):
        out = Path(out_dir) / scene_path.name
        synthesize(Scene.load(scene_path), blur_name, settings).save(out)
        paths.append(out)
    return paths
