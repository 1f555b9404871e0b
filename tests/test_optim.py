"""LARS against a transcription of Algorithm 1 of You, Gitman & Ginsburg (2017), against
torch.optim.SGD where they coincide, foreach against per-tensor; param_groups and
layerwise_lrs."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from lrnotes.optim import LARS, layerwise_lrs, param_groups

# --- LARS against the paper ---------------------------------------------------------


def initial_weights() -> list[torch.Tensor]:
    """Two matrices, a bias (zero-initialised), a zero matrix, and a matrix whose
    gradient is always zero: the last three exercise the zero-norm guard."""
    g = torch.Generator().manual_seed(0)
    return [torch.randn(3, 4, generator=g, dtype=torch.float64),
            torch.randn(2, 3, generator=g, dtype=torch.float64),
            torch.zeros(3, dtype=torch.float64),
            torch.zeros(2, 2, dtype=torch.float64),
            torch.randn(2, 2, generator=g, dtype=torch.float64)]


def gradient(index: int, w: torch.Tensor, t: int) -> torch.Tensor:
    """A deterministic, nonlinear gradient field (zero for the last weight)."""
    if index == 4:
        return torch.zeros_like(w)
    return torch.sin(w + 0.3 * t + index) + 0.3


def lr_at(t: int, lr: float, steps: int) -> float:
    """The paper's polynomial decay, gamma_t = gamma_0 (1 - t/T)^2, so lr changes."""
    return lr * (1 - t / steps) ** 2


def norm(x: torch.Tensor) -> float:
    return math.sqrt(float((x * x).sum()))


def algorithm_1(weights, steps, lr, momentum, weight_decay, eta, eps, nesterov, mode,
                excluded):
    """Algorithm 1 of arXiv:1708.03888, one layer at a time, in plain Python floats:
    lambda = eta ||w|| / (||g|| + beta ||w|| + eps);  v = m v + gamma lambda (g + beta w);
    w = w - v.  Zero norms give lambda = 1; excluded layers: v = m v + gamma g.
    LARC: the step size is min(gamma, lambda) instead of gamma * lambda."""
    weights = [w.clone() for w in weights]
    velocity = [torch.zeros_like(w) for w in weights]
    clipped = []
    for t in range(steps):
        gamma = lr_at(t, lr, steps)
        for l, w in enumerate(weights):
            g = gradient(l, w, t)
            if excluded[l]:
                step_size, direction = gamma, g
            else:
                w_norm, g_norm = norm(w), norm(g)
                local = eta * w_norm / (g_norm + weight_decay * w_norm + eps)
                if w_norm == 0 or g_norm == 0:
                    local = 1.0
                if mode == "larc":
                    clipped.append(local < gamma)
                    step_size = min(gamma, local)
                else:
                    step_size = gamma * local
                direction = g + weight_decay * w
            velocity[l] = momentum * velocity[l] + step_size * direction
            if nesterov:
                weights[l] = w - (momentum * velocity[l] + step_size * direction)
            else:
                weights[l] = w - velocity[l]
    return weights, clipped


def run_lars(weights, steps, lr, foreach, **kwargs):
    params = [nn.Parameter(w.clone()) for w in weights]
    opt = LARS(params, lr=lr, foreach=foreach, **kwargs)
    for t in range(steps):
        opt.param_groups[0]["lr"] = lr_at(t, lr, steps)
        for l, p in enumerate(params):
            p.grad = gradient(l, p.detach(), t)
        opt.step()
    return params, opt


