"""Training the encoded blur-kernel space (Tran et al. 2021; methods spec C.2) and the
blur-retrieval measure of its quality.

The networks (:class:`~inrdeblur.networks.kernel_space.KernelWizard`) learn, from
sharp/blurry pairs (x, y), a code ``k = E(x, y)`` and an operator ``A(x, k) ~ y``. The loss
is the Charbonnier distance ``sqrt((A(x, E(x, y)) - y)^2 + 1e-6)``, averaged over pixels
(the reference sums it; Adam is indifferent to the scale), minimised by Adam (``lr``,
``betas``) with a cosine schedule from ``lr`` to ``lr_min`` over the iterations (the
reference restarts its cosine every 50k-150k of its 600k iterations; a run here is one
period).

Pairs (:class:`PairSampler`) come from the pipeline itself: random ``crop`` x ``crop``
windows of sharp images, each blurred by a freshly drawn kernel of a uniform blur family
with the 'valid' convolution of a window ``K - 1`` px larger (so no border is invented),
and Gaussian noise. Everything is drawn from one seeded generator, so a run is
reproducible.

**Blur retrieval** (:func:`retrieval_psnr`, the paper's Table 3): for held-out pairs,
the PSNR of ``A(x, E(x, y))`` against ``y``, beside the PSNR of ``x`` against ``y`` (the
pair's own blur, the baseline an operator must beat).

**The stage** (:func:`run_training`, ``inrdeblur train-kernel-space``) trains on the
sharp images of the scene records it is given and writes, atomically, to its folder:
``weights.pt`` (the state dict, loadable by
:func:`~inrdeblur.networks.kernel_space.load_weights`), ``trace.csv`` (per iteration:
loss, PSNR of the re-synthesis, learning rate, seconds) and ``meta.json``. It
checkpoints like a fit (every ``checkpoint_every`` iterations, every
``checkpoint_seconds``, on SIGTERM or SIGUSR1) and a resumed run ends bit-identical to an
uninterrupted one on the CPU. With ``held_out`` = N, the last N scene records (sorted by
path) are kept out of training, and ``retrieval_pairs`` pairs drawn from them measure
the blur retrieval (``retrieval.csv``, and means in the meta). With ``weights`` set it
trains nothing: the user's file
(for example the authors' published GOPRO or REDS weights, at the paper size) is
checked against the networks and becomes the stage's ``weights.pt``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import convolve
from inrdeblur.fileio import atomic_path, write_json, write_text
from inrdeblur.methods.base import psnr_torch
from inrdeblur.methods.checkpoint import Checkpointer, restore_rng, rng_state
from inrdeblur.networks.kernel_space import KernelWizard, load_weights, parameter_counts
from inrdeblur.provenance import package_versions
from inrdeblur.records.scene import Scene

log = logging.getLogger(__name__)
#: the columns of trace.csv and retrieval.csv
TRACE_COLUMNS = ("iteration", "loss", "psnr", "lr", "seconds")
RETRIEVAL_COLUMNS = ("psnr", "baseline")

#: the Charbonnier loss's epsilon (the reference's 1e-6 under the root)
CHARBONNIER_EPS = 1.0e-6


def charbonnier(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean of ``sqrt((a - b)^2 + 1e-6)``."""
    return torch.sqrt((a - b) ** 2 + CHARBONNIER_EPS).mean()


def cosine_lr(base: float, minimum: float, iteration: int, iterations: int) -> float:
    """The cosine schedule from ``base`` at iteration 0 to ``minimum`` at the last."""
    if iterations <= 1:
        return base
    t = min(iteration, iterations - 1) / (iterations - 1)
    return minimum + 0.5 * (base - minimum) * (1.0 + math.cos(math.pi * t))


@dataclass(frozen=True)
class UniformFamily:
    """Random camera-shake kernels of odd sides in ``[min_size, max_size]``, plus noise."""

    min_size: int = 9
    max_size: int = 21
    noise_std: float = 0.01

    def kernel(self, rng: np.random.Generator) -> np.ndarray:
        sides = range(self.min_size | 1, self.max_size + 1, 2)
        size = int(rng.choice(list(sides)))
        return random_motion_kernel(size, int(rng.integers(2**31)))


