"""Gradient flow: how much the loss still depends on each word of a review.

For a trained classifier (token ids -> embedding and padding mask ->
recurrent layer(s) -> a logit from the final state or from a pooling of
every state -> sigmoid) and a review, we measure at every time step t the L2
norm of the gradient of the loss with respect to the embedded input e_t,

    g_t = || d loss / d e_t ||_2,

the signal that training sends back to the word t. A plain RNN multiplies it
by one Jacobian per step it travels back, so for words far from the end it
tends to shrink geometrically (the vanishing gradient); the LSTM's additive
cell state and the GRU's update gate can let it pass. On a trained model the
curve also shows what the model learned to ignore (a gate that closes on
words that do not matter cuts their gradient too), so the pages print the
measured ratios rather than a verdict, and the long-range benchmark
(`sentiment.analysis.longrange`), where distance is the only variable, is the
controlled test.

The model is split where it is built in two (`sentiment.models`): its
encoder embeds the words and gives the padding mask, the embedded words are
watched, and its head maps them and the mask to the logit (stacked,
bidirectional and pooled models alike), skipping the padding exactly as
`model(ids)` does, whose output is the sigmoid of that logit (checked once
per model).
The loss is binary cross-entropy, differentiated from the head's logit
(d loss / d logit = P - y, never from the clipped probability), so a
confidently right review still gets its small but nonzero gradient.
Everything here is deterministic: no dropout (`training=False`), no sampling.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sentiment import data, models
from sentiment.errors import SentimentError
from sentiment.io import provenance
from sentiment.io.artifacts import Artifact, require_binary

# Distances (steps before the final token) quoted in the Markdown table.
TABLE_DISTANCES = (0, 1, 5, 10, 25, 50, 100, 200, 400)
# TensorFlow flushes float32 values below this to zero on CPUs; a norm that
# small is counted as this value when averaging logarithms.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)


# One traced function per model, reused across calls (the app scores one
# review per request); weak keys let a model and its graph be freed together.
_GRADIENT_FUNCTIONS: weakref.WeakKeyDictionary[keras.Model, tuple[Callable, Callable]] = weakref.WeakKeyDictionary()


def _traced_functions(model: keras.Model) -> tuple[Callable, Callable]:
    """The model's traced gradient function and its traced forward pass.

    `gradients(ids, targets)` returns (norms <float64>[batch, time],
    P(positive) <float32>[batch]) from the model split at its embedding; a
    target of -1 stands for the model's own decision (P >= 0.5).
    `forward(ids)` is `model(ids)` itself, to check the split against.
    """
    if model in _GRADIENT_FUNCTIONS:
        return _GRADIENT_FUNCTIONS[model]
    try:
        encoder, head = models.encoder(model), models.head(model)
    except ValueError as error:
        raise SentimentError(f"{error}; gradient flow needs token ids -> encoder -> head") from None
    if model.output.shape[-1] != 1:
        raise SentimentError(
            f"{model.name} does not end in a sigmoid of one logit; gradient flow needs P(positive) from a logit"
        )

    # One trace for every batch size and review length: no request retraces.
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.float32)])
    def gradients(ids: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        embedded, mask = encoder(ids, training=False)
        with tf.GradientTape() as tape:
            tape.watch(embedded)
            logits = head([embedded, mask], training=False)[:, 0]
        targets = tf.where(targets < 0.0, tf.cast(logits >= 0.0, tf.float32), targets)
        # d loss / d logit = P - y, written as sigmoid(+-logit) so that a
        # confident review keeps its tiny value (1 - P rounds to 0 in
        # float32, and Grappler's rewrite of the fused loss flushes it too).
        # One loss per review: each review's gradient is its own loss's.
        loss_by_logit = (1.0 - targets) * tf.sigmoid(logits) - targets * tf.sigmoid(-logits)
        gradient = tape.gradient(logits, embedded, output_gradients=loss_by_logit)
        # In float64: squaring float32 components below 1e-19 would underflow.
        norms = tf.norm(tf.cast(gradient, tf.float64), axis=-1)
        return norms, tf.sigmoid(logits)

    model_reference = weakref.ref(model)  # a strong one would keep the weak key alive forever
    forward = tf.function(
        lambda ids: model_reference()(ids, training=False)[:, 0],
        input_signature=[tf.TensorSpec([None, None], tf.int32)],
    )
    _GRADIENT_FUNCTIONS[model] = (gradients, forward)
    return gradients, forward


# Model -> why its split at the embedding cannot stand for it ("" when it can):
# checked once per model, not on every request (a failing trace is not cached).
_SPLIT_CHECKED: weakref.WeakKeyDictionary[keras.Model, str] = weakref.WeakKeyDictionary()


def _split_problem(
    model: keras.Model, gradients: Callable, forward: Callable, ids: tf.Tensor, targets: tf.Tensor
) -> str:
    """ "" when the sigmoid of the head's logit reproduces `model(ids)`; otherwise a message saying why not."""
    _, probabilities = gradients(ids, targets)
    if not np.allclose(probabilities.numpy(), forward(ids).numpy(), atol=1e-5):
        return (
            f"{model.name}: the sigmoid of its head's logit does not reproduce its predictions, "
            "so its gradient by word is not computed here"
        )
    return ""


