#!/usr/bin/env bash
# The GPU benchmark run on a lent NVIDIA machine, which has no package index:
# MLX comes as wheels made here by ../shared/tools/gpu-wheels.sh, the big one
# split in two because one call carries at most 64 MiB.
#
#   bench/gpu.sh stage          # first call, carrying .gpuA: keeps part_aa in /tmp/parts
#   bench/gpu.sh run [ARGS...]  # next call at once, carrying .gpuB: installs the wheels
#                               # (once per machine), then bench/run.py --device gpu ARGS
#   bench/gpu.sh guidance [ARGS...]   # the same for bench/guidance.py on llama-1b
#
# Name the commit in the command (BENCH_COMMIT=abc1234 bash bench/gpu.sh run ...):
# the machine's copy of .git may be stale. A machine stays warm (its /tmp and models/ kept) for about 30 s after a call.
# Figures go to stdout and, line by line, to $OUT/figures.jsonl, so that a
# call cut off at its time limit still brings back what it measured.
set -euo pipefail  # pipefail: a failing bench fails the call despite tee
cd "$(dirname "$0")/.."
site=/tmp/site
case "${1:-}" in
  stage)
    mkdir -p /tmp/parts && cp .gpuA/part_aa /tmp/parts/ && ls -la /tmp/parts
    ;;
  run | guidance)
    if [ ! -d "$site/mlx" ]; then
      cat /tmp/parts/part_aa .gpuB/part_ab > /tmp/parts/mlx_cuda_13-0.32.4-py3-none-manylinux_2_35_x86_64.whl
      python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" \
        /tmp/parts/mlx_cuda_13-*.whl .gpuB/*.whl
    fi
    export PYTHONPATH=$site PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c 'import mlx.core as mx; print("mlx", mx.__version__, mx.default_device())'
    out=${OUT:-bench/out} && mkdir -p "$out"
    if [ "$1" = run ]; then
      shift
      python3 bench/run.py --device gpu "$@" | tee -a "$out/figures.jsonl"
    else
      shift
      python3 scripts/make_models.py --out models llama-1b
      python3 bench/guidance.py --model models/llama-1b --json "$@" | tee -a "$out/figures.jsonl"
    fi
    ;;
  *)
    sed -n '2,11p' "$0" >&2
    exit 2
    ;;
esac
