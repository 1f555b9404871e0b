"""Chapter 15's claims, read from the executed chapter."""

import numpy as np
import pytest

CH = "15_combining"


def test_slide_schedule_crashes_when_the_warmup_ends(c):
    assert c["crash_step"] == 5
    assert "must be Tensor, not float" in c["crash_message"]


def test_fixed_slide_schedule_equals_lrnotes_classic_warmup(c):
    assert c["fixed_vs_lrnotes"] < 1e-12
    assert c["first_lr_slide"] == 0.0
    assert c["first_lr_default"] == pytest.approx(c["lr"] / 6)


def test_fit_runs_every_group_at_the_scheduled_lr(c):
    assert c["lr_error"] < 1e-12


def test_no_decay_group_holds_only_the_biases(c):
    assert c["group_names"] == ["default", "default (no decay)"]
    assert c["group_decay"] == [c["weight_decay"], 0.0]
    assert c["no_decay_shapes"] == [[128], [10]]


def test_clipping_was_active_on_some_updates(c):
    assert 0.0 < c["clipped_fraction"] < 1.0
    assert c["final_val_acc"] > 0.9


def test_constant_rate_ends_with_a_higher_training_loss_in_every_seed(c):
    full, constant = c["ablation"]["full recipe"], c["ablation"]["no cosine (constant)"]
    ratios = [v / f for v, f in zip(constant["train_loss"], full["train_loss"], strict=True)]
    assert min(ratios) == pytest.approx(c["constant_train_ratio"])
    assert c["constant_train_ratio"] > 1.5
    spread = np.std(full["val_loss"])
    assert abs(np.mean(constant["val_loss"]) - np.mean(full["val_loss"])) < spread


def test_adam_with_l2_is_worse_than_adamw_in_every_seed(c):
    full, adam = c["ablation"]["full recipe"], c["ablation"]["Adam (L2) instead of AdamW"]
    assert all(a > 5 * f for a, f in zip(adam["train_loss"], full["train_loss"], strict=True))
    assert all(a > 1.5 * f for a, f in zip(adam["val_loss"], full["val_loss"], strict=True))
    assert c["adam_train_ratio"] > 5 and c["adam_val_ratio"] > 1.5


def test_pieces_called_within_noise_are_within_the_spread(c):
    ablation = c["ablation"]
    full_val = ablation["full recipe"]["val_loss"]
    assert c["full_val_spread"] == pytest.approx(np.std(full_val))
    assert c["within_noise_text"] == ", ".join(c["within_noise"])
    for name in ("no warmup", "no clipping", "decay on all params"):
        diff = abs(np.mean(ablation[name]["val_loss"]) - np.mean(full_val))
        assert (name in c["within_noise"]) == (diff < c["full_val_spread"])
    assert len(ablation["full recipe"]["val_loss"]) >= 3
