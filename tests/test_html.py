"""The built HTML has none of the defects a reader sees: progress bars, echoed values, shrunk
figures, tables wider than the column, nbval markers, broken internal links.

Each check is a function of one page (its parsed HTML and its path) that returns the
problems it finds, one line each; the tests run every check on every page of the built book,
and on small hand-written pages that have the defect, so that each check can fail.

The column: sphinx-book-theme shows the article in a column of about 688 px at a 1280 px
window (measured in headless Chromium); at 400 px it is about 368 px.
"""

from __future__ import annotations

import ast
import io
import re
import struct
import tokenize
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import bs4
import pytest

COLUMN_PX = 688
TOO_LARGE = 1.5  # an image drawn at less than 1 / 1.5 of its size has unreadable text
MONO_PX = 8.4  # width of a character of the code font (14 px monospace)
TEXT_PX = 8.0  # average width of a character in a table cell (16 px sans-serif), generous
CELL_PADDING_PX = 16
PROGRESS = re.compile(r"\d+%\|[^|\n]*\|\s*\d+/\d+|\d+/\d+ \[\d+:\d+|it/s\]")


def _soup(html: str):
    return bs4.BeautifulSoup(html, "html.parser")


def _article(soup):
    return soup.find("article") or soup


# ---------------------------------------------------------------------------------------------
# The checks: (soup, page path, html root) -> problems


def progress_bars(soup, page: Path, root: Path) -> list[str]:
    """Widget outputs (a tqdm bar saved as a widget) and text progress bars in outputs."""
    problems = []
    for script in soup.find_all("script", type=re.compile("jupyter.widget")):
        problems.append(f"widget output ({script.get('type')})")
    for tag in soup.find_all(class_=re.compile("jupyter-widgets|widget-")):
        problems.append(f"widget element <{tag.name} class={' '.join(tag.get('class'))}>")
    for output in soup.select("div.cell_output"):
        text = output.get_text()
        if PROGRESS.search(text):
            problems.append(f"progress bar in an output: {PROGRESS.search(text).group(0)!r}")
    return problems


def _ends_in_expression(source: str) -> bool:
    """Whether IPython would display the value of the cell's last statement."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        try:
            source = TransformerManager().transform_cell(source)
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return False
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return False
    value = tree.body[-1].value
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("print", "display"):
            return False
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT)]
    return not (tokens and tokens[-1].string == ";")


def echoed_values(soup, page: Path, root: Path) -> list[str]:
    """A text value shown under a cell that ends in a bare expression (end it with `;`)."""
    problems = []
    for cell in soup.select("div.cell"):
        code = cell.select_one("div.cell_input pre")
        if code is None:
            continue
        shown = cell.select("div.cell_output div.output.text_plain")
        if shown and _ends_in_expression(code.get_text()):
            last = code.get_text().strip().splitlines()[-1]
            value = shown[-1].get_text().strip().splitlines()[0][:60] if shown[-1].get_text(
                ).strip() else ""
            problems.append(f"cell ending `{last[:70]}` shows its value {value!r}")
    return problems


def _png_size(path: Path) -> tuple[int, int] | None:
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def _px(value) -> float | None:
    if value is None:
        return None
    m = re.fullmatch(r"\s*([0-9.]+)\s*(px)?\s*", str(value))
    return float(m.group(1)) if m else None


def oversized_images(soup, page: Path, root: Path) -> list[str]:
    """Figures whose natural width exceeds the width the column shows by more than 1.5x."""
    problems = []
    for img in _article(soup).find_all("img"):
        src = img.get("src", "")
        if not src or urlsplit(src).scheme or src.startswith("data:"):
            continue
        path = (page.parent / unquote(urlsplit(src).path)).resolve()
        if not path.exists() or (size := _png_size(path)) is None:
            continue
        style = dict(re.findall(r"([\w-]+)\s*:\s*([^;]+)", img.get("style", "")))
        natural = _px(img.get("width")) or _px(style.get("width")) or size[0]
        shown = min(natural, COLUMN_PX)
        if natural / shown > TOO_LARGE:
            problems.append(f"{path.name}: {natural:.0f} px wide, shown at {shown} px "
                            f"({100 * shown / natural:.0f} %)")
    return problems


def wide_tables(soup, page: Path, root: Path) -> list[str]:
    """HTML tables, and text tables in outputs, wider than the column."""
    problems = []
    for table in _article(soup).find_all("table"):
        widths: dict[int, int] = {}
        for row in table.find_all("tr"):
            for i, cell in enumerate(row.find_all(["td", "th"])):
                longest = max((len(w) for w in cell.get_text(" ").split()), default=0)
                text = len(" ".join(cell.get_text(" ").split()))
                # a cell wraps at spaces, but not below its longest word or ~24 characters
                widths[i] = max(widths.get(i, 0), min(text, max(longest, 24)))
        px = sum(w * TEXT_PX + CELL_PADDING_PX for w in widths.values())
        if px > COLUMN_PX:
            head = " | ".join(th.get_text(" ", strip=True) for th in table.find_all("th")[:8])
            problems.append(f"table of {len(widths)} columns about {px:.0f} px wide ({head})")
    limit = int((COLUMN_PX - 2 * CELL_PADDING_PX) / MONO_PX)
    for output in soup.select("div.cell_output pre"):
        lines = output.get_text().splitlines()
        wide = [line for line in lines if len(line.rstrip()) > limit]
        if wide:
            problems.append(f"output line of {len(wide[0].rstrip())} characters (the column "
                            f"holds {limit}): {wide[0][:50]!r}...")
    return problems


def nbval_markers(soup, page: Path, root: Path) -> list[str]:
    """nbval's comment markers in code shown to readers (use the cell tags instead)."""
    return [f"`{m}` in a code cell" for cell in soup.select("div.cell_input")
            for m in re.findall(r"#\s*NBVAL_\w+", cell.get_text())]


