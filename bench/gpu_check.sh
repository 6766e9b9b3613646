#!/usr/bin/env bash
# One short check on an accelerator: the Kirchhoff solver benchmark and one epoch of wired training.
#
#     bash bench/gpu_check.sh [OUT_DIR]        # default OUT_DIR: bench/results/gpu_check
#
# Installs the project into a fresh virtual environment with JAX's CUDA wheels (the machine needs only pip access),
# prints the device JAX sees, runs `bench/kirchhoff.py` (wired vs ideal reads of the GV2016 layer, scaling from
# 64 to 1024 lines, wired vs ideal training), then one epoch of the MLP on the digits with 2.5-ohm wires through
# `experiments.train_mlp`. Everything it measures is written under OUT_DIR; it stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/results/gpu_check}"
mkdir -p "$out"
if [ ! -x .venv-gpu/bin/python ]; then
    python3 -m venv .venv-gpu
    .venv-gpu/bin/pip install -q --upgrade pip
    .venv-gpu/bin/pip install -q -e . "jax[cuda12]"
fi
py=.venv-gpu/bin/python
$py -c "import jax; print('JAX', jax.__version__, 'devices:', jax.devices())" | tee "$out/devices.txt"
$py bench/kirchhoff.py --out "$out/kirchhoff.json" 2>&1 | tee "$out/kirchhoff.log"
$py -m experiments.train_mlp --wires 2.5 --epochs 1 --no-progress --out "$out/train_wired" 2>&1 | tee "$out/train_wired.log"
$py -m experiments.train_mlp --epochs 1 --no-progress --out "$out/train_ideal" 2>&1 | tee "$out/train_ideal.log"
echo "written: $out"
