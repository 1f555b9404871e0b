"""Property tests (hypothesis) for lrnotes.schedules: any schedule, however nested."""

from __future__ import annotations

import pickle

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrnotes.schedules import (
    Schedule,
    attach,
    constant,
    cosine,
    cyclic,
    exponential,
    extended,
    inverse_sqrt,
    join,
    linear,
    multistep,
    one_cycle,
    per_epoch,
    plateau,
    polynomial,
    step,
    warm_restarts,
    warmup,
    wsd,
)

PROPS = settings(max_examples=60, deadline=None, database=None)

unit = st.floats(0.0, 1.0, allow_nan=False)
level = st.floats(0.0, 10.0, allow_nan=False)
length = st.integers(1, 200)
after = st.sampled_from(["hold", "cycle"])


@st.composite
def wsds(draw):
    total = draw(length)
    decay_steps = draw(st.integers(1, total))
    warmup_steps = draw(st.integers(0, total - decay_steps))
    decay = draw(st.sampled_from(["linear", "cosine", "1-sqrt"]))
    return wsd(total, warmup_steps, decay_steps, decay, draw(unit), draw(after))


leaves = st.one_of(
    st.builds(constant, level),
    st.builds(linear, level, level, length, after),
    st.builds(step, st.integers(1, 50), unit),
    st.builds(multistep, st.lists(st.integers(0, 300), unique=True, max_size=5).map(sorted), unit),
    st.builds(exponential, unit),
    st.builds(polynomial, length, st.floats(0.0, 4.0), unit, after),
    st.builds(cosine, length, unit, after),
    st.builds(warm_restarts, st.integers(1, 50), st.floats(1.0, 3.0), unit, unit),
    st.builds(cyclic, level, level, st.integers(1, 50),
              st.sampled_from(["triangular", "triangular2", "exp_range"]),
              st.floats(0.5, 1.0), st.none() | st.integers(1, 50)),
    st.builds(one_cycle, st.integers(10, 300), st.floats(0.15, 0.45), unit, unit,
              st.sampled_from(["cos", "linear"]), st.booleans(), after),
    st.builds(lambda s, high, low: s.momentum(high, low),
              st.builds(one_cycle, st.integers(10, 300), st.floats(0.15, 0.45)), unit, unit),
    wsds(),
    st.builds(inverse_sqrt, st.integers(1, 100)),
    st.builds(plateau, st.integers(0, 5), st.floats(0.0, 0.9), start=level),
)


@st.composite
def extensions(draw, children):
    """``extended(child, at, total_steps)`` where the child has an end to stretch."""
    child = draw(children)
    end = child._end()
    if end is None or end == 0:
        return child
    at = draw(st.integers(0, end - 1))
    return extended(child, at, draw(st.integers(at + 1, at + 400)))


@st.composite
def joins(draw, children):
    parts = draw(st.lists(children, min_size=1, max_size=4))
    boundaries = sorted(draw(st.lists(st.integers(1, 300), min_size=len(parts) - 1,
                                      max_size=len(parts) - 1, unique=True)))
    return join(parts, boundaries)


schedules = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(warmup, children, st.integers(1, 50), st.none() | unit),
        st.builds(per_epoch, children, st.integers(1, 10)),
        joins(children),
        extensions(children),
    ),
    max_leaves=6,
)


@PROPS
@given(schedules, st.integers(0, 10**9))
def test_values_are_finite_and_non_negative(schedule, far):
    values = schedule.values(700)
    assert values.dtype == np.float64 and values.shape == (700,)
    assert np.isfinite(values).all() and (values >= 0).all()
    assert np.isfinite(schedule(far)) and schedule(far) >= 0


@PROPS
@given(schedules, st.lists(st.integers(0, 699), min_size=1, max_size=10))
def test_values_agree_with_calls(schedule, times):
    values = schedule.values(700)
    for t in times:
        assert values[t] == schedule(t)


@PROPS
@given(schedules)
def test_pickle_and_plain_data_round_trip(schedule):
    for restored in (pickle.loads(pickle.dumps(schedule)), Schedule.from_dict(schedule.to_dict())):
        assert restored == schedule and repr(restored) == repr(schedule)
        np.testing.assert_array_equal(restored.values(300), schedule.values(300))


@PROPS
@given(schedules, st.integers(1, 300), level, length)
def test_join_is_continuous_where_its_parts_meet(left, boundary, end, steps):
    # the right part is built to start where the left part would be at the boundary
    right = linear(start=left(boundary), end=end, steps=steps)
    joined = join([left, right], [boundary])
    values = joined.values(boundary + steps + 5)
    assert values[boundary] == left(boundary)
    np.testing.assert_array_equal(values[:boundary], left.values(boundary))
    np.testing.assert_array_equal(values[boundary:], right.values(steps + 5))


@PROPS
@given(schedules, st.integers(1, 50))
def test_warmup_meets_its_schedule(schedule, steps):
    ramped = warmup(schedule, steps)
    values = ramped.values(steps + 1)
    assert values[steps] == schedule(0)
    # no zero-lr first update unless the peak is 0, or so small (subnormal: constant(5e-324))
    # that peak / (steps + 1) itself rounds to 0 in float64
    assert 0 < values[0] or schedule(0) / (steps + 1) == 0
    np.testing.assert_allclose(np.diff(values[: steps + 1]), schedule(0) / (steps + 1),
                               rtol=1e-9, atol=1e-12)


