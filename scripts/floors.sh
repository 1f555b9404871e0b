#!/usr/bin/env bash
# The oldest versions lrnotes declares are versions we test: build a venv with every declared
# floor and run the unit tests and every chapter's quick profile there.
#
#   bash scripts/floors.sh                 # venv in .venv-floors, the unit tests, the chapters
#   PYTHON=python3.11 bash scripts/floors.sh -x -k schedules  # extra arguments: the unit tests
#   FLOORS_CHAPTERS=0 bash scripts/floors.sh                   # the unit tests only
#   FLOOR_PINS="torch==2.6.0 torchvision==0.21.0" FLOORS_VENV=/tmp/f26 bash scripts/floors.sh
#                                  # try another floor before declaring it (replaces those pins)
#
# The floors are read from pyproject.toml: each `name>=X` of the core dependencies and of the
# `data` and `notebooks` extras is installed as `name==X` (so `torch>=2.6` tests torch 2.6.0,
# with torchvision 0.21.0, numpy 1.24.0, ...). The test tools (pytest, hypothesis, ...) are
# the newest. The Python is $PYTHON (default python3); the script says so when it is not the
# declared requires-python floor. The torch wheel comes from the package index (about 3 GB
# with its CUDA libraries; a few minutes). Not run by .ci/run (see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${FLOORS_VENV:-.venv-floors}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TQDM_DISABLE=1
unset MPLBACKEND

# pyproject.toml is read with $PYTHON when it has tomllib (3.11+) or tomli, else with python3
# (a bare Python 3.10 has neither).
READER=$PYTHON
if ! "$READER" -c 'import tomllib' 2>/dev/null && ! "$READER" -c 'import tomli' 2>/dev/null; then
  READER=python3
fi

# `name==floor` for each requirement of the core and the data/notebooks extras, one a line;
# then the requires-python floor and the test extra's requirements, as they are declared.
read_floors() {
  "$READER" - "$1" <<'EOF'
import re, sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
what = sys.argv[1]
if what == "python":
    print(project["requires-python"].removeprefix(">="))
elif what == "test":
    print("\n".join(project["optional-dependencies"]["test"]))
elif what == "kernel":  # the book extra's tools that execute a chapter, at their floors
    for req in project["optional-dependencies"]["book"]:
        name, _, floor = req.partition(">=")
        if name.strip().lower() in ("papermill", "ipykernel"):
            print(f"{name.strip()}=={floor.split(',')[0].strip()}")
else:
    reqs = list(project["dependencies"])
    for extra in ("data", "notebooks"):
        reqs += project["optional-dependencies"][extra]
    pins = {}
    for req in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)", req.split(",")[0].strip())
        if not m:
            sys.exit(f"pyproject.toml: {req!r} has no floor (name>=version)")
        pins[m.group(1).lower()] = f"{m.group(1)}=={m.group(2)}"
    print("\n".join(pins.values()))
EOF
}

python_floor=$(read_floors python)
python_here=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$python_here" != "$python_floor" ]; then
  echo "NOTE: testing the floors on Python $python_here; the declared floor is $python_floor" \
       "(set PYTHON to a Python $python_floor to test it)"
fi

mapfile -t floors < <(read_floors floors)
for pin in ${FLOOR_PINS:-}; do
  name=${pin%%[=<>~]*}
  for i in "${!floors[@]}"; do
    [ "${floors[$i]%%==*}" = "$name" ] && floors[$i]=$pin
  done
done
mapfile -t test_tools < <(read_floors test)
echo "floors: Python $python_here ${floors[*]}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# The floors first, alone, so that the resolver cannot lift one of them; then lrnotes itself
# without dependencies, and the newest test tools that accept them.
"$VENV/bin/python" -m pip install -q "${floors[@]}"
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -m pip install -q "${test_tools[@]}" "${floors[@]}"
"$VENV/bin/python" -m pip check || true
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md
names = ["torch", "torchvision", "numpy", "matplotlib", "tqdm", "scikit-learn", "pandas",
         "tensorboard", "ipywidgets", "pytest", "hypothesis"]
print("installed:", ", ".join(f"{n} {md.version(n)}" for n in names))
EOF

# The unit tests: everything but the book build, the chapters and the benchmarks' peers.
"$VENV/bin/python" -m pytest tests -m "not book and not notebooks" \
  --ignore=tests/test_benchmarks.py -p no:cacheprovider -q "$@"

# Every chapter's quick profile, executed with papermill in this venv, and its claims
# (FLOORS_CHAPTERS=0 skips this; the data sets come from $LRNOTES_DATA as in .ci/run).
if [ "${FLOORS_CHAPTERS:-1}" != 0 ]; then
  mapfile -t kernel_tools < <(read_floors kernel)
  "$VENV/bin/python" -m pip install -q "${kernel_tools[@]}" "${floors[@]}"
  # the venv's own python3 kernel first, before any user-wide kernelspec of that name
  JUPYTER_PATH="$VENV/share/jupyter" LRNOTES_CLAIMS=papermill \
    "$VENV/bin/python" -m pytest tests/test_ch[0-9][0-9].py -p no:cacheprovider -q
fi
