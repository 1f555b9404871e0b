"""fit's callbacks: early stopping and keep-best decide the same epochs with and without an
interrupt and resume; the per-epoch line; History's table; every scheduled value recorded."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrnotes
from lrnotes import checkpoint
from lrnotes import schedules as S
from lrnotes.callbacks import Callback, EarlyStopping, KeepBest, PrintEpochs
from lrnotes.monitor import History, read_tensorboard
from lrnotes.train import accuracy, fit

BATCHES = 4  # batches per epoch of data()


def data(n: int = 32, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    return TensorDataset(torch.randn(n, 4, generator=g) + (2 * y[:, None].float() - 1), y)


def loader(stop_at: int | None = None) -> DataLoader:
    """A shuffling loader of BATCHES batches; with ``stop_at``, Ctrl-C at that batch (counted
    over the whole run, once)."""
    return Interrupting(data(), stop_at, batch_size=8, shuffle=True,
                        generator=torch.Generator().manual_seed(1))


class Interrupting(DataLoader):
    def __init__(self, dataset, stop_at, **kwargs):
        super().__init__(dataset, **kwargs)
        self.stop_at, self.seen = stop_at, 0

    def __iter__(self):
        for batch in super().__iter__():
            if self.seen == self.stop_at:
                self.stop_at = None
                raise KeyboardInterrupt
            self.seen += 1
            yield batch


def model_and_optimizer(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    return model, torch.optim.Adam(model.parameters(), lr=0.01)


def scripted(optimizer, values):
    """A metric whose validation value at the end of epoch e (1-based) is values[e - 1]: it
    reads the epochs done from Adam's step count, so it survives a resume."""
    first = optimizer.param_groups[0]["params"][0]

    def score(outputs, targets):
        done = int(optimizer.state[first]["step"]) // BATCHES if optimizer.state else 0
        return torch.tensor(float(values[done - 1]) if done else 0.0)

    return score


