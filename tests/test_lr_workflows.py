"""Issue 23: the learning rate is never silently wrong in the workflows people use.

One test per case of the issue (each fails on the code before it), then variants: a run
trains on the lr that was meant, or refuses before its first update (weights, optimizer and
files unchanged), or warns naming both lengths."""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.optim import lr_scheduler as L
from torch.utils.data import DataLoader, TensorDataset

import lrnotes
from lrnotes import schedules as S
from lrnotes.finder import lr_find
from lrnotes.runplan import CompletedRunWarning, ScheduleLengthWarning
from lrnotes.train import fit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LR = 0.1
N = 5  # batches (= updates) per epoch of `loader()`


def data(n: int = 40) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return TensorDataset(x, (x.sum(1) > 0).long())


def loader(batch_size: int = 8) -> DataLoader:
    return DataLoader(data(), batch_size=batch_size)


def model_and_opt(lr: float = LR) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    return model, torch.optim.SGD(model.parameters(), lr=lr)


def train(scheduler_of, epochs: int = 4, **kwargs):
    model, opt = model_and_opt()
    sched = scheduler_of(opt)
    history = fit(model, kwargs.pop("train_loader", loader()), opt, nn.CrossEntropyLoss(),
                  epochs, scheduler=sched, progress=False, **kwargs)
    return history.lr[:, 0], history


def per_epoch_lrs(scheduler_of, epochs: int, steps: int = N) -> np.ndarray:
    """The lr of every update when the torch scheduler is stepped once per epoch."""
    _, opt = model_and_opt()
    sched = scheduler_of(opt)
    lrs = []
    for _ in range(epochs):
        lrs += [opt.param_groups[0]["lr"]] * steps
        opt.step()
        sched.step()
    return np.array(lrs)


def unchanged(model: nn.Module, opt: torch.optim.Optimizer, before: list[torch.Tensor],
              lrs: list[float]) -> bool:
    return all(torch.equal(a, b) for a, b in zip(model.parameters(), before, strict=True)) \
        and [g["lr"] for g in opt.param_groups] == lrs and not opt.state


def refuses(scheduler_of, match: str, epochs: int = 4, **kwargs) -> None:
    """fit raises ValueError(match) and no weight, lr or optimizer state changed."""
    model, opt = model_and_opt()
    sched = scheduler_of(opt)
    before = [p.detach().clone() for p in model.parameters()]
    lrs = [g["lr"] for g in opt.param_groups]
    with pytest.raises(ValueError, match=match):
        fit(model, kwargs.pop("train_loader", loader()), opt, nn.CrossEntropyLoss(), epochs,
            scheduler=sched, progress=False, **kwargs)
    assert unchanged(model, opt, before, lrs)


# --- the cases of the issue -------------------------------------------------------------------


def test_steplr_is_stepped_once_per_epoch_as_in_plain_torch_code():
    make = lambda opt: L.StepLR(opt, step_size=2, gamma=0.5)  # noqa: E731
    lrs, _ = train(make)
    np.testing.assert_allclose(lrs, per_epoch_lrs(make, 4))
    np.testing.assert_allclose(lrs[::N], [0.1, 0.1, 0.05, 0.05])


def test_cosine_annealing_with_t_max_in_epochs_is_stepped_per_epoch():
    make = lambda opt: L.CosineAnnealingLR(opt, T_max=4)  # noqa: E731
    lrs, _ = train(make)
    np.testing.assert_allclose(lrs, per_epoch_lrs(make, 4))
    assert len(set(np.round(lrs, 12))) == 4  # one value per epoch, not 20 oscillating ones


def test_an_update_counting_schedule_stepped_per_epoch_is_refused_naming_the_fix():
    refuses(lambda opt: S.attach(opt, S.cosine(4)), r"count='calls'.*|S\.epochs",
            step_scheduler="epoch")


def test_a_schedule_that_ends_before_the_run_warns_naming_both_lengths():
    with pytest.warns(ScheduleLengthWarning, match=r"ends at update 12, before the run's 20 "
                                                   r"updates: the last 8 updates hold 0"):
        train(lambda opt: S.attach(opt, S.warmup(S.cosine(2 * N), steps=2)))


