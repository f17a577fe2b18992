"""The real Snakemake on a tiny copy of the workflow: dry run, lint, bad params, full run."""

from __future__ import annotations

import itertools
import json
import re
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tiny_project import make_project, run, tiny_params, write_params

BLURS = ("motion", "parallax")

pytestmark = pytest.mark.workflow


def test_dry_run_and_lint_of_the_repository_are_clean(repo_root, tool_env):
    # --forceall: the whole DAG, whether or not `make demo` already produced the results.
    dry = run(["snakemake", "-n", "--forceall", "--cores", "2"], repo_root, tool_env)
    assert dry.returncode == 0, dry.stdout
    assert "fit" in dry.stdout
    # The per-rule resources (one GPU per fit) apply to every run, the SLURM one included.
    assert "workflow specific profile profiles/default" in dry.stdout
    # A demo fit job has 2 seeds: 240 minutes and 8 GB at its first attempt, one GPU.
    fits = re.findall(r"rule fit:.*?resources: ([^\n]*)", dry.stdout, flags=re.S)
    assert fits and all("runtime=240, mem_mb=8000" in r and "gpu=1" in r for r in fits)
    slurm = run(["snakemake", "-n", "--profile", "slurm"], repo_root, tool_env)
    assert slurm.returncode == 0, slurm.stdout
    assert "Using profiles slurm and workflow specific profile" in slurm.stdout
    lint = run(["snakemake", "--lint"], repo_root, tool_env)
    assert lint.returncode == 0, lint.stdout
    assert "Congratulations" in lint.stdout


