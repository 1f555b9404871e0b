#!/usr/bin/env bash
# The prepared GPU check (issue 19): install, the CUDA tests, chapters 11 and 12 with
# PROFILE="full" (two epochs and one), fit and LARS timings; writes benchmarks/results/gpu_check.md.
# Under 8 minutes on one modern GPU. `--dry-run`: the same steps, tiny sizes, on the CPU.
#
#   bash scripts/gpu-check.sh [--dry-run] [--out REPORT.md]
#
# Python: $PYTHON, else this checkout's .venv, else python3 (on a GPU machine, the one that
# holds its CUDA build of torch: the check never lets pip replace that torch).
# $LRNOTES_DATA with cifar10/cifar-10-batches-py/ or aclImdb/: the chapters run on that real
# data; $LRNOTES_WHEELS: a folder of wheels to install where pip cannot reach an index.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TQDM_DISABLE=1 PYTHONUNBUFFERED=1
exec "$PYTHON" scripts/gpu_check.py "$@"
