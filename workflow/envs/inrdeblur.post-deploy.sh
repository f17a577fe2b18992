#!/usr/bin/env bash
# Runs inside the freshly created conda environment (Snakemake's post-deploy hook),
# from the directory Snakemake was started in: the repository root.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation .
