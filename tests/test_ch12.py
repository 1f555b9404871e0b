"""Chapter 12's claims, read from the executed chapter (quick profile); and its full profile,
IMDB, run end to end on tiny files in aclImdb's real on-disk layout, so that a reader's GPU run
goes down a path the tests have run.

Margins measured with ``scripts/claims_margins.py --chapters 12 --seeds 0 1 2 --threads 1 2``
(benchmarks/results/claims_margins/12_sentiment_analysis.json): every claim holds in all six
variants (SEED 0, 1, 2 x OMP_NUM_THREADS 1, 2; worst margins: accuracy above chance 2.38,
cut-short rate 1.64).
Run with OMP_WAIT_POLICY=PASSIVE on a shared 2-core machine (it changes no number, only
how idle threads wait)."""

import math

import numpy as np
import pytest
from margins import above, below, close, holds
from notebooks import run_chapter
from test_data import IMDB_FILES

CH = "12_sentiment_analysis"


def test_the_slide_fails_at_its_torchtext_import(c):
    holds(c["slide_error"] == "ModuleNotFoundError: No module named 'torchtext'",
          "torchtext is gone")


def test_the_slides_copy_tokenizes_label_text_pairs(c):
    holds(c["copy_line_text"].startswith("vocab = build_vocab_from_iterator(map(tokenizer, "
                                         "train_iter)"), "fails at the vocabulary")
    holds("tuple" in c["copy_error"], "the tokenizer got a (label, text) pair")
    holds(c["fixed_error"] == "None", "tokenizing the texts, the slide runs to its end")


def test_one_cycle_overrides_adams_lr_and_the_loop_trains_nothing(c):
    close(c["slide_adam_lr"], 0.001, "the slide's Adam lr")
    close(c["slide_initial_lr"], 0.01 / 25, "OneCycleLR starts at max_lr / 25")
    close(c["slide_max_lr"], 0.01, "and peaks at max_lr")
    below(c["slide_last_lr"], 1e-6, "ends near zero")
    holds(c["slide_steps_taken"] == 1000, "1000 scheduler steps")
    holds(c["slide_params_with_grad"] == 0 and c["slide_adam_states"] == 0,
          "no gradient, no Adam state: nothing trained")
    holds(c["slide_params"] == 7, "embedding, 4 LSTM tensors, fc weight and bias")


def test_the_one_logit_head_needs_a_binary_loss(c):
    holds(c["slide_head_outputs"] == 1 and c["slide_logits_shape"] == "(4, 1)", "one logit")
    above(c["bce_loss"], 0.0, "BCEWithLogitsLoss is a real loss")
    holds(c["ce_outcome"].startswith("IndexError: Target 1 is out of bounds"),
          "CrossEntropyLoss with label 1 fails")
    close(c["ce_all_zero_labels"], 0.0, "CrossEntropyLoss over one logit is 0", abs=1e-7)


def test_squeeze_0_assumes_one_lstm_layer(c):
    holds(c["two_layer_shape"] == "(2, 4, 1)", "two layers: a prediction per layer")
    holds(c["two_layer_fixed_shape"] == "(4, 1)", "hidden[-1]")


def test_page_says_which_profile_made_it(c):
    holds((c["profile"], c["dataset"]) == ("quick", "UCI sentences"), "quick profile")
    holds((c["train_size"], c["val_size"]) == (2400, 600), "sizes")
    close(c["val_positive"], 0.5, "balanced validation set")
    holds(c["total_steps"] == c["epochs"] * c["steps_per_epoch"], "total steps")


def test_packing_makes_padding_invisible_and_without_it_padding_matters(c):
    holds(c["pad_len"] > c["short_len"], "the short text is padded")
    below(c["packed_gap"], 1e-5, "packed: the same logits")
    above(c["unpacked_gap"], 1e-2, "unpacked: different logits")
    n = c["short_len"]
    holds(c["short_len_words"] == f"{n} token{'s' if n != 1 else ''}", "plural")


def test_total_steps_from_the_loader_runs_the_whole_cycle(c):
    holds(c["right_error"] == "None", "no error")
    close(c["right_last_lr"], 1e-2 / 25 / 1e4, "ends at max_lr / 25e4", rel=1e-6)
    holds(c["run_steps"] == {"constant": c["total_steps"], "one_cycle": c["total_steps"]},
          "both runs their length")
    close(c["one_cycle_last_lr"], c["right_last_lr"], "the run ends there too", rel=1e-6)


