"""Checks of the machine before any job is queued.

A typo in a dataset root, a mirror that is not mounted or a SLURM profile used where there
is no SLURM would otherwise surface only when a job runs: after a wait in the queue, and on
a cluster after three retries. :func:`preflight_problems` finds them in a second, from the
params and the machine alone, one message per problem naming the key or the command:

- **dataset roots**: a dataset of an enabled study whose ``root`` the user set (anything but
  ``data/raw/<dataset>``, which ``inrdeblur fetch`` fills) is read as it is, so the folder
  must exist; a folder of the user's own (photos), never fetched, must hold photos
  wherever it is;
- **mirrors**: a local ``mirror`` (a path or ``file://`` URL) of a dataset that is fetched
  must exist; an http(s) mirror is not contacted;
- **SLURM** (``executor == "slurm"``): the commands the executor plugin submits, polls and
  cancels with (:data:`SLURM_COMMANDS`) must be on the ``PATH``.

The workflow runs it when Snakemake starts a real (not dry) run, before any job
(``onstart`` in the Snakefile, with the executor Snakemake was given), and
``inrdeblur check-params`` runs the dataset checks.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inrdeblur import layout
from inrdeblur.data.registry import USER_FOLDERS
from inrdeblur.experiment import datasets, user_folder_files
from inrdeblur.fileio import InputFileError

#: what the SLURM executor runs: submit, poll (``slurm-status-command: squeue``), cancel
SLURM_COMMANDS = ("sbatch", "squeue", "scancel")


def is_fetched(params: dict[str, Any], dataset: str) -> bool:
    """True when ``dataset`` is read from ``data/raw/<dataset>``, the folder ``inrdeblur
    fetch`` fills: a downloaded dataset whose ``root`` is the default. A root set by the
    user is a local copy (nothing is fetched); generated data (demo) has no root, and a
    folder of the user's own (photos) is never fetched, wherever it is."""
    if dataset in USER_FOLDERS:
        return False
    root = params["datasets"].get(dataset, {}).get("root")
    return root is not None and os.path.normpath(root) == os.path.join(layout.RAW_DIR, dataset)


def _local_mirror(mirror: str) -> Path | None:
    """The folder of a local mirror (path or ``file://``); None for an http(s) one."""
    parts = urllib.parse.urlsplit(mirror)
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme == "file":
        return Path(urllib.parse.unquote(parts.path))
    return Path(mirror)


def dataset_problems(params: dict[str, Any], root: str | os.PathLike = ".") -> list[str]:
    """Missing dataset roots and local mirrors of the datasets of the enabled studies;
    relative paths are taken from ``root`` (the repository)."""
    problems = []
    base = Path(root)
    for name in datasets(params):
        settings = params["datasets"].get(name, {})
        folder = settings.get("root")
        if name in USER_FOLDERS:
            folder = folder or os.path.join(layout.RAW_DIR, name)
            try:
                user_folder_files(name, {**settings, "root": str(base / folder)})
            except InputFileError as err:
                problems.append(
                    f"{err} (the folder of your own photos, read as it is: put them there or "
                    f"set datasets.{name}.root to their folder)"
                )
        elif folder is not None and not is_fetched(params, name):
            if not (base / folder).is_dir():
                problems.append(
                    f"datasets.{name}.root: {folder} is not a folder (a root you set is read "
                    f"as it is; leave it unset to fetch the dataset into "
                    f"{layout.RAW_DIR}/{name})"
                )
        mirror = settings.get("mirror")
        if mirror and is_fetched(params, name):
            local = _local_mirror(str(mirror))
            if local is not None and not (base / local).exists():
                problems.append(f"datasets.{name}.mirror: {mirror} not found")
    return problems


def weights_problems(params: dict[str, Any], root: str | os.PathLike = ".") -> list[str]:
    """A trained-weights file the params name that is not there: ``kernel_space.weights``
    when the kernel space is enabled (relative to ``root``)."""
    settings = params.get("kernel_space") or {}
    weights = settings.get("weights")
    if not settings.get("enabled") or not weights or (Path(root) / weights).is_file():
        return []
    return [f"kernel_space.weights: {weights} is not a file (trained networks to load)"]


def executor_problems(
    executor: str, which: Callable[[str], str | None] = shutil.which
) -> list[str]:
    """Missing commands of ``executor`` ('local' needs none; 'slurm' :data:`SLURM_COMMANDS`)."""
    if executor != "slurm":
        return []
    missing = [command for command in SLURM_COMMANDS if which(command) is None]
    if not missing:
        return []
    return [
        f"no SLURM on this machine: {', '.join(missing)} not found; use executor: local "
        "(params.yaml) or run Snakemake on the cluster's login node"
    ]


def preflight_problems(
    params: dict[str, Any],
    executor: str,
    root: str | os.PathLike = ".",
    which: Callable[[str], str | None] = shutil.which,
) -> list[str]:
    """Every problem :func:`dataset_problems`, :func:`weights_problems` and
    :func:`executor_problems` find."""
    return (
        dataset_problems(params, root)
        + weights_problems(params, root)
        + executor_problems(executor, which)
    )
