"""Non-blind INR deblurring: fit an INR whose blurred rendering matches the blurry image.

Model (the 'valid' convention of SelfDeblur and the cross-scale INR): the INR paints a
latent image, the sharp image extended by the blur operator's margin (S // 2 px for a
support S), on coordinates spanning [-1, 1]; the operator maps it to exactly the blurry
image's size H x W, so no boundary condition is assumed. The estimate is the H x W crop of
the latent inside the margin. The operator is any :class:`~inrdeblur.blur.operator.BlurOperator`
(uniform kernel, ICB or PWB).

    minimise_theta  mean((A f_theta - y)^2) + weight * R(f_theta)

with Adam and a cosine learning-rate schedule, one step per iteration on the whole image.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from inrdeblur.blur.operator import BlurOperator
from inrdeblur.fit.regularisers import coordinate_tv
from inrdeblur.inr import build_inr

TRACE_COLUMNS = ("iteration", "loss", "data_loss", "reg_loss", "psnr", "lr", "seconds")


@dataclass
class FitResult:
    """What one fit produces.

    Attributes:
        estimate: (H, W, 3) float32 sharp estimate (unclipped INR output).
        trace: one dict per iteration with :data:`TRACE_COLUMNS`.
        time_s: wall time of the optimisation (model build to final render), seconds.
        size_mb: bytes of trainable parameters and buffers / 2**20.
        n_parameters: number of trainable parameters.
        device: the torch device used.
    """

    estimate: np.ndarray
    trace: list[dict[str, float]]
    time_s: float
    size_mb: float
    n_parameters: int
    device: str
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("fit.device is 'cuda' but torch sees no CUDA device")
    return torch.device(name)


def model_size_mb(model: torch.nn.Module) -> float:
    """Bytes of trainable parameters and buffers, in MB of 2**20 bytes."""
    n_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    n_bytes += sum(b.numel() * b.element_size() for b in model.buffers())
    return n_bytes / 2**20


def coordinate_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(height * width, 2) pixel-centre coordinates ``(x, y)`` spanning [-1, 1], row-major."""
    ys = torch.linspace(-1.0, 1.0, height, device=device)
    xs = torch.linspace(-1.0, 1.0, width, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)


def psnr_torch(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    mse = torch.mean((estimate.clamp(0, 1) - reference) ** 2).item()
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def fit_nonblind(
    blurry: np.ndarray,
    operator: BlurOperator,
    recipe: dict[str, Any],
    seed: int,
    sharp: np.ndarray | None = None,
    progress: bool = True,
    description: str = "fit",
) -> FitResult:
    """Fit the INR of ``recipe`` to ``blurry`` under the known blur ``operator``.

    Args:
        blurry: (H, W, 3) float in [0, 1], the observation.
        operator: the blur, with ``operator.image_shape == (H, W)``.
        recipe: a validated method recipe (``inr``, ``regulariser``, ``fit`` sections).
        seed: torch seed of the initialisation.
        sharp: (H, W, 3) ground truth, used only to trace PSNR; never in the loss.
        progress: show a tqdm progress bar on stderr.
    """
    fit_cfg = recipe["fit"]
    reg_cfg = recipe["regulariser"]
    device = resolve_device(fit_cfg["device"])
    height, width = blurry.shape[:2]
    if operator.image_shape != (height, width):
        raise ValueError(
            f"{description}: blur operator for {operator.image_shape} images, "
            f"blurry image is {(height, width)}"
        )
    top, _, left, _ = operator.margin
    lat_h, lat_w = operator.latent_shape
    pitch = (2.0 / max(lat_w - 1, 1), 2.0 / max(lat_h - 1, 1))

    start = time.perf_counter()
    torch.manual_seed(seed)
    model = build_inr(recipe["inr"], out_features=blurry.shape[2]).to(device)
    y = torch.from_numpy(np.ascontiguousarray(blurry.transpose(2, 0, 1)))[None].to(device)
    operator = operator.float().to(device)
    x_true = None
    if sharp is not None:
        x_true = torch.from_numpy(np.ascontiguousarray(sharp.transpose(2, 0, 1)))[None].to(device)
    coords = coordinate_grid(lat_h, lat_w, device)
    optimiser = torch.optim.Adam(model.parameters(), lr=fit_cfg["lr"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=fit_cfg["iterations"], eta_min=fit_cfg["lr_min"]
    )
    use_tv = reg_cfg["type"] == "tv" and reg_cfg["weight"] > 0

    def render(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(points)
        latent = out.reshape(lat_h, lat_w, -1).permute(2, 0, 1)[None]
        return out, latent

    trace: list[dict[str, float]] = []
    bar = tqdm(
        range(fit_cfg["iterations"]), desc=description, disable=not progress, mininterval=1.0
    )
    for it in bar:
        points = coords.requires_grad_(use_tv)
        out, latent = render(points)
        data_loss = torch.mean((operator(latent) - y) ** 2)
        reg_loss = coordinate_tv(out, points, pitch) if use_tv else torch.zeros((), device=device)
        loss = data_loss + reg_cfg["weight"] * reg_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if fit_cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), fit_cfg["grad_clip"])
        lr = optimiser.param_groups[0]["lr"]
        optimiser.step()
        schedule.step()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{description}: loss became {loss.item()} at iteration {it}")
        row = {
            "iteration": it + 1,
            "loss": loss.item(),
            "data_loss": data_loss.item(),
            "reg_loss": reg_loss.item(),
            "psnr": math.nan,
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }
        if x_true is not None:
            crop = latent.detach()[..., top : top + height, left : left + width]
            row["psnr"] = psnr_torch(crop, x_true)
            bar.set_postfix(psnr=f"{row['psnr']:.2f}", refresh=False)
        trace.append(row)
    with torch.no_grad():
        _, latent = render(coords.detach().requires_grad_(False))
        estimate = latent[0, :, top : top + height, left : left + width]
        estimate = estimate.permute(1, 2, 0).float().cpu().numpy()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return FitResult(
        estimate=np.ascontiguousarray(estimate, dtype=np.float32),
        trace=trace,
        time_s=elapsed,
        size_mb=model_size_mb(model),
        n_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        device=str(device),
    )
