"""An independent check of ``fit`` with schedule-free and learning-rate-free optimizers
(issue 27), written from the contract only: the docstrings of ``lrnotes.fit``,
``lrnotes.checkpoint``, ``lrnotes.optim.optimizer_mode`` and ``lr_find``, DESIGN.md
("Schedule-free optimizers"), and schedulefree's own source, whose docstring says the
optimizer "requires that .train() and .eval() be called before the beginning of training and
evaluation respectively" and "should also be placed in eval mode when saving checkpoints".

The reference is a hand-written loop with the real optimizers: ``optimizer.train()`` before
an epoch's first update, ``optimizer.eval()`` before each validation pass (and so before the
epoch's checkpoint). ``fit`` must match it bit for bit (``torch.equal``) with the same seeds
and batch order: the validation values (taken on the averaged weights ``x``, which differ from
the gradient point ``y``), the weights it returns (``x``, eval mode: the docstring's "the
returned model use[s] the averaged weights"), the optimizer's state, and, after a stop at any
epoch or a Ctrl-C at any update, a resumed run's weights, optimizer state and history.

The model has dropout, so the global RNG takes part; the loader shuffles with its own
generator; an epoch has 6 batches of 8, 8, 8, 8, 8, 4 samples (a short last batch, and with
``accumulation_steps=4`` a short last group of 2 batches).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from roundtrip import assert_bitwise_equal
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrnotes
from lrnotes import checkpoint as ckpt
from lrnotes.callbacks import Callback

schedulefree = pytest.importorskip("schedulefree")

EPOCHS = 3
N_TRAIN, N_VAL, BATCH = 44, 20, 8
BATCHES = math.ceil(N_TRAIN / BATCH)  # 6


def _sf_adamw(params):
    return schedulefree.AdamWScheduleFree(params, lr=0.02, weight_decay=0.01)


def _sf_adamw_warmup(params):
    # schedulefree's own warmup: 8 updates, across the first epoch boundary
    return schedulefree.AdamWScheduleFree(params, lr=0.02, warmup_steps=8)


def _sf_sgd(params):
    return schedulefree.SGDScheduleFree(params, lr=0.2, momentum=0.9, warmup_steps=3)


def _sf_radam(params):
    return schedulefree.RAdamScheduleFree(params, lr=0.02)


def _prodigy(params):
    prodigyopt = pytest.importorskip("prodigyopt")
    return prodigyopt.Prodigy(params, lr=1.0, weight_decay=0.01)


SCHEDULE_FREE = {
    "adamw": _sf_adamw,
    "adamw-warmup": _sf_adamw_warmup,
    "sgd-warmup": _sf_sgd,
    "radam": _sf_radam,
}
ALL = {**SCHEDULE_FREE, "prodigy": _prodigy}


def _accuracy(outputs, targets):
    return (outputs.argmax(1) == targets).float().mean()


METRICS = {"acc": _accuracy}


def _data():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(N_TRAIN + N_VAL, 6, generator=g)
    y = ((x[:, 0] + 0.5 * x[:, 1] - x[:, 2]).sign().long() + 1).clamp(max=2)
    return TensorDataset(x[:N_TRAIN], y[:N_TRAIN]), TensorDataset(x[N_TRAIN:], y[N_TRAIN:])


def _setup(make_opt, model_seed=0):
    """Model, optimizer and loaders, built the same way on every call; then the global RNG
    seeded, so that training draws the same numbers in every run."""
    train, val = _data()
    torch.manual_seed(model_seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 3))
    opt = make_opt(model.parameters())
    train_loader = DataLoader(train, batch_size=BATCH, shuffle=True,
                              generator=torch.Generator().manual_seed(1))
    # its own generator: iterating a loader without one draws a seed from the global RNG,
    # so validating would change the dropout masks of the next epoch
    val_loader = DataLoader(val, batch_size=BATCH, generator=torch.Generator())
    torch.manual_seed(123)
    return model, opt, train_loader, val_loader


def _mode(opt, mode):
    if hasattr(opt, "train") and hasattr(opt, "eval"):
        getattr(opt, mode)()


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _reference(make_opt, epochs=EPOCHS, accumulation=1, snapshot_at=()):
    """The hand-written loop. Returns per-epoch validation values on the eval weights and on
    the train-mode weights, the weights at each epoch's end (eval mode) and just before the
    ``opt.eval()`` (train mode), the weights after the updates in ``snapshot_at``, and the final
    model and optimizer."""
    model, opt, loader, val_loader = _setup(make_opt)
    loss_fn = nn.CrossEntropyLoss()
    out = {"val": [], "val_train_mode": [], "x": [], "y": [], "at": {}, "opt_x": []}
    t = 0
    for _ in range(epochs):
        model.train()
        _mode(opt, "train")
        n = len(loader)
        for i, (xb, yb) in enumerate(loader):
            start = i - i % accumulation
            size = min(accumulation, n - start)  # a short last group by its own size
            loss = loss_fn(model(xb), yb) / size
            loss.backward()
            if i - start == size - 1:
                opt.step()
                opt.zero_grad(set_to_none=True)
                t += 1
                if t in snapshot_at:
                    out["at"][t] = (_weights(model), copy.deepcopy(opt.state_dict()))
        # the train-mode weights' validation: what a loop that forgets opt.eval() reports
        out["val_train_mode"].append(lrnotes.evaluate(model, val_loader, loss_fn, METRICS))
        out["y"].append(_weights(model))
        _mode(opt, "eval")
        out["val"].append(lrnotes.evaluate(model, val_loader, loss_fn, METRICS))
        out["x"].append(_weights(model))
        out["opt_x"].append(copy.deepcopy(opt.state_dict()))
    out["model"], out["opt"] = model, opt
    return out


def _fit(make_opt, epochs=EPOCHS, *, model_seed=0, **kw):
    model, opt, loader, val_loader = _setup(make_opt, model_seed=model_seed)
    history = lrnotes.fit(model, loader, opt, nn.CrossEntropyLoss(), epochs,
                          val_loader=val_loader, metrics=METRICS, progress=False, **kw)
    return model, opt, history


def _assert_histories_equal(h1, h2):
    for name in ("step", "lr", "loss", "grad_norm"):
        assert np.array_equal(getattr(h1, name), getattr(h2, name)), name
    assert set(h1.epochs) == set(h2.epochs)
    for key in h1.epochs:
        if key != "seconds":
            assert_bitwise_equal(list(h1.epochs[key]), list(h2.epochs[key]), key)


_REFERENCES: dict = {}


def _ref(name, accumulation=1):
    """One reference run per optimizer and accumulation (it is deterministic), with snapshots
    after every update."""
    key = (name, accumulation)
    if key not in _REFERENCES:
        updates = EPOCHS * math.ceil(BATCHES / accumulation)
        _REFERENCES[key] = _reference(ALL[name], accumulation=accumulation,
                                      snapshot_at=range(1, updates + 1))
    return _REFERENCES[key]


# -- validation on the eval weights, the weights fit returns ------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEDULE_FREE))
def test_fit_validates_on_the_eval_weights_and_returns_them(name):
    ref = _ref(name)
    model, opt, history = _fit(ALL[name])
    for e in range(EPOCHS):
        for key in ("loss", "acc"):
            assert history.epochs[f"val_{key}"][e] == ref["val"][e][key], (e, key)
    # the check can fail: the train-mode weights y validate differently
    assert any(ref["val"][e]["loss"] != ref["val_train_mode"][e]["loss"] for e in range(EPOCHS))
    # fit returns the model holding x and the optimizer in eval mode (the docstring's
    # "the returned model use[s] the averaged weights x")
    assert_bitwise_equal(_weights(model), ref["x"][-1], "model")
    assert any(not torch.equal(v, ref["y"][-1][k]) for k, v in ref["x"][-1].items())
    assert all(g["train_mode"] is False for g in opt.param_groups)
    assert_bitwise_equal(opt.state_dict(), ref["opt"].state_dict(), "optimizer")
    # the per-sample mean the docstring promises, computed here by hand
    model.eval()
    _, val = _data()
    with torch.no_grad():
        out = model(val.tensors[0])
        by_hand = nn.functional.cross_entropy(out, val.tensors[1]).item()
    assert history.epochs["val_loss"][-1] == pytest.approx(by_hand, rel=1e-5)


def test_fit_records_the_groups_lr_not_schedulefrees_warmed_up_lr():
    """'Their internal warmup is theirs: history.lr records param_groups[i]["lr"]'."""
    _, opt, history = _fit(_sf_adamw_warmup, epochs=1)
    assert np.all(history.lr[:, 0] == opt.param_groups[0]["lr"])
    assert opt.param_groups[0]["scheduled_lr"] == pytest.approx(0.02 * 6 / 8)


def test_fit_with_accumulation_matches_the_reference():
    ref = _ref("adamw", accumulation=4)  # groups of 4 and 2 batches per epoch
    model, opt, history = _fit(_sf_adamw, accumulation_steps=4)
    assert history.num_steps == EPOCHS * 2
    assert [history.epochs["val_loss"][e] for e in range(EPOCHS)] == [
        v["loss"] for v in ref["val"]]
    assert_bitwise_equal(_weights(model), ref["x"][-1], "model")
    assert_bitwise_equal(opt.state_dict(), ref["opt"].state_dict(), "optimizer")


# -- resume after an epoch ----------------------------------------------------------------------


def _restored(make_opt, path):
    """A fresh model and optimizer loaded from the checkpoint at ``path``."""
    model, opt, _, _ = _setup(make_opt, model_seed=99)
    ckpt.restore(ckpt.load(path), path, model=model, optimizer=opt,
                 history=lrnotes.History())
    return model, opt


@pytest.mark.parametrize("name,accumulation", [(n, 1) for n in sorted(ALL)] + [("adamw", 4),
                                                                               ("prodigy", 4)])
def test_resume_after_every_epoch_is_exact(tmp_path, name, accumulation):
    full_model, full_opt, full_history = _fit(ALL[name], accumulation_steps=accumulation)
    ref = _ref(name, accumulation)
    assert_bitwise_equal(_weights(full_model), ref["x"][-1],
                         "uninterrupted run against the reference")
    for k in range(1, EPOCHS):
        path = tmp_path / f"k{k}.pt"
        _fit(ALL[name], epochs=k, checkpoint=path, accumulation_steps=accumulation)
        # the file holds the eval-mode weights x of epoch k and an optimizer in eval mode
        saved_model, saved_opt = _restored(ALL[name], path)
        assert_bitwise_equal(_weights(saved_model), ref["x"][k - 1], f"checkpoint of epoch {k}")
        assert_bitwise_equal(saved_opt.state_dict(), ref["opt_x"][k - 1], f"optimizer of epoch {k}")
        if name in SCHEDULE_FREE:
            assert all(g["train_mode"] is False for g in saved_opt.param_groups)
        # resume into fresh objects, with every RNG moved on: the checkpoint restores them
        torch.manual_seed(4321)
        model, opt, history = _fit(ALL[name], model_seed=5, checkpoint=path, resume=True,
                                   accumulation_steps=accumulation)
        assert_bitwise_equal(_weights(model), _weights(full_model), f"weights resumed after {k}")
        assert_bitwise_equal(opt.state_dict(), full_opt.state_dict(),
                             f"optimizer resumed after {k}")
        _assert_histories_equal(history, full_history)


# -- resume after a Ctrl-C in the middle of an epoch --------------------------------------------


class _InterruptAfter(Callback):
    """Ctrl-C right after update ``n`` (1-based), where fit's resume point has moved past it."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def on_update(self, state):
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


