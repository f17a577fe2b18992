"""Non-blind INR deblurring: fit an INR whose blurred rendering matches the blurry image.

Model (the 'valid' convention of SelfDeblur and the cross-scale INR): the INR paints a
latent image, the sharp image extended by the blur operator's margin (S // 2 px for a
support S), on coordinates spanning [-1, 1]; the operator maps it to exactly the blurry
image's size H x W, so no boundary condition is assumed. The estimate is the H x W crop of
the latent inside the margin. The operator is any :class:`~inrdeblur.blur.operator.BlurOperator`
(uniform kernel, ICB or PWB).

    minimise_theta  mean((A f_theta - y)^2) + weight * R(f_theta)

with Adam and a cosine learning-rate schedule stepped once per Adam step.

Tiling (``fit.tile`` > 0, the patch scheme of the reference, ``icb_spec.md`` §1 and §6.4):
the blurry image is cut into tiles of at most ``tile`` x ``tile`` px (:func:`split_tiles`),
and each Adam step fits one tile, in a fixed row-major cycle: the INR is evaluated only on
the latent window that tile reads (the tile grown by the operator's margin, at most
``(tile + S - 1)^2`` points), with the *global* latent coordinates of those pixels, so the
tiles share one INR and one coordinate grid and there are no seams. The data term is the
mean over the tile and the TV the mean over its latent window, as in the reference; one
epoch is ``len(tiles)`` iterations. The final estimate is rendered tile by tile too.
``tile: 0``, or a tile at least as large as the image, is the whole-image fit.

Checkpoints (a ``checkpoint_path``; :class:`~inrdeblur.methods.checkpoint.Checkpointer`):
every ``checkpoint_every`` iterations, every ``checkpoint_seconds`` of wall time, at the
last iteration (when either is on) and when SIGTERM or SIGUSR1 arrives, the model,
optimiser, schedule, gradient scaler, RNG states, iteration and the trace so far are
written atomically; after a signal the fit then stops
(:class:`~inrdeblur.methods.checkpoint.Preempted`). A fit started with an existing
checkpoint resumes from it and ends with the same estimate and trace as an uninterrupted
run (bit-identical on the CPU with the same thread count). The checkpoint records a
fingerprint of the recipe, seed, blurry image and operator geometry; resuming a different
fit is an error.

Mixed precision (``fit.amp``, CUDA only): the INR forward runs under
``torch.autocast(float16)`` with a gradient scaler; the operator, the loss, the TV and the
final rendering stay in float32. On the CPU ``amp`` is ignored and the fit is float32.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from inrdeblur.blur.operator import BlurOperator
from inrdeblur.inr import build_inr
from inrdeblur.methods.base import MethodResult, model_size_mb, psnr_torch, resolve_device
from inrdeblur.methods.checkpoint import (
    Checkpointer,
    restore_rng,
    rng_state,
    trace_rows,
    trace_tensor,
)
from inrdeblur.methods.data_terms import data_term
from inrdeblur.methods.inr.regularisers import build_regulariser
from inrdeblur.methods.optimisation import AdamCosine

#: autocast dtype of the INR forward under ``fit.amp`` (float16 keeps 11 mantissa bits,
#: which sine layers with omega_0 = 30 need; bfloat16's 8 are too few)
AMP_DTYPE = torch.float16
#: recipe keys that do not change the fit's result, left out of the checkpoint fingerprint
FINGERPRINT_IGNORES = ("checkpoint_every",)


def coordinate_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(height * width, 2) pixel-centre coordinates ``(x, y)`` spanning [-1, 1], row-major."""
    ys = torch.linspace(-1.0, 1.0, height, device=device)
    xs = torch.linspace(-1.0, 1.0, width, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)


# -- tiling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """Output rows ``row0:row1`` and columns ``col0:col1`` of the blurry image, px."""

    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.row1 - self.row0, self.col1 - self.col0

    def latent_window(self, margin: tuple[int, int, int, int]) -> tuple[slice, slice]:
        """Latent rows and columns the operator reads for this tile (global latent indices):
        the tile grown by the ``(top, bottom, left, right)`` margin."""
        top, bottom, left, right = margin
        return (
            slice(self.row0, self.row1 + top + bottom),
            slice(self.col0, self.col1 + left + right),
        )

    def estimate_window(self, margin: tuple[int, int, int, int]) -> tuple[slice, slice]:
        """Latent rows and columns of this tile's own pixels (its part of the estimate)."""
        top, _, left, _ = margin
        return (
            slice(self.row0 + top, self.row1 + top),
            slice(self.col0 + left, self.col1 + left),
        )


