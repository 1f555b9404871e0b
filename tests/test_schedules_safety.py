"""lrnotes.schedules: nothing lost, nothing silently wrong (issue 15's schedule cases, issue 18's
tensor lrs). Each test failed before its fix."""

from __future__ import annotations

import copy
import gc
import time

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls
from torch.optim.lr_scheduler import LRScheduler, StepLR

import lrnotes.schedules as S
from lrnotes.schedules import (
    Schedule,
    attach,
    constant,
    cosine,
    cyclic,
    exponential,
    join,
    linear,
    one_cycle,
    warmup,
)


def _sgd(lr=0.1, groups=1, momentum=0.9):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p]} for p in params], lr=lr, momentum=momentum)


def _step(opt, sched):
    for group in opt.param_groups:
        for p in group["params"]:
            p.grad = torch.ones_like(p)
    opt.step()
    sched.step()


def _snapshot(opt, sched):
    """Everything a failed call must leave as it was."""
    return (copy.deepcopy([{k: v for k, v in g.items() if k != "params"}
                           for g in opt.param_groups]),
            sched.state_dict(), list(opt._optimizer_step_post_hooks))


# --- item 1: the base lr is the group's lr at attach time ------------------------------------


def test_attach_reads_the_lr_at_attach_time_not_a_stale_initial_lr():
    old = _sgd(lr=0.1)
    StepLR(old, step_size=5)  # leaves initial_lr = 0.1 in the group, as any torch scheduler does
    opt = _sgd(lr=0.1)
    opt.load_state_dict(old.state_dict())  # a loaded optimizer state carries initial_lr = 0.1
    assert opt.param_groups[0]["initial_lr"] == 0.1
    opt.param_groups[0]["lr"] = 0.01
    sched = attach(opt, cosine(10))
    assert sched.base_lrs == [0.01] and opt.param_groups[0]["initial_lr"] == 0.01
    for t in range(1, 4):
        _step(opt, sched)
        assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * cosine(10)(t), rel=1e-15)


def test_attaching_again_after_a_manual_change_uses_the_new_lr():
    opt = _sgd(lr=0.1, groups=2)
    first = attach(opt, cosine(10))
    _step(opt, first)
    first.detach()
    for group, lr in zip(opt.param_groups, [0.02, 0.005], strict=True):
        group["lr"] = lr
    second = attach(opt, constant(1.0))
    assert second.base_lrs == [0.02, 0.005]
    _step(opt, second)
    assert [g["lr"] for g in opt.param_groups] == [0.02, 0.005]


# --- item 4: load_state_dict checks everything first ----------------------------------------


def _trained(count="updates", groups=2, schedule=None):
    opt = _sgd(groups=groups)
    sched = attach(opt, schedule or warmup(cosine(20), 3), count=count)
    for _ in range(5):
        _step(opt, sched)
    return opt, sched


def _state(**changes):
    _, sched = _trained(groups=2)
    state = sched.state_dict()
    state.update(changes)
    return state


@pytest.mark.parametrize("state, match", [
    (_trained(groups=1)[1].state_dict(), "base_lrs"),                    # 1 group into 2
    (_state(count="calls"), "count"),
    (_state(count="bogus"), "count"),
    (_state(last_epoch=-3), "last_epoch"),
    (_state(updates=2.5), "updates"),
    (_state(base_lrs=[0.1, float("nan")]), "base_lrs"),
    (_state(base_lrs=[0.1, -0.1]), "base_lrs"),
    (_state(schedule={"schedule": "cosine", "args": {"total_steps": 0}}), "schedule"),
    (_state(schedule={"schedule": "nope", "args": {}}), "schedule"),
    (_state(momentum=constant(0.9).to_dict()), "drives"),
    (_state(params={"weight_decay": {"schedule": constant(1.0).to_dict(), "bases": [0, 0]}}),
     "drives"),
    ({"last_epoch": 3}, "lacks"),
])
def test_load_state_dict_refuses_bad_state_and_changes_nothing(state, match):
    opt, sched = _trained(groups=2)
    before = _snapshot(opt, sched)
    with pytest.raises(ValueError, match=match):
        sched.check_state_dict(state)  # what a checkpoint verifies before loading anything
    with pytest.raises(ValueError, match=match):
        sched.load_state_dict(state)
    assert _snapshot(opt, sched) == before
    _step(opt, sched)  # and it still runs: its step hook is in place
    assert sched.last_epoch == 6


