#!/usr/bin/env bash
# Build the book: executes every chapter, warnings are errors. Output: _build/html/index.html
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export TQDM_DISABLE=${TQDM_DISABLE:-1}
.venv/bin/jupyter-book build . -W --keep-going "$@"
echo "Book built: $(pwd)/_build/html/index.html"
