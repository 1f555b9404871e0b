"""Issue 24, "nothing changes before everything is checked": one test per class of fault.

1. restore, then refuse; 2. check after work; 3. two writers; 4. bad state saved; 5. a detached
scheduler still writes; 6. bad values accepted; 7. unclear errors. Each test failed on the code
before the fix (checked against main).
"""

from __future__ import annotations

import copy
import json
import math
import multiprocessing
import os
import pickle
import sys
import textwrap
import time
import warnings

import pytest
import torch
from test_ddp import run_killable
from torch import nn

import lrnotes
from lrnotes import checkpoint as ckpt
from lrnotes import schedules as S
from lrnotes.data import pad_collate, text_loaders
from lrnotes.finder import LRFindResult
from lrnotes.monitor import History


def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def shuffled_loader(n: int = 32, batch_size: int = 8) -> torch.utils.data.DataLoader:
    torch.manual_seed(1)
    data = torch.utils.data.TensorDataset(torch.randn(n, 3), torch.randint(0, 2, (n,)))
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True,
                                       generator=torch.Generator().manual_seed(0))


def state_of(model: nn.Module, optimizer: torch.optim.Optimizer, loader=None) -> list:
    """Everything a refused call must leave as it was: parameters and buffers (BatchNorm's
    running statistics), gradients, optimizer state and groups, torch's and the loader's RNG."""
    tensors = [t.detach().clone() for t in model.state_dict().values()]
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    rng = [torch.get_rng_state()] + [g.get_state() for g in
                                     lrnotes.data.loader_generators(loader or [])]
    return [tensors, grads, repr(optimizer.state_dict()), rng]


def assert_unchanged(before: list, after: list) -> None:
    for a, b in zip(before[0] + before[3], after[0] + after[3], strict=True):
        assert torch.equal(a, b)
    for a, b in zip(before[1], after[1], strict=True):
        assert (a is None and b is None) or torch.equal(a, b)
    assert before[2] == after[2]


# --- 1. restore, then refuse -----------------------------------------------------------------


def _written(tmp_path, loader, **changes):
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = S.attach(opt, S.cosine(100), momentum=S.constant(0.9))
    path = tmp_path / "ck.pt"
    lrnotes.fit(model, loader, opt, nn.CrossEntropyLoss(), 1, scheduler=sched, checkpoint=path,
                progress=False)
    if changes:
        state = ckpt.load(path)
        state.update(changes)
        path = tmp_path / "edited.pt"
        ckpt.save(state, path)
    return path


@pytest.mark.parametrize("case", ["count='calls'", "no momentum", "epoch=-1", "batch past end",
                                  "another batch size", "shorter loader without len"])
