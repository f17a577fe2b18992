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