@cache
def _ids(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))


def broken_links(soup, page: Path, root: Path) -> list[str]:
    """Links and assets inside the site that lead nowhere (a missing file or anchor)."""
    problems = []
    for tag, attr in (("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")):
        for el in soup.find_all(tag):
            url = el.get(attr)
            if not url or url.startswith(("mailto:", "javascript:", "data:")):
                continue
            parts = urlsplit(url)
            if parts.scheme or parts.netloc:
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"<{tag} {attr}={url!r}>: no such file")
                continue
            fragment = unquote(parts.fragment)
            if tag == "a" and fragment and target.suffix == ".html" and \
                    fragment not in _ids(target):
                problems.append(f"<a href={url!r}>: no anchor #{fragment} in {target.name}")
    return problems


def page_chrome(soup, page: Path, root: Path) -> list[str]:
    """One thebe configuration script (two declare its constants twice) and one search box."""
    problems = []
    thebe = sum("THEBE_JS_URL" in (s.string or "") for s in soup.find_all("script"))
    if thebe > 1:
        problems.append(f"thebe's configuration script {thebe} times")
    searches = [b for b in soup.select(".search-button-field")
                if not b.find_parent(class_="navbar-persistent--mobile")]
    if len(searches) > 1:
        problems.append(f"{len(searches)} search boxes on a desktop")
    return problems


def fields_listed_twice(soup, page: Path, root: Path) -> list[str]:
    """API entries whose parameters are listed again as bare, undocumented attributes."""
    problems = []
    for cls in soup.select("dl.py.class"):
        body = cls.find("dd")
        if body is None:
            continue
        params = {strong.get_text() for field in body.find_all("dl", class_="field-list",
                                                               recursive=False)
                  for strong in field.find_all("strong")}
        for attr in body.find_all("dl", class_="attribute", recursive=False):
            name = attr.select_one(".sig-name")
            described = attr.find("dd")
            if name and name.get_text() in params and not (described and described.get_text(
                    strip=True)):
                problems.append(f"{cls.dt.get('id')}: {name.get_text()} listed twice")
    return problems


def open_answers(soup, page: Path, root: Path) -> list[str]:
    """Exercise answers a reader sees before trying: a "Solution." label left in the page
    (scripts/lrnotes_sphinx.py folds each answer into a closed <details>), or a fold that is
    open by default."""
    problems = [f"answer in view after {_near(strong)!r}" for strong in
                _article(soup).find_all("strong") if strong.get_text(strip=True) == "Solution."
                and not strong.find_parent("details", open=False)]
    problems += [f"solution fold open by default ({d.summary.get_text(' ', strip=True)[:40]})"
                 for d in _article(soup).select("details.solution") if d.has_attr("open")]
    for fold in _article(soup).select("details.solution"):
        if not fold.select("div.cell") and not fold.find("p", recursive=False):
            problems.append("an empty solution fold")
    return problems