def test_rules_only_call_the_cli(repo_root):
    """Every rule's shell command is one `inrdeblur <stage>` call, with its log."""
    for smk in sorted((repo_root / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        assert "run:" not in text and "script:" not in text, smk.name
        for block in text.split("shell:")[1:]:
            command = block.split("\n\n")[0]
            assert command.strip().startswith('"inrdeblur '), (smk.name, command)
            assert "2> {log" in command, (smk.name, command)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda p: p["methods"]["siren_tv"]["fit"].update(iteratons=3), "methods.siren_tv.fit"),
        (
            lambda p: p["methods"]["siren_tv"]["fit"].update(iterations=-3),
            "methods.siren_tv.fit.iterations",
        ),
        (
            lambda p: p["studies"]["demo"]["methods"].append("nosuch"),
            "studies.demo.methods[1]: unknown method 'nosuch'",
        ),
        (
            lambda p: p["studies"]["levin"]["methods"].append("nosuch"),
            "studies.levin.methods[1]: unknown method 'nosuch'",
        ),
    ],
    ids=["unknown-key", "negative-iterations", "unknown-method", "unknown-method-disabled"],
)
def test_bad_params_stop_before_any_job(tmp_path, tool_env, edit, key):
    params = tiny_params()
    edit(params)
    project = make_project(tmp_path / "p", params)
    start = time.monotonic()
    proc = run(["snakemake", "--cores", "2"], project, tool_env, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert key in proc.stdout, proc.stdout
    assert not (project / "data").exists() and not (project / "results").exists()
    assert elapsed < 60  # fails at parse time, not after jobs


def test_a_missing_dataset_root_stops_the_run_before_any_job(tmp_path, tool_env):
    """Preflight (the Snakefile's onstart): a dry run plans the jobs, a real run stops
    before the first one with the key named, and leaves nothing behind."""
    params = tiny_params()
    params["studies"] = {
        "levin": {
            "datasets": ["levin"],
            "blurs": ["true_kernel_valid"],
            "methods": ["siren_tv"],
            "seeds": [0, 1],
        }
    }
    params["datasets"]["levin"] = {"root": "../levin_copy", "scenes": ["im1_kernel1"]}
    project = make_project(tmp_path / "p", params)
    dry = run(["snakemake", "-n", "--cores", "2"], project, tool_env, timeout=120)
    assert dry.returncode == 0, dry.stdout
    proc = run(["snakemake", "--cores", "2"], project, tool_env, timeout=120)
    assert proc.returncode != 0
    assert "preflight: nothing was run" in proc.stdout, proc.stdout
    assert "datasets.levin.root: ../levin_copy is not a folder" in proc.stdout
    assert not (project / "data").exists() and not (project / "results").exists()
    assert not (project / "logs").exists()


def test_a_fit_two_studies_share_is_one_job_with_the_seeds_of_both(tmp_path, tool_env):
    """A second study with the demo study's motion fits and seeds 1 and 2: the dry run
    plans the same fit and evaluate jobs, the motion ones with seeds 0, 1 and 2."""
    params = tiny_params()
    params["studies"]["motion_seeds"] = {
        "datasets": ["demo"],
        "blurs": ["motion"],
        "methods": ["siren_tv"],
        "seeds": [1, 2],
    }
    project = make_project(tmp_path / "p", params)
    dry = run(["snakemake", "-n", "-p", "--cores", "2"], project, tool_env, timeout=120)
    assert dry.returncode == 0, dry.stdout[-5000:]
    stats = " ".join(dry.stdout.split("Job stats:")[1].split())
    assert "fit 4" in stats and "evaluate 2" in stats, stats  # 2 blurs x 2 scenes; 2 sets
    seeds = {}
    for command in re.findall(r"\binrdeblur (?:fit|evaluate) .*$", dry.stdout, re.MULTILINE):
        rule = command.split()[1]
        blur = re.search(r"--blur (\S+)", command).group(1)
        scene = re.search(r"--scene (\S+)", command)
        key = (rule, blur, scene.group(1) if scene else None)
        assert key not in seeds, command  # each job once
        seeds[key] = re.search(r"--seeds ([\d ]+?) (?:--|2>)", command).group(1)
    assert seeds == {
        **{("fit", "motion", scene): "0 1 2" for scene in ("astronaut", "motorcycle")},
        **{("fit", "parallax", scene): "0 1" for scene in ("astronaut", "motorcycle")},
        ("evaluate", "motion", None): "0 1 2",
        ("evaluate", "parallax", None): "0 1",
    }


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tool_env):
    project = make_project(tmp_path_factory.mktemp("snakemake") / "p")
    proc = run(["snakemake", "--cores", "2"], project, tool_env)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return project


def test_full_run_writes_every_stage_output(finished_run):
    p = finished_run
    for scene, blur, seed in itertools.product(("astronaut", "motorcycle"), BLURS, (0, 1)):
        assert (p / f"data/scenes/demo/{scene}.npz").is_file()
        assert (p / f"data/blurred/{blur}/demo/{scene}.npz").is_file()
        fit = p / f"results/fits/siren_tv/{blur}/demo/{scene}/seed{seed}"
        for name in ("estimate.png", "estimate.npz", "trace.csv", "meta.json"):
            assert (fit / name).is_file(), fit / name
        trace = pd.read_csv(fit / "trace.csv")
        assert list(trace["iteration"]) == list(range(1, 13))
        meta = json.loads((fit / "meta.json").read_text())
        assert meta["device"] == "cpu" and meta["iterations"] == 12
        assert meta["blur"] == blur and meta["versions"]["torch"]
    assert (p / "results/fits/siren_tv/index.csv").is_file()
    html = (p / "reports/index.html").read_text()
    # One section, of the demo study (the levin study is disabled).
    assert 'id="study-demo"' in html and 'id="summary-demo"' in html and 'id="grid"' in html
    assert 'id="forward-models-demo"' in html and 'id="forward-models-table-demo"' in html
    assert 'id="study-levin"' not in html and 'id="summary"' not in html
    assert len(list((p / "reports/figures/demo").glob("*.png"))) >= 2
    folders = [path.name for path in (p / "reports/figures").iterdir() if path.is_dir()]
    assert folders == ["demo"]  # one per enabled study


