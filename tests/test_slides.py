"""Each chapter 1 to 15 quotes its slide's code exactly as the talk gives it.

The talk is in ``../shared/talk/slideNN.py`` (its title and paragraph as comments, a blank
line, then the slide's code). The chapter holds the quote in one code cell tagged ``slide``;
a leading cell magic line (``%%writefile ...``, for the slides the quick profile cannot run
as given) is not part of the quote. Lines are compared with their whitespace normalised and
blank lines dropped; every other character must match, in order."""

from __future__ import annotations

import re

import nbformat
import pytest
from notebooks import ROOT, chapters

TALK = ROOT.parent / "shared" / "talk"


def _lines(text: str) -> list[str]:
    return [re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip()]


def slide_code(number: int) -> list[str]:
    """The code of slide ``number``: everything after the comment header of slideNN.py."""
    text = (TALK / f"slide{number:02d}.py").read_text()
    header, _, code = text.partition("\n\n")
    assert all(line.startswith("#") for line in header.splitlines()), "unexpected slide header"
    return _lines(code)


def slide_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and "slide" in c.metadata.get("tags", [])]


def quoted(cell: nbformat.NotebookNode) -> list[str]:
    lines = _lines(cell.source)
    if lines and lines[0].startswith("%%"):
        lines = lines[1:]
    return lines


@pytest.mark.skipif(not TALK.is_dir(), reason="the talk is not here (../shared/talk/)")
@pytest.mark.parametrize("path", [p for p in chapters() if int(p.name[:2]) <= 15],
                         ids=lambda p: p.stem)
def test_chapter_quotes_its_slide_exactly(path):
    nb = nbformat.read(path, as_version=4)
    cells = slide_cells(nb)
    assert len(cells) == 1, (
        f"{path.name}: expected one code cell tagged 'slide', found {len(cells)}")
    want = slide_code(int(path.name[:2]))
    have = quoted(cells[0])
    first = next((i for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b),
                 min(len(have), len(want)))
    assert have == want, (
        f"{path.name}: the slide cell differs from {TALK}/slide{path.name[:2]}.py; "
        f"first difference at line {first}")