class PairSampler:
    """Seeded sharp/blurry training pairs from a list of sharp (H, W, 3) images in [0, 1]
    (module docstring)."""

    def __init__(
        self,
        images: Sequence[np.ndarray],
        family: UniformFamily,
        crop: int,
        seed: int,
        names: Sequence[str] | None = None,
    ) -> None:
        if not images:
            raise ValueError("PairSampler: no sharp images")
        names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
        margin = family.max_size - 1
        small = [
            n for n, im in zip(names, images, strict=True) if min(im.shape[:2]) < crop + margin
        ]
        if small:
            raise ValueError(
                f"kernel_space.crop: {', '.join(small)} are smaller than the crop {crop} plus "
                f"the largest kernel's margin {margin} px; use a smaller crop or larger images"
            )
        for name, image in zip(names, images, strict=True):
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"PairSampler: {name} is {image.shape}, not (H, W, 3)")
        self.images = [np.ascontiguousarray(im, dtype=np.float32) for im in images]
        self.family, self.crop = family, crop
        self.rng = np.random.default_rng(seed)

    def pair(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One (sharp, blurry, kernel): (3, crop, crop) float32 arrays and the kernel."""
        kernel = self.family.kernel(self.rng)
        k = kernel.shape[0]
        image = self.images[int(self.rng.integers(len(self.images)))]
        side = self.crop + k - 1
        top = int(self.rng.integers(image.shape[0] - side + 1))
        left = int(self.rng.integers(image.shape[1] - side + 1))
        window = image[top : top + side, left : left + side].transpose(2, 0, 1)
        if self.rng.random() < 0.5:
            window = window[:, :, ::-1]
        blurry = convolve(
            torch.from_numpy(np.ascontiguousarray(window))[None], torch.from_numpy(kernel)
        )
        blurry = blurry[0].numpy()
        blurry = blurry + self.family.noise_std * self.rng.standard_normal(blurry.shape)
        half = (k - 1) // 2
        sharp = window[:, half : half + self.crop, half : half + self.crop]
        return (
            np.ascontiguousarray(sharp, dtype=np.float32),
            blurry.astype(np.float32),
            kernel,
        )

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, crop, crop) sharp and blurry tensors."""
        pairs = [self.pair() for _ in range(size)]
        sharp = torch.from_numpy(np.stack([p[0] for p in pairs]))
        blurry = torch.from_numpy(np.stack([p[1] for p in pairs]))
        return sharp, blurry


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB, peak 1) of two tensors of values in [0, 1], both clipped, over all their
    entries (:func:`~inrdeblur.methods.base.psnr_torch` with the reference clipped too)."""
    return psnr_torch(a, b.clamp(0, 1))


def train(
    model: KernelWizard,
    sampler: PairSampler,
    iterations: int,
    batch: int,
    lr: float = 1.0e-4,
    lr_min: float = 1.0e-6,
    betas: tuple[float, float] = (0.9, 0.99),
    on_iteration: Callable[[dict[str, float]], None] | None = None,
    checkpointer: Checkpointer | None = None,
) -> tuple[list[dict[str, float]], int]:
    """Train ``model`` on ``iterations`` batches of ``sampler``. Returns the trace, one
    row per iteration (``iteration``, ``loss``, ``psnr`` of the re-synthesis against the
    blurry batch, ``lr``, ``seconds``), and the iteration it resumed from (0: none).

    ``checkpointer``: resume from its checkpoint (model, optimiser, sampler and torch RNG
    states, trace) and save to it as it says; a stop signal ends the run with
    :class:`~inrdeblur.methods.checkpoint.Preempted` after the checkpoint is written.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, betas=betas)
    model.train()
    trace: list[dict[str, float]] = []
    first, seconds_before = 0, 0.0
    checkpointer = checkpointer or Checkpointer(None, {})
    saved = checkpointer.load()
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        sampler.rng.bit_generator.state = json.loads(saved["sampler"])
        restore_rng(saved, torch.device("cpu"))
        trace = json.loads(saved["trace"])
        first, seconds_before = int(saved["iteration"]), float(saved["seconds"])
    start = time.perf_counter()
    with checkpointer.stop_signals():
        for it in range(first, iterations):
            rate = cosine_lr(lr, lr_min, it, iterations)
            for group in optimiser.param_groups:
                group["lr"] = rate
            sharp, blurry = sampler.batch(batch)
            optimiser.zero_grad(set_to_none=True)
            resynthesised = model(sharp, blurry)
            loss = charbonnier(resynthesised, blurry)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"kernel space: loss became {loss.item()} at iteration {it}"
                )
            loss.backward()
            optimiser.step()
            row = {
                "iteration": it + 1,
                "loss": loss.item(),
                "psnr": psnr(resynthesised.detach(), blurry),
                "lr": rate,
                "seconds": seconds_before + time.perf_counter() - start,
            }
            trace.append(row)
            if checkpointer.due(it + 1, last=it + 1 == iterations):
                checkpointer.save(
                    it + 1,
                    row["seconds"],
                    {
                        "model": model.state_dict(),
                        "optimiser": optimiser.state_dict(),
                        "sampler": json.dumps(sampler.rng.bit_generator.state),
                        **rng_state(torch.device("cpu")),
                        "trace": json.dumps(trace),
                    },
                )
            if on_iteration is not None:
                on_iteration(row)
    return trace, first