def run(values, callbacks, epochs=10, path=None, resume=False, train=None, model_seed=0):
    model, opt = model_and_optimizer(model_seed)
    history = fit(model, train or loader(), opt, nn.CrossEntropyLoss(), epochs,
                  val_loader=DataLoader(data(8, seed=2), batch_size=8),
                  metrics={"score": scripted(opt, values)}, callbacks=callbacks,
                  checkpoint=path, resume=resume, progress=False)
    return model, history


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_bitwise(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class Recorder(Callback):
    def __init__(self):
        self.weights = []

    def on_epoch_end(self, state):
        self.weights.append(weights(state.model))


# --- early stopping -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode, sign", [("min", 1), ("max", -1)])
def test_early_stopping_stops_after_patience_epochs_without_improvement(mode, sign, capsys):
    values = [sign * v for v in [5, 4, 3, 3.5, 3.2, 3.1, 2, 1, 0, 0]]
    stop = EarlyStopping("val_score", patience=3, mode=mode)
    _, history = run(values, [stop])
    assert history.num_epochs == 6 and history.epochs["epoch"] == [1, 2, 3, 4, 5, 6]
    assert (stop.best, stop.best_epoch, stop.stopped_epoch) == (sign * 3.0, 3, 6)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("epoch 6/10: ")
    assert lines[-1] == (f"EarlyStopping: stopped after epoch 6; best val_score {sign * 3} at "
                         "epoch 3")


def test_min_delta_counts_only_improvements_larger_than_it():
    stop = EarlyStopping("val_score", patience=2, min_delta=0.25)
    _, history = run([5, 3, 2.9, 2.8, 2.7, 1], [stop])  # 2.9 and 2.8 are within 0.25 of 3
    assert (history.num_epochs, stop.best_epoch, stop.stopped_epoch) == (4, 2, 4)
    never = EarlyStopping("val_score", patience=2)
    _, history = run([5, 3, 2.9, 2.8, 2.7, 1], [never], epochs=6)
    assert history.num_epochs == 6 and never.stopped_epoch is None and never.best_epoch == 6


# --- keep the best model ------------------------------------------------------------------------


@pytest.mark.parametrize("restore", [True, False])
def test_keep_best_keeps_the_best_epochs_weights_on_the_cpu(restore):
    record, keep = Recorder(), KeepBest("val_score", mode="min", restore=restore)
    model, history = run([3, 1, 2, 2.5, 1.5], [record, keep], epochs=5)
    assert (keep.best, keep.best_epoch) == (1.0, 2)
    assert all(t.device.type == "cpu" for t in keep.weights.values())
    assert_bitwise(keep.weights, record.weights[1])
    assert_bitwise(weights(model), record.weights[1] if restore else record.weights[-1])
    assert not torch.equal(record.weights[1]["0.weight"], record.weights[-1]["0.weight"])


# --- interrupted and resumed: the same decisions, bit for bit ------------------------------------

VALUES = [5, 4, 2, 3, 2.5, 1, 1.5, 1.2, 1.1, 0.5]  # best 2 at 3, then 1 at 6; stops after 9


class CtrlCAtUpdate(Callback):
    def __init__(self, update):
        self.update = update

    def on_update(self, state):
        if state.step == self.update:
            raise KeyboardInterrupt


class CtrlCAtEpochEnd(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def uninterrupted():
    stop, keep = EarlyStopping("val_score", patience=3), KeepBest("val_score")
    model, history = run(VALUES, [stop, keep])
    assert (stop.stopped_epoch, keep.best_epoch, history.num_epochs) == (9, 6, 9)
    return stop, keep, model, history


@pytest.mark.parametrize("where", ["on_update", "loader", "on_epoch_end"])
def test_stop_and_best_are_the_same_after_an_interrupt_and_resume(tmp_path, where):
    stop, keep, model, history = uninterrupted()
    path = tmp_path / "ck.pt"
    first = [EarlyStopping("val_score", patience=3), KeepBest("val_score")]
    train = None
    if where == "on_update":
        first.append(CtrlCAtUpdate(22))          # mid-epoch 6, after the update
    elif where == "on_epoch_end":
        first.append(CtrlCAtEpochEnd(7))         # after both decided epoch 7
    else:
        train = loader(stop_at=29)               # inside epoch 8
    with pytest.raises(KeyboardInterrupt):
        run(VALUES, first, path=path, train=train)
    saved = checkpoint.load(path)
    assert saved["callbacks"]["states"], "the callbacks' state is in the checkpoint"
    again = [EarlyStopping("val_score", patience=3), KeepBest("val_score")]
    resumed, history2 = run(VALUES, again, path=path, resume=True, model_seed=5)
    assert (again[0].stopped_epoch, again[0].best, again[1].best_epoch) == (9, 1.0, 6)
    assert_bitwise(again[1].weights, keep.weights)
    assert_bitwise(weights(resumed), weights(model))
    np.testing.assert_array_equal(history2.loss, history.loss)


def test_a_stopped_run_resumed_trains_no_further_epoch(tmp_path):
    path = tmp_path / "ck.pt"
    stop = EarlyStopping("val_score", patience=3)
    model, history = run(VALUES, [stop], path=path)
    assert history.num_epochs == 9
    again = EarlyStopping("val_score", patience=3)
    model2, history2 = run(VALUES, [again], path=path, resume=True, model_seed=5)
    assert history2.num_epochs == 9 and history2.num_steps == history.num_steps
    assert_bitwise(weights(model2), weights(model))


def test_a_checkpoint_with_a_callbacks_state_needs_that_callback(tmp_path):
    path = tmp_path / "ck.pt"
    run(VALUES, [EarlyStopping("val_score", patience=3)], epochs=2, path=path)
    model, opt = model_and_optimizer(5)
    before = weights(model)
    with pytest.raises(checkpoint.CheckpointError, match="callbacks.*EarlyStopping#0"):
        fit(model, loader(), opt, nn.CrossEntropyLoss(), 4, checkpoint=path, resume=True,
            progress=False, val_loader=loader(), metrics={"score": scripted(opt, VALUES)})
    assert_bitwise(weights(model), before)
    with pytest.raises(checkpoint.CheckpointError, match="monitors 'val_score'"):
        fit(model, loader(), opt, nn.CrossEntropyLoss(), 4, checkpoint=path, resume=True,
            progress=False, val_loader=loader(), metrics={"score": scripted(opt, VALUES)},
            callbacks=[EarlyStopping("val_loss")])
    assert_bitwise(weights(model), before)


# --- checked before anything changes ------------------------------------------------------------


@pytest.mark.parametrize("callbacks, error, match", [
    ([object()], TypeError, r"callbacks\[0\] is object .*none of \['on_fit_start'"),
    (EarlyStopping(), TypeError, "callbacks must be a list"),
    ([EarlyStopping("val_acc")], ValueError, "monitor='val_acc' is not a value of this run"),
    ([KeepBest("train_acc")], ValueError, r"they have \['train_loss', 'val_loss', 'lr/group_0'"),
])
def test_bad_callbacks_fail_before_any_training(callbacks, error, match):
    model, opt = model_and_optimizer()
    before = weights(model)
    with pytest.raises(error, match=match):
        fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, val_loader=loader(),
            callbacks=callbacks, progress=False)
    assert_bitwise(weights(model), before)
    assert not opt.state


def test_an_object_with_one_hook_method_is_a_callback():
    class Counter:
        n = 0

        def on_update(self, state):
            self.n += 1

    counter = Counter()
    model, opt = model_and_optimizer()
    fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, callbacks=[counter], progress=False)
    assert counter.n == 2 * BATCHES