def test_a_schedule_longer_than_the_run_warns_naming_both_lengths():
    with pytest.warns(ScheduleLengthWarning, match=r"ends at update 40, after the run's 20 "
                                                   r"updates"):
        train(lambda opt: S.attach(opt, S.cosine(8 * N)))


def resumable_run(tmp_path, epochs, schedule, **kwargs):
    model, opt = model_and_opt()
    sched = S.attach(opt, schedule)
    history = fit(model, loader(), opt, nn.CrossEntropyLoss(), epochs, scheduler=sched,
                  checkpoint=tmp_path / "ck.pt", resume=True, progress=False, **kwargs)
    return model, opt, history


def test_growing_a_run_with_a_new_schedule_is_refused_before_anything_is_restored(tmp_path):
    resumable_run(tmp_path, 3, S.cosine(3 * N))
    saved = (tmp_path / "ck.pt").read_bytes()
    model, opt = model_and_opt()
    before = [p.detach().clone() for p in model.parameters()]
    sched = S.attach(opt, S.cosine(6 * N))
    with pytest.raises(ValueError, match=r"differs from the one passed.*reschedule='extend'"):
        fit(model, loader(), opt, nn.CrossEntropyLoss(), 6, scheduler=sched,
            checkpoint=tmp_path / "ck.pt", resume=True, progress=False)
    assert unchanged(model, opt, before, [LR * S.cosine(6 * N)(0)]) and sched.last_epoch == 0
    assert (tmp_path / "ck.pt").read_bytes() == saved
    # the saved cosine has ended (lr 0): extending it is refused too, naming 'replace'
    with pytest.raises(ValueError, match=r"ended at update 15.*reschedule='replace'"):
        resumable_run(tmp_path, 6, S.cosine(6 * N), reschedule="extend")
    _, _, history = resumable_run(tmp_path, 6, S.cosine(6 * N), reschedule="replace")
    np.testing.assert_allclose(history.lr[3 * N:, 0],
                               LR * S.cosine(6 * N).values(6 * N)[3 * N:])


def test_growing_a_run_with_extend_keeps_the_lr_continuous(tmp_path):
    with pytest.warns(ScheduleLengthWarning):  # 2 of the planned 3 epochs: cut short
        resumable_run(tmp_path, 2, S.warmup(S.cosine(3 * N - 2), steps=2))
    _, _, history = resumable_run(tmp_path, 4, S.warmup(S.cosine(4 * N - 2), steps=2),
                                  reschedule="extend")
    planned = S.warmup(S.cosine(3 * N - 2), steps=2)
    grown = S.extended(planned, at=2 * N, total_steps=4 * N)
    np.testing.assert_allclose(history.lr[:, 0], LR * grown.values(4 * N))
    assert history.lr[2 * N, 0] == pytest.approx(LR * planned(2 * N))  # continuous


def test_resuming_a_finished_checkpoint_says_so(tmp_path):
    resumable_run(tmp_path, 1, S.constant(1.0))
    with pytest.warns(CompletedRunWarning, match="already holds all 1 epochs"):
        _, _, history = resumable_run(tmp_path, 1, S.constant(1.0))
    assert history.num_steps == N


README_RUNNER = '''
import sys, torch
from torch.utils.data import DataLoader, TensorDataset
import lrnotes

class MyModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.LayerNorm(16),
                                       torch.nn.Tanh(), torch.nn.Linear(16, 2))
    def forward(self, x):
        return self.net(x)

g = torch.Generator().manual_seed(0)
x = torch.randn(EXAMPLES, 4, generator=g)
dataset = TensorDataset(x, (x.sum(1) > 0).long())
train_loader = DataLoader(dataset, batch_size=8, shuffle=True)
val_loader = DataLoader(dataset, batch_size=32)
'''


