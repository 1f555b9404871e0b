"""Chapter 15's claims (combining techniques), read from the executed chapter.

The talk's WarmupCosineSchedule (slide 15) is run as given, with stand-ins; these tests
assert what its code really does. Checked under SEED in {0, 1, 2} x OMP_NUM_THREADS in
{1, 2} (papermill, quick profile); the margins are in
benchmarks/results/claims_margins/15_combining.json.
"""

import re

import nbformat
import numpy as np
from margins import above, below, close, holds
from notebooks import BOOK

CH = "15_combining"


def test_slide_stops_at_the_end_of_its_warmup_on_math_then_on_torch_cos(c):
    holds(c["slide_base"] == "_LRScheduler", "the slide subclasses _LRScheduler")
    holds(c["cosine_used_text"] == "does not", "CosineAnnealingLR imported, not used")
    holds(c["crash_step"] == 1000, "the first error comes when last_epoch reaches warmup_steps")
    holds(c["slide_error"] == "NameError: name 'math' is not defined", "first error: NameError")
    holds(c["second_error"].startswith("TypeError: cos()")
          and "must be Tensor, not float" in c["second_error"], "second error: torch.cos")


def test_repaired_slide_wastes_its_first_update_and_climbs_back(c):
    close(c["slide_first_lr"], 0.0, "first lr of the slide's ramp", abs=0.0)
    close(c["lrnotes_first_lr"], 0.001 / 1001, "lrnotes' first lr (t + 1) / (W + 1)")
    below(c["slide_lr_at_total"], 1e-12, "slide's lr at t_total")
    close(c["slide_lr_back"], c["slide_base_lr"], "slide back at the base lr at 2T - W")
    close(c["lrnotes_lr_back"], 0.0, "lrnotes holds its final value", abs=0.0)
    below(c["slide_vs_lrnotes_warmup_after"], 1e-15, "slide vs lrnotes after the warmup")


def test_repaired_slide_equals_lrnotes_classic_warmup_up_to_t_total(c):
    below(c["fixed_vs_lrnotes"], 1e-12, "slide (math.cos) vs S.warmup(start=0)")
    close(c["first_lr_slide"], 0.0, "first lr, slide", abs=0.0)
    close(c["first_lr_default"], c["lr"] / 6, "first lr, lrnotes default ramp")
    close(c["fixed_after_total"], c["lr"], "slide back at the peak at 2T - W")
    close(c["classic_after_total"], 0.0, "lrnotes holds 0 past T", abs=0.0)


def test_fit_runs_every_group_at_the_scheduled_lr(c):
    below(c["lr_error"], 1e-12, "fit's lr vs LR * schedule")


def test_no_decay_group_holds_only_the_biases(c):
    holds(c["group_names"] == ["default", "default (no decay)"], "group names")
    holds(c["group_decay"] == [c["weight_decay"], 0.0], "group decay")
    holds(c["no_decay_shapes"] == [[128], [10]], "no-decay group = the two biases")


def test_clipping_was_active_on_some_updates(c):
    above(c["clipped_fraction"], 0.0, "fraction of updates clipped")
    below(c["clipped_fraction"], 1.0, "fraction of updates clipped < 1")
    above(c["final_val_acc"], 0.9, "final validation accuracy of the recipe")


def test_constant_rate_ends_with_a_higher_mean_training_loss(c):
    full, constant = c["ablation"]["full recipe"], c["ablation"]["no cosine (constant)"]
    ratio = np.mean(constant["train_loss"]) / np.mean(full["train_loss"])
    close(ratio, c["constant_train_ratio"], "glued ratio")
    above(c["constant_train_ratio"], 1.5, "constant / full mean training loss")
    holds(c["constant_higher_in"] == sum(a > b for a, b in zip(
        constant["train_loss"], full["train_loss"], strict=True)), "glued count")