def sharp_images(scene_paths: Sequence[str | os.PathLike]) -> tuple[list[np.ndarray], list[str]]:
    """The sharp RGB images of scene records and their ``dataset/id`` names.

    Raises:
        ValueError: a scene is gray or has no sharp image (naming it): the kernel space
            works on RGB.
    """
    images, names = [], []
    for path in scene_paths:
        scene = Scene.load(path)
        name = f"{scene.dataset}/{scene.id}"
        if scene.sharp is None or scene.sharp.shape[2] != 3:
            raise ValueError(
                f"{path}: scene {name} has no RGB sharp image; kernel_space.datasets must "
                "be RGB datasets with sharp images"
            )
        images.append(scene.sharp)
        names.append(name)
    return images, names


def _fingerprint(settings: dict[str, Any], names: list[str], images: list[np.ndarray]) -> dict:
    digest = hashlib.sha256()
    for image in images:
        digest.update(np.ascontiguousarray(image).tobytes())
    recipe = json.dumps(settings, sort_keys=True, default=str)
    return {
        "settings_sha256": hashlib.sha256(recipe.encode()).hexdigest(),
        "images": names,
        "images_sha256": digest.hexdigest(),
    }


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def held_out_retrieval(
    model: KernelWizard, settings: dict[str, Any], scene_paths: Sequence[Path]
) -> dict[str, Any]:
    """Blur retrieval on ``retrieval_pairs`` pairs drawn (seed + 1, the training family
    and crop) from the held-out scenes: per pair ``psnr`` of A(x, E(x, y)) against y and
    ``baseline`` (x against y), and their means and standard deviations."""
    images, names = sharp_images(scene_paths)
    family = UniformFamily(**settings["family"])
    sampler = PairSampler(
        images, family, int(settings["crop"]), int(settings["seed"]) + 1, names=names
    )
    pairs = [sampler.pair() for _ in range(int(settings["retrieval_pairs"]))]
    rows = retrieval_psnr(model, pairs)
    psnrs = np.array([r["psnr"] for r in rows])
    baselines = np.array([r["baseline"] for r in rows])
    return {
        "scenes": names,
        "pairs": rows,
        "n_pairs": len(rows),
        "psnr_mean": float(psnrs.mean()),
        "psnr_std": float(psnrs.std(ddof=1)) if len(rows) > 1 else 0.0,
        "baseline_mean": float(baselines.mean()),
        "baseline_std": float(baselines.std(ddof=1)) if len(rows) > 1 else 0.0,
    }