def split_tiles(image_shape: tuple[int, int], tile: int) -> list[Tile]:
    """Cut an (H, W) image into ``ceil(H / tile) x ceil(W / tile)`` tiles, row-major.

    Tile sides along an axis differ by at most 1 px and never exceed ``tile``; when
    ``tile`` divides H and W they are exactly ``tile`` (the reference's patches; it drops
    the remainder where ``tile`` does not divide, this shares it out). ``tile`` 0 gives one
    tile, the whole image.
    """
    height, width = image_shape
    if tile <= 0:
        return [Tile(0, height, 0, width)]

    def bounds(n: int) -> list[int]:
        parts = math.ceil(n / tile)
        return [k * n // parts for k in range(parts + 1)]

    rows, cols = bounds(height), bounds(width)
    return [
        Tile(r0, r1, c0, c1)
        for r0, r1 in zip(rows[:-1], rows[1:], strict=True)
        for c0, c1 in zip(cols[:-1], cols[1:], strict=True)
    ]


class TiledOperator:
    """A blur operator applied to one output tile at a time.

    ``tiled(tile, window)`` maps the latent ``window`` of ``tile`` (B, C, h + top + bottom,
    w + left + right), ``h, w = tile.shape``, to the (B, C, h, w) blurry tile, exactly
    ``operator(latent)[..., tile rows, tile cols]`` for the full latent. The map is the
    operator's own :meth:`~inrdeblur.blur.operator.BlurOperator.crop` of the tile, built
    once per tile: the same kernel for a uniform blur, the tile's mattes or offsets for ICB
    and PWB on tiles of at least S x S px (together one more copy of them), else the
    window embedded in a zero latent and blurred whole.
    """

    def __init__(self, operator: BlurOperator):
        self.operator = operator
        self._windows: dict[Tile, BlurOperator] = {}

    def __call__(self, tile: Tile, window: torch.Tensor) -> torch.Tensor:
        return self.window_operator(tile)(window)

    def window_operator(self, tile: Tile) -> BlurOperator:
        """The map latent window -> blurry tile (built once per tile)."""
        if tile not in self._windows:
            self._windows[tile] = self.operator.crop(tile.row0, tile.row1, tile.col0, tile.col1)
        return self._windows[tile]


# -- checkpoints ----------------------------------------------------------------------


def fit_fingerprint(
    blurry: np.ndarray, operator: BlurOperator, recipe: dict[str, Any], seed: int
) -> dict[str, Any]:
    """What identifies a fit: recipe hash (without :data:`FINGERPRINT_IGNORES`), seed, the
    blurry image's shape, dtype and SHA-256, and the operator's model and margin."""
    recipe = copy.deepcopy(recipe)
    for key in FINGERPRINT_IGNORES:
        recipe.get("fit", {}).pop(key, None)
    recipe_json = json.dumps(recipe, sort_keys=True, default=str)
    data = np.ascontiguousarray(blurry)
    return {
        "recipe_sha256": hashlib.sha256(recipe_json.encode()).hexdigest(),
        "seed": int(seed),
        "blurry_shape": [int(n) for n in data.shape],
        "blurry_dtype": str(data.dtype),
        "blurry_sha256": hashlib.sha256(data.tobytes()).hexdigest(),
        "operator": str(operator.model),
        "margin": [int(m) for m in operator.margin],
    }


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name}: must be an integer >= 0, got {value!r}")
    return int(value)


# -- the fit --------------------------------------------------------------------------


