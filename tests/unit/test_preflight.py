"""Preflight: missing dataset roots, mirrors and SLURM commands are found before any job."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from inrdeblur.preflight import (
    SLURM_COMMANDS,
    dataset_problems,
    executor_problems,
    is_fetched,
    preflight_problems,
    weights_problems,
)


def _params(**levin) -> dict:
    return {
        "studies": {
            "demo": {"enabled": True, "datasets": ["demo"]},
            "levin": {"enabled": True, "datasets": ["levin"]},
        },
        "datasets": {"demo": {"size": 32}, "levin": {"root": "data/raw/levin", **levin}},
    }


def test_the_default_root_is_fetched_and_needs_no_folder_yet(tmp_path):
    params = _params()
    assert is_fetched(params, "levin") and not is_fetched(params, "demo")
    assert dataset_problems(params, tmp_path) == []


def test_a_root_the_user_set_must_exist(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    params = _params(root="../my/levin")
    assert not is_fetched(params, "levin")
    (problem,) = dataset_problems(params, repo)
    assert problem.startswith("datasets.levin.root: ../my/levin is not a folder")
    (tmp_path / "my" / "levin").mkdir(parents=True)  # relative to the repository
    assert dataset_problems(params, repo) == []
    # A dataset of no enabled study is not checked.
    params["studies"]["levin"]["enabled"] = False
    params["datasets"]["levin"]["root"] = "/no/such/folder"
    assert dataset_problems(params, repo) == []


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_local_mirror_must_exist(tmp_path, form):
    folder = tmp_path / "mirror"
    mirror = str(folder) if form == "path" else folder.as_uri()
    (problem,) = dataset_problems(_params(mirror=mirror), tmp_path)
    assert problem == f"datasets.levin.mirror: {mirror} not found"
    folder.mkdir()
    assert dataset_problems(_params(mirror=mirror), tmp_path) == []
    assert dataset_problems(_params(mirror="https://example.org/levin"), tmp_path) == []


def test_slurm_needs_its_commands_and_local_needs_none():
    assert executor_problems("local", lambda _: None) == []
    assert executor_problems("slurm", lambda c: f"/usr/bin/{c}") == []
    (problem,) = executor_problems("slurm", lambda c: None if c == "sbatch" else "/bin/x")
    assert problem.startswith("no SLURM on this machine: sbatch not found; use executor: local")
    (problem,) = executor_problems("slurm", lambda c: None)
    assert ", ".join(SLURM_COMMANDS) + " not found" in problem


def test_preflight_lists_every_problem(tmp_path):
    problems = preflight_problems(_params(root="nowhere"), "slurm", tmp_path, lambda c: None)
    assert len(problems) == 2
    assert problems[0].startswith("datasets.levin.root") and problems[1].startswith("no SLURM")


def test_check_params_names_a_missing_root(tmp_path, repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["studies"]["demo"]["enabled"] = False
    params["studies"]["levin"]["enabled"] = True
    assert params["studies"]["levin"]["datasets"] == ["levin"]
    params["datasets"]["levin"]["root"] = "levin_copy"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    command = [sys.executable, "-m", "inrdeblur", "check-params", str(path)]
    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout
    assert "datasets.levin.root: levin_copy is not a folder" in proc.stderr
    (tmp_path / "levin_copy").mkdir()  # relative to the params file's folder
    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_weights_file_the_params_name_must_exist(tmp_path):
    params = {"kernel_space": {"enabled": True, "weights": "trained/ks.pth"}}
    assert weights_problems(params, tmp_path) == [
        "kernel_space.weights: trained/ks.pth is not a file (trained networks to load)"
    ]
    (tmp_path / "trained").mkdir()
    (tmp_path / "trained" / "ks.pth").write_bytes(b"weights")
    assert weights_problems(params, tmp_path) == []
    off = {"kernel_space": {"enabled": False, "weights": "missing.pth"}}
    assert weights_problems(off, tmp_path) == [] and weights_problems({}, tmp_path) == []
