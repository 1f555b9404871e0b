"""Every chapter and the guide run to their end under any runner a reader uses: plain
papermill (no special case for errors), nbclient (what the book build, nbconvert and
JupyterLab use; the book build is that run: myst-nb executes every page with nbclient,
``allow_errors: false`` and errors fatal) and so Colab's "Run all". A cell that fails on
purpose runs the slide under ``%%expect_error NAME`` (``lrnotes.notebook.expect_error``):
it shows the error and does not raise; it raises when the slide stops failing. No notebook
carries the ``raises-exception`` tag, which papermill and Colab ignore."""

from __future__ import annotations

import nbformat
import pytest
from notebooks import BOOK, BUILD, chapters, missing_failures

NOTEBOOKS = [*chapters(), BOOK / "guide.ipynb"]


def _failing_on_purpose(path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return any(c.cell_type == "code" and c.source.startswith("%%expect_error") for c in nb.cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_to_its_end_under_papermill(papermill_run, path):
    nb = papermill_run(path.stem)  # papermill.execute_notebook: any error fails the test here
    assert missing_failures(nb) == []


@pytest.fixture(scope="module")
def executed_book(built_book):
    """The notebooks as the book build executed them (myst-nb runs nbclient, errors fatal):
    a separate nbclient run of the same notebooks would repeat it."""
    return BUILD / "jupyter_execute" / "book"


@pytest.mark.book
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_book_build_shows_each_expected_failure(executed_book, path):
    nb = nbformat.read(executed_book / path.name, as_version=4)
    assert missing_failures(nb) == []


def test_chapters_6_and_15_fail_on_purpose_and_no_cell_carries_raises_exception():
    tagged = [f"{p.name}: cell {i}" for p in NOTEBOOKS
              for i, c in enumerate(nbformat.read(p, as_version=4).cells)
              if "raises-exception" in c.metadata.get("tags", [])]
    assert tagged == []
    assert {p.name[:2] for p in NOTEBOOKS if _failing_on_purpose(p)} >= {"06", "15"}


def _executed(source: str, *outputs) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, outputs=list(outputs))
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), cell])


def test_missing_failures_are_found():
    slide = '%%expect_error AttributeError --match "tuple"\noutput.size()'
    shown = nbformat.v4.new_output("stream", name="stderr", text=(
        "Traceback (most recent call last; the cell's own lines only):\n  line 2, in <module>\n"
        "    output.size()\nAttributeError: 'tuple' object has no attribute 'size'\n"))
    assert missing_failures(_executed(slide, shown)) == []
    assert missing_failures(_executed(slide)) == [
        "cell 1: expected AttributeError is not shown in its output"]
    printed = nbformat.v4.new_output("stream", name="stdout", text="AttributeError: x\n")
    assert len(missing_failures(_executed(slide, printed))) == 1
    error = nbformat.v4.new_output("error", ename="NameError", evalue="name 'math' is not defined",
                                   traceback=[])
    assert missing_failures(_executed("slide()", error)) == [
        "cell 1: raised NameError: name 'math' is not defined"]
