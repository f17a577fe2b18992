"""A copy of the workflow in a temporary directory, with a tiny demo study.

The copy holds what the Snakefile and dvc.yaml need (rules, schema, profiles, the
library sources DVC hashes); jobs run the installed ``inrdeblur`` command.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COPIED = (
    "Snakefile", "dvc.yaml", "params.yaml", ".dvcignore", "workflow", "profiles", "slurm", "src",
)  # fmt: skip

TINY_METHOD = {
    "inr": {
        "type": "siren",
        "hidden_features": 16,
        "hidden_layers": 1,
        "first_omega0": 30.0,
        "omega0": 30.0,
    },
    "regulariser": {"type": "tv", "weight": 1e-3},
    "fit": {"iterations": 12, "lr": 2e-3, "lr_min": 1e-5, "grad_clip": 1.0, "device": "cpu"},
}

#: SelfDeblur shrunk to seconds: 20 steps of small networks, no kernel_size of its own
TINY_BLIND_METHOD = {
    "type": "selfdeblur",
    "iterations": 20,
    "mse_iterations": 10,
    "lr_milestones": [15],
    "image_net": {"channels": 8, "skip": 2, "levels": 3, "non_local": False},
    "kernel_net": {"noise_dim": 16, "hidden": 32},
    "device": "cpu",
    "tuned_on": "test",
}


def tiny_params(methods: tuple[str, ...] = ("siren_tv",)) -> dict[str, Any]:
    """The repository's params.yaml shrunk to 2 scenes of 32 px and 12 iterations: its demo
    study with ``methods`` and seeds 0 and 1. Its other studies (levin among them) stay,
    disabled: validated, never run, with the same methods, the only ones defined here."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["executor"]["cores"] = 2
    assert "levin" in params["studies"]
    for name, study in params["studies"].items():
        study["enabled"] = name == "demo"
        study["methods"] = list(methods)
        study.pop("error_ratio_reference", None)  # it names a method not defined here
    params["studies"]["demo"]["seeds"] = [0, 1]
    params["datasets"]["demo"] = {"size": 32, "scenes": ["astronaut", "motorcycle"]}
    params["blurs"]["motion"]["kernel_size"] = 5
    params["metrics"]["lpips"] = True
    params["methods"] = {}
    params["two_stage"] = {}
    for i, name in enumerate(methods):
        method = copy.deepcopy(TINY_METHOD)
        if i % 2 == 1:
            method["regulariser"] = {"type": "none"}
        params["methods"][name] = method
    return params


def make_project(root: Path, params: dict[str, Any] | None = None) -> Path:
    """Copy the workflow into ``root`` and write ``params`` (default: tiny) there."""
    root.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, symlinks=False, ignore=ignore)
        else:
            shutil.copy2(src, root / name)
    write_params(root, params or tiny_params())
    return root


def make_dvc_project(root: Path, params: dict[str, Any], env: dict[str, str]) -> Path:
    """:func:`make_project`, then make it a committed git repository with DVC initialised."""
    project = make_project(root, params)
    for cmd in (
        ["git", "init", "-q"],
        ["git", "config", "user.email", "test@example.org"],
        ["git", "config", "user.name", "test"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
    ):
        proc = run(cmd, project, env)
        assert proc.returncode == 0, proc.stdout
    shutil.copytree(REPO / ".dvc" / "plots", project / ".dvc" / "plots")  # plot templates
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "tiny project"]):
        proc = run(cmd, project, env)
        assert proc.returncode == 0, proc.stdout
    return project


def ran(output: str) -> set[str]:
    """The DVC stages that ``output`` says were run."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def write_params(root: Path, params: dict[str, Any]) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600):
    """Run ``cmd``; return the completed process (stdout and stderr merged)."""
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