@pytest.mark.parametrize("name,accumulation,stop", [
    ("adamw", 1, 2), ("adamw", 1, 6), ("adamw", 1, 9), ("adamw-warmup", 1, 4),
    ("sgd-warmup", 1, 8), ("radam", 1, 13), ("prodigy", 1, 3), ("prodigy", 1, 10),
    ("adamw", 4, 1), ("adamw", 4, 3), ("prodigy", 4, 5),
])
def test_resume_after_an_interrupt_mid_epoch_is_exact(tmp_path, name, accumulation, stop):
    full_model, full_opt, full_history = _fit(ALL[name], accumulation_steps=accumulation)
    ref = _ref(name, accumulation)
    assert_bitwise_equal(_weights(full_model), ref["x"][-1],
                         "uninterrupted run against the reference")
    path = tmp_path / "ck.pt"
    with pytest.raises(KeyboardInterrupt):
        _fit(ALL[name], checkpoint=path, accumulation_steps=accumulation,
             callbacks=[_InterruptAfter(stop)])
    # the interrupt's checkpoint holds the train-mode weights y after update `stop`, and the
    # optimizer in train mode (the docstring: "holds the train-mode weights and the mode")
    saved_model, saved_opt = _restored(ALL[name], path)
    weights, opt_state = ref["at"][stop]
    assert_bitwise_equal(_weights(saved_model), weights, f"checkpoint after update {stop}")
    assert_bitwise_equal(saved_opt.state_dict(), opt_state, f"optimizer after update {stop}")
    if name in SCHEDULE_FREE:
        assert all(g["train_mode"] is True for g in saved_opt.param_groups)
    torch.manual_seed(4321)
    model, opt, history = _fit(ALL[name], model_seed=5, checkpoint=path, resume=True,
                               accumulation_steps=accumulation)
    assert_bitwise_equal(_weights(model), _weights(full_model), "weights")
    assert_bitwise_equal(opt.state_dict(), full_opt.state_dict(), "optimizer")
    _assert_histories_equal(history, full_history)


