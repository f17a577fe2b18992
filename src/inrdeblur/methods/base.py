"""The method interface: what every deblurring method is given and what it returns.

A *method* is a named recipe of ``params.yaml`` (``methods.<name>``); its ``type`` picks
the class that runs it (:func:`inrdeblur.methods.method_class`). One fit is one call of
:meth:`Method.run` on one :class:`Problem` with one seed. The fit stage
(:mod:`inrdeblur.fit.run`) builds the problem from the stage files, runs the method and
writes its :class:`MethodResult`; it never names a method.

Every method of a comparison gets the same :class:`Problem` for the same blurred image:
the same observation array and the same forward operator, so the only difference between
two rows of a table is the method.
"""

from __future__ import annotations

import abc
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    import torch

    from inrdeblur.blur.operator import BlurOperator

#: columns of a fit's trace (``trace.csv``), one row per iteration; ``lr`` and ``reg_loss``
#: are NaN where a method has none, ``psnr`` (against the sharp image) is for monitoring
TRACE_COLUMNS = ("iteration", "loss", "data_loss", "reg_loss", "psnr", "lr", "seconds")


class CheckpointError(ValueError):
    """A fit checkpoint is unreadable or belongs to a different fit; the message names the
    file. The fit stage deletes its own stale checkpoint and starts that seed afresh."""


@dataclass(frozen=True)
class Problem:
    """One deblurring problem: the observation and what the method may know of the blur.

    Attributes:
        blurry: (H, W, C) float32 observation, C = 1 (gray) or 3 (RGB), not clipped.
        operator: the true blur, mapping the (B, C, H + top + bottom, W + left + right)
            latent to (B, C, H, W) (a non-blind method's forward model); None for a blind
            method.
        kernel_size: odd upper bound on the kernel side, px, for a blind method; else None.
        sharp: (H, W, C) ground truth for the trace's PSNR only; a method never uses it to
            form its estimate. None when there is none (a real photograph).
        description: label of progress bars and prefix of error messages.
    """

    blurry: np.ndarray
    operator: BlurOperator | None = None
    kernel_size: int | None = None
    sharp: np.ndarray | None = None
    description: str = "fit"

    def __post_init__(self) -> None:
        blurry = self.blurry
        if blurry.ndim != 3 or blurry.shape[2] not in (1, 3):
            raise ValueError(
                f"{self.description}: the observation must be (H, W, 1) or (H, W, 3), "
                f"got {blurry.shape}"
            )
        if self.sharp is not None and self.sharp.shape != blurry.shape:
            raise ValueError(
                f"{self.description}: sharp image {self.sharp.shape} does not match the "
                f"observation {blurry.shape}"
            )
        if self.operator is not None and tuple(self.operator.image_shape) != blurry.shape[:2]:
            raise ValueError(
                f"{self.description}: blur operator for {tuple(self.operator.image_shape)} "
                f"images, blurry image is {blurry.shape[:2]}"
            )

    @property
    def channels(self) -> int:
        return int(self.blurry.shape[2])

    def observation_sha256(self) -> str:
        """SHA-256 of the observation's float32 bytes (shape included), the identity of
        "the same data" across the methods of a comparison."""
        return observation_sha256(self.blurry)


def observation_sha256(blurry: np.ndarray) -> str:
    """SHA-256 of an observation: its shape, then its C-ordered float32 bytes."""
    data = np.ascontiguousarray(blurry, dtype=np.float32)
    digest = hashlib.sha256(repr(tuple(data.shape)).encode())
    digest.update(data.tobytes())
    return digest.hexdigest()


@dataclass
class MethodResult:
    """What one fit produces.

    Attributes:
        estimate: (H, W, C) float32 sharp estimate, C of the observation (not clipped).
        trace: one dict per iteration with :data:`TRACE_COLUMNS`.
        time_s: wall time of the fit, seconds (after a resume: up to the checkpoint plus
            this run's).
        size_mb: bytes of the fitted parameters and buffers / 2**20 (the representation's
            size; 0 for a method that keeps only the image).
        n_parameters: number of fitted parameters (the image's pixels for a classical
            method, which optimises the latent image itself).
        device: the torch device used.
        kernel: (k, k) float32 kernel estimate of a blind method, else None.
        extra: method-specific facts written to the fit's meta (JSON-able).
    """

    estimate: np.ndarray
    trace: list[dict[str, float]]
    time_s: float
    size_mb: float
    n_parameters: int
    device: str
    kernel: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: called with each trace row after its iteration; an exception it raises stops the fit
IterationCallback = Callable[[dict[str, float]], None]


class Method(abc.ABC):
    """A deblurring method: one class per ``methods.<name>.type``.

    Subclasses set :attr:`type` (the params value, also the name of the module in
    :mod:`inrdeblur.methods` that defines the class as ``METHOD``) and :attr:`blind`, take
    the validated recipe in ``__init__`` and implement :meth:`run`.
    """

    #: the value of ``methods.<name>.type``
    type: ClassVar[str] = ""
    #: whether the method estimates the blur itself (it then gets no operator)
    blind: ClassVar[bool] = False

    def __init__(self, recipe: dict[str, Any]):
        self.recipe = recipe

    @abc.abstractmethod
    def run(
        self,
        problem: Problem,
        seed: int,
        *,
        progress: bool = True,
        checkpoint_path: str | None = None,
        checkpoint_every: int = 0,
        checkpoint_seconds: float = 0,
        on_iteration: IterationCallback | None = None,
    ) -> MethodResult:
        """Deblur ``problem`` with the torch ``seed``.

        ``checkpoint_path``/``checkpoint_every``/``checkpoint_seconds``: where an iterative
        method saves its state so that a rerun resumes to the same result, and how often:
        every so many iterations, and every so many wall-clock seconds (0: never by that
        measure). An iterative method does it with a
        :class:`~inrdeblur.methods.checkpoint.Checkpointer`, which also saves and raises
        :class:`~inrdeblur.methods.checkpoint.Preempted` when SIGTERM or SIGUSR1 arrives.
        A method that finishes in seconds may ignore all three. ``on_iteration`` is called
        with each trace row.
        """


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device is 'cuda' but torch sees no CUDA device")
    return torch.device(name)


def model_size_mb(model: torch.nn.Module) -> float:
    """Bytes of trainable parameters and buffers, in MB of 2**20 bytes (a fit's size)."""
    n_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    n_bytes += sum(b.numel() * b.element_size() for b in model.buffers())
    return n_bytes / 2**20


def psnr_torch(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR (dB, data range 1) of ``estimate`` clipped to [0, 1] against ``reference``."""
    import torch

    mse = torch.mean((estimate.clamp(0, 1) - reference) ** 2).item()
    return math.inf if mse == 0 else -10.0 * math.log10(mse)
