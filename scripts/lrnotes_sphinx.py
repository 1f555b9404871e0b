"""Sphinx fixes for the book's HTML, loaded by ``_config.yml`` (``sphinx.local_extensions``).

- API page: a dataclass's fields are its constructor's parameters, and napoleon/autodoc
  already list them under *Parameters*; autodoc would list each one again as a bare,
  undocumented attribute. Skip those.
- Every page: sphinx-thebe adds its configuration script (``const THEBE_JS_URL = ...``) when
  the sources are read, through both Sphinx's registry and the builder, and the two copies
  compare unequal (``None`` and ``""`` file names), so each page declared the constants twice
  (a JavaScript error). Keep one copy of each inline script.
"""

from __future__ import annotations

import dataclasses


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


def setup(app):
    app.connect("autodoc-skip-member", _skip_dataclass_fields)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