def run_training(
    settings: dict[str, Any],
    scene_paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 50,
    checkpoint_seconds: float = 300,
    threads: int = 1,
) -> dict[str, Any]:
    """The stage: train (or take the user's ``weights``) and write the outputs (module
    docstring); returns the meta. ``settings``: the validated ``kernel_space`` section."""
    torch.set_num_threads(max(1, threads))
    out = Path(out_dir)
    started = time.perf_counter()
    trace: list[dict[str, float]] = []
    names: list[str] = []
    resumed_from = 0
    paths = sorted(Path(p) for p in scene_paths)
    held = int(settings["held_out"])
    if held and len(paths) <= (0 if settings.get("weights") else held):
        raise ValueError(
            f"kernel_space.held_out: {held} scene(s) held out of {len(paths)}, "
            "none left to train on"
        )
    train_paths, test_paths = (paths[:-held], paths[-held:]) if held else (paths, [])
    if settings.get("weights"):
        model = KernelWizard(settings["size"])
        load_weights(model, settings["weights"])
        source = str(settings["weights"])
    else:
        images, names = sharp_images(train_paths)
        train_settings = {k: v for k, v in settings.items() if k != "tuned_on"}
        family = UniformFamily(**settings["family"])
        sampler = PairSampler(
            images, family, int(settings["crop"]), int(settings["seed"]), names=names
        )
        torch.manual_seed(int(settings["seed"]))
        model = KernelWizard(settings["size"])
        checkpointer = Checkpointer(
            checkpoint_path,
            _fingerprint(train_settings, names, images),
            every=checkpoint_every,
            every_seconds=checkpoint_seconds,
        )

        def progress(row: dict[str, float]) -> None:
            if int(row["iteration"]) % 50 == 0:
                log.info(
                    "kernel space: iteration %d, loss %.4g, re-synthesis PSNR %.2f dB, %.0f s",
                    row["iteration"], row["loss"], row["psnr"], row["seconds"],
                )  # fmt: skip

        trace, resumed_from = train(
            model,
            sampler,
            int(settings["iterations"]),
            int(settings["batch"]),
            lr=float(settings["lr"]),
            lr_min=float(settings["lr_min"]),
            on_iteration=progress,
            checkpointer=checkpointer,
        )
        source = "trained"
    retrieval = None
    if test_paths:
        retrieval = held_out_retrieval(model, settings, test_paths)
        write_text(out / "retrieval.csv", _csv(retrieval["pairs"], RETRIEVAL_COLUMNS))
        retrieval = {k: v for k, v in retrieval.items() if k != "pairs"}
    with atomic_path(out / "weights.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    write_text(out / "trace.csv", _csv(trace, TRACE_COLUMNS))
    meta = {
        "size": settings["size"],
        "weights": source,
        "parameters": parameter_counts(model),
        "iterations": len(trace),
        "resumed_from": resumed_from,
        "final_loss": trace[-1]["loss"] if trace else None,
        "final_psnr": trace[-1]["psnr"] if trace else None,
        "time_s": trace[-1]["seconds"] if trace else 0.0,
        "total_time_s": time.perf_counter() - started,
        "images": names,
        "retrieval": retrieval,
        "settings": settings,
        "threads": torch.get_num_threads(),
        "versions": package_versions(("inrdeblur", "torch", "numpy"), python=True),
    }
    write_json(out / "meta.json", meta)
    if checkpoint_path is not None:
        Path(checkpoint_path).unlink(missing_ok=True)
    return meta


@torch.no_grad()
def retrieval_psnr(
    model: KernelWizard, pairs: Sequence[tuple[np.ndarray, np.ndarray, Any]]
) -> list[dict[str, float]]:
    """Per held-out pair: ``psnr`` of ``A(x, E(x, y))`` against ``y``, and ``baseline``,
    the PSNR of ``x`` against ``y``."""
    model.eval()
    rows = []
    for sharp, blurry, _ in pairs:
        x = torch.from_numpy(sharp)[None]
        y = torch.from_numpy(blurry)[None]
        rows.append({"psnr": psnr(model(x, y), y), "baseline": psnr(x, y)})
    return rows
