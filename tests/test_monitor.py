"""History (recording, flushing, checkpoints, pickling, pandas, plot); TensorBoard round trips."""

from __future__ import annotations

import math
import pickle
import sys

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrnotes.monitor import History, open_writer, read_tensorboard
from lrnotes.train import accuracy, fit

matplotlib.use("Agg")


def small_history() -> History:
    history = History()
    history.group_names = ["body", "head"]
    for t in range(5):
        history.record_step(t, [0.1 * (t + 1), torch.tensor(0.01 * (t + 1))],
                            torch.tensor(1.0 / (t + 1)), torch.tensor(2.0 * t))
    history.record_epoch(epoch=1, step=5, train_loss=0.5)
    history.record_epoch(epoch=2, step=10, train_loss=0.25, val_loss=0.3)
    return history


def test_steps_stay_pending_until_flushed_then_become_arrays():
    history = small_history()
    assert history.num_steps == 5 and len(history._pending) == 5  # tensors, not yet on host
    assert history.flush() == 0
    assert history.flush() == 5 and not history._pending
    np.testing.assert_array_equal(history.step, np.arange(5))
    np.testing.assert_allclose(history.lr, [[0.1 * k, 0.01 * k] for k in range(1, 6)], rtol=1e-6)
    np.testing.assert_allclose(history.loss, [1.0 / k for k in range(1, 6)], rtol=1e-6)
    np.testing.assert_allclose(history.grad_norm, [0.0, 2.0, 4.0, 6.0, 8.0])
    assert history.latest()["step"] == 4


def test_flush_applies_the_cross_rank_reduction_to_losses_only():
    history = small_history()
    history.flush(reduce=lambda loss: loss * 10)
    np.testing.assert_allclose(history.loss, [10.0 / k for k in range(1, 6)], rtol=1e-6)
    np.testing.assert_allclose(history.grad_norm, [0.0, 2.0, 4.0, 6.0, 8.0])


def test_epoch_records_are_padded_with_nan():
    history = small_history()
    assert history.epochs["epoch"] == [1.0, 2.0]
    assert history.epochs["train_loss"] == [0.5, 0.25]
    assert math.isnan(history.epochs["val_loss"][0]) and history.epochs["val_loss"][1] == 0.3
    history.record_epoch(epoch=3, step=15)
    assert math.isnan(history.epochs["train_loss"][2])


def test_first_nonfinite_finds_the_step():
    history = History()
    history.group_names = ["group_0"]
    for t, loss in enumerate([1.0, 0.5, math.inf, math.nan]):
        history.record_step(t, [0.1], torch.tensor(loss), torch.tensor(1.0))
    history.flush()
    assert history.first_nonfinite() == (2, math.inf)
    assert history.first_nonfinite(3)[0] == 3


def test_state_dict_and_pickle_round_trip():
    history = small_history()
    again = History()
    again.load_state_dict(history.state_dict())
    unpickled = pickle.loads(pickle.dumps(history))
    for other in (again, unpickled):
        assert other.group_names == history.group_names
        np.testing.assert_array_equal(other.lr, history.lr)
        np.testing.assert_array_equal(other.loss, history.loss)
        assert other.epochs["train_loss"] == history.epochs["train_loss"]


def test_to_dataframe_per_step_and_per_epoch():
    pytest.importorskip("pandas")
    history = small_history()
    steps = history.to_dataframe()
    assert list(steps.columns) == ["step", "lr/body", "lr/head", "loss", "grad_norm"]
    np.testing.assert_allclose(steps["lr/head"], history.lr[:, 1])
    epochs = history.to_dataframe("epoch")
    assert list(epochs["train_loss"]) == [0.5, 0.25]
    with pytest.raises(ValueError, match="kind"):
        history.to_dataframe("batch")


def test_to_dataframe_without_pandas_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pandas"):
        small_history().to_dataframe()


def test_plot_draws_loss_and_lr():
    history = small_history()
    ax = history.plot()
    assert ax.get_xlabel() == "optimizer update t" and ax.get_ylabel() == "loss"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "lr (head)" in labels and "val loss (epoch mean)" in labels
    twin = [a for a in ax.figure.axes if a is not ax][0]
    assert twin.get_yscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), history.loss)


def test_read_tensorboard_returns_what_a_writer_wrote(tmp_path):
    writer, owned = open_writer(tmp_path)
    assert owned
    for step in range(5):
        writer.add_scalar("a/x", 0.5 * step, step)
    writer.add_scalar("b", 3.25, 7)
    writer.close()
    scalars = read_tensorboard(tmp_path)
    steps, values = scalars["a/x"]
    np.testing.assert_array_equal(steps, np.arange(5))
    np.testing.assert_array_equal(values, 0.5 * np.arange(5))
    assert scalars["b"][1].tolist() == [3.25]
    with pytest.raises(ValueError, match="logdir"):
        read_tensorboard(tmp_path / "missing")
    with pytest.raises(ValueError, match="writer"):
        open_writer(3)