@pytest.mark.parametrize("make, match", [
    (lambda: EarlyStopping(patience=-1), "patience"), (lambda: EarlyStopping(mode="up"), "mode"),
    (lambda: KeepBest(min_delta=-1.0), "min_delta"), (lambda: KeepBest(restore=1), "restore"),
    (lambda: PrintEpochs(every=-1), "every"),
])
def test_bad_arguments_name_themselves(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


# --- watching a run -----------------------------------------------------------------------------


def test_progress_false_prints_one_line_per_epoch_with_every_value(capsys):
    model, opt = model_and_optimizer()
    history = fit(model, loader(), opt, nn.CrossEntropyLoss(), 3, val_loader=loader(),
                  metrics={"acc": accuracy}, progress=False)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert line.startswith(f"epoch {i + 1}/3: ")
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert f"{key}={history.epochs[key][i]:.4g} " in line
        assert f"lr={history.epochs['lr/group_0'][i]:.4g} (" in line
        assert re.search(r"\([0-9.e+-]+ s\)$", line)


def test_the_epoch_line_can_be_silenced_per_run_and_everywhere(capsys):
    model, opt = model_and_optimizer()
    fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, progress=False,
        callbacks=[PrintEpochs(every=0)])
    assert capsys.readouterr().out == ""
    for name in ("lrnotes.epochs", "lrnotes"):
        logger = logging.getLogger(name)
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, progress=False)
        finally:
            logger.setLevel(level)
        assert capsys.readouterr().out == ""
    fit(model, loader(), opt, nn.CrossEntropyLoss(), 1, progress=False)
    assert capsys.readouterr().out.startswith("epoch 1/1: ")
    fit(model, loader(), opt, nn.CrossEntropyLoss(), 4, progress=False,
        callbacks=[PrintEpochs(every=3)])
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == [
        "epoch 3/4", "epoch 4/4"]