def test_a_checkpoint_that_does_not_fit_is_refused_before_anything_is_restored(tmp_path, case):
    loader = shuffled_loader()
    changes, count, momentum, run_loader = {}, "updates", S.constant(0.9), loader
    if case == "count='calls'":
        count = "calls"
    elif case == "no momentum":
        momentum = None
    elif case == "epoch=-1":
        changes = {"epoch": -1}
    elif case == "batch past end":
        changes = {"epoch": 0, "batch": 9, "sums": torch.zeros(1), "count": 72}
    elif case == "another batch size":
        changes = {"epoch": 0, "batch": 2, "sums": torch.zeros(1), "count": 16}
        run_loader = shuffled_loader(64, 16)  # the same 4 batches, of 16
    path = _written(tmp_path, loader, **changes)
    if case == "shorter loader without len":
        batches = [(torch.randn(8, 3), torch.randint(0, 2, (8,))) for _ in range(4)]

        class NoLen:
            def __init__(self, items):
                self.items = items

            def __iter__(self):
                return iter(self.items)

        model = bn_model()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        state = ckpt.capture(model, opt, None, None, History(), epoch=0, batch=3,
                             sums=torch.zeros(1), count=24, rng=[ckpt.rng_state()],
                             epoch_rng=[ckpt.rng_state()])
        path = tmp_path / "nolen.pt"
        ckpt.save(state, path)
        model = bn_model()
        with torch.no_grad():
            model[0].weight.add_(1.0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        before = state_of(model, opt)
        with pytest.raises(ValueError, match="train_loader"):
            lrnotes.fit(model, NoLen(batches[:2]), opt, nn.CrossEntropyLoss(), 1, resume=path,
                        progress=False)
        assert_unchanged(before, state_of(model, opt))
        return
    model = bn_model()
    with torch.no_grad():
        model[0].weight.add_(1.0)  # not the saved weights: a restore would show
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = S.attach(opt, S.cosine(100), momentum=momentum, count=count)
    before = state_of(model, opt, run_loader)
    with pytest.raises(ckpt.CheckpointError, match="edited.pt|ck.pt"):
        lrnotes.fit(model, run_loader, opt, nn.CrossEntropyLoss(), 3, scheduler=sched,
                    resume=path, progress=False)
    assert_unchanged(before, state_of(model, opt, run_loader))


def test_verify_and_restore_refuse_what_does_not_fit_and_name_the_file(tmp_path):
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ckpt.CheckpointError, match="nothing.pt.*lacks"):
        ckpt.verify({}, "nothing.pt", model=model, optimizer=opt)
    state = ckpt.capture(nn.Linear(3, 2), torch.optim.SGD(nn.Linear(3, 2).parameters(), lr=0.1),
                         None, None, History(), epoch=1)
    before = state_of(model, opt)
    with pytest.raises(ckpt.CheckpointError, match="other.pt.*model"):
        ckpt.restore(state, "other.pt", model=model, optimizer=opt)  # restore verifies itself
    assert_unchanged(before, state_of(model, opt))


# --- 2. check after work ---------------------------------------------------------------------