def test_fit_logs_to_tensorboard_what_the_history_holds(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 3, generator=g), torch.randint(0, 2, (48,), generator=g)
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD([{"params": [model.weight], "lr": 0.1},
                           {"params": [model.bias], "lr": 0.05, "name": "bias"}])
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    history = fit(model, loader, opt, nn.CrossEntropyLoss(), 2, val_loader=loader,
                  scheduler=sched, metrics={"acc": accuracy}, writer=tmp_path / "run",
                  progress=False, log_every=4)
    scalars = read_tensorboard(tmp_path / "run")
    f32 = np.float32
    for i, name in enumerate(["group_0", "bias"]):
        steps, values = scalars[f"lr/{name}"]
        np.testing.assert_array_equal(steps, history.step)
        np.testing.assert_array_equal(values, history.lr[:, i].astype(f32))
    np.testing.assert_array_equal(scalars["train/loss"][1], history.loss.astype(f32))
    np.testing.assert_array_equal(scalars["train/grad_norm"][1], history.grad_norm.astype(f32))
    for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
        steps, values = scalars[f"epoch/{key}"]
        np.testing.assert_array_equal(steps, history.epochs["step"])
        np.testing.assert_array_equal(values, np.array(history.epochs[key], dtype=f32))


def test_record_epoch_without_epoch_keeps_the_columns_aligned():
    history = History()
    history.record_epoch(a=1)
    history.record_epoch(b=2)
    history.record_epoch(a=3, b=4)
    assert history.num_epochs == 3
    assert history.epochs["a"][0] == 1 and math.isnan(history.epochs["a"][1])
    assert history.epochs["a"][2] == 3
    assert math.isnan(history.epochs["b"][0]) and history.epochs["b"][1:] == [2, 4]


@pytest.mark.parametrize("state, error, match", [
    ({}, ValueError, "state: missing keys"),
    ([], TypeError, "state must be a dict"),
    ({"group_names": ["g"], "step": [0, 1], "lr": [[0.1]], "loss": [1.0, 2.0],
      "grad_norm": [1.0, 1.0], "skipped": [], "epochs": {}}, ValueError, "one entry per update"),
    ({"group_names": ["g"], "step": [0], "lr": [[0.1, 0.2]], "loss": [1.0], "grad_norm": [1.0],
      "skipped": [], "epochs": {}}, ValueError, "one entry per group"),
    ({"group_names": [], "step": [], "lr": [], "loss": [], "grad_norm": [], "skipped": [],
      "epochs": {"a": [1.0], "b": []}}, ValueError, "differ in length"),
])
def test_load_state_dict_checks_the_state_first_and_changes_nothing(state, error, match):
    history = small_history()
    before = history.state_dict()
    with pytest.raises(error, match=match):
        history.load_state_dict(state)
    assert history.state_dict() == before


@pytest.mark.parametrize("blocked, call", [
    ("pandas", lambda tmp: History().to_dataframe()),
    ("tensorboard", lambda tmp: open_writer(str(tmp))),
    ("tensorboard", lambda tmp: read_tensorboard(tmp)),
])
def test_a_missing_optional_package_names_the_extra_that_brings_it(blocked, call, tmp_path,
                                                                   monkeypatch):
    for name in list(sys.modules):
        if name == blocked or name.startswith(blocked + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, blocked, None)  # import of it now fails
    with pytest.raises(ModuleNotFoundError, match=r'lrnotes\[notebooks\]'):
        call(tmp_path)


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_plot_legend_sits_off_the_data_and_equal_groups_share_a_labelled_line():
    history = History()
    history.group_names = ["body", "head", "emb"]
    for t in range(6):
        history.record_step(t, [0.1, 0.1, 0.01], torch.tensor(1.0), torch.tensor(1.0))
    history.record_epoch(epoch=1, step=6, train_loss=0.5, val_loss=0.6)
    ax = history.plot()
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    assert not _overlap(legend, ax.get_window_extent(renderer))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "lr (body = head)" in labels and "lr (emb)" in labels
    twin = [a for a in ax.figure.axes if a is not ax][0]
    styles = [line.get_linestyle() for line in twin.get_lines()]
    assert len(twin.get_lines()) == 2 and len(set(styles)) == 2
    with pytest.raises(ValueError, match="show must be one of the scheduled values"):
        history.plot(show="momentum")


def test_plot_schedule_names_a_single_schedule_by_its_kind():
    from lrnotes import schedules as S
    from lrnotes.plot import plot_schedule

    ax = plot_schedule(S.warmup(S.cosine(total_steps=900, final=0.01), steps=100), steps=1000)
    assert ax.get_title() == "Learning-rate schedule: warmup" and ax.get_legend() is None
    ax = plot_schedule({"a": S.cosine(10), "b": S.constant(1.0)}, steps=10)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