def embedding_gradient_norms(
    model: keras.Model,
    token_ids: np.ndarray,
    labels: np.ndarray | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """The norm of d loss / d embedded input at every step of every review.

    Args:
        model: a classifier from `sentiment.models.build_classifier` (or its
            saved artifact): token ids -> P(positive).
        token_ids: <int>[batch, time], right-padded with 0.
        labels: <int>[batch] true labels (1 = positive); None uses the
            model's own decision (P >= 0.5), i.e. the gradient that would
            reinforce what it predicted, for reviews without a label.
        batch_size: reviews per gradient computation (memory, not results).

    Returns:
        <float64>[batch, time] gradient norms; NaN at padding steps, which
        are excluded from the computation and carry no gradient.

    Raises:
        SentimentError: the model is not a binary `build_classifier`
            model, or the sigmoid of its head's logit does not reproduce
            `model(ids)`.
    """
    return _norms_and_probabilities(model, token_ids, labels, batch_size)[0]


def _norms_and_probabilities(
    model: keras.Model, token_ids: np.ndarray, labels: np.ndarray | None, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """`embedding_gradient_norms`, plus <float32>[batch] P(positive) from the same pass."""
    token_ids = np.asarray(token_ids)
    gradients, forward = _traced_functions(model)
    rows, probabilities = [], []
    for start in range(0, len(token_ids), batch_size):
        ids = tf.constant(token_ids[start : start + batch_size], tf.int32)
        # -1 asks for the model's own decision; one signature, one trace.
        targets = (
            tf.fill([ids.shape[0]], -1.0)
            if labels is None
            else tf.constant(np.asarray(labels[start : start + batch_size]), tf.float32)
        )
        if model not in _SPLIT_CHECKED:
            _SPLIT_CHECKED[model] = _split_problem(model, gradients, forward, ids, targets)
        if _SPLIT_CHECKED[model]:
            raise SentimentError(_SPLIT_CHECKED[model])
        norms, batch_probabilities = gradients(ids, targets)
        rows.append(norms.numpy())
        probabilities.append(batch_probabilities.numpy())
    if not rows:
        return np.zeros(token_ids.shape, np.float64), np.zeros(0, np.float32)
    norms = np.concatenate(rows)
    norms[token_ids == data.PADDING_ID] = np.nan
    return norms, np.concatenate(probabilities)


def align_to_end(values: np.ndarray, token_ids: np.ndarray) -> np.ndarray:
    """Re-indexes per-step values by distance from each review's final token.

    Args:
        values: <float>[batch, time] per-step values.
        token_ids: <int>[batch, time], right-padded with 0.

    Returns:
        <float64>[batch, time]: column d holds the value d steps before the
        review's final real token; NaN where the review is shorter than d + 1.
    """
    values = np.asarray(values, np.float64)
    lengths = np.sum(np.asarray(token_ids) != data.PADDING_ID, axis=1)
    time = values.shape[1]
    distance = np.arange(time)
    positions = lengths[:, None] - 1 - distance[None, :]
    aligned = np.take_along_axis(values, np.clip(positions, 0, time - 1), axis=1)
    aligned[positions < 0] = np.nan
    return aligned


def average_by_distance(norms: np.ndarray, token_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Averages gradient norms over reviews, aligned at the final token.

    The head reads the state after the final token, so "d steps before the
    end" is the distance the gradient travels. Norms span orders of
    magnitude, so the average is geometric (the mean of logarithms); norms
    that underflowed to zero count as `FLOAT32_TINY`.

    Args:
        norms: <float>[batch, time] from `embedding_gradient_norms`.
        token_ids: <int>[batch, time] the same reviews' ids.

    Returns:
        `geometric_mean` and `median`: <float64>[time], index d = d steps
        before the final token, NaN where no review is that long;
        `count`: <int64>[time] reviews that reach that far;
        `zero_count`: <int64>[time] of those whose norm underflowed to zero.
    """
    aligned = align_to_end(norms, token_ids)
    present = np.isfinite(aligned)
    count = present.sum(axis=0)
    logs = np.log(np.maximum(np.where(present, aligned, 1.0), FLOAT32_TINY))
    with np.errstate(invalid="ignore", divide="ignore"):
        geometric_mean = np.exp(np.where(present, logs, 0.0).sum(axis=0) / count)
    median = np.full(aligned.shape[1], np.nan)
    for distance in np.flatnonzero(count):
        median[distance] = np.median(aligned[present[:, distance], distance])
    return {
        "geometric_mean": np.where(count > 0, geometric_mean, np.nan),
        "median": median,
        "count": count.astype(np.int64),
        "zero_count": (present & (aligned == 0)).sum(axis=0).astype(np.int64),
    }


def share_per_review(norms: np.ndarray) -> np.ndarray:
    """Each review's norms as shares of its own total: what its decision depends on, word by word.

    A review's gradient norms all scale with its error (P - y) and with how
    sensitive the model is overall; dividing by the review's own sum removes
    both, so reviews can be averaged without the confidently right ones (tiny
    norms everywhere) or the badly wrong ones (large norms) dominating.

    Args:
        norms: <float>[batch, time], NaN at padding.

    Returns:
        <float64>[batch, time]: each row sums to 1 over its real tokens
        (all-zero rows stay zero); NaN at padding.
    """
    norms = np.asarray(norms, np.float64)
    totals = np.nansum(norms, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, norms / np.where(totals > 0, totals, 1.0), norms)


def review_gradient_norms(artifact: Artifact, text: str) -> dict[str, Any]:
    """Gradient norms for one review, word by word, for display.

    Args:
        artifact: a loaded artifact folder.
        text: raw review text (truncated and vectorized as in training).

    Returns:
        `tokens` (the words the model saw, [UNK] for unknown ones),
        `norms` <float64>[length] in reading order, `by_distance`
        <float64>[length] the same reversed (index d = d steps before the
        final token), `share_by_distance` (the same as shares of their sum,
        see `share_per_review`), `probability` P(positive), and `label`
        (the model's decision, used as the loss target).
    """
    return review_gradient_norms_many(artifact, [text])[0]


def review_gradient_norms_many(artifact: Artifact, texts: Sequence[str]) -> list[dict[str, Any]]:
    """`review_gradient_norms` of several reviews, from one gradient pass over them all.

    Each review's loss is its own and the padding is masked, so every result
    equals its review's alone (to float32 rounding).
    """
    if len(texts) == 0:
        return []
    ids = artifact.encoder.encode(list(texts))
    norms, probabilities = _norms_and_probabilities(artifact.model, ids, None)
    results = []
    for row, review_norms, probability in zip(ids, norms, probabilities):
        length = data.review_length(row)
        review_norms, probability = review_norms[:length], float(probability)
        results.append(
            {
                "tokens": [artifact.vocabulary[i] for i in row[:length]],
                "norms": review_norms,
                "by_distance": review_norms[::-1].copy(),
                "share_by_distance": share_per_review(review_norms[None, :])[0, ::-1].copy(),
                "probability": probability,
                "label": int(probability >= 0.5),
            }
        )
    return results


def sample_test_reviews(artifact: Artifact, sample_size: int, seed: int) -> data.Reviews:
    """A seeded sample of the test split of the data the artifact was trained on (never train or validation).

    In memory (IMDB, an aclImdb folder, a CSV): the split `data.load_splits`
    makes with the artifact's own seed. Streamed (`DataConfig.dataset`): the
    first `sample_size` reviews of its test split in a seeded shuffle.
    """
    config = artifact.config.data
    if config.dataset is not None:
        stream = data.open_stream(config)
        texts, labels = [], []
        for text, label in data.stream_reviews(stream, "test", shuffle_seed=seed).take(sample_size).as_numpy_iterator():
            texts.append(text.decode("utf-8", errors="replace"))
            labels.append(int(label))
        return data.Reviews(np.array(texts, dtype=object), np.array(labels, np.int32))
    splits = data.load_splits(config, artifact.config.train.seed)
    order = np.random.default_rng(seed).permutation(len(splits.test))[:sample_size]
    return splits.test.take(np.sort(order))


def gradient_flow(
    artifacts_by_cell: dict[str, Artifact],
    sample_size: int,
    seed: int = 0,
    text: str | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Gradient flow for each model: averaged over test reviews, and for `text`.

    Args:
        artifacts_by_cell: loaded artifacts by cell type, from one training run.
        sample_size: test reviews to average over (0 for none).
        seed: picks the sample.
        text: an optional review to show step by step.
        command: the command line, recorded with the figures.

    Returns:
        A JSON-ready dict: per cell, `average` (lists from
        `average_by_distance`, the sample's true labels as loss targets),
        `decision` (the same of each review's shares, `share_per_review`:
        what the decisions depend on, word by word) and, with `text`,
        `review` (from `review_gradient_norms`).
    """
    sample_cache: dict[str, data.Reviews] = {}
    cells: dict[str, Any] = {}
    for artifact in artifacts_by_cell.values():
        require_binary(artifact, "the gradient-flow measurement")
    for cell_type, artifact in artifacts_by_cell.items():
        entry: dict[str, Any] = {
            "artifact": str(artifact.folder),
            # Which training run the curves describe.
            "trained_at": artifact.metrics.get("finished_at"),
            "test_accuracy": artifact.metrics.get("test", {}).get("accuracy"),
            "sequence_length": artifact.config.data.sequence_length,
        }
        if sample_size > 0:
            key = repr((artifact.config.data, artifact.config.train.seed))
            if key not in sample_cache:
                sample_cache[key] = sample_test_reviews(artifact, sample_size, seed)
            reviews = sample_cache[key]
            ids = artifact.encoder.encode(reviews.texts, to_sequence_length=True)
            norms = embedding_gradient_norms(artifact.model, ids, reviews.labels)
            entry["average"] = {name: _json_list(values) for name, values in average_by_distance(norms, ids).items()}
            entry["decision"] = {
                name: _json_list(values) for name, values in average_by_distance(share_per_review(norms), ids).items()
            }
            entry["sample_size"] = len(reviews)
        if text is not None:
            review = review_gradient_norms(artifact, text)
            entry["review"] = {
                name: _json_list(value) if isinstance(value, np.ndarray) else value for name, value in review.items()
            }
        cells[cell_type] = entry
    return {
        "quantity": (
            "L2 norm of d(binary cross-entropy)/d(embedded input) per step; index d = d steps before the final token"
        ),
        "command": command,
        "written_at": provenance.utc_now(),
        "sample_size": sample_size,
        "sample_seed": seed,
        "text": text,
        "cells": cells,
    }


def _json_list(values: np.ndarray) -> list:
    """NaN becomes None (JSON has no NaN)."""
    return [None if isinstance(v, float) and not np.isfinite(v) else v for v in np.asarray(values).tolist()]


def curves(result: dict[str, Any], part: str, name: str) -> dict[str, np.ndarray]:
    """Cell type -> <float64>[steps] curve, from a `gradient_flow` result (or its JSON)."""
    return {
        cell: np.array([np.nan if v is None else v for v in entry[part][name]], np.float64)
        for cell, entry in result["cells"].items()
        if part in entry
    }


# Distances at which the pages state what share of the final word's gradient is left.
RETENTION_DISTANCES = (100, 200)


def retention_lines(averages: dict[str, list[float]], counts: list[int]) -> list[str]:
    """Markdown lines: each model's gradient at 100 and 200 steps as a share of step 0's.

    Args:
        averages: cell type -> geometric-mean norm by distance.
        counts: reviews reaching each distance.
    """
    from sentiment.report import model_name

    distances = [d for d in RETENTION_DISTANCES if d < len(counts) and counts[d]]
    if not distances:
        return []
    shares = "; ".join(
        f"{model_name(cell)} " + ", ".join(f"{100 * curve[d] / curve[0]:.2g}% at {d}" for d in distances)
        for cell, curve in averages.items()
    )
    return [
        "",
        f"What is left of the final word's gradient, further back: {shares}.",
        "",
        "On trained models this mixes two things: how far a cell can carry a gradient, and what the model learned to "
        "ignore (an LSTM whose forget gate closes on words that do not matter cuts their gradient as well). The "
        "long-range benchmark, where distance is the only variable, separates them.",
    ]


def gradient_flow_markdown(result: dict[str, Any], plot_file: str | None = "gradients.png") -> str:
    """The averaged curves at a few distances, as a Markdown page."""
    from sentiment.report import markdown_table, model_name

    parts = [
        "# What the decisions depend on: gradient by word in the trained IMDB models",
        "",
        "‖∂ loss / ∂ e_t‖₂, the norm of the gradient of the loss with respect to the embedded word t, "
        "by distance from the review's final token (the head reads the state after it). "
        "Geometric mean over test reviews long enough to reach that far, with their true labels as targets.",
        "",
        f"Produced by `{result['command']}` on {result['written_at']}.",
        "",
    ]
    for cell, entry in result["cells"].items():
        trained = (
            f" (trained {entry['trained_at']}, test accuracy {100 * entry['test_accuracy']:.1f}%)"
            if entry.get("test_accuracy") is not None
            else ""
        )
        sample = f"; {entry['sample_size']} test reviews (seed {result['sample_seed']})" if "average" in entry else ""
        parts.append(
            f"- {model_name(cell)}: `{entry['artifact']}`{trained}, {entry['sequence_length']} tokens at most{sample}"
        )
    averages = curves(result, "average", "geometric_mean")
    if averages:
        counts = next(iter(result["cells"].values()))["average"]["count"]
        shown = [d for d in TABLE_DISTANCES if d < len(counts) and counts[d]]
        farthest = max(d for d, count in enumerate(counts) if count)
        shown += [farthest] if farthest not in shown else []
        parts += [
            "",
            "## Geometric mean of the gradient norm, by steps before the final token",
            "",
            markdown_table(
                ["steps before the end", "reviews", *(model_name(cell) for cell in averages)],
                [[str(d), str(counts[d]), *(f"{curve[d]:.2e}" for curve in averages.values())] for d in shown],
            ),
            *retention_lines(averages, counts),
        ]
    decisions = curves(result, "decision", "geometric_mean")
    if decisions:
        counts = next(iter(result["cells"].values()))["decision"]["count"]
        shown = [d for d in TABLE_DISTANCES if d < len(counts) and counts[d]]
        parts += [
            "",
            "## What each decision depends on: every review's norms as shares of its own total",
            "",
            "Dividing each review's norms by their sum removes its error size and the model's overall sensitivity, "
            "so every review counts once; geometric mean of the shares by steps before the final token. "
            "A share of 1/n at every word would mean a decision that weighs all n words alike.",
            "",
            markdown_table(
                ["steps before the end", "reviews", *(model_name(cell) for cell in decisions)],
                [[str(d), str(counts[d]), *(f"{curve[d]:.2e}" for curve in decisions.values())] for d in shown],
            ),
        ]
    if plot_file:
        parts += ["", f"![Gradient norm against steps before the final token, log scale]({plot_file})"]
    return "\n".join(parts) + "\n"


def write_gradient_flow(result: dict[str, Any], output: str | Path) -> dict[str, Path]:
    """Writes gradients.json, gradients.md and gradients.png, each atomically.

    Returns:
        The written paths by kind: "json", "markdown" and, when there is a
        curve to draw, "plot".
    """
    from sentiment.analysis.plots import plot_gradient_norms
    from sentiment.io import files

    output = Path(output)
    paths = {"json": output / "gradients.json", "markdown": output / "gradients.md", "plot": output / "gradients.png"}
    panels, words = [], None
    if result["text"] is not None:
        panels.append((f"one review: {_shorten(result['text'])}", curves(result, "review", "by_distance")))
        words = next(iter(result["cells"].values()))["review"]["tokens"]
    if result["sample_size"] > 0:
        sample = next(iter(result["cells"].values())).get("sample_size", result["sample_size"])
        panels.append((f"geometric mean over {sample} test reviews", curves(result, "average", "geometric_mean")))
        decisions = curves(result, "decision", "geometric_mean")
        if decisions:
            panels.append(
                (f"what the decisions depend on ({sample} reviews)", decisions, "share of the review's total gradient")
            )
    if not panels:
        del paths["plot"]
    files.write_json(paths["json"], result)
    if panels:
        plot_gradient_norms(panels, paths["plot"], words)
    files.write_text(paths["markdown"], gradient_flow_markdown(result, paths["plot"].name if panels else None))
    return paths


def _shorten(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return f"“{text}”" if len(text) <= width else f"“{text[: width - 1]}…”"
