#!/usr/bin/env bash
# Run every test: unit, equivalence and property tests, nbval over the chapters, the
# chapters' claims, and the book build. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export TQDM_DISABLE=${TQDM_DISABLE:-1}
unset MPLBACKEND  # the notebooks must render their figures inline
.venv/bin/python -m pytest tests book --nbval-lax --nbval-current-env -p no:cacheprovider "$@"