def _near(tag) -> str:
    before = tag.find_previous(string=re.compile(r"\S"))
    return before.strip()[:50] if before else ""


def _glue_call(node) -> bool:
    call = node.value if isinstance(node, (ast.Expr, ast.Assign)) else None
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) == "glue"


def glue_bookkeeping(soup, page: Path, root: Path) -> list[str]:
    """Code a reader reads that ends in glue(...) calls (move them to a remove-input cell)."""
    problems = []
    for code in soup.select("div.cell_input pre"):
        source = code.get_text()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        trailing = 0
        for statement in reversed(tree.body):
            if not _glue_call(statement):
                break
            trailing += 1
        if trailing:
            first = source.strip().splitlines()[0][:60]
            problems.append(f"cell `{first}` ends in {trailing} glue call(s)")
    return problems


def path_alt_text(soup, page: Path, root: Path) -> list[str]:
    """Figures whose alt text is a file name or path (useless to a screen reader) or empty."""
    problems = []
    for img in _article(soup).find_all("img"):
        alt = (img.get("alt") or "").strip()
        if not alt or re.search(r"\.(png|jpe?g|svg|gif)\b|/_images/|^\S*/\S*$", alt):
            problems.append(f"{img.get('src', '')[-30:]}: alt {alt!r}")
    return problems


INHERITED = ("Define the computation performed at every call",
             "Return self==value", "Initialize self.  See help(type(self))")


def inherited_docstrings(soup, page: Path, root: Path) -> list[str]:
    """API entries that repeat a docstring of torch or Python instead of saying anything."""
    text = _article(soup).get_text(" ")
    problems = [f"inherited docstring {phrase!r} ({text.count(phrase)} times)"
                for phrase in INHERITED if phrase in text]
    problems += [f"NamedTuple field alias: {m.group(0)!r}"
                 for m in re.finditer(r"Alias for field number \d+", text)]
    problems += [f"default shown as an object: {m.group(0)!r}"
                 for m in re.finditer(r"<(function|class|bound method) [^>]*>", text)]
    return problems


MACHINE_PATH = re.compile(r"(/tmp/|/home/|/root/|/Users/|site-packages|dist-packages|"
                          r"/usr/lib/|ipykernel_\d+|[A-Z]:\\Users)")


def machine_paths(soup, page: Path, root: Path) -> list[str]:
    """Paths of the machine that built the book in what a cell printed."""
    problems = []
    for output in soup.select("div.cell_output"):
        for line in output.get_text().splitlines():
            if MACHINE_PATH.search(line):
                problems.append(f"output line {line.strip()[:80]!r}")
    return problems


CHECKS = [progress_bars, echoed_values, oversized_images, wide_tables, nbval_markers,
          broken_links, page_chrome, fields_listed_twice, open_answers, glue_bookkeeping,
          path_alt_text, inherited_docstrings, machine_paths]


# ---------------------------------------------------------------------------------------------
# The built book


def _pages(html_root: Path) -> list[Path]:
    return sorted((html_root / "book").glob("*.html")) + [html_root / "index.html"]


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_built_pages_have_no_defect(built_book, check):
    problems = []
    for page in _pages(built_book):
        soup = _soup(page.read_text())
        problems += [f"{page.relative_to(built_book)}: {p}" for p in check(soup, page, built_book)]
    assert not problems, f"{check.__doc__.splitlines()[0]}\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Each check on a page that has its defect, and on one that does not


def _page(tmp_path: Path, body: str, name: str = "page.html") -> tuple:
    (tmp_path / "book").mkdir(exist_ok=True)
    page = tmp_path / "book" / name
    page.write_text(f"<html><head></head><body><article>{body}</article></body></html>")
    return _soup(page.read_text()), page, tmp_path


def _cell(code: str, output: str = "") -> str:
    out = f'<div class="cell_output docutils container">{output}</div>' if output else ""
    return (f'<div class="cell docutils container"><div class="cell_input docutils container">'
            f"<pre>{code}</pre></div>{out}</div>")


def _text(kind: str, text: str) -> str:
    return f'<div class="output {kind} highlight-myst-ansi notranslate"><pre>{text}</pre></div>'


def _png(path: Path, width: int, height: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
                     + struct.pack(">II", width, height) + b"\x08\x06\x00\x00\x00")


