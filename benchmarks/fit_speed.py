#!/usr/bin/env python3
"""Speed of the non-blind SIREN fit, with and without the autograd TV regulariser.

Runs the demo's fit on one demo scene twice in the same process, first with the data
term alone (the baseline), then with the TV regulariser of the demo method, and prints
seconds per iteration and the ratio TV / baseline. Timings are machine-dependent; the
ratio is what to compare across changes.

    python benchmarks/fit_speed.py [--scene astronaut] [--size 128] [--iterations 30]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from inrdeblur.config import load_params
from inrdeblur.data.demo import make_scene
from inrdeblur.data.synthesize import synthesize
from inrdeblur.experiment import blurs
from inrdeblur.methods.inr.fit import fit_nonblind


def seconds_per_iteration(blurred, recipe: dict, iterations: int) -> float:
    recipe = copy.deepcopy(recipe)
    recipe["fit"]["iterations"] = iterations
    start = time.perf_counter()
    fit_nonblind(blurred.blurry, blurred.operator(), recipe, seed=0, progress=False)
    return (time.perf_counter() - start) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--method", default="siren_tv")
    parser.add_argument("--scene", default="astronaut")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params = load_params(args.params)
    blur_name = blurs(params)[0]  # the first blur of the enabled studies
    scene = make_scene(args.scene, size=args.size)
    blurred = synthesize(scene, blur_name, params["blurs"][blur_name])
    recipe = params["methods"][args.method]
    plain = copy.deepcopy(recipe)
    plain["regulariser"] = {"type": "none", "weight": 0.0}

    seconds_per_iteration(blurred, plain, 3)  # warm-up: allocator, thread pool
    base = seconds_per_iteration(blurred, plain, args.iterations)
    with_tv = seconds_per_iteration(blurred, recipe, args.iterations)
    device = "cuda" if torch.cuda.is_available() else f"cpu x{torch.get_num_threads()}"
    print(f"{args.method} on demo/{args.scene} ({args.size} px), {device}")
    print(f"{'variant':<22}{'s/iter':>10}{'ratio':>8}")
    print(f"{'data term only':<22}{base:>10.4f}{1.0:>8.2f}")
    print(f"{'data term + TV':<22}{with_tv:>10.4f}{with_tv / base:>8.2f}")


if __name__ == "__main__":
    main()
