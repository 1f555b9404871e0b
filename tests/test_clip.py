"""clip_gradients against torch's clip_grad_norm_ / clip_grad_value_, AGC against the
formula of Brock et al. 2021, and under a GradScaler against an unscaled run."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from lrnotes.clip import AGC_EPS, ClipResult, clip_gradients


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(12, 5), nn.ReLU(),
                         nn.Linear(5, 4))


def backward(model: nn.Module, scale: float = 1.0, seed: int = 1, scaler=None) -> None:
    torch.manual_seed(seed)
    loss = model(torch.randn(6, 2, 4, 4)).pow(2).sum() * 10
    (scaler.scale(loss) if scaler is not None else loss * scale).backward()


def grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def twin_with_grads():
    a = make_model()
    backward(a)
    b = copy.deepcopy(a)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        q.grad = p.grad.clone()
    return a, b


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_norm_clipping_equals_clip_grad_norm(norm_type, max_norm):
    ours, theirs = twin_with_grads()
    result = clip_gradients(ours.parameters(), max_norm=max_norm, norm_type=norm_type)
    total = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type=norm_type)
    assert all(torch.equal(a, b) for a, b in zip(grads(ours), grads(theirs), strict=True))
    assert torch.equal(result.norm_before, total)
    assert bool(result.clipped) == (max_norm < 1e6)
    assert bool(result.finite)
    after = torch.nn.utils.get_total_norm(grads(ours), norm_type)
    torch.testing.assert_close(result.norm_after, after, rtol=1e-5, atol=0)
    if max_norm < 1e6:
        torch.testing.assert_close(result.norm_after, torch.tensor(max_norm), rtol=1e-5, atol=0)


@pytest.mark.parametrize("max_value", [0.05, 1e6])
def test_value_clipping_equals_clip_grad_value(max_value):
    ours, theirs = twin_with_grads()
    before = torch.nn.utils.get_total_norm(grads(ours))
    result = clip_gradients(ours.parameters(), max_value=max_value)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), max_value)
    assert all(torch.equal(a, b) for a, b in zip(grads(ours), grads(theirs), strict=True))
    assert bool(result.clipped) == (max_value < 1e6)
    assert torch.equal(result.norm_before, before)
    torch.testing.assert_close(result.norm_after, torch.nn.utils.get_total_norm(grads(ours)))
    assert max(g.abs().max() for g in grads(ours)) <= max_value


def agc_reference(weight: torch.Tensor, grad: torch.Tensor, clip: float) -> torch.Tensor:
    """Brock et al. 2021, eq. 3, unit by unit: unit i is row/output channel i."""
    if weight.ndim <= 1:
        units = [(weight, grad)]
    else:
        units = [(weight[i], grad[i]) for i in range(weight.shape[0])]
    out = []
    for w_i, g_i in units:
        w_norm = max(math.sqrt(float((w_i.double() ** 2).sum())), 1e-3)
        g_norm = math.sqrt(float((g_i.double() ** 2).sum()))
        out.append(g_i * (clip * w_norm / g_norm) if g_norm / w_norm > clip else g_i)
    return out[0] if weight.ndim <= 1 else torch.stack(out)


def test_agc_matches_the_formula_and_excludes_the_head():
    model = make_model()
    with torch.no_grad():
        model[2].weight[1].zero_()  # a zero unit: clipped against eps, not frozen
    backward(model)
    expected = {name: agc_reference(p.detach(), p.grad, 10.0)
                for name, p in model.named_parameters()}
    before = {name: p.grad.clone() for name, p in model.named_parameters()}
    head = before["4.weight"]
    result = clip_gradients(model.named_parameters(), agc=10.0,
                            agc_exclude=lambda name, p: name.startswith("4."))
    assert bool(result.clipped)
    for name, p in model.named_parameters():
        if name.startswith("4."):
            continue
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-5, atol=1e-7)
    assert torch.equal(dict(model.named_parameters())["4.weight"].grad, head)
    # the zero unit's gradient norm is now clip * eps
    zero_unit = model[2].weight.grad[1]
    torch.testing.assert_close(zero_unit.norm(), torch.tensor(10.0 * AGC_EPS))
    # the factor was chosen so that some units are clipped and others are not:
    # unit 3 of the middle layer has ||G||/||W|| ~ 2, unit 0 ~ 18
    assert torch.equal(model[2].weight.grad[3], before["2.weight"][3])
    assert not torch.equal(model[2].weight.grad[0], before["2.weight"][0])


def test_agc_with_large_factor_changes_nothing():
    ours, theirs = twin_with_grads()
    result = clip_gradients(ours, agc=1e9)
    assert not bool(result.clipped)
    assert all(torch.equal(a, b) for a, b in zip(grads(ours), grads(theirs), strict=True))


def test_limits_compose_agc_then_value_then_norm():
    model, _ = twin_with_grads()
    result = clip_gradients(model, max_norm=0.1, max_value=0.5, agc=0.05)
    final = torch.nn.utils.get_total_norm(grads(model))
    assert final <= 0.1 * (1 + 1e-5)
    torch.testing.assert_close(result.norm_after, final, rtol=1e-5, atol=0)
    assert bool(result.clipped) and result.norm_before > result.norm_after


def test_measure_only_leaves_gradients_alone():
    ours, theirs = twin_with_grads()
    result = clip_gradients(ours)
    assert isinstance(result, ClipResult)
    assert all(t.ndim == 0 for t in result)
    assert torch.equal(result.norm_before, result.norm_after)
    assert not bool(result.clipped) and bool(result.finite)
    assert all(torch.equal(a, b) for a, b in zip(grads(ours), grads(theirs), strict=True))


def test_accepts_tensors_pairs_module_and_skips_missing_grads():
    model, _ = twin_with_grads()
    model[4].bias.grad = None
    expected = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()
                                              if p.grad is not None])
    for form in (model, model.parameters(), list(model.named_parameters()),
                 [p for p in model.parameters()]):
        assert torch.equal(clip_gradients(form).norm_before, expected)
    single = clip_gradients(model[0].weight)
    assert torch.equal(single.norm_before, model[0].weight.grad.norm())
    empty = clip_gradients([nn.Parameter(torch.ones(2))], max_norm=1.0)
    assert float(empty.norm_before) == 0.0 and not bool(empty.clipped)


def test_nonfinite_gradients_are_reported_and_can_raise():
    model, _ = twin_with_grads()
    model[0].bias.grad[0] = float("inf")
    assert not bool(clip_gradients(model).finite)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_gradients(model, max_norm=1.0, error_if_nonfinite=True)


def test_no_host_sync(monkeypatch):
    model, _ = twin_with_grads()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1.0)
    scaler.scale(torch.ones(()))

    def refuse(*args, **kwargs):
        raise AssertionError("host sync")

    for name in ("item", "__bool__", "__float__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    result = clip_gradients(model.named_parameters(), max_norm=0.1, max_value=0.5, agc=0.01,
                            scaler=scaler, optimizer=opt)
    monkeypatch.undo()
    assert bool(result.clipped)


def train_step(model, opt, scaler=None, max_norm=0.3, calls=1):
    opt.zero_grad()
    if scaler is None:
        backward(model)
        results = [clip_gradients(model, max_norm=max_norm) for _ in range(calls)]
        opt.step()
    else:
        backward(model, scaler=scaler)
        results = [clip_gradients(model, max_norm=max_norm, scaler=scaler, optimizer=opt)
                   for _ in range(calls)]
        scaler.step(opt)
        scaler.update()
    return results


def test_grad_scaler_clips_the_true_gradients_and_unscales_once():
    plain = make_model()
    amp = copy.deepcopy(plain)
    opt_plain = torch.optim.SGD(plain.parameters(), lr=0.1)
    opt_amp = torch.optim.SGD(amp.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=1)
    for _ in range(3):  # update() resets the stage, so every step unscales again
        (expected,) = train_step(plain, opt_plain)
        first, second = train_step(amp, opt_amp, scaler, calls=2)
        torch.testing.assert_close(first.norm_before, expected.norm_before, rtol=1e-6, atol=0)
        torch.testing.assert_close(first.norm_after, expected.norm_after, rtol=1e-6, atol=0)
        # the second call sees the already clipped, unscaled gradients (not x1/scale again)
        torch.testing.assert_close(second.norm_before, first.norm_after, rtol=1e-5, atol=0)
        for a, b in zip(plain.parameters(), amp.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert scaler.get_scale() > 2.0**12  # the scale grew: the steps were not skipped


def test_scaled_gradients_without_scaler_would_be_clipped_wrongly():
    """The control for the test above: clipping scaled gradients gives another norm."""
    model = make_model()
    backward(model, scale=2.0**12)
    scaled = clip_gradients(model, max_norm=0.3)
    plain = make_model()
    backward(plain)
    assert not torch.allclose(scaled.norm_before, clip_gradients(plain).norm_before)


@pytest.mark.parametrize("argument", ["max_norm", "max_value", "agc"])
def test_negative_limits_are_rejected(argument):
    model, _ = twin_with_grads()
    with pytest.raises(ValueError, match=argument):
        clip_gradients(model, **{argument: -1.0})
    with pytest.raises(ValueError, match=argument):
        clip_gradients(model, **{argument: float("nan")})


def test_scaler_needs_optimizer_and_norm_type_positive():
    model, _ = twin_with_grads()
    with pytest.raises(ValueError, match="optimizer"):
        clip_gradients(model, max_norm=1.0, scaler=torch.amp.GradScaler("cpu"))
    with pytest.raises(ValueError, match="norm_type"):
        clip_gradients(model, max_norm=1.0, norm_type=0.0)
    with pytest.raises(TypeError, match="parameters"):
        clip_gradients([1.0, 2.0])


# --- issue 15 (13, 14) and issue 18: edge cases and older torch ------------------------------


def test_zero_size_gradient_is_clipped_like_torch():
    empty = nn.Parameter(torch.zeros(0))
    full = nn.Parameter(torch.arange(6.0) - 2.5)
    empty.grad, full.grad = torch.zeros(0), (torch.arange(6.0) - 2.5) * 2
    expected = full.grad.clone()
    torch.nn.utils.clip_grad_value_([full], 1.5)
    expected, full.grad = full.grad, expected
    stats = clip_gradients([empty, full], max_value=1.5)
    assert torch.equal(full.grad, expected) and empty.grad.numel() == 0
    assert bool(stats.clipped) and stats.norm_after.item() == pytest.approx(
        torch.linalg.vector_norm(expected).item())
    only_empty = clip_gradients([empty], max_norm=1.0, norm_type=math.inf)
    assert only_empty.norm_before.item() == 0.0 and not bool(only_empty.clipped)


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    ({"parameters": None}, TypeError, "parameters"),
    ({"parameters": "weights"}, TypeError, "parameters"),
    ({"max_norm": "1"}, TypeError, "max_norm"),
    ({"max_value": True}, TypeError, "max_value"),
    ({"agc": [0.1]}, TypeError, "agc"),
    ({"norm_type": "2"}, TypeError, "norm_type"),
    ({"agc_exclude": "fc"}, TypeError, "agc_exclude"),
    ({"scaler": object(), "optimizer": None}, TypeError, "scaler"),
])
def test_bad_arguments_name_themselves_and_change_nothing(kwargs, error, name):
    model, _ = twin_with_grads()
    before = grads(model)
    call = {"parameters": model, **kwargs}
    with pytest.raises(error, match=name):
        clip_gradients(**call)
    assert all(torch.equal(a, b) for a, b in zip(before, grads(model), strict=True))


def test_bad_parameters_leave_a_scaler_unscaled():
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    backward(model, scaler=scaler)
    before = grads(model)
    with pytest.raises(TypeError, match="parameters"):
        clip_gradients([*model.parameters(), 3.0], max_norm=1.0, scaler=scaler,
                       optimizer=optimizer)
    assert all(torch.equal(a, b) for a, b in zip(before, grads(model), strict=True))


# --- issue 19: on CUDA, under a real GradScaler that skips steps ------------------------------

CUDA = pytest.mark.skipif(not torch.cuda.is_available(),
                          reason="needs a CUDA device: torch.cuda.is_available() is False "
                          "(on a GPU: pytest tests/test_optim.py tests/test_clip.py "
                          "tests/test_finder.py -k cuda)")


def cuda_step(model, opt, scaler=None, max_norm=0.3, seed=1, autocast=False):
    g = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(6, 2, 4, 4, device="cuda", generator=g)
    opt.zero_grad()
    with torch.autocast("cuda", dtype=torch.float16, enabled=autocast):
        loss = model(x).float().pow(2).sum() * 10
    (scaler.scale(loss) if scaler is not None else loss).backward()
    result = clip_gradients(model, max_norm=max_norm, scaler=scaler, optimizer=opt)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()
    return result


@CUDA
def test_cuda_grad_scaler_skipped_steps_leave_the_model_and_clipping_sees_true_gradients():
    """The CPU test's assertions on CUDA, and an initial scale so large that the first steps
    overflow: those report finite=False and the scaler skips them (the model does not move,
    the scale halves); every step it takes matches an unscaled run."""
    plain = make_model().cuda()
    amp = copy.deepcopy(plain)
    opt_plain = torch.optim.SGD(plain.parameters(), lr=0.1)
    opt_amp = torch.optim.SGD(amp.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**127, growth_interval=1000)
    skipped = taken = 0
    for step in range(40):
        before = [p.detach().clone() for p in amp.parameters()]
        scale = scaler.get_scale()
        result = cuda_step(amp, opt_amp, scaler, seed=step)
        if not bool(result.finite):
            skipped += 1
            assert taken == 0, "once the scale fits, it does not overflow again here"
            assert all(torch.equal(a, b) for a, b in zip(before, amp.parameters(), strict=True))
            assert scaler.get_scale() == scale / 2
            continue
        taken += 1
        expected = cuda_step(plain, opt_plain, seed=step)
        torch.testing.assert_close(result.norm_before, expected.norm_before, rtol=1e-6, atol=0)
        torch.testing.assert_close(result.norm_after, expected.norm_after, rtol=1e-6, atol=0)
        assert bool(result.clipped) == bool(expected.clipped)
        for a, b in zip(plain.parameters(), amp.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert skipped >= 1 and taken >= 10
    assert result.norm_before.is_cuda and result.finite.is_cuda


@CUDA
def test_cuda_fp16_autocast_with_a_real_scaler_clips_the_unscaled_norm():
    plain = make_model().cuda()
    amp = copy.deepcopy(plain)
    opt_plain = torch.optim.SGD(plain.parameters(), lr=0.01)
    opt_amp = torch.optim.SGD(amp.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**24, growth_interval=1000)
    finite = []
    for step in range(40):
        before = [p.detach().clone() for p in amp.parameters()]
        result = cuda_step(amp, opt_amp, scaler, seed=step, autocast=True)
        finite.append(bool(result.finite))
        if not finite[-1]:
            assert all(torch.equal(a, b) for a, b in zip(before, amp.parameters(), strict=True))
            continue
        expected = cuda_step(plain, opt_plain, seed=step)
        # fp16 forward vs fp32: the true (unscaled) norm to fp16 accuracy, not x scale
        torch.testing.assert_close(result.norm_before, expected.norm_before, rtol=2e-2, atol=0)
        assert float(result.norm_after) <= 0.3 * (1 + 1e-5)
    # gradients up to ~40 times 2**24 overflow fp16; the scaler backs off to a scale that fits
    assert not finite[0] and finite[-1]