def readme_example(examples: int) -> str:
    """The README's "Use lrnotes in your own training code" block, run on a tiny model."""
    with open(os.path.join(ROOT, "README.md")) as readme:
        text = readme.read()
    section = text[text.index("## Use lrnotes in your own training code"):]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[1]
    code = code.replace("epochs=10", "epochs=3").replace("history.plot()", "")
    return (README_RUNNER.replace("EXAMPLES", str(examples)) + code + textwrap.dedent('''
        import json, os
        if int(os.environ.get("RANK", 0)) == 0:
            peak = optimizer.param_groups[0]["initial_lr"]
            json.dump({"lr": history.lr[:, 0].tolist(), "peak": peak}, open(sys.argv[1], "w"))
        '''))


def check_readme_curve(result: dict, updates: int) -> None:
    lrs, peak = np.array(result["lr"]), result["peak"]
    assert len(lrs) == updates
    top = int(np.argmax(lrs))
    assert lrs[top] == pytest.approx(peak) and 0 < top < updates // 4   # warmup to the peak
    assert np.all(np.diff(lrs[:top + 1]) > 0) and np.all(np.diff(lrs[top:]) <= 0)
    assert lrs[-1] < 0.01 * peak   # cosine to 0 at the end of the run, not half-way


def run_readme(tmp_path, examples: int, nproc: int = 1) -> dict:
    """Run the README's block in a session of its own (killed with its ranks on timeout)."""
    code = readme_example(examples)
    if nproc > 1:  # what a torchrun script adds; the README's block itself is unchanged
        code = code.replace("import lrnotes\n", "import lrnotes, torch.distributed as dist\n"
                            "dist.init_process_group('gloo')\n", 1)
    (tmp_path / "readme.py").write_text(code)
    out = tmp_path / "out.json"
    command = [sys.executable, "readme.py", str(out)]
    if nproc > 1:
        command[1:1] = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                        str(nproc)]
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        pytest.fail(f"the README example did not finish in 240 s:\n{stderr[-4000:]}")
    assert proc.returncode == 0, stderr[-4000:]
    return json.loads(out.read_text())


def test_the_readme_example_runs_as_written_and_ends_at_lr_zero(tmp_path):
    # 40 batches of 8 per epoch, 3 epochs (a short run: the old `cosine(steps - 500)` fails)
    check_readme_curve(run_readme(tmp_path, 320), 3 * 40)


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                    reason="torch.distributed with gloo is not available")
def test_the_readme_example_under_torchrun_with_two_processes(tmp_path):
    # each process trains on half the batches, 20 updates per epoch, and the cosine still
    # ends at the run's last update
    check_readme_curve(run_readme(tmp_path, 320, nproc=2), 3 * 20)


def test_the_finders_suggestion_survives_the_next_scheduler_step_and_keeps_group_ratios():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.01},
                           {"params": model[2].parameters(), "lr": 0.1}])
    sched = S.attach(opt, S.warmup(S.cosine(S.rest()), steps=S.of_run(0.1)))
    result = lr_find(model, loader(), opt, nn.CrossEntropyLoss(), start_lr=1e-4, end_lr=10,
                     num_steps=30, progress=False)
    lr = result.suggest("valley")
    result.apply(opt)
    assert sched.base_lrs == pytest.approx([lr / 10, lr])
    history = fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, scheduler=sched,
                  progress=False)
    expected = S.warmup(S.cosine(9), steps=1).values(2 * N)
    np.testing.assert_allclose(history.lr, np.outer(expected, [lr / 10, lr]))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, first, second):
        return self.a(first) + self.b(second)


def two_input_batches(kind: str):
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(4):
        x1, x2 = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
        y = (x1.sum(1) > 0).long()
        batches.append(((x1, x2), y) if kind == "tuple" else
                       ({"first": x1, "second": x2}, y) if kind == "dict" else
                       {"x1": x1, "x2": x2, "y": y})
    return batches


@pytest.mark.parametrize("kind", ["tuple", "dict", "batch_fn"])
def test_lr_find_reads_batches_exactly_as_fit_does(kind):
    batch_fn = (lambda b: ((b["x1"], b["x2"]), b["y"])) if kind == "batch_fn" else None
    batches = two_input_batches(kind)
    torch.manual_seed(0)
    model = TwoInputs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = lr_find(model, batches, opt, nn.CrossEntropyLoss(), batch_fn=batch_fn,
                     num_steps=6, progress=False)
    assert len(result.lrs) == 6
    fit(model, batches, opt, nn.CrossEntropyLoss(), 1, batch_fn=batch_fn, progress=False)