CASES = {
    "plain": dict(momentum=0.0),
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.9, nesterov=True),
    "weight_decay": dict(momentum=0.9, weight_decay=0.05),
    "nesterov_decay": dict(momentum=0.5, nesterov=True, weight_decay=0.05),
    "adapt_all": dict(momentum=0.9, weight_decay=0.05, exclude=lambda p: False),
    "larc": dict(momentum=0.9, weight_decay=0.05, mode="larc"),
    "larc_nesterov_all": dict(momentum=0.9, nesterov=True, mode="larc",
                              exclude=lambda p: False),
}


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_lars_equals_algorithm_1(case, foreach):
    kwargs = dict(CASES[case])
    weights, steps, lr = initial_weights(), 40, 0.5
    exclude = kwargs.get("exclude", lambda p: p.ndim <= 1)
    reference, clipped = algorithm_1(
        weights, steps, lr, kwargs.get("momentum", 0.9), kwargs.get("weight_decay", 0.0),
        eta=0.2, eps=1e-8, nesterov=kwargs.get("nesterov", False),
        mode=kwargs.get("mode", "lars"), excluded=[exclude(w) for w in weights])
    params, opt = run_lars(weights, steps, lr, foreach, trust_coefficient=0.2, **kwargs)
    for ours, theirs in zip(params, reference, strict=True):
        assert (ours.detach() - theirs).abs().max() <= 1e-12
    if kwargs.get("mode") == "larc":  # both branches of min(lr, local lr) were taken
        assert any(clipped) and not all(clipped)
    for w in params:  # the zero-initialised ones moved
        assert w.detach().abs().sum() > 0


def test_zero_norm_gives_trust_ratio_one_and_ratios_are_kept_for_plots():
    params, opt = run_lars(initial_weights(), 1, 0.5, False, trust_coefficient=0.2)
    matrix, _, bias, zero, no_grad = params
    assert float(opt.state[zero]["trust_ratio"]) == 1.0
    assert float(opt.state[no_grad]["trust_ratio"]) == 1.0
    assert opt.state[matrix]["trust_ratio"].ndim == 0
    assert 0 < float(opt.state[matrix]["trust_ratio"]) < 1
    assert "trust_ratio" not in opt.state[bias]


def state_equal(a: LARS, b: LARS) -> bool:
    for group_a, group_b in zip(a.param_groups, b.param_groups, strict=True):
        for p, q in zip(group_a["params"], group_b["params"], strict=True):
            sa, sb = a.state[p], b.state[q]
            if sa.keys() != sb.keys() or not all(torch.equal(sa[k], sb[k]) for k in sa):
                return False
    return True


CUDA = pytest.mark.skipif(not torch.cuda.is_available(),
                          reason="needs a CUDA device: torch.cuda.is_available() is False "
                          "(on a GPU: pytest tests/test_optim.py tests/test_clip.py "
                          "tests/test_finder.py -k cuda)")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", CASES)