def test_convergence_table_summarises_every_trace(finished_run):
    """results/tables/convergence.csv against the medians of the fits' own traces."""
    p = finished_run
    table = pd.read_csv(p / "results/tables/convergence.csv")
    assert sorted(set(table["blur"])) == sorted(BLURS) and set(table["method"]) == {"siren_tv"}
    for blur in BLURS:
        rows = table[table["blur"] == blur].set_index("iteration")
        assert rows.index.tolist() == list(range(1, 13))
        assert (rows["n_fits"] == 4).all()  # 2 scenes x 2 seeds
        traces = [
            pd.read_csv(p / f"results/fits/siren_tv/{blur}/demo/{scene}/seed{seed}/trace.csv")
            for scene, seed in itertools.product(("astronaut", "motorcycle"), (0, 1))
        ]
        last = [t["psnr"].iloc[-1] for t in traces]
        assert rows.loc[12, "psnr_median"] == pytest.approx(float(np.median(last)), abs=1e-12)
        seconds = [t["seconds"].iloc[0] for t in traces]
        assert rows.loc[1, "seconds"] == pytest.approx(float(np.median(seconds)), abs=1e-12)
    assert (p / "reports/figures/demo/convergence.png").is_file()
    # the blur-formation records, drawn scene by scene
    assert (p / "reports/figures/demo/blur_formation.png").is_file()
    assert "Blur formation: how well each blur model" in (p / "reports/index.html").read_text()
    assert (
        "Convergence: PSNR of the estimate against wall time"
        in (p / "reports/index.html").read_text()
    )