def _frozen(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model


FIT_CASES = {
    "clip max_norm=-1": ({"clip": {"max_norm": -1}}, "clip"),
    "clip norm_type=0": ({"clip": {"max_norm": 1.0, "norm_type": 0}}, "clip"),
    "metric returns a vector": ({"metrics": {"v": lambda o, t: o}}, "metrics"),
    "metric returns a string": ({"metrics": {"v": lambda o, t: "x"}}, "metrics"),
    "loss_fn=5": ({"loss_fn": 5}, "loss_fn"),
    "reduction='none'": ({"loss_fn": nn.CrossEntropyLoss(reduction="none")}, "loss_fn"),
    "writer=5": ({"writer": 5}, "writer"),
    "val_loader=5": ({"val_loader": 5}, "val_loader"),
    "batch_fn gives three": ({"batch_fn": lambda b: (b[0], b[1], 1)}, "batch_fn"),
    "all frozen": ({"model": "frozen"}, "model"),
    "progress='no'": ({"progress": "no"}, "progress"),
    "device='gpu'": ({"device": "gpu"}, "device"),
}


@pytest.mark.parametrize("case", list(FIT_CASES))
def test_fit_refuses_bad_arguments_before_a_forward_pass_or_a_random_draw(case):
    overrides, name = FIT_CASES[case]
    model = bn_model()
    if overrides.get("model") == "frozen":
        model = _frozen(model)
    model(torch.randn(4, 3)).sum().backward() if case != "all frozen" else None
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = shuffled_loader()
    args = {"loss_fn": nn.CrossEntropyLoss(), "progress": False}
    args.update({k: v for k, v in overrides.items() if k != "model"})
    loss_fn = args.pop("loss_fn")
    before = state_of(model, opt, loader)
    with pytest.raises((ValueError, TypeError), match=name):
        lrnotes.fit(model, loader, opt, loss_fn, 2, **args)
    assert_unchanged(before, state_of(model, opt, loader))


def test_train_one_epoch_puts_back_what_a_refused_first_batch_changed():
    model, loader = bn_model(), shuffled_loader()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = state_of(model, opt, loader)
    with pytest.raises(ValueError, match="loss_fn"):
        lrnotes.train_one_epoch(model, loader, opt, nn.CrossEntropyLoss(reduction="none"))
    assert_unchanged(before, state_of(model, opt, loader))


def test_evaluate_and_setup_check_the_device_before_anything():
    with pytest.raises(ValueError, match="device"):
        lrnotes.evaluate(bn_model(), shuffled_loader(), nn.CrossEntropyLoss(), device="gpu")
    rng = torch.get_rng_state()
    with pytest.raises(ValueError, match="device"):
        lrnotes.setup(seed=7, device="gpu", plots=False, verbose=False)
    assert torch.equal(rng, torch.get_rng_state())


# --- 3. two writers --------------------------------------------------------------------------


class _Waiting:
    """One batch, served only after ``release``: a run that holds its checkpoint path."""

    def __init__(self, started, release) -> None:
        self.started, self.release = started, release

    def __len__(self) -> int:
        return 1

    def __iter__(self):
        self.started.set()
        self.release.wait(60)
        yield torch.randn(4, 3), torch.randint(0, 2, (4,))


def _fit_until(path: str, started, release) -> None:
    model = nn.Linear(3, 2)
    lrnotes.fit(model, _Waiting(started, release), torch.optim.SGD(model.parameters(), lr=0.1),
                nn.CrossEntropyLoss(), 1, checkpoint=path, progress=False)


def _save_many(path: str, n: int, start, errors) -> None:
    state = {**dict.fromkeys(ckpt.PAYLOAD_KEYS), "model": torch.zeros(2000)}
    start.wait(60)
    for _ in range(n):
        try:
            ckpt.save(state, path)
        except Exception as err:  # noqa: BLE001 - counted by the test
            errors.put(repr(err))


def test_a_second_run_on_a_held_checkpoint_path_is_refused_at_once_naming_the_holder(tmp_path):
    path = str(tmp_path / "ck.pt")
    mp = multiprocessing.get_context("spawn")  # a fresh process: fit runs there
    started, release = mp.Event(), mp.Event()
    first = mp.Process(target=_fit_until, args=(path, started, release))
    first.start()
    try:
        assert started.wait(120)  # the first run is inside its epoch, holding the path
        model, loader = bn_model(), shuffled_loader()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        before = state_of(model, opt, loader)
        with pytest.raises(ckpt.CheckpointInUse, match=f"ck.pt.*pid {first.pid}"):
            lrnotes.fit(model, loader, opt, nn.CrossEntropyLoss(), 1, checkpoint=path,
                        progress=False)
        assert_unchanged(before, state_of(model, opt, loader))
        assert not os.path.exists(path)
        with pytest.raises(ckpt.CheckpointInUse), ckpt.hold(path):
            pass
    finally:
        release.set()
        first.join(120)
    assert first.exitcode == 0
    ckpt.load(path)  # the first run's checkpoint, whole
    assert sorted(os.listdir(tmp_path)) == ["ck.pt"]  # no lock file, no temporary left
    with ckpt.hold(path), pytest.raises(ckpt.CheckpointInUse, match="ck.pt"), ckpt.hold(path):
        pass  # in one process too: one holder at a time


class _Refuse(lrnotes.callbacks.Callback):
    def on_fit_start(self, state):
        raise ValueError("callback: refused")


def _lambda_lr(opt):  # a scheduler whose unit "auto" cannot know: refused in the run's plan
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0)


