"""The prepared GPU check (``scripts/gpu-check.sh``, issue 19) cannot rot before a GPU comes:
its dry run (the same steps, tiny sizes, on the CPU) runs here and must write every section of
its report; the rules that judge a GPU run (a skipped CUDA test is no pass, a chapter that ran
on the wrong device or lost a run fails) are checked on made-up results.

Not marked ``notebooks`` (it defines no ``CH``): the README's fast test command runs it too."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_check  # noqa: E402
from gpu_check import SECTIONS, Context, Step  # noqa: E402

from lrnotes import schedules as S  # noqa: E402


def context(tmp_path: Path, *, cuda: bool, dry_run: bool = False, data: Path | None = None):
    return Context(python=sys.executable, dry_run=dry_run, cuda=cuda, env=dict(os.environ),
                   work=tmp_path, data=data)


def test_dry_run_runs_every_step_and_writes_every_section(tmp_path):
    # scripts/test.sh's venv has them (the book extra); a venv of the unit tests alone, like
    # scripts/floors.sh's, has not, and there the dry run would only report them missing
    missing = [m for m in ("papermill", "ipykernel") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the dry run executes chapters 11 and 12, which needs {missing} "
                    "(pip install -e '.[book]')")
    out = tmp_path / "report.md"
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("OMP_NUM_THREADS", None)  # the script sets it to 1 itself
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh"), "--dry-run",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=3600)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    text = out.read_text()
    assert done.returncode == 0, text
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings == list(SECTIONS)
    assert "**PASSED**" in text and "Dry run" in text
    assert "OMP_NUM_THREADS=1" in text
    summary = re.findall(r"^\| ([^|]+) \| (\w+) \| ([\d.]+) \| (\d+) \|$", text, flags=re.M)
    assert [(name, status) for name, status, _, _ in summary] == [
        (name, "passed") for name in gpu_check.LIMITS]
    assert all(float(seconds) <= float(limit) for _, _, seconds, limit in summary)
    # each step says what it did, with its numbers
    assert re.search(r"\d+ tests: 0 passed, 0 failed, \d+ skipped", text)
    assert "needs a CUDA device" in text
    assert text.count("Profile, data set, device and every run's results as expected.") == 2
    for run in ("plateau", "one_cycle", "warmup_cosine", "constant"):
        assert re.search(rf"^\| {run} \| [01]\.\d{{4}} \| \d+\.\d{{4}} \|$", text, flags=re.M)
    assert re.search(r"^\| `lrnotes.fit\(amp='bf16'\)` \| [\d,]+ \|", text, flags=re.M)
    assert re.search(r"^\| LARS\(foreach=True\) \| [\d.]+ ms \|", text, flags=re.M)
    assert re.search(r"^\| SGD\(momentum=0.9, foreach=True\) \| [\d.]+ ms \|", text, flags=re.M)


def test_gpu_check_without_cuda_refuses_and_says_to_dry_run(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the full check would run")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--out",
                           str(tmp_path / "r.md")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert "--dry-run" in done.stderr and not (tmp_path / "r.md").exists()


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_optim" name="test_a[cuda]"/>
<testcase classname="tests.test_optim" name="test_b[cuda]"><skipped message="no bf16"/></testcase>
<testcase classname="tests.test_clip" name="test_c"><failure message="assert 1 == 2&#10;more"/>
</testcase><testcase classname="tests.test_train" name="test_d"><error message="boom"/>
</testcase></testsuite></testsuites>"""


def test_junit_counts_failures_errors_and_skips_with_their_reasons(tmp_path):
    path = tmp_path / "r.xml"
    path.write_text(JUNIT)
    result = gpu_check.parse_junit(path)
    assert (result["passed"], result["failed"], result["skipped"]) == (1, 2, 1)
    assert result["skips"] == {"no bf16": ["test_optim::test_b[cuda]"]}
    assert result["failures"] == ["test_clip::test_c: assert 1 == 2", "test_train::test_d: boom"]


def fake_pytest(monkeypatch, xml: str, code: int):
    def run_child(cmd, ctx, limit):
        junit = next(a for a in cmd if a.startswith("--junitxml="))
        Path(junit.split("=", 1)[1]).write_text(xml)
        return code, "output", 1.0

    monkeypatch.setattr(gpu_check, "run_child", run_child)


SKIPPED = ('<testsuites><testsuite><testcase classname="t" name="a[cuda]">'
           '<skipped message="needs a CUDA device"/></testcase></testsuite></testsuites>')
PASSED = '<testsuites><testsuite><testcase classname="t" name="a[cuda]"/></testsuite></testsuites>'


@pytest.mark.parametrize("cuda, xml, code, status", [
    (True, PASSED, 0, "passed"),
    (True, SKIPPED, 0, "incomplete"),   # on a GPU a skipped CUDA test proved nothing
    (False, SKIPPED, 0, "passed"),      # the dry run: every CUDA test skips
    (False, PASSED, 0, "failed"),       # a "device test" that runs without CUDA is none
    (True, JUNIT, 1, "failed"),
    (True, "<testsuites/>", 5, "failed"),  # nothing selected
])
def test_device_tests_verdict(tmp_path, monkeypatch, cuda, xml, code, status):
    fake_pytest(monkeypatch, xml, code)
    step = gpu_check.step_device_tests(context(tmp_path, cuda=cuda), 10)
    assert step.status == status, step.lines


