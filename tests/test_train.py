"""fit, train_one_epoch and evaluate: training works, schedulers step where they should,
accumulation equals a big batch, AMP and clipping, exact resume in a new process, NaN, bad input."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrnotes import checkpoint
from lrnotes.monitor import History
from lrnotes.train import accuracy, evaluate, fit, to_device, train_one_epoch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# issue 19: the tests that take a device run on CUDA when there is one, with the CPU's
# assertions; here they are skipped, saying why
CUDA = pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: fit's GPU paths (bf16, fp16 with a "
    "GradScaler, accumulation, channels-last, exact resume, evaluate) need one"))
DEVICES = ["cpu", CUDA]


def blobs(n: int = 128, seed: int = 0) -> TensorDataset:
    """Two separable Gaussian blobs in 4-d, labels 0/1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 4, generator=g) + (2 * y[:, None].float() - 1)
    return TensorDataset(x, y)


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_tiny_task_trains_and_records_the_torch_schedule():
    data = blobs()
    loader = DataLoader(data, batch_size=16, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    model = mlp()
    loss_fn = nn.CrossEntropyLoss()
    initial = evaluate(model, DataLoader(data, batch_size=128), loss_fn)["loss"]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    epochs, total = 3, 3 * len(loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=total)
    history = fit(model, loader, opt, loss_fn, epochs, val_loader=DataLoader(data, batch_size=50),
                  scheduler=sched, metrics={"acc": accuracy}, progress=False, log_every=5)

    # the same scheduler replayed on a dummy optimizer: lr of update t, read before step t
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    replay = torch.optim.lr_scheduler.OneCycleLR(dummy, max_lr=0.5, total_steps=total)
    expected = []
    for _ in range(total):
        expected.append(dummy.param_groups[0]["lr"])
        dummy.step()
        replay.step()
    np.testing.assert_array_equal(history.step, np.arange(total))
    np.testing.assert_array_equal(history.lr[:, 0], expected)
    assert history.lr.shape == (total, 1) and history.group_names == ["group_0"]
    assert np.isfinite(history.grad_norm).all() and (history.grad_norm > 0).all()
    assert history.epochs["epoch"] == [1, 2, 3]
    assert history.epochs["step"] == [len(loader), 2 * len(loader), 3 * len(loader)]
    assert history.epochs["val_loss"][-1] < initial / 2
    assert history.epochs["train_loss"][-1] < initial / 2
    assert history.epochs["val_acc"][-1] > 0.9
    final = evaluate(model, DataLoader(data, batch_size=7), loss_fn)["loss"]
    assert final == pytest.approx(history.epochs["val_loss"][-1], rel=1e-5)


def test_lr_recorded_equals_lrnotes_schedule_for_every_group():
    from lrnotes.schedules import attach, cosine, warmup

    model = mlp()
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.2},
                           {"params": model[2].parameters(), "lr": 0.02, "name": "head"}])
    loader = DataLoader(blobs(64), batch_size=8)
    schedule = warmup(cosine(total_steps=12), steps=4)
    sched = attach(opt, schedule)
    history = fit(model, loader, opt, nn.CrossEntropyLoss(), 2, scheduler=sched, progress=False)
    multipliers = schedule.values(16)
    assert history.group_names == ["group_0", "head"]
    np.testing.assert_allclose(history.lr, np.outer(multipliers, [0.2, 0.02]), rtol=1e-12)
    assert history.epochs["lr/head"][-1] == pytest.approx(0.02 * schedule(16))


def test_epoch_stepping_keeps_the_lr_within_an_epoch():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    loader = DataLoader(blobs(40), batch_size=10)
    history = fit(model, loader, opt, nn.CrossEntropyLoss(), 3, scheduler=sched,
                  step_scheduler="epoch", progress=False)
    np.testing.assert_allclose(history.lr[:, 0], np.repeat([0.1, 0.05, 0.025], 4))


class SpyPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def step(self, metrics, epoch=None):
        self.seen.append(float(metrics))
        super().step(metrics)