# -- lr_find ------------------------------------------------------------------------------------


def _trained_optimizer_state(name):
    """A model and optimizer one epoch into training, in eval mode (as fit leaves them)."""
    model, opt, loader, val_loader = _setup(ALL[name])
    lrnotes.fit(model, loader, opt, nn.CrossEntropyLoss(), 1, progress=False)
    return model, opt, loader, val_loader


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_lr_find_restores_model_optimizer_and_mode(mode):
    model, opt, loader, val_loader = _trained_optimizer_state("adamw")
    _mode(opt, mode)
    before_w, before_opt = _weights(model), copy.deepcopy(opt.state_dict())
    rng = torch.get_rng_state()
    result = lrnotes.lr_find(model, loader, opt, nn.CrossEntropyLoss(), start_lr=1e-4,
                             end_lr=1.0, num_steps=6, val_loader=val_loader, progress=False)
    assert len(result.lrs) >= 2
    assert_bitwise_equal(_weights(model), before_w, "model")
    assert_bitwise_equal(opt.state_dict(), before_opt, "optimizer")
    assert all(g["train_mode"] is (mode == "train") for g in opt.param_groups)
    assert torch.equal(torch.get_rng_state(), rng)
    # and the optimizer still trains: a step in train mode works and moves the weights
    _mode(opt, "train")
    model(torch.randn(4, 6)).sum().backward()
    opt.step()


