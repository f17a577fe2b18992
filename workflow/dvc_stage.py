#!/usr/bin/env python3
"""Run one DVC stage through Snakemake, with the executor named in params.yaml.

    python workflow/dvc_stage.py fetch|synthesize|evaluate|forward_models|report
    python workflow/dvc_stage.py train_kernel_space
    python workflow/dvc_stage.py fit <method or two_stage entry>
    python workflow/dvc_stage.py sync

DVC runs the stages in order; each call lets Snakemake run only its own rules
(``--allowed-rules``), so a stage never recomputes another stage's outputs. The
``executor`` section of params.yaml chooses local cores or the SLURM profile; it is not a
stage parameter, so switching executors does not invalidate DVC's cache. The fetch stage
first creates data/raw, its DVC output, which stays empty when no dataset of the
experiment is downloaded (the demo).

``sync`` (not a stage) brings Snakemake's view in line with DVC's after DVC has put
files in place (``dvc checkout``, ``dvc pull``, a ``dvc repro`` that restored stages
from its run-cache): such files get new modification times, so a direct
``snakemake`` would plan their downstream jobs again. When ``dvc status`` finds nothing
changed, it runs ``snakemake --touch``, which marks the outputs complete in the order of
the workflow without changing their content; otherwise it refuses and names the stages,
since touching would make outdated outputs look current. The other direction, a direct
Snakemake run recorded in DVC, is ``dvc commit``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from inrdeblur import experiment, layout
from inrdeblur.config import ParamsError, load_params
from inrdeblur.config.params import method_names
from inrdeblur.kernel_space import write_disabled

STAGES = {
    "fetch": (["fetch", "fetch_all"], ["fetch_all"]),
    "synthesize": (["prepare", "synthesize", "synthesize_all"], ["synthesize_all"]),
    "fit": (["fit", "index_fits"], None),
    "evaluate": (["evaluate", "aggregate"], [layout.METRICS_JSON]),
    "forward_models": (
        ["forward_model", "forward_model_tables"],
        [layout.FORWARD_SUMMARY_TABLE],
    ),
    "report": (["report"], [layout.REPORT_HTML]),
    "train_kernel_space": (["train_kernel_space"], [layout.KERNEL_SPACE_DIR]),
}


def snakemake_command(stage: str, method: str | None, params: dict) -> list[str]:
    rules, targets = STAGES[stage]
    if stage == "fit":
        targets = [layout.FIT_INDEX.format(method=method)]
    executor = params["executor"]
    snakemake = shutil.which("snakemake") or "snakemake"
    cmd = [snakemake, "--snakefile", "Snakefile"]
    if executor["profile"] == "slurm":
        cmd += ["--profile", "slurm", "--jobs", str(executor["jobs"])]
    else:
        cmd += ["--cores", str(executor["cores"])]
    # DVC removes a stage's outputs before running it, so every job of the stage runs;
    # mtime is dropped so files restored by DVC do not look newer than their inputs.
    cmd += ["--rerun-triggers", "params", "input", "code", "software-env"]
    cmd += ["--allowed-rules", *rules, "--", *targets]
    return cmd


def sync() -> int:
    """``dvc status``, then ``snakemake --touch`` if it is clean (module docstring)."""
    dvc = shutil.which("dvc") or "dvc"
    status = subprocess.run([dvc, "status", "--json"], capture_output=True, text=True)
    if status.returncode != 0:
        print(f"dvc_stage: sync: dvc status failed:\n{status.stderr}", file=sys.stderr)
        return status.returncode
    changed = sorted(json.loads(status.stdout or "{}"))
    if changed:
        print(
            "dvc_stage: sync: DVC finds changes in " + ", ".join(changed) + "; run dvc repro "
            "(or dvc checkout) first, since touching now would mark outdated outputs as "
            "current",
            file=sys.stderr,
        )
        return 1
    snakemake = shutil.which("snakemake") or "snakemake"
    cmd = [snakemake, "--snakefile", "Snakefile", "--touch", "--cores", "1", "--quiet", "all"]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.call(cmd, env=os.environ.copy())


def main(argv: list[str]) -> int:
    if argv == ["sync"]:
        return sync()
    if not argv or argv[0] not in STAGES or (argv[0] == "fit") != (len(argv) == 2):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        params = load_params("params.yaml")
    except ParamsError as err:
        print(f"dvc_stage: {err}", file=sys.stderr)
        return 2
    method = argv[1] if len(argv) == 2 else None
    if method is not None:
        if method not in method_names(params):
            print(
                f"dvc_stage: method {method!r} is not defined under methods or two_stage",
                file=sys.stderr,
            )
            return 2
        if method not in experiment.methods(params):
            # DVC's stage matrix is every defined method; this one has nothing to fit.
            # (Imported here: the fit module loads torch, 2 s that no other stage needs.)
            from inrdeblur.fit.run import write_fit_index

            write_fit_index(method, [], Path(layout.FIT_INDEX.format(method=method)))
            print(f"dvc_stage: {method} is in no enabled study; nothing to fit", file=sys.stderr)
            return 0
    if argv[0] == "train_kernel_space" and not params["kernel_space"]["enabled"]:
        # The stage's output says it is off; starting Snakemake for that costs seconds.
        out = Path(layout.KERNEL_SPACE_DIR)
        shutil.rmtree(out, ignore_errors=True)
        write_disabled(out)
        print("dvc_stage: kernel_space.enabled is false; nothing to train", file=sys.stderr)
        return 0
    cmd = snakemake_command(argv[0], method, params)
    if argv[0] == "fetch":
        os.makedirs(layout.RAW_DIR, exist_ok=True)
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.call(cmd, env=os.environ.copy())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
