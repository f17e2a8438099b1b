"""Pure NumPy metrics: overall accuracy, accuracy by review length, intervals.

Nothing here touches a model: every function takes predicted probabilities,
labels and review lengths as arrays, so the figures are easy to test and to
recompute from saved predictions.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from sentiment.config import LENGTH_BUCKET_EDGES

_Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(correct: int, total: int, z: float = _Z_95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion.

    Unlike the normal approximation it stays inside [0, 1] and behaves for
    small buckets and accuracies near 100%.

    Returns:
        (low, high); (0.0, 1.0) when `total` is 0.
    """
    if total == 0:
        return 0.0, 1.0
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def mcnemar_p_value(only_first_right: int, only_second_right: int) -> float:
    """Two-sided exact McNemar test of two classifiers scored on the same reviews.

    Only the reviews where exactly one of the two is right say which is
    better; if both were equally good, each such review would be the first
    one's with probability 1/2. The p-value is the two-sided binomial tail
    of the smaller count (exact: Python integers, no normal approximation).
    Two intervals that overlap can still hide a difference this test finds,
    because it pairs the reviews.
    """
    disagreements = only_first_right + only_second_right
    if disagreements == 0:
        return 1.0
    tail = sum(math.comb(disagreements, k) for k in range(min(only_first_right, only_second_right) + 1))
    return min(1.0, float(Fraction(2 * tail, 2**disagreements)))


def binary_cross_entropy(probabilities: np.ndarray, labels: np.ndarray, epsilon: float = 1e-7) -> float:
    """Mean log loss, with probabilities clipped as Keras clips them."""
    p = np.clip(np.asarray(probabilities, np.float64), epsilon, 1 - epsilon)
    y = np.asarray(labels, np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def categorical_cross_entropy(probabilities: np.ndarray, labels: np.ndarray, epsilon: float = 1e-7) -> float:
    """Mean log loss of <float>[n, classes] probabilities for <int>[n] class ids."""
    p = np.clip(np.asarray(probabilities, np.float64), epsilon, 1 - epsilon)
    return float(-np.mean(np.log(p[np.arange(len(p)), np.asarray(labels, np.int64)])))


def _accuracy_summary(correct: np.ndarray) -> dict[str, Any]:
    total, hits = int(correct.size), int(correct.sum())
    low, high = wilson_interval(hits, total)
    return {
        "count": total,
        "accuracy": hits / total if total else None,
        "ci_low": low,
        "ci_high": high,
    }


def bucket_label(low: int, high: float) -> str:
    return f"{low}+" if math.isinf(high) else f"{low}-{int(high) - 1}"


def accuracy_by_length(
    correct: np.ndarray,
    word_counts: np.ndarray,
    edges: tuple[int, ...] = LENGTH_BUCKET_EDGES,
) -> list[dict[str, Any]]:
    """Accuracy per review-length bucket with counts and 95% Wilson intervals.

    Args:
        correct: <bool>[n], whether each prediction was right.
        word_counts: <int>[n], review length in words before truncation.
        edges: ascending lower bounds; bucket i is [edges[i], edges[i+1]),
            and the last is open-ended.

    Returns:
        One dict per bucket: `bucket` ("100-199"), `min_words`, `max_words`
        (None for the last), `count`, `accuracy` (None if empty), `ci_low`,
        `ci_high`.
    """
    correct = np.asarray(correct, bool)
    word_counts = np.asarray(word_counts)
    uppers = list(edges[1:]) + [math.inf]
    buckets = []
    for low, high in zip(edges, uppers):
        in_bucket = (word_counts >= low) & (word_counts < high)
        buckets.append(
            {
                "bucket": bucket_label(low, high),
                "min_words": int(low),
                "max_words": None if math.isinf(high) else int(high) - 1,
                **_accuracy_summary(correct[in_bucket]),
            }
        )
    return buckets


def evaluate_predictions(
    probabilities: np.ndarray,
    labels: np.ndarray,
    word_counts: np.ndarray,
    sequence_length: int,
) -> dict[str, Any]:
    """Every test-set figure stored in metrics.json.

    Args:
        probabilities: <float>[n] P(positive), or <float>[n, classes] class
            probabilities for more than two classes.
        labels: <int>[n] 1 = positive, or the class id.
        word_counts: <int>[n] review length in words before truncation.
        sequence_length: tokens the model saw; longer reviews were truncated.

    Returns:
        `accuracy`, `loss`, `count`, `ci_low`/`ci_high`, `by_length` (see
        `accuracy_by_length`) and `by_truncation` ({"truncated": ...,
        "not_truncated": ...}, each with count, accuracy and interval).
    """
    probabilities = np.asarray(probabilities, np.float64)
    multi_class = probabilities.ndim == 2 and probabilities.shape[1] > 2
    if not multi_class:
        probabilities = probabilities.reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    word_counts = np.asarray(word_counts).reshape(-1)
    if not (len(probabilities) == len(labels) == len(word_counts)):
        raise ValueError(
            f"lengths differ: {len(probabilities)} probabilities, {len(labels)} labels, {len(word_counts)} word counts"
        )
    if multi_class:
        correct = probabilities.argmax(axis=1) == labels
        loss = categorical_cross_entropy(probabilities, labels)
    else:
        correct = (probabilities >= 0.5) == (labels == 1)
        loss = binary_cross_entropy(probabilities, labels)
    truncated = word_counts > sequence_length
    overall = _accuracy_summary(correct)
    return {
        **overall,
        "loss": loss,
        "by_length": accuracy_by_length(correct, word_counts),
        "by_truncation": {
            "sequence_length": sequence_length,
            "truncated": _accuracy_summary(correct[truncated]),
            "not_truncated": _accuracy_summary(correct[~truncated]),
        },
    }
