"""Batches of token ids: padded to a fixed length, or grouped by length and padded per batch.

Arrays in memory (`batched_dataset`) and streams from disk
(`stream_batches`) give the same batches. Padding stays on the right and
masked, as cuDNN requires.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from sentiment.data.sources import Stream, stream_reviews
from sentiment.data.text import TextEncoder, word_counts

_VECTORIZE_BATCH = 256


def batched_dataset(
    token_ids: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    shuffle_seed: int | None = None,
    bucket_window: int | None = None,
) -> tf.data.Dataset:
    """Batches of (token ids, labels), optionally grouped by review length.

    Without `bucket_window`, every batch is <int32>[batch, sequence_length]:
    short reviews carry hundreds of padding steps that the recurrence still
    runs through (masked, but computed). With it, the (shuffled) reviews are
    taken `batch_size * bucket_window` at a time, sorted by length, cut into
    batches, and each batch is padded only to its own longest review; the
    order of the batches is then shuffled within the window. The number of
    batches per epoch is the same either way, `ceil(n / batch_size)`, so a
    per-epoch learning-rate schedule is unaffected. Padding stays on the
    right, so the embedding's mask is a right-padded mask (cuDNN needs that).

    Args:
        token_ids: <int32>[n, sequence_length] right-padded ids (0 = padding;
            every review has at least one token, see `token_ids`).
        labels: <int>[n] class ids.
        batch_size: reviews per batch.
        shuffle_seed: shuffle reviews (and, when bucketing, batches) with this
            seed, differently each epoch; None keeps the order (evaluation).
        bucket_window: batches per sorting window; None pads every batch to
            `sequence_length`.

    Returns:
        A dataset of (<int32>[batch, time], <float32>[batch]) with `time` the
        longest review in the batch (or `sequence_length`).
    """
    labels = labels.astype(np.float32)
    reviews = token_ids
    if bucket_window is not None:  # right padding: a review's real tokens are exactly its non-zero ids
        reviews = tf.RaggedTensor.from_tensor(token_ids, lengths=np.count_nonzero(token_ids, axis=1))
    dataset = tf.data.Dataset.from_tensor_slices((reviews, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    if bucket_window is None:
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return bucket_batches(dataset, len(labels), batch_size, bucket_window, shuffle_seed)


def bucket_batches(
    reviews: tf.data.Dataset, count: int, batch_size: int, bucket_window: int, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """Batches reviews of similar length together (see `batched_dataset`).

    Only `batch_size * bucket_window` reviews are held at a time, so this
    works as well on a stream from disk as on arrays in memory.

    Args:
        reviews: elements (<int>[time] token ids, label, *extras), `time`
            varying per review; the extras (word counts, ...) travel along.
        count: how many reviews `reviews` yields; the batch count,
            `ceil(count / batch_size)`, is stated on the dataset.
        batch_size, bucket_window, shuffle_seed: as in `batched_dataset`.

    Returns:
        A dataset of (<int>[batch, time], <label>[batch], *extras).
    """

    def sort_by_length(window_ids: tf.RaggedTensor, *window_rest: tf.Tensor):
        order = tf.argsort(window_ids.row_lengths(), stable=True)
        return (tf.gather(window_ids, order), *(tf.gather(part, order) for part in window_rest))

    dataset = (
        reviews.ragged_batch(batch_size * bucket_window)
        .map(sort_by_length)
        .unbatch()
        .ragged_batch(batch_size)
        .map(lambda batch_ids, *batch_rest: (batch_ids.to_tensor(), *batch_rest))
        # Regrouping hides the batch count from tf.data; state it, so Keras
        # shows a complete progress bar from the first epoch on.
        .apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(bucket_window, seed=shuffle_seed + 1, reshuffle_each_iteration=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def length_order(token_ids: np.ndarray) -> np.ndarray:
    """The permutation that sorts right-padded reviews from shortest to longest.

    Predicting in this order with `batched_dataset(..., bucket_window=...)`
    and putting the results back with `np.argsort(order)` gives the same
    probabilities as predicting in the original order, on far less padding.
    """
    return np.argsort(np.count_nonzero(token_ids, axis=1), kind="stable")


def stream_batches(
    stream: Stream,
    encoder: TextEncoder,
    split: str,
    batch_size: int,
    shuffle_seed: int | None = None,
    bucket_window: int | None = None,
    with_word_counts: bool = False,
) -> tf.data.Dataset:
    """Token-id batches of one split, vectorized while streaming.

    The same batches as `batched_dataset` gives for arrays: with
    `bucket_window`, reviews of similar length are batched together and each
    batch is padded to its longest review; without, every batch is padded to
    `sequence_length`. Either way there are `ceil(count / batch_size)`
    batches.

    Returns:
        A dataset of (<int32>[batch, time], <int32>[batch] class ids), plus
        <int64>[batch] word counts before truncation with `with_word_counts`.
    """

    def vectorize(texts: tf.Tensor, labels: tf.Tensor):
        if bucket_window is None:  # a whole batch at once, padded to sequence_length
            ids = tf.cast(encoder.padded(texts, to_sequence_length=True), tf.int32)
        else:
            ids = tf.cast(encoder.ragged(texts), tf.int32)
        return (ids, labels, word_counts(texts)) if with_word_counts else (ids, labels)

    reviews = stream_reviews(stream, split, shuffle_seed)
    count = stream.counts[split]
    if bucket_window is None:
        return (
            reviews.batch(batch_size)
            .map(vectorize, num_parallel_calls=tf.data.AUTOTUNE)
            .apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))
            .prefetch(tf.data.AUTOTUNE)
        )
    reviews = reviews.batch(_VECTORIZE_BATCH).map(vectorize, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    return bucket_batches(reviews, count, batch_size, bucket_window, shuffle_seed)
