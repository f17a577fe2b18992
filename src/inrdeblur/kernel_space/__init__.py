"""The learned blur-kernel space (Tran et al. 2021) as a stage of its own: training its
networks (:mod:`~inrdeblur.networks.kernel_space`) on pairs the pipeline makes
(:mod:`.training`)."""

from __future__ import annotations

import os
from pathlib import Path

from inrdeblur.fileio import write_json


def write_disabled(out_dir: str | os.PathLike) -> None:
    """The stage's output when ``kernel_space.enabled`` is false: a meta.json saying so
    (no torch needed)."""
    write_json(Path(out_dir) / "meta.json", {"enabled": False})
