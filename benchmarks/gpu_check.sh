#!/usr/bin/env bash
# The checks that need a GPU, in one command (about 8 minutes on one H100); never run by CI.
#
#   benchmarks/gpu_check.sh [OUT_DIR]      (default: $OUT, else ./gpu-check)
#
# 1. The published recipes of the blind methods (cross_scale_inr, selfdeblur, vdip: 5000
#    steps, 128-channel networks) on two Levin images, stored blurry inputs: aligned PSNR,
#    error ratio against sparse_prior, kernel similarity and seconds per image, beside the
#    papers' figures, and each estimated kernel handed to sparse_prior (the two-stage
#    protocol; benchmarks/blind_levin.py). The three methods run at once, one
#    process each: one 256 px fit leaves most of the GPU idle.
# 2. A mixed-precision fit: hashgrid_tv (fit.amp is on by default on CUDA) on the same two
#    images with the true kernels (benchmarks/nonblind.py --bench levin-2).
# 3. tiny-cuda-nn against the pure-torch hash grid on one image, when tinycudann imports.
#
# Every step has its own time limit, so a slow step cannot eat the others' time; the
# per-image rows are kept as CSV files in OUT_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu-check}}
mkdir -p "$out"
default_python=python
[ -x .venv/bin/python ] && default_python=.venv/bin/python
python=${PYTHON:-$default_python}
scenes="im1_kernel1 im2_kernel4"

"$python" - <<'EOF' || exit 1
import torch
if not torch.cuda.is_available():
    raise SystemExit("gpu_check: torch sees no CUDA device")
print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
EOF

echo "== 1. blind methods, published recipes, Levin $scenes"
for method in cross_scale_inr selfdeblur vdip; do
    timeout 330 "$python" benchmarks/blind_levin.py --device cuda --methods $method \
        --scenes $scenes --seeds 0 --two-stage sparse_prior --csv "$out/blind_$method.csv" --resume \
        >"$out/blind_$method.txt" 2>&1 &
done
wait
cat "$out"/blind_*.txt

echo "== 2. mixed-precision hash-grid fit (hashgrid_tv, CUDA, fit.amp)"
timeout 90 "$python" benchmarks/nonblind.py --bench levin-2 --device cuda --methods hashgrid_tv \
    sparse_prior --scenes $scenes --csv "$out/amp.csv" 2>&1 | tee "$out/amp.txt"

echo "== 3. tiny-cuda-nn against the pure-torch hash grid"
if "$python" -c "import tinycudann" 2>/dev/null; then
    timeout 60 "$python" benchmarks/nonblind.py --bench levin-2 --device cuda \
        --methods hashgrid_tv --grid hashgrid_tv.inr.backend=torch,tcnn --scenes im1_kernel1 \
        --csv "$out/tcnn.csv" 2>&1 | tee "$out/tcnn.txt"
else
    echo "tinycudann is not installed here: skipped (pip install its torch bindings to check)" \
        | tee "$out/tcnn.txt"
fi