@pytest.mark.parametrize("with_val", [True, False])
def test_reduce_on_plateau_is_stepped_per_epoch_with_the_validation_loss(with_val):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = SpyPlateau(opt, patience=0)
    loader = DataLoader(blobs(40), batch_size=10)
    val = DataLoader(blobs(30, seed=1), batch_size=10) if with_val else None
    history = fit(model, loader, opt, nn.CrossEntropyLoss(), 3, val_loader=val, scheduler=sched,
                  progress=False)
    key = "val_loss" if with_val else "train_loss"
    assert sched.seen == history.epochs[key]


def run_accumulated(batch_size: int, accumulation_steps: int,
                    device: str = "cpu") -> tuple[nn.Module, History]:
    data = blobs(72)  # 72 = 2 * 32 + 8: a short last group
    model = mlp().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    history = fit(model, DataLoader(data, batch_size=batch_size), opt, nn.CrossEntropyLoss(), 2,
                  scheduler=sched, step_scheduler="batch",  # per update: tests the count
                  accumulation_steps=accumulation_steps, clip=1.0, progress=False, device=device)
    return model, history


@pytest.mark.parametrize("device", DEVICES)
def test_accumulation_of_four_batches_of_8_matches_batches_of_32(device):
    small, h_small = run_accumulated(8, 4, device)
    big, h_big = run_accumulated(32, 1, device)
    assert next(small.parameters()).device.type == device
    for a, b in zip(params(small), params(big), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(h_small.step, np.arange(6))  # one step per update
    np.testing.assert_array_equal(h_small.lr, h_big.lr)
    np.testing.assert_allclose(h_small.loss, h_big.loss, rtol=1e-5)
    np.testing.assert_allclose(h_small.grad_norm, h_big.grad_norm, rtol=1e-4)
    np.testing.assert_allclose(h_small.epochs["train_loss"], h_big.epochs["train_loss"], rtol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_autocast_trains(device):
    data = blobs()
    model = mlp().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    initial = evaluate(model, DataLoader(data, batch_size=64), loss_fn)["loss"]

    def is_bf16(outputs, targets):
        return torch.tensor(float(outputs.dtype == torch.bfloat16))

    history = fit(model, DataLoader(data, batch_size=16), opt, loss_fn, 3, amp="bf16",
                  metrics={"bf16": is_bf16}, val_loader=DataLoader(data, batch_size=64),
                  progress=False, device=device)
    assert history.epochs["train_bf16"] == [1.0, 1.0, 1.0]  # autocast was on
    assert history.epochs["val_bf16"] == [1.0, 1.0, 1.0]
    assert next(model.parameters()).dtype == torch.float32
    assert history.epochs["val_loss"][-1] < initial / 2


@pytest.mark.parametrize("device", DEVICES)
def test_clipping_under_a_grad_scaler_clips_the_true_gradients(device):
    data = blobs(32)
    model = mlp().to(device)
    before = params(model)
    x, y = (t.to(device) for t in data.tensors)
    with torch.autocast(device, dtype=torch.float16):
        loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    true_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
    max_norm = true_norm / 4  # clipping must act
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    history = fit(model, DataLoader(data, batch_size=32), opt, nn.CrossEntropyLoss(), 1,
                  amp="fp16", clip=max_norm, progress=False, device=device)
    # one SGD step with lr 1 moves the parameters by exactly the clipped gradient;
    # clipping the scaled gradients (scale 65536) would move them 65536 times less
    step = torch.linalg.vector_norm(torch.stack(
        [(a - b).norm() for a, b in zip(params(model), before, strict=True)]))
    assert step.item() == pytest.approx(max_norm, rel=1e-3)
    assert history.grad_norm[0] == pytest.approx(true_norm, rel=1e-3)


def test_lstm_style_tuple_inputs_dict_inputs_and_batch_fn():
    class Bag(nn.Module):  # takes (tokens, lengths): the mean embedding of the real tokens
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.out = nn.Linear(4, 2)

        def forward(self, tokens, lengths):
            mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
            e = (self.emb(tokens) * mask[..., None]).sum(1) / lengths[:, None]
            return self.out(e)

    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 10, (24, 5), generator=g)
    lengths = torch.randint(1, 6, (24,), generator=g)
    labels = (tokens[:, 0] > 4).long()
    batches = [((tokens[i:i + 8], lengths[i:i + 8]), labels[i:i + 8]) for i in range(0, 24, 8)]
    as_dicts = [{"x": {"tokens": t, "lengths": n}, "y": y} for (t, n), y in batches]

    torch.manual_seed(0)
    a = Bag()
    torch.manual_seed(0)
    b = Bag()
    fit(a, batches, torch.optim.SGD(a.parameters(), lr=0.5), nn.CrossEntropyLoss(), 2,
        progress=False)
    fit(b, as_dicts, torch.optim.SGD(b.parameters(), lr=0.5), nn.CrossEntropyLoss(), 2,
        progress=False, batch_fn=lambda batch: (batch["x"], batch["y"]))
    for p, q in zip(params(a), params(b), strict=True):
        torch.testing.assert_close(p, q)
    with pytest.raises(ValueError, match="batch_fn"):
        fit(a, as_dicts, torch.optim.SGD(a.parameters(), lr=0.5), nn.CrossEntropyLoss(), 1,
            progress=False)


def test_to_device_moves_nested_structures():
    moved = to_device({"a": (torch.ones(1), [torch.zeros(2)]), "b": 3}, "cpu")
    assert isinstance(moved["a"], tuple) and moved["b"] == 3
    assert moved["a"][1][0].device.type == "cpu"


@pytest.mark.parametrize("device", DEVICES)
def test_evaluate_weights_batches_by_size_and_train_one_epoch_returns_the_epoch_loss(device):
    data = blobs(10)
    model = mlp().to(device)
    loss_fn = nn.CrossEntropyLoss()
    x, y = (t.to(device) for t in data.tensors)
    with torch.no_grad():
        full = loss_fn(model(x), y).item()
        acc = accuracy(model(x), y).item()
    scores = evaluate(model, DataLoader(data, batch_size=4), loss_fn, {"acc": accuracy})
    assert scores["loss"] == pytest.approx(full, rel=1e-6)  # batches of 4, 4, 2
    assert scores["acc"] == pytest.approx(acc)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    history = History()
    train = train_one_epoch(model, DataLoader(data, batch_size=4), opt, loss_fn, history=history,
                            metrics={"acc": accuracy})
    assert train["loss"] == pytest.approx(full, rel=1e-6)
    assert train["acc"] == pytest.approx(acc)
    assert history.num_steps == 3 and len(history.loss) == 3


def nan_at(call: int):
    """A loss function returning NaN on its ``call``-th call (0-based)."""
    calls = []

    def loss_fn(outputs, targets):
        loss = nn.functional.cross_entropy(outputs, targets)
        calls.append(None)
        return loss * float("nan") if len(calls) - 1 == call else loss

    return loss_fn


def test_nan_loss_raises_naming_the_step():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match="step 5 ") as err:
        fit(model, DataLoader(blobs(64), batch_size=8), opt, nan_at(5), 2, progress=False,
            log_every=4)
    assert np.isfinite(err.value.history.loss[:5]).all()
    assert np.isnan(err.value.history.loss[5])


