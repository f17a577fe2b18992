"""The real DVC in a temporary git repository: caching keyed on each stage's params."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import pytest
from tiny_project import make_dvc_project, ran, run, tiny_params, write_params

pytestmark = pytest.mark.workflow

STAGES = (
    "plan",
    "fetch",
    "synthesize",
    "fit@siren_tv",
    "fit@siren_plain",
    "evaluate",
    "forward_models",
    "train_kernel_space",
    "report",
)


def restored(output: str) -> set[str]:
    return set(re.findall(r"Stage '([^']+)' is cached - skipping run", output))


def digest(root, pattern: str) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.glob(pattern))
    }


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory, tool_env):
    root = tmp_path_factory.mktemp("dvc") / "p"
    return make_dvc_project(root, tiny_params(("siren_tv", "siren_plain")), tool_env)


def test_repro_caching_sequence(dvc_project, tool_env):
    root = dvc_project
    first = run(["dvc", "repro"], root, tool_env)
    assert first.returncode == 0, first.stdout[-5000:]
    assert ran(first.stdout) == set(STAGES)
    assert (root / "reports/index.html").is_file()
    estimates = digest(root, "results/fits/*/*/*/*/*/estimate.npz")
    assert len(estimates) == 2 * 2 * 2 * 2  # methods x blurs x scenes x seeds

    # 1. Nothing changed: nothing runs.
    second = run(["dvc", "repro"], root, tool_env)
    assert second.returncode == 0
    assert ran(second.stdout) == set()
    assert "up to date" in second.stdout
    check_metrics_and_plots(root, tool_env)
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "first results"]):
        assert run(cmd, root, tool_env).returncode == 0

    # 2. One method's setting changed: dvc status names only that fit and downstream.
    params = tiny_params(("siren_tv", "siren_plain"))
    params["methods"]["siren_tv"]["fit"]["iterations"] = 14
    write_params(root, params)
    status = run(["dvc", "status"], root, tool_env)
    named = set(re.findall(r"^(\S+):\s*$", status.stdout, flags=re.M))
    assert "fit@siren_tv" in named
    assert named <= {"fit@siren_tv", "evaluate", "report"}, status.stdout
    third = run(["dvc", "repro"], root, tool_env)
    assert third.returncode == 0, third.stdout[-5000:]
    assert ran(third.stdout) == {"fit@siren_tv", "evaluate", "report"}
    # dvc metrics diff against the committed results: only siren_tv's numbers moved.
    diff = run(["dvc", "metrics", "diff", "--json"], root, tool_env)
    assert diff.returncode == 0, diff.stdout
    changed = json.loads(diff.stdout)["results/metrics.json"]
    assert changed and all(".siren_tv." in key for key in changed), sorted(changed)
    assert {"demo.motion.siren_tv.psnr", "demo.parallax.siren_tv.psnr"} <= set(changed)
    changed = digest(root, "results/fits/*/*/*/*/*/estimate.npz")
    for path, value in changed.items():
        if "/siren_plain/" in path:
            assert value == estimates[path]  # the other method was not refitted

    # 3. Changed back: DVC restores the earlier results from its run-cache, no refit.
    write_params(root, tiny_params(("siren_tv", "siren_plain")))
    fourth = run(["dvc", "repro"], root, tool_env)
    assert fourth.returncode == 0, fourth.stdout[-5000:]
    assert ran(fourth.stdout) == set()
    assert {"fit@siren_tv", "evaluate", "report"} <= restored(fourth.stdout)
    assert digest(root, "results/fits/*/*/*/*/*/estimate.npz") == estimates

    # 4. The blur-formation experiment changed: only the plan, it and the report rerun.
    forward = digest(root, "results/forward_models/*/*/*.json")
    assert len(forward) == 2 * 2  # models x scenes
    params = tiny_params(("siren_tv", "siren_plain"))
    params["studies"]["demo"]["forward_models"] = ["parallax"]
    write_params(root, params)
    fifth = run(["dvc", "repro"], root, tool_env)
    assert fifth.returncode == 0, fifth.stdout[-5000:]
    assert ran(fifth.stdout) == {"plan", "forward_models", "report"}
    assert set(digest(root, "results/forward_models/*/*/*.json")) == {
        p for p in forward if "/parallax/" in p
    }

    # 5. The study renamed, its work the same: the plan files do not change, so only the
    # plan and the report (which shows the study's name) rerun.
    plans = digest(root, "results/plan/**/*.json")
    assert "results/plan/fits/siren_plain.json" in plans
    params["studies"] = {"tiny": params["studies"]["demo"], "levin": params["studies"]["levin"]}
    write_params(root, params)
    sixth = run(["dvc", "repro"], root, tool_env)
    assert sixth.returncode == 0, sixth.stdout[-5000:]
    assert ran(sixth.stdout) == {"plan", "report"}
    assert digest(root, "results/plan/**/*.json") == plans
    html = (root / "reports/index.html").read_text()
    assert 'id="study-tiny"' in html and 'id="study-demo"' not in html

    # 6. A method taken out of every study, still defined: its fit stage writes an empty
    # index without fitting; the other method is not refitted.
    params["studies"]["tiny"]["methods"] = ["siren_tv"]
    write_params(root, params)
    seventh = run(["dvc", "repro"], root, tool_env)
    assert seventh.returncode == 0, seventh.stdout[-5000:]
    assert ran(seventh.stdout) == {"plan", "fit@siren_plain", "evaluate", "report"}
    assert "siren_plain is in no enabled study; nothing to fit" in seventh.stdout
    index = (root / "results/fits/siren_plain/index.csv").read_text().splitlines()
    assert len(index) == 1 and index[0].startswith("dataset,blur,scene,seed,")  # header only
    assert [p.name for p in (root / "results/fits/siren_plain").iterdir()] == ["index.csv"]
    assert json.loads((root / "results/plan/fits/siren_plain.json").read_text()) == []
    metrics = json.loads((root / "results/metrics.json").read_text())
    for blur in ("motion", "parallax"):
        assert set(metrics["demo"][blur]) == {"blurry input", "siren_tv"}
    assert digest(root, "results/fits/siren_tv/*/*/*/*/estimate.npz") == {
        p: v for p, v in estimates.items() if "/siren_tv/" in p
    }
    write_params(root, tiny_params(("siren_tv", "siren_plain")))
    check_both_routes_agree(root, tool_env)


def planned_jobs(root, env) -> int:
    """The number of jobs ``snakemake -n`` plans (0: nothing to be done)."""
    dry = run(["snakemake", "-n", "--cores", "2"], root, env)
    assert dry.returncode == 0, dry.stdout[-3000:]
    if "Nothing to be done" in dry.stdout:
        return 0
    return int(re.search(r"^total\s+(\d+)$", dry.stdout, flags=re.M).group(1))


def check_both_routes_agree(root, env) -> None:
    """DVC restores files with new modification times, so a direct Snakemake run would
    plan their downstream jobs again; ``dvc_stage.py sync`` makes the two agree, and
    refuses while DVC sees changes. A direct Snakemake run is recorded by ``dvc commit``."""
    sync = ["python", "workflow/dvc_stage.py", "sync"]
    # 7. A run-cache restore (siren_plain back in the study), then files checked out.
    restore = run(["dvc", "repro"], root, env)
    assert restore.returncode == 0, restore.stdout[-5000:]
    assert "fit@siren_plain" in restored(restore.stdout)
    estimates = digest(root, "results/fits/*/*/*/*/*/estimate.npz")
    for folder in ("data/scenes", "results/fits/siren_tv"):
        shutil.rmtree(root / folder)
    assert run(["dvc", "checkout"], root, env).returncode == 0
    assert "up to date" in run(["dvc", "status"], root, env).stdout
    assert planned_jobs(root, env) > 0  # what sync is for
    synced = run(sync, root, env)
    assert synced.returncode == 0, synced.stdout[-3000:]
    assert planned_jobs(root, env) == 0
    assert "up to date" in run(["dvc", "status"], root, env).stdout
    assert digest(root, "results/fits/*/*/*/*/*/estimate.npz") == estimates  # touched only

    # 8. With a change DVC has not run, sync refuses and names the stage.
    params = tiny_params(("siren_tv", "siren_plain"))
    params["methods"]["siren_plain"]["fit"]["iterations"] = 13
    write_params(root, params)
    refused = run(sync, root, env)
    assert refused.returncode == 1
    assert "sync: DVC finds changes in fit@siren_plain" in refused.stdout

    # 9. The change run by Snakemake directly, then recorded: both routes are clean.
    direct = run(["snakemake", "--cores", "2"], root, env)
    assert direct.returncode == 0, direct.stdout[-5000:]
    assert run(["dvc", "commit", "-f"], root, env).returncode == 0
    assert "up to date" in run(["dvc", "status"], root, env).stdout
    assert planned_jobs(root, env) == 0
    write_params(root, tiny_params(("siren_tv", "siren_plain")))


def check_metrics_and_plots(root, env) -> None:
    """`dvc metrics show` reads results/metrics.json and `dvc plots show` fills the
    convergence template with every row of results/tables/convergence.csv."""
    shown = run(["dvc", "metrics", "show", "--json"], root, env)
    assert shown.returncode == 0, shown.stdout
    metrics = json.loads(shown.stdout)
    values = next(iter(metrics.values()))["data"]["results/metrics.json"]["data"]
    assert set(values["demo"]["motion"]) >= {"siren_tv", "siren_plain"}
    plots = run(["dvc", "plots", "show", "--json"], root, env)
    assert plots.returncode == 0, plots.stdout
    (plot,) = json.loads(plots.stdout)["data"]["convergence"]
    rows = plot["content"]["data"]["values"]
    assert plot["content"]["spec"]["layer"][1]["encoding"]["y"]["field"] == "psnr_median"
    table = (root / "results/tables/convergence.csv").read_text().splitlines()
    assert len(rows) == len(table) - 1
    assert {row["method"] for row in rows} == {"siren_tv", "siren_plain"}
    assert {row["blur"] for row in rows} == {"motion", "parallax"}


def test_bad_params_fail_before_any_stage_runs(dvc_project, tool_env, tmp_path):
    root = dvc_project
    params = tiny_params(("siren_tv", "siren_plain"))
    params["blurs"]["motion"]["kernel_size"] = 4
    params["datasets"]["demo"]["size"] = 40
    write_params(root, params)
    try:
        proc = run(["dvc", "repro"], root, tool_env, timeout=120)
        assert proc.returncode != 0
        assert "blurs.motion.kernel_size: must be odd" in proc.stdout
        # the plan stage (or a stage after it) starts, Snakemake does not
        assert ran(proc.stdout) <= {"plan", "fetch", "synthesize"}
        assert "Job stats" not in proc.stdout
    finally:
        write_params(root, tiny_params(("siren_tv", "siren_plain")))
