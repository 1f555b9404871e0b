"""Chapter 3's claims, read from the executed chapter.

Checked with ``scripts/claims_margins.py`` under SEED in {0, 1, 2} x OMP_NUM_THREADS in
{1, 2} (see ``benchmarks/results/claims_margins/03_cosine_annealing.json``). The step
against cosine comparison is asserted only as the chapter states it: averages over the
seeds, and a validation difference smaller than the spread of the seeds. Two margins are
small but not noisy: step decay's lower mean training loss (x1.12 at worst) and the
restarts' higher one (x1.17 at worst) hold in each of seeds 0 to 4 taken alone, and the
thread count moves them by less than 1e-5."""

import math
import re
import statistics

import nbformat
from margins import above, below, close, holds
from notebooks import BOOK

CH = "03_cosine_annealing"


def test_the_slide_runs_and_plots_the_next_epochs_rate(c):
    holds(c["slide_points"] == 100, "the slide records 100 rates")
    close(c["slide_vs_next"], 0.0, "slide's lrs[e] vs cosine at t = e + 1", abs=1e-12)
    above(c["slide_vs_same"], 1e-4, "slide's lrs[e] vs cosine at t = e: off by one")
    close(c["slide_first"], 0.05 * (1 + math.cos(math.pi / 100)), "slide's first point")
    close(c["slide_last"], 0.0, "slide's last point is eta_min", abs=1e-15)


def test_lrnotes_cosine_equals_torch_and_the_formula_up_to_the_end(c):
    holds(c["t_long"] >= 100, "compared on at least 100 updates")
    close(c["cosine_vs_torch"], 0.0, "lrnotes vs torch cosine", abs=1e-12)
    close(c["cosine_vs_scratch"], 0.0, "lrnotes vs from-scratch cosine", abs=1e-12)


def test_past_the_end_torch_climbs_back_and_lrnotes_holds_the_floor(c):
    torch_tail, ours_tail = c["past_end_torch"], c["past_end_lrnotes"]
    floor = ours_tail[0]
    close(torch_tail[0], floor, "torch at T equals the floor", rel=1e-12)
    for value in ours_tail:
        close(value, floor, "lrnotes holds the floor past T", rel=1e-12)
    above(torch_tail[1], floor, "torch climbs after T")
    above(torch_tail[2], torch_tail[1], "torch keeps climbing")


def test_warm_restarts_equal_torch_and_restart_where_sgdr_says(c):
    close(c["restarts_vs_torch"], 0.0, "lrnotes vs torch warm restarts", abs=1e-12)
    holds(c["restart_updates"] == [20, 20 + 40, 20 + 40 + 80], "restarts at 20, 60, 140")


def test_same_budget_for_both_schedules(c):
    holds(c["updates_step"] == c["updates_cosine"], "same number of updates")
    close(c["lr_area_cosine"], c["lr_area_step"], "sum of rates, cosine vs step", rel=0.1)


def test_step_decay_ends_lower_in_training_loss_on_average(c):
    holds(len(c["step_train_seeds"]) == c["seeds"] >= 3, "one run per seed, at least three")
    close(c["step_final_train"], statistics.fmean(c["step_train_seeds"]), "glued mean")
    below(c["step_final_train"], c["cosine_final_train"], "mean train loss: step / cosine")


def test_on_validation_the_schedules_differ_less_than_the_seeds_spread(c):
    differences = [s - k for s, k in zip(c["step_val_seeds"], c["cosine_val_seeds"], strict=True)]
    close(c["val_difference_mean"], statistics.fmean(differences), "glued mean difference")
    below(abs(c["val_difference_mean"]), c["val_spread"],
          "|mean paired val difference| / std of final val loss over seeds")
    for step, cosine in zip(c["step_acc_seeds"], c["cosine_acc_seeds"], strict=True):
        above(min(step, cosine), 0.93, "final validation accuracy of both, per seed")


def test_exercise_1_the_floor_moves_the_training_loss_more(c):
    above(abs(math.log(c["ex1_train_change"])), abs(math.log(c["ex1_val_change"])),
          "|log train change| / |log val change| with FINAL = 0.1")


def test_exercise_2_restarts_end_higher_in_training_loss(c):
    holds(c["ex2_offset"] <= 7, "three cycles fill the run to within 7 updates")
    above(c["ex2_train"], c["cosine_final_train"], "mean train loss: restarts / cosine")


def test_on_mnist1d_glued_verdicts_are_the_results(c):
    final = c["medium_final"]
    acc = {name: final[name]["val_acc"] for name in ("step decay", "cosine", "constant")}
    for values in acc.values():
        holds(len(values) == c["medium_seeds"] >= 3, "one MNIST-1D run per seed, at least three")
    diff = statistics.fmean(acc["step decay"]) - statistics.fmean(acc["cosine"])
    spread = max(statistics.pstdev(acc["step decay"]), statistics.pstdev(acc["cosine"]))
    close(c["medium_step_minus_cosine"], 100 * diff, "glued step - cosine", abs=1e-9)
    holds(c["medium_step_cosine_where"] == ("within" if abs(diff) <= spread else "outside"),
          "glued verdict, step vs cosine")
    best = max(("step decay", "cosine"), key=lambda n: statistics.fmean(acc[n]))
    holds(c["medium_better_decay"] == best, "glued better decay")
    close(c["medium_better_decay_acc"], statistics.fmean(acc[best]), "glued better decay's mean")


def test_on_mnist1d_a_constant_rate_ends_above_both_decays_on_this_budget(c):
    final = c["medium_final"]
    constant = statistics.fmean(final["constant"]["val_acc"])
    for name in ("step decay", "cosine"):
        above(constant, statistics.fmean(final[name]["val_acc"]),
              f"MNIST-1D mean val acc: constant / {name}")
        below(statistics.fmean(final["constant"]["train_loss"]),
              statistics.fmean(final[name]["train_loss"]),
              f"MNIST-1D mean train loss: constant / {name}")
    holds(c["medium_constant_text"] == "above", "glued text: the constant ends above")
    for name, values in final.items():
        for value in values["val_acc"]:
            above(value, 0.5, f"MNIST-1D run learns ({name})")


def test_the_mnist1d_section_comes_before_the_takeaways_and_its_knobs_are_parameters():
    nb = nbformat.read(BOOK / f"{CH}.ipynb", as_version=4)
    markdown = [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    heading = next(i for i, s in enumerate(markdown) if "## On a harder task: MNIST-1D" in s)
    takeaways = next(i for i, s in enumerate(markdown) if "## What to take away" in s)
    holds(heading < takeaways, "the MNIST-1D section precedes the takeaways")
    holds("{glue:}`medium_" in markdown[takeaways].split("## Exercises")[0],
          "the takeaways paste what the MNIST-1D section found")
    parameters = next(cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", []))
    for knob in ("MEDIUM_EPOCHS", "MEDIUM_SEEDS"):
        holds(re.search(rf"^{knob} = \d+  # \S", parameters.source, re.M) is not None,
              f"{knob} in the parameters cell, with a comment")
        assigned = [cell for cell in nb.cells if cell.cell_type == "code"
                    and re.search(rf"^{knob} = ", cell.source, re.M)]
        holds(assigned == [parameters], f"{knob} set only in the parameters cell")
