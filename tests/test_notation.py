"""book/notation.md states torch's momentum update and its effective step; check both against
torch.optim.SGD, and that the chapters that rely on them link the page."""

import nbformat
import pytest
import torch
from notebooks import BOOK


def test_sgd_momentum_is_buffer_plus_gradient_then_lr_times_buffer():
    mu, lrs = 0.9, [0.1, 0.05, 0.2, 0.01]  # a changing rate: the form matters only then
    torch.manual_seed(0)
    grads = [torch.randn(5, dtype=torch.float64) for _ in lrs]
    p = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lrs[0], momentum=mu)
    theta, v = torch.zeros(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    for lr, g in zip(lrs, grads, strict=True):
        opt.param_groups[0]["lr"] = lr
        p.grad = g.clone()
        opt.step()
        v = mu * v + g  # notation.md: v_t = mu v_{t-1} + g_t
        theta = theta - lr * v  # theta_{t+1} = theta_t - eta_t v_t
        torch.testing.assert_close(p.detach(), theta, rtol=0, atol=1e-15)
        torch.testing.assert_close(opt.state[p]["momentum_buffer"], v, rtol=0, atol=1e-15)


def test_the_effective_step_under_a_constant_gradient_tends_to_one_over_one_minus_mu():
    mu, lr, updates = 0.9, 0.01, 200
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=mu)
    for t in range(updates):
        before = p.detach().clone()
        p.grad = torch.ones(1, dtype=torch.float64)
        opt.step()
        step = (before - p.detach()).item()
        assert step == pytest.approx(lr * (1 - mu ** (t + 1)) / (1 - mu), rel=1e-12)
    assert step == pytest.approx(lr / (1 - mu), rel=1e-8)


@pytest.mark.parametrize("chapter", ["04_adam", "06_gradient_clipping", "08_lr_finder",
                                     "09_cyclical_rates"])
def test_chapters_that_rely_on_momentum_link_the_notation(chapter):
    nb = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)
    assert any("(notation.md)" in c.source for c in nb.cells if c.cell_type == "markdown")


def test_notation_writes_the_update_the_first_test_checks():
    text = (BOOK / "notation.md").read_text()
    assert r"v_t = \mu\, v_{t-1} + g_t" in text and r"\theta_t - \eta_t\, v_t" in text
    assert r"\eta/(1-\mu)" in text