def test_progress_bars_are_found(tmp_path):
    bar = _cell("result = lr_find(model, loader, opt, loss_fn)",
                _text("stderr", "lr_find:  84%|████████▍ | 84/100 [00:03&lt;00:00, 25.1it/s]"))
    widget = ('<script type="application/vnd.jupyter.widget-view+json">'
              '{"model_id": "abc"}</script>')
    assert len(progress_bars(*_page(tmp_path, bar))) == 1
    assert len(progress_bars(*_page(tmp_path, widget))) == 1
    fine = _cell("print(history)", _text("stream", "epoch 3: loss 0.25, 100% of the data"))
    assert progress_bars(*_page(tmp_path, fine)) == []


@pytest.mark.parametrize("code, flagged", [
    ("x = 2\nlrnotes.glue('x', x)", True),
    ("np.float64(5.5)", True),
    ("ax.legend()  # the lines", True),
    ("lrnotes.glue('x', x);", False),
    ("lrnotes.glue('x', x);  # hidden", False),
    ("x = lrnotes.glue('x', x)", False),
    ("print(x)", False),
    ("for i in range(3):\n    f(i)", False),
    ("!pip install lrnotes\nvalue", True),
])
def test_echoed_values_are_found(tmp_path, code, flagged):
    body = _cell(code, _text("text_plain", "np.float64(5.5)"))
    assert bool(echoed_values(*_page(tmp_path, body))) is flagged
    # a cell that prints, or whose value is not text (a figure), shows nothing stray
    streamed = _cell(code, _text("stream", "5.5"))
    assert echoed_values(*_page(tmp_path, streamed)) == []


def test_oversized_images_are_found(tmp_path):
    _png(tmp_path / "_images" / "wide.png", 1400)
    _png(tmp_path / "_images" / "fits.png", 800)
    _png(tmp_path / "_images" / "retina.png", 1600)
    wide = '<img src="../_images/wide.png">'
    fits = '<img src="../_images/fits.png">'
    retina = '<img src="../_images/retina.png" width="680">'
    assert len(oversized_images(*_page(tmp_path, wide))) == 1
    assert oversized_images(*_page(tmp_path, fits + retina)) == []


def test_wide_tables_are_found(tmp_path):
    head = "".join(f"<th>column {i} header</th>" for i in range(8))
    row = "".join(f"<td>{i}.123 ms</td>" for i in range(8))
    wide = f"<table><tr>{head}</tr><tr>{row}</tr></table>"
    narrow = "<table><tr><th>schedule</th><th>ratio</th></tr><tr><td>cosine</td>" \
             "<td>1.02</td></tr></table>"
    assert len(wide_tables(*_page(tmp_path, wide))) == 1
    assert wide_tables(*_page(tmp_path, narrow)) == []
    long_line = _cell("print(table)", _text("stream", "torch says: " + "x" * 100))
    short = _cell("print(table)", _text("stream", "a table\n" + "y" * 70))
    assert len(wide_tables(*_page(tmp_path, long_line))) == 1
    assert wide_tables(*_page(tmp_path, short)) == []


def test_nbval_markers_are_found(tmp_path):
    marked = _cell("# NBVAL_CHECK_OUTPUT\nprint(table)", _text("stream", "table"))
    assert nbval_markers(*_page(tmp_path, marked)) == ["`# NBVAL_CHECK_OUTPUT` in a code cell"]
    assert nbval_markers(*_page(tmp_path, _cell("print(table)"))) == []


def test_broken_links_are_found(tmp_path):
    _page(tmp_path, '<h2 id="warmup">Warmup</h2>', name="other.html")
    good = ('<a href="other.html#warmup">x</a><a href="#here">y</a><p id="here"></p>'
            '<a href="https://example.org/missing">z</a>')
    bad = ('<a href="other.html#cooldown">x</a><a href="missing.html">y</a>'
           '<img src="../_images/none.png">')
    assert broken_links(*_page(tmp_path, good)) == []
    assert len(broken_links(*_page(tmp_path, bad))) == 3


def test_duplicate_page_chrome_is_found(tmp_path):
    thebe = '<script>const THEBE_JS_URL = "x"; const thebe_selector = ".cell"</script>'
    search = '<button class="btn search-button-field">Search</button>'
    mobile = f'<div class="navbar-persistent--mobile">{search}</div>'
    assert len(page_chrome(*_page(tmp_path, thebe * 2 + search * 2))) == 2
    assert page_chrome(*_page(tmp_path, thebe + search + mobile)) == []


