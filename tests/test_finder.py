"""The LR range test: exact restoration, the lr sweep, the stopping rules, the suggestion rules,
physics on least squares, and a real small task (sklearn digits)."""

from __future__ import annotations

import copy
import math
import random

import matplotlib
import numpy as np
import pytest
import torch
from roundtrip import assert_bitwise_equal
from torch import nn

from lrnotes.finder import LRFindResult, lr_find
from lrnotes.plot import plot_lr_find

matplotlib.use("Agg")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny models: several threads only fight over the shared cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def mse(out, target):
    return ((out.squeeze(-1) - target) ** 2).mean() / 2


# --- restoration ------------------------------------------------------------------------


def bn_setup(seed=0, device="cpu"):
    """A model with BatchNorm and Dropout, Adam with two groups and state from a real step taken
    through a GradScaler, grads left over, modules in mixed train/eval modes, a shuffling loader;
    everything on ``device``."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(8, 3)).to(device)
    groups = [{"params": list(model[0].parameters()) + list(model[1].parameters()), "lr": 1e-3},
              {"params": model[4].parameters(), "lr": 1e-2}]
    optimizer = torch.optim.Adam(groups, betas=(0.8, 0.9))
    scaler = torch.amp.GradScaler(torch.device(device).type, init_scale=2.0**8,
                                  growth_interval=3)
    x, y = torch.randn(64, 4).to(device), torch.randint(0, 3, (64,)).to(device)
    loss = nn.functional.cross_entropy(model(x[:16]), y[:16])
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    nn.functional.cross_entropy(model(x[16:32]), y[16:32]).backward()  # grads left over
    model.eval()
    model[3].train()
    dataset = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True)
    return model, optimizer, scaler, loader


def everything(model, optimizer, scaler):
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "buffers": [b.clone() for b in model.buffers()],
        "modes": [m.training for m in model.modules()],
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "scaler": scaler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
    }


class Boom(Exception):
    pass


def watching_step(model, calls, raise_at=None, exc=Boom):
    """A step_fn that keeps a copy of the BatchNorm statistics and the lr it sees, so the test
    can tell the run really changed them, and raises ``exc`` at call ``raise_at``."""

    def step(m, batch):
        calls.append(m[1].running_mean.clone())
        if raise_at is not None and len(calls) == raise_at:
            raise exc("stop here")
        inputs, targets = batch
        return nn.functional.cross_entropy(m(inputs), targets)

    return step


@pytest.mark.parametrize("offload", [False, True])
def test_restores_everything_after_a_run(offload):
    model, optimizer, scaler, loader = bn_setup()
    state_object = optimizer.state[model[4].weight]["exp_avg"]
    calls = []
    np.random.seed(3)
    random.seed(3)
    before = everything(model, optimizer, scaler)
    result = lr_find(model, loader, optimizer, step_fn=watching_step(model, calls),
                     start_lr=1e-4, end_lr=1.0, num_steps=12, scaler=scaler, offload=offload,
                     progress=False)
    assert len(result.lrs) == 12 and len(calls) == 12
    assert not torch.equal(calls[-1], before["buffers"][0]), "the run should move BatchNorm stats"
    assert_bitwise_equal(everything(model, optimizer, scaler), before)
    assert optimizer.state[model[4].weight]["exp_avg"] is state_object
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 1e-2]


def test_the_loaders_own_shuffling_generator_is_put_back():
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(40, 3), torch.randn(40))
    generator = torch.Generator().manual_seed(5)
    loader = DataLoader(data, batch_size=8, shuffle=True, generator=generator)
    before = generator.get_state()
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    lr_find(model, loader, optimizer, mse, num_steps=12, progress=False)
    assert torch.equal(generator.get_state(), before), "the next epoch must see the same order"


def test_an_attached_schedule_does_not_count_the_trial_updates():
    from lrnotes.schedules import attach, linear

    model, optimizer, scaler, loader = bn_setup(seed=2)
    scheduler = attach(optimizer, linear(start=1.0, end=0.0, steps=10))
    before = scheduler.state_dict()
    lrs_before = [g["lr"] for g in optimizer.param_groups]
    lr_find(model, loader, optimizer, step_fn=watching_step(model, []), num_steps=8,
            scaler=scaler, progress=False)
    assert scheduler.state_dict() == before
    assert [g["lr"] for g in optimizer.param_groups] == lrs_before
    optimizer.step()  # the user's first real update after the range test
    scheduler.step()
    assert scheduler.last_epoch == before["last_epoch"] + 1


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
@pytest.mark.parametrize("offload", [False, True])
def test_restores_everything_when_step_fn_raises_mid_run(exc, offload):
    model, optimizer, scaler, loader = bn_setup(seed=1)
    calls = []
    before = everything(model, optimizer, scaler)
    with pytest.raises(exc, match="stop here"):
        lr_find(model, loader, optimizer, step_fn=watching_step(model, calls, raise_at=7, exc=exc),
                num_steps=20, scaler=scaler, offload=offload, progress=False)
    assert len(calls) == 7 and not torch.equal(calls[-1], before["buffers"][0])
    assert_bitwise_equal(everything(model, optimizer, scaler), before)


def test_a_scaler_step_cut_short_by_an_exception_leaves_the_scaler_usable():
    model, optimizer, scaler, loader = bn_setup(seed=2)
    model.train()
    calls = []

    def fail_on_third(opt, args, kwargs):  # after clip_gradients has unscaled the gradients
        calls.append(1)
        if len(calls) == 3:
            raise Boom("stop here")

    handle = optimizer.register_step_pre_hook(fail_on_third)
    before = everything(model, optimizer, scaler)
    with pytest.raises(Boom):
        lr_find(model, loader, optimizer, nn.functional.cross_entropy, num_steps=10, clip=1.0,
                scaler=scaler, progress=False)
    handle.remove()
    assert_bitwise_equal(everything(model, optimizer, scaler), before)
    inputs, targets = next(iter(loader))
    scaler.scale(nn.functional.cross_entropy(model(inputs), targets)).backward()
    scaler.unscale_(optimizer)  # raises if the finder left "already unscaled" behind
    scaler.step(optimizer)
    scaler.update()


def test_bad_input_changes_nothing_and_the_first_non_finite_loss_is_a_value_error():
    model, optimizer, scaler, loader = bn_setup(seed=3)
    before = everything(model, optimizer, scaler)
    with pytest.raises(ValueError, match="end_lr"):
        lr_find(model, loader, optimizer, nn.functional.cross_entropy, start_lr=1.0, end_lr=1.0)

    def nan_step(m, batch):
        return m(batch[0]).sum() * float("nan")

    with pytest.raises(ValueError, match="first step"):
        lr_find(model, loader, optimizer, step_fn=nan_step, scaler=scaler, progress=False)
    assert_bitwise_equal(everything(model, optimizer, scaler), before)


# --- the sweep, the loop, the stopping rules -------------------------------------------------


def scripted(values):
    """A step_fn whose losses are ``values``, one per call (zero gradient)."""
    values = iter(values)

    def step(model, batch):
        return model.weight.sum() * 0.0 + next(values)

    return step


def test_sweep_follows_the_formula_exp_and_linear():
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    start, end, n = 1e-5, 3.0, 25
    i = np.arange(n)
    for mode, expected in [("exp", start * (end / start) ** (i / (n - 1))),
                           ("linear", start + (end - start) * i / (n - 1))]:
        result = lr_find(model, [None], optimizer, step_fn=scripted([1.0] * n), start_lr=start,
                         end_lr=end, num_steps=n, mode=mode, progress=False)
        np.testing.assert_allclose(result.lrs, expected, rtol=1e-13)
        assert not result.stopped_early and result.stop_lr is None


def test_smoothed_is_the_debiased_ema_and_divergence_stops_at_the_rule():
    rng = np.random.default_rng(0)
    values = list(np.r_[np.linspace(3.0, 1.0, 30), np.geomspace(1.0, 100.0, 30)]
                  * np.exp(rng.normal(0, 0.05, 60)))
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    smoothing, diverge = 0.1, 3.0
    result = lr_find(model, [None], optimizer, step_fn=scripted(values), num_steps=60,
                     smoothing=smoothing, diverge=diverge, progress=False)
    beta, avg, smoothed, stop = 1 - smoothing, 0.0, [], None
    for i, v in enumerate(values):
        avg = beta * avg + (1 - beta) * v
        smoothed.append(avg / (1 - beta ** (i + 1)))
        if smoothed[-1] > diverge * min(smoothed):
            stop = i
            break
    assert stop is not None and stop < 59
    assert len(result.lrs) == stop + 1  # the diverging step is recorded
    np.testing.assert_allclose(result.losses, values[: stop + 1], rtol=1e-6)
    np.testing.assert_allclose(result.smoothed, smoothed, rtol=1e-6)
    assert result.stopped_early and result.stop_lr == result.lrs[-1]
    assert "diverged" in result.stop_reason


def test_a_later_non_finite_loss_stops_without_being_recorded():
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = lr_find(model, [None], optimizer, step_fn=scripted([1.0, 0.9, 0.8, float("inf"), 0.5]),
                     num_steps=5, progress=False)
    np.testing.assert_allclose(result.losses, [1.0, 0.9, 0.8])
    assert result.stopped_early and "non-finite" in result.stop_reason
    assert result.stop_lr == pytest.approx(1e-7 * (10.0 / 1e-7) ** (3 / 4))


class CountingLoader:
    """A re-iterable loader of ``n`` numbered batches that counts passes and batches."""

    def __init__(self, batches):
        self.batches, self.passes, self.served = batches, 0, 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        self.passes += 1
        for batch in self.batches:
            self.served += 1
            yield batch


def test_walks_the_loader_in_order_and_cycles_with_a_new_pass():
    loader = CountingLoader([(torch.full((2, 1), float(k)), torch.zeros(2)) for k in range(5)])
    seen = []

    def step(model, batch):
        seen.append(int(batch[0][0, 0]))
        return mse(model(batch[0]), batch[1])

    model = nn.Linear(1, 1)
    lr_find(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), step_fn=step,
            num_steps=12, end_lr=1e-3, diverge=math.inf, progress=False)
    assert seen == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert loader.passes == 3


def test_accumulation_consumes_num_steps_times_micro_batches_and_averages():
    torch.manual_seed(0)
    x, y = torch.randn(64, 3), torch.randn(64)
    micro = CountingLoader([(x[i : i + 8], y[i : i + 8]) for i in range(0, 64, 8)])
    whole = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    results = []
    for loader, accumulation in [(micro, 2), (whole, 1)]:
        torch.manual_seed(1)
        model = nn.Linear(3, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        steps = []
        hook = optimizer.register_step_post_hook(lambda *args, steps=steps: steps.append(1))
        results.append(lr_find(model, loader, optimizer, mse, num_steps=10, start_lr=1e-3,
                               end_lr=1.0, accumulation_steps=accumulation, diverge=math.inf,
                               progress=False))
        hook.remove()
        assert len(steps) == 10
    assert micro.served == 10 * 2
    # two averaged micro-batches of 8 are one batch of 16: same losses, same trajectory
    np.testing.assert_allclose(results[0].losses, results[1].losses, rtol=1e-5)


def test_several_groups_keep_their_ratios_and_the_largest_is_the_reference():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1))
    base = [0.01, 0.2, 0.05]
    optimizer = torch.optim.SGD([{"params": model[2 * k].parameters(), "lr": lr}
                                 for k, lr in enumerate(base)], momentum=0.9)
    seen = []

    def step(m, batch):
        seen.append([g["lr"] for g in optimizer.param_groups])
        return mse(m(batch[0]), batch[1])

    data = [(torch.randn(8, 2), torch.randn(8))]
    result = lr_find(model, data, optimizer, step_fn=step, num_steps=30, start_lr=1e-4,
                     end_lr=1.0, diverge=math.inf, progress=False)
    seen = np.array(seen)
    np.testing.assert_array_equal(seen[:, 1], result.lrs)  # recorded = used for that update
    for k, lr in enumerate(base):
        np.testing.assert_allclose(seen[:, k] / seen[:, 1], lr / 0.2, rtol=1e-12)
    assert [g["lr"] for g in optimizer.param_groups] == base


def test_grad_scaler_on_cpu_survives_skipped_steps_and_matches_no_scaler_when_scale_is_one():
    torch.manual_seed(0)
    x, y = torch.randn(32, 4) * 30, torch.randn(32)
    data = [(x[:16], y[:16]), (x[16:], y[16:])]
    scales = []
    # 2**127 overflows the scaled gradients to inf: those updates are skipped and the scale
    # backs off; the run goes on and records every step
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**127)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(m, batch):
        scales.append(scaler.get_scale())
        return mse(m(batch[0]), batch[1])

    before = scaler.state_dict()
    result = lr_find(model, data, optimizer, step_fn=step, scaler=scaler, num_steps=15,
                     start_lr=1e-6, end_lr=1e-4, progress=False)
    assert len(result.lrs) == 15 and scales[1] < scales[0]
    assert scaler.state_dict() == before
    # a scale of 1 that never grows changes nothing: the same curve as without a scaler
    unit = torch.amp.GradScaler("cpu", init_scale=1.0, growth_interval=10**6)
    kwargs = dict(num_steps=15, start_lr=1e-6, end_lr=1e-4, progress=False)
    with_unit = lr_find(model, data, optimizer, mse, scaler=unit, **kwargs)
    plain = lr_find(model, data, optimizer, mse, **kwargs)
    assert len(plain.lrs) == 15
    np.testing.assert_array_equal(with_unit.losses, plain.losses)


def test_clip_bounds_every_update_by_lr_times_max_norm():
    torch.manual_seed(0)
    model = nn.Linear(5, 1, bias=False).double()
    data = [(torch.randn(32, 5, dtype=torch.float64) * 10,
             torch.randn(32, dtype=torch.float64) * 10)]
    weights = []

    def step(m, batch):
        weights.append(m.weight.detach().clone())
        return mse(m(batch[0]), batch[1])

    result = lr_find(model, data, torch.optim.SGD(model.parameters(), lr=0.1), step_fn=step,
                     num_steps=20, start_lr=1e-3, end_lr=1.0, clip=0.5, diverge=math.inf,
                     progress=False)
    moves = [float((b - a).norm()) for a, b in zip(weights, weights[1:], strict=False)]
    assert all(m <= lr * 0.5 * (1 + 1e-5) for m, lr in zip(moves, result.lrs, strict=False))
    assert max(m / lr for m, lr in zip(moves, result.lrs, strict=False)) > 0.49  # it did clip


def test_val_loader_records_the_validation_loss_after_each_update():
    torch.manual_seed(0)
    data = [(torch.randn(32, 3), torch.randn(32))]
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    kwargs = dict(num_steps=20, start_lr=1e-3, end_lr=0.5, diverge=math.inf, progress=False)
    train = lr_find(model, data, optimizer, mse, **kwargs)
    val = lr_find(model, data, optimizer, mse, val_loader=data, **kwargs)
    # full batch, same data: the loss after update i is the training loss before update i + 1
    np.testing.assert_allclose(val.losses[:-1], train.losses[1:], rtol=1e-6)
    assert val.loss_label == "validation loss" and train.loss_label == "training loss"


# --- bad input --------------------------------------------------------------------------


class NoBatches:
    def __iter__(self):
        return iter(())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(start_lr=1.0, end_lr=0.5), "end_lr"),
        (dict(start_lr=0.0), "start_lr"),
        (dict(start_lr=-1e-3), "start_lr"),
        (dict(end_lr=math.inf), "end_lr"),
        (dict(num_steps=1), "num_steps"),
        (dict(num_steps=2.5), "num_steps"),
        (dict(loader=[]), "loader"),
        (dict(loader=NoBatches()), "loader"),
        (dict(val_loader=[]), "val_loader"),
        (dict(val_loader=NoBatches()), "val_loader"),
        (dict(loader=iter([(torch.randn(4, 2), torch.randn(4))]), num_steps=3), "one-shot"),
        (dict(mode="cosine"), "mode"),
        (dict(diverge=1.0), "diverge"),
        (dict(diverge=float("nan")), "diverge"),
        (dict(accumulation_steps=0), "accumulation_steps"),
        (dict(smoothing=0.0), "smoothing"),
        (dict(smoothing=1.5), "smoothing"),
        (dict(clip=0.0), "clip"),
        (dict(loss_fn=None), "loss_fn"),
        (dict(step_fn=scripted([1.0])), "loss_fn"),
        (dict(lr=0.0), "optimizer"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_cause(kwargs, match):
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=kwargs.pop("lr", 0.1))
    args = dict(loader=[(torch.randn(4, 2), torch.randn(4))], loss_fn=mse, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lr_find(model, args.pop("loader"), optimizer, args.pop("loss_fn"), **args)


# --- suggestions -----------------------------------------------------------------------------


def fastai_valley(lrs, losses):
    """fastai.callback.schedule.valley, as published (fastai 2.7)."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def synthetic(n=100, center=-2.0, floor_at=-0.5):
    """A clean range-test curve: flat, a tanh drop centred at ``10**center``, a minimum near
    ``10**floor_at`` and a rising tail; its steepest descent is at ``10**center``."""
    lrs = np.logspace(-6, 1, n)
    x = np.log10(lrs)
    loss = 2.0 - np.tanh((x - center) / 0.5) + np.where(x > floor_at, 3.0 * (x - floor_at) ** 2, 0)
    return lrs, loss


