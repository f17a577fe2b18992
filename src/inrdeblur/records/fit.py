"""The fit record: one method's estimate of one blurred image, and its kernel estimate.

Stored as ``estimate.npz`` in a fit's folder (:data:`inrdeblur.layout.FIT_ESTIMATE_NPZ`)
with ``estimate`` (H, W, C) float32, the observation's size and channels, unclipped, and,
when the method estimated the blur (a blind method), ``kernel`` (k_h, k_w) float32, a
blur kernel in the convention of :func:`inrdeblur.blur.uniform.convolve`. The fit stage
writes it; the evaluate and report stages read it.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "estimate.npz")
>>> FitEstimate(np.zeros((4, 5, 1), np.float32), np.full((3, 3), 1 / 9)).save(path)
>>> fit = FitEstimate.load(path)
>>> fit.estimate.shape, fit.kernel.shape
((4, 5, 1), (3, 3))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inrdeblur.blur.kernels import validate_kernel
from inrdeblur.fileio import InputFileError, read_npz, write_npz


@dataclass
class FitEstimate:
    """A fit's sharp estimate (H, W, C) and, for a blind method, its kernel estimate."""

    estimate: np.ndarray
    kernel: np.ndarray | None = None

    def save(self, path: str | os.PathLike) -> None:
        """Write ``path`` atomically (``estimate``, and ``kernel`` when there is one)."""
        arrays = {"estimate": np.asarray(self.estimate, dtype=np.float32)}
        if self.kernel is not None:
            arrays["kernel"] = validate_kernel(self.kernel, "kernel estimate")
        write_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FitEstimate:
        """Read and check a fit record.

        Raises:
            InputFileError: naming ``path``: unreadable, no ``estimate``, an estimate that
                is not an (H, W, 1 or 3) image, or a ``kernel`` that is not a blur kernel.
                (A diverged fit's non-finite estimate is read as it is and scored.)
        """
        path = Path(path)
        data = read_npz(path)
        if "estimate" not in data:
            raise InputFileError(f"{path}: missing array 'estimate'")
        estimate = data["estimate"]
        if estimate.ndim != 3 or estimate.shape[2] not in (1, 3):
            raise InputFileError(f"{path}: 'estimate' must be (H, W, 1 or 3), got {estimate.shape}")
        kernel = None
        if "kernel" in data:
            try:
                kernel = validate_kernel(data["kernel"], f"{path}: 'kernel'")
            except ValueError as err:
                raise InputFileError(str(err)) from err
        return cls(estimate.astype(np.float32), kernel)