def test_nan_loss_is_skipped_when_asked():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, DataLoader(blobs(64), batch_size=8), opt, nan_at(3), 2, progress=False,
                  on_nan="skip")
    assert history.skipped == [3]
    assert history.num_steps == 15 and np.isfinite(history.loss).all()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_keyboard_interrupt_keeps_history_and_writes_a_checkpoint(tmp_path):
    calls = []

    def loss_fn(outputs, targets):
        calls.append(None)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(outputs, targets)

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "ck.pt"
    with pytest.raises(KeyboardInterrupt) as err:
        fit(model, DataLoader(blobs(40), batch_size=10), opt, loss_fn, 3, checkpoint=path,
            progress=False)
    assert err.value.history.num_steps == 6
    state = checkpoint.load(path)
    assert (state["epoch"], state["batch"]) == (1, 2)
    assert len(state["history"]["loss"]) == 6
    torch.testing.assert_close(state["model"]["0.weight"], model[0].weight)


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(blobs(20), batch_size=10)
    path = tmp_path / "ck.pt"
    fit(model, loader, opt, nn.CrossEntropyLoss(), 1, checkpoint=path, progress=False)
    good = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        fit(model, loader, opt, nn.CrossEntropyLoss(), 1, checkpoint=path, overwrite=True,
            progress=False)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["ck.pt"]


