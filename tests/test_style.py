"""The code follows the project's formatters: ruff for Python, snakefmt for the rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_ruff_is_clean(repo_root):
    proc = subprocess.run(
        [str(BIN / "ruff"), "check", "src", "tests", "benchmarks", "workflow"],
        cwd=repo_root,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_is_clean(repo_root):
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
        cwd=repo_root,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
