"""Chapter 10's claims, read from the executed chapter.

Margins measured with ``scripts/claims_margins.py --chapters 10 --seeds 0 1 2 --threads 1 2``
(benchmarks/results/claims_margins/10_layerwise_rates.json). Measured again after fit stopped
drawing from the loader's generator before training (issue 24), SEED 1 and 2 gave the slide's
direction the lower mean and a single rate the lower loss on some seeds: those comparisons are
no longer asserted in one direction; the page says who won in glued words, checked here.
Run with OMP_WAIT_POLICY=PASSIVE on a shared 2-core machine (it changes no number, only
how idle threads wait)."""

import numpy as np
from margins import above, below, close, holds

CH = "10_layerwise_rates"


def test_the_slides_rates_fall_towards_the_head(c):
    holds(c["slide_group_lrs"] == [0.01, 0.001, 0.0001], "slide: conv1, conv2, fc rates")
    lrs = c["slide_group_lrs"]
    holds(lrs[0] > lrs[1] > lrs[2], "slide: the head has the smallest rate")
    holds(c["slide_group_sizes"] == [448, 4640, 11530], "slide: parameters per group")


def test_the_slides_forward_needs_F_and_ten_by_ten_images(c):
    holds(c["slide_error_without_F"] == "NameError: name 'F' is not defined", "F missing")
    holds(c["slide_out_10_4"] == "(4, 10)", "10x10 images fit")
    holds(c["slide_out_32_4"].startswith("RuntimeError: shape '[-1, 1152]' is invalid"),
          "32x32 images fail")
    holds(c["slide_out_32_9"] == "(196, 10)", "9 images of 32x32 give 196 rows")
    holds(c["slide_out_8_9"] == "(4, 10)", "9 images of 8x8 give 4 rows")


def test_param_groups_give_features_and_classifier_their_rates(c):
    holds(c["two_group_lrs"] == [1e-3, 1e-2], "two groups")


def test_discriminative_rates_beat_one_rate_at_the_heads_rate_for_every_seed(c):
    disc, head = np.array(c["disc_val_losses"]), np.array(c["one_rate_head_val_losses"])
    holds(len(disc) == len(head) == c["seeds"] == c["n_seeds"] >= 3, "three seeds")
    below(np.max(disc / head), 1.0, "discriminative / head rate for all, worst seed")
    close(c["disc_vs_head_rate_worst"], np.max(disc / head), "glued worst ratio")


def test_discriminative_against_the_slides_direction_is_told_from_the_values(c):
    # which direction wins changes with the set of seeds (SEED 1 and 2 give the slide's
    # direction the lower mean; benchmarks/results/claims_margins/10_layerwise_rates.json),
    # so the page states it in glued words and this test asserts only that they are right
    disc, rev = np.array(c["disc_val_losses"]), np.array(c["reverse_val_losses"])
    close(c["disc_vs_reverse"], np.mean(disc) / np.mean(rev), "glued ratio of means")
    close(c["reverse_val_loss"], np.mean(rev), "glued mean")
    close(c["reverse_min"], rev.min(), "glued min")
    close(c["reverse_max"], rev.max(), "glued max")
    beats = int(np.sum(disc < rev))
    words = f"all {len(disc)} seeds" if beats == len(disc) else f"{beats} of the {len(disc)} seeds"
    holds(c["disc_beats_reverse"] == beats and c["disc_beats_reverse_words"] == words,
          "glued count")


def test_discriminative_rates_against_the_best_of_three_single_rates(c):
    means = c["one_rate_mean_val_losses"]
    close(c["one_rate_best_val_loss"], min(means), "best single rate by its mean")
    disc, best = np.array(c["disc_val_losses"]), np.array(c["best_one_val_losses"])
    close(np.mean(best), min(means), "the best single rate's seeds")
    close(c["disc_vs_best_one_worst"], np.max(disc / best), "glued worst ratio")
    close(c["disc_vs_best_one"], c["disc_val_loss"] / min(means), "glued ratio of means")
    wins, n = int(np.sum(disc < best)), len(disc)
    holds(c["disc_wins_vs_best_one"] == wins, "glued count of wins")
    holds(c["disc_wins_vs_best_one_words"] == (f"all {n} seeds" if wins == n
                                               else f"{wins} of the {n} seeds"), "glued words")
    close(c["disc_min"], disc.min(), "glued min")
    close(c["disc_max"], disc.max(), "glued max")


def test_frozen_features_vary_between_seeds(c):
    frozen = c["frozen_val_losses"]
    close(c["frozen_min"], min(frozen), "glued min")
    close(c["frozen_max"], max(frozen), "glued max")
    above(c["frozen_max"], 1.5 * c["frozen_min"], "frozen max / 1.5 x frozen min")


def test_layerwise_decay_follows_the_formula(c):
    head, decay = c["head_lr"], c["decay"]
    layers, lrs = zip(*c["layer_lrs"], strict=True)
    holds(layers == ("features.0", "features.3", "classifier.1", "classifier.3"), "layers")
    depths = range(len(lrs) - 1, -1, -1)
    for lr, depth in zip(lrs, depths, strict=True):
        close(lr, head * decay**depth, f"lr at depth {depth}")


def test_group_rates_keep_their_ratios_under_a_schedule(c):
    holds(c["lrs_equal_base_times_schedule"] and c["lr_mismatches"] == 0, "exact rates")
    holds(c["lr_entries"] == 400, "100 updates x 4 groups")
    close(c["max_ratio_deviation"], 0.0, "ratios kept", abs=1e-15)


def test_solution_1_the_best_decay_lies_between_the_extremes(c):
    losses = dict(zip(c["sweep_decays"], c["sweep_losses"], strict=True))
    close(c["sweep_best_decay"], min(losses, key=losses.get), "glued best decay")
    close(losses[c["decay"]], c["disc_val_loss"], "DECAY's sweep point = the chapter's run",
          rel=1e-9)
    close(c["sweep_decay_one"], c["one_rate_head_val_loss"], "DECAY = 1 is one rate for all",
          rel=1e-9)
    best = min(losses.values())
    above(losses[1.0], best, "DECAY = 1 is not the best")
    above(losses[min(losses)], best, "the smallest decay is not the best")


def test_solution_2_finds_the_two_parts(c):
    holds(c["default_layers"] == ["features", "classifier"], "direct children")


def test_the_prose_words_follow_the_counts(c):
    disc, head = np.array(c["disc_val_losses"]), np.array(c["one_rate_head_val_losses"])
    wins, n = int(np.sum(disc < head)), len(disc)
    holds(c["disc_beats_head_words"] == (f"all {n} seeds" if wins == n
                                         else f"{wins} of the {n} seeds"), "glued count")
    rev = np.array(c["reverse_val_losses"])
    winner = ("the rates that grow towards the head" if np.mean(disc) < np.mean(rev)
              else "the slide's direction")
    holds(c["reverse_mean_winner"] == winner, "the glued winner agrees with the means")
    frozen = c["frozen_val_losses"]
    close(c["frozen_spread"], max(frozen) / min(frozen), "glued spread")