def test_hard_coded_total_steps_cuts_short_or_raises(c):
    holds(c["short_updates"] == c["short_epochs"] * c["steps_per_epoch"] < 1000, "short run")
    above(c["cut_last_fraction"], 0.5, "cut short: the rate still above half its peak")
    holds(c["long_updates"] == c["long_epochs"] * c["steps_per_epoch"] > 1000, "long run")
    holds(c["crash_updates"] == 1001, "raises at update 1001")
    holds("total steps is 1000" in c["crash_error"], "torch's message")
    for key in ("short_epochs", "long_epochs"):
        n = c[key]
        holds(c[f"{key}_words"] == f"{n} epoch{'s' if n != 1 else ''}", "plural")


def test_lrnotes_one_cycle_equals_torch(c):
    close(c["max_abs_difference"], 0.0, "lrnotes one_cycle = OneCycleLR", abs=1e-12)


def test_both_runs_are_far_above_chance_on_every_seed(c):
    holds(set(c["final_accs"]) == {"constant", "one_cycle"}, "two runs")
    accs = [a for runs in c["final_accs"].values() for a in runs]
    holds(len(accs) == 2 * c["n_seeds"] and c["n_seeds"] >= 3, "every seed")
    close(c["min_acc"], min(accs), "glued min")
    above(c["min_acc"] - 0.5, 0.1, "lowest final accuracy above chance / 10 points")


def test_the_gap_is_reported_seed_by_seed(c):
    gaps = np.array(c["final_accs"]["one_cycle"]) - np.array(c["final_accs"]["constant"])
    close(c["gap_min"], gaps.min(), "glued min gap", abs=1e-12)
    close(c["gap_max"], gaps.max(), "glued max gap", abs=1e-12)
    ahead = int(np.sum(gaps < 0))
    holds(c["constant_ahead"] == ahead, "glued count")
    words = f"all {len(gaps)} seeds" if ahead == len(gaps) else f"{ahead} of the {len(gaps)} seeds"
    holds(c["constant_ahead_words"] == words, "glued words")
    means = c["final_acc"]
    close(c["acc_gap"], abs(means["one_cycle"] - means["constant"]), "glued gap of the means")
    spread = max(max(a) - min(a) for a in c["final_accs"].values())
    close(c["seed_spread"], spread, "glued spread")


def test_solutions(c):
    drops = {k: c["final_accs"][k][0] - c["low_lr_acc"][k] for k in ("constant", "one_cycle")}
    for key, drop in drops.items():
        close(c["low_lr_drop"][key], drop, f"glued drop {key}", abs=1e-12)
    names = {"constant": "constant lr", "one_cycle": "one-cycle"}
    holds(c["low_lr_more_hurt"] == names[max(drops, key=drops.get)], "glued word")
    close(c["lstm_params_ratio"], 2.0, "a bidirectional LSTM has twice the weights")
    holds(c["params_bi"] > c["params_uni"], "more parameters")
    holds(0.0 <= c["bi_acc"] <= 1.0, "an accuracy")


# --- the full profile on tiny data --------------------------------------------------------

FULL = {"PROFILE": "full", "FULL_EPOCHS": 2, "FULL_BATCH_SIZE": 2, "FULL_WIDTH": 8,
        "MIN_FREQ": 1}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """Run the chapter with PROFILE="full" on five train and five test reviews written as
    aclImdb/{train,test}/{pos,neg}/*.txt, found through the DATA_DIR parameter."""
    data = tmp_path_factory.mktemp("lrnotes_data")
    for name, text in IMDB_FILES.items():
        path = data / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return run_chapter(f"{CH}.ipynb", tmp_path_factory.mktemp(CH),
                       parameters={**FULL, "DATA_DIR": str(data)})


def test_full_profile_reads_the_imdb_folders(full):
    assert (full["profile"], full["dataset"]) == ("full", "IMDB")
    assert (full["train_size"], full["val_size"]) == (5, 5)
    assert full["steps_per_epoch"] == math.ceil(5 / FULL["FULL_BATCH_SIZE"])
    assert full["total_steps"] == FULL["FULL_EPOCHS"] * full["steps_per_epoch"]


def test_full_profile_trains_both_runs_to_the_end(full):
    assert full["run_steps"] == {"constant": full["total_steps"], "one_cycle": full["total_steps"]}
    for key in ("constant", "one_cycle"):
        assert 0.0 <= full["final_acc"][key] <= 1.0
        assert math.isfinite(full["final_loss"][key])
    assert full["packed_gap"] < 1e-5
    assert full["max_abs_difference"] < 1e-12
    assert full["crash_updates"] == 1001


def test_the_slide_stops_at_its_second_code_line_the_first_torchtext_import(c):
    holds(c["slide_error_code_line"] == 2, "code line 2 (line 1 imports torch.nn)")
    holds(c["slide_error_line"] == "from torchtext.datasets import IMDB", "the failing line")