def test_foreach_and_per_tensor_paths_agree_exactly(case, dtype, device):
    """Exact in every dtype, on the CPU and on CUDA (where foreach is the default path):
    torch's in-place CPU foreach kernels round a Python scalar (the momentum) to
    float16/bfloat16 first, so LARS passes them a float32 0-d tensor there, and both paths
    take the norms from torch._foreach_norm."""
    weights = [w.to(device, dtype) for w in initial_weights()]
    other = torch.float64 if dtype == torch.float32 else torch.float32  # a second bucket
    weights.append(torch.randn(4, 2, generator=torch.Generator().manual_seed(1),
                               dtype=other).to(device))
    runs = [run_lars(weights, 25, 0.5, foreach, trust_coefficient=0.2, **CASES[case])
            for foreach in (False, True)]
    (slow, slow_opt), (fast, fast_opt) = runs
    assert all(torch.equal(a, b) for a, b in zip(slow, fast, strict=True))
    assert state_equal(slow_opt, fast_opt)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_lars_with_trust_ratio_one_equals_sgd(weight_decay, nesterov):
    """One group per parameter; before each step its trust coefficient is set to
    (||g|| + beta ||w|| + eps) / ||w||, so lambda == 1 and LARS is SGD (constant lr)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    twin = copy.deepcopy(model)
    lars = LARS([{"params": [p]} for p in model.parameters()], lr=0.1, momentum=0.9,
                weight_decay=weight_decay, nesterov=nesterov, exclude=lambda p: False)
    sgd = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9, weight_decay=weight_decay,
                          nesterov=nesterov)
    for _ in range(30):
        x = torch.randn(16, 4, dtype=torch.float64)
        for net, opt in ((model, lars), (twin, sgd)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
        for group in lars.param_groups:
            (p,) = group["params"]
            w, g = p.detach().norm(), p.grad.norm()
            group["trust_coefficient"] = float((g + weight_decay * w + 1e-8) / w)
        lars.step()
        sgd.step()
        for group in lars.param_groups:
            assert abs(float(lars.state[group["params"][0]]["trust_ratio"]) - 1) < 1e-14
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert (a - b).abs().max() <= 1e-12


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_excluded_parameters_follow_sgd_without_weight_decay(weight_decay):
    """Exclusion does not depend on weight decay: an excluded group is SGD without decay."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2).double()
    twin = copy.deepcopy(model)
    lars = LARS([{"params": model.parameters(), "lars_exclude": True}], lr=0.2,
                weight_decay=weight_decay)
    sgd = torch.optim.SGD(twin.parameters(), lr=0.2, momentum=0.9)
    for _ in range(10):
        x = torch.randn(5, 3, dtype=torch.float64)
        for net, opt in ((model, lars), (twin, sgd)):
            opt.zero_grad()
            net(x).pow(2).sum().backward()
            opt.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert (a - b).abs().max() <= 1e-12
    assert all("trust_ratio" not in lars.state[p] for p in model.parameters())


def test_group_override_adapts_biases():
    model = nn.Linear(3, 2)
    opt = LARS([{"params": [model.weight]}, {"params": [model.bias], "lars_exclude": False}],
               lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    assert "trust_ratio" in opt.state[model.bias]
    assert "trust_ratio" in opt.state[model.weight]


def test_state_dict_resume_is_exact_and_closure_is_supported():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    data = [torch.randn(8, 4) for _ in range(6)]

    def train(net, opt, batches):
        for x in batches:
            def closure(x=x):
                opt.zero_grad()
                loss = net(x).pow(2).mean()
                loss.backward()
                return loss
            loss = opt.step(closure)
            assert loss.requires_grad  # the closure ran with grad enabled
        return net

    straight = copy.deepcopy(model)
    train(straight, LARS(straight.parameters(), lr=0.3, weight_decay=1e-3, nesterov=True),
          data)
    first = copy.deepcopy(model)
    opt = LARS(first.parameters(), lr=0.3, weight_decay=1e-3, nesterov=True)
    train(first, opt, data[:3])
    saved = copy.deepcopy(opt.state_dict())
    resumed = copy.deepcopy(first)
    opt2 = LARS(resumed.parameters(), lr=0.3, weight_decay=1e-3, nesterov=True)
    opt2.load_state_dict(saved)
    train(resumed, opt2, data[3:])
    assert all(torch.equal(a, b) for a, b in zip(straight.parameters(), resumed.parameters(),
                                                 strict=True))


@pytest.mark.parametrize("foreach", [False, True])
def test_step_does_not_sync_with_the_host(monkeypatch, foreach):
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    opt = LARS(model.parameters(), lr=0.1, weight_decay=1e-4, mode="larc", foreach=foreach)
    model(torch.randn(8, 4)).sum().backward()

    def refuse(*args, **kwargs):
        raise AssertionError("host sync in step()")

    for name in ("item", "__bool__", "__float__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    opt.step()
    opt.step()


def test_lars_reads_the_scheduled_lr():
    model = nn.Linear(3, 2, bias=False)
    opt = LARS(model.parameters(), lr=1.0, momentum=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.0 if t >= 1 else 1.0)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    before = model.weight.detach().clone()
    opt.step()  # lr is now 0: no move
    assert torch.equal(model.weight, before)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(lr=-0.1), "lr"),
    (dict(lr=0.1, momentum=1.0), "momentum"),
    (dict(lr=0.1, momentum=-0.1), "momentum"),
    (dict(lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (dict(lr=0.1, trust_coefficient=-1e-3), "trust_coefficient"),
    (dict(lr=0.1, eps=-1.0), "eps"),
    (dict(lr=0.1, momentum=0.0, nesterov=True), "nesterov"),
    (dict(lr=0.1, mode="lamb"), "mode"),
])
def test_lars_bad_input(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        LARS(nn.Linear(2, 2).parameters(), **kwargs)


def test_lars_bad_group_override():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="param group 1: lr"):
        LARS([{"params": [model.weight]}, {"params": [model.bias], "lr": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="lars_exclude"):
        LARS([{"params": [model.weight], "lars_exclude": "yes"}], lr=0.1)


# --- param groups -----------------------------------------------------------------------


def make_net() -> nn.Module:
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 8)),
        head=nn.Linear(8, 3)))


