"""Smoke test of the benchmarks: every script runs with tiny sizes and fills its rows.

No timing assertions: only that the table has every row and finite, positive times.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXPECTED = [
    ("schedules", "cosine: optimizer.step() + attach(...).step()"),
    ("schedules", "one_cycle (with momentum): optimizer.step() + attach(...).step()"),
    ("schedules", "step: optimizer.step() + attach(...).step()"),
    ("schedules", "cosine.values(10_000)"),
    ("schedules", "one_cycle.values(10_000)"),
    ("schedules", "warmup(cosine).values(10_000)"),
    ("LARS", "LARS.step() (foreach=None, default)"),
    ("LARS", "LARS.step() (foreach=True)"),
    ("lr_find", "lr_find(...) (incl. snapshot and restore)"),
    ("fit", "fit(...) one epoch, progress + TensorBoard off"),
    ("fit", "fit(...) one epoch, progress + TensorBoard on"),
    ("fit", "fit(amp='bf16') channels-last throughput"),
]


def test_run_all_quick_writes_every_row(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("TQDM_DISABLE", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--throughput",
         "--device", "cpu", "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["rows"]
    names = [(row["group"], row["name"]) for row in rows]
    for expected in EXPECTED:
        assert expected in names, f"missing row {expected}"
    # LARS is compared with two peers, each in two foreach modes
    assert sum(group == "LARS" for group, _ in names) == 4

    for row in rows:
        assert math.isfinite(row["lrnotes_s"]) and row["lrnotes_s"] > 0, row
        if row["peer_s"] is not None:
            assert math.isfinite(row["peer_s"]) and row["peer_s"] > 0, row
            assert math.isclose(row["ratio"], row["lrnotes_s"] / row["peer_s"])
        else:
            assert row["ratio"] is None and row["group"] == "schedules"

    finder = next(row for row in rows if row["group"] == "lr_find")
    suggestions = finder["extra"]["suggestions"]
    assert set(suggestions) == {"lrnotes_steepest", "lrnotes_valley", "torch_lr_finder_steepest"}
    assert all(v is None or v > 0 for v in suggestions.values())

    info = results["machine"]
    assert info["torch_threads"] == 1 and info["quick"] is True
    table = (tmp_path / "results.md").read_text()
    assert table in done.stdout  # run_all prints the table it writes
    for group, name in EXPECTED:
        assert f"| {name} " in table and f"**{group}**" in table
    assert table.count("| lrnotes vs peer | ratio | lrnotes | peer | spread |") == len(
        {group for group, _ in EXPECTED})


def test_book_times_counts_the_kernels_cpu_and_accepts_only_tagged_errors(tmp_path):
    """A chapter whose only error is in a cell tagged raises-exception is timed (the slide's
    real error is page content); any other error fails the run. CPU time is the kernel's."""
    import nbformat
    import papermill
    import pytest

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import book_times

    def notebook(name, tags):
        cells = [nbformat.v4.new_code_cell("s = sum(i * i for i in range(3_000_000))"),
                 nbformat.v4.new_code_cell("raise ValueError('the slide')")]
        cells[1].metadata["tags"] = tags
        nb = nbformat.v4.new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        path = tmp_path / name
        nbformat.write(nb, path)
        return path

    out = tmp_path / "out"
    out.mkdir()
    wall, cpu = book_times._run_chapter(notebook("tagged.ipynb", ["raises-exception"]), out)
    assert 0 < cpu and 0 < wall
    with pytest.raises(papermill.PapermillExecutionError):
        book_times._run_chapter(notebook("untagged.ipynb", []), out)


def _effect_sizes():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import effect_sizes
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return effect_sizes


def test_effect_sizes_reads_the_glued_values_and_measures_in_the_larger_sd(tmp_path):
    es = _effect_sizes()
    comparison = es.Comparison("t", "99_x", "w", "val acc", "A", "B",
                               lambda g: (es.Arm(values=g["a"]), es.Arm(values=g["b"])))
    glued_file = tmp_path / "99_x.glue.json"
    glued_file.write_text(json.dumps({
        key: {"metadata": {"lrnotes": {"value": value}}, "data": {"text/plain": "x"}}
        for key, value in {"a": [0.8, 0.9, 1.0], "b": [0.7, 0.7, 0.7]}.items()}))
    row = es.effect(comparison, es.read_glue(glued_file))
    sd_a = math.sqrt(((0.1) ** 2 * 2) / 3)  # numpy's std, as the chapters
    assert math.isclose(row["mean_a"], 0.9) and math.isclose(row["sd_a"], sd_a)
    assert math.isclose(row["diff"], 0.2) and math.isclose(row["diff_in_sd"], 0.2 / sd_a)
    assert row["where"] == "outside" and row["seeds"] == 3


def test_effect_sizes_names_the_build_it_cannot_read(tmp_path, capsys):
    es = _effect_sizes()
    try:
        es.main(["--build", str(tmp_path), "--out", str(tmp_path / "out")])
    except SystemExit as exit:
        assert exit.code == 2
    else:
        raise AssertionError("main() accepted a build without glued values")
    assert "--build: no glued values of 03_cosine_annealing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
