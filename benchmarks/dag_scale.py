#!/usr/bin/env python3
"""How the workflow scales to a paper-sized study: Snakemake's DAG and `dvc status`.

Copies the workflow into a temporary directory (a fresh git + DVC repository, no data),
then times, in the same process,

- the baseline: the repository's params.yaml (its enabled studies: the demo);
- the paper scale: one study of every dataset of the registry (demo, Levin, Lai, Kodak,
  VirtualCMB, RealCMB and 1,111 GoPro-style test pairs), every method of params.yaml and
  3 seeds, on one uniform blur: about 69,000 fits in 23,000 fit jobs with the ten methods
  of params.yaml (a job fits every seed of one image);
- Snakemake's floor: a trivial workflow (one rule that touches a file) with as many jobs
  as the paper scale, which shows what Snakemake itself costs per job here;

for two commands: ``snakemake -n`` (parse, validate params, expand the manifests and
build the whole DAG; no data is read or downloaded) and ``dvc status`` (DVC's view of
every stage). Prints seconds, the numbers of jobs and fits and the ratio to the baseline,
and checks that no per-image name appears in the rules or in dvc.yaml.

    python benchmarks/dag_scale.py [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from inrdeblur import experiment
from inrdeblur.config import validate_params
from inrdeblur.data import registry

REPO = Path(__file__).resolve().parents[1]
COPIED = (
    "Snakefile",
    "dvc.yaml",
    "params.yaml",
    ".dvcignore",
    "workflow",
    "profiles",
    "slurm",
    "src",
)
#: GoPro_Large test split: 1,111 pairs (Nah et al. 2017); ids are listed in params.yaml
GOPRO_TEST_PAIRS = 1111
TARGETS_S = {"snakemake -n": 20.0, "dvc status": 10.0}


def paper_params() -> dict:
    """One study: every dataset, every method, 3 seeds, one uniform blur."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["studies"] = {
        "paper": {
            "datasets": list(registry.DATASETS),
            "blurs": ["motion"],
            "methods": list(params["methods"]),
            "seeds": [0, 1, 2],
        }
    }
    gopro_ids = [
        f"test.GOPR{410 + i // 100:04d}_11_00.{i % 100:06d}" for i in range(GOPRO_TEST_PAIRS)
    ]
    params["datasets"]["gopro"] = {"scenes": gopro_ids}
    return params


def make_repository(root: Path, params: dict) -> None:
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=ignore)
        else:
            shutil.copy2(src, root / name)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = _env()
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=root, env=env, check=True)


def _env() -> dict[str, str]:
    env = os.environ.copy()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout[-3000:]}")
    return seconds, proc.stdout


def job_count(dry_run_output: str, rule: str) -> int:
    """The count of ``rule`` ('total' for all) in Snakemake's job stats table."""
    match = re.search(rf"^\s*{rule}\s+(\d+)\s*$", dry_run_output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"no {rule!r} line in the dry run's job stats")
    return int(match.group(1))


FLOOR_SNAKEFILE = """\
N = {jobs}
rule all:
    input: expand("out/{{i}}.txt", i=range(N))
rule touch:
    output: "out/{{i}}.txt"
    shell: "touch {{output}}"
"""


def make_floor_repository(root: Path, jobs: int) -> None:
    """A workflow of ``jobs`` trivial jobs (plus ``all``), no params, no DVC stages."""
    root.mkdir(parents=True)
    (root / "Snakefile").write_text(FLOOR_SNAKEFILE.format(jobs=jobs - 1))


def per_image_names(repo: Path, params: dict) -> list[str]:
    """Scene ids of the enabled studies that appear in the rules or dvc.yaml (should be
    none); ``params`` validated."""
    text = (repo / "dvc.yaml").read_text() + "".join(
        p.read_text() for p in sorted((repo / "workflow" / "rules").glob("*.smk"))
    )
    found = []
    for dataset in experiment.datasets(params):
        ids = registry.scene_ids(dataset, params["datasets"].get(dataset, {}))
        found += [i for i in ids if len(i) > 3 and re.search(rf"\b{re.escape(i)}\b", text)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per command")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dag_scale_"))
    configs = {
        "demo (params.yaml)": yaml.safe_load((REPO / "params.yaml").read_text()),
        "paper scale": paper_params(),
    }
    # every fit (fit job x seed) of the enabled studies, each once
    n_fits = {
        label: sum(1 for _ in experiment.fits(validate_params(params)))
        for label, params in configs.items()
    }
    commands = {
        "snakemake -n": ["snakemake", "-n", "--cores", "1", "--quiet", "rules"],
        "dvc status": ["dvc", "status"],
    }
    results: dict[tuple[str, str], float] = {}
    jobs: dict[str, dict[str, int]] = {}
    try:
        for i, (label, params) in enumerate(configs.items()):
            repo = work / f"repo{i}"
            make_repository(repo, params)
            for name, cmd in commands.items():
                runs = []
                for _ in range(args.repeat):
                    seconds, out = timed(cmd, repo)
                    runs.append(seconds)
                results[(label, name)] = statistics.median(runs)
                if name == "snakemake -n":
                    jobs[label] = {rule: job_count(out, rule) for rule in ("fit", "total")}
        leaked = per_image_names(work / "repo1", validate_params(configs["paper scale"]))
        floor = work / "floor"
        make_floor_repository(floor, jobs["paper scale"]["total"])
        floor_s = statistics.median(
            timed(commands["snakemake -n"], floor)[0] for _ in range(args.repeat)
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    base, big = configs
    seeds = n_fits[big] / jobs[big]["fit"]
    for label in configs:
        print(
            f"{label}: {jobs[label]['total']:,} jobs, {jobs[label]['fit']:,} fit jobs, "
            f"{n_fits[label]:,} fits"
        )
    print(f"{'command':<16}{'baseline s':>12}{'paper s':>10}{'ratio':>8}{'target s':>10}")
    for name in commands:
        b, p = results[(base, name)], results[(big, name)]
        print(f"{name:<16}{b:>12.2f}{p:>10.2f}{p / b:>8.2f}{TARGETS_S[name]:>10.0f}")
    total = jobs[big]["total"]
    paper_s = results[(big, "snakemake -n")]
    print(
        f"Snakemake floor, {total:,} trivial jobs: snakemake -n {floor_s:.2f} s "
        f"({1e3 * floor_s / total:.2f} ms/job); paper scale {1e3 * paper_s / total:.2f} ms/job, "
        f"{paper_s / floor_s:.2f} x the floor ({seeds:.3g} seeds per fit job)"
    )
    print(f"per-image names in the rules or dvc.yaml: {len(leaked)}")
    if args.keep:
        print(f"repositories kept in {work}")


if __name__ == "__main__":
    main()
