#!/usr/bin/env bash
# Create .venv (once) and install lrnotes with the notebooks, book, test and bench extras.
# Used by scripts/book.sh and scripts/test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.lrnotes-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[data,notebooks,book,test,bench]"
  touch "$stamp"
fi