@pytest.mark.parametrize("refusal", ["argument", "scheduler unit", "callback", "resume"])
def test_a_refused_fit_leaves_the_disk_as_it_found_it(tmp_path, refusal):
    """No folder, lock file or probe is left by a refused run, whichever check refuses it;
    before, check_target created the checkpoint's folder before the run's checks."""
    model, loader = bn_model(), shuffled_loader()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "runs" / "a" / "ck.pt"
    kw = {"checkpoint": path, "progress": False}
    if refusal == "argument":
        kw["log_every"] = 0
    elif refusal == "scheduler unit":
        kw["scheduler"] = _lambda_lr(opt)
    elif refusal == "callback":
        kw["callbacks"] = [_Refuse()]
    else:  # a checkpoint of another model, resumed into a new folder
        other = tmp_path / "other.pt"
        small = nn.Linear(3, 2)
        ckpt.save(ckpt.capture(small, torch.optim.SGD(small.parameters(), lr=0.1), None, None,
                               History(), epoch=1), other)
        kw["resume"] = other
    before = sorted(os.listdir(tmp_path))
    state = state_of(model, opt, loader)
    with pytest.raises(ValueError):
        lrnotes.fit(model, loader, opt, nn.CrossEntropyLoss(), 2, **kw)
    assert sorted(os.listdir(tmp_path)) == before
    assert_unchanged(state, state_of(model, opt, loader))
    # and a run that passes its checks makes the folder and keeps it with its checkpoint
    lrnotes.fit(model, loader, opt, nn.CrossEntropyLoss(), 1, checkpoint=path, progress=False)
    assert os.listdir(path.parent) == ["ck.pt"]


DDP_REFUSALS = textwrap.dedent('''
    import json, os, sys
    sys.path.insert(0, sys.argv[2])  # this checkout's lrnotes
    import torch, torch.distributed as dist
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    import lrnotes

    class Refuse(lrnotes.callbacks.Callback):
        def on_fit_start(self, state):
            raise ValueError("callback: refused")

    folder = sys.argv[1]
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    data = TensorDataset(x, (x.sum(1) > 0).long())
    results = {}
    for case in ["scheduler unit", "resume", "schedule", "callback"]:
        torch.manual_seed(rank)  # each rank its own weights: rank 0's broadcast would show
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        before = [p.detach().clone() for p in model.parameters()]
        kw = {}
        if case == "scheduler unit":
            kw["scheduler"] = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0)
        elif case == "resume":  # a checkpoint of another model
            kw["resume"] = os.path.join(folder, "other.pt")
        elif case == "schedule":  # this model's checkpoint, written with another StepLR
            kw["resume"] = os.path.join(folder, "same.pt")
            kw["scheduler"] = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
        else:
            kw["callbacks"] = [Refuse()]
        try:
            lrnotes.fit(model, DataLoader(data, batch_size=8), opt, nn.CrossEntropyLoss(), 2,
                        checkpoint=os.path.join(folder, case, "ck.pt"), progress=False, **kw)
            results[case] = "trained"
        except ValueError:
            same = all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
            results[case] = "unchanged" if same else "changed"
        dist.barrier()
        results[case] += "" if not os.path.exists(os.path.join(folder, case)) else ", folder"
    with open(os.path.join(folder, f"rank{rank}.json"), "w") as f:
        json.dump(results, f)
    dist.barrier()
    dist.destroy_process_group()
''')


@pytest.mark.skipif(not (torch.distributed.is_available()
                         and torch.distributed.is_gloo_available()),
                    reason="torch.distributed with gloo is not available")
def test_under_torchrun_a_refused_fit_changes_no_rank(tmp_path):
    """Two ranks with different weights; fit refuses (a scheduler whose unit it cannot know, a
    checkpoint that does not fit, a schedule other than the checkpoint's, a callback) and
    every rank keeps its own weights, and no
    folder is left. Before, fit wrapped the model in DDP first, which gave rank 1 rank 0's
    weights before the refusal."""
    small = nn.Linear(3, 2)
    ckpt.save(ckpt.capture(small, torch.optim.SGD(small.parameters(), lr=0.1), None, None,
                           History(), epoch=1), tmp_path / "other.pt")
    same = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = torch.optim.SGD(same.parameters(), lr=0.1)
    ckpt.save(ckpt.capture(same, opt, torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5), None,
                           History(), epoch=1), tmp_path / "same.pt")
    script = tmp_path / "refusals.py"
    script.write_text(DDP_REFUSALS)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    returncode, stderr = run_killable(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), str(tmp_path), root], timeout=240)
    assert returncode == 0, stderr[-4000:]
    for rank in (0, 1):
        results = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert results == dict.fromkeys(["scheduler unit", "resume", "schedule", "callback"],
                                        "unchanged"), (rank, results)


