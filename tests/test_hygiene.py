"""The repository's promises that are not code: every chapter is in the toc and starts the
same way, the conda environment installs what pyproject.toml declares, no heavy outputs."""

from __future__ import annotations

import re

import nbformat
import pytest
import yaml
from notebooks import BOOK, ROOT, chapters

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (the floor): pytest itself requires tomli there
    import tomli as tomllib

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]


def toc_files() -> list[str]:
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        files += [entry["file"] for entry in part["chapters"]]
    return files


def test_toc_lists_every_notebook_and_nothing_missing():
    listed = toc_files()
    assert len(listed) == len(set(listed)), "a file is listed twice in _toc.yml"
    notebooks_on_disk = {f"book/{p.stem}" for p in BOOK.glob("*.ipynb")}
    assert notebooks_on_disk <= set(listed), f"not in _toc.yml: {notebooks_on_disk - set(listed)}"
    for entry in listed:
        candidates = [ROOT / f"{entry}{ext}" for ext in (".ipynb", ".md")]
        assert any(c.exists() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


def test_chapters_are_numbered_from_one_without_gaps():
    numbers = [int(p.name[:2]) for p in chapters()]
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_opens_with_colab_setup_and_parameters(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 3
    colab, setup, params = code[:3]
    assert "google.colab" in colab.source, "first code cell must be the Colab install cell"
    assert f"git+{REPO_URL}" in colab.source, "the Colab cell must install from _config.yml's url"
    assert f'"lrnotes[notebooks] @ git+{REPO_URL}"' in colab.source, (
        "the Colab cell installs the notebooks extra (what the chapters import)")
    assert "-U" not in colab.source.split() and "--upgrade" not in colab.source
    assert not re.search(r"\b(torch|numpy)\s*[=<>~]=", colab.source), "no torch/numpy pins"
    assert re.search(r"lrnotes\.setup\(seed=\d+", setup.source), "second code cell: lrnotes.setup"
    assert "parameters" in params.metadata.get("tags", []), "third code cell: tagged parameters"
    assert "PROFILE" in params.source, "the parameters cell sets PROFILE (quick or full)"


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_ends_with_takeaways_then_exercises(path):
    """A reader who reaches the exercises has read every section they draw on: the last two
    sections are "What to take away" and "Exercises" (whose solutions follow them)."""
    nb = nbformat.read(path, as_version=4)
    headings = [line for cell in nb.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## ")]
    assert headings[-2:] == ["## What to take away", "## Exercises"], (
        f"{path.name}: the last sections are {headings[-2:]}; move any section after the "
        "exercises before the takeaways")


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_no_committed_outputs(path):
    assert path.stat().st_size < 300_000
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert "NBVAL" not in cell.source, (
            f"{path.name}: readers see nbval's comment markers; tag the cell instead "
            "(metadata tag 'nbval-check-output')")
        if "nbval-check-output" in cell.metadata.get("tags", []):  # a small table nbval compares
            assert cell.outputs, (f"{path.name}: a cell tagged nbval-check-output holds no "
                                  "output, so nbval compares nothing; commit its printed table")
            assert cell.execution_count is not None, (
                f"{path.name}: nbval skips a checked cell whose execution_count is None")
            assert all(o.output_type == "stream" for o in cell.outputs)
            assert sum(len(o.text) for o in cell.outputs) < 5_000
        else:
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: commit notebooks without outputs; the build executes them")


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_opens_with_a_title_and_cites_the_bibliography(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    keys = set(re.findall(r"^@\w+\{([^,]+),", (BOOK / "references.bib").read_text(), re.M))
    cited = set(re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text))
    cited = {k.strip() for group in cited for k in group.split(",")}
    assert cited <= keys, f"cited but not in references.bib: {cited - keys}"


def _requirement_names(reqs: list[str]) -> dict[str, str]:
    return {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower(): r.replace(" ", "") for r in reqs}


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("data", "notebooks", "book", "test", "bench"):
        declared += project["optional-dependencies"][extra]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section
    in_env = _requirement_names([r for r in pip_section if r != "-e ."])
    assert in_env == _requirement_names(declared)
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))


def test_no_exact_pins_of_torch_or_numpy():
    text = (ROOT / "pyproject.toml").read_text() + (ROOT / "environment.yml").read_text()
    assert not re.search(r"\b(torch|numpy|torchvision)\s*==", text)


def test_notebooks_extra_brings_what_the_chapters_import():
    import sys

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    provided = set(_requirement_names(project["dependencies"]))
    provided |= set(_requirement_names(project["optional-dependencies"]["notebooks"]))
    import_names = {"sklearn": "scikit-learn", "PIL": "pillow"}
    imported = set()
    for path in chapters():
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and not cell.source.startswith("%%"):  # not %%writefile
                imported |= set(re.findall(r"^\s*(?:from|import)\s+(\w+)", cell.source, re.M))
    third_party = {import_names.get(m, m) for m in imported
                   if m not in sys.stdlib_module_names and m not in ("lrnotes", "IPython")}
    # what lrnotes imports lazily for the chapters: digits, CIFAR-10, History tables,
    # TensorBoard, MNIST-1D
    third_party |= {"scikit-learn", "torchvision", "pandas", "tensorboard", "mnist1d"}
    provided.add("pillow")  # a dependency of matplotlib and of torchvision
    assert third_party <= provided, f"not in lrnotes[notebooks]: {third_party - provided}"


def test_slow_tests_carry_their_markers():
    """`-m "not book and not notebooks"` keeps the unit tests and drops every slow one."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
            "tests/test_ch01.py", "tests/test_book.py", "tests/test_schedules.py"]
    fast = subprocess.run([*args, "-m", "not book and not notebooks"], cwd=ROOT,
                          capture_output=True, text=True).stdout
    slow = subprocess.run([*args, "-m", "book"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "test_schedules.py::" in fast
    assert "test_book.py::test_claims_read_a_build_only_if_it_ran_on_the_code_as_it_is" in fast
    assert "test_ch01.py::" not in fast and "test_book_builds_with_every" not in fast
    assert "test_ch01.py::" in slow and "test_book_builds_with_every" in slow


# --- prose that cannot contradict its numbers ------------------------------------------------
# A sentence that pastes a computed value ({glue:}`name`) must take its verdict from the
# computation too: "ends lower in {glue:}`wins_words`", not "ends lower in every seed". These
# fixed words state a count or a universal that a glued value next to them can contradict.
# Counts over seeds or variants are checked per paragraph (the verdict may sit one sentence
# away from its number, as in "... on {glue:}`n` seeds. Which wins depends on the seed"); "always"
# and "never" per sentence, since most of them describe code ("the slide never imports F").
FIXED_COUNT_WORDS = re.compile(r"\b(every seed|all seeds|depends on the seed|on every"
                               r"|in every variant)\b", re.I)
FIXED_UNIVERSALS = re.compile(r"\b(always|never)\b", re.I)
GLUE_ROLE = re.compile(r"\{glue(?::\w*)?\}`[^`]+`")
# (notebook, cell id): why the sentence stays. Keep this short; each entry is a debt.
ALLOWED_FIXED_WORDS: dict[tuple[str, str], str] = {}


def fixed_words_next_to_glue(nb: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    """(cell id, word, text) for each markdown paragraph (or list item) that pastes a glued value
    and states a fixed count over seeds or variants, and each sentence that pastes one and says
    "always" or "never". Glued text and inline code are not prose."""
    def prose(text):
        return re.sub(r"`[^`]*`", "", GLUE_ROLE.sub("", text))

    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown" or not GLUE_ROLE.search(cell.source):
            continue
        for paragraph in re.split(r"\n\s*\n|\n\s*(?:-|\d+\.) ", cell.source):
            if not GLUE_ROLE.search(paragraph):
                continue
            units = [(FIXED_COUNT_WORDS, paragraph)]
            units += [(FIXED_UNIVERSALS, s) for s in re.split(r"(?<=[.;:!?])\s+", paragraph)
                      if GLUE_ROLE.search(s)]
            for words, text in units:
                match = words.search(prose(text))
                if match:
                    found.append((cell.get("id", ""), match.group(0), " ".join(text.split())))
    return found


def test_the_fixed_word_check_finds_the_defect_and_passes_the_fix():
    def notebook(*sources):
        return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(s) for s in sources])

    bad = notebook("Discriminative rates end lower on {glue:}`wins_words`. Which direction wins"
                   " on one seed depends on the seed; the gap is {glue:}`gap`.",
                   "It ends at {glue:}`loss`, in every seed at least {glue:}`ratio` times "
                   "higher.", "Adam is always faster ({glue:text}`speedup` times).")
    words = [word for _, word, _ in fixed_words_next_to_glue(bad)]
    assert words == ["depends on the seed", "every seed", "always"]
    good = notebook("Discriminative rates end lower on {glue:}`wins_words`.",
                    "The slide never imports `F`. It fails with {glue:}`error`.",  # no glue in it
                    "Every seed is shown in the figure.",  # no glued value in the cell
                    "It ends at {glue:}`loss`, higher in {glue:}`higher_words`; "
                    "`F.always_ok` is code, not prose: {glue:}`x`.")
    assert fixed_words_next_to_glue(good) == []


@pytest.mark.parametrize("path", [*chapters(), BOOK / "guide.ipynb"], ids=lambda p: p.stem)
def test_no_fixed_count_words_next_to_glued_values(path):
    nb = nbformat.read(path, as_version=4)
    found = [(cid, word, sentence) for cid, word, sentence in fixed_words_next_to_glue(nb)
             if (path.stem, cid) not in ALLOWED_FIXED_WORDS]
    assert not found, (f"{path.name}: a sentence pastes a computed value but states a fixed "
                       f"count or universal; glue the word instead: {found}")