def test_check_state_dict_of_a_good_state_changes_nothing():
    opt, sched = _trained(groups=2)
    _, other = _trained(groups=2, schedule=cosine(50))
    before = _snapshot(opt, sched)
    sched.check_state_dict(other.state_dict())
    assert _snapshot(opt, sched) == before


def test_load_state_dict_of_the_other_count_mode_is_refused_both_ways():
    for mine, theirs in (("calls", "updates"), ("updates", "calls")):
        opt, sched = _trained(count=mine)
        with pytest.raises(ValueError, match=f"count.*{theirs}"):
            sched.load_state_dict(_trained(count=theirs)[1].state_dict())
        _step(opt, sched)
        assert sched.last_epoch == 6


def test_load_state_dict_refuses_a_state_whose_values_are_out_of_range():
    opt, sched = _trained(groups=2)
    state = sched.state_dict()
    state["schedule"] = exponential(2.0).to_dict()
    state["last_epoch"] = 1100  # 2**1100 overflows: refused, not an lr of inf
    before = _snapshot(opt, sched)
    with pytest.raises(ValueError, match="t=1100"):
        sched.load_state_dict(state)
    assert _snapshot(opt, sched) == before


def test_load_state_dict_not_a_dict_is_a_type_error():
    _, sched = _trained()
    with pytest.raises(TypeError, match="state_dict"):
        sched.load_state_dict([1, 2])


# --- item 5: nested warmup is linear in depth ------------------------------------------------


class CountingConstant(constant):
    calls = 0

    def _eval(self, t):
        CountingConstant.calls += 1
        return super()._eval(t)


def test_nested_warmup_evaluates_its_inner_schedule_once_per_level():
    s: Schedule = CountingConstant(1.0)
    for _ in range(16):
        s = warmup(s, 2)
    CountingConstant.calls = 0
    s.values(100)
    assert CountingConstant.calls == 1  # it was 2**16
    deep: Schedule = cosine(10)
    for _ in range(300):
        deep = warmup(deep, 1)
    start = time.perf_counter()
    values = deep.values(1000)
    assert deep(0) == pytest.approx(2.0**-300) and values[300] == 1.0
    assert time.perf_counter() - start < 5.0  # was never finishing


# --- item 9: values are range-checked before anything is written -----------------------------


def test_a_momentum_of_one_and_a_half_is_refused_at_attach_and_nothing_changes():
    opt = _sgd()
    before = [dict((k, v) for k, v in g.items() if k != "params") for g in opt.param_groups]
    with pytest.raises(ValueError, match=r"momentum.*1\.5.*t=0.*\[0.0, 1.0\]"):
        attach(opt, cosine(10), momentum=constant(1.5))
    assert [dict((k, v) for k, v in g.items() if k != "params")
            for g in opt.param_groups] == before
    assert not opt._optimizer_step_post_hooks
    attach(opt, cosine(10), momentum=constant(0.9))  # nothing was left attached


def test_a_beta1_reaching_one_later_is_refused_at_attach_naming_the_step():
    param = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([param], lr=0.01)
    with pytest.raises(ValueError, match=r"betas\[0\].*t=50"):
        attach(opt, cosine(100), momentum=linear(0.9, 1.1, 100))
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_an_endless_schedule_leaving_the_range_fails_at_that_step_writing_nothing():
    opt = _sgd()
    sched = attach(opt, constant(1.0), momentum=cyclic(0.5, 1.2, 10), count="calls")
    seen = []
    with pytest.raises(ValueError, match=r"momentum.*t=8"):
        for _ in range(20):
            sched.step()
            seen.append(opt.param_groups[0]["momentum"])
    assert max(seen) <= 1.0 and sched.last_epoch == 7
    assert opt.param_groups[0]["momentum"] == pytest.approx(cyclic(0.5, 1.2, 10)(7))


def test_an_overflowing_lr_schedule_never_writes_inf():
    opt = _sgd()
    sched = attach(opt, exponential(2.0), count="calls")
    with pytest.raises(ValueError, match=r"lr schedule at update t=1024.*exponential"):
        for _ in range(2000):
            sched.step()
    assert sched.last_epoch == 1023 and opt.param_groups[0]["lr"] == 0.1 * 2.0**1023


# --- item 11: one scheduler per optimizer; copies work ---------------------------------------


