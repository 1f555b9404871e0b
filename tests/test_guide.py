"""The guide page's recipe, read from the executed page (``book/guide.ipynb``).

Checked under SEED 0 (seeds 0, 1, 2 inside the page) with 1 torch thread on this machine's
CPU; the accuracy bound leaves 4.5 points below the worst seed seen (94.2 %)."""

from margins import above, holds

CH = "guide"


def test_the_range_test_restored_every_model(c):
    holds(c["all_restored"] == "every", "lr_find restored the model in every seed")


def test_the_recipe_trains_the_digits_in_every_seed(c):
    for k, acc in enumerate(c["recipe_acc"]):
        above(acc, 0.9, f"recipe val accuracy, seed {k} / 0.9")


def test_the_range_test_picks_a_rate_in_adams_band(c):
    above(c["peak_min"], 1e-4, "smallest suggested peak / 1e-4")
    above(0.1, c["peak_max"], "0.1 / largest suggested peak")


# --- the decision table: each row is measured (pasted from a chapter) or a named convention

def _table_rows() -> list[list[str]]:
    import nbformat
    from notebooks import BOOK

    nb = nbformat.read(BOOK / "guide.ipynb", as_version=4)
    text = next(c.source for c in nb.cells
                if c.cell_type == "markdown" and "## The decision guide" in c.source)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]


def _chapter_refs() -> list[tuple[str, str]]:
    import re

    refs = []
    for _, _, evidence in _table_rows():
        refs += re.findall(r"\{glue:\}`(\d\d_\w+)\.ipynb::(\w+)`", evidence)
    return refs


def test_every_row_is_measured_in_a_chapter_or_a_named_convention():
    import re

    rows = _table_rows()
    assert len(rows) >= 10
    for situation, _choice, evidence in rows:
        if evidence.startswith("Measured"):
            assert re.search(r"\{glue:\}`\d\d_\w+\.ipynb::\w+`", evidence), (
                f"{situation}: a measured row pastes its numbers from the chapter")
            assert re.search(r"\]\(\d\d_\w+\.ipynb\)", evidence), f"{situation}: links it"
        else:
            assert evidence.startswith("Convention") and "not measured" in evidence, situation
            assert "{cite}" in evidence, f"{situation}: a convention names its source"


def test_the_guide_follows_chapter_8_not_valley():
    for situation, choice, _ in _table_rows():
        assert "valley" not in choice, f"{situation}: chapter 8 measured valley behind steepest"


def test_every_value_the_guide_pastes_exists_in_its_chapter(claims):
    refs = _chapter_refs()
    assert refs
    for chapter, key in refs:
        assert key in claims(chapter), f"guide pastes {chapter}::{key}, which it does not glue"


def test_what_the_guide_pastes_from_chapter_8_says_steepest_won(claims):
    ch08 = claims("08_lr_finder")
    above(ch08["valley_ratio"], ch08["steepest_ratio"], "valley / steepest ratio to the grid")