def test_a_live_bar_shows_every_value_in_its_postfix_and_no_line(monkeypatch, capsys):
    monkeypatch.setenv("TQDM_DISABLE", "0")
    model, opt = model_and_optimizer()
    fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, val_loader=loader(),
        metrics={"acc": accuracy}, progress=True)
    captured = capsys.readouterr()
    assert "epoch 1/2:" not in captured.out
    last = captured.err.replace("\r", "\n").strip().splitlines()[-1]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert f"{key}=" in last, last


def test_history_displays_as_a_table_of_epochs():
    model, opt = model_and_optimizer()
    history = fit(model, loader(), opt, nn.CrossEntropyLoss(), 3, val_loader=loader(),
                  metrics={"acc": accuracy}, callbacks=[PrintEpochs(every=0)], progress=False)
    page = history._repr_html_()
    assert page.startswith("<table") and page.endswith("</table>")
    head = re.findall(r"<th>(.*?)</th>", page)
    assert head == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr/group_0",
                    "seconds"]
    rows = re.findall(r"<tr><td>(.*?)</td>", page)
    assert rows == ["1", "2", "3"]
    assert f"<td>{history.epochs['val_acc'][2]:.4g}</td>" in page
    assert "12 updates, 3 epochs" in page
    assert repr(history) == (f"History(12 steps, 3 epochs, groups=['group_0'], "
                             f"val_loss={history.epochs['val_loss'][-1]:.4g})")
    assert History()._repr_html_().count("<tr>") == 1  # the header only


# --- every scheduled value recorded --------------------------------------------------------------


def test_lr_momentum_and_weight_decay_schedules_are_recorded_per_update(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.1, "weight_decay": 1e-3,
                            "name": "body"},
                           {"params": model[2].parameters(), "lr": 0.05, "weight_decay": 0.0}],
                          momentum=0.9)
    total = 3 * BATCHES
    lr, wd = S.cosine(total), S.linear(1.0, 0.1, total)
    momentum = S.one_cycle(total).momentum()
    sched = S.attach(opt, {"lr": lr, "momentum": momentum, "weight_decay": wd})
    history = fit(model, loader(), opt, nn.CrossEntropyLoss(), 3, scheduler=sched,
                  writer=tmp_path / "tb", log_every=5, progress=False)
    t = np.arange(total)
    recorded = history.scheduled
    assert set(recorded) == {"lr", "momentum", "weight_decay"}
    for key, expected in {"lr": np.outer(lr.values(total), [0.1, 0.05]),
                          "momentum": np.outer(momentum.values(total), [1.0, 1.0]),
                          "weight_decay": np.outer(wd.values(total), [1e-3, 0.0])}.items():
        assert recorded[key].shape == (total, 2)
        np.testing.assert_allclose(recorded[key], expected, rtol=1e-12, atol=0)
    scalars = read_tensorboard(tmp_path / "tb")
    for key in ("lr", "momentum", "weight_decay"):
        for i, group in enumerate(["body", "group_1"]):
            steps, values = scalars[f"{key}/{group}"]
            np.testing.assert_array_equal(steps, t)
            np.testing.assert_array_equal(values, recorded[key][:, i].astype(np.float32))
    frame = history.to_dataframe()
    np.testing.assert_array_equal(frame["momentum/body"], recorded["momentum"][:, 0])
    np.testing.assert_array_equal(frame["weight_decay/group_1"], recorded["weight_decay"][:, 1])
    restored = History()
    restored.load_state_dict(history.state_dict())
    np.testing.assert_array_equal(restored.scheduled["momentum"], recorded["momentum"])
    ax = history.plot(show="momentum")
    twin = [a for a in ax.figure.axes if a is not ax][0]
    assert twin.get_ylabel() == "momentum"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "momentum (body = group_1)" in labels  # equal curves share one labelled line


