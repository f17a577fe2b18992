"""The real DVC with a two-stage entry: its stage runs after the blind method's fits and
reruns, alone with what follows it, when its non-blind method's settings change."""

from __future__ import annotations

import copy

import pytest
from test_dvc import digest
from tiny_project import TINY_BLIND_METHOD, make_dvc_project, ran, run, tiny_params, write_params

pytestmark = pytest.mark.workflow


def two_stage_params(weight: float = 0.03, iterations: int = 20) -> dict:
    """The tiny demo study with a tiny SelfDeblur (5 px kernels) and its kernels handed to
    Tikhonov; Tikhonov itself is in no study."""
    params = tiny_params()
    blind = copy.deepcopy(TINY_BLIND_METHOD)
    blind.update(kernel_size=5, iterations=iterations)
    params["methods"] = {"blind": blind, "tikhonov": {"type": "tikhonov_cg", "weight": weight}}
    params["two_stage"] = {"blind_tikhonov": {"blind": "blind", "non_blind": "tikhonov"}}
    for study in params["studies"].values():
        study["methods"] = ["blind", "blind_tikhonov"]
    params["studies"]["demo"]["seeds"] = [0]
    params["studies"]["demo"]["blurs"] = ["motion"]
    params["metrics"]["lpips"] = False
    return params


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory, tool_env):
    root = tmp_path_factory.mktemp("dvc2") / "p"
    return make_dvc_project(root, two_stage_params(), tool_env)


def test_the_second_stage_follows_the_blind_fits_and_its_own_params(dvc_project, tool_env):
    root = dvc_project
    first = run(["dvc", "repro"], root, tool_env)
    assert first.returncode == 0, first.stdout[-5000:]
    assert {"fit@blind", "fit@tikhonov", "second_stage@blind_tikhonov", "evaluate"} <= ran(
        first.stdout
    )
    blind = digest(root, "results/fits/blind/*/*/*/*/estimate.npz")
    second = digest(root, "results/fits/blind_tikhonov/*/*/*/*/estimate.npz")
    assert len(blind) == len(second) == 2  # scenes x seeds
    assert "blind_tikhonov" in (root / "results/metrics.json").read_text()

    # the non-blind method's weight: the second stage reruns, the blind fits stay
    write_params(root, two_stage_params(weight=0.1))
    again = run(["dvc", "repro"], root, tool_env)
    assert again.returncode == 0, again.stdout[-5000:]
    assert ran(again.stdout) == {
        "fit@tikhonov",
        "second_stage@blind_tikhonov",
        "evaluate",
        "report",
    }
    assert digest(root, "results/fits/blind/*/*/*/*/estimate.npz") == blind
    changed = digest(root, "results/fits/blind_tikhonov/*/*/*/*/estimate.npz")
    assert set(changed) == set(second) and all(changed[p] != second[p] for p in second)

    # the blind method's recipe: its fits and the second stage rerun
    write_params(root, two_stage_params(weight=0.1, iterations=22))
    third = run(["dvc", "repro"], root, tool_env)
    assert third.returncode == 0, third.stdout[-5000:]
    assert ran(third.stdout) == {"fit@blind", "second_stage@blind_tikhonov", "evaluate", "report"}