RESUME_SCRIPT = textwrap.dedent('''
    import random, sys
    import numpy as np, torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset
    from lrnotes.train import fit

    class Noisy(Dataset):  # augmentation from numpy and python RNGs in the main process
        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.x = torch.randn(60, 5, generator=g)
            self.y = torch.randint(0, 3, (60,), generator=g)
        def __len__(self):
            return 60
        def __getitem__(self, i):
            noise = float(np.random.normal(0, 0.1)) + 0.01 * random.random()
            return self.x[i] + noise, self.y[i]

    def run(with_generator, interrupt_at=None, checkpoint=None, resume=False):
        torch.manual_seed(0); np.random.seed(0); random.seed(0)
        g = torch.Generator().manual_seed(1) if with_generator else None
        loader = DataLoader(Noisy(), batch_size=8, shuffle=True, generator=g)
        model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=12)
        calls = []
        def loss_fn(outputs, targets):  # interrupted after the forward pass: mid-batch
            calls.append(None)
            if len(calls) == interrupt_at:
                raise KeyboardInterrupt
            return nn.functional.cross_entropy(outputs, targets)
        try:
            history = fit(model, loader, opt, loss_fn, 3, scheduler=sched, accumulation_steps=2,
                          checkpoint=checkpoint, resume=resume, progress=False, log_every=3)
        except KeyboardInterrupt:
            return None
        return {"params": [p.detach().clone() for p in model.parameters()],
                "history": history.state_dict()}

    CASES = [(False, 13), (True, 13), (False, 17)]  # (loader generator?, interrupted call)

    def first(folder):  # uninterrupted and interrupted runs
        results = {}
        for with_generator, k in CASES:
            results[(with_generator, k)] = run(with_generator)
            ck = f"{folder}/ck_{with_generator}_{k}.pt"
            assert run(with_generator, interrupt_at=k, checkpoint=ck) is None
        return results

    if __name__ == "__main__":  # resume each interrupted run, in this new process
        folder = sys.argv[1]
        torch.save({(g, k): run(g, checkpoint=f"{folder}/ck_{g}_{k}.pt", resume=True)
                    for g, k in CASES}, f"{folder}/resumed.pt")
''')


def test_resume_in_a_new_process_gives_bitwise_the_uninterrupted_parameters(tmp_path):
    script = tmp_path / "resume_script.py"
    script.write_text(RESUME_SCRIPT)
    first = runpy.run_path(str(script))["first"](str(tmp_path))  # here, to save an import
    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=False)
    for case, full in first.items():
        again = resumed[case]
        for a, b in zip(full["params"], again["params"], strict=True):
            assert torch.equal(a, b), f"case {case}: resumed parameters differ"
        h, g = full["history"], again["history"]
        assert h["loss"] == g["loss"] and h["lr"] == g["lr"] and h["step"] == g["step"]
        for key in ("train_loss", "step", "lr/group_0"):
            assert h["epochs"][key] == g["epochs"][key]
    state = checkpoint.load(tmp_path / "ck_False_13.pt")
    assert (state["epoch"], state["batch"]) == (3, 0)  # the resumed run saved its last epoch


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs"),
    ({"epochs": 1.5}, "epochs"),
    ({"accumulation_steps": 0}, "accumulation_steps"),
    ({"step_scheduler": "step"}, "step_scheduler"),
    ({"amp": "fp8"}, "amp"),
    ({"on_nan": "ignore"}, "on_nan"),
    ({"log_every": 0}, "log_every"),
    ({"clip": -1.0}, "clip"),
    ({"clip": {"max_nrom": 1.0}}, "clip"),
    ({"metrics": {"loss": accuracy}}, "metrics"),
    ({"resume": True}, "resume"),
    ({"train_loader": []}, "train_loader"),
    ({"val_loader": DataLoader(blobs(0), batch_size=4)}, "val_loader"),
    ({"scheduler": "other"}, "scheduler"),
])
def test_bad_input_raises_value_error_naming_the_argument(kwargs, match):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    if kwargs.get("scheduler") == "other":
        other = torch.optim.SGD(model.parameters(), lr=0.1)
        kwargs = {"scheduler": torch.optim.lr_scheduler.StepLR(other, step_size=1)}
    args = {"train_loader": DataLoader(blobs(16), batch_size=8), "epochs": 1, **kwargs}
    loader, epochs = args.pop("train_loader"), args.pop("epochs")
    with pytest.raises(ValueError, match=match):
        fit(model, loader, opt, nn.CrossEntropyLoss(), epochs, progress=False, **args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"resume": 3}, TypeError, "resume must be a bool or a checkpoint path"),
    ({"overwrite": "yes", "checkpoint": "ck.pt"}, TypeError, "overwrite must be a bool"),
    ({"overwrite": True}, ValueError, "overwrite=True needs checkpoint"),
    ({"checkpoint": 3}, TypeError, "checkpoint must be a file path"),
    ({"resume": "missing.pt"}, ValueError, "resume: no checkpoint at 'missing.pt'"),
])
def test_bad_checkpoint_arguments_name_the_argument(kwargs, error, match, tmp_path,
                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = mlp()
    with pytest.raises(error, match=match):
        fit(model, DataLoader(blobs(16), batch_size=8), torch.optim.SGD(model.parameters(), 0.1),
            nn.CrossEntropyLoss(), 1, progress=False, **kwargs)
    assert os.listdir(tmp_path) == []


def test_a_loader_without_len_that_yields_nothing_is_an_error():
    model = mlp()
    with pytest.raises(ValueError, match="train_loader"):
        fit(model, iter([]), torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), 1,
            progress=False)