def test_the_cosine_validation_verdict_follows_its_shift(c):
    """Where the constant rate's validation loss falls depends on the seed (+1.4 sd at SEED 1,
    within the spread at SEED 0): the prose pastes the shift, its side and its reading."""
    full, constant = c["ablation"]["full recipe"], c["ablation"]["no cosine (constant)"]
    shift = (np.mean(constant["val_loss"]) - np.mean(full["val_loss"])) / np.std(full["val_loss"])
    close(c["constant_val_shift"], shift, "glued shift, constant rate")
    holds(c["constant_val_where"] == ("within" if abs(shift) < 1 else "outside"),
          "glued side of the spread, constant rate")
    side = "within" if abs(shift) < 1 else "higher" if shift > 0 else "lower"
    says = {"within": "not a validation loss these seeds can tell apart",
            "higher": "the decay lowers the mean validation loss too",
            "lower": "the constant rate ends with the lower mean validation loss"}[side]
    holds(says in c["constant_val_reading"], "glued reading of the shift, constant rate")


def test_adam_with_l2_is_worse_than_adamw_in_every_seed(c):
    full, adam = c["ablation"]["full recipe"], c["ablation"]["Adam (L2) instead of AdamW"]
    for s, (a, f) in enumerate(zip(adam["train_loss"], full["train_loss"], strict=True)):
        above(a, 5 * f, f"Adam L2 train loss / 5x AdamW's, seed {s}")
    for s, (a, f) in enumerate(zip(adam["val_loss"], full["val_loss"], strict=True)):
        above(a, 1.5 * f, f"Adam L2 val loss / 1.5x AdamW's, seed {s}")
    train_ratios = [a / f for a, f in zip(adam["train_loss"], full["train_loss"], strict=True)]
    close(c["adam_train_ratio"], min(train_ratios), "glued train ratio")


def test_no_other_removal_raises_the_validation_loss_beyond_the_spread(c):
    ablation = c["ablation"]
    full_val = ablation["full recipe"]["val_loss"]
    holds(len(full_val) == c["seeds"] >= 3, "three seeds or more")
    close(c["full_val_spread"], np.std(full_val), "glued spread")
    for name in ("no warmup", "no clipping", "decay on all params"):
        shift = (np.mean(ablation[name]["val_loss"]) - np.mean(full_val)) / c["full_val_spread"]
        close(c["other_shift"][name], shift, f"glued shift, {name}")
        holds((name in c["within_noise"]) == (abs(shift) < 1), f"within list, {name}")
    close(c["other_worse_max"], max(c["other_shift"].values()), "glued largest rise")
    # the prose: "none of these pieces lowers it by more than the spread"
    below(c["other_worse_max"], 1.0, "largest rise of the mean val loss, in sd")
    shifts = [(name, c["other_shift"][name])  # the chapter's order
              for name in ("no warmup", "no clipping", "decay on all params")]
    outside = [f"{n} ({'higher' if s > 0 else 'lower'})" for n, s in shifts if abs(s) >= 1]
    holds(c["others_outside_text"] == (", ".join(outside) or "none"), "glued list out of spread")
    n = c["seeds"]
    close(c["diff_se"], np.sqrt(2 / (n - 1)), "standard error of a difference of means, in sd")
    full_sample_sd = np.std(full_val, ddof=1)
    close(c["diff_se"] * c["full_val_spread"], full_sample_sd * np.sqrt(2 / n),
          "diff_se is the textbook standard error s * sqrt(2 / n)")


def test_solutions(c):
    l2 = {float(k): np.mean(v) for k, v in c["l2_sweep"].items()}
    holds(c["best_l2"] == min(l2, key=l2.get), "best L2 coefficient")
    below(c["best_l2"], c["weight_decay"] / 5, "best L2 coefficient well below AdamW's")
    below(l2[min(l2, key=l2.get)], l2[0.05] / 1.5, "best L2 val loss vs L2 0.05's")
    deep = c["deep"]
    spread = np.std(deep["full recipe"])
    holds(len(c["deep_up"]) == sum(np.mean(deep[n]) - np.mean(deep["full recipe"]) > spread
                                   for n in ("no warmup", "no clipping")), "glued list")