def test_snakemakes_own_report_holds_the_annotated_outputs(finished_run, tool_env):
    """`snakemake --report report.zip` after the run: the HTML report, the figures and
    the two tables, each under its category."""
    p = finished_run
    proc = run(["snakemake", "--report", "report.zip"], p, tool_env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    with zipfile.ZipFile(p / "report.zip") as archive:
        names = archive.namelist()
    files = {name.rsplit("/", 1)[-1] for name in names if "/data/raw/" in name}
    expected = {"index.html", "psnr_vs_time.png", "convergence.png", "summary.csv"}
    assert expected | {"convergence.csv"} <= files, sorted(files)
    (p / "report.zip").unlink()


def test_metrics_table_matches_an_independent_computation(finished_run):
    """Recompute PSNR/SSIM of every fit with scikit-image from the stage files."""
    p = finished_run
    table = pd.read_csv(p / "results/tables/metrics.csv", dtype={"scene": str})
    assert len(table) == 2 * 2 * 2  # blurs x scenes x seeds
    assert sorted(set(table["blur"])) == sorted(BLURS)
    for row in table.itertuples():
        sharp = np.load(p / f"data/scenes/demo/{row.scene}.npz")["sharp"].astype(np.float64)
        fit = p / f"results/fits/{row.method}/{row.blur}/demo/{row.scene}/seed{row.seed}"
        estimate = np.clip(np.load(fit / "estimate.npz")["estimate"].astype(np.float64), 0, 1)
        assert row.psnr == pytest.approx(peak_signal_noise_ratio(sharp, estimate, data_range=1))
        ssim = structural_similarity(
            sharp,
            estimate,
            data_range=1.0,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert row.ssim == pytest.approx(ssim, abs=1e-6)
        blurry = np.load(p / f"data/blurred/{row.blur}/demo/{row.scene}.npz")["blurry"]
        blurry = np.clip(blurry.astype(np.float64), 0, 1)
        assert row.psnr_blurry == pytest.approx(
            peak_signal_noise_ratio(sharp, blurry, data_range=1)
        )
        assert np.isnan(row.lpips) or row.lpips >= 0
    summary = pd.read_csv(p / "results/tables/summary.csv")
    metrics = json.loads((p / "results/metrics.json").read_text())
    for blur in BLURS:
        psnr = table[table["blur"] == blur]["psnr"]
        fits = summary[(summary["method"] == "siren_tv") & (summary["blur"] == blur)].iloc[0]
        assert fits["psnr_mean"] == pytest.approx(psnr.mean())
        assert fits["psnr_std"] == pytest.approx(psnr.std(ddof=1))
        assert metrics["demo"][blur]["siren_tv"]["psnr"] == pytest.approx(psnr.mean())


def test_blur_formation_records_match_an_independent_psnr(finished_run):
    """Each model's blur of the sharp scene, recomputed here, against the reference blur."""
    import torch

    from inrdeblur.blur.icb import ICBBlur
    from inrdeblur.blur.pwb import PWBBlur
    from inrdeblur.records.scene import Scene

    p = finished_run
    records = pd.read_csv(p / "results/forward_models/records.csv", dtype={"scene": str})
    assert sorted(zip(records["blur"], records["scene"], strict=True)) == sorted(
        itertools.product(("parallax", "per_pixel"), ("astronaut", "motorcycle"))
    )
    for row in records.itertuples():
        scene = Scene.load(p / f"data/scenes/demo/{row.scene}.npz")
        if row.model == "icb":
            k = scene.intrinsics
            operator = ICBBlur.from_scene(scene.depth, scene.trajectory, (k[0, 0], k[1, 1]))
        else:
            operator = PWBBlur.from_scene(scene.depth, scene.trajectory, scene.intrinsics)
        sharp = torch.from_numpy(scene.sharp.transpose(2, 0, 1).copy())[None]
        with torch.no_grad():
            blurred = operator.blur(sharp, "replicate")[0].numpy().transpose(1, 2, 0)
        expected = peak_signal_noise_ratio(
            np.clip(scene.blurry.astype(np.float64), 0, 1),
            np.clip(blurred.astype(np.float64), 0, 1),
            data_range=1,
        )
        assert row.psnr == pytest.approx(expected, abs=1e-4)
        assert row.psnr > peak_signal_noise_ratio(scene.blurry, scene.sharp, data_range=1)
    summary = pd.read_csv(p / "results/forward_models/summary.csv")
    assert list(summary["blur"]) == ["parallax", "per_pixel"]
    assert list(summary["n_scenes"]) == [2, 2]


def test_missing_lpips_backbone_is_recorded_not_invented(finished_run, tool_env):
    p = finished_run
    records = json.loads((p / "results/metrics/siren_tv/motion/demo.json").read_text())
    assert {(r["scene"], r["seed"]) for r in records} == {
        (scene, seed) for scene in ("astronaut", "motorcycle") for seed in (0, 1)
    }
    record = records[0]
    if record["lpips_status"] == "ok":
        pytest.skip("the AlexNet backbone is installed here, so LPIPS is computed")
    assert record["lpips"] is None and record["lpips_blurry"] is None
    assert record["lpips_status"].startswith("missing:")
    assert "alexnet-owt-7be5be79.pth" in record["lpips_status"]


def test_second_run_has_nothing_to_do_and_param_change_reruns_one_method(finished_run, tool_env):
    p = finished_run
    again = run(["snakemake", "-n", "--cores", "2"], p, tool_env)
    assert "Nothing to be done" in again.stdout, again.stdout[-3000:]
    params = tiny_params()
    params["methods"]["siren_tv"]["fit"]["iterations"] = 13
    write_params(p, params)
    dry = run(["snakemake", "-n", "--cores", "2"], p, tool_env)
    assert dry.returncode == 0
    # Every fit job of the changed method reruns (2 blurs x 2 scenes, each job fits both
    # seeds), and its 2 evaluate jobs (one per blur); nothing upstream.
    stats = " ".join(dry.stdout.split("Job stats:")[1].split())
    assert "fit 4" in stats and "evaluate 2" in stats, stats
    assert "prepare" not in dry.stdout.split("Job stats:")[1]
    write_params(p, tiny_params())
