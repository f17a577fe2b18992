#!/usr/bin/env python3
"""Speed of the uniform blur's forward + backward, PyTorch's conv2d autograd vs ValidConvolution.

A non-blind fit with a uniform blur differentiates the 'valid' convolution of a
(1, C, H + k - 1, W + k - 1) latent with a fixed (k, k) kernel once per step. This times,
in this process and interleaved (so load drifts hit both alike), forward + backward
with respect to the latent of

- baseline: :func:`inrdeblur.blur.uniform.valid_convolution` (plain conv2d, PyTorch's
  conv2d input gradient);
- new: :class:`inrdeblur.blur.uniform.ValidConvolution` (backward: the adjoint as a
  forward conv2d of the padded gradient);

for each kernel size and dtype, and prints the median ms and the ratio new / baseline.
``convolve`` takes the new path only where it is faster (CPU float32); the float64 row
shows why. Timings are machine-dependent; the ratio is what to compare across changes.

    python benchmarks/uniform_blur_speed.py [--size 255] [--kernels 19 27] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import ValidConvolution, valid_convolution


def step_ms(
    conv: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    latent: torch.Tensor,
    kernel: torch.Tensor,
    grad_out: torch.Tensor,
) -> float:
    """One forward + backward w.r.t. the latent, in ms."""
    x = latent.detach().requires_grad_(True)
    start = time.perf_counter()
    torch.autograd.backward(conv(x, kernel), grad_out)
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=255, help="output side, px")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--kernels", type=int, nargs="+", default=[19, 27])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    variants = {"baseline": valid_convolution, "new": ValidConvolution.apply}
    where = "cuda" if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    print(f"'valid' blur fwd+bwd, {args.channels} x {args.size}^2 output, {where}")
    print(f"{'kernel':<8}{'dtype':<10}{'baseline ms':>13}{'new ms':>10}{'ratio':>8}")
    for size in args.kernels:
        for dtype_name in args.dtypes:
            dtype = getattr(torch, dtype_name)
            gen = torch.Generator().manual_seed(size)
            side = args.size + size - 1
            latent = torch.rand(1, args.channels, side, side, generator=gen)
            grad_out = torch.randn(1, args.channels, args.size, args.size, generator=gen)
            latent, grad_out = latent.to(device, dtype), grad_out.to(device, dtype)
            kernel = torch.from_numpy(random_motion_kernel(size, 0)).to(device, dtype)
            times: dict[str, list[float]] = {name: [] for name in variants}
            for conv in variants.values():  # warm-up: allocator, thread pool, oneDNN
                step_ms(conv, latent, kernel, grad_out)
            for _ in range(args.repeats):
                for name, conv in variants.items():
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    times[name].append(step_ms(conv, latent, kernel, grad_out))
                    if device.type == "cuda":
                        torch.cuda.synchronize()
            base = statistics.median(times["baseline"])
            new = statistics.median(times["new"])
            print(f"{size:<8}{dtype_name:<10}{base:>13.1f}{new:>10.1f}{new / base:>8.2f}")


if __name__ == "__main__":
    main()