def test_two_processes_saving_one_path_never_remove_each_others_temporary(tmp_path):
    path = str(tmp_path / "ck.pt")
    mp = multiprocessing.get_context("fork")
    start, errors = mp.Event(), mp.Queue()
    savers = [mp.Process(target=_save_many, args=(path, 60, start, errors)) for _ in range(2)]
    for p in savers:
        p.start()
    start.set()
    for p in savers:
        p.join(120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert torch.equal(ckpt.load(path)["model"], torch.zeros(2000))
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []


# --- 4. bad state saved ----------------------------------------------------------------------


class Interrupting:
    """Four batches; the second has infinite inputs (NaN weights after its update), the third
    is a Ctrl-C."""

    def __init__(self, bad: bool) -> None:
        torch.manual_seed(2)
        self.batches = [(torch.randn(8, 3), torch.randint(0, 2, (8,))) for _ in range(4)]
        self.bad = bad

    def __len__(self) -> int:
        return 4

    def __iter__(self):
        for i, batch in enumerate(self.batches):
            if self.bad and i == 1:
                yield torch.full((8, 3), math.inf), batch[1]
            elif self.bad and i == 2:
                raise KeyboardInterrupt
            else:
                yield batch


def test_an_interrupt_after_a_nan_update_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "ck.pt"
    model = nn.Sequential(nn.Linear(3, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    lrnotes.fit(model, Interrupting(False), opt, nn.CrossEntropyLoss(), 1, checkpoint=path,
                progress=False)
    good = path.read_bytes()
    with warnings.catch_warnings(record=True) as caught, pytest.raises(KeyboardInterrupt) as err:
        warnings.simplefilter("always")
        lrnotes.fit(model, Interrupting(True), opt, nn.CrossEntropyLoss(), 2, checkpoint=path,
                    resume=True, progress=False, log_every=100)
    assert not torch.isfinite(model[0].weight).all()  # the run did diverge
    assert path.read_bytes() == good
    assert any("not finite" in str(w.message) for w in caught)
    assert any("not written" in note for note in getattr(err.value, "__notes__", []))


class LearnableLoss(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.temperature = nn.Parameter(torch.ones(()))

    def forward(self, outputs, targets):
        return nn.functional.cross_entropy(outputs / self.temperature, targets)


def test_a_learnable_loss_is_saved_and_restored_and_stray_parameters_are_refused(tmp_path):
    path = tmp_path / "ck.pt"
    model, loss = nn.Sequential(nn.Linear(3, 2)), LearnableLoss()
    opt = torch.optim.SGD([*model.parameters(), *loss.parameters()], lr=0.5)
    lrnotes.fit(model, Interrupting(False), opt, loss, 1, checkpoint=path, progress=False)
    trained = loss.temperature.detach().clone()
    assert not torch.equal(trained, torch.ones(()))
    assert torch.equal(ckpt.load(path)["loss_fn"]["temperature"], trained)
    model2, loss2 = copy.deepcopy(model), LearnableLoss()
    opt2 = torch.optim.SGD([*model2.parameters(), *loss2.parameters()], lr=0.5)
    lrnotes.fit(model2, Interrupting(False), opt2, loss2, 1, checkpoint=path, resume=True,
                progress=False)
    assert torch.equal(loss2.temperature.detach(), trained)
    stray = nn.Parameter(torch.ones(3))
    opt3 = torch.optim.SGD([*model.parameters(), stray], lr=0.5)
    with pytest.raises(ValueError, match=r"optimizer.*\(3,\)"):
        lrnotes.fit(model, Interrupting(False), opt3, nn.CrossEntropyLoss(), 1,
                    checkpoint=tmp_path / "other.pt", progress=False)


# --- 5. a detached scheduler still writes ----------------------------------------------------


def _sgd() -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)


def test_a_detached_scheduler_refuses_every_write_and_report_checks_first():
    opt = _sgd()
    old = S.attach(opt, S.join([S.cosine(10), S.plateau(patience=0)], [10]))
    S.attach(opt, S.constant(0.5), replace=True)
    lr = opt.param_groups[0]["lr"]
    saved = old.state_dict()
    for call in (lambda: old.step(), lambda: old.report(1.0), lambda: old.extend(20),
                 lambda: old.load_state_dict(saved)):
        with pytest.raises(S.DetachedError, match="detached"):
            call()
        assert opt.param_groups[0]["lr"] == lr
    opt = _sgd()
    sched = S.attach(opt, S.plateau(patience=0, factor=0.5))
    sched.report(1.0)
    opt.add_param_group({"params": [nn.Parameter(torch.zeros(1))], "lr": 0.1})
    before = sched.state_dict()
    with pytest.raises(ValueError, match="param groups"):
        sched.report(2.0)
    assert sched.state_dict() == before


def test_fifty_extends_cost_linear_time_and_a_scheduler_pickles():
    opt = _sgd()
    sched = S.attach(opt, S.cosine(1000))
    start = time.perf_counter()
    for i in range(50):
        opt.step()
        sched.step()
        sched.extend(1000 + 10 * (i + 1))
    assert time.perf_counter() - start < 1.0  # it was 2**k calls per evaluation
    copy_ = pickle.loads(pickle.dumps(sched))
    assert copy_.state_dict() == sched.state_dict()
    copy_.optimizer.step()
    copy_.step()
    assert copy_.last_epoch == sched.last_epoch + 1


# --- 6. bad values accepted ------------------------------------------------------------------


def test_bad_values_are_refused_or_documented():
    sched = S.attach(_sgd(), S.plateau(patience=5))
    for metric in (torch.tensor(True), True):
        with pytest.raises(TypeError, match="metric"):
            sched.report(metric)
    sched.report(1.0)
    sched.report(-math.inf)  # no improvement: it never becomes the best
    sched.report(math.nan)
    assert sched.state_dict()["plateaus"]["lr"][0]["best"] == 1.0
    result = LRFindResult([1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.5, math.nan, 2.0],
                          [1.0, 0.5, math.nan, 2.0])
    assert result.suggest("minimum") == pytest.approx(1e-3)
    history = History()
    history.record_epoch(a=1.0)
    with pytest.raises(TypeError, match="b"):
        history.record_epoch(a=2.0, b="x")
    assert history.epochs == {"a": [1.0]}
    history.record_step(0, [0.1], torch.tensor(1.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match="lrs"):
        history.record_step(1, [0.1, 0.2], torch.tensor(1.0), torch.tensor(1.0))
    state = History().state_dict()
    state.update(group_names=["g"], step=[0], lr=[[0.1]], loss=["x"], grad_norm=[1.0])
    with pytest.raises(ValueError, match="loss"):
        History().load_state_dict(state)
    with pytest.raises(ValueError, match=r"batch\[1\]"):
        pad_collate([(torch.tensor([1]), 1), (torch.tensor([2, 3]), 0.7)])


# --- 7. unclear errors -----------------------------------------------------------------------


def test_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        ckpt.save(dict.fromkeys(ckpt.PAYLOAD_KEYS), tmp_path)
    with pytest.raises(TypeError, match="loss"):
        History().record_step(0, [0.1], 5, torch.tensor(1.0))
    deep = S.constant(1.0)
    with pytest.raises(ValueError, match="nested too deeply"):
        for _ in range(1500):
            deep = S.warmup(deep, 1)
    with pytest.raises(ValueError, match="train"):
        text_loaders([], [("a fine film", 1)])
    with pytest.raises(ValueError, match="val"):
        text_loaders([("a fine film", 1)], [])
