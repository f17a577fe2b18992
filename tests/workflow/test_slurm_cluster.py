"""Tests of the private SLURM test cluster (``slurm_cluster.py``) itself.

They start real ``munged``/``slurmctld``/``slurmd`` daemons; run them with
``pytest -m slurm tests/workflow/test_slurm_cluster.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

try:  # tests/workflow as a package (with __init__.py) or as a rootdir-relative dir
    from .slurm_cluster import SNAKEMAKE_SLURM_ARGS, SlurmCluster, SlurmClusterError
except ImportError:
    from slurm_cluster import SNAKEMAKE_SLURM_ARGS, SlurmCluster, SlurmClusterError

pytestmark = pytest.mark.slurm


def _scontrol_job(cluster: SlurmCluster, job_id: str) -> dict[str, str]:
    out = cluster.run(["scontrol", "-o", "show", "job", job_id]).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def test_cluster_uses_private_config(slurm_cluster: SlurmCluster):
    conf = Path(slurm_cluster.env["SLURM_CONF"])
    assert conf.is_file() and conf.parent.parent == slurm_cluster.root
    config = slurm_cluster.run(["scontrol", "show", "config"]).stdout
    assert f"SlurmctldPort           = {slurm_cluster.ports['slurmctld']}" in config
    assert "MinJobAge               = 600 sec" in config
    assert "AccountingStorageType   = accounting_storage/none" in config
    state = slurm_cluster.run(["sinfo", "-h", "-o", "%P %T %G"]).stdout.split()
    assert state[0] == "debug*" and state[1] == "idle" and state[2].startswith("gpu:1")


def test_sbatch_wait_writes_file(slurm_cluster: SlurmCluster, tmp_path: Path):
    target = tmp_path / "hello.txt"
    job_id = slurm_cluster.sbatch(
        "--wait",
        f"--output={tmp_path / 'job.log'}",
        "--wrap",
        f"echo hello from $SLURM_JOB_ID > {target}",
    )
    assert target.read_text().strip() == f"hello from {job_id}"
    # No accounting (sacct) on this cluster: squeue keeps finished jobs for MinJobAge.
    assert slurm_cluster.job_state(job_id) == "COMPLETED"
    squeue = slurm_cluster.run(["squeue", "-h", "--states=all", "-j", job_id, "-o", "%i|%T"])
    assert squeue.stdout.strip() == f"{job_id}|COMPLETED"
    assert _scontrol_job(slurm_cluster, job_id)["JobState"] == "COMPLETED"


def test_sbatch_gpus_job_completes(slurm_cluster: SlurmCluster, tmp_path: Path):
    out = tmp_path / "gpu.log"
    job_id = slurm_cluster.sbatch(
        "--wait", "--gpus=1", f"--output={out}", "--wrap", "echo CUDA=$CUDA_VISIBLE_DEVICES"
    )
    assert slurm_cluster.job_state(job_id) == "COMPLETED"
    assert out.read_text().strip() == "CUDA=0"
    assert "gpu:1" in _scontrol_job(slurm_cluster, job_id).get("TresPerJob", "")


SNAKEFILE = textwrap.dedent(
    """\
    rule all:
        input:
            "results/fit.txt",


    rule prepare:
        output:
            "results/data.txt",
        resources:
            mem_mb=200,
            runtime=5,
        shell:
            "echo data > {output}"


    rule fit:
        input:
            "results/data.txt",
        output:
            "results/fit.txt",
        resources:
            gpu=1,
            mem_mb=200,
            runtime=5,
        shell:
            "(cat {input}; echo gpu=$CUDA_VISIBLE_DEVICES; echo job=$SLURM_JOB_ID) > {output}"
    """
)


def test_snakemake_runs_through_slurm(slurm_cluster: SlurmCluster, tmp_path: Path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    cmd = [sys.executable, "-m", "snakemake", *SNAKEMAKE_SLURM_ARGS, "--jobs", "2"]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=slurm_cluster.env, capture_output=True, text=True, timeout=300
    )
    elapsed = time.monotonic() - t0
    print(f"tiny SLURM workflow took {elapsed:.1f} s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    fit = (tmp_path / "results" / "fit.txt").read_text().splitlines()
    assert fit[:2] == ["data", "gpu=0"]
    fit_job_id = fit[2].removeprefix("job=")
    assert fit_job_id.isdigit()  # ran inside a SLURM job

    logs = sorted(p.relative_to(tmp_path) for p in tmp_path.glob(".snakemake/slurm_logs/**/*.log"))
    assert [p.parent.name for p in logs] == ["rule_fit", "rule_prepare"], logs
    assert f"{fit_job_id}.log" in {p.name for p in logs}

    fit_job = _scontrol_job(slurm_cluster, fit_job_id)
    assert fit_job["JobState"] == "COMPLETED"
    assert fit_job["Comment"] == "rule_fit"
    assert "gpu:1" in fit_job.get("TresPerJob", "")  # `gpu: 1` became `sbatch --gpus=1`
    assert elapsed < 150


def test_stop_terminates_our_daemons(tmp_path: Path):
    cluster = SlurmCluster(base_dir=tmp_path)
    with cluster:
        pids = dict(cluster.pids)
        assert set(pids) == {"munged", "slurmctld", "slurmd"}
        # A job that is still running at exit must be cancelled, its slurmstepd ended.
        job_id = cluster.sbatch("--output=/dev/null", "--wrap", "sleep 300")
        deadline = time.monotonic() + 30
        while cluster.job_state(job_id) != "RUNNING" or not cluster.stepd_pids():
            assert time.monotonic() < deadline, cluster.job_state(job_id)
            time.sleep(0.2)
        assert set(cluster.alive_pids()) > set(pids.values())
        root = cluster.root
    assert cluster.alive_pids() == []
    for name, proc in cluster.procs.items():
        assert proc.returncode is not None, name
    assert not root.exists()


def test_failed_start_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def broken_slurmd(self):
        raise SlurmClusterError("simulated slurmd failure")

    monkeypatch.setattr(SlurmCluster, "_start_slurmd", broken_slurmd)
    cluster = SlurmCluster(base_dir=tmp_path)
    with pytest.raises(SlurmClusterError, match="simulated"):
        with cluster:
            pytest.fail("unreachable")  # pragma: no cover
    assert set(cluster.pids) == {"munged", "slurmctld"}
    assert cluster.alive_pids() == []
    assert list(tmp_path.iterdir()) == []


def test_missing_slurm_without_root_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    module = sys.modules[SlurmCluster.__module__]
    monkeypatch.setattr(module, "missing_binaries", lambda: ["slurmctld"])
    monkeypatch.setattr(module.os, "geteuid", lambda: 1000)
    cluster = SlurmCluster(base_dir=tmp_path)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        cluster.start()
    assert cluster.procs == {} and list(tmp_path.iterdir()) == []
    cluster.stop()  # still safe
