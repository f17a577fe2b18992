"""The demo workflow through the repository's SLURM profile on a real single-node cluster.

The cluster (Debian slurmctld, slurmd and munge) is started and stopped by the
``slurm_cluster`` fixture; the packages are installed with apt when missing and the test
runs as root. The shrunk demo study: 2 scenes of 32 px, 2 seeds, 12 iterations.
"""

from __future__ import annotations

import json

import pytest
from tiny_project import make_project, run

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

# Only what a local single-node cluster needs on top of slurm/config.yaml: faster status
# checks and a short latency wait (there is no shared file system delay here).
CLUSTER_OVERRIDES = [
    "--jobs",
    "4",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--latency-wait",
    "5",
]


def test_demo_workflow_runs_through_the_slurm_profile(slurm_cluster, tmp_path):
    project = make_project(tmp_path / "p")
    proc = run(
        ["snakemake", "--profile", "slurm", *CLUSTER_OVERRIDES],
        project,
        slurm_cluster.env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-8000:]
    assert (project / "reports/index.html").is_file()

    # Every fit job (one image, both seeds) ran as its own SLURM batch job with one GPU.
    job_ids = set()
    for blur in ("motion", "parallax"):
        for scene in ("astronaut", "motorcycle"):
            folder = project / f"results/fits/siren_tv/{blur}/demo/{scene}"
            metas = [json.loads((folder / f"seed{s}/meta.json").read_text()) for s in (0, 1)]
            assert metas[0]["slurm_job_id"], metas[0]
            assert metas[0]["slurm_job_id"] == metas[1]["slurm_job_id"]
            job_ids.add(metas[0]["slurm_job_id"])
    assert len(job_ids) == 4
    for job_id in job_ids:
        shown = slurm_cluster.run(["scontrol", "show", "job", job_id]).stdout
        assert "JobState=COMPLETED" in shown
        assert "gpu:1" in shown  # `gpu: 1` of the workflow profile became --gpus=1
    logs = list((project / ".snakemake" / "slurm_logs" / "rule_fit").rglob("*.log"))
    assert len(logs) == 4  # slurm-keep-successful-logs from the profile