def test_lr_find_takes_amp_as_fit_does():
    model, opt = model_and_opt()
    seen = []
    model.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    lr_find(model, loader(), opt, nn.CrossEntropyLoss(), amp="bf16", num_steps=3,
            progress=False)
    assert seen and set(seen) == {torch.bfloat16}


def test_warmup_lengths_in_epochs_and_fractions_are_resolved_against_the_run():
    # the milestone at the epoch-2 boundary stays there with prefix=False (timm's convention)
    lrs, _ = train(lambda opt: S.attach(opt, S.warmup(S.step(S.epochs(2), 0.5), steps=3,
                                                      prefix=False)))
    np.testing.assert_allclose(lrs[2 * N - 1:2 * N + 1], [LR, LR / 2])
    # HF's cosine-with-warmup, written for any run length: no `cosine(steps - 500)` < 0
    lrs, _ = train(lambda opt: S.attach(opt, S.warmup(S.cosine(S.rest()),
                                                      steps=S.of_run(0.05))), epochs=2)
    np.testing.assert_allclose(lrs, LR * S.warmup(S.cosine(2 * N - 1), steps=1).values(2 * N))


# --- every torch scheduler --------------------------------------------------------------------

EPOCHS = 4
UPDATES = EPOCHS * N
# (factory, what "auto" does: "batch", "epoch" or a regex of the refusal)
TORCH_SCHEDULERS = {
    "LambdaLR": (lambda o: L.LambdaLR(o, lambda k: 0.9 ** k), "step_scheduler"),
    "MultiplicativeLR": (lambda o: L.MultiplicativeLR(o, lambda k: 0.9), "step_scheduler"),
    "StepLR": (lambda o: L.StepLR(o, step_size=2), "epoch"),
    "MultiStepLR": (lambda o: L.MultiStepLR(o, milestones=[1, 3]), "epoch"),
    "ConstantLR": (lambda o: L.ConstantLR(o, factor=0.5, total_iters=EPOCHS), "epoch"),
    "LinearLR": (lambda o: L.LinearLR(o, start_factor=0.1, total_iters=UPDATES), "batch"),
    "ExponentialLR": (lambda o: L.ExponentialLR(o, gamma=0.9), "epoch"),
    "SequentialLR": (lambda o: L.SequentialLR(o, [L.ConstantLR(o, total_iters=2),
                                                  L.ExponentialLR(o, 0.9)], milestones=[2]),
                     "step_scheduler"),
    "CosineAnnealingLR": (lambda o: L.CosineAnnealingLR(o, T_max=EPOCHS), "epoch"),
    "ChainedScheduler": (lambda o: L.ChainedScheduler([L.ConstantLR(o, total_iters=2),
                                                       L.ExponentialLR(o, 0.9)]),
                         "step_scheduler"),
    "ReduceLROnPlateau": (lambda o: L.ReduceLROnPlateau(o), "plateau"),
    "CyclicLR": (lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3), "batch"),
    "CosineAnnealingWarmRestarts": (lambda o: L.CosineAnnealingWarmRestarts(o, T_0=UPDATES),
                                    "batch"),
    "OneCycleLR": (lambda o: L.OneCycleLR(o, 0.1, total_steps=UPDATES), "batch"),
    "PolynomialLR": (lambda o: L.PolynomialLR(o, total_iters=EPOCHS), "epoch"),
}


def test_every_torch_scheduler_class_is_listed():
    classes = {name for name, obj in vars(L).items() if inspect.isclass(obj)
               and issubclass(obj, (L.LRScheduler, L.ReduceLROnPlateau))
               and obj not in (L.LRScheduler, getattr(L, "_LRScheduler", L.LRScheduler))
               and not name.startswith("_")}
    assert classes == set(TORCH_SCHEDULERS), "a new torch scheduler: say how fit steps it"