def ids(params) -> set[int]:
    return {id(p) for p in params}


def test_groups_by_prefix_and_pattern_cover_every_parameter_once():
    model = make_net()
    groups = param_groups(model, {"features.0": 1e-4, r"re:^head\.": 1e-2}, base_lr=1e-3)
    assert [(g["name"], g["lr"]) for g in groups] == [
        ("features.0", 1e-4), (r"re:^head\.", 1e-2), ("default", 1e-3)]
    named = dict(model.named_parameters())
    assert ids(groups[0]["params"]) == ids([named["features.0.weight"],
                                            named["features.0.bias"]])
    assert ids(groups[1]["params"]) == ids([named["head.weight"], named["head.bias"]])
    every = [id(p) for g in groups for p in g["params"]]
    assert sorted(every) == sorted(ids(model.parameters()))
    assert all("weight_decay" not in g for g in groups)


def test_prefix_stops_at_a_module_boundary():
    model = nn.ModuleDict({"a": nn.Linear(2, 2), "ab": nn.Linear(2, 2)})
    groups = param_groups(model, {"a": 0.1})
    assert ids(groups[0]["params"]) == ids(model["a"].parameters())
    assert "lr" not in groups[1]  # no base_lr: the optimizer's default applies


def test_no_decay_splits_biases_and_norm_weights():
    model = make_net()
    groups = param_groups(model, {"head": 1e-2}, weight_decay=5e-4, no_decay=True)
    by_name = {g["name"]: g for g in groups}
    assert list(by_name) == ["head", "head (no decay)", "default", "default (no decay)"]
    assert by_name["head"]["weight_decay"] == 5e-4
    assert by_name["head (no decay)"]["weight_decay"] == 0.0
    assert by_name["head (no decay)"]["lr"] == 1e-2
    assert all(p.ndim <= 1 for p in by_name["default (no decay)"]["params"])
    assert all(p.ndim == 2 for p in by_name["default"]["params"])
    assert len(by_name["default (no decay)"]["params"]) == 4  # 2 biases, bn weight and bias
    custom = param_groups(model, no_decay=lambda name, p: name.endswith("bias"))
    assert ids(custom[1]["params"]) == ids(p for n, p in model.named_parameters()
                                           if n.endswith("bias"))


def test_frozen_parameters_are_skipped():
    model = make_net()
    for p in model.features.parameters():
        p.requires_grad_(False)
    groups = param_groups(model, {"features.0": 1e-4}, base_lr=1e-3)
    assert [g["name"] for g in groups] == ["default"]
    assert ids(groups[0]["params"]) == ids(model.head.parameters())
    with pytest.raises(ValueError, match="model"):
        param_groups(nn.Linear(2, 2).requires_grad_(False))