def fit_nonblind(
    blurry: np.ndarray,
    operator: BlurOperator,
    recipe: dict[str, Any],
    seed: int,
    sharp: np.ndarray | None = None,
    progress: bool = True,
    description: str = "fit",
    *,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    checkpoint_seconds: float = 0,
    on_iteration: Callable[[dict[str, float]], None] | None = None,
) -> MethodResult:
    """Fit the INR of ``recipe`` to ``blurry`` under the known blur ``operator``.

    Args:
        blurry: (H, W, C) float in [0, 1], the observation (C = 1 or 3).
        operator: the blur, with ``operator.image_shape == (H, W)``.
        recipe: a validated method recipe (``inr``, ``regulariser``, ``fit`` sections).
            ``fit`` keys read here beyond the schema's required ones, with their defaults:
            ``tile`` (0: whole image; else output tile side, px) and ``amp`` (True; CUDA
            only).
        seed: torch seed of the initialisation.
        sharp: (H, W, C) ground truth, used only to trace PSNR; never in the loss.
        progress: show a tqdm progress bar on stderr.
        description: the bar's label and the prefix of error messages.
        checkpoint_path: where checkpoints are written every ``checkpoint_every``
            iterations, every ``checkpoint_seconds``, at the last iteration (when either is
            on) and when a stop signal arrives (see :mod:`inrdeblur.methods.checkpoint`);
            when the file exists, the fit resumes from it (:class:`CheckpointError` when it
            belongs to another fit). The caller deletes it once the results are safe.
        checkpoint_every: iterations between checkpoints, 0 for none. Not a recipe key:
            it does not change the result, so changing it must not invalidate caches.
        checkpoint_seconds: wall-clock seconds after which a checkpoint is due (since the
            last one, or this run's start), 0 for none. Not a recipe key either.
        on_iteration: called with each trace row after the iteration (and its checkpoint,
            if any); an exception it raises stops the fit.

    Raises:
        Preempted: SIGTERM or SIGUSR1 arrived during the iterations (with a
            ``checkpoint_path``, in the main thread): the iteration in progress was
            finished and checkpointed, and the fit stopped (``on_iteration`` is not called
            for that row). A rerun resumes from that checkpoint.

    Trace: ``loss``, ``data_loss`` and ``reg_loss`` are those of the step's tile (the
    whole image without tiling). ``psnr`` is that of the step's latent estimate; with
    tiles, of the estimate assembled from every tile as rendered at its latest step (NaN
    until every tile has been fitted once). ``seconds`` counts from the first run's start.
    """
    fit_cfg = recipe["fit"]
    reg_cfg = recipe["regulariser"]
    device = resolve_device(fit_cfg["device"])
    iterations = int(fit_cfg["iterations"])
    tiles = split_tiles(blurry.shape[:2], _non_negative_int(fit_cfg.get("tile", 0), "fit.tile"))
    use_amp = bool(fit_cfg.get("amp", True)) and device.type == "cuda"
    height, width = blurry.shape[:2]
    if operator.image_shape != (height, width):
        raise ValueError(
            f"{description}: blur operator for {operator.image_shape} images, "
            f"blurry image is {(height, width)}"
        )
    margin = operator.margin
    top, _, left, _ = margin
    lat_h, lat_w = operator.latent_shape
    pitch = (2.0 / max(lat_w - 1, 1), 2.0 / max(lat_h - 1, 1))
    whole = len(tiles) == 1
    checkpointer = Checkpointer(
        checkpoint_path,
        fit_fingerprint(blurry, operator, recipe, seed),
        every=checkpoint_every,
        every_seconds=checkpoint_seconds,
    )

    start = time.perf_counter()
    torch.manual_seed(seed)
    model = build_inr(
        recipe["inr"], out_features=blurry.shape[2], latent_shape=(lat_h, lat_w), device=device
    ).to(device)
    y = torch.from_numpy(np.ascontiguousarray(blurry.transpose(2, 0, 1)))[None].to(device)
    operator = operator.float().to(device)
    tiled = TiledOperator(operator)
    x_true = None
    if sharp is not None:
        x_true = torch.from_numpy(np.ascontiguousarray(sharp.transpose(2, 0, 1)))[None].to(device)
    coords = coordinate_grid(lat_h, lat_w, device)
    grid = coords.view(lat_h, lat_w, 2)
    regulariser = build_regulariser(
        reg_cfg,
        model=model,
        channels=blurry.shape[2],
        iterations=iterations,
        whole=whole,
        device=device,
        description=description,
    )
    mismatch = data_term(fit_cfg.get("data_term", "mse"))
    groups = [{"params": list(model.parameters()), "lr": fit_cfg["lr"]}]
    groups += regulariser.parameter_groups()
    optimiser = AdamCosine(
        groups,
        iterations=iterations,
        lr_min=fit_cfg["lr_min"],
        grad_clip=fit_cfg["grad_clip"],
        amp=use_amp,
    )
    # The model's own coordinate derivatives, when it has them: TV without double backward.
    analytic_tv = regulariser.spatial_grads
    spatial_grads: list[torch.Tensor] = []  # (N,) d/dx, d/dy of the channel sum, last render

    def render(
        points: torch.Tensor, shape: tuple[int, int], amp: bool, derivatives: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """INR at (N, 2) points -> (N, C) float32 and the (1, C, *shape) image; with
        ``derivatives``, d/dx and d/dy of its channel sum, (N,) float32, go to ``spatial_grads``."""
        autocast = torch.autocast(device.type, dtype=AMP_DTYPE) if amp else contextlib.nullcontext()
        with autocast:
            if derivatives:
                out, out_dx, out_dy = model.forward_with_spatial_grad(points, channel_sum=True)
                spatial_grads[:] = [out_dx.float(), out_dy.float()]
            else:
                out = model(points)
        out = out.float()
        image = out.reshape(*shape, -1).permute(2, 0, 1)[None]
        return out, regulariser.image(image)

    trace: list[dict[str, float]] = []
    tile_sse = [math.nan] * len(tiles)  # squared error of each tile's latest estimate
    first, seconds_before = 0, 0.0
    state = checkpointer.load()
    if state is not None:
        model.load_state_dict(state["model"])
        for key, module in regulariser.modules.items():
            module.load_state_dict(state[key])
        optimiser.load_state_dict(state)
        restore_rng(state, device)
        trace = trace_rows(state["trace"])
        tile_sse = [float(v) for v in state["tile_sse"].tolist()]
        first, seconds_before = int(state["iteration"]), float(state["seconds"])

    # A stop signal in this block checkpoints the iteration in progress and raises
    # Preempted, after the bar (on stderr) is closed, so the caller's message has its line.
    with (
        checkpointer.stop_signals(),
        tqdm(
            range(first, iterations),
            desc=description,
            disable=not progress,
            mininterval=1.0,
            initial=first,
            total=iterations,
        ) as bar,
    ):
        for it in bar:
            index = it % len(tiles)
            tile = tiles[index]
            rows, cols = tile.latent_window(margin)
            points = coords if whole else grid[rows, cols].reshape(-1, 2)
            points = points.detach().requires_grad_(regulariser.point_grad)
            out, latent = render(
                points, (rows.stop - rows.start, cols.stop - cols.start), use_amp, analytic_tv
            )
            target = y if whole else y[..., tile.row0 : tile.row1, tile.col0 : tile.col1]
            data_loss = mismatch(tiled(tile, latent), target)
            reg_loss = regulariser.loss(out, points, latent, spatial_grads, pitch)
            loss = data_loss + regulariser.weight * reg_loss
            lr = optimiser.step(loss)
            regulariser.step()
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{description}: loss became {loss.item()} at iteration {it}"
                )
            row = {
                "iteration": it + 1,
                "loss": loss.item(),
                "data_loss": data_loss.item(),
                "reg_loss": reg_loss.item(),
                "psnr": math.nan,
                "lr": lr,
                "seconds": seconds_before + time.perf_counter() - start,
            }
            if x_true is not None:
                th, tw = tile.shape
                crop = latent.detach()[..., top : top + th, left : left + tw]
                if whole:
                    row["psnr"] = psnr_torch(crop, x_true)
                else:
                    truth = x_true[..., tile.row0 : tile.row1, tile.col0 : tile.col1]
                    tile_sse[index] = torch.sum((crop.clamp(0, 1) - truth) ** 2).item()
                    mse = math.fsum(tile_sse) / x_true.numel()
                    row["psnr"] = math.inf if mse == 0 else -10.0 * math.log10(mse)
                bar.set_postfix(psnr=f"{row['psnr']:.2f}", refresh=False)
            trace.append(row)
            if checkpointer.due(it + 1, last=it + 1 == iterations):
                checkpointer.save(
                    it + 1,
                    row["seconds"],
                    {
                        "model": model.state_dict(),
                        **{key: m.state_dict() for key, m in regulariser.modules.items()},
                        **optimiser.state_dict(),
                        **rng_state(device),
                        "trace": trace_tensor(trace),
                        "tile_sse": torch.tensor(tile_sse, dtype=torch.float64),
                    },
                )
            if on_iteration is not None:
                on_iteration(row)
    with torch.no_grad():
        if whole:
            _, latent = render(coords, (lat_h, lat_w), False)
            estimate = latent[0, :, top : top + height, left : left + width]
        else:
            estimate = torch.empty((blurry.shape[2], height, width), device=device)
            for tile in tiles:
                rows, cols = tile.estimate_window(margin)
                _, part = render(grid[rows, cols].reshape(-1, 2), tile.shape, False)
                estimate[:, tile.row0 : tile.row1, tile.col0 : tile.col1] = part[0]
        estimate = estimate.permute(1, 2, 0).float().cpu().numpy()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = seconds_before + time.perf_counter() - start
    windows = [tile.latent_window(margin) for tile in tiles]
    return MethodResult(
        estimate=np.ascontiguousarray(estimate, dtype=np.float32),
        trace=trace,
        time_s=elapsed,
        size_mb=sum(model_size_mb(m) for m in (model, *regulariser.trained)),
        n_parameters=sum(
            p.numel()
            for m in (model, *regulariser.trained)
            for p in m.parameters()
            if p.requires_grad
        ),
        device=str(device),
        extra={
            "tiles": len(tiles),
            "tile_shape": [max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)],
            "points_per_step": max((r.stop - r.start) * (c.stop - c.start) for r, c in windows),
            "amp": use_amp,
            "resumed_from": first,
        },
    )
