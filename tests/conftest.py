"""Shared test fixtures: paths of the repository and of the tools installed beside Python."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: reference data beside the checkout (``../shared``); CI has it, a user's clone does not
LEVIN_DIR = REPO.parent / "shared" / "data" / "levin"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tool_env() -> dict[str, str]:
    """Environment for subprocesses: the venv's bin first on PATH, no DVC analytics."""
    env = os.environ.copy()
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@pytest.fixture(scope="module")
def one_torch_thread():
    """Pin torch to one intra-op thread for the module, and give the old count back.

    CPU results depend on the thread count (bit-identical checks need it fixed), and small
    tensor operations run faster on one thread than on two contended ones.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fit_regression(model, coords, target, optimiser, steps: int = 200) -> tuple[float, float]:
    """Fit ``model(coords)`` to ``target`` by MSE for ``steps`` steps; (start, end) MSE."""
    import torch

    with torch.no_grad():
        start = torch.mean((model(coords) - target) ** 2).item()
    for _ in range(steps):
        loss = torch.mean((model(coords) - target) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        end = torch.mean((model(coords) - target) ** 2).item()
    return start, end