def lrs_stepped(make, unit: str) -> np.ndarray:
    _, opt = model_and_opt()
    sched = make(opt)
    lrs = []
    for _ in range(EPOCHS):
        for _ in range(N):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if unit == "batch":
                sched.step()
        if unit == "epoch":
            sched.step()
    return np.array(lrs)


@pytest.mark.parametrize("name", sorted(TORCH_SCHEDULERS))
def test_each_torch_scheduler_is_stepped_as_meant_or_refused(name):
    make, expected = TORCH_SCHEDULERS[name]
    if expected in ("batch", "epoch"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ScheduleLengthWarning)
            lrs, _ = train(make, EPOCHS)
        np.testing.assert_allclose(lrs, lrs_stepped(make, expected))
    elif expected == "plateau":
        train(make, EPOCHS)
    else:
        refuses(make, expected, EPOCHS)
        for unit in ("batch", "epoch"):  # an explicit unit is obeyed
            lrs, _ = train(make, EPOCHS, step_scheduler=unit)
            np.testing.assert_allclose(lrs, lrs_stepped(make, unit))


@pytest.mark.parametrize("make, match", [
    (lambda o: L.CosineAnnealingLR(o, T_max=7), r"T_max=7\) equals neither the run's 4 "
                                                 r"epochs nor its 20"),
    (lambda o: L.LinearLR(o, start_factor=0.1, total_iters=2), "total_iters=2"),
    (lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3), "T_0=3"),
    (lambda o: L.OneCycleLR(o, 0.1, total_steps=UPDATES - 1), r"total_steps=20"),
])
def test_a_torch_length_that_fits_neither_unit_is_refused_before_the_first_update(make, match):
    refuses(make, match, EPOCHS)


def test_with_one_update_per_epoch_both_units_agree():
    lrs, _ = train(lambda o: L.CosineAnnealingLR(o, T_max=EPOCHS), EPOCHS,
                   train_loader=loader(batch_size=40))  # 1 batch of 40: 1 update per epoch
    np.testing.assert_allclose(lrs, per_epoch_lrs(lambda o: L.CosineAnnealingLR(o, EPOCHS),
                                                  EPOCHS, steps=1))


@pytest.mark.parametrize("make, match", [
    (lambda o: L.CosineAnnealingLR(o, T_max=2), r"length of 2 epochs, shorter than the run's "
                                                r"4 epochs.*climbs back up"),
    (lambda o: L.MultiStepLR(o, milestones=[2, 9]), r"milestones \[9\] lie past"),
    (lambda o: L.StepLR(o, step_size=4), "never decays"),
])
def test_torch_schedulers_with_a_length_that_does_not_fit_the_run_warn(make, match):
    with pytest.warns(ScheduleLengthWarning, match=match):
        train(make, EPOCHS, step_scheduler="epoch")


# --- variants ------------------------------------------------------------------------------


def test_run_lengths_count_updates_after_accumulation():
    # 5 batches, k=2: 3 updates per epoch (a short last group), 12 in 4 epochs
    lrs, history = train(lambda opt: S.attach(opt, S.cosine(S.rest())), accumulation_steps=2)
    assert history.num_steps == 12
    np.testing.assert_allclose(lrs, LR * S.cosine(12).values(12))


def test_an_epoch_held_schedule_in_epochs_matches_torch_per_epoch():
    lrs, _ = train(lambda opt: S.attach(opt, S.per_epoch(S.step(2, 0.5), S.epochs(1))))
    np.testing.assert_allclose(lrs, per_epoch_lrs(lambda o: L.StepLR(o, 2, 0.5), 4))


def test_a_loader_without_len_refuses_run_relative_lengths():
    class NoLen:
        def __iter__(self):
            return iter(loader())

    refuses(lambda opt: S.attach(opt, S.cosine(S.rest())), "no len()", train_loader=NoLen())
    refuses(lambda opt: L.CosineAnnealingLR(opt, T_max=3), "unknown number", train_loader=NoLen())
    lrs, _ = train(lambda opt: L.CosineAnnealingLR(opt, T_max=4), train_loader=NoLen())
    np.testing.assert_allclose(lrs, per_epoch_lrs(lambda o: L.CosineAnnealingLR(o, 4), 4))


