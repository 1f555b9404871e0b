"""Chapter 10's claims, read from the executed chapter."""

import pytest

CH = "10_layerwise_rates"


def test_param_groups_give_features_and_classifier_their_rates(c):
    assert c["two_group_lrs"] == [1e-3, 1e-2]


def test_discriminative_rates_beat_one_rate_at_the_heads_rate_for_every_seed(c):
    disc, head = c["disc_val_losses"], c["one_rate_head_val_losses"]
    assert len(disc) == len(head) == c["seeds"] >= 3
    assert all(d < 0.8 * h for d, h in zip(disc, head, strict=True))
    ratios = [d / h for d, h in zip(disc, head, strict=True)]
    assert c["disc_vs_head_rate_worst"] == pytest.approx(max(ratios))


def test_the_best_single_rate_is_about_as_good(c):
    # the chapter claims no win over a tuned single rate: only that they are comparable
    best = min(c["one_rate_mean_val_losses"])
    assert c["one_rate_best_val_loss"] == best
    assert c["disc_vs_best_one"] == pytest.approx(c["disc_val_loss"] / best)
    assert 0.5 < c["disc_vs_best_one"] < 2.0
    # "smaller than the spread between seeds"
    spread = c["disc_max"] - c["disc_min"]
    assert abs(c["disc_val_loss"] - best) < spread


def test_frozen_features_vary_between_seeds(c):
    frozen = c["frozen_val_losses"]
    assert c["frozen_min"] == min(frozen) and c["frozen_max"] == max(frozen)
    assert c["frozen_max"] > 1.5 * c["frozen_min"]


def test_layerwise_decay_follows_the_formula(c):
    head, decay = c["head_lr"], c["decay"]
    layers, lrs = zip(*c["layer_lrs"], strict=True)
    assert layers == ("features.0", "features.3", "classifier.1", "classifier.3")
    lrs = list(lrs)
    depths = range(len(lrs) - 1, -1, -1)
    assert lrs == [head * decay**d for d in depths]


def test_group_rates_keep_their_ratios_under_a_schedule(c):
    assert c["lrs_equal_base_times_schedule"] is True
    assert c["max_ratio_deviation"] <= 1e-15