def test_steepest_is_the_steepest_descent_against_log_lr():
    lrs, loss = synthetic()
    result = LRFindResult(lrs, loss, loss)
    closest = lrs[np.argmin(np.abs(np.log10(lrs) + 2.0))]
    assert result.suggest("steepest") == pytest.approx(closest)
    # a steeper drop in the first tenth (the smoothing settling) and past the minimum is ignored
    noisy = loss.copy()
    noisy[:5] += np.linspace(5, 0, 5)
    assert LRFindResult(lrs, noisy, noisy).suggest("steepest") == pytest.approx(closest)


def test_valley_is_fastais_rule_after_the_first_tenth():
    rng = np.random.default_rng(1)
    for n in (20, 57, 100):
        lrs, loss = synthetic(n)
        loss = loss + rng.normal(0, 0.05, n)
        result = LRFindResult(lrs, loss, loss)
        assert result.suggest("valley") == fastai_valley(lrs[n // 10 :], loss[n // 10 :])
        assert lrs[0] < result.suggest("valley") < lrs[np.argmin(loss)]


def test_minimum_is_a_tenth_of_the_lr_at_the_lowest_smoothed_loss():
    lrs, loss = synthetic()
    assert LRFindResult(lrs, loss, loss).suggest("minimum") == lrs[np.argmin(loss)] / 10
    raw = loss + 10.0 * (np.arange(100) == 3)  # read off the smoothed curve, not the raw one
    assert LRFindResult(lrs, raw, loss).suggest("minimum") == lrs[np.argmin(loss)] / 10


def test_unknown_method_and_curves_that_never_fall():
    lrs, loss = synthetic()
    result = LRFindResult(lrs, loss, loss)
    with pytest.raises(ValueError, match="method"):
        result.suggest("fastest")
    rising = LRFindResult(lrs, np.linspace(1, 2, 100), np.linspace(1, 2, 100))
    with pytest.raises(ValueError, match="never decreases"):
        rising.suggest("valley")
    assert rising.suggestions() == {"steepest": None, "valley": None, "minimum": None}
    with pytest.raises(ValueError, match="same length"):
        LRFindResult(lrs, loss[:-1], loss)


def test_plot_marks_each_suggestion_on_a_log_axis():
    import matplotlib.pyplot as plt

    lrs, loss = synthetic()
    result = LRFindResult(lrs, loss + 0.1, loss, stopped_early=True, stop_lr=10.0)
    ax = result.plot()
    labels = ax.get_legend_handles_labels()[1]
    for name, lr in result.suggestions().items():
        assert f"{name}: {lr:.2e}" in labels
    assert ax.get_xscale() == "log" and ax.get_title() and ax.get_ylabel() == "training loss"
    _, other = plt.subplots()
    assert plot_lr_find(result, ax=other, suggestions=False) is other
    assert len(other.get_lines()) == 2
    plt.close("all")


# --- physics: least squares with plain SGD ---------------------------------------------------


def least_squares(n=256, d=8, noise=1.0, seed=0):
    """X with Hessian ``X^T X / n`` of eigenvalues 1..4 (lambda_max = 4), y = X w* + noise."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, d, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    eigenvalues = torch.linspace(1.0, 4.0, d, dtype=torch.float64)
    x = (q * (eigenvalues * n).sqrt()) @ v.T
    y = x @ torch.randn(d, generator=g, dtype=torch.float64)
    y = y + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return x, y


def test_full_batch_least_squares_is_gradient_descent_with_the_recorded_lrs():
    """Full batch: the recorded curve is exactly GD with the recorded lrs, it never diverges
    below the stability bound 2 / lambda_max, and every suggestion lies below the bound.

    (The full-batch run only declares divergence far above the bound, about 6-8x here: the lrs
    near 1 / lambda_max crush the top eigendirection before 2 / lambda_max is reached, and it
    takes many steps above the bound to grow back. The factor-2 check uses mini-batches, whose
    noise keeps that direction alive, as in real training.)"""
    x, y = least_squares()
    n = len(x)
    bound = 2 / torch.linalg.eigvalsh(x.T @ x / n).max().item()
    model = nn.Linear(8, 1, bias=False).double()
    w = model.weight.detach().clone().squeeze(0).numpy()
    result = lr_find(model, [(x, y)], torch.optim.SGD(model.parameters(), lr=0.1), mse,
                     start_lr=1e-4, end_lr=10.0, num_steps=100, smoothing=1.0, progress=False)
    xn, yn, expected = x.numpy(), y.numpy(), []
    for lr in result.lrs:
        residual = xn @ w - yn
        expected.append(residual @ residual / (2 * n))
        w = w - lr * xn.T @ residual / n
    np.testing.assert_allclose(result.losses, expected, rtol=1e-6)
    assert np.all(np.diff(result.losses[result.lrs < bound]) < 0)
    assert result.stop_lr > bound
    assert all(lr < bound for lr in result.suggestions().values())


def test_mini_batch_least_squares_diverges_within_a_factor_two_of_the_stability_bound():
    x, y = least_squares()
    bound = 2 / torch.linalg.eigvalsh(x.T @ x / len(x)).max().item()
    model = nn.Linear(8, 1, bias=False).double()
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x), 32)]  # fixed order
    result = lr_find(model, batches, torch.optim.SGD(model.parameters(), lr=0.1), mse,
                     start_lr=1e-4, end_lr=10.0, num_steps=300, progress=False)
    assert result.stopped_early and "diverged" in result.stop_reason
    assert bound / 2 <= result.stop_lr <= 2 * bound
    assert all(lr < bound for lr in result.suggestions().values())


# --- a real small task -------------------------------------------------------------------------


def test_digits_the_suggested_lr_trains_about_as_well_as_the_best_of_a_grid():
    """sklearn digits, an MLP and SGD with momentum 0.9: 200 steps at the "steepest" or the
    "valley" suggestion end with a held-out cross-entropy within 0.1 of that of the best lr of
    a grid (here the gaps are about 0.03 and 0.05; the grid's worst lrs are above 1)."""
    from sklearn.datasets import load_digits

    features, labels = load_digits(return_X_y=True)
    features = torch.tensor(features / 16.0, dtype=torch.float32)
    labels = torch.tensor(labels)
    order = torch.randperm(len(features), generator=torch.Generator().manual_seed(0))
    train, test = order[:1400], order[1400:]
    batches = [(features[train[i : i + 64]], labels[train[i : i + 64]])
               for i in range(0, 1400 - 63, 64)]

    def fresh(lr):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def held_out_loss(lr, steps=200):
        model, optimizer = fresh(lr)
        for t in range(steps):
            inputs, targets = batches[t % len(batches)]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(inputs), targets).backward()
            optimizer.step()
        with torch.no_grad():
            loss = nn.functional.cross_entropy(model(features[test]), labels[test]).item()
        return loss if math.isfinite(loss) else math.inf

    model, optimizer = fresh(0.1)
    result = lr_find(model, batches, optimizer, nn.functional.cross_entropy, start_lr=1e-4,
                     end_lr=10.0, num_steps=100, progress=False)
    grid = {lr: held_out_loss(lr) for lr in (1e-2, 3e-2, 0.1, 0.3, 1.0)}
    best = min(grid.values())
    assert max(grid.values()) > 1.0  # the grid is wide enough for the lr to matter
    for method in ("steepest", "valley"):
        assert held_out_loss(result.suggest(method)) <= best + 0.1, method


# --- issue 15: huge sweeps, raw errors; issue 16: the bar -------------------------------------


def test_a_huge_num_steps_does_not_allocate_the_sweep_up_front():
    import tracemalloc

    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    tracemalloc.start()
    try:
        result = lr_find(model, [None], optimizer, step_fn=scripted([1.0, 1.0, 50.0]),
                         num_steps=10**9, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.stopped_early and len(result.lrs) == 3
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"  # the sweep would be 7.45 GiB
    start, end, n = 1e-7, 10.0, 10**9
    np.testing.assert_array_equal(result.lrs, start * (end / start) ** (np.arange(3) / (n - 1)))


def test_the_chunked_sweep_equals_the_whole_sweep():
    from lrnotes.finder import _SWEEP_CHUNK, _sweep, _sweep_lazily

    for mode in ("exp", "linear"):
        n = 2 * _SWEEP_CHUNK + 7
        lazy = list(_sweep_lazily(1e-6, 3.0, n, mode))
        whole = _sweep(1e-6, 3.0, n, mode)
        assert len(lazy) == n
        np.testing.assert_allclose(lazy, whole, rtol=4e-16, atol=0)
        assert lazy[: _SWEEP_CHUNK] == whole[: _SWEEP_CHUNK].tolist()


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    (dict(start_lr="1e-3"), TypeError, "start_lr"),
    (dict(end_lr=None), TypeError, "end_lr"),
    (dict(smoothing="0.1"), TypeError, "smoothing"),
    (dict(diverge=[4]), TypeError, "diverge"),
    (dict(clip="1"), TypeError, "clip"),
    (dict(loss_fn="mse"), TypeError, "loss_fn"),
    (dict(loader=None), TypeError, "loader"),
    (dict(loader=3), TypeError, "loader"),
    (dict(scaler=object()), TypeError, "scaler"),
    (dict(device="gpu:x"), ValueError, "device"),
    (dict(model="net"), TypeError, "model"),
    (dict(optimizer=None), TypeError, "optimizer"),
])
def test_wrong_types_name_the_argument_and_change_nothing(kwargs, error, name):
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    args = dict(model=model, loader=[(torch.randn(4, 2), torch.randn(4))], optimizer=optimizer,
                loss_fn=mse, progress=False, num_steps=3)
    args.update(kwargs)
    with pytest.raises(error, match=name):
        lr_find(args.pop("model"), args.pop("loader"), args.pop("optimizer"),
                args.pop("loss_fn"), **args)
    assert_bitwise_equal(before[0], model.state_dict())
    assert_bitwise_equal(before[1], optimizer.state_dict())


def test_a_meta_device_model_is_a_value_error():
    with torch.device("meta"):
        model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="meta"):
        lr_find(model, [(torch.randn(4, 2), torch.randn(4))], optimizer, mse, progress=False)