def test_a_resumed_torch_scheduler_with_other_settings_is_refused(tmp_path):
    model, opt = model_and_opt()
    fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, scheduler=L.StepLR(opt, 1, 0.5),
        checkpoint=tmp_path / "ck.pt", progress=False)
    model, opt = model_and_opt()
    with pytest.raises(ValueError, match=r"gamma: 0.5 -> 0.1"):
        fit(model, loader(), opt, nn.CrossEntropyLoss(), 4, scheduler=L.StepLR(opt, 1, 0.1),
            checkpoint=tmp_path / "ck.pt", resume=True, progress=False)


def test_applying_a_suggestion_refuses_a_bound_torch_scheduler_and_sets_plain_groups():
    model, opt = model_and_opt()
    result = lrnotes.LRFindResult([1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.8, 0.3, 2.0],
                                  [1.0, 0.8, 0.3, 2.0])
    assert result.apply(opt, lr=0.05) == [0.05]
    L.StepLR(opt, 1)
    with pytest.raises(ValueError, match="before creating the scheduler"):
        result.apply(opt, lr=0.02)
    assert opt.param_groups[0]["lr"] == 0.05


def test_an_unresolved_schedule_cannot_be_stepped_outside_fit():
    _, opt = model_and_opt()
    sched = S.attach(opt, S.cosine(S.rest()))
    assert opt.param_groups[0]["lr"] == LR and sched.unresolved
    opt.step()
    with pytest.raises(ValueError, match=r"lengths relative to the run \(rest\(\)\)"):
        sched.step()
    sched.resolve(10)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(LR * S.cosine(10)(1))
    assert math.isclose(S.cosine(S.of_run(0.5)).resolve(10)(5), 0.0, abs_tol=1e-12)


@pytest.mark.parametrize("name, make, unit", [
    ("plateau", lambda o: L.ReduceLROnPlateau(o, patience=0, threshold=0.5), "auto"),
    ("sequential", lambda o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, total_iters=1),
                                                L.ExponentialLR(o, 0.9)], milestones=[1]),
     "epoch"),
    ("restarts", lambda o: L.CosineAnnealingWarmRestarts(o, T_0=2), "epoch"),
])
def test_resuming_a_torch_scheduler_with_running_state_is_not_refused(tmp_path, name, make,
                                                                      unit):
    """Its counters (T_cur, best, a child's last_epoch) moved; its settings did not."""
    full, _ = train(make, 4, step_scheduler=unit)
    model, opt = model_and_opt()
    fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, scheduler=make(opt),
        step_scheduler=unit, checkpoint=tmp_path / "ck.pt", progress=False)
    model, opt = model_and_opt()
    history = fit(model, loader(), opt, nn.CrossEntropyLoss(), 4, scheduler=make(opt),
                  step_scheduler=unit, checkpoint=tmp_path / "ck.pt", resume=True,
                  progress=False)
    np.testing.assert_array_equal(history.lr[:, 0], full)


def test_a_schedule_continued_over_two_fit_calls_is_measured_from_where_it_is():
    model, opt = model_and_opt()
    sched = S.attach(opt, S.cosine(2 * N))
    with pytest.warns(ScheduleLengthWarning, match="after the run's 5 updates"):
        fit(model, loader(), opt, nn.CrossEntropyLoss(), 1, scheduler=sched, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScheduleLengthWarning)  # the second call fits exactly
        history = fit(model, loader(), opt, nn.CrossEntropyLoss(), 1, scheduler=sched,
                      progress=False)
    np.testing.assert_allclose(history.lr[:, 0], LR * S.cosine(2 * N).values(2 * N)[N:])
    with pytest.warns(ScheduleLengthWarning, match=r"before this run's end at update 15 \(it "
                                                   r"starts at 10\): the last 5 updates hold 0"):
        fit(model, loader(), opt, nn.CrossEntropyLoss(), 1, scheduler=sched, progress=False)
