"""``inrdeblur <stage> ...``: one command per pipeline stage.

The Snakemake rules call these commands; each one parses its arguments, calls the
library and writes its outputs atomically. Errors in the user's inputs end with exit
status 2 and a one-line message naming the file or key. A fit stopped by SIGTERM or
SIGUSR1 (:mod:`inrdeblur.methods.checkpoint`) ends with status 128 + the signal's number
(143 for SIGTERM) and a one-line message naming the seed, the iteration and the kept
checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from inrdeblur import layout
from inrdeblur.config import ParamsError
from inrdeblur.fileio import InputFileError
from inrdeblur.methods.checkpoint import Preempted

log = logging.getLogger("inrdeblur")


def _json_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


#: the params sections a gathering command expands itself (inrdeblur.experiment)
STUDIES_HELP = "params.yaml's studies and datasets sections as JSON (validated)"


# --------------------------------------------------------------------------- commands


def cmd_check_params(args: argparse.Namespace) -> None:
    from inrdeblur.config import load_params
    from inrdeblur.preflight import dataset_problems, weights_problems

    params = load_params(args.params)
    root = Path(args.params).resolve().parent
    problems = dataset_problems(params, root) + weights_problems(params, root)
    if problems:
        raise ParamsError(str(args.params), problems)
    print(f"{args.params}: ok")
    for name, study in params["studies"].items():
        print(
            f"  study {name}: "
            + (
                f"{len(study['datasets'])} dataset(s), {len(study['blurs'])} blur(s), "
                f"{len(study['methods'])} method(s), {len(study['seeds'])} seed(s)"
                if study["enabled"]
                else "disabled"
            )
        )


def cmd_params_doc(args: argparse.Namespace) -> None:
    from inrdeblur.config import schema_keys

    lines = [
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for row in schema_keys():
        default = "" if row["default"] is None else f"`{json.dumps(row['default'])}`"
        desc = row["description"].replace("|", "\\|")
        lines.append(f"| `{row['key']}` | {row['type']} | {default} | {desc} |")
    print("\n".join(lines))


def cmd_fetch(args: argparse.Namespace) -> None:
    from inrdeblur.data.fetch import fetch_entry

    fetch_entry(args.name, args.raw_dir, mirror=args.mirror, progress=not args.no_progress)


def cmd_prepare(args: argparse.Namespace) -> None:
    from inrdeblur.config import dataset_settings
    from inrdeblur.data.prepare import prepare_dataset

    settings = dataset_settings(args.dataset, args.settings)
    paths = prepare_dataset(args.dataset, settings, args.out_dir, progress=not args.no_progress)
    log.info("wrote %d scene(s) to %s", len(paths), args.out_dir)


def cmd_synthesize(args: argparse.Namespace) -> None:
    from inrdeblur.data.synthesize import synthesize_folder

    paths = synthesize_folder(
        args.scenes_dir, args.blur, args.settings, args.out_dir, progress=not args.no_progress
    )
    log.info("wrote %d blurred image(s) to %s", len(paths), args.out_dir)


def cmd_fit(args: argparse.Namespace) -> None:
    from inrdeblur.fit.run import run_fits

    image = {"blur": args.blur, "dataset": args.dataset, "scene": args.scene}
    kernels_from = None
    if args.recipe.get("type") == "two_stage":  # the blind fit of the same image
        kernels_from = Path(layout.FIT_SCENE_DIR.format(method=args.recipe["blind"], **image))
    run_fits(
        scene_path=layout.scene_path(args.dataset, args.scene),
        blurred_path=layout.blurred_path(**image),
        method=args.method,
        recipe=args.recipe,
        seeds=args.seeds,
        threads=args.threads,
        out_dir=Path(layout.FIT_SCENE_DIR.format(method=args.method, **image)),
        checkpoint_dir=Path(layout.FIT_CHECKPOINT_DIR.format(method=args.method, **image)),
        progress=not args.no_progress,
        checkpoint_every=args.checkpoint_every,
        checkpoint_seconds=args.checkpoint_seconds,
        kernels_from=kernels_from,
    )


def cmd_plan(args: argparse.Namespace) -> None:
    from inrdeblur.config import load_params
    from inrdeblur.experiment import write_plan

    for path in write_plan(load_params(args.params), args.root):
        print(path)


def cmd_index_fits(args: argparse.Namespace) -> None:
    from inrdeblur.experiment import fit_metas
    from inrdeblur.fit.run import write_fit_index

    write_fit_index(args.method, fit_metas(args.studies, args.method), args.out)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from inrdeblur.experiment import dataset_scene_ids
    from inrdeblur.metrics.evaluate import evaluate_set

    records = evaluate_set(
        method=args.method,
        blur=args.blur,
        dataset=args.dataset,
        scenes=dataset_scene_ids(args.dataset, args.settings),
        seeds=args.seeds,
        out=args.out,
        lpips=args.lpips,
        aligned=args.aligned,
        progress=not args.no_progress,
        convergence_out=args.convergence_out,
    )
    log.info("wrote %s (%d fits)", args.out, len(records))


def cmd_aggregate(args: argparse.Namespace) -> None:
    from inrdeblur.fileio import read_json
    from inrdeblur.metrics.tables import write_tables

    records = []
    for path in args.records:
        records += read_json(path)
    write_tables(records, args.metrics_csv, args.summary_csv, args.metrics_json)
    if args.convergence_csv is not None:
        from inrdeblur.metrics.convergence import (
            concat_convergence,
            read_convergence,
            write_convergence,
        )

        tables = [read_convergence(path) for path in args.convergence_sets]
        write_convergence(args.convergence_csv, concat_convergence(tables))


def cmd_summary(args: argparse.Namespace) -> None:
    from inrdeblur.config import load_params
    from inrdeblur.experiment import enabled_studies
    from inrdeblur.metrics.tables import format_summary, read_table, study_rows, summary_table

    metrics = read_table(args.metrics_csv)
    for name, study in enabled_studies(load_params(args.params)).items():
        print(f"== {study['title'] or name} (study {name})")
        print(format_summary(summary_table(study_rows(metrics, study))))


def cmd_forward_model(args: argparse.Namespace) -> None:
    import torch

    from inrdeblur.fileio import write_json
    from inrdeblur.records.scene import Scene
    from inrdeblur.studies.blur_formation import evaluate_forward_model

    torch.set_num_threads(max(1, args.threads))
    record = evaluate_forward_model(Scene.load(args.scene), args.blur, args.settings)
    write_json(args.out, record)
    log.info("wrote %s (PSNR %.2f dB against the reference blur)", args.out, record["psnr"])


def cmd_forward_model_tables(args: argparse.Namespace) -> None:
    from inrdeblur.experiment import forward_model_records
    from inrdeblur.fileio import read_json
    from inrdeblur.studies.blur_formation import write_forward_model_tables

    records = [read_json(p) for p in forward_model_records(args.studies)]
    write_forward_model_tables(records, args.records_csv, args.summary_csv)


def cmd_train_kernel_space(args: argparse.Namespace) -> None:
    from inrdeblur.kernel_space import write_disabled
    from inrdeblur.kernel_space.training import run_training

    if not args.settings["enabled"]:
        write_disabled(args.out_dir)
        log.info("kernel_space.enabled is false: nothing trained")
        return
    scenes = [path for folder in args.scenes_dirs for path in sorted(Path(folder).glob("*.npz"))]
    if not args.settings["weights"] and not scenes:
        raise SystemExit(f"train-kernel-space: no scene records in {args.scenes_dirs}")
    run_training(
        args.settings,
        scenes,
        args.out_dir,
        checkpoint_path=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
        checkpoint_seconds=args.checkpoint_seconds,
        threads=args.threads,
    )


def cmd_report(args: argparse.Namespace) -> None:
    from inrdeblur.report.build import build_report

    build_report(
        metrics_csv=args.metrics_csv,
        convergence_csv=args.convergence_csv,
        forward_models_csv=args.forward_models_csv,
        forward_records_csv=args.forward_records_csv,
        params=args.params_json,
        out_html=args.out,
        figures_dir=args.figures,
        max_scenes=args.max_scenes,
        thumbnail_px=args.thumbnail_px,
        kernel_space_dir=args.kernel_space_dir,
    )


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inrdeblur",
        description="INR deblurring benchmark: one command per pipeline stage.",
        fromfile_prefix_chars="@",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")

    p = sub.add_parser("check-params", help="validate params.yaml and exit")
    p.add_argument("params", nargs="?", default="params.yaml")
    p.set_defaults(func=cmd_check_params)

    p = sub.add_parser("params-doc", help="print every params.yaml key as a Markdown table")
    p.set_defaults(func=cmd_params_doc)

    p = sub.add_parser(
        "fetch",
        help="download (or copy from a mirror) one registry entry, verified",
        description="Fetch dataset NAME into RAW_DIR/NAME/ (with SHA256SUMS for the "
        "prepare stage), or the weights lpips_alexnet into $TORCH_HOME/hub/checkpoints/. "
        "Hashes the registry does not know are measured and recorded in "
        "RAW_DIR/NAME.checksums.json. An existing copy is verified, not fetched again.",
    )
    p.add_argument("name", help="registry entry, e.g. levin or lpips_alexnet")
    p.add_argument(
        "--mirror",
        help="folder, file:// URL or http(s):// base URL holding the files at <mirror>/<path>",
    )
    p.add_argument("--raw-dir", type=Path, default=Path(layout.RAW_DIR))
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("prepare", help="write the scene record of every selected scene")
    p.add_argument("--dataset", required=True)
    p.add_argument(
        "--settings", type=_json_arg, required=True, help="datasets.<name> as JSON (its scenes)"
    )
    p.add_argument("--out-dir", type=Path, required=True, help="writes <scene>.npz there")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("synthesize", help="blur every scene of a prepared dataset")
    p.add_argument(
        "--scenes-dir", type=Path, required=True, help="scene records <scene>.npz (prepare)"
    )
    p.add_argument("--blur", required=True, help="blur name")
    p.add_argument("--settings", type=_json_arg, required=True, help="blurs.<name> as JSON")
    p.add_argument("--out-dir", type=Path, required=True, help="writes <scene>.npz there")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser(
        "fit",
        help="fit one method to one blurred image, once per seed",
        description="Reads and writes the files of inrdeblur.layout under the working "
        "directory: the scene and blurred image, seed<k>/ in the fit job's folder, and "
        "checkpoints in results/checkpoints/.",
    )
    p.add_argument("--method", required=True)
    p.add_argument("--blur", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--scene", required=True, help="scene id")
    p.add_argument(
        "--recipe",
        type=_json_arg,
        required=True,
        help="methods.<name> as JSON (a two_stage entry's: with its non-blind recipe)",
    )
    p.add_argument("--seeds", type=int, nargs="+", required=True, help="fitted in turn")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=50,
        help="iterations between checkpoints, from which a killed or requeued fit resumes "
        "(0: none; default 50)",
    )
    p.add_argument(
        "--checkpoint-seconds",
        type=float,
        default=300.0,
        help="wall-clock seconds between checkpoints (0: none; default 300). Whatever these "
        "two say, SIGTERM or SIGUSR1 (SLURM's warning before a kill, or sbatch "
        "--signal=USR1@<s>) saves the iteration in progress and ends the command with "
        "status 128 + the signal's number; a rerun resumes from there.",
    )
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser(
        "plan", help=f"what each DVC stage runs, from the enabled studies ({layout.PLAN_DIR}/)"
    )
    p.add_argument("params", nargs="?", default="params.yaml", help="params file")
    p.add_argument("--root", type=Path, default=Path("."), help="where results/ lies")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("index-fits", help="one CSV row per fit of a method")
    p.add_argument("--method", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--studies", type=_json_arg, required=True, help=STUDIES_HELP)
    p.set_defaults(func=cmd_index_fits)

    p = sub.add_parser(
        "evaluate", help="metrics of every fit of a method on one blur of one dataset"
    )
    p.add_argument("--method", required=True)
    p.add_argument("--blur", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument(
        "--settings", type=_json_arg, required=True, help="datasets.<dataset> as JSON (its scenes)"
    )
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--lpips", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--aligned",
        choices=("auto", "always", "never"),
        default="auto",
        help="when to add the shift-aligned metrics (params: metrics.aligned)",
    )
    p.add_argument("--out", type=Path, required=True, help="the JSON list of records")
    p.add_argument(
        "--convergence-out", type=Path, help="also summarise the fits' traces into this CSV"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("aggregate", help="metrics tables and DVC metrics from the metric records")
    p.add_argument("--metrics-csv", type=Path, required=True)
    p.add_argument("--summary-csv", type=Path, required=True)
    p.add_argument("--metrics-json", type=Path, required=True)
    p.add_argument(
        "records", nargs="+", type=Path, help="metric files of the evaluate jobs (JSON lists)"
    )
    p.add_argument("--convergence-csv", type=Path, help="the convergence table of the studies")
    p.add_argument(
        "--convergence-sets",
        nargs="*",
        type=Path,
        default=[],
        help="convergence tables of the evaluate jobs, concatenated into --convergence-csv",
    )
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser(
        "forward-model", help="compare one blur model with a scene's reference blurry image"
    )
    p.add_argument("--scene", type=Path, required=True)
    p.add_argument("--blur", required=True, help="blur name")
    p.add_argument("--settings", type=_json_arg, required=True, help="blurs.<name> as JSON")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_forward_model)

    p = sub.add_parser("summary", help="print each study's summary table as text")
    p.add_argument("params", nargs="?", default="params.yaml", help="params file (the studies)")
    p.add_argument(
        "--metrics-csv",
        type=Path,
        default=Path(layout.METRICS_TABLE),
        help="every fit's metrics (aggregate's output)",
    )
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("forward-model-tables", help="tables of the blur-formation experiment")
    p.add_argument("--records-csv", type=Path, required=True)
    p.add_argument("--summary-csv", type=Path, required=True)
    p.add_argument("--studies", type=_json_arg, required=True, help=STUDIES_HELP)
    p.set_defaults(func=cmd_forward_model_tables)

    p = sub.add_parser(
        "train-kernel-space",
        help="train the blur-kernel space (Tran et al. 2021) on pairs made from scenes",
    )
    p.add_argument("--settings", type=_json_arg, required=True, help="kernel_space as JSON")
    p.add_argument(
        "--scenes-dirs", type=Path, nargs="*", default=[], help="scene records to train on"
    )
    p.add_argument("--out-dir", type=Path, required=True, help="weights.pt, trace.csv, meta.json")
    p.add_argument("--checkpoint", type=Path, help="checkpoint file (resumed from if present)")
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--checkpoint-seconds", type=float, default=300)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_train_kernel_space)

    p = sub.add_parser("report", help="render the HTML report")
    p.add_argument("--metrics-csv", type=Path, required=True, help="every fit's metrics")
    p.add_argument(
        "--forward-models-csv", type=Path, help="summary of the blur-formation experiment"
    )
    p.add_argument(
        "--forward-records-csv",
        type=Path,
        help="per-scene records of the blur-formation experiment (drawn as a figure)",
    )
    p.add_argument("--convergence-csv", type=Path, help="the convergence table (drawn as a figure)")
    p.add_argument(
        "--kernel-space-dir", type=Path, help="the trained kernel space (a section of its own)"
    )
    p.add_argument(
        "--params-json",
        type=_json_arg,
        required=True,
        help="validated params: the studies (one section each), shown in the report",
    )
    p.add_argument("--max-scenes", type=int, default=8, help="scenes per dataset in the grid")
    p.add_argument(
        "--thumbnail-px", type=int, default=320, help="longest side of the grid's images"
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--figures", type=Path, required=True)
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except (ParamsError, InputFileError, ValueError) as err:
        print(f"inrdeblur {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Preempted as err:
        # A fit stopped by SIGTERM/SIGUSR1 after checkpointing: a failure to the scheduler
        # (128 + signal, as a shell reports a process killed by it), so it retries.
        print(f"inrdeblur {args.command}: {err}", file=sys.stderr)
        return 128 + err.signum
    return 0


if __name__ == "__main__":
    sys.exit(main())