@settings(max_examples=20, deadline=None, database=None)
@given(schedules, st.floats(1e-4, 1.0))
def test_attached_lrs_are_the_schedule_times_base(schedule, base):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = attach(opt, schedule, count="calls")
    lrs = []
    for _ in range(600):  # crosses the scheduler's first block of precomputed values
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    np.testing.assert_array_equal(np.array(lrs), base * schedule.values(600))


@PROPS
@given(schedules)
def test_the_end_is_where_the_schedule_starts_to_hold(schedule):
    end = schedule._end()
    if end is not None and end < 5000 and "raise" not in repr(schedule):
        tail = schedule.values(end + 200)[end:]
        np.testing.assert_array_equal(tail, tail[0])


# --- bad input: any junk is a TypeError or ValueError naming the argument, never coerced ------

junk = st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.just("0.5"),
                 st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
                 st.lists(st.integers(-3, 3), max_size=3), st.just(lambda t: 1.0),
                 st.just(object()), st.just(np.bool_(True)))

VALID = {
    constant: dict(value=0.5),
    linear: dict(start=0.1, end=1.0, steps=10),
    step: dict(step_size=5, gamma=0.5),
    multistep: dict(milestones=[3, 8], gamma=0.5),
    exponential: dict(gamma=0.9),
    polynomial: dict(total_steps=20, power=2.0, final=0.1),
    cosine: dict(total_steps=20, final=0.1, after="hold"),
    warm_restarts: dict(period=5, period_mult=2.0, decay=0.9, final=0.0),
    cyclic: dict(low=0.1, high=1.0, half_cycle=4, mode="triangular", gamma=1.0,
                 half_cycle_down=3),
    one_cycle: dict(total_steps=100, peak_at=0.3, start=0.04, final=1e-4, anneal="cos",
                    three_phase=False, after="hold"),
    wsd: dict(total_steps=100, warmup_steps=10, decay_steps=20, decay="linear", final=0.0),
    inverse_sqrt: dict(warmup_steps=4),
    warmup: dict(schedule=cosine(10), steps=3, start=0.0),
    join: dict(parts=[cosine(10), constant(0.1)], boundaries=[10]),
    per_epoch: dict(schedule=cosine(10), steps_per_epoch=5),
    plateau: dict(patience=2, factor=0.5, threshold=1e-4, threshold_mode="rel", mode="min",
                  cooldown=1, final=0.0, eps=1e-8, start=1.0),
    extended: dict(schedule=cosine(10), at=5, total_steps=30),
}


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(sorted(VALID, key=lambda c: c.__name__)), st.data(), junk)
def test_junk_in_any_argument_is_refused_naming_it_or_is_a_valid_schedule(cls, data, value):
    name = data.draw(st.sampled_from(sorted(VALID[cls])))
    kwargs = {**VALID[cls], name: value}
    try:
        schedule = cls(**kwargs)
    except (TypeError, ValueError) as error:
        assert name in str(error), (name, value, error)
        return
    # accepted: then it is a real schedule of finite, non-negative numbers, never a coercion
    assert not isinstance(value, (bool, np.bool_, str)) or name in ("after", "mode", "anneal",
                                                                    "decay", "threshold_mode",
                                                                    "three_phase")
    try:
        values = schedule.values(50)
    except ValueError as error:  # e.g. gamma=1e6 overflows: said when evaluated, with the step
        assert f"{schedule!r} is inf at t=" in str(error)
        return
    assert np.isfinite(values).all() and (values >= 0).all()


def test_an_int_argument_past_int64_is_refused_naming_it():
    # update indices are int64: a larger count overflowed when evaluated (numpy 2) or made
    # object arrays that have no cos/sqrt (numpy 1.24); found by the test above on numpy 1.24
    for cls, kwargs in VALID.items():
        for name, value in kwargs.items():
            ints = value if isinstance(value, list) else [value]
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
                continue
            big = [2**64] if isinstance(value, list) else 2**64
            try:
                cls(**{**kwargs, name: big})
            except ValueError as error:
                assert name in str(error) and "<= 9223372036854775807" in str(error), error
            else:
                raise AssertionError(f"{cls.__name__}({name}=2**64) was accepted")
    s = cosine(total_steps=2**63 - 1)  # the largest is a schedule
    assert s.values(3).tolist() == [1.0, 1.0, 1.0]


def _drive_run(spec, n, metrics, stop=None):
    """(lr, weight_decay) of both groups per step; with ``stop``, save there and rebuild."""
    import io

    def build():
        params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(2)]
        opt = torch.optim.AdamW([{"params": [params[0]], "weight_decay": 0.1},
                                 {"params": [params[1]], "lr": 0.03, "weight_decay": 0.0}],
                                lr=0.2)
        return opt, attach(opt, spec, count="calls")

    opt, sched = build()
    seen = []
    for t in range(n):
        if t == stop:
            buffer = io.BytesIO()
            torch.save(sched.state_dict(), buffer)
            buffer.seek(0)
            opt, sched = build()
            sched.load_state_dict(torch.load(buffer, weights_only=True))
        seen.append([(g["lr"], g["weight_decay"], g["betas"]) for g in opt.param_groups])
        sched.step()
        if sched.reads_metric and t % 3 == 0:
            sched.report(metrics[t // 3])
    return seen


@settings(max_examples=25, deadline=None, database=None)
@given(schedules, schedules, st.integers(1, 59),
       st.lists(st.floats(0.0, 2.0), min_size=20, max_size=20))
def test_any_driven_keys_resume_exactly(lr, weight_decay, stop, metrics):
    spec = {"lr": lr, "weight_decay": weight_decay, "betas": (None, constant(0.99))}
    full = _drive_run(spec, 60, metrics)
    assert _drive_run(spec, 60, metrics, stop) == full
