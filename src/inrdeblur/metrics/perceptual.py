"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR) that never touches the network.

The linear calibration layers come from the ``lpips`` wheel (``lpips/weights/v0.1/``). The
ImageNet AlexNet backbone is *not* in any wheel: it is read from torchvision's cache file
``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth`` (see :func:`backbone_path`). When
that file is missing or unreadable the metric reports itself unavailable
(:attr:`LPIPS.available` is ``False``, :attr:`LPIPS.status` says what is wrong and where;
:data:`LPIPS_HELP`, shown once under a table, says how to fix it) and returns ``None``
rather than a number computed with a random backbone.

Inputs in [0, 1] are mapped to [-1, 1] before the network, as LPIPS expects. The
ParallaxICB reference code fed [0, 1] floats through ``lpips.im2tensor`` (meant for uint8),
which squeezes every image into [-1, -0.992]; that is deliberately not reproduced
(``icb_spec.md`` §6.6).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["BACKBONE_FILENAME", "BACKBONE_URL", "LPIPS", "backbone_path"]

#: torchvision's ImageNet AlexNet weights (``AlexNet_Weights.IMAGENET1K_V1``), 233 MB.
BACKBONE_FILENAME = "alexnet-owt-7be5be79.pth"
#: Where torchvision downloads :data:`BACKBONE_FILENAME` from (never fetched by this module).
BACKBONE_URL = f"https://download.pytorch.org/models/{BACKBONE_FILENAME}"
#: Smallest height and width AlexNet's two max-pooling stages accept, in pixels.
MIN_SIZE = 31


def backbone_path() -> Path:
    """Path of the AlexNet backbone file: ``torch.hub.get_dir() / "checkpoints" / ...``.

    ``torch.hub.get_dir()`` is ``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``) unless
    ``torch.hub.set_dir`` was called.
    """
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILENAME


#: How to make LPIPS available, shown once under a table whose LPIPS is missing (each
#: record's status says only what was wrong, and where).
LPIPS_HELP = (
    f"LPIPS needs torchvision's ImageNet AlexNet backbone {BACKBONE_FILENAME} (from "
    f"{BACKBONE_URL}) in $TORCH_HOME/hub/checkpoints/ (default ~/.cache/torch/hub/"
    "checkpoints/); `snakemake fetch_lpips` or `inrdeblur fetch lpips_alexnet` downloads "
    "and verifies it."
)


def lpips_help(reasons: list[str]) -> str | None:
    """:data:`LPIPS_HELP` when one of the missing-LPIPS ``reasons`` is the backbone file,
    else None: what a table prints once under its LPIPS footnotes."""
    return LPIPS_HELP if any("backbone" in reason for reason in reasons) else None


def _missing_status(path: Path, problem: str) -> str:
    return f"missing: {problem} ({path})"