class _Bar:
    def __init__(self, total):
        self.total, self.n, self.closed_at = total, 0, None

    def update(self, n=1):
        self.n += n

    def refresh(self):
        pass

    def close(self):
        self.closed_at = (self.n, self.total)


def test_an_early_stop_closes_a_full_bar_not_a_red_one(monkeypatch):
    """tqdm's notebook bar turns red ("danger") when closed before n == total."""
    import lrnotes.finder as finder

    bars = []
    monkeypatch.setattr(finder, "progress_bar",
                        lambda total, desc, enabled: bars.append(_Bar(total)) or bars[-1])
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    lr_find(model, [None], optimizer, step_fn=scripted([1.0, 1.0, 50.0]), num_steps=10)
    assert bars[0].closed_at == (3, 3)
    lr_find(model, [None], optimizer, step_fn=scripted([1.0] * 4), num_steps=4)
    assert bars[1].closed_at == (4, 4)


def test_lr_find_honours_tqdm_disable_through_progress_bar(monkeypatch):
    import lrnotes.progress as progress

    made = []

    class Recorder:
        def __init__(self, **kwargs):
            made.append(kwargs)
            self.n, self.total = 0, kwargs["total"]

        def update(self, n=1):
            self.n += n

        def refresh(self):
            pass

        def close(self):
            pass

    import sys
    import types

    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=Recorder))
    monkeypatch.setattr(progress, "headless_kernel", lambda: False)
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for env, expected in (("1", True), ("0", False)):
        monkeypatch.setenv("TQDM_DISABLE", env)
        lr_find(model, [None], optimizer, step_fn=scripted([1.0] * 3), num_steps=3)
        assert made[-1]["disable"] is expected
    lr_find(model, [None], optimizer, step_fn=scripted([1.0] * 3), num_steps=3, progress=False)
    assert made[-1]["disable"] is True