# --- checkpoints and resume: what fit refuses, before it touches anything (issue 15) ---------


def run_with_checkpoint(path, epochs: int = 1, model=None, **kwargs):
    model = model if model is not None else mlp()
    opt = kwargs.pop("optimizer", None) or torch.optim.SGD(model.parameters(), lr=0.1,
                                                           momentum=0.9)
    loader = kwargs.pop("loader", None) or DataLoader(blobs(40), batch_size=10)
    return fit(model, loader, opt, nn.CrossEntropyLoss(), epochs, checkpoint=path,
               progress=False, **kwargs)


class _InterruptInLoss(nn.CrossEntropyLoss):
    """Ctrl-C in the ``n``-th training loss: after its forward pass, before its update."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.calls = n, 0

    def forward(self, outputs, targets):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return super().forward(outputs, targets)


@pytest.mark.parametrize("accumulation_steps,call", [(1, 4), (1, 11), (3, 5)])
def test_an_interrupt_after_a_forward_pass_resumes_batchnorm_statistics_exactly(
        tmp_path, accumulation_steps, call):
    """The forward pass of the interrupted batch (or of a half-done accumulation group) has
    moved BatchNorm's running statistics; the checkpoint holds them as they were after the
    last update, so the resumed run, which repeats that batch, ends bitwise equal. Before,
    running_mean, running_var and num_batches_tracked differed."""
    def setup():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = DataLoader(blobs(48), batch_size=8, shuffle=True,
                            generator=torch.Generator().manual_seed(1))
        return model, opt, loader

    model, opt, loader = setup()
    fit(model, loader, opt, nn.CrossEntropyLoss(), 2, progress=False,
        accumulation_steps=accumulation_steps)
    full = model.state_dict()
    path = tmp_path / "ck.pt"
    model, opt, loader = setup()
    with pytest.raises(KeyboardInterrupt):
        fit(model, loader, opt, _InterruptInLoss(call), 2, progress=False, checkpoint=path,
            accumulation_steps=accumulation_steps)
    assert checkpoint.load(path)["batch"] > 0  # a mid-epoch checkpoint
    # interrupted again in the first forward pass after resuming: the resume point's buffers
    # are the checkpoint's, not those of the fresh model it was loaded into
    model, opt, loader = setup()
    with pytest.raises(KeyboardInterrupt):
        fit(model, loader, opt, _InterruptInLoss(1), 2, progress=False, checkpoint=path,
            resume=True, accumulation_steps=accumulation_steps)
    model, opt, loader = setup()
    fit(model, loader, opt, nn.CrossEntropyLoss(), 2, progress=False, checkpoint=path,
        resume=True, accumulation_steps=accumulation_steps)
    for key, value in model.state_dict().items():
        assert torch.equal(value, full[key]), key


def test_an_existing_checkpoint_is_not_overwritten_without_resume_or_overwrite(tmp_path):
    path = tmp_path / "ck.pt"
    run_with_checkpoint(path, epochs=3)
    longer_run = path.read_bytes()
    calls = []

    def loss_fn(outputs, targets):
        calls.append(None)
        return nn.functional.cross_entropy(outputs, targets)

    model = mlp()
    with pytest.raises(ValueError, match="already exists; pass resume=True to continue that "
                                         "run, or overwrite=True to start over"):
        fit(model, DataLoader(blobs(40), batch_size=10), torch.optim.SGD(model.parameters(), 0.1),
            loss_fn, 1, checkpoint=path, progress=False)
    assert path.read_bytes() == longer_run and not calls
    history = run_with_checkpoint(path, epochs=1, overwrite=True)
    assert checkpoint.load(path)["epoch"] == 1 and history.num_epochs == 1
    history = run_with_checkpoint(path, epochs=2, resume=True)
    assert history.epochs["epoch"] == [1, 2] and checkpoint.load(path)["epoch"] == 2
    with pytest.raises(ValueError, match="resume and overwrite"):
        run_with_checkpoint(path, epochs=2, resume=True, overwrite=True)


def test_resume_into_a_model_of_another_shape_changes_nothing(tmp_path):
    path = tmp_path / "ck.pt"
    run_with_checkpoint(path, epochs=1)
    torch.manual_seed(1)
    wider = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))  # 3 classes, not 2
    opt = torch.optim.SGD(wider.parameters(), lr=0.1, momentum=0.9)
    before = params(wider)
    with pytest.raises(checkpoint.CheckpointError, match="does not fit the model: 2.weight"):
        run_with_checkpoint(path, epochs=2, model=wider, optimizer=opt, resume=True)
    for a, b in zip(before, params(wider), strict=True):
        assert torch.equal(a, b)  # not even the first layer (same shape) was loaded
    assert opt.state_dict()["state"] == {}


def test_a_flipped_byte_in_the_checkpoint_is_detected_on_resume(tmp_path):
    path = tmp_path / "ck.pt"
    run_with_checkpoint(path, epochs=1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(checkpoint.CheckpointError, match="checksum mismatch"):
        run_with_checkpoint(path, epochs=2, resume=True)


@pytest.mark.parametrize("content, why", [
    (b"", "empty"),
    (b"\x00\x01garbage" * 10, "no lrnotes marker"),
    ("truncated", "truncated"),
    ("state_dict", "plain torch.save file"),
])
def test_resume_from_a_file_that_is_not_a_checkpoint_names_it(tmp_path, content, why):
    path = tmp_path / "ck.pt"
    if content == "truncated":
        run_with_checkpoint(path)
        path.write_bytes(path.read_bytes()[:-100])
    elif content == "state_dict":
        torch.save(mlp().state_dict(), path)
    else:
        path.write_bytes(content)
    with pytest.raises(checkpoint.CheckpointError,
                       match=f"not an lrnotes checkpoint: {path} \\(.*{why}"):
        run_with_checkpoint(path, epochs=2, resume=True)
    with pytest.raises(checkpoint.CheckpointError, match="not an lrnotes checkpoint"):
        run_with_checkpoint(tmp_path / "new.pt", epochs=2, resume=path)


def test_a_checkpoint_of_another_optimizer_or_scheduler_is_refused(tmp_path):
    from lrnotes.schedules import attach, constant

    path = tmp_path / "ck.pt"
    model = mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    run_with_checkpoint(path, model=model, optimizer=sgd,
                        scheduler=torch.optim.lr_scheduler.StepLR(sgd, step_size=1))
    adam = torch.optim.Adam(model.parameters(), lr=0.1)
    with pytest.raises(checkpoint.CheckpointError, match="optimizer: it holds "
                                                         "torch.optim.sgd.SGD state"):
        run_with_checkpoint(path, 2, model=model, optimizer=adam, resume=True,
                            scheduler=torch.optim.lr_scheduler.StepLR(adam, step_size=1))
    assert adam.state_dict()["state"] == {}
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduled = attach(sgd, constant(1.0))
    before = scheduled.state_dict()
    with pytest.raises(checkpoint.CheckpointError, match="scheduler: it holds .*StepLR state"):
        run_with_checkpoint(path, 2, model=model, optimizer=sgd, scheduler=scheduled,
                            resume=True)
    assert scheduled.state_dict() == before


class NoLen:
    """An iterable without len(): fit cannot check its length before the resume."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def test_mid_epoch_resume_with_a_shorter_loader_says_so(tmp_path):
    def interrupted(loader):
        calls = []

        def loss_fn(outputs, targets):
            calls.append(None)
            if len(calls) == 4:
                raise KeyboardInterrupt
            return nn.functional.cross_entropy(outputs, targets)

        model = mlp()
        with pytest.raises(KeyboardInterrupt):
            fit(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn, 2,
                checkpoint=path, overwrite=path.exists(), progress=False)
        assert checkpoint.load(path)["batch"] == 3

    path = tmp_path / "ck.pt"
    data = blobs(40)
    interrupted(DataLoader(data, batch_size=8))  # 5 batches
    with pytest.raises(checkpoint.CheckpointError, match="stopped after batch 3 of 5 in epoch 1;"
                                                         " the loader now has 2 batches"):
        run_with_checkpoint(path, 2, loader=DataLoader(blobs(16), batch_size=8), resume=True)
    batches = list(DataLoader(data, batch_size=8))
    interrupted(NoLen(batches))
    with pytest.raises(ValueError, match="train_loader: ended after 2 batches while skipping "
                                         "the 3 batches of epoch 1"):
        run_with_checkpoint(path, 2, loader=NoLen(batches[:2]), resume=True)