def test_fields_listed_twice_are_found(tmp_path):
    def api(attr_doc: str) -> str:
        return ('<dl class="py class"><dt id="lrnotes.schedules.constant">constant</dt><dd>'
                '<dl class="field-list simple"><dt>Parameters</dt><dd><p><strong>value</strong>'
                ' (<em>float</em>)</p></dd></dl><dl class="py attribute"><dt>'
                f'<span class="sig-name descname">value</span></dt><dd>{attr_doc}</dd></dl>'
                "</dd></dl>")

    assert fields_listed_twice(*_page(tmp_path, api(""))) == [
        "lrnotes.schedules.constant: value listed twice"]
    assert fields_listed_twice(*_page(tmp_path, api("<p>The multiplier.</p>"))) == []


def test_open_answers_are_found(tmp_path):
    question = "<p><strong>Exercise 1.</strong> Lower the rate.</p>"
    shown = question + "<p><strong>Solution.</strong></p>" + _cell("train(lr)", _text(
        "stream", "loss 0.1")) + "<p>It converges.</p>"
    assert len(open_answers(*_page(tmp_path, shown))) == 1

    def fold(attrs: str = "") -> str:
        return (f'<details class="admonition hide solution"{attrs}><summary>Solution of '
                f'exercise 1</summary>{_cell("train(lr)")}<p>It converges.</p></details>')

    assert open_answers(*_page(tmp_path, question + fold())) == []
    assert len(open_answers(*_page(tmp_path, question + fold(" open")))) == 1


@pytest.mark.parametrize("code, flagged", [
    ("x = train()\nglue('x', x)\nglue('y', 2);", True),
    ("y = glue('y', final_loss(x), '{:.3f}')", True),
    ("lrnotes.glue('x', x);", True),
    ("num_epochs = glue('epochs', EPOCHS)\ntrain(num_epochs)", False),
    ("x = train()\nprint(x)", False),
    ("%%expect_error NameError\nmath.pi", False),
])
def test_glue_bookkeeping_is_found(tmp_path, code, flagged):
    assert bool(glue_bookkeeping(*_page(tmp_path, _cell(code)))) is flagged


@pytest.mark.parametrize("alt, flagged", [
    ("../_images/3f2a9c.png", True),
    ("_build/jupyter_execute/abc.png", True),
    ("", True),
    ("Loss per epoch: training loss against epoch", False),
])
def test_path_alt_text_is_found(tmp_path, alt, flagged):
    body = f'<img src="../_images/3f2a9c.png" alt="{alt}">'
    assert bool(path_alt_text(*_page(tmp_path, body))) is flagged


def test_inherited_docstrings_and_aliases_are_found(tmp_path):
    def entry(doc: str, signature: str = "MLP(sizes)") -> str:
        return f'<dl class="py class"><dt>{signature}</dt><dd><p>{doc}</p></dd></dl>'

    bad = (entry("Define the computation performed at every call.")
           + entry("Alias for field number 0", "Position.epoch")
           + entry("A model.", "LSTMClassifier(tokenizer=&lt;function tokenize&gt;)"))
    assert len(inherited_docstrings(*_page(tmp_path, bad))) == 3
    good = entry("A multilayer perceptron.") + entry("The epoch.", "Position.epoch")
    assert inherited_docstrings(*_page(tmp_path, good + entry(
        "A model.", "LSTMClassifier(tokenizer=tokenize)"))) == []


@pytest.mark.parametrize("printed, flagged", [
    ("Overwriting /tmp/lrnotes_slide12.py", True),
    ('File "/tmp/ipykernel_4242/1234.py", line 9', True),
    ("/usr/lib/python3/site-packages/torch/nn/modules/module.py", True),
    ("/home/reader/.cache/lrnotes/cifar-10", True),
    ("line 12, in <module>\nAttributeError: 'tuple' object has no attribute 'size'", False),
    ("lr 1e-3 / 10 = 1e-4 per group", False),
])
def test_machine_paths_are_found(tmp_path, printed, flagged):
    body = _cell("run()", _text("stream", printed))
    assert bool(machine_paths(*_page(tmp_path, body))) is flagged