def test_adams_betas_and_torchs_one_cycle_momentum_are_recorded():
    model, opt = model_and_optimizer()
    sched = S.attach(opt, {"lr": S.constant(1.0), "betas": (None, S.linear(0.9, 0.99, 8))})
    history = fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, scheduler=sched,
                  progress=False, callbacks=[PrintEpochs(every=0)])
    np.testing.assert_allclose(history.scheduled["beta2"][:, 0], S.linear(0.9, 0.99, 8).values(8))
    model, _ = model_and_optimizer()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=8)
    expected = []
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    shadow = torch.optim.lr_scheduler.OneCycleLR(probe, max_lr=0.5, total_steps=8)
    for _ in range(8):
        expected.append(probe.param_groups[0]["momentum"])
        probe.step()
        shadow.step()
    history = fit(model, loader(), opt, nn.CrossEntropyLoss(), 2, scheduler=sched,
                  progress=False, callbacks=[PrintEpochs(every=0)])
    np.testing.assert_array_equal(history.scheduled["momentum"][:, 0], expected)


def test_record_step_refuses_a_row_that_disagrees_with_the_groups():
    history = History()
    history.group_names = ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="lrs: 1 values for 4 param groups"):
        history.record_step(0, [0.1], torch.tensor(1.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match="momentum: 2 values for 4 param groups"):
        history.record_step(0, [0.1] * 4, torch.tensor(1.0), torch.tensor(1.0),
                            {"momentum": [0.9, 0.9]})
    assert history.num_steps == 0


def test_a_history_saved_without_scheduled_values_still_loads():
    history = History()
    history.record_step(0, [0.1], torch.tensor(1.0), torch.tensor(2.0))
    state = history.state_dict()
    del state["values"]
    old = History()
    old.load_state_dict(state)
    assert set(old.scheduled) == {"lr"}
    old.record_step(1, [0.1], torch.tensor(1.0), torch.tensor(2.0), {"momentum": [0.9]})
    np.testing.assert_array_equal(old.scheduled["momentum"][:, 0], [np.nan, 0.9])


def test_one_cycle_momentum_of_a_count_names_the_working_form():
    with pytest.raises(ValueError, match=r"write one_cycle\(88\)\.momentum\(\)"):
        S.one_cycle_momentum(88)


def test_the_package_exports_the_callbacks():
    assert lrnotes.EarlyStopping is EarlyStopping and lrnotes.KeepBest is KeepBest
    assert lrnotes.Callback is Callback and lrnotes.PrintEpochs is PrintEpochs


def test_the_api_pages_task_index_points_at_real_functions_chapters_and_sections():
    import importlib
    import pathlib

    import nbformat

    book = pathlib.Path(__file__).resolve().parent.parent / "book"
    page = (book / "api.md").read_text()
    index = page.split("## How do I ...")[1].split("\n## ")[0]
    tasks = re.findall(r"^- \*\*(.+?)\*\*(.*?)(?=^- |\Z)", index, flags=re.M | re.S)
    assert {name.split(" (")[0] for name, _ in tasks} >= {
        "resume a run", "grow a run", "stop early", "keep the best model",
        "apply the finder's suggestion", "schedule weight decay", "log to TensorBoard",
        "run under torchrun", "record momentum and weight decay"}
    documented = {module: members.replace(",", " ").split() for module, members in
                  re.findall(r"automodule:: (\S+)\n   :members:(.*)", page)}  # []: every one
    for name, line in tasks:
        targets = re.findall(r"\{(?:func|class|meth|attr)\}`(?:[^`<]*<)?([\w.]+)>?`", line)
        assert targets, name
        for target in targets:
            module, _, rest = target.partition(".")
            obj, path = importlib.import_module(module), module
            for part in rest.split("."):
                if hasattr(obj, "__path__") and not hasattr(obj, part):
                    obj = importlib.import_module(f"{path}.{part}")
                else:
                    obj = getattr(obj, part)
                path += "." + part
            owner = next((m for m, members in documented.items() if path.startswith(m + ".")
                          and (not members or path[len(m) + 1:].split(".")[0] in members)),
                         None)
            assert owner is not None, f"{name}: {target} is not on the API page"
        chapters = re.findall(r"\{doc\}`([\w]+)`(?:, \*(.+?)\*)?", line)
        assert chapters, name
        for chapter, section in chapters:
            nb = nbformat.read(book / f"{chapter}.ipynb", as_version=4)
            headings = {ln.lstrip("#").strip() for cell in nb.cells
                        if cell.cell_type == "markdown" for ln in cell.source.splitlines()
                        if ln.startswith("#")}
            assert not section or section in headings, f"{name}: {chapter} has no {section!r}"


def test_a_checkpoint_written_before_callbacks_resumes_with_fresh_ones(tmp_path):
    path = tmp_path / "ck.pt"
    run(VALUES, [], epochs=3, path=path)
    state = checkpoint.load(path)
    del state["callbacks"]  # as lrnotes wrote it before callbacks
    state["history"].pop("values")
    checkpoint.save(state, path)
    stop = EarlyStopping("val_score", patience=3)
    _, history = run(VALUES, [stop], path=path, resume=True)
    assert history.num_epochs == 9 and stop.stopped_epoch == 9  # counted from epoch 4 on


DDP_SCRIPT = '''
import contextlib, datetime, faulthandler, os, socket, sys
import torch, torch.distributed as dist, torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from lrnotes import EarlyStopping, KeepBest, fit

class Record(KeepBest):
    epochs = []
    def on_epoch_end(self, state):
        self.epochs.append({k: v.clone() for k, v in state.model.state_dict().items()})

def worker(rank, world, port, folder, stack_after):
    faulthandler.dump_traceback_later(stack_after, exit=False)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=stack_after))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    data = TensorDataset(x, (x.sum(1) > 0).long())
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    stop = EarlyStopping("val_loss", patience=1, min_delta=1e9)  # stops after epoch 2
    keep, record = KeepBest("val_loss", min_delta=1e9), Record()  # keeps epoch 1
    with open(f"{folder}/out{rank}.txt", "w") as out, contextlib.redirect_stdout(out):
        history = fit(model, DataLoader(data, batch_size=8), torch.optim.SGD(
            model.parameters(), lr=0.2), nn.CrossEntropyLoss(), 5,
            val_loader=DataLoader(data, batch_size=16), progress=False,
            callbacks=[stop, keep, record])
    torch.save({"epochs": history.num_epochs, "stopped": stop.stopped_epoch,
                "best": keep.best_epoch, "model": model.state_dict(),
                "first": record.epochs[0]}, f"{folder}/rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()
    faulthandler.cancel_dump_traceback_later()

if __name__ == "__main__":
    folder, stack_after = sys.argv[1], float(sys.argv[2])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(worker, args=(2, port, folder, stack_after), nprocs=2,
                       start_method="fork")
'''


@pytest.mark.skipif(not (torch.distributed.is_available()
                         and torch.distributed.is_gloo_available()), reason="no gloo")
def test_under_ddp_every_rank_stops_together_and_only_rank_0_prints(tmp_path):
    import sys

    from test_ddp import run_killable

    script = tmp_path / "ddp_callbacks.py"
    script.write_text(DDP_SCRIPT)
    returncode, stderr = run_killable([sys.executable, str(script), str(tmp_path), "90"], 120)
    assert returncode == 0, stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    for rank in ranks:
        assert (rank["epochs"], rank["stopped"], rank["best"]) == (2, 2, 1)
        assert_bitwise(rank["model"], rank["first"])  # KeepBest restored epoch 1 on each rank
    assert_bitwise(ranks[0]["model"], ranks[1]["model"])
    lines = (tmp_path / "out0.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/5", "epoch 2/5", "EarlyStopping",
                                                      "KeepBest"]
    assert (tmp_path / "out1.txt").read_text() == ""
