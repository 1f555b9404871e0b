"""lrnotes.schedules: equal to torch's schedulers, exact tables from the papers, resume, attach."""

from __future__ import annotations

import io
import math
import pickle
import random
import warnings

import numpy as np
import pytest
import torch
from roundtrip import reload
from torch.optim import lr_scheduler as tls

import lrnotes.schedules as S
from lrnotes.schedules import (
    Schedule,
    ScheduledLR,
    attach,
    constant,
    cosine,
    cyclic,
    epochs,
    exponential,
    inverse_sqrt,
    join,
    linear,
    multistep,
    one_cycle,
    one_cycle_momentum,
    per_epoch,
    polynomial,
    step,
    warm_restarts,
    warmup,
    wsd,
)

BASE = 0.1  # every group's base lr in the torch comparisons
RTOL = 1e-9


def _sgd(lr: float = BASE) -> torch.optim.SGD:
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    return torch.optim.SGD([param], lr=lr, momentum=0.9)


def torch_run(make, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The lr and momentum a torch scheduler gives updates t = 0 .. n-1 (stepped per update)."""
    opt = _sgd()
    sched = make(opt)
    lrs, momenta = [], []
    for _ in range(n):
        lrs.append(sched.get_last_lr()[0])
        momenta.append(opt.param_groups[0]["momentum"])
        opt.step()  # no gradients: nothing moves, but torch sees optimizer.step before step()
        sched.step()
    return np.array(lrs), np.array(momenta)


def assert_same(ours: np.ndarray, theirs: np.ndarray) -> None:
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)


# --- equal to torch, value for value, over the run and past it --------------------------------


@pytest.mark.parametrize("step_size, gamma", [(1, 0.5), (3, 0.1), (7, 0.9), (30, 0.1), (5, 0.0)])
def test_step_equals_steplr(step_size, gamma):
    theirs, _ = torch_run(lambda o: tls.StepLR(o, step_size, gamma), 200)
    assert_same(BASE * step(step_size, gamma).values(200), theirs)


@pytest.mark.parametrize("milestones, gamma", [([5], 0.1), ([3, 10, 11], 0.5), ([1, 50, 100], 0.3),
                                               ([0, 4], 0.9)])
def test_multistep_equals_multisteplr(milestones, gamma):
    theirs, _ = torch_run(lambda o: tls.MultiStepLR(o, milestones, gamma), 150)
    assert_same(BASE * multistep(milestones, gamma).values(150), theirs)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99, 1.0])
def test_exponential_equals_exponentiallr(gamma):
    theirs, _ = torch_run(lambda o: tls.ExponentialLR(o, gamma), 300)
    assert_same(BASE * exponential(gamma).values(300), theirs)


@pytest.mark.parametrize("total_steps", [1, 5, 50, 97])
@pytest.mark.parametrize("power", [0.5, 1.0, 2.0, 3.3])
def test_polynomial_equals_polynomiallr(total_steps, power):
    n = 2 * total_steps + 5  # well past the end: both hold 0
    theirs, _ = torch_run(lambda o: tls.PolynomialLR(o, total_steps, power), n)
    assert_same(BASE * polynomial(total_steps, power).values(n), theirs)


@pytest.mark.parametrize("start, end", [(0.01, 1.0), (1 / 3, 1.0), (1.0, 0.5), (0.5, 0.0)])
@pytest.mark.parametrize("steps", [1, 7, 40])
def test_linear_equals_linearlr(start, end, steps):
    n = 2 * steps + 5
    theirs, _ = torch_run(lambda o: tls.LinearLR(o, start, end, steps), n)
    assert_same(BASE * linear(start, end, steps).values(n), theirs)


@pytest.mark.parametrize("total_steps", [1, 10, 99, 500])
@pytest.mark.parametrize("final", [0.0, 0.01, 0.3])
def test_cosine_equals_cosineannealinglr_closed_form(total_steps, final):
    # torch steps CosineAnnealingLR by a recursion that it documents as an approximation of the
    # closed form; the closed form (its `_get_closed_form_lr`) is the reference. In torch 2.14 the
    # recursion stays within ~1e-14 of it on a clean run, also checked here.
    opt = _sgd()
    sched = tls.CosineAnnealingLR(opt, T_max=total_steps, eta_min=final * BASE)
    closed, recursive = [], []
    for t in range(total_steps + 1):
        assert sched.last_epoch == t
        closed.append(sched._get_closed_form_lr()[0])
        recursive.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    ours = BASE * cosine(total_steps, final).values(3 * total_steps + 2)
    assert_same(ours[: total_steps + 1], np.array(closed))
    assert_same(ours[: total_steps + 1], np.array(recursive))
    # Past T_max torch's cosine climbs back towards base_lr; ours holds `final`.
    np.testing.assert_array_equal(ours[total_steps:], ours[total_steps])
    assert ours[total_steps] == pytest.approx(final * BASE, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("period", [1, 5, 10])
@pytest.mark.parametrize("period_mult", [1, 2, 3])
@pytest.mark.parametrize("final", [0.0, 0.01])
def test_warm_restarts_equals_cosineannealingwarmrestarts(period, period_mult, final):
    theirs, _ = torch_run(
        lambda o: tls.CosineAnnealingWarmRestarts(o, period, period_mult, eta_min=final * BASE),
        250)
    assert_same(BASE * warm_restarts(period, float(period_mult), final=final).values(250), theirs)


CYCLIC_CASES = [
    dict(half_cycle=4),
    dict(half_cycle=5, half_cycle_down=3),
    dict(half_cycle=10, half_cycle_down=20),
    dict(half_cycle=1),
]


@pytest.mark.parametrize("mode, gamma", [("triangular", 1.0), ("triangular2", 1.0),
                                         ("exp_range", 0.99), ("exp_range", 0.9)])
@pytest.mark.parametrize("sizes", CYCLIC_CASES)
@pytest.mark.parametrize("low, high", [(0.1, 1.0), (0.01, 0.5)])
def test_cyclic_and_its_momentum_equal_cycliclr(mode, gamma, sizes, low, high):
    n = 150
    theirs, their_momenta = torch_run(
        lambda o: tls.CyclicLR(
            o, base_lr=low * BASE, max_lr=high * BASE, step_size_up=sizes["half_cycle"],
            step_size_down=sizes.get("half_cycle_down"), mode=mode, gamma=gamma,
            base_momentum=0.8, max_momentum=0.9), n)
    ours = cyclic(low, high, mode=mode, gamma=gamma, **sizes)
    assert_same(BASE * ours.values(n), theirs)
    assert_same(ours.momentum(high=0.9, low=0.8).values(n), their_momenta)


@pytest.mark.parametrize("total_steps", [10, 57, 300])
@pytest.mark.parametrize("peak_at", [0.25, 0.3, 0.45])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_and_its_momentum_equal_onecyclelr(total_steps, peak_at, anneal, three_phase):
    div, final_div = (25.0, 1e4) if total_steps != 57 else (10.0, 100.0)
    theirs, their_momenta = torch_run(
        lambda o: tls.OneCycleLR(o, max_lr=BASE, total_steps=total_steps, pct_start=peak_at,
                                 anneal_strategy=anneal, div_factor=div,
                                 final_div_factor=final_div, three_phase=three_phase),
        total_steps)
    ours = one_cycle(total_steps, peak_at, start=1 / div, final=1 / (div * final_div),
                     anneal=anneal, three_phase=three_phase)
    assert_same(BASE * ours.values(total_steps), theirs)
    assert_same(ours.momentum(high=0.95, low=0.85).values(total_steps), their_momenta)
    # Past the end torch extrapolates one step and then raises; ours holds the final values.
    tail = ours.values(total_steps + 50)[total_steps - 1:]
    np.testing.assert_array_equal(tail, ours(total_steps - 1))
    assert ours(total_steps - 1) == pytest.approx(1 / (div * final_div), rel=1e-12)


def test_torch_onecyclelr_raises_past_the_end_where_one_cycle_holds():
    opt = _sgd()
    sched = tls.OneCycleLR(opt, max_lr=BASE, total_steps=10)
    for _ in range(10):
        opt.step()
        sched.step()
    opt.step()
    with pytest.raises(ValueError, match="total steps"):
        sched.step()
    assert one_cycle(10)(11) == one_cycle(10)(9)


# --- through attach(), with real updates, against torch running its own copy ---------------


def _pair(opt_class, **opt_kwargs):
    torch.manual_seed(0)
    models = [torch.nn.Linear(4, 2).double() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [opt_class([{"params": m.weight}, {"params": m.bias, "lr": BASE / 10}], lr=BASE,
                      **opt_kwargs) for m in models]
    return models, opts


def _update(model, opt, x):
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    opt.step()


@pytest.mark.parametrize("opt_class, key", [(torch.optim.SGD, "momentum"),
                                            (torch.optim.Adam, "betas")])
@pytest.mark.parametrize("three_phase", [False, True])
def test_attach_one_cycle_with_momentum_trains_like_onecyclelr(opt_class, key, three_phase):
    n = 40
    kwargs = {"momentum": 0.9} if key == "momentum" else {}
    (mine, theirs), (opt_mine, opt_theirs) = _pair(opt_class, **kwargs)
    cycle = one_cycle(n, 0.3, three_phase=three_phase)
    sched_mine = attach(opt_mine, cycle, momentum=cycle.momentum(0.95, 0.85))
    sched_theirs = tls.OneCycleLR(opt_theirs, max_lr=[BASE, BASE / 10], total_steps=n,
                                  three_phase=three_phase)
    x = torch.randn(8, 4, dtype=torch.float64)
    for _ in range(n):
        for g_mine, g_theirs in zip(opt_mine.param_groups, opt_theirs.param_groups, strict=True):
            assert g_mine["lr"] == pytest.approx(g_theirs["lr"], rel=RTOL)
            m_mine = g_mine[key][0] if key == "betas" else g_mine[key]
            m_theirs = g_theirs[key][0] if key == "betas" else g_theirs[key]
            assert m_mine == pytest.approx(m_theirs, rel=RTOL)
        assert sched_mine.get_last_lr() == pytest.approx(sched_theirs.get_last_lr(), rel=RTOL)
        _update(mine, opt_mine, x)
        _update(theirs, opt_theirs, x)
        sched_mine.step()
        sched_theirs.step()
    for a, b in zip(mine.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_attach_cyclic_with_momentum_equals_cycliclr_on_sgd():
    n = 60
    (mine, theirs), (opt_mine, opt_theirs) = _pair(torch.optim.SGD, momentum=0.9)
    lr = cyclic(low=0.1, high=1.0, half_cycle=7, mode="triangular2")
    sched_mine = attach(opt_mine, lr, momentum=lr.momentum(high=0.9, low=0.8))
    sched_theirs = tls.CyclicLR(opt_theirs, base_lr=[0.1 * BASE, 0.01 * BASE],
                                max_lr=[BASE, BASE / 10], step_size_up=7, mode="triangular2")
    x = torch.randn(8, 4, dtype=torch.float64)
    for _ in range(n):
        for g_mine, g_theirs in zip(opt_mine.param_groups, opt_theirs.param_groups, strict=True):
            assert g_mine["lr"] == pytest.approx(g_theirs["lr"], rel=RTOL)
            assert g_mine["momentum"] == pytest.approx(g_theirs["momentum"], rel=RTOL)
        _update(mine, opt_mine, x)
        _update(theirs, opt_theirs, x)
        sched_mine.step()
        sched_theirs.step()


# --- exact values from the papers' formulas ---------------------------------------------------


def _table(schedule: Schedule, expected: dict[int, float]) -> None:
    values = schedule.values(min(max(expected) + 1, 10_000))
    for t, value in expected.items():
        assert schedule(t) == pytest.approx(value, rel=1e-12, abs=1e-15), t
        if t < len(values):
            assert values[t] == pytest.approx(value, rel=1e-12, abs=1e-15), t


def test_table_warmup_cosine():
    # warmup: peak * (t + 1) / (steps + 1) for t < steps (no zero-lr update), then the cosine
    # of SGDR eq. 5 in local time u = t - 3: 0.1 + 0.9 * (1 + cos(pi * u / 4)) / 2.
    _table(warmup(cosine(total_steps=4, final=0.1), steps=3), {
        0: 0.25, 1: 0.5, 2: 0.75,
        3: 1.0,                      # u = 0
        4: 0.8681980515339464,       # u = 1: 0.1 + 0.45 * (1 + sqrt(2)/2)
        5: 0.55,                     # u = 2: 0.1 + 0.45 * (1 + 0)
        6: 0.2318019484660536,       # u = 3: 0.1 + 0.45 * (1 - sqrt(2)/2)
        7: 0.1, 8: 0.1, 20: 0.1,     # u >= 4: final, held
    })
    # start=0.0 asks for the classic t / steps ramp, first update at lr 0
    _table(warmup(cosine(total_steps=4), steps=4, start=0.0), {0: 0.0, 1: 0.25, 3: 0.75, 4: 1.0})


@pytest.mark.parametrize("decay, expected", [
    # Hu et al. 2024 (MiniCPM) WSD(T; s): warmup, stable at 1, then a decreasing f on the last
    # D = 4 of T = 10 updates, p = (t - 6) / 4. Warmup here is (t + 1) / (W + 1), W = 2.
    ("linear", {7: 0.75, 8: 0.5, 9: 0.25}),
    ("cosine", {7: 0.8535533905932737,    # (1 + cos(pi/4)) / 2
                8: 0.5,
                9: 0.14644660940672627}),  # (1 + cos(3 pi/4)) / 2
    # 1 - sqrt(p) cooldown (Hägele et al. 2024)
    ("1-sqrt", {7: 0.5,                    # 1 - sqrt(1/4)
                8: 0.2928932188134524,     # 1 - sqrt(1/2)
                9: 0.1339745962155614}),   # 1 - sqrt(3/4)
])
def test_table_wsd(decay, expected):
    common = {0: 1 / 3, 1: 2 / 3, 2: 1.0, 3: 1.0, 5: 1.0, 6: 1.0, 10: 0.0, 11: 0.0, 1000: 0.0}
    _table(wsd(total_steps=10, warmup_steps=2, decay_steps=4, decay=decay), {**common, **expected})
    # with a final multiplier the decay ends there: final + (1 - final) * f(p)
    scaled = {t: 0.1 + 0.9 * v for t, v in {**common, **expected}.items() if t >= 6}
    _table(wsd(10, 2, 4, decay=decay, final=0.1), scaled)


def test_table_inverse_sqrt():
    # Vaswani et al. 2017 eq. 3 with step n = t + 1, divided by its peak at n = W = 4:
    # min(n / W, sqrt(W / n)).
    _table(inverse_sqrt(warmup_steps=4), {
        0: 0.25, 1: 0.5, 2: 0.75, 3: 1.0,
        4: 0.8944271909999159,   # sqrt(4/5)
        5: 0.816496580927726,    # sqrt(4/6)
        15: 0.5, 99: 0.2, 399: 0.1,
    })


def test_table_sgdr_float_multiplier():
    # Loshchilov & Hutter 2017 eq. 5: eta = eta_min + (eta_max^i - eta_min)(1 + cos(pi T_cur/T_i))/2
    # T_0 = 2, T_mult = 1.5: T_i = 2, 3, 4.5, 6.75, 10.125 starting at S_i = 0, 2, 5, 9.5, 16.25;
    # eta_min = 0.1 and eta_max^i - eta_min = 0.9 * 0.5^i (decay = 0.5).
    _table(warm_restarts(period=2, period_mult=1.5, decay=0.5, final=0.1), {
        0: 1.0,                     # i=0, T_cur=0
        1: 0.55,                    # i=0, T_cur=1: 0.1 + 0.45 * (1 + cos(pi/2))
        2: 0.55,                    # i=1 restarts at 0.1 + 0.45
        3: 0.4375,                  # T_cur=1, T_1=3: 0.1 + 0.225 * (1 + cos(pi/3))
        4: 0.2125,                  # T_cur=2: 0.1 + 0.225 * (1 + cos(2pi/3))
        5: 0.325,                   # i=2 restarts at 0.1 + 0.225
        6: 0.298679999850885,       # 0.1 + 0.1125 * (1 + cos(2pi/9)), cos(2pi/9) = 0.766044443...
        9: 0.10678458016158532,     # 0.1 + 0.1125 * (1 + cos(8pi/9)), cos(8pi/9) = -0.939692620...
        10: 0.21098377397011508,    # i=3, T_cur=0.5, T_3=6.75: 0.1 + 0.05625 * (1 + cos(pi/13.5))
        16: 0.1 + 0.05625 * (1 + math.cos(math.pi * 6.5 / 6.75)),
        17: 0.1 + 0.028125 * (1 + math.cos(math.pi * 0.75 / 10.125)),  # i=4 from 16.25
    })


def test_table_clr_smith_2017():
    # Smith 2017 (CLR): cycle = floor(1 + t / (2 s)), x = |t / s - 2 cycle + 1|,
    # lr = low + (high - low) * max(0, 1 - x) * f; s = 4, low = 0.1, high = 1.0.
    _table(cyclic(low=0.1, high=1.0, half_cycle=4), {
        0: 0.1, 1: 0.325, 2: 0.55, 3: 0.775, 4: 1.0, 5: 0.775, 8: 0.1, 10: 0.55, 12: 1.0, 16: 0.1,
    })
    # triangular2: f = 1 / 2^(cycle - 1)
    _table(cyclic(0.1, 1.0, 4, mode="triangular2"), {
        4: 1.0, 10: 0.1 + 0.9 * 0.5 * 0.5, 12: 0.55, 20: 0.1 + 0.9 / 4, 24: 0.1,
    })
    # exp_range: f = gamma^t, gamma = 0.9
    _table(cyclic(0.1, 1.0, 4, mode="exp_range", gamma=0.9), {
        2: 0.1 + 0.9 * 0.5 * 0.81, 4: 0.1 + 0.9 * 0.6561, 12: 0.1 + 0.9 * 0.9**12,
    })


def test_table_one_cycle_smith_2018():
    # Smith 2018 (1cycle, three phases, linear): start -> 1 -> start, then annihilation to
    # final; torch's phase ends e1 = 0.3*10 - 1 = 2, e2 = 2*0.3*10 - 2 = 4, e3 = 9.
    s = one_cycle(total_steps=10, peak_at=0.3, start=0.1, final=0.001, anneal="linear",
                  three_phase=True)
    _table(s, {0: 0.1, 1: 0.55, 2: 1.0, 3: 0.55, 4: 0.1,
               5: 0.1 - 0.099 * 0.2,   # pct = (5 - 4) / (9 - 4)
               7: 0.1 - 0.099 * 0.6, 9: 0.001, 10: 0.001, 50: 0.001})
    # momentum: 0.95 -> 0.85 at the peak -> 0.95, then held
    _table(s.momentum(high=0.95, low=0.85), {0: 0.95, 1: 0.9, 2: 0.85, 3: 0.9, 4: 0.95, 9: 0.95})
    # two phases, cosine: on [2, 9] pct = (t - 2) / 7; at t = 9: final
    two = one_cycle(10, 0.3, start=0.1, final=0.001)
    _table(two, {0: 0.1, 1: 0.55, 2: 1.0, 9: 0.001,
                 # 0.001 + (1 - 0.001) / 2 * (cos(pi * 1/7) + 1)
                 3: 0.001 + 0.999 / 2 * (math.cos(math.pi / 7) + 1)})


def test_table_the_rest():
    _table(constant(0.5), {0: 0.5, 10**12: 0.5})
    _table(linear(0.1, 1.0, 9), {0: 0.1, 3: 0.4, 9: 1.0, 100: 1.0})
    _table(step(3, 0.5), {0: 1.0, 2: 1.0, 3: 0.5, 6: 0.25, 11: 0.125})
    _table(multistep([2, 5], 0.1), {1: 1.0, 2: 0.1, 4: 0.1, 5: 0.01, 99: 0.01})
    _table(exponential(0.5), {0: 1.0, 1: 0.5, 3: 0.125})
    _table(polynomial(4, power=2.0), {0: 1.0, 1: 0.5625, 2: 0.25, 3: 0.0625, 4: 0.0, 9: 0.0})
    _table(polynomial(4, power=1.0, final=0.2), {0: 1.0, 2: 0.6, 4: 0.2, 5: 0.2})
    _table(warm_restarts(4), {0: 1.0, 2: 0.5, 4: 1.0, 6: 0.5})


def test_join_uses_local_time_and_nests():
    inner = join([constant(1.0), linear(1.0, 0.0, 4)], boundaries=[2])
    s = join([linear(0.0, 1.0, 2), inner, constant(0.25)], boundaries=[2, 10])
    _table(s, {0: 0.0, 1: 0.5, 2: 1.0, 3: 1.0, 4: 1.0, 5: 0.75, 6: 0.5, 7: 0.25, 8: 0.0, 9: 0.0,
               10: 0.25, 99: 0.25})


# --- past the end, epochs, repr, serialisation ------------------------------------------------


def test_after_cycle_and_raise():
    cyc = cosine(4, final=0.0, after="cycle")
    np.testing.assert_array_equal(cyc.values(12), np.tile(cosine(4).values(4), 3))
    raising = cosine(4, after="raise")
    assert raising(3) == pytest.approx(cosine(4)(3))
    with pytest.raises(ValueError, match="after='raise'"):
        raising(4)
    with pytest.raises(ValueError, match="after='raise'"):
        raising.values(5)
    assert len(raising.values(4)) == 4
    # an attached scheduler raises at the first update past the end, not before
    opt = _sgd()
    sched = attach(opt, one_cycle(5, after="raise"))
    for _ in range(4):
        opt.step()
        sched.step()
    opt.step()
    with pytest.raises(ValueError, match="after='raise'"):
        sched.step()
    wsd_cycle = wsd(6, 1, 2, after="cycle")
    np.testing.assert_array_equal(wsd_cycle.values(12)[6:], wsd_cycle.values(6))


def test_epochs_and_per_epoch():
    assert epochs(30, steps_per_epoch=100) == 3000
    assert epochs(0.5, steps_per_epoch=100) == 50
    with pytest.raises(ValueError, match="epochs"):
        epochs(0.3, steps_per_epoch=5)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        epochs(3, steps_per_epoch=0)
    # per_epoch reproduces torch's cosine stepped once per epoch with updates counted per batch
    spe, n_epochs = 7, 12
    per_epoch_lrs, _ = torch_run(lambda o: tls.CosineAnnealingLR(o, T_max=n_epochs), n_epochs)
    ours = per_epoch(cosine(n_epochs), steps_per_epoch=spe).values(spe * n_epochs)
    assert_same(BASE * ours, np.repeat(per_epoch_lrs, spe))
    np.testing.assert_array_equal(step(epochs(3, spe), 0.1).values(100),
                                  per_epoch(step(3, 0.1), spe).values(100))


ALL = [
    constant(0.5), linear(0.01, 1.0, 10), step(3, 0.5), multistep([2, 9], 0.3), exponential(0.97),
    polynomial(20, 2.0, final=0.05), cosine(30, 0.1), warm_restarts(5, 1.5, 0.8, 0.01),
    cyclic(0.1, 1.0, 4, "exp_range", 0.98, 6), one_cycle(40, 0.25, three_phase=True),
    one_cycle(40, 0.3, anneal="linear").momentum(0.9, 0.8), wsd(50, 5, 10, "cosine", 0.1),
    inverse_sqrt(8), warmup(cosine(30), 5), warmup(step(4, 0.5), 3, start=0.0),
    per_epoch(cosine(6), 5),
    join([linear(0.1, 1.0, 5), join([cosine(10, 0.2), warmup(polynomial(20), 4)], [10])],
         [5]),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_repr_pickle_and_plain_data_round_trip(schedule):
    assert eval(repr(schedule), vars(S)) == schedule
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    data = schedule.to_dict()
    buffer = io.BytesIO()
    torch.save(data, buffer)
    buffer.seek(0)
    restored = Schedule.from_dict(torch.load(buffer, weights_only=True))
    assert restored == schedule
    assert hash(restored) == hash(schedule)
    np.testing.assert_array_equal(restored.values(100), schedule.values(100))


def test_repr_shows_arguments():
    assert repr(cosine(1000)) == "cosine(total_steps=1000, final=0.0, after='hold')"
    assert repr(multistep([30, 80])) == "multistep(milestones=(30, 80), gamma=0.1)"


def test_values_of_a_million_steps():
    s = warmup(join([cosine(500_000, 0.1), constant(0.1)], [500_000]), steps=1000)
    values = s.values(1_000_000)
    assert values.dtype == np.float64 and values.shape == (1_000_000,)
    assert values[-1] == pytest.approx(0.1)
    assert values[1000] == 1.0


# --- attach(): resume, groups, skipped updates, warnings --------------------------------------

RESUME = [(s, None) for s in ALL if not isinstance(s, one_cycle_momentum)] + [
    (one_cycle(60, 0.3), one_cycle(60, 0.3).momentum()),
    (cyclic(0.1, 1.0, 5), cyclic(0.1, 1.0, 5).momentum()),
    (join([warmup(join([cosine(20), constant(0.0)], [20]), 4),
           join([cyclic(0.2, 0.5, 3), join([linear(0.5, 0.1, 5), exponential(0.9)], [5])], [12])],
          [30]), None),
]


def _run(schedule, momentum, n, stop=None, opt_class=torch.optim.SGD):
    """lrs and momenta per group for n updates; with `stop`, save at `stop` and rebuild."""

    def build(seed):
        torch.manual_seed(seed)
        model = torch.nn.Linear(3, 1).double()
        kwargs = {"momentum": 0.5} if opt_class is torch.optim.SGD else {}
        opt = opt_class([{"params": model.weight}, {"params": model.bias, "lr": 0.03}], lr=0.2,
                        **kwargs)
        return model, opt, attach(opt, schedule, momentum=momentum)

    x = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
    model, opt, sched = build(0)
    seen = []
    for t in range(n):
        if t == stop:
            model, opt, sched = reload(model, opt, sched, build)
        key = "momentum" if "momentum" in opt.param_groups[0] else "betas"
        seen.append([(g["lr"], g[key]) for g in opt.param_groups] + [sched.last_epoch])
        _update(model, opt, x)
        sched.step()
    return seen, [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("index", range(len(RESUME)))
def test_resume_gives_the_uninterrupted_sequence(index):
    schedule, momentum = RESUME[index]
    n = 40 if isinstance(schedule, one_cycle) else 60
    stop = random.Random(index).randrange(1, n)
    full, params_full = _run(schedule, momentum, n)
    resumed, params_resumed = _run(schedule, momentum, n, stop)
    assert resumed == full
    for a, b in zip(params_full, params_resumed, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_resume_with_adam_betas_and_the_saved_schedule_wins():
    cycle = one_cycle(30, 0.3)
    full, _ = _run(cycle, cycle.momentum(), 30, opt_class=torch.optim.Adam)
    resumed, _ = _run(cycle, cycle.momentum(), 30, stop=13, opt_class=torch.optim.Adam)
    assert resumed == full
    # the checkpoint holds the schedule: loading it into a scheduler built with another one
    opt = _sgd()
    sched = attach(opt, cosine(100))
    other = attach(_sgd(), constant(0.5))
    other.load_state_dict(sched.state_dict())
    assert other.schedule == cosine(100)


def test_resume_loading_the_scheduler_before_the_optimizer():
    schedule = warmup(cosine(30, 0.05), 4)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    sched = attach(opt, schedule)
    x = torch.ones(2, 3)
    for _ in range(9):
        _update(model, opt, x)
        sched.step()
    state = {"opt": opt.state_dict(), "sched": sched.state_dict()}
    opt2 = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    sched2 = attach(opt2, schedule)
    sched2.load_state_dict(state["sched"])
    opt2.load_state_dict(state["opt"])
    for _ in range(5):
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.2 * schedule(
            sched.last_epoch)
        assert sched2.last_epoch == sched.last_epoch
        for o, sc in ((opt, sched), (opt2, sched2)):
            o.step()
            sc.step()


def test_tensor_lrs_and_betas_are_written_in_place():
    param = torch.nn.Parameter(torch.ones(3))
    lr, beta1 = torch.tensor(0.01), torch.tensor(0.9)
    opt = torch.optim.Adam([param], lr=lr, betas=(beta1, torch.tensor(0.999)))
    cycle = one_cycle(10)
    sched = attach(opt, cycle, momentum=cycle.momentum())
    for t in range(1, 4):
        param.grad = torch.ones(3)
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] is lr and opt.param_groups[0]["betas"][0] is beta1
        assert lr.item() == pytest.approx(0.01 * cycle(t), rel=1e-6)
        assert beta1.item() == pytest.approx(cycle.momentum()(t), rel=1e-6)
        assert sched.get_last_lr()[0] is not lr  # a copy, as torch's get_last_lr


def test_param_groups_keep_their_ratios_and_defaults_are_never_read():
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(3)]
    opt = torch.optim.SGD([{"params": [params[0]], "lr": 0.3}, {"params": [params[1]], "lr": 0.03},
                           {"params": [params[2]]}], lr=7.0)
    opt.defaults["lr"] = 1234.0  # a schedule that read the defaults would show it
    schedule = warmup(cosine(50, 0.01), 5)
    sched = attach(opt, schedule)
    bases = [0.3, 0.03, 7.0]
    assert sched.base_lrs == bases
    for t in range(70):
        lrs = [g["lr"] for g in opt.param_groups]
        assert sched.last_epoch == t
        assert lrs == pytest.approx([b * schedule(t) for b in bases], rel=1e-15)
        assert [lr / lrs[0] for lr in lrs] == pytest.approx([1.0, 0.1, 7.0 / 0.3], rel=1e-12)
        assert sched.get_last_lr() == lrs
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()
        sched.step()


@pytest.mark.parametrize("fused", [False, True])
def test_skipped_updates_do_not_advance_and_nothing_warns(fused):
    param = torch.nn.Parameter(torch.ones(4))
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.9, fused=fused)
    scaler = torch.amp.GradScaler("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched = attach(opt, cosine(20))
        sched.step()  # a step() before any update (e.g. the first update was skipped)
        assert sched.last_epoch == 0
        expected = []
        for i in range(8):
            scaler.scale((param * 2).sum()).backward()
            if i in (1, 2, 5):
                param.grad.fill_(float("inf"))  # the scaler finds an inf and skips the update
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
            sched.step()
            expected.append(expected[-1] + (i not in (1, 2, 5)) if expected else 1)
            assert sched.last_epoch == expected[-1]
            assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * cosine(20)(expected[-1]))
        assert sched.last_epoch == 5
        # and a plain step() without optimizer.step() (a skip simulated by hand)
        sched.step()
        assert sched.last_epoch == 5
        state = sched.state_dict()
        sched.load_state_dict(state)


def test_count_calls_advances_on_every_step():
    opt = _sgd()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched = attach(opt, linear(0.0, 1.0, 4), count="calls")
        drawn = []
        for _ in range(6):
            drawn.append(sched.get_last_lr()[0])
            sched.step()
    assert drawn == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1, 0.1])


def test_scheduledlr_is_a_torch_lrscheduler_in_normal_use():
    opt = _sgd()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched = attach(opt, step(2, 0.5))
        assert isinstance(sched, tls.LRScheduler) and isinstance(sched, ScheduledLR)
        assert opt.param_groups[0]["initial_lr"] == BASE
        for t in range(5):
            assert sched.get_last_lr() == [BASE * step(2, 0.5)(t)]
            assert sched.get_lr() == sched.get_last_lr()
            opt.step()
            sched.step()
    with pytest.raises(ValueError, match="epoch"):
        sched.step(3)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("build, name", [
    (lambda: cosine(0), "total_steps"),
    (lambda: cosine(-5), "total_steps"),
    (lambda: cosine(10.5), "total_steps"),
    (lambda: polynomial(0), "total_steps"),
    (lambda: one_cycle(0), "total_steps"),
    (lambda: wsd(0, 0, 1), "total_steps"),
    (lambda: linear(0.0, 1.0, 0), "steps"),
    (lambda: wsd(100, 95, 10), "warmup_steps"),
    (lambda: wsd(100, 10, 0), "decay_steps"),
    (lambda: wsd(100, -1, 10), "warmup_steps"),
    (lambda: warmup(cosine(10), 0), "steps"),
    (lambda: inverse_sqrt(0), "warmup_steps"),
    (lambda: cosine(10, final=-0.1), "final"),
    (lambda: cosine(10, final=float("nan")), "final"),
    (lambda: constant(-1.0), "value"),
    (lambda: linear(-0.1, 1.0, 5), "start"),
    (lambda: step(10, -0.1), "gamma"),
    (lambda: step(0), "step_size"),
    (lambda: exponential(-0.5), "gamma"),
    (lambda: multistep([3, 3]), "milestones"),
    (lambda: multistep([5, 2]), "milestones"),
    (lambda: warm_restarts(0), "period"),
    (lambda: warm_restarts(10, period_mult=0.5), "period_mult"),
    (lambda: warm_restarts(10, decay=-1.0), "decay"),
    (lambda: cyclic(0.1, 1.0, 0), "half_cycle"),
    (lambda: cyclic(0.1, 1.0, 4, half_cycle_down=0), "half_cycle_down"),
    (lambda: cyclic(-0.1, 1.0, 4), "low"),
    (lambda: cyclic(0.1, 1.0, 4, mode="triangle"), "mode"),
    (lambda: one_cycle(100, peak_at=1.5), "peak_at"),
    (lambda: one_cycle(100, peak_at=0.0), "peak_at"),
    (lambda: one_cycle(3, peak_at=0.3), "peak_at"),
    (lambda: one_cycle(100, peak_at=0.6, three_phase=True), "peak_at"),
    (lambda: one_cycle(100, anneal="cosine"), "anneal"),
    (lambda: one_cycle(100, start=-1.0), "start"),
    (lambda: one_cycle(100).momentum(high=-0.9), "high"),
    (lambda: wsd(100, 10, 10, decay="exp"), "decay"),
    (lambda: cosine(10, after="wrap"), "after"),
    (lambda: join([cosine(10), cosine(10)], [0]), "boundaries"),
    (lambda: join([cosine(10), cosine(10), cosine(10)], [10, 10]), "boundaries"),
    (lambda: join([cosine(10), cosine(10), cosine(10)], [10, 5]), "boundaries"),
    (lambda: join([cosine(10), cosine(10)], [5, 10]), "boundaries"),
    (lambda: per_epoch(cosine(10), 0), "steps_per_epoch"),
    (lambda: cosine(10)(-1), "t"),
    (lambda: cosine(10).values(-1), "n"),
    (lambda: Schedule.from_dict({"schedule": "nope", "args": {}}), "data"),
    (lambda: attach(_sgd(), cosine(10), count="sometimes"), "count"),
    (lambda: attach(torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(1))]), cosine(10),
                    momentum=constant(0.9)), "momentum"),
])
def test_bad_input_names_the_argument(build, name):
    with pytest.raises(ValueError, match=name):
        build()


# A value of the wrong type is a TypeError naming the argument, never coerced (issue 15, item 14:
# constant(True) was 1.0, constant("0.5") was 0.5, three_phase="False" was True).
@pytest.mark.parametrize("build, name", [
    (lambda: join([cosine(10), lambda t: 1.0], [5]), "parts"),
    (lambda: warmup(lambda t: 1.0, 5), "schedule"),
    (lambda: attach(_sgd(), lambda t: 1.0), "schedule"),
    (lambda: constant(True), "value"),
    (lambda: constant("0.5"), "value"),
    (lambda: constant(None), "value"),
    (lambda: constant(np.bool_(True)), "value"),
    (lambda: one_cycle(100, three_phase="False"), "three_phase"),
    (lambda: one_cycle(100, three_phase=0), "three_phase"),
    (lambda: cosine("10"), "total_steps"),
    (lambda: cosine(True), "total_steps"),
    (lambda: cosine(10, final="0"), "final"),
    (lambda: cosine(10, after=None), "after"),
    (lambda: linear("0", 1.0, 5), "start"),
    (lambda: step(False), "step_size"),
    (lambda: step(10, gamma=True), "gamma"),
    (lambda: multistep("30"), "milestones"),
    (lambda: multistep([True, 5]), "milestones"),
    (lambda: exponential("0.9"), "gamma"),
    (lambda: warm_restarts(10, period_mult="2"), "period_mult"),
    (lambda: cyclic(0.1, 1.0, 4, mode=1), "mode"),
    (lambda: cyclic(0.1, 1.0, 4, half_cycle_down=True), "half_cycle_down"),
    (lambda: wsd(100, True, 10), "warmup_steps"),
    (lambda: warmup(cosine(10), 5, start="0"), "start"),
    (lambda: per_epoch(cosine(10), True), "steps_per_epoch"),
    (lambda: join(None, [5]), "parts"),
    (lambda: join([cosine(10), cosine(10)], None), "boundaries"),
    (lambda: join([cosine(10), cosine(10)], 5), "boundaries"),
    (lambda: epochs("3", 10), "epochs"),
    (lambda: cosine(10)("3"), "t"),
    (lambda: cosine(10)(True), "t"),
    (lambda: Schedule.from_dict(None), "data"),
    (lambda: Schedule.from_dict("cosine"), "data"),
    (lambda: attach("sgd", cosine(10)), "optimizer"),
    (lambda: attach(_sgd(), cosine(10), count=1), "count"),
    (lambda: attach(_sgd(), cosine(10), replace="yes"), "replace"),
])
def test_wrong_types_are_type_errors_naming_the_argument(build, name):
    with pytest.raises(TypeError, match=name):
        build()


@pytest.mark.parametrize("data, match", [
    ({"schedule": "cosine"}, r"data\['args'\]"),
    ({"schedule": "cosine", "args": None}, r"data\['args'\]"),
    ({"schedule": "cosine", "args": {"total_steps": 10, "warm": 1}}, r"data\['args'\].*warm"),
    ({"schedule": "cosine", "args": {"total_steps": -1}}, "total_steps"),
    ({"schedule": "Schedule", "args": {}}, "unknown schedule"),
])
def test_from_dict_of_bad_data_names_what_is_wrong(data, match):
    with pytest.raises(ValueError, match=match):
        Schedule.from_dict(data)


def test_a_huge_t_is_refused_or_correct_not_blamed_on_after():
    # issue 15, item 15: t + 1 overflowed int64 and the NaN was blamed on after='raise'
    assert inverse_sqrt(4)(2**63 - 1) == pytest.approx(math.sqrt(4 / 2**63), rel=1e-12)
    assert inverse_sqrt(4).values(3).tolist() == [0.25, 0.5, 0.75]
    for s in (cosine(10), wsd(100, 10, 10), warmup(join([constant(1.0), inverse_sqrt(3)], [5]), 3),
              one_cycle(100), cyclic(0.1, 1.0, 4), warm_restarts(10, 2.0), multistep([1, 4])):
        assert math.isfinite(s(2**63 - 1))
    with pytest.raises(ValueError, match="t must be an integer >= 0 and <= 9223372036854775807"):
        cosine(10)(2**63)


def test_an_overflowing_schedule_names_itself_and_the_step():
    # issue 15, item 9: exponential(2.0) reached inf and an lr of inf was written
    with pytest.raises(ValueError, match=r"exponential\(gamma=2.0\) is inf at t=1024"):
        exponential(2.0).values(2000)
    with pytest.raises(ValueError, match="is inf at t=1024"):
        exponential(2.0)(1024)
    assert exponential(2.0)(1023) == 2.0**1023


# --- plot ------------------------------------------------------------------------------------


def test_plot_schedule():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrnotes.plot import plot_schedule

    ax = plot_schedule({"cosine": cosine(100), "wsd": wsd(100, 10, 20)}, steps=120, log=True,
                       base_lr=0.1)
    assert [line.get_label() for line in ax.get_lines()] == ["cosine", "wsd"]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "learning rate"
    assert ax.get_xlabel() and ax.get_title() and ax.get_legend() is not None
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), 0.1 * cosine(100).values(120))
    fig, given = plt.subplots()
    assert plot_schedule(cosine(10), steps=10, ax=given) is given
    assert given.get_ylabel() == "multiplier of base lr" and len(given.get_lines()) == 1
    with pytest.raises(ValueError, match="steps"):
        plot_schedule(cosine(10), steps=0)
    plt.close("all")


def test_linear_ends_exactly_at_its_end_and_never_below_zero():
    # found by hypothesis: start + (end - start) * t / steps gave -4.4e-16 at t = steps
    s = S.linear(3.912104198220926, 0.0, 147)
    assert s(147) == 0.0 and s(500) == 0.0
    assert (s.values(200) >= 0).all()
    e = S.extended(s, at=0, total_steps=1)
    assert e(1) == 0.0
    for start, end, steps in [(0.1, 0.3, 7), (1.0, 1e-3, 3), (0.7, 0.0, 1000)]:
        assert S.linear(start, end, steps)(steps) == end