@pytest.mark.parametrize("where", ["directory", "under a file"])
def test_a_checkpoint_path_that_cannot_be_written_fails_before_training(tmp_path, where):
    calls = []

    def loss_fn(outputs, targets):
        calls.append(None)
        return nn.functional.cross_entropy(outputs, targets)

    if where == "directory":
        path, match = tmp_path, "is a directory"
    else:
        (tmp_path / "file").write_text("")
        path, match = tmp_path / "file" / "ck.pt", "cannot write to"
    model = mlp()
    with pytest.raises(ValueError, match=f"checkpoint: .*{match}"):
        fit(model, DataLoader(blobs(16), batch_size=8), torch.optim.SGD(model.parameters(), 0.1),
            loss_fn, 2, checkpoint=path, progress=False)
    assert not calls


def test_fit_removes_temporaries_a_killed_write_left(tmp_path):
    path = tmp_path / "ck.pt"
    (tmp_path / ".ck.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    run_with_checkpoint(path)
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_a_one_shot_generator_is_refused_for_more_than_one_epoch():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = list(DataLoader(blobs(16), batch_size=8))
    with pytest.raises(ValueError, match="train_loader is a one-shot iterator .*exhausted after "
                                         "one pass; pass a re-iterable loader"):
        fit(model, (b for b in batches), opt, nn.CrossEntropyLoss(), 2, progress=False)
    with pytest.raises(ValueError, match="val_loader is a one-shot iterator"):
        fit(model, batches, opt, nn.CrossEntropyLoss(), 2, val_loader=iter(batches),
            progress=False)
    history = fit(model, (b for b in batches), opt, nn.CrossEntropyLoss(), 1, progress=False)
    assert history.num_steps == 2  # one pass of a generator is fine


def test_a_metric_returning_a_vector_is_named():
    model = mlp()
    with pytest.raises(ValueError, match=r"metrics\['per_row'\] must return one number per "
                                         r"batch .*shape \(8,\)"):
        fit(model, DataLoader(blobs(16), batch_size=8), torch.optim.SGD(model.parameters(), 0.1),
            nn.CrossEntropyLoss(), 1, metrics={"per_row": lambda out, y: (out.argmax(1) == y)},
            progress=False)


def test_fit_draws_its_bar_with_progress_bar(monkeypatch):
    import lrnotes.train as train

    seen = []

    def spy(**kwargs):
        seen.append(kwargs)
        return real(**kwargs)

    real = train.progress_bar
    monkeypatch.setattr(train, "progress_bar", spy)
    model = mlp()
    fit(model, DataLoader(blobs(16), batch_size=8), torch.optim.SGD(model.parameters(), 0.1),
        nn.CrossEntropyLoss(), 2, progress=False)
    assert seen == [{"total": 4, "enabled": False, "initial": 0, "unit": "batch",
                     "dynamic_ncols": True}]


# --- the device tests of issue 19 that have no CPU twin above -----------------------------------


def images(n: int = 48) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 3, 8, 8, generator=g)
    x[:, 0] += 2 * y[:, None, None].float() - 1  # the class shifts the first channel
    return TensorDataset(x, y)


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 2))