# --- issue 16: the range-test plot ---------------------------------------------------------------


def diverging_curve(n=100):
    """A clean curve that falls from 2.3 to about 0.4 and then runs off to 65 (ch08's shape)."""
    lrs, loss = synthetic(n)
    loss = np.where(np.log10(lrs) > 0.2, 65.0 * (np.log10(lrs) - 0.2) + loss, loss)
    return lrs, loss


def test_the_y_range_shows_the_valley_not_the_diverged_tail():
    import matplotlib.pyplot as plt

    from lrnotes.plot import lr_find_ylim

    lrs, loss = diverging_curve()
    result = LRFindResult(lrs, loss, loss, stopped_early=True, stop_lr=float(lrs[-1]))
    assert loss.max() > 30
    bottom, top = result.plot().get_ylim()
    lowest, start = loss.min(), loss[: int(np.argmin(loss)) + 1].max()
    span = start - lowest
    assert (bottom, top) == pytest.approx((lowest - 0.1 * span, start + 0.25 * span))
    assert top < 5  # the valley fills the plot: not squeezed under a tail at 65
    flat = LRFindResult(lrs, np.linspace(1, 2, len(lrs)), np.linspace(1, 2, len(lrs)))
    assert lr_find_ylim(flat) is None  # nothing to bound: matplotlib's autoscale
    plt.close("all")