@pytest.mark.parametrize("kwargs, message", [
    (dict(lrs={"backbone": 1e-3}), "match no parameter"),
    (dict(lrs={"features": 1e-3, "features.0": 1e-4}), "matched by"),
    (dict(lrs={"re:^head": 1e-3, "head": 1e-2}), "matched by"),
    (dict(lrs={"re:(": 1e-3}), "regular expression"),
    (dict(lrs={"": 1e-3}), "empty selector"),
    (dict(lrs={"head": -1e-3}), "lrs"),
    (dict(base_lr=-1.0), "base_lr"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(no_decay="bias"), "no_decay"),
])
def test_param_groups_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        param_groups(make_net(), **kwargs)


def test_layerwise_lrs_multipliers_decay_from_the_top():
    model = make_net()
    lrs = layerwise_lrs(model, base_lr=1.0, decay=0.5,
                        layers=["features.0", ("features.1", "features.2"), "head"])
    assert lrs == {"features.0": 0.25, "features.1": 0.5, "features.2": 0.5, "head": 1.0}
    assert layerwise_lrs(model, 1e-2, 0.1) == {"features": 1e-2 * 0.1, "head": 1e-2}
    groups = param_groups(model, lrs)
    assert [g["lr"] for g in groups] == [0.25, 0.5, 0.5, 1.0]