@pytest.mark.parametrize("device", DEVICES)
def test_channels_last_trains_and_stays_channels_last(device):
    def run(channels_last: bool, amp):
        model = cnn().to(device)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        loader = DataLoader(images(), batch_size=16)
        history = fit(model, loader, opt, nn.CrossEntropyLoss(), 4, amp=amp, device=device,
                      batch_fn=lambda b: (b[0].to(memory_format=fmt), b[1]), progress=False)
        return model, history

    last, h_last = run(True, None)
    plain, h_plain = run(False, None)
    assert last[0].weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(params(last), params(plain), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    _, h_bf16 = run(True, "bf16")
    for history in (h_last, h_bf16):
        assert history.epochs["train_loss"][-1] < 0.5 * history.epochs["train_loss"][0]


def resumable_run(device: str, path, interrupt_at: int | None = None, resume: bool = False):
    torch.manual_seed(0)
    loader = DataLoader(blobs(48), batch_size=8, shuffle=True)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=9)
    calls = []

    def loss_fn(outputs, targets):  # interrupted after a forward pass: mid-update
        calls.append(None)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(outputs, targets)

    history = fit(model, loader, opt, loss_fn, 3, scheduler=sched, accumulation_steps=2,
                  checkpoint=path, resume=resume, overwrite=path.exists() and not resume,
                  device=device, progress=False, log_every=2)
    return params(model), history


