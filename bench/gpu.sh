#!/usr/bin/env bash
# The GPU benchmark run on a lent NVIDIA machine, which has no package index:
# the packages come as wheels made here, the big one split in two because one
# call carries at most 64 MiB:
#   ../shared/tools/gpu-wheels.sh ddsketch prometheus-client pyyaml six 'outlines-core>=0.2.14,<0.3' gguf==0.19.0
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_31_x86_64 -d .gpuB llguidance==1.9.1
#
#   bench/gpu.sh stage          # first call, carrying .gpuA: keeps part_aa in /tmp/parts
#   bench/gpu.sh run [ARGS...]  # next call at once, carrying .gpuB: installs the wheels
#                               # (once per machine), then bench/run.py --device gpu ARGS
#
# Name the commit in the command (BENCH_COMMIT=abc1234 bash bench/gpu.sh run ...):
# the machine's copy of .git may be stale. A machine stays warm (its /tmp and
# models/ kept) for about 30 s after a call.
# Figures go to stdout and, line by line, to $OUT/figures.jsonl, so that a
# call cut off at its time limit still brings back what it measured.
set -euo pipefail  # pipefail: a failing bench fails the call despite tee
cd "$(dirname "$0")/.."
site=/tmp/site
case "${1:-}" in
  stage)
    mkdir -p /tmp/parts && cp .gpuA/part_aa /tmp/parts/ && ls -la /tmp/parts
    ;;
  run)
    if [ ! -d "$site/mlx" ]; then
      cat /tmp/parts/part_aa .gpuB/part_ab > /tmp/parts/mlx_cuda_13-0.32.4-py3-none-manylinux_2_35_x86_64.whl
      python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" \
        /tmp/parts/mlx_cuda_13-*.whl .gpuB/*.whl
    fi
    export PYTHONPATH=$site PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c 'import mlx.core as mx; print("mlx", mx.__version__, mx.default_device())'
    out=${OUT:-bench/out} && mkdir -p "$out"
    shift
    python3 bench/run.py --device gpu "$@" | tee -a "$out/figures.jsonl"
    ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac
