"""The fit stage: one method on one blurred scene, for each seed, written to disk.

One fit job (:func:`run_fits`) fits every seed of the experiment to one blurred image in
turn, so a paper-scale experiment has one job per image and method, not per seed. Each
seed's outputs go to ``seed<k>/`` in the job's folder (:func:`inrdeblur.layout.seed_dir`),
all written atomically:

- ``estimate.png``: 8-bit sharp estimate, clipped to [0, 1];
- ``estimate.npz``: ``estimate`` (H, W, C) float32 (the observation's channels), unclipped,
  and a blind method's ``kernel`` estimate (:class:`~inrdeblur.records.fit.FitEstimate`),
  which is also written as ``kernel.png`` (8-bit, scaled to its maximum);
- ``trace.csv``: per iteration ``iteration, loss, data_loss, reg_loss, psnr, lr, seconds``
  (``psnr`` against the sharp image, for monitoring only; it never enters the loss);
- ``meta.json``: method, recipe, seeds, device, wall time, model size, package versions,
  and how the fit ran (``tiles``, ``points_per_step``, ``amp``, ``resumed_from``).

Checkpoints and requeued jobs: an iterative method (the INR) writes a checkpoint
atomically every ``checkpoint_every`` k iterations (``inrdeblur fit --checkpoint-every``, 50
by default), every ``checkpoint_seconds`` s of wall time (``--checkpoint-seconds``, 300 by
default), at its last iteration, and when the job gets SIGTERM or SIGUSR1
(:mod:`inrdeblur.methods.checkpoint`). A fit that finds its checkpoint resumes from it, so
a job killed at its time limit or preempted (SLURM ``--requeue``, or Snakemake's
``--retries`` resubmitting the failed job) ends with the same estimate as an uninterrupted
fit. SLURM sends SIGTERM before it kills a job (cancelled, preempted, out of time; SIGKILL
follows ``KillWait`` s later): the fit finishes the iteration it is on, saves it, and the
fit stage stops with :class:`~inrdeblur.methods.checkpoint.Preempted` (``inrdeblur fit``
exits with status 128 + the signal's number), losing nothing. A signal outside a fit's
iterations (a classical method, reading inputs, writing outputs) ends the process as
usual. Killed without a signal
(SIGKILL, a node failure), a fit loses at most k iterations or the seconds since its last
checkpoint. A fit's outputs are written only once it completes, so an interrupted seed
leaves nothing in its folder. A checkpoint of a different fit (other recipe, seed or
blurry image) is an error that names the file: delete it to start afresh. ``meta.json``
keeps the SLURM job id of the run that finished and ``resumed_from``, the checkpoint's
iteration; ``time_s`` adds up the runs' time up to their checkpoints (the work lost after
the last checkpoint is not counted).

A fit job (:func:`run_fits`) keeps its checkpoints in a folder of their own
(:data:`inrdeblur.layout.FIT_CHECKPOINT_DIR`, ``seed<k>.pt``), because Snakemake deletes a
failed job's output folder, the finished seeds' outputs with it, before it runs the job
again. Every seed's checkpoint stays until all seeds' outputs are written, so the rerun job
renders the finished seeds again from their final checkpoints instead of fitting them anew,
and resumes the interrupted seed. A checkpoint there that belongs to another fit (the
params or inputs changed since the job was killed) is deleted with a warning and the seed
starts afresh. The folder does not survive a ``shadow:`` rule or a
scratch folder that is wiped between attempts. :func:`run_fit` alone (one seed) keeps its
checkpoint, :data:`CHECKPOINT_NAME`, beside its outputs unless told otherwise, and deletes
it once they are written.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from inrdeblur import layout
from inrdeblur.blur.kernels import kernel_image
from inrdeblur.blur.uniform import UniformBlur
from inrdeblur.config.params import TWO_STAGE
from inrdeblur.fileio import read_json, write_json, write_png, write_text
from inrdeblur.methods import Problem, build_method
from inrdeblur.methods.base import TRACE_COLUMNS, CheckpointError
from inrdeblur.methods.checkpoint import Preempted
from inrdeblur.provenance import package_versions
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.fit import FitEstimate
from inrdeblur.records.scene import Scene
from inrdeblur.seeding import seed_from_string

log = logging.getLogger(__name__)
#: iterations between progress lines in a log file when the fit does not checkpoint
LOG_EVERY = 50

VERSIONED_PACKAGES = ("inrdeblur", "torch", "numpy", "scikit-image", "lpips")
#: file name of the fit checkpoint, in the folder of the fit's outputs
CHECKPOINT_NAME = "checkpoint.pt"
INDEX_COLUMNS = (
    "dataset", "blur", "scene", "seed", "device", "time_s", "size_mb", "iterations",
    "final_loss", "final_psnr",
)  # fmt: skip


def kernel_size_bound(
    method: str, recipe: dict[str, Any], scene: Scene, blurred: BlurredImage
) -> int:
    """The odd kernel-side bound, px, a blind method estimates: the recipe's
    ``kernel_size``, else the scene's ``kernel_size_bound`` (the bound the papers use for
    Levin and Lai, a photo's ``kernel_sizes.csv``), else the side of the blur's true
    kernel, made odd by adding one.

    Raises:
        ValueError: none of them exists (naming ``methods.<method>.kernel_size``).
    """
    if recipe.get("kernel_size") is not None:
        return int(recipe["kernel_size"])
    if scene.attrs.get("kernel_size_bound") is not None:
        return int(scene.attrs["kernel_size_bound"])
    if blurred.kernel is not None:
        side = max(blurred.kernel.shape)
        return side + 1 - side % 2
    raise ValueError(
        f"methods.{method}.kernel_size: a blind method needs a kernel-size bound, and scene "
        f"{scene.dataset}/{scene.id} has none and its blur no kernel; set kernel_size"
    )


def run_fit(
    scene_path: Path,
    blurred_path: Path,
    method: str,
    recipe: dict[str, Any],
    seed: int,
    threads: int,
    outputs: dict[str, Path],
    progress: bool = True,
    checkpoint_path: Path | None = None,
    checkpoint_every: int = 0,
    keep_checkpoint: bool = False,
    checkpoint_seconds: float = 300,
    kernels_from: Path | None = None,
) -> dict[str, Any]:
    """Fit ``recipe`` to the blurred scene and write the four fit outputs; return meta.

    A two-stage recipe (:func:`inrdeblur.config.params.resolved_recipe`) runs its
    non-blind method with the 'valid' uniform operator of the kernel that its blind
    method's fit of this seed estimated, read from ``kernels_from`` (that fit job's
    folder); the kernel is saved with the estimate, as a blind fit's is.

    ``checkpoint_path`` (default: :data:`CHECKPOINT_NAME` beside ``outputs["meta"]``) is
    where the fit checkpoints and resumes (see the module docstring); it is deleted once
    the outputs are written unless ``keep_checkpoint``; ``checkpoint_every`` iterations
    apart and ``checkpoint_seconds`` wall-clock seconds apart (0: not by that measure).

    Raises:
        Preempted: a stop signal arrived during the fit; its checkpoint is kept, nothing
            is written, and the exception names ``seed``.
    """
    import torch

    torch.set_num_threads(max(1, threads))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    scene = Scene.load(scene_path)
    blurred = BlurredImage.load(blurred_path)
    sharp = blurred.target(scene.sharp)  # None without ground truth (photos)
    if sharp is not None and blurred.blurry.shape != sharp.shape:
        raise ValueError(
            f"{blurred_path}: blurry image {blurred.blurry.shape} does not match the scene "
            f"{scene_path} {sharp.shape}"
        )
    torch_seed = seed_from_string("fit", seed, scene.dataset, scene.id)
    if checkpoint_path is None:
        checkpoint_path = Path(outputs["meta"]).with_name(CHECKPOINT_NAME)
    two_stage = recipe.get("type") == TWO_STAGE
    first_stage: dict[str, Any] = {}
    if two_stage:
        first_stage = _blind_kernel(method, recipe, kernels_from, seed)
        if Path(checkpoint_path).is_file() and (
            Path(checkpoint_path).stat().st_mtime < first_stage["path"].stat().st_mtime
        ):  # a checkpoint from before the blind fit was redone: another kernel
            log.warning("%s predates %s; starting afresh", checkpoint_path, first_stage["path"])
            Path(checkpoint_path).unlink()
        method_object = build_method(recipe["non_blind_recipe"])
        operator = UniformBlur(first_stage["kernel"], blurred.blurry.shape[:2])
    else:
        method_object = build_method(recipe)
        operator = None if method_object.blind else blurred.operator()
    blind = method_object.blind
    problem = Problem(
        blurry=blurred.blurry,
        operator=operator,
        kernel_size=kernel_size_bound(method, recipe, scene, blurred) if blind else None,
        sharp=sharp,
        description=f"{method} {scene.dataset}/{scene.id} seed{seed}",
    )
    # A progress bar only on a terminal; in a job's log file one clean line per checkpoint
    # (every LOG_EVERY iterations when checkpoints are off) instead of carriage returns.
    bar = progress and sys.stderr.isatty()
    every = checkpoint_every if checkpoint_every > 0 else LOG_EVERY

    def log_line(row: dict[str, float]) -> None:
        if int(row["iteration"]) % every == 0:
            log.info(
                "%s: iteration %d, loss %.4g, PSNR %.2f dB, %.1f s",
                problem.description,
                row["iteration"],
                row["loss"],
                row["psnr"],
                row["seconds"],
            )

    try:
        result = method_object.run(
            problem,
            torch_seed,
            progress=bar,
            checkpoint_path=checkpoint_path,
            checkpoint_every=checkpoint_every,
            checkpoint_seconds=checkpoint_seconds,
            on_iteration=None if bar else log_line,
        )
    except Preempted as err:
        err.seed = seed
        raise
    kernel = first_stage["kernel"] if two_stage else result.kernel
    write_png(outputs["estimate_png"], np.clip(result.estimate, 0.0, 1.0))
    if kernel is not None:  # a blind fit: its kernel, scaled to its maximum
        kernel_png = Path(outputs["estimate_png"]).with_name(layout.FIT_KERNEL_PNG_NAME)
        write_png(kernel_png, kernel_image(kernel))
    FitEstimate(result.estimate, kernel).save(outputs["estimate_npz"])
    write_text(outputs["trace"], _trace_csv(result.trace))
    last = result.trace[-1]
    meta = {
        "method": method,
        "type": TWO_STAGE if two_stage else method_object.type,
        "recipe": recipe,
        "dataset": scene.dataset,
        "blur": blurred.attrs.get("blur"),
        "scene": scene.id,
        "seed": seed,
        "torch_seed": torch_seed,
        "observation_sha256": problem.observation_sha256(),
        "device": result.device,
        "threads": torch.get_num_threads(),
        "time_s": result.time_s,
        "total_time_s": time.perf_counter() - t0,
        "size_mb": result.size_mb,
        "n_parameters": result.n_parameters,
        "kernel_shape": None if kernel is None else list(kernel.shape),
        "iterations": int(last["iteration"]),
        "final_loss": last["loss"],
        "final_psnr": last["psnr"],
        **result.extra,
        **{k: v for k, v in first_stage.items() if k not in ("kernel", "path")},
        "started_at": started,
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "versions": package_versions(VERSIONED_PACKAGES, python=True),
    }
    write_json(outputs["meta"], meta)
    log.info(
        "%s: done, %d iterations, PSNR %.2f dB, %.1f s",
        problem.description,
        meta["iterations"],
        meta["final_psnr"],
        result.time_s,
    )
    if not keep_checkpoint:
        Path(checkpoint_path).unlink(missing_ok=True)
    return meta


def _blind_kernel(
    method: str, recipe: dict[str, Any], kernels_from: Path | None, seed: int
) -> dict[str, Any]:
    """The kernel estimate of seed ``seed`` of the blind fit job ``kernels_from`` that the
    two-stage ``method`` deblurs with: ``kernel``, ``path`` (its estimate.npz) and the
    provenance kept in meta (``blind_method``, ``non_blind_method``,
    ``blind_estimate_sha256``).

    Raises:
        FileNotFoundError: that fit has no estimate for the seed (naming the file).
        ValueError: no folder was given, or its estimate has no kernel.
    """
    if kernels_from is None:
        raise ValueError(f"{method}: a two-stage fit needs its blind fit's folder")
    path = Path(layout.fit_outputs(layout.seed_dir(kernels_from, seed))["estimate_npz"])
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: two-stage {method!r} needs the estimate of {recipe['blind']!r} for seed "
            f"{seed}, which is missing"
        )
    kernel = FitEstimate.load(path).kernel
    if kernel is None:
        raise ValueError(f"{path}: holds no kernel estimate; is {recipe['blind']!r} blind?")
    return {
        "kernel": kernel,
        "path": path,
        "blind_method": recipe["blind"],
        "non_blind_method": recipe["non_blind"],
        "blind_estimate_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def run_fits(
    scene_path: Path,
    blurred_path: Path,
    method: str,
    recipe: dict[str, Any],
    seeds: list[int],
    threads: int,
    out_dir: Path,
    checkpoint_dir: Path,
    progress: bool = True,
    checkpoint_every: int = 0,
    checkpoint_seconds: float = 300,
    kernels_from: Path | None = None,
) -> list[dict[str, Any]]:
    """One fit job: :func:`run_fit` for each seed into ``out_dir/seed<k>/``; the metas.
    ``kernels_from``: a two-stage fit's blind fit job folder (see :func:`run_fit`).

    ``out_dir`` is the job's folder (:data:`inrdeblur.layout.FIT_SCENE_DIR`). Seed k
    checkpoints to ``checkpoint_dir/seed<k>.pt``; the checkpoints, and ``checkpoint_dir``
    once empty, are deleted after the last seed's outputs are written (see the module
    docstring).

    Raises:
        Preempted: a stop signal arrived during a seed's fit (its ``seed`` is set): every
            checkpoint stays in ``checkpoint_dir`` for the rerun, the seeds before it have
            their outputs, and the interrupted seed and those after it have none.
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    metas, checkpoints = [], []
    for seed in seeds:
        outputs = layout.fit_outputs(layout.seed_dir(out_dir, seed))
        checkpoint = Path(checkpoint_dir) / (layout.SEED.format(seed=seed) + ".pt")

        args = (scene_path, blurred_path, method, recipe, seed, threads, outputs)
        options: dict[str, Any] = {
            "progress": progress,
            "checkpoint_path": checkpoint,
            "checkpoint_every": checkpoint_every,
            "checkpoint_seconds": checkpoint_seconds,
            "keep_checkpoint": True,
            "kernels_from": kernels_from,
        }
        try:
            metas.append(run_fit(*args, **options))
        except CheckpointError as err:
            # The job's own checkpoint folder, so a stale file is a run killed before its
            # params (or inputs) changed: it cannot be resumed, and nobody else needs it.
            log.warning("%s; starting seed %d afresh", err, seed)
            checkpoint.unlink()
            metas.append(run_fit(*args, **options))
        checkpoints.append(checkpoint)
    for checkpoint in checkpoints:
        checkpoint.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # other files in it, or gone already
        Path(checkpoint_dir).rmdir()
    return metas


def _trace_csv(rows: list[dict[str, float]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TRACE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


def write_fit_index(method: str, meta_paths: list[Path], out: Path) -> None:
    """Write ``results/fits/<method>/index.csv``: one row per fit, from each meta.json."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    rows = []
    for path in meta_paths:
        meta = read_json(path)
        if meta.get("method") != method:
            raise ValueError(f"{path}: fit of method {meta.get('method')!r}, expected {method!r}")
        rows.append([meta[c] for c in INDEX_COLUMNS])
    for row in sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3])):
        writer.writerow(row)
    write_text(out, buffer.getvalue())