class LPIPS:
    """LPIPS v0.1 distance with the AlexNet backbone, offline.

    >>> metric = LPIPS()                                     # doctest: +SKIP
    >>> metric(estimate, reference) if metric.available else metric.status  # doctest: +SKIP

    Attributes:
        available: ``True`` when the backbone was loaded and the metric can be computed.
        status: ``"ok"``, or ``"missing: <reason> (<expected backbone path>)"``; how to
            provide the file is :data:`LPIPS_HELP`.
        net: backbone name (only ``"alex"``).
        device: torch device the network runs on.
    """

    def __init__(self, net: str = "alex", device: str | torch.device = "cpu") -> None:
        if net != "alex":
            raise ValueError(f"only the 'alex' LPIPS backbone is supported, got {net!r}")
        import torch

        self.net = net
        self.device = torch.device(device)
        self.available = False
        self._model: Any = None
        path = backbone_path()
        self.backbone_path = path
        self.status = self._load(path)
        self.available = self.status == "ok"

    def _load(self, path: Path) -> str:
        """Build the network and load the backbone; return the status string."""
        import torch

        if not path.is_file():
            return _missing_status(path, "backbone file not found")
        try:
            import lpips
        except ImportError as err:  # pragma: no cover - lpips is a hard dependency
            return f"missing: the lpips package cannot be imported ({err})"
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # corrupt zip, truncated pickle, OSError, ...
            return _missing_status(path, f"backbone file unreadable ({type(err).__name__}: {err})")
        if not isinstance(state, dict):
            return _missing_status(
                path, f"backbone file holds a {type(state).__name__}, not a state dict"
            )

        with warnings.catch_warnings():
            # lpips calls torchvision's alexnet(pretrained=False): deprecated-argument warnings.
            warnings.filterwarnings("ignore", message=r".*'pretrained' is deprecated")
            warnings.filterwarnings("ignore", message=r"Arguments other than a weight enum")
            # Linear layers from the wheel; random backbone, so nothing is downloaded.
            model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)

        problems = _copy_backbone(model.net, state)
        if problems:
            return _missing_status(
                path,
                "backbone file is not a torchvision AlexNet state dict ("
                + "; ".join(problems)
                + ")",
            )
        model.eval().requires_grad_(False)
        self._model = model.to(self.device)
        return "ok"

    def __call__(self, estimate: np.ndarray, reference: np.ndarray) -> float | None:
        """LPIPS distance (0 for identical images, larger is more different).

        Args:
            estimate: ``(H, W, 3)`` float RGB in [0, 1] (gray, ``(H, W, 1)`` or ``(H, W)``,
                is replicated to three channels); H and W at least 31.
            reference: same shape as ``estimate``.

        Returns:
            The distance as a float, or ``None`` when the metric is not available.
        """
        est, ref = _check_pair(estimate, reference)
        if not self.available:
            return None
        import torch

        with torch.inference_mode():
            value = self._model(
                _to_tensor(est, self.device), _to_tensor(ref, self.device), normalize=True
            )
        return float(value.item())

    def __repr__(self) -> str:
        return f"LPIPS(net={self.net!r}, device='{self.device}', status={self.status!r})"


def _copy_backbone(lpips_net: torch.nn.Module, state: dict[str, Any]) -> list[str]:
    """Copy torchvision ``features.N.*`` tensors into the lpips backbone slices in place.

    The slices of ``lpips.pretrained_networks.alexnet`` keep torchvision's module indices
    (``slice2.3.weight`` is ``features.3.weight``). Returns a list of problems, empty on
    success; nothing is partially usable on failure because the caller discards the model.
    """
    import torch

    problems: list[str] = []
    targets: list[tuple[torch.Tensor, torch.Tensor]] = []
    for name, param in lpips_net.named_parameters():
        _, index, kind = name.split(".")  # "slice2", "3", "weight"
        key = f"features.{index}.{kind}"
        source = state.get(key)
        if not isinstance(source, torch.Tensor):
            problems.append(f"no tensor {key!r}")
        elif tuple(source.shape) != tuple(param.shape):
            problems.append(
                f"{key!r} has shape {tuple(source.shape)}, expected {tuple(param.shape)}"
            )
        elif not torch.isfinite(source).all():
            problems.append(f"{key!r} holds non-finite values")
        else:
            targets.append((param, source))
    if not problems:
        with torch.no_grad():
            for param, source in targets:
                param.copy_(source.to(param.dtype))
    return problems


def _check_pair(estimate: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate an image pair; return both as ``(H, W, 3)`` float32."""
    est = np.asarray(estimate, dtype=np.float32)
    ref = np.asarray(reference, dtype=np.float32)
    if est.shape != ref.shape:
        raise ValueError(
            f"estimate and reference differ in shape: estimate {est.shape}, reference {ref.shape}"
        )
    if est.ndim == 3 and est.shape[2] == 1:
        est, ref = est[..., 0], ref[..., 0]
    if est.ndim == 2:
        est, ref = np.repeat(est[..., None], 3, axis=2), np.repeat(ref[..., None], 3, axis=2)
    if est.ndim != 3 or est.shape[2] != 3:
        raise ValueError(
            f"LPIPS expects (H, W, 3), (H, W, 1) or (H, W) images, got shape {est.shape}"
        )
    if min(est.shape[:2]) < MIN_SIZE:
        raise ValueError(
            f"LPIPS (AlexNet) needs images of at least {MIN_SIZE}x{MIN_SIZE}, got shape {est.shape}"
        )
    for name, arr in (("estimate", est), ("reference", ref)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} holds non-finite values (NaN or inf)")
    return est, ref


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(H, W, 3)`` numpy -> ``(1, 3, H, W)`` float32 tensor on ``device``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)
