"""Chapter 14's claims (TensorBoard), read from the executed chapter.

The talk's slide 14 is run as given with a stand-in `trainloader`; its event files are read
back. Checked under SEED in {0, 1, 2} x OMP_NUM_THREADS in {1, 2} (papermill, quick
profile); the margins are in benchmarks/results/claims_margins/14_tensorboard.json.
"""

import math

import numpy as np
from margins import above, below, close, holds

CH = "14_tensorboard"


def test_slide_logs_a_learning_rate_that_never_changes(c):
    holds(c["slide_tags"] == ["learning rate", "training loss"], "the slide's two tags")
    holds(c["slide_points"] == 100, "one point per epoch, 100 epochs")
    holds(c["slide_lr_distinct"] == 1, "one distinct lr in the slide's log")
    close(c["slide_lr"], 0.01, "the slide's lr, float32", rel=1e-7)
    below(c["slide_loss_last"], c["slide_loss_first"] / 10, "slide's last / first epoch loss")


def test_slide_11_cifar_batches_do_not_fit_the_slide_model(c):
    holds("mat1 and mat2 shapes cannot be multiplied" in c["cifar_error"]
          and "10x5" in c["cifar_error"], "a CIFAR-10 batch stops Linear(10, 5)")


def test_event_files_hold_what_history_recorded(c):
    holds(c["mismatches"] == 0, "every tag of every run equals History in float32")
    holds(c["runs"] == 2 * c["seeds"] and c["seeds"] >= 3, "two configurations x seeds")
    below(c["relative_difference"], 2.0**-23, "largest relative difference vs float64")


def test_loss_and_lr_read_back_equal_history_in_float32(c):
    for history, tensorboard in (("history_loss", "tensorboard_loss"),
                                 ("history_lr_head", "tensorboard_lr_head")):
        want = np.asarray(c[history], dtype=np.float64).astype(np.float32)
        got = np.asarray(c[tensorboard], dtype=np.float64).astype(np.float32)
        holds(len(want) == c["updates"], f"{history}: one point per update")
        holds(np.array_equal(got, want), f"{tensorboard} == {history} in float32")


def test_every_tag_fit_promises_is_written(c):
    groups = ["head", "hidden"]
    epoch_keys = ["train_loss", "val_loss", "train_acc", "val_acc", "seconds"]
    expected = ({f"lr/{g}" for g in groups} | {"train/loss", "train/grad_norm"}
                | {f"epoch/{k}" for k in epoch_keys} | {f"epoch/lr/{g}" for g in groups})
    holds(set(c["tags"]) == expected and c["tag_count"] == len(expected), "fit's tags")


def test_one_point_per_update(c):
    holds(c["steps_per_epoch"] == math.ceil(1437 / 64), "updates per epoch")
    holds(c["updates"] == c["epochs"] * c["steps_per_epoch"], "updates per run")


def test_group_rates_keep_their_ratio_under_the_schedule(c):
    ratios = np.asarray(c["lr_ratio"])
    below(np.abs(ratios / c["group_ratio"] - 1).max(), 1e-12, "lr ratio of the two groups")


def test_seed_comparison_is_read_from_the_event_files(c):
    final = {k: np.asarray(v) for k, v in c["final_val_loss"].items()}
    holds(all(len(v) == c["seeds"] for v in final.values()), "one final loss per seed")
    holds(c["cosine_lower_in"] == int(np.sum(final["warmup_cosine"] < final["constant"])),
          "glued count")
    means = [v.mean() for v in final.values()]
    close(c["mean_gap"], abs(means[0] - means[1]) / min(means), "glued gap")
    below(c["mean_gap"], 0.25, "means of the two configurations within 25% of each other")
    above(c["acc_min"], 0.85, "every run trains")


def test_graph_holds_the_slide_model(c):
    holds(c["graph_ops"] == ["aten::linear", "aten::relu", "aten::linear"], "graph operations")
    holds(c["graph_shapes"] == [[4, 5], [4, 5], [4, 1]], "graph output shapes")


def test_temporary_logs_are_removed(c):
    holds(c["logdir_removed"] is True, "no files left behind")


def test_solutions(c):
    holds(c["histogram_tags"] == c["parameter_names"], "one histogram per parameter")
    holds(c["histograms_in_scalars"] is False, "read_tensorboard returns no histograms")
    above(c["clipped_above"], 0.05, "logged norms above max_norm with clip=0.5")


def test_the_glued_verdict_on_warmup_cosine_follows_the_count(c):
    all_lower = c["cosine_lower_in"] == c["seeds"]
    holds(c["cosine_verdict"].startswith("the warmup and the decay end lower") == all_lower,
          "the verdict claims a gain only where warmup-cosine ends lower on all seeds")