def test_an_extended_run_continues_the_lr_and_ends_at_its_new_total(c):
    close(c["extend_lr_after"], c["extend_lr_planned"], "lr at the resume = the planned lr")
    below(abs(c["extend_lr_after"] - c["extend_lr_before"]), 0.01 * c["extend_lr_before"],
          "lr jump at the resume / 1% of the lr")
    above(c["extend_lr_grown_after"], c["extend_lr_planned_after"],
          "extended lr one update later / planned (a gentler decay)")
    close(c["extend_lr_end"], 0.0, "extended lr at its new total", abs=1e-12)


def test_the_shift_the_guide_pastes_is_the_no_warmup_shift(c):
    full = c["ablation"]["full recipe"]["val_loss"]
    shift = (np.mean(c["ablation"]["no warmup"]["val_loss"]) - np.mean(full)) / np.std(full)
    close(c["no_warmup_shift"], shift, "glued shift")
    close(c["no_warmup_shift"], c["other_shift"]["no warmup"], "the ablation's own shift")
    # the chapter and the guide read it as a shift that three seeds cannot tell from chance:
    # less than two standard errors of a difference of means
    below(abs(c["no_warmup_shift"]), 2.0 * c["diff_se"],
          "|no warmup shift| in sd of the full recipe / 2 standard errors")


def test_the_plain_torch_recipe_gives_the_same_rates(c):
    holds(c["plain_torch_updates"] > 0, "compared over the run")
    close(c["plain_torch_max_diff"], 0.0, "SequentialLR(LinearLR, CosineAnnealingLR) vs S.attach",
          rel=0, abs=1e-12)


def test_on_mnist1d_glued_shifts_are_the_results(c):
    results = c["medium_results"]
    full_val = results["full recipe"]["val_loss"]
    holds(len(full_val) == c["medium_seeds"] >= 3, "three MNIST-1D seeds or more")
    close(c["medium_val_spread"], np.std(full_val), "glued MNIST-1D spread")
    for name, key in (("no warmup", "warmup"),):
        shift = (np.mean(results[name]["val_loss"]) - np.mean(full_val)) / np.std(full_val)
        close(c[f"medium_no_{key}_shift"], shift, f"glued MNIST-1D shift, {name}")
        holds(c[f"medium_no_{key}_where"] == ("outside" if abs(shift) > 1 else "within"),
              f"glued verdict, {name}")


def test_on_mnist1d_removing_the_warmup_raises_the_validation_loss_beyond_the_spread(c):
    above(c["medium_no_warmup_shift"], 1.0, "MNIST-1D no-warmup shift of the mean val loss, sd")
    results = c["medium_results"]
    above(np.mean(results["full recipe"]["val_acc"]), np.mean(results["no warmup"]["val_acc"]),
          "MNIST-1D mean val acc: full recipe / no warmup")


def test_the_mnist1d_knobs_sit_in_the_parameters_cell():
    """MEDIUM_EPOCHS and MEDIUM_SEEDS are set, with a comment, only in the parameters cell
    (papermill and a reader change them there); the full profile scales them as it does EPOCHS
    and SEEDS."""
    nb = nbformat.read(BOOK / f"{CH}.ipynb", as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    params = next(cell for cell in code if "parameters" in cell.metadata.get("tags", []))
    for knob in ("MEDIUM_EPOCHS", "MEDIUM_SEEDS"):
        assert re.search(rf"^{knob} = [^#\n]+  # \w", params.source, re.M), knob
        assigned = [cell.id for cell in code if cell is not params
                    and re.search(rf"^\s*{knob}\s*=", cell.source, re.M)]
        assert assigned == [], f"{knob} set outside the parameters cell: {assigned}"
    assert any("MEDIUM_EPOCHS, MEDIUM_SEEDS = 3 * MEDIUM_EPOCHS, 5" in cell.source
               for cell in code), "the full profile scales the MNIST-1D knobs"
