"""Sphinx fixes for the book's HTML, loaded by ``_config.yml`` (``sphinx.local_extensions``).

- API page: a dataclass's fields are its constructor's parameters, and napoleon/autodoc
  already list them under *Parameters*; autodoc would list each one again as a bare,
  undocumented attribute. Skip those.
- Every page: sphinx-thebe adds its configuration script (``const THEBE_JS_URL = ...``) when
  the sources are read, through both Sphinx's registry and the builder, and the two copies
  compare unequal (``None`` and ``""`` file names), so each page declared the constants twice
  (a JavaScript error). Keep one copy of each inline script.
- Exercises: a chapter's answer starts at a paragraph "**Solution.**" and runs to the next
  "**Exercise N.**" or "**Solution.**" paragraph or the end of its section (the code, its
  output and the explanation). On the page it sits behind one click, closed: myst-nb's own
  ``<details>`` (the one its ``hide-input`` cells use), "Solution of exercise N".
- API page: a NamedTuple's fields document themselves as "Alias for field number 0"; the
  class's docstring says what each field is, so skip them.
- Figures: a figure's alt text says what it shows. myst-nb writes the PNG's file path as the
  alt; lrnotes.setup makes inline figures carry their titles and axis labels in the PNG's
  ``Description`` text chunk (``lrnotes.plot.describe``), read here into ``alt``.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform


def _skip_dataclass_fields(app, what, name, obj, skip, options):
    if what != "class" or skip:
        return None
    temp = app.env.temp_data
    cls = _resolve(temp.get("autodoc:module"), temp.get("autodoc:class"))
    if cls is not None and dataclasses.is_dataclass(cls):
        if name in {f.name for f in dataclasses.fields(cls)}:
            return True
    return None


def _resolve(module: str | None, name: str | None):
    if not module or not name:
        return None
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        body = getattr(script, "attributes", {}).get("body")
        key = ("body", body) if body else ("file", str(script))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def _skip_namedtuple_aliases(app, what, name, obj, skip, options):
    doc = getattr(obj, "__doc__", None) or ""
    if what == "class" and not skip and doc.startswith("Alias for field number"):
        return True
    return None


def _is_label(node, word: str) -> bool:
    """A paragraph that starts with ``**word**`` (``**Solution.**``, ``**Exercise 2.**``)."""
    if not isinstance(node, nodes.paragraph):
        return False
    first = next((c for c in node.children if c.astext().strip()), None)
    return isinstance(first, nodes.strong) and first.astext().startswith(word)


class FoldSolutions(SphinxPostTransform):
    """Wrap each "**Solution.**" and what follows it in one closed ``<details>``."""

    default_priority = 198  # before myst-nb's HideInputCells (199), which nests inside
    formats = ("html",)

    def run(self, **kwargs):
        from myst_nb.sphinx_ import HideCodeCellNode

        numbers: dict[int, int] = {}
        for label in list(self.document.findall(nodes.paragraph)):
            if not _is_label(label, "Solution") or label.astext().strip() != "Solution.":
                continue
            parent = label.parent
            # the n-th answer of a section answers its n-th exercise (also where the
            # exercises are a numbered list above both answers)
            number = numbers[id(parent)] = numbers.get(id(parent), 0) + 1
            start = parent.index(label)
            end = start + 1
            while end < len(parent) and not isinstance(parent[end], nodes.section) and not \
                    any(_is_label(parent[end], word) for word in ("Exercise", "Solution")):
                end += 1
            fold = HideCodeCellNode(prompt_show=f"Solution of exercise {number}",
                                    prompt_hide=f"Hide the solution of exercise {number}")
            fold["classes"] += ["solution", "above-input"]
            fold.extend(parent[start + 1:end])
            parent[start:end] = [fold]
            for cell in fold.findall(nodes.container):
                # one click shows all of it: no second fold around the solution's code
                if cell.get("nb_element") == "cell_code":
                    cell["hide_mode"] = None


def png_description(path: Path) -> str | None:
    """The ``Description`` text chunk (tEXt, zTXt or iTXt) of a PNG file, if it has one."""
    return png_description_bytes(path.read_bytes())


def png_description_bytes(data: bytes) -> str | None:
    """``png_description`` of a PNG's bytes."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    at = 8
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + size]
        at += 12 + size
        key, _, rest = body.partition(b"\0")
        if key != b"Description":
            continue
        if kind == b"tEXt":
            return rest.decode("latin-1")
        if kind == b"zTXt":
            return zlib.decompress(rest[1:]).decode("latin-1")
        if kind == b"iTXt":
            compressed, rest = rest[0], rest[2:]
            text = rest.split(b"\0", 2)[2]
            return (zlib.decompress(text) if compressed else text).decode("utf-8")
    return None


class FigureAltText(SphinxPostTransform):
    """Replace the file path myst-nb writes as a figure's alt with what the figure shows."""

    default_priority = 400
    formats = ("html",)

    def run(self, **kwargs):
        for image in self.document.findall(nodes.image):
            uri = image.get("uri", "")
            if not uri.endswith(".png"):
                continue
            path = Path(self.env.srcdir) / uri
            if not path.exists():
                continue
            described = png_description(path)
            if described:
                image["alt"] = described


def setup(app):
    app.connect("autodoc-skip-member", _skip_dataclass_fields)
    app.connect("autodoc-skip-member", _skip_namedtuple_aliases)
    app.add_post_transform(FoldSolutions)
    app.add_post_transform(FigureAltText)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
