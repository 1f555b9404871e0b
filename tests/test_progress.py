"""lrnotes.progress: TQDM_DISABLE on every tqdm, and no bar when a notebook runs headless.

The headless test runs real kernels: one driven by nbclient (what jupyter-book, papermill and
nbval use), and one driven as a person's frontend drives it (``allow_stdin=True``).
"""

from __future__ import annotations

import sys
import types

import nbformat
import pytest

from lrnotes import progress
from lrnotes.progress import disabled_by_env, headless_kernel, progress_bar


@pytest.mark.parametrize(("value", "off"), [
    (None, False), ("", False), ("0", False), ("false", False), (" False ", False),
    ("no", False), ("off", False), ("1", True), ("true", True), ("True", True), ("yes", True),
])
def test_tqdm_disable_values(monkeypatch, value, off):
    if value is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", value)
    assert disabled_by_env() is off
    bar = progress_bar(total=3, desc="t")
    try:
        assert bar.disable is off
    finally:
        bar.close()


def test_disable_is_passed_explicitly_so_old_tqdm_and_tqdm_notebook_obey(monkeypatch):
    """tqdm < 4.66 and tqdm.notebook ignore TQDM_DISABLE unless disable is passed."""
    seen = {}

    class Recorder:
        def __init__(self, **kwargs):
            seen.update(kwargs)

    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=Recorder))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    progress_bar(total=5, desc="x")
    assert seen["disable"] is True
    monkeypatch.delenv("TQDM_DISABLE")
    progress_bar(total=5, desc="x", enabled=False)
    assert seen["disable"] is True
    progress_bar(total=5, desc="x")
    assert seen["disable"] is False
    with pytest.raises(TypeError, match="disable"):
        progress_bar(total=5, disable=True)


class _FakeKernel:
    def __init__(self, allow_stdin):
        self.allow_stdin = allow_stdin

    def get_parent(self, channel=None):
        return {"content": {"code": "", "allow_stdin": self.allow_stdin}}


@pytest.mark.parametrize(("allow_stdin", "headless"), [(False, True), (True, False)])
def test_headless_reads_the_cells_allow_stdin(monkeypatch, allow_stdin, headless):
    import IPython

    shell = types.SimpleNamespace(kernel=_FakeKernel(allow_stdin))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert headless_kernel() is headless
    bar = progress_bar(total=2)
    try:
        assert bar.disable is headless
    finally:
        bar.close()


def test_not_headless_outside_a_kernel(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert headless_kernel() is False


_CELLS = [
    "import os; os.environ.pop('TQDM_DISABLE', None)",
    "from lrnotes.progress import headless_kernel, progress_bar\n"
    "print('HEADLESS', headless_kernel())",
    "bar = progress_bar(total=10, desc='lr_find')\nprint('DISABLED', bar.disable)\n"
    "bar.update(8)\nbar.close()",
]


@pytest.mark.notebooks
def test_an_nbclient_run_saves_no_bar(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in _CELLS])
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={
        "metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in nb.cells for out in cell.outputs]
    text = "".join(out.get("text", "") for out in outputs)
    assert "HEADLESS True" in text and "DISABLED True" in text
    assert not any("application/vnd.jupyter.widget-view+json" in out.get("data", {})
                   for out in outputs)
    assert "widgets" not in nb.metadata


@pytest.mark.notebooks
def test_a_person_s_frontend_gets_the_bar():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        printed = []
        for code in _CELLS:
            kc.execute_interactive(code, allow_stdin=True, timeout=120,
                                   output_hook=lambda msg: printed.append(
                                       msg["content"].get("text", "")))
        text = "".join(printed)
        assert "HEADLESS False" in text and "DISABLED False" in text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_module_exports():
    assert {"progress_bar", "disabled_by_env", "headless_kernel"} <= set(dir(progress))