GOOD = {"11": {"profile": "full", "dataset": "CIFAR-10", "device_type": "cuda", "epochs": 2,
               "steps_per_epoch": 3, "total_steps": 6,
               "final_acc": {"plateau": 0.1, "one_cycle": 0.2, "warmup_cosine": 0.3},
               "final_loss": {"plateau": 2.3, "one_cycle": 2.2, "warmup_cosine": 2.1}},
        "12": {"profile": "full", "dataset": "IMDB", "device_type": "cuda", "epochs": 1,
               "steps_per_epoch": 5, "total_steps": 5,
               "final_acc": {"constant": 0.5, "one_cycle": 0.6},
               "final_loss": {"constant": 0.7, "one_cycle": 0.6}}}


@pytest.mark.parametrize("chapter", ["11", "12"])
def test_chapter_results_are_judged(tmp_path, chapter):
    ctx = context(tmp_path, cuda=True)
    good = GOOD[chapter]
    assert gpu_check.chapter_problems(chapter, good, ctx) == []
    run = next(iter(good["final_loss"]))
    bad = [{**good, "device_type": "cpu"}, {**good, "profile": "quick"},
           {**good, "final_loss": {**good["final_loss"], run: math.nan}},
           {**good, "final_acc": {run: 0.5}}, {**good, "total_steps": 1}]
    for values in bad:
        assert gpu_check.chapter_problems(chapter, values, ctx), values


@pytest.mark.parametrize("dry_run, real", [(True, False), (False, False), (False, True)])
def test_every_chapter_plan_gives_the_schedules_enough_steps(tmp_path, dry_run, real):
    """The chapters build one_cycle(total_steps) and warmup(cosine(total - one epoch)): the
    planned sizes must leave both a step to rise and a step to fall (one epoch of chapter 11
    did not: its warmup filled it)."""
    data = tmp_path
    if real:
        (data / "cifar10" / "cifar-10-batches-py").mkdir(parents=True)
        (data / "cifar10" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
        for split in ("train", "test"):
            for label in ("pos", "neg"):
                (data / "aclImdb" / split / label).mkdir(parents=True)
    ctx = context(tmp_path, cuda=not dry_run, dry_run=dry_run, data=data if real else None)
    plan = gpu_check.chapter_plan("11", ctx)
    assert plan["real"] == real
    params = plan["parameters"]
    if real:
        train = params["FULL_SUBSET"]
    else:
        train = params.get("FULL_SUBSET") or 5 * plan["write"]["per_batch"]
    per_epoch = train // params.get("FULL_BATCH_SIZE", 128)
    total = params["FULL_EPOCHS"] * per_epoch
    S.one_cycle(total_steps=total)
    S.warmup(S.cosine(total_steps=total - per_epoch), steps=per_epoch)

    plan = gpu_check.chapter_plan("12", ctx)
    assert plan["real"] == real
    params = plan["parameters"]
    train = params.get("FULL_MAX_REVIEWS") or 5 * plan["write"]["copies"]
    total = params["FULL_EPOCHS"] * math.ceil(train / params.get("FULL_BATCH_SIZE", 64))
    S.one_cycle(total_steps=total)


def test_pip_keeps_the_installed_torch():
    pins = gpu_check.pins()
    assert f"torch=={importlib.metadata.version('torch')}" in pins
    cmd = gpu_check.install_command(context(Path("/tmp"), cuda=False), Path("/tmp/c.txt"))
    assert cmd[cmd.index("-c") + 1] == "/tmp/c.txt"
    assert not {"-U", "--upgrade", "--force-reinstall"} & set(cmd)
    assert ".[notebooks,test]" in cmd and cmd[cmd.index("-e") + 1] == ".[notebooks,test]"


def test_report_has_every_section_and_a_verdict():
    steps = [Step(name, status="passed", seconds=1.0, lines=["done"])
             for name in gpu_check.LIMITS]
    text = gpu_check.report(["- GPU: test"], steps, 6.0, dry_run=False)
    assert re.findall(r"^## (.+)$", text, flags=re.M) == list(SECTIONS)
    assert "**PASSED**" in text and "Dry run" not in text
    steps[3].status = "incomplete"
    assert "**FAILED**" in gpu_check.report([], steps, 6.0, dry_run=True)


def test_a_step_past_its_limit_is_stopped_with_what_it_started(tmp_path):
    ctx = context(tmp_path, cuda=False)
    code, output, seconds = gpu_check.run_child(
        ["bash", "-c", "sleep 300 & echo $!; wait"], ctx, 3)
    assert code is None and "[stopped after its limit of 3 s]" in output and seconds < 60
    grandchild = int(output.split()[0])
    for _ in range(50):  # the kill is delivered at once; reaping may take a moment
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the step's own child {grandchild} outlived the step")
    assert gpu_check.run_child(["bash", "-c", "echo ok; exit 3"], ctx, 30)[:2] == (3, "ok\n")


def test_the_steps_limits_add_up_to_under_eight_minutes():
    """Each step is stopped at its limit, so the whole check on a GPU ends within their sum
    (plus the report, seconds): issue 19's budget is 8 minutes on one GPU."""
    assert list(gpu_check.LIMITS) == ["install", "device tests", "chapter 11", "chapter 12",
                                      "fit throughput", "LARS step"]
    assert sum(gpu_check.LIMITS.values()) <= 8 * 60 - 20
