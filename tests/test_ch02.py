"""Chapter 2's claims, read from the executed chapter."""

import pytest

CH = "02_step_scheduling"


def test_optimizer_first_uses_each_level_for_step_size_updates(c):
    assert c["right_order_lrs"] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01], rel=1e-12)
    assert c["right_order_warnings"] == 0


def test_scheduler_first_skips_the_first_value_and_torch_warns(c):
    assert c["wrong_order_lrs"] == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01, 0.001], rel=1e-12)
    assert "before `optimizer.step()`" in c["wrong_order_warning"]


def test_attach_counts_updates_so_the_order_does_not_matter(c):
    assert c["attached_right_lrs"] == pytest.approx(c["right_order_lrs"], rel=1e-12)
    assert c["attached_wrong_lrs"] == pytest.approx(c["right_order_lrs"], rel=1e-12)
    assert c["attached_warnings"] == 0


def test_lrnotes_step_and_multistep_equal_torch(c):
    assert c["compare_steps"] >= 100
    assert c["max_relative_difference"] < 1e-12


def test_epoch_conversions_agree_with_torch_stepped_per_epoch(c):
    assert c["conversions_agree"] is True
    assert c["conversion_vs_torch"] < 1e-12


def test_per_epoch_torch_and_per_update_lrnotes_train_identically(c):
    assert c["lr_difference_torch_vs_lrnotes"] < 1e-12
    assert c["final_train_lrnotes"] == pytest.approx(c["final_train_torch"], rel=1e-5)


def test_stepping_an_epoch_step_size_per_batch_stalls_training(c):
    assert c["mistake_lr_after_one_epoch"] < 1e-4
    assert c["final_train_mistake"] > 10 * c["final_train_torch"]
    assert c["mistake_ratio"] == pytest.approx(c["final_train_mistake"] / c["final_train_torch"])
    assert c["final_acc_mistake"] < c["final_acc_torch"] - 0.1