def test_lr_find_sweeps_in_train_mode_and_validates_on_the_eval_weights():
    """The docstring: updates at the gradient point y (train mode), each val_loader pass on
    the averaged weights x (eval mode). A hand-written sweep with the same lrs agrees."""
    model, opt, loader, val_loader = _trained_optimizer_state("adamw")
    twin_model, twin_opt = copy.deepcopy((model, opt))  # together: the same parameters
    rng = torch.get_rng_state()
    result = lrnotes.lr_find(model, loader, opt, nn.CrossEntropyLoss(), start_lr=1e-3,
                             end_lr=1e-1, num_steps=4, val_loader=val_loader, progress=False)
    assert len(result.lrs) == 4
    torch.set_rng_state(rng)
    loss_fn = nn.CrossEntropyLoss()
    twin_model.train()
    batches = iter(loader)
    for i, lr in enumerate(result.lrs):
        assert lr == pytest.approx(1e-3 * 100 ** (i / 3))
        twin_opt.train()
        twin_model.train()
        for g in twin_opt.param_groups:
            g["lr"] = lr
        twin_opt.zero_grad(set_to_none=True)
        xb, yb = next(batches)
        loss_fn(twin_model(xb), yb).backward()
        twin_opt.step()
        twin_opt.eval()
        twin_model.eval()
        with torch.no_grad():  # "the mean batch loss over the whole val_loader"
            losses = [loss_fn(twin_model(xv), yv).item() for xv, yv in val_loader]
        assert result.losses[i] == pytest.approx(sum(losses) / len(losses), rel=1e-5), i