def test_a_second_attach_is_refused_unless_replace():
    opt = _sgd()
    first = attach(opt, cosine(10))
    with pytest.raises(ValueError, match="already driven.*replace=True"):
        attach(opt, constant(0.5))
    _step(opt, first)
    assert first.last_epoch == 1 and len(opt._optimizer_step_post_hooks) == 1
    lr_now = opt.param_groups[0]["lr"]  # 0.1 * cosine(10)(1): the new base
    second = attach(opt, constant(0.5), replace=True)
    assert second.base_lrs == [lr_now] and len(opt._optimizer_step_post_hooks) == 1
    with pytest.raises(RuntimeError, match="detached"):
        first.step()
    _step(opt, second)
    assert second.last_epoch == 1 and opt.param_groups[0]["lr"] == 0.5 * lr_now


def test_a_dropped_scheduler_frees_its_optimizer():
    opt = _sgd()
    attach(opt, cosine(10))
    gc.collect()
    assert not opt._optimizer_step_post_hooks  # its counter went with it
    sched = attach(opt, cosine(10))
    _step(opt, sched)
    assert sched.last_epoch == 1


def test_deepcopy_gives_an_independent_scheduler_on_the_copied_optimizer():
    opt = _sgd()
    sched = attach(opt, cosine(10))
    _step(opt, sched)
    twin = copy.deepcopy(sched)
    assert twin.optimizer is not opt and twin.last_epoch == 1
    for _ in range(3):
        _step(twin.optimizer, twin)
    assert twin.last_epoch == 4 and sched.last_epoch == 1
    assert twin.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * cosine(10)(4))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * cosine(10)(1))
    _step(opt, sched)
    assert sched.last_epoch == 2 and twin.last_epoch == 4
    # copied together, the pair shares the copied optimizer
    pair = copy.deepcopy({"opt": opt, "sched": sched})
    assert pair["sched"].optimizer is pair["opt"]
    _step(pair["opt"], pair["sched"])
    assert pair["sched"].last_epoch == 3 and sched.last_epoch == 2
    # a copy that would drive the same optimizer is refused
    with pytest.raises(ValueError, match="same optimizer"):
        copy.deepcopy(sched, {id(opt): opt})


# --- item 12: from_dict is not hijacked by a user's class ------------------------------------


def test_a_user_subclass_named_like_a_built_in_does_not_replace_it():
    class cosine(S.cosine):  # noqa: N801 - the point is the name
        def _eval(self, t):
            return np.zeros(t.shape)

    assert Schedule.from_dict(S.cosine(10).to_dict()) == S.cosine(10)
    assert type(Schedule.from_dict(S.cosine(10).to_dict())) is S.cosine
    mine = cosine(10)
    restored = Schedule.from_dict(mine.to_dict())
    assert type(restored) is cosine and restored(0) == 0.0


# --- issue 18: tensor lrs on a torch that aliases initial_lr ---------------------------------


def test_tensor_lrs_survive_a_torch_that_stores_the_lr_tensor_as_initial_lr(monkeypatch):
    original = LRScheduler.__init__

    def torch_2_3_init(self, optimizer, last_epoch=-1):
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])  # torch 2.3: the same tensor, no clone
        original(self, optimizer, last_epoch)

    monkeypatch.setattr(LRScheduler, "__init__", torch_2_3_init)
    # and torch 2.3's base_lrs were those same objects (later torch clones them here)
    monkeypatch.setattr(tls, "_param_groups_val_list",
                        lambda optimizer, key: [g[key] for g in optimizer.param_groups],
                        raising=False)
    param = torch.nn.Parameter(torch.ones(3))
    lr, beta1 = torch.tensor(0.01), torch.tensor(0.9)
    opt = torch.optim.Adam([param], lr=lr, betas=(beta1, torch.tensor(0.999)))
    schedule = warmup(cosine(20), 3)
    sched = attach(opt, schedule, momentum=linear(0.9, 0.8, 20))
    for t in range(1, 12):
        param.grad = torch.ones(3)
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] is lr
        assert lr.item() == pytest.approx(0.01 * schedule(t), rel=1e-6)
        assert beta1.item() == pytest.approx(linear(0.9, 0.8, 20)(t), rel=1e-6)
    assert sched.base_lrs == [pytest.approx(0.01)] and type(sched.base_lrs[0]) is float
    assert opt.param_groups[0]["initial_lr"] is not lr
    state = sched.state_dict()
    assert all(type(b) is float for b in state["base_lrs"])
    sched.load_state_dict(state)
    assert lr.item() == pytest.approx(0.01 * schedule(11), rel=1e-6)


def test_join_of_nothing_and_from_dict_without_args_name_the_argument():
    with pytest.raises(TypeError, match="parts"):
        join(None, [])
    with pytest.raises(ValueError, match="args"):
        Schedule.from_dict({"schedule": "cosine"})
    with pytest.raises(TypeError, match="three_phase"):
        one_cycle(100, three_phase="False")