def test_coinciding_suggestions_stay_visible():
    import matplotlib.pyplot as plt

    lrs = np.logspace(-5, 0, 60)
    x = np.log10(lrs)
    loss = 2 - np.tanh((x + 3) / 0.3) + np.where(x > -2, 3 * (x + 2) ** 2, 0)
    result = LRFindResult(lrs, loss, loss)
    # this curve's steepest point and its minimum / 10 fall on the same lr
    found = result.suggestions()
    assert found["steepest"] == pytest.approx(found["minimum"], rel=0.2)
    ax = result.plot()
    markers = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    assert len(markers) == 3
    assert all(m.get_markerfacecolor() == "none" for m in markers)  # hollow: nothing hidden
    sizes = [m.get_markersize() for m in markers]
    assert len(set(sizes)) == 3 and len({m.get_color() for m in markers}) == 3
    plt.close("all")



# --- issue 19: on CUDA -------------------------------------------------------------------------

CUDA = pytest.mark.skipif(not torch.cuda.is_available(),
                          reason="needs a CUDA device: torch.cuda.is_available() is False "
                          "(on a GPU: pytest tests/test_optim.py tests/test_clip.py "
                          "tests/test_finder.py -k cuda)")


@CUDA
@pytest.mark.parametrize("raise_at", [None, 7])
@pytest.mark.parametrize("offload", [False, True])
def test_cuda_restores_everything_including_the_cuda_rng(offload, raise_at):
    """The CPU tests' assertions on CUDA: dropout on the GPU draws from the CUDA generator, and
    the run puts its state back with everything else (after success and after an exception)."""
    model, optimizer, scaler, loader = bn_setup(seed=4, device="cuda")
    calls, cuda_states = [], []
    step = watching_step(model, calls, raise_at=raise_at)

    def step_fn(m, batch):
        cuda_states.append(torch.cuda.get_rng_state())
        return step(m, batch)

    before = everything(model, optimizer, scaler)
    run = lambda: lr_find(model, loader, optimizer, step_fn=step_fn,  # noqa: E731
                          start_lr=1e-4, end_lr=1.0, num_steps=12, scaler=scaler,
                          offload=offload, progress=False)
    if raise_at is None:
        result = run()
        assert len(result.lrs) == 12
    else:
        with pytest.raises(Boom):
            run()
    assert not torch.equal(cuda_states[-1], before["cuda_rng"][0]), "dropout drew on the GPU"
    assert not torch.equal(calls[-1], before["buffers"][0]), "the run moved BatchNorm stats"
    assert all(p.is_cuda for p in model.parameters())
    assert_bitwise_equal(everything(model, optimizer, scaler), before)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 1e-2]