class _InterruptingLoader:
    """The validation loader, interrupted (Ctrl-C) after the first batch of pass ``n``, when
    the optimizer is in eval mode and the model holds x."""

    def __init__(self, loader, n):
        self.loader, self.n, self.passes = loader, n, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.passes += 1
        for i, batch in enumerate(self.loader):
            if self.passes == self.n and i == 1:
                raise KeyboardInterrupt
            yield batch


class _InterruptAtEpochEnd(Callback):
    def __init__(self, n):
        self.n, self.seen = n, 0

    def on_epoch_end(self, state):
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["validation", "epoch end"])
@pytest.mark.parametrize("name", ["adamw", "prodigy"])
def test_resume_after_an_interrupt_at_the_epoch_end_is_exact(tmp_path, name, where):
    """A Ctrl-C after the epoch's last update but before its checkpoint (in validation, on
    the eval weights; or in a callback's on_epoch_end): whatever fit writes then, the resumed
    run equals an uninterrupted one."""
    full_model, full_opt, full_history = _fit(ALL[name])
    path = tmp_path / "ck.pt"
    model, opt, loader, val_loader = _setup(ALL[name])
    kw = {"callbacks": [_InterruptAtEpochEnd(2)]} if where == "epoch end" else {}
    if where == "validation":
        val_loader = _InterruptingLoader(val_loader, 2)
    with pytest.raises(KeyboardInterrupt):
        lrnotes.fit(model, loader, opt, nn.CrossEntropyLoss(), EPOCHS, val_loader=val_loader,
                    metrics=METRICS, progress=False, checkpoint=path, **kw)
    torch.manual_seed(4321)
    model, opt, history = _fit(ALL[name], model_seed=5, checkpoint=path, resume=True)
    assert_bitwise_equal(_weights(model), _weights(full_model), "weights")
    assert_bitwise_equal(opt.state_dict(), full_opt.state_dict(), "optimizer")
    _assert_histories_equal(history, full_history)


@pytest.mark.parametrize("name", ["adamw", "sgd-warmup"])
def test_train_one_epoch_and_evaluate_match_the_reference(name):
    """train_one_epoch 'is put in train mode for the updates and left in eval mode, so
    evaluate after this call sees the averaged weights': the docstring's loop is the
    reference's."""
    ref = _ref(name)
    model, opt, loader, val_loader = _setup(ALL[name])
    for e in range(EPOCHS):
        lrnotes.train_one_epoch(model, loader, opt, nn.CrossEntropyLoss())
        assert all(g["train_mode"] is False for g in opt.param_groups)
        val = lrnotes.evaluate(model, val_loader, nn.CrossEntropyLoss(), METRICS)
        assert val == ref["val"][e]
    assert_bitwise_equal(_weights(model), ref["x"][-1], "model")
    assert_bitwise_equal(opt.state_dict(), ref["opt"].state_dict(), "optimizer")


def test_fit_without_validation_returns_the_eval_weights():
    ref = _ref("adamw")
    model, opt, loader, _ = _setup(_sf_adamw)
    lrnotes.fit(model, loader, opt, nn.CrossEntropyLoss(), EPOCHS, progress=False)
    # the reference validated between epochs, drawing from no RNG the run draws from
    assert_bitwise_equal(_weights(model), ref["x"][-1], "model")
    assert all(g["train_mode"] is False for g in opt.param_groups)


class _InterruptingLoss(nn.CrossEntropyLoss):
    """Ctrl-C in the ``n``-th training forward pass (1-based): inside an optimizer update."""

    def __init__(self, n):
        super().__init__()
        self.n, self.calls = n, 0

    def forward(self, outputs, targets):
        if torch.is_grad_enabled():  # training, not validation
            self.calls += 1
            if self.calls == self.n:
                raise KeyboardInterrupt
        return super().forward(outputs, targets)


