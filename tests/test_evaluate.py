import numpy as np
import pytest

from sentiment.evaluate import accuracy_by_length, binary_cross_entropy, evaluate_predictions, wilson_interval


def test_wilson_interval_matches_reference_values():
    # Reference: Wilson (1927) score interval, 95%; e.g. 8/10 -> (0.4902, 0.9433).
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and 0.69 < low < 0.73


def test_accuracy_by_length_buckets_counts_and_accuracy():
    word_counts = np.array([5, 50, 150, 150, 250, 2000])
    correct = np.array([True, False, True, True, False, True])
    buckets = accuracy_by_length(correct, word_counts, edges=(0, 100, 200, 300))
    assert [b["bucket"] for b in buckets] == ["0-99", "100-199", "200-299", "300+"]
    assert [b["count"] for b in buckets] == [2, 2, 1, 1]
    assert [b["accuracy"] for b in buckets] == [0.5, 1.0, 0.0, 1.0]
    assert buckets[3]["max_words"] is None and buckets[0]["max_words"] == 99


def test_empty_bucket_has_no_accuracy():
    buckets = accuracy_by_length(np.array([True]), np.array([10]), edges=(0, 100))
    assert buckets[1] == {
        "bucket": "100+",
        "min_words": 100,
        "max_words": None,
        "count": 0,
        "accuracy": None,
        "ci_low": 0.0,
        "ci_high": 1.0,
    }


def test_evaluate_predictions_splits_truncated_reviews():
    probabilities = np.array([0.9, 0.2, 0.6, 0.4])
    labels = np.array([1, 0, 0, 1])
    metrics = evaluate_predictions(probabilities, labels, np.array([10, 10, 300, 400]), sequence_length=256)
    assert metrics["accuracy"] == 0.5 and metrics["count"] == 4
    assert metrics["by_truncation"]["not_truncated"]["accuracy"] == 1.0
    assert metrics["by_truncation"]["truncated"]["accuracy"] == 0.0
    assert metrics["loss"] == pytest.approx(binary_cross_entropy(probabilities, labels))


def test_binary_cross_entropy_matches_keras():
    import keras

    probabilities = np.array([0.9, 0.2, 0.6, 1.0], np.float32)
    labels = np.array([1, 0, 0, 1], np.float32)
    expected = float(keras.losses.BinaryCrossentropy()(labels, probabilities))
    assert binary_cross_entropy(probabilities, labels) == pytest.approx(expected, rel=1e-5)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="lengths differ"):
        evaluate_predictions(np.zeros(3), np.zeros(2), np.zeros(3), 8)


def test_multi_class_predictions_are_scored_by_their_likeliest_class():
    probabilities = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.2, 0.6, 0.1], [0.25, 0.25, 0.2, 0.3]])
    result = evaluate_predictions(probabilities, np.array([0, 1, 3]), np.array([5, 150, 600]), sequence_length=400)
    assert result["count"] == 3 and result["accuracy"] == pytest.approx(2 / 3)
    assert result["loss"] == pytest.approx(-np.mean(np.log([0.7, 0.2, 0.3])))
    assert [bucket["count"] for bucket in result["by_length"] if bucket["count"]] == [1, 1, 1]
    assert (
        result["by_truncation"]["truncated"]["accuracy"] == 1.0
        and result["by_truncation"]["not_truncated"]["accuracy"] == 0.5
    )
