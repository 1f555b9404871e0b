#!/usr/bin/env bash
# Run every test: unit, equivalence and property tests, nbval over the chapters, the
# chapters' claims, and the book build. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export TQDM_DISABLE=${TQDM_DISABLE:-1}
# The quick profile's models are tiny: one torch thread per process is faster than two on a
# 2-core machine (chapter 7: 15 s against 35 s, measured with other work running), and the chapters'
# claims were checked with it. Set OMP_NUM_THREADS yourself to override.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
unset MPLBACKEND  # the notebooks must render their figures inline
.venv/bin/python -m pytest tests book --nbval-lax --nbval-current-env -p no:cacheprovider \
  --durations=20 "$@"