@pytest.mark.parametrize("kwargs, argument", [
    (dict(base_lr=-1.0, decay=0.5), "base_lr"),
    (dict(base_lr=1.0, decay=0.0), "decay"),
    (dict(base_lr=1.0, decay=0.5, layers=[]), "layers"),
    (dict(base_lr=1.0, decay=0.5, layers=["head", ("head",)]), "layers"),
])
def test_layerwise_lrs_bad_input(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        layerwise_lrs(make_net(), **kwargs)


def assert_ratios_survive(opt, steps):
    initial = [g["lr"] for g in opt.param_groups]
    for _ in range(steps):
        opt.step()
        yield
        lrs = [g["lr"] for g in opt.param_groups]
        for lr, first in zip(lrs, initial, strict=True):
            assert lr / lrs[-1] == pytest.approx(first / initial[-1], rel=1e-12)
    assert lrs != initial  # the schedule did change the rates


@pytest.mark.parametrize("optimizer", ["sgd", "lars"])
def test_layerwise_ratios_survive_lambda_lr(optimizer):
    model = make_net()
    groups = param_groups(model, layerwise_lrs(model, 0.1, 0.5), no_decay=True)
    if optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    else:
        opt = LARS(groups, lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.9**t)
    model(torch.randn(4, 4)).sum().backward()
    for _ in assert_ratios_survive(opt, 5):
        sched.step()


def test_layerwise_ratios_survive_an_attached_schedule():
    schedules = pytest.importorskip("lrnotes.schedules")
    if not hasattr(schedules, "attach"):
        pytest.skip("lrnotes.schedules.attach is not written yet")
    model = make_net()
    opt = LARS(param_groups(model, layerwise_lrs(model, 0.1, 0.5)), lr=0.1)
    sched = schedules.attach(opt, schedules.cosine(total_steps=10))
    model(torch.randn(4, 4)).sum().backward()
    for _ in assert_ratios_survive(opt, 5):
        sched.step()


# --- issue 15: bad groups, non-finite gradients, coercions ---------------------------------


def test_a_bad_added_group_is_not_added():
    model = nn.Linear(2, 2)
    opt = LARS([model.weight], lr=0.1, momentum=0.0)
    with pytest.raises(ValueError, match="param group 1: lr"):
        opt.add_param_group({"params": [model.bias], "lr": -1.0})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": [model.bias], "lr": 0.5})  # a retry works
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    model.bias.grad = torch.ones(2)
    before = model.bias.detach().clone()
    opt.step()
    assert torch.equal(model.bias.detach(), before - 0.5)  # descent, at the retried lr
    with pytest.raises(TypeError, match="param_group"):
        opt.add_param_group([model.bias])


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_gradient_records_a_nan_trust_ratio(foreach, bad):
    torch.manual_seed(0)
    good, broken = nn.Parameter(torch.randn(3, 4)), nn.Parameter(torch.randn(3, 4))
    opt = LARS([good, broken], lr=0.1, foreach=foreach)
    good.grad = torch.randn(3, 4)
    broken.grad = torch.randn(3, 4)
    broken.grad[1, 2] = bad
    opt.step()
    assert math.isfinite(float(opt.state[good]["trust_ratio"]))
    assert math.isnan(float(opt.state[broken]["trust_ratio"]))
    assert not torch.isfinite(broken.detach()).any()  # the whole step is not finite
    assert torch.isfinite(good.detach()).all()


@pytest.mark.parametrize("kwargs, error, argument", [
    (dict(lr=True), TypeError, "lr"),
    (dict(lr="0.1"), TypeError, "lr"),
    (dict(lr=0.1, momentum=None), TypeError, "momentum"),
    (dict(lr=0.1, weight_decay=False), TypeError, "weight_decay"),
    (dict(lr=0.1, nesterov="yes"), TypeError, "nesterov"),
    (dict(lr=0.1, foreach="no"), TypeError, "foreach"),
    (dict(lr=0.1, exclude="bias"), TypeError, "exclude"),
])
def test_lars_wrong_types_are_type_errors(kwargs, error, argument):
    with pytest.raises(error, match=argument):
        LARS(nn.Linear(2, 2).parameters(), **kwargs)


@pytest.mark.parametrize("scalar", [np.float32, np.float64, np.float16])
def test_numpy_hyperparameters_are_accepted_as_floats(scalar):
    model = nn.Linear(2, 2)
    opt = LARS(model.parameters(), lr=scalar(0.1), momentum=scalar(0.9),
               weight_decay=scalar(0.0))
    group = opt.param_groups[0]
    assert type(group["lr"]) is float and type(group["momentum"]) is float
    assert group["momentum"] == float(scalar(0.9))
    opt.add_param_group({"params": [nn.Parameter(torch.ones(2, 2))], "lr": scalar(0.5)})
    assert type(opt.param_groups[1]["lr"]) is float


def test_param_groups_and_layerwise_lrs_wrong_types():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    with pytest.raises(TypeError, match="selectors must be strings"):
        param_groups(model, {1: 0.1})
    with pytest.raises(TypeError, match="lrs"):
        param_groups(model, [("0", 0.1)])
    with pytest.raises(TypeError, match="lrs"):
        param_groups(model, {"0": "0.1"})
    with pytest.raises(TypeError, match="model"):
        param_groups(None, {"0": 0.1})
    with pytest.raises(TypeError, match="decay"):
        layerwise_lrs(model, 0.1, decay=True)
    with pytest.raises(TypeError, match="base_lr"):
        layerwise_lrs(model, "0.1", decay=0.5)
    with pytest.raises(TypeError, match="layers"):
        layerwise_lrs(model, 0.1, decay=0.5, layers="0")
    with pytest.raises(TypeError, match="layers"):
        layerwise_lrs(model, 0.1, decay=0.5, layers=[0, 1])


@CUDA
def test_on_cuda_foreach_is_the_default_and_step_never_syncs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.BatchNorm1d(256), nn.Linear(256, 10)).cuda()
    default = LARS(model.parameters(), lr=0.1, weight_decay=1e-4, momentum=0.9)
    twin = copy.deepcopy(model)
    explicit = LARS(twin.parameters(), lr=0.1, weight_decay=1e-4, momentum=0.9, foreach=True)
    for _ in range(3):
        x = torch.randn(32, 64, device="cuda")
        for net, opt in ((model, default), (twin, explicit)):
            opt.zero_grad()
            net(x).square().mean().backward()
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")  # any host sync in step() raises
            try:
                opt.step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(),
                                                 strict=True))
    assert all(opt_state["trust_ratio"].is_cuda for opt_state in default.state.values()
               if "trust_ratio" in opt_state)
