"""The sentence above each plot follows its data: built from small frames whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from webapp import findings


def _recall(simple_at_100: float) -> pd.DataFrame:
    rows = [
        ("SimpleRNN", 100, simple_at_100),
        ("SimpleRNN", 200, 0.51),
        ("LSTM", 100, 0.50),
        ("LSTM", 200, 0.51),
        ("LSTM (chrono init)", 100, 1.0),
        ("LSTM (chrono init)", 200, 1.0),
    ]
    return pd.DataFrame(rows, columns=["model", "T", "accuracy"]).assign(seeds="")


def test_recall_names_who_solves_the_longest_t_and_who_is_at_chance():
    sentence = findings.recall_finding(_recall(1.0))
    assert sentence.startswith("At T = 200, only LSTM (chrono init) recall the signal (100.0%)")
    assert "SimpleRNN and LSTM are at chance (51.0%)" in sentence


def test_the_simple_rnn_surprise_is_explained_only_when_it_happens():
    distractors = pd.DataFrame(
        [(100, "SimpleRNN", 1.0, 0.2), (100, "LSTM", 1.0, 1.5)], columns=["T", "model", "init", "trained"]
    )
    shrink = {"SimpleRNN": 0.98, "LSTM": 0.8}
    explanation = findings.recall_explanation(_recall(1.0), shrink, distractors)
    assert explanation.startswith("**Why does the SimpleRNN solve T = 100 where Keras's default LSTM stays at chance?")
    assert "0.980, against the LSTM's 0.800" in explanation
    assert f"{0.98**100:.2g} of an input's effect" in explanation and f"{0.8**100:.0e}" in explanation
    assert "shrank to 20.0% of the signal tokens' norm (the LSTM's 150.0%" in explanation
    assert "LSTM (chrono init) solve every T" in explanation
    assert findings.recall_explanation(_recall(0.6), shrink, distractors) == ""  # no surprise, no explanation


def test_adding_separates_the_solved_from_the_best_constant():
    frame = pd.DataFrame(
        [
            ("LSTM", 0, 100, np.log10(0.005)),
            ("LSTM", 1, 100, np.log10(0.002)),
            ("SimpleRNN", 0, 100, np.log10(0.16)),
            ("SimpleRNN", 1, 100, np.log10(0.15)),
        ],
        columns=["model", "seed", "updates", "log10 MSE"],
    )
    sentence = findings.adding_finding(frame, 0.161, 200)
    assert "At T = 200, LSTM solved it in every seed" in sentence
    assert "SimpleRNN ended at MSE 0.150 to 0.160, the best constant's is 0.161: it learned nothing" in sentence
    assert "no embedding can silence" in sentence


def test_distance_says_who_kept_the_review_and_who_followed_the_filler():
    frame = pd.DataFrame(
        [("LSTM", 400, 0.74, 0.72, 0.76), ("bag of embeddings", 400, 0.17, 0.15, 0.19), ("GRU", 400, 0.5, 0.45, 0.55)],
        columns=["model", "T", "accuracy", "ci_low", "ci_high"],
    )
    sentence = findings.distance_finding(frame)
    assert "LSTM 74.0%, GRU 50.0% and bag of embeddings 17.0%" in sentence
    assert "LSTM still follows the review read 400 tokens earlier" in sentence
    assert "Below 50%, bag of embeddings follows the filler" in sentence


def test_curves_find_where_validation_loss_turned_up():
    rows = []
    for epoch, (loss, accuracy) in enumerate([(0.6, 0.7), (0.4, 0.85), (0.5, 0.84)], start=1):
        rows += [("LSTM", epoch, "validation", accuracy, loss), ("GRU", epoch, "validation", accuracy, 1 / epoch)]
    frame = pd.DataFrame(rows, columns=["model", "epoch", "split", "accuracy", "loss"])
    sentence = findings.curves_finding(frame)
    assert "Validation loss turned up the LSTM's after epoch 2 (0.400, then 0.500 at epoch 3)" in sentence
    assert "the validation loss of GRU fell every epoch" in sentence
    assert "LSTM 85.0% (epoch 2)" in sentence


def test_length_says_where_intervals_are_apart_and_which_buckets_are_too_small():
    rows = [
        ("LSTM", "0-99", 0.90, 0.88, 0.92, 500),
        ("GRU", "0-99", 0.80, 0.78, 0.82, 500),
        ("LSTM", "100-199", 0.85, 0.80, 0.90, 500),
        ("GRU", "100-199", 0.84, 0.79, 0.89, 500),
        ("LSTM", "1000+", 0.9, 0.4, 0.99, 7),
        ("GRU", "1000+", 0.5, 0.2, 0.8, 7),
        ("Bag of n-grams (reference)", "0-99", 0.95, 0.93, 0.97, 500),
        ("Bag of n-grams (reference)", "100-199", 0.83, 0.78, 0.88, 500),
    ]
    frame = pd.DataFrame(rows, columns=["model", "words", "accuracy", "ci_low", "ci_high", "reviews"])
    sentence = findings.length_finding(frame, ["0-99", "100-199", "1000+"])
    assert "differs most on reviews of 0-99 words (LSTM 90.0%, GRU 80.0%)" in sentence  # not the 7-review bucket
    assert "apart in 0-99 words; in 100-199 they overlap" in sentence
    assert "(7 in 1000+)" in sentence
    assert "above every cell in 1 of 2" in sentence


def test_memory_gate_medians_come_from_the_histogram():
    frame = pd.DataFrame(
        [(0.25, 0.1, "LSTM forget gate"), (0.75, 0.9, "LSTM forget gate"), (0.25, 0.8, "GRU update gate")]
        + [(0.75, 0.2, "GRU update gate")],
        columns=["gate value", "share", "model"],
    )
    sentence = findings.memory_gate_finding(frame)
    assert "the LSTM forget gate's median is 0.75 and the GRU update gate's median is 0.25" in sentence
    assert "The LSTM forget gate keeps the most per word." in sentence


def test_the_compare_finding_says_where_each_model_ended_and_who_changed_its_mind():
    rows = [
        ["SimpleRNN", 1, "great", 0.7],
        ["SimpleRNN", 2, "but", 0.4],
        ["SimpleRNN", 3, "boring", 0.6],
        ["LSTM", 1, "great", 0.8],
        ["LSTM", 2, "but", 0.7],
        ["LSTM", 3, "boring", 0.2],
    ]
    sentence = findings.trajectory_finding(rows)
    assert sentence.startswith("After the last word P(positive) is the SimpleRNN at 0.60 and the LSTM at 0.20")
    assert "they disagree: the SimpleRNN calls it positive and the LSTM calls it negative" in sentence
    assert sentence.endswith("The SimpleRNN changed its mind most often (2 times), last at word 3 (“boring”).")
    agreed = findings.trajectory_finding([row for row in rows if row[0] == "LSTM"] + [["GRU", 1, "great", 0.3]])
    assert "both call it negative" in agreed and "The LSTM changed its mind most often (once), last at word 3" in agreed
    steady = findings.trajectory_finding([["GRU", 1, "great", 0.9], ["GRU", 2, "film", 0.95]])
    assert steady.endswith("it calls it positive. No model changed its mind after its first word.")
    assert findings.trajectory_finding([]) == ""