@pytest.mark.parametrize("name,accumulation,call", [
    ("adamw", 1, 3), ("adamw", 1, 9), ("adamw", 4, 10), ("adamw-warmup", 4, 14),
    ("prodigy", 1, 9)])
def test_resume_after_an_interrupt_in_a_forward_pass_is_exact(tmp_path, name, accumulation,
                                                               call):
    """A Ctrl-C in the loss of a training batch (before the update's optimizer step; with
    accumulation, between micro-batches): fit writes a checkpoint at the last update, and
    resuming from it gives the uninterrupted run."""
    full_model, full_opt, full_history = _fit(ALL[name], accumulation_steps=accumulation)
    path = tmp_path / "ck.pt"
    model, opt, loader, val_loader = _setup(ALL[name])
    with pytest.raises(KeyboardInterrupt):
        lrnotes.fit(model, loader, opt, _InterruptingLoss(call), EPOCHS, val_loader=val_loader,
                    metrics=METRICS, progress=False, checkpoint=path,
                    accumulation_steps=accumulation)
    if accumulation == 1:  # the checkpoint holds the train-mode weights after update call - 1
        saved_model, _ = _restored(ALL[name], path)
        assert_bitwise_equal(_weights(saved_model), _ref(name)["at"][call - 1][0], "checkpoint")
    model, opt, history = _fit(ALL[name], checkpoint=path, resume=True,
                               accumulation_steps=accumulation)
    assert_bitwise_equal(_weights(model), _weights(full_model), "weights")
    assert_bitwise_equal(opt.state_dict(), full_opt.state_dict(), "optimizer")
    _assert_histories_equal(history, full_history)


def test_lr_find_leaves_a_fresh_optimizer_fresh_and_sweeps_without_validation():
    model, opt, loader, _ = _setup(_sf_adamw)
    before_w, before_opt = _weights(model), copy.deepcopy(opt.state_dict())
    result = lrnotes.lr_find(model, loader, opt, nn.CrossEntropyLoss(), start_lr=1e-4,
                             end_lr=1.0, num_steps=6, progress=False)
    assert len(result.lrs) >= 2 and np.all(np.isfinite(result.losses))
    assert_bitwise_equal(_weights(model), before_w, "model")
    assert_bitwise_equal(opt.state_dict(), before_opt, "optimizer")  # no z, k = 0, eval mode
    assert opt.state_dict()["state"] == {}


def test_keep_best_keeps_the_eval_weights_of_its_epoch():
    """Callbacks see the epoch's end after validation, in eval mode: KeepBest's copy is the
    averaged weights x of the best epoch, as the reference validated them."""
    ref = _ref("adamw")
    # "max": the highest validation loss, an epoch before the last (the loss falls here)
    keep = lrnotes.callbacks.KeepBest("val_loss", mode="max")
    model, opt, history = _fit(_sf_adamw, callbacks=[keep])
    best = int(np.argmax([v["loss"] for v in ref["val"]]))
    assert best < EPOCHS - 1 and keep.best_epoch == best + 1
    assert_bitwise_equal(dict(keep.weights), ref["x"][best], "kept weights")
    assert_bitwise_equal(_weights(model), ref["x"][best], "restored weights")


@pytest.mark.parametrize("stop", [4, 6, 7])
def test_resume_with_bf16_autocast_is_exact(tmp_path, stop):
    """The same with ``amp="bf16"`` (autocast on the CPU, no scaler): a Ctrl-C after update
    ``stop`` (inside epoch 1, at its last update, inside epoch 2) resumes bit for bit."""
    full_model, full_opt, full_history = _fit(_sf_adamw, amp="bf16")
    path = tmp_path / "ck.pt"
    with pytest.raises(KeyboardInterrupt):
        _fit(_sf_adamw, checkpoint=path, amp="bf16", callbacks=[_InterruptAfter(stop)])
    torch.manual_seed(4321)
    model, opt, history = _fit(_sf_adamw, model_seed=5, checkpoint=path, resume=True,
                               amp="bf16")
    assert_bitwise_equal(_weights(model), _weights(full_model), "weights")
    assert_bitwise_equal(opt.state_dict(), full_opt.state_dict(), "optimizer")
    _assert_histories_equal(history, full_history)
