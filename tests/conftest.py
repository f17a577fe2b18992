"""Shared test fixtures: paths of the repository and of the tools installed beside Python,
and a Debian Chromium for the tests that open reports.

Chromium comes from the distribution (``/usr/bin/chromium``), never from
``playwright install``. When it is missing and we are root it is installed with apt-get;
otherwise the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CHROMIUM = Path("/usr/bin/chromium")
APT_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Path of a Chromium executable; installed from Debian when missing and root."""
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    if CHROMIUM.exists():
        return CHROMIUM
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip(
            f"{CHROMIUM} is missing and we are not root, so cannot apt-get install "
            "chromium; install it (apt-get install chromium) to run browser tests"
        )
    if shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and apt-get is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    start = time.monotonic()
    try:
        subprocess.run(
            "apt-get update && apt-get install -y --no-install-recommends chromium",
            shell=True,
            check=True,
            env=env,
            timeout=APT_TIMEOUT_S,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    except subprocess.CalledProcessError as err:
        pytest.fail(f"apt-get install chromium failed:\n{err.stdout[-3000:]}")
    print(f"\ninstalled chromium with apt-get in {time.monotonic() - start:.1f} s")
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} does not exist")
    return CHROMIUM


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


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def torch_threads(request):
    """Run the test with 1 and with 2 intra-op threads (the hash grid's fast path gathers
    and scatters on a helper thread with 2), and give the old count back."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)
