"""lrnotes.schedules beyond the lr (issue 20): any param-group key, compile-safe writes, a
plateau part inside a join, and a run extended from a checkpoint."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from roundtrip import reload
from torch.optim import lr_scheduler as tls

from lrnotes.optim import LARS
from lrnotes.schedules import (
    Schedule,
    attach,
    constant,
    cosine,
    exponential,
    extended,
    join,
    linear,
    one_cycle,
    per_epoch,
    plateau,
    warmup,
    wsd,
)


def _grads(opt):
    for group in opt.param_groups:
        for p in group["params"]:
            p.grad = torch.full_like(p, 0.1)


def _adamw(tensors=False, wd=(0.1, 0.01)):
    value = torch.tensor if tensors else (lambda v: v)
    params = [torch.nn.Parameter(torch.ones(3, dtype=torch.float64)) for _ in wd]
    return torch.optim.AdamW(
        [{"params": [p], "weight_decay": value(w)} for p, w in zip(params, wd, strict=True)],
        lr=value(0.01), betas=(value(0.9), value(0.999)))


def _value(v):
    return v.item() if isinstance(v, torch.Tensor) else v


# --- any numeric param-group key -------------------------------------------------------------


@pytest.mark.parametrize("tensors", [False, True])
def test_weight_decay_and_betas_follow_their_schedules_per_group(tensors):
    opt = _adamw(tensors)
    lr, wd, beta1 = warmup(cosine(30), 5), linear(1.0, 0.1, 30), linear(0.85, 0.95, 30)
    sched = attach(opt, {"lr": lr, "weight_decay": wd, "betas": (beta1, None)})
    originals = [(g["lr"], g["weight_decay"], g["betas"]) for g in opt.param_groups]
    for t in range(35):
        for i, group in enumerate(opt.param_groups):
            assert _value(group["lr"]) == pytest.approx(0.01 * lr(t), rel=1e-6)
            assert _value(group["weight_decay"]) == pytest.approx((0.1, 0.01)[i] * wd(t), rel=1e-6)
            assert _value(group["betas"][0]) == pytest.approx(beta1(t), rel=1e-6)
            assert _value(group["betas"][1]) == pytest.approx(0.999, rel=1e-6)  # left alone
            if tensors:  # written in place: the same tensors
                assert group["lr"] is originals[i][0] and group["betas"][0] is originals[i][2][0]
                assert group["weight_decay"] is originals[i][1]
        _grads(opt)
        opt.step()
        sched.step()
    assert set(sched.schedules) == {"lr", "weight_decay", "betas[0]"}


def test_lars_trust_coefficient_is_scheduled_as_a_multiplier():
    model = torch.nn.Linear(3, 2)
    opt = LARS(model.parameters(), lr=0.1, momentum=0.9, trust_coefficient=0.002)
    sched = attach(opt, {"lr": constant(1.0), "trust_coefficient": linear(1.0, 0.5, 4)},
                   count="calls")
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["trust_coefficient"])
        sched.step()
    np.testing.assert_allclose(seen, 0.002 * linear(1.0, 0.5, 4).values(6), rtol=1e-15)


@pytest.mark.parametrize("spec, error, match", [
    ({"betas": (None, constant(1.0))}, ValueError, r"betas\[1\].*1\.0.*t=0"),
    ({"betas": (constant(0.9), linear(0.999, 1.5, 10))}, ValueError, r"betas\[1\].*t=1"),
    ({"weight_decay": exponential(2.0)}, ValueError, r"weight_decay.*t=1024"),
    ({"dampening_x": constant(1.0)}, ValueError, "dampening_x"),
    ({"amsgrad": constant(1.0)}, TypeError, "amsgrad"),
    ({"betas": constant(0.9)}, TypeError, "betas.*tuple"),
    ({"betas": (None, None, constant(0.5))}, ValueError, "betas"),
    ({"momentum": constant(0.9), "betas": (constant(0.9), None)}, ValueError, "both drive"),
    ({"lr": (constant(1.0),)}, TypeError, "lr"),
    ({"weight_decay": 0.5}, TypeError, "weight_decay"),
    ({3: constant(1.0)}, TypeError, "keys"),
])
def test_bad_param_schedules_are_refused_naming_the_key(spec, error, match):
    opt = _adamw()
    before = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    with pytest.raises(error, match=match):
        sched = attach(opt, {"lr": constant(1.0), **spec}, count="calls")
        for _ in range(1100):  # an endless schedule fails at the step that leaves the range
            sched.step()
    if "exponential" not in repr(spec):
        assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == before


def _resumable_run(spec, n, stop=None, metrics=None):
    """Values of every driven key per update; with ``stop``, checkpoint there and rebuild."""

    def build(seed):
        torch.manual_seed(seed)
        model = torch.nn.Linear(3, 1).double()
        opt = torch.optim.AdamW([{"params": [model.weight], "weight_decay": 0.05},
                                 {"params": [model.bias], "lr": 0.03, "weight_decay": 0.0}],
                                lr=0.2)
        return model, opt, attach(opt, spec)

    x = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
    model, opt, sched = build(0)
    seen = []
    for t in range(n):
        if t == stop:
            model, opt, sched = reload(model, opt, sched, build)
        seen.append([(g["lr"], g["weight_decay"], g["betas"]) for g in opt.param_groups])
        model(x).square().mean().backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        if metrics is not None and t % 3 == 2:
            sched.report(metrics[t // 3])
    return seen, [p.detach().clone() for p in model.parameters()]


def test_param_schedules_resume_exactly():
    spec = {"lr": warmup(cosine(40), 4), "weight_decay": cosine(40, 0.1),
            "betas": (one_cycle(40).momentum(), linear(0.999, 0.99, 40))}
    full, params_full = _resumable_run(spec, 44)
    for stop in (3, 17, 41):
        resumed, params_resumed = _resumable_run(spec, 44, stop)
        assert resumed == full
        for a, b in zip(params_full, params_resumed, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


# --- compile-safe: a compiled optimizer step never recompiles over a schedule ----------------


def _compiled_run(tensors: bool, n: int) -> list[int]:
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    opt = _adamw(tensors, wd=(0.1,))
    sched = attach(opt, {"lr": warmup(cosine(n), 3), "weight_decay": cosine(n, 0.1),
                         "betas": (linear(0.85, 0.95, n), linear(0.999, 0.99, n))})

    @torch.compile(backend="eager")
    def compiled_step():
        opt.step()

    frames = []
    for _ in range(n):
        _grads(opt)
        compiled_step()
        sched.step()
        frames.append(counters["frames"]["total"])
    torch._dynamo.reset()
    return frames


def test_a_compiled_optimizer_step_does_not_recompile_over_a_schedule():
    frames = _compiled_run(tensors=True, n=12)
    assert frames[0] > 0 and frames[-1] == frames[0], frames  # compiled once, never again
    # the same run with floats in the groups does recompile: the count can see it
    floats = _compiled_run(tensors=False, n=3)
    assert floats[-1] > floats[0], floats


# --- a plateau part: equal to ReduceLROnPlateau alone, and inside a join ---------------------


def _metrics(n, seed):
    rng = random.Random(seed)
    value, out = 1.0, []
    for _ in range(n):
        value *= rng.choice([0.9, 0.99, 1.0, 1.0, 1.02])
        out.append(value)
    return out


PLATEAUS = [
    dict(),
    dict(patience=0, factor=0.5),
    dict(patience=2, factor=0.5, cooldown=2, final=0.05),
    dict(patience=1, factor=0.3, threshold=0.05, threshold_mode="abs"),
    dict(patience=3, factor=0.7, mode="max", cooldown=1),
    dict(patience=1, factor=0.5, mode="max", threshold_mode="abs", threshold=0.0),
]


@pytest.mark.parametrize("kwargs", PLATEAUS)
def test_plateau_alone_equals_reduce_lr_on_plateau(kwargs):
    metrics = _metrics(80, seed=len(kwargs))
    base = 0.1
    ours_opt, theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base), \
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    part = plateau(**kwargs)
    ours = attach(ours_opt, part)
    theirs = tls.ReduceLROnPlateau(
        theirs_opt, mode=part.mode, factor=part.factor, patience=part.patience,
        threshold=part.threshold, threshold_mode=part.threshold_mode, cooldown=part.cooldown,
        min_lr=part.final * base, eps=part.eps * base)
    lrs_ours, lrs_theirs = [], []
    for metric in metrics:
        for opt, sched in ((ours_opt, ours), (theirs_opt, None)):
            _grads(opt)
            opt.step()
            if sched is not None:
                sched.step()
        ours.report(metric)
        theirs.step(metric)
        lrs_ours.append(ours_opt.param_groups[0]["lr"])
        lrs_theirs.append(theirs_opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs_ours, lrs_theirs, rtol=1e-12, atol=0)
    assert len(set(lrs_theirs)) > 1  # it did reduce


def test_plateau_inside_a_join_reads_only_the_metrics_of_its_phase():
    warm = 6
    schedule = join([linear(0.1, 1.0, warm), plateau(patience=1, factor=0.5)], [warm])
    metrics = _metrics(40, seed=7)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    sched = attach(opt, schedule)
    twin = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    torch_plateau = None
    for metric in metrics:
        for _ in range(2):  # two updates per epoch
            _grads(opt)
            opt.step()
            sched.step()
        sched.report(metric)
        if sched.last_epoch < warm:
            assert opt.param_groups[0]["lr"] == pytest.approx(0.2 * schedule(sched.last_epoch))
            continue
        if torch_plateau is None:  # the plateau phase starts: torch's scheduler from here
            torch_plateau = tls.ReduceLROnPlateau(twin, factor=0.5, patience=1, eps=0.2 * 1e-8)
        torch_plateau.step(metric)
        assert opt.param_groups[0]["lr"] == pytest.approx(twin.param_groups[0]["lr"], rel=1e-12)
    assert twin.param_groups[0]["lr"] < 0.2 * 0.5**3
    assert sched.reads_metric


def test_plateau_state_resumes_exactly():
    spec = {"lr": join([warmup(constant(1.0), 4), plateau(patience=1, factor=0.5, cooldown=1)],
                       [5]),
            "weight_decay": cosine(60)}
    metrics = _metrics(30, seed=3)
    full, params_full = _resumable_run(spec, 60, metrics=metrics)
    assert len({row[0][0] for row in full}) > 8  # warmup values and several reductions
    for stop in (4, 20, 37):
        resumed, params_resumed = _resumable_run(spec, 60, stop, metrics=metrics)
        assert resumed == full
        for a, b in zip(params_full, params_resumed, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_report_is_refused_where_nothing_reads_it_and_for_a_non_number():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = attach(opt, cosine(10))
    with pytest.raises(ValueError, match="no plateau"):
        sched.report(1.0)
    sched = attach(opt, plateau(), replace=True)
    for bad in ("0.5", None, torch.ones(2), True):
        with pytest.raises(TypeError, match="metric"):
            sched.report(bad)
    sched.report(torch.tensor(0.5))


@pytest.mark.parametrize("build, name", [
    (lambda: plateau(factor=1.0), "factor"),
    (lambda: plateau(patience=-1), "patience"),
    (lambda: plateau(mode="minimum"), "mode"),
    (lambda: plateau(threshold_mode="relative"), "threshold_mode"),
    (lambda: plateau(cooldown=1.5), "cooldown"),
    (lambda: plateau(final=-0.1), "final"),
    (lambda: extended(cosine(10), 10, 20), "at"),
    (lambda: extended(cosine(10), 5, 5), "total_steps"),
    (lambda: extended(exponential(0.9), 5, 50), "no end"),
])
def test_bad_plateau_and_extended_arguments_name_the_argument(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_plateau_without_a_scheduler_is_its_start_and_round_trips():
    s = join([linear(0.5, 1.0, 3), plateau(patience=2, start=0.8)], [3])
    # the linear part to the last bit (linear computes start * (1 - f) + end * f)
    np.testing.assert_array_equal(s.values(6), [0.5, 0.5 * (1 - 1 / 3) + 1 / 3,
                                                0.5 * (1 - 2 / 3) + 2 / 3, 0.8, 0.8, 0.8])
    assert Schedule.from_dict(s.to_dict()) == s


# --- a run that grows: extend from a checkpoint ----------------------------------------------


@pytest.mark.parametrize("schedule, at", [
    (cosine(100, final=0.01), 60),
    (one_cycle(100), 50),
    (warmup(cosine(90), 10), 5),
    (join([linear(0.1, 1.0, 10), cosine(90)], [10]), 70),
    (wsd(100, 10, 20), 85),
])
def test_extended_keeps_the_past_is_continuous_and_ends_at_the_new_total(schedule, at):
    end = schedule._end()
    grown = extended(schedule, at, 300)
    np.testing.assert_array_equal(grown.values(at + 1), schedule.values(at + 1))
    assert grown(300) == pytest.approx(schedule(end), abs=1e-15)
    assert grown(10**6) == grown(300)
    t = np.arange(at, 301)
    tau = at + (t - at) * (end - at) / (300 - at)
    whole = tau == np.round(tau)
    np.testing.assert_allclose(grown.values(301)[at:][whole],
                               [schedule(int(u)) for u in tau[whole]], rtol=1e-12, atol=1e-15)
    steps = np.abs(np.diff(grown.values(301)[at:]))
    assert steps.max() <= np.abs(np.diff(schedule.values(end + 1)[at:])).max() + 1e-12


def test_a_checkpointed_cosine_run_resumes_with_more_total_steps_and_a_continuous_lr():
    def build():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
        cycle = one_cycle(100)
        return opt, attach(opt, {"lr": cycle, "momentum": cycle.momentum(),
                                 "weight_decay": constant(1.0)})

    opt, sched = build()
    lrs = []
    for _ in range(60):
        lrs.append(opt.param_groups[0]["lr"])
        _grads(opt)
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt, sched = build()
    sched.load_state_dict(state)
    before = opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
    sched.extend(total_steps=200)
    assert (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]) == before  # continuous
    assert sched.schedule == extended(one_cycle(100), 60, 200)
    assert sched.momentum == extended(one_cycle(100).momentum(), 60, 200)
    assert sched.schedules["weight_decay"] == constant(1.0)  # no end: left as it is
    for _ in range(60, 220):
        lrs.append(opt.param_groups[0]["lr"])
        _grads(opt)
        opt.step()
        sched.step()
    np.testing.assert_allclose(lrs, 0.1 * extended(one_cycle(100), 60, 200).values(220),
                               rtol=1e-15)
    steps = np.abs(np.diff(lrs))
    assert steps[59] == pytest.approx(0.1 * abs(one_cycle(100)(60) - one_cycle(100)(59)))
    assert steps[60:].max() <= steps[59]  # no jump: the stretched decay is gentler
    # the grown run saves and resumes as any other
    other_opt, other = build()
    other.load_state_dict(sched.state_dict())
    assert other.schedule == sched.schedule and other_opt.param_groups[0]["lr"] == lrs[-1]


def test_extend_refuses_a_schedule_with_nothing_left():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = attach(opt, cosine(5), count="calls")
    for _ in range(5):
        sched.step()
    with pytest.raises(ValueError, match="total_steps.*ended at update 5"):
        sched.extend(100)
    sched = attach(opt, exponential(0.9), count="calls", replace=True)
    with pytest.raises(ValueError, match="total_steps.*no end"):
        sched.extend(100)
    sched = attach(opt, cosine(50), count="calls", replace=True)
    with pytest.raises(ValueError, match="total_steps"):
        sched.extend(0)


def test_plateau_inside_warmup_and_per_epoch_counts_only_while_it_runs():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = attach(opt, warmup(plateau(patience=0, factor=0.5), 4), count="calls")
    sched.report(1.0)  # t = 0: the ramp runs, not the plateau
    assert sched.state_dict()["plateaus"]["lr"][0]["reports"] == 0
    for _ in range(4):
        sched.step()
    sched.report(1.0)
    sched.report(1.0)  # no improvement, patience 0: halved
    assert sched.state_dict()["plateaus"]["lr"][0]["reports"] == 2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05, rel=1e-15)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05, rel=1e-15)
    sched = attach(opt, per_epoch(plateau(patience=0, factor=0.5), 3), count="calls",
                   replace=True)  # base: the lr now, 0.05
    sched.report(2.0)
    sched.report(2.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025, rel=1e-15)
