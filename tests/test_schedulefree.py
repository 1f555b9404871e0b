"""fit, train_one_epoch and lr_find with a real schedule-free optimizer
(``schedulefree.AdamWScheduleFree``, Defazio et al. 2024): updates at the gradient point
``y`` (train mode), validation, checkpoints and the returned model at the average ``x``
(eval mode), exact resume from an epoch's end and from mid-epoch."""

from __future__ import annotations

import pytest
import schedulefree  # the test extra installs it: these tests never skip
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrnotes import optimizer_mode
from lrnotes.finder import lr_find
from lrnotes.train import evaluate, fit, train_one_epoch


def data(n: int = 96, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 6, generator=g) + torch.nn.functional.one_hot(y, 6).float()
    return TensorDataset(x, y)


def setup_run(seed: int = 0, shuffle: bool = True):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = schedulefree.AdamWScheduleFree(model.parameters(), lr=0.01, warmup_steps=4)
    train = DataLoader(data(), batch_size=16, shuffle=shuffle,
                       generator=torch.Generator().manual_seed(1) if shuffle else None)
    val = DataLoader(data(48, seed=2), batch_size=16)
    return model, opt, train, val


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def is_train_mode(opt) -> bool:
    return bool(opt.param_groups[0]["train_mode"])


@pytest.mark.parametrize("user_called_train", [False, True])
def test_fit_validates_on_the_averaged_weights_and_returns_them(user_called_train):
    loss_fn = nn.CrossEntropyLoss()
    # a fixed order: the comparison is about where the weights are evaluated, not shuffling
    model, opt, train, val = setup_run(shuffle=False)
    if user_called_train:  # as schedulefree's README asks before training
        opt.train()
    history = fit(model, train, opt, loss_fn, epochs=3, val_loader=val, progress=False)
    assert not is_train_mode(opt)  # the model holds x, the weights to keep
    # the reference: the loop the schedulefree README asks for, by hand
    ref, ref_opt, ref_train, ref_val = setup_run(shuffle=False)
    ref_val_losses = []
    for _ in range(3):
        ref_opt.train()
        ref.train()
        for x, y in ref_train:
            loss = loss_fn(ref(x), y)
            loss.backward()
            ref_opt.step()
            ref_opt.zero_grad(set_to_none=True)
        ref_opt.eval()
        ref_val_losses.append(evaluate(ref, ref_val, loss_fn)["loss"])
    assert history.epochs["val_loss"] == ref_val_losses
    for a, b in zip(weights(model), weights(ref), strict=True):
        assert torch.equal(a, b)
    # the y weights give another validation loss: validating there would be a silent error
    ref_opt.train()
    assert evaluate(ref, ref_val, loss_fn)["loss"] != ref_val_losses[-1]


def test_train_one_epoch_leaves_eval_mode_so_evaluate_sees_x():
    loss_fn = nn.CrossEntropyLoss()
    model, opt, train, val = setup_run()
    train_one_epoch(model, train, opt, loss_fn)
    assert not is_train_mode(opt)
    x_loss = evaluate(model, val, loss_fn)["loss"]
    optimizer_mode(opt, "train")
    assert evaluate(model, val, loss_fn)["loss"] != x_loss


def test_resume_from_an_epoch_end_is_bitwise(tmp_path):
    # a run of 1 epoch grown to 3 (the epoch's checkpoint holds x and eval mode) against 3
    # epochs at once; a fixed order, since a 1-epoch run and a 3-epoch run may draw their
    # loader's generator differently before the first batch
    loss_fn = nn.CrossEntropyLoss()
    model, opt, train, val = setup_run(shuffle=False)
    full = fit(model, train, opt, loss_fn, epochs=3, val_loader=val, progress=False)
    expected = weights(model)

    ck = tmp_path / "ck.pt"
    model, opt, train, val = setup_run(shuffle=False)
    fit(model, train, opt, loss_fn, epochs=1, val_loader=val, progress=False, checkpoint=ck)
    # other initial weights: all must come from ck
    model, opt, train, val = setup_run(seed=5, shuffle=False)
    resumed = fit(model, train, opt, loss_fn, epochs=3, val_loader=val, progress=False,
                  checkpoint=ck, resume=True)
    for a, b in zip(weights(model), expected, strict=True):
        assert torch.equal(a, b)
    assert resumed.epochs["val_loss"] == full.epochs["val_loss"]


@pytest.mark.parametrize("interrupt_at", [3, 7])  # mid-epoch 1; the first batch of epoch 2
def test_resume_after_an_interrupt_mid_epoch_is_bitwise(tmp_path, interrupt_at):
    def run(checkpoint=None, resume=False, interrupt=None, seed=0):
        model, opt, train, val = setup_run(seed)
        calls = []

        def loss_fn(outputs, targets):
            calls.append(None)
            if len(calls) == interrupt:
                raise KeyboardInterrupt
            return nn.functional.cross_entropy(outputs, targets)

        try:
            fit(model, train, opt, loss_fn, epochs=2, progress=False, checkpoint=checkpoint,
                resume=resume)
        except KeyboardInterrupt:
            assert not is_train_mode(opt)  # the user's objects end in eval mode too
            return None
        return weights(model)

    expected = run()
    ck = tmp_path / "ck.pt"
    assert run(checkpoint=ck, interrupt=interrupt_at) is None
    assert ck.exists()
    resumed = run(checkpoint=ck, resume=True, seed=5)
    for a, b in zip(resumed, expected, strict=True):
        assert torch.equal(a, b)


def test_lr_find_sweeps_in_train_mode_and_restores_everything():
    loss_fn = nn.CrossEntropyLoss()
    model, opt, train, val = setup_run()
    fit(model, train, opt, loss_fn, epochs=1, progress=False)  # state z exists, eval mode
    before = weights(model)
    state = {k: v.clone() for k, v in opt.state[next(model.parameters())].items()
             if isinstance(v, torch.Tensor)}
    opt.param_groups[0]["warmup_steps"] = 0
    result = lr_find(model, train, opt, loss_fn, num_steps=20, progress=False,
                     val_loader=val)
    assert len(result.lrs) > 5
    assert not is_train_mode(opt)
    for a, b in zip(weights(model), before, strict=True):
        assert torch.equal(a, b)
    after = opt.state[next(model.parameters())]
    for key, value in state.items():
        assert torch.equal(after[key], value)


def test_optimizer_mode_is_a_no_op_for_torch_optimizers_and_checks_its_argument():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer_mode(opt, "eval")
    optimizer_mode(opt, "train")
    with pytest.raises(ValueError, match="mode"):
        optimizer_mode(opt, "inference")