@pytest.mark.parametrize("device", DEVICES)
def test_exact_resume_in_process_on_the_device(device, tmp_path):
    path = tmp_path / "ck.pt"
    full, h_full = resumable_run(device, tmp_path / "full.pt")
    with pytest.raises(KeyboardInterrupt):
        resumable_run(device, path, interrupt_at=10)
    state = checkpoint.load(path)
    assert (state["epoch"], state["batch"]) == (1, 2)  # after update 4, mid-epoch 2
    assert ("cuda" in state["rng"][0]) == (device == "cuda")
    again, h_again = resumable_run(device, path, resume=True)
    for a, b in zip(full, again, strict=True):
        assert a.device.type == device and torch.equal(a, b)
    assert h_full.state_dict()["loss"] == h_again.state_dict()["loss"]
    assert h_full.state_dict()["lr"] == h_again.state_dict()["lr"]


def test_fit_reports_the_validation_loss_to_a_plateau_part_of_a_schedule():
    from lrnotes import schedules as S

    model = mlp()
    train = DataLoader(blobs(64), batch_size=16)  # 4 updates per epoch
    val = DataLoader(blobs(32, seed=1), batch_size=16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = S.attach(optimizer, S.join([S.linear(0.1, 1.0, 4), S.plateau(patience=0, factor=0.5)],
                                       [4]))
    history = fit(model, train, optimizer, nn.CrossEntropyLoss(), epochs=3, val_loader=val,
                  scheduler=sched, progress=False)
    # the plateau part drives updates 4 on: it gets the reports of epochs 1, 2 and 3
    assert sched.state_dict()["plateaus"]["lr"][0]["reports"] == 3
    # each report after the first that does not improve on the best halves the level
    val_losses = history.epochs["val_loss"]
    stalls = sum(loss >= min(val_losses[:k]) * (1 - 1e-4) for k, loss in enumerate(val_losses)
                 if k > 0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** stalls)
