"""Chapter 13's claims (LARS), read from the executed chapter.

The talk's LARS (slide 13) is run as given, with stand-ins; these tests assert what its code
really does. Checked under SEED in {0, 1, 2} x OMP_NUM_THREADS in {1, 2} (papermill, quick
profile); the margins are in benchmarks/results/claims_margins/13_lars.json.
"""

import math

from margins import above, below, close, holds

CH = "13_lars"


def test_slide_zero_bias_moves_once_then_barely(c):
    first = c["slide_bias_first"]
    holds(len(first) == 3 and min(first) > 0, "every zero bias takes a first, full-rate step")
    # later steps are lr * eta * ||b|| / ||g|| * ||g||: about lr * eta = 1e-4 of the first
    below(c["slide_bias_later_ratio"], 1e-3, "largest later bias step / first step")
    below(c["slide_bias_later_total"], 0.05, "sum of later bias steps / first step")
    above(c["lars_bias_growth"], 1.5, "LARS: largest later bias step / first step")
    above(c["lars_bias_later_total"], 10, "LARS: sum of later bias steps / first step")


def test_slide_trains_slower_than_lars_with_the_same_arguments(c):
    slide_drop, lars_drop = c["loss_start"] - c["loss_slide"], c["loss_start"] - c["loss_lars"]
    above(slide_drop, 0, "the slide's loop lowers the loss")
    above(lars_drop, 5 * slide_drop, "LARS's loss decrease / 5x the slide's")


def test_slide_ignores_momentum_reads_the_host_and_allocates(c):
    holds(c["momentum_same"] is True and c["momentum_same_text"] == "identical",
          "momentum 0.9 and 0.0 give identical weights")
    holds(c["slide_state_entries"] == 0, "the slide keeps no optimizer state")
    holds(c["slide_host_reads"] == 2 * c["tensor_count"], "two host reads per tensor per step")
    holds(c["lars_host_reads"] == 0, "lrnotes.LARS reads nothing on the host")
    holds(c["slide_new_storage"] == 1.0 and c["lars_new_storage"] == 0.0,
          "slide rebinds every parameter every step; LARS updates in place")
    holds("positional argument" in c["closure_error"], "step(closure) raises TypeError")


def test_slide_ratio_has_no_cap_and_lars_has(c):
    close(c["ratio_cap"], 0.001 / 5e-4, "cap = eta / beta")
    close(c["slide_ratio_growth"], 1 / c["smallest_scale"], "slide ratio ~ 1/||g||", rel=1e-6)
    above(c["slide_ratio_smallest"], 100 * c["ratio_cap"], "slide's ratio / 100x cap")
    below(c["lars_ratio_smallest"], c["ratio_cap"], "LARS ratio below the cap")
    above(c["lars_ratio_smallest"], 0.99 * c["ratio_cap"], "LARS ratio approaches the cap")


def test_from_scratch_algorithm_1_equals_lrnotes_lars(c):
    below(c["scratch_difference"], 1e-12, "scratch vs lrnotes.LARS")


def test_layers_need_different_steps(c):
    above(c["ratio_spread"], 1.5, "spread of ||w||/||g|| at the first step")
    above(c["late_ratio_spread_min"], 2, "spread of trust ratios at the end, every seed")
    above(c["late_ratio_spread_min"], c["first_ratio_spread_max"],
          "ratios drift apart: last spread vs first spread")


def test_trust_ratios_stay_below_the_cap(c):
    below(c["max_ratio"], c["ratio_cap"], "largest trust ratio recorded")
    holds(all(r > 0 for seed in c["final_ratios_small"] for r in seed), "ratios positive")


def test_linear_scaling_breaks_sgd_at_the_largest_batch_and_lars_keeps_training(c):
    holds(c["largest_batch"] == 1024 and c["smallest_batch"] == 32, "sweep ends")
    close(c["sgd_peak_lr"], 0.05 * 1024 / 32, "linearly scaled SGD rate")
    sgd, lars = c["sgd_accuracy"][-1], c["lars_accuracy"][-1]
    holds(len(sgd) == len(lars) == c["seeds"] >= 3, "three seeds or more")
    close(max(sgd), c["sgd_large_max"], "glued SGD max at the largest batch")
    close(min(lars), c["lars_large_min"], "glued LARS min at the largest batch")
    below(c["sgd_large_max"], 0.5, "SGD at batch 1024, best seed")
    above(c["lars_large_min"], 0.5, "LARS at batch 1024, worst seed")
    for s, (a, b) in enumerate(zip(lars, sgd, strict=True)):
        above(a - b, 0.3, f"LARS - SGD at batch 1024, seed {s}")


def test_sgd_is_better_at_the_smallest_batch_in_every_seed(c):
    sgd, lars = c["sgd_accuracy"][0], c["lars_accuracy"][0]
    close(min(a - b for a, b in zip(sgd, lars, strict=True)), c["small_gap_min"], "glued gap")
    above(c["sgd_small_min"], 0.85, "SGD at batch 32, worst seed")
    above(c["small_gap_min"], 0.02, "SGD - LARS at batch 32, smallest over seeds")


def test_solutions(c):
    below(c["no_warmup_sgd"], 0.5, "exercise 1: SGD without warmup at batch 1024")
    above(c["no_warmup_lars"], 0.5, "exercise 1: LARS without warmup at batch 1024")
    above(c["no_warmup_lars"] - c["no_warmup_sgd"], 0.3, "exercise 1: LARS - SGD, no warmup")
    holds(math.isclose(c["with_warmup_lars"], c["lars_accuracy"][-1][0]), "same run as the sweep")
    above(c["larc_small"], 0.5, "exercise 2: LARC trains at batch 32")
    above(c["larc_large"], 0.5, "exercise 2: LARC trains at batch 1024")


def test_the_prose_count_of_seeds_where_sgd_leads_agrees(c):
    sgd, lars = c["sgd_accuracy"][0], c["lars_accuracy"][0]
    leads = sum(a > b for a, b in zip(sgd, lars, strict=True))
    n = len(sgd)
    holds(c["sgd_small_leads_words"] == (f"all {n} seeds" if leads == n
                                         else f"{leads} of the {n} seeds"), "glued count")
