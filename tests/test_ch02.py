"""Chapter 2's claims, read from the executed chapter.

Checked with ``scripts/claims_margins.py`` under SEED in {0, 1, 2} x OMP_NUM_THREADS in
{1, 2} (see ``benchmarks/results/claims_margins/02_step_scheduling.json``)."""

import statistics

from margins import above, below, close, holds

CH = "02_step_scheduling"


def test_the_slide_prints_the_next_epochs_rate_and_trains_nothing(c):
    holds(c["slide_drop_used"] == 30, "the slide's first epoch that uses a lower rate is 30")
    holds(c["slide_drop_printed"] == 29, "the slide first prints a lower rate at epoch 29")
    holds(c["slide_printed_line"] == "Epoch 29, LR: [0.010000000000000002]",
          "the slide's printed line at epoch 29")
    close(c["slide_used_at_printed"], 0.1, "rate epoch 29 actually used")
    holds(c["slide_printed_is_next"] is True, "every printed rate is the next epoch's")
    holds(c["slide_weights_moved"] == 0, "the slide's optimizer.step() changes no weight")
    for have, want in zip(c["slide_levels"], [0.1, 0.01, 0.001, 0.0001], strict=True):
        close(have, want, "the slide's rate levels", rel=1e-12)


def test_the_plain_loop_is_what_fit_runs(c):
    holds(c["loop_updates"] >= 3, "compared on at least three updates")
    close(c["loop_weight_difference"], 0.0, "max |weights(loop) - weights(fit)|", abs=1e-6)
    for have, want in zip(c["loop_lrs"], c["fit_lrs"], strict=True):
        close(have, want, "lr per update, loop vs fit", rel=1e-12)
    for have, want in zip(c["loop_losses"], c["fit_losses"], strict=True):
        close(have, want, "loss per update, loop vs fit", rel=1e-6)


def test_optimizer_first_uses_each_level_for_step_size_updates(c):
    for have, want in zip(c["right_order_lrs"], [1.0, 1.0, 0.1, 0.1, 0.01, 0.01], strict=True):
        close(have, want, "lr per update, right order", rel=1e-12)
    holds(c["right_order_text"] == "1, 1, 0.1, 0.1, 0.01, 0.01", "glued text, right order")
    holds(c["right_order_warnings"] == 0, "no warning in the right order")


def test_scheduler_first_skips_the_first_value_and_torch_warns(c):
    for have, want in zip(c["wrong_order_lrs"], [1.0, 0.1, 0.1, 0.01, 0.01, 0.001], strict=True):
        close(have, want, "lr per update, wrong order", rel=1e-12)
    holds("before `optimizer.step()`" in c["wrong_order_warning"], "torch warns")


def test_attach_counts_updates_so_the_order_does_not_matter(c):
    for key in ("attached_right_lrs", "attached_wrong_lrs"):
        for have, want in zip(c[key], c["right_order_lrs"], strict=True):
            close(have, want, f"{key} vs right order", rel=1e-12)
    holds(c["attached_warnings"] == 0, "attach: no warning")


def test_lrnotes_step_and_multistep_equal_torch(c):
    holds(c["compare_steps"] >= 100, "compared on at least 100 updates")
    close(c["max_relative_difference"], 0.0, "lrnotes vs torch, step/multistep", abs=1e-12)


def test_epoch_conversions_agree_with_torch_stepped_per_epoch(c):
    holds(c["conversions_agree"] is True, "S.epochs and S.per_epoch agree")
    close(c["conversion_vs_torch"], 0.0, "conversion vs StepLR per epoch", abs=1e-12)


def test_per_epoch_torch_and_per_update_lrnotes_train_identically(c):
    close(c["lr_difference_torch_vs_lrnotes"], 0.0, "lr torch per epoch vs lrnotes", abs=1e-12)
    for have, want in zip(c["train_lrnotes"], c["train_torch"], strict=True):
        close(have, want, "final train loss per seed, lrnotes vs torch", rel=1e-5)


def test_stepping_an_epoch_step_size_per_batch_stalls_training_in_every_seed(c):
    holds(len(c["train_torch"]) == c["seeds"] >= 3, "one run per seed, at least three")
    below(c["mistake_lr_after_one_epoch"], 1e-4, "mistake's lr after one epoch / 1e-4")
    for mistake, right in zip(c["train_mistake"], c["train_torch"], strict=True):
        above(mistake, 10 * right, "mistake final train / 10 x right")
    close(c["mistake_ratio_min"], min(m / r for m, r in zip(c["train_mistake"], c["train_torch"],
                                                            strict=True)), "glued min ratio")
    for mistake, right in zip(c["acc_mistake"], c["acc_torch"], strict=True):
        below(mistake, right - 0.1, "mistake val acc / (right - 0.1)")
    close(c["final_train_torch"], statistics.fmean(c["train_torch"]), "glued mean")


def test_exercise_1_multistep_ends_lower_in_every_seed(c):
    holds(c["ex1_milestones"] == [8 * c["steps_per_epoch"], 12 * c["steps_per_epoch"]],
          "milestones converted to updates")
    for multistep, step in zip(c["ex1_train"], c["train_lrnotes"], strict=True):
        below(multistep, step, "final train loss: multistep / step")


def test_exercise_2_smaller_drops_end_higher_in_every_seed(c):
    close(c["ex2_final_lr"], 0.1 * 0.5**7, "final lr with gamma 0.5 every 2 epochs")
    for gentle, step in zip(c["ex2_train"], c["train_lrnotes"], strict=True):
        above(gentle, step, "final train loss: gamma 0.5 / gamma 0.1")


def test_the_prose_count_of_seeds_agrees(c):
    higher = sum(m > r for m, r in zip(c["train_mistake"], c["train_torch"], strict=True))
    n = len(c["train_torch"])
    holds(c["mistake_higher_words"] == (f"all {n} seeds" if higher == n
                                        else f"{higher} of the {n} seeds"), "glued count")


def test_the_exercise_solutions_count_their_seeds(c):
    """The solutions paste how many seeds end lower (exercise 1) or higher (exercise 2) than
    the step schedule, as glued words, not a fixed "every seed"."""
    n = len(c["train_lrnotes"])

    def words(count):
        return f"all {n} seeds" if count == n else f"{count} of the {n} seeds"

    lower = sum(m < s for m, s in zip(c["ex1_train"], c["train_lrnotes"], strict=True))
    holds(c["ex1_lower_words"] == words(lower), "glued count, exercise 1 (multistep lower)")
    higher = sum(g > s for g, s in zip(c["ex2_train"], c["train_lrnotes"], strict=True))
    holds(c["ex2_higher_words"] == words(higher), "glued count, exercise 2 (gamma 0.5 higher)")
