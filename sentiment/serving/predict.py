"""Raw text in, probabilities out, from a trained artifact folder.

The predictor vectorizes with the same code and vocabulary as training and
the SavedModel export, and calls the Keras model directly (not
`model.predict`, which is neither thread-safe nor fast for one review).

Besides the final P(positive) it reads a review step by step: the
probability the model would give if the review ended after each token. For
the default architecture (unidirectional, head on the final state) that is
the head applied to the recurrent layer's output at every step, one forward
pass sharing the trained weights; for the others (bidirectional, mean/max
pooling) it is the model run on every prefix of the review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from sentiment import data, models
from sentiment.io.artifacts import Artifact, load_artifact, require_binary

# P(positive) before the first token: a model that has read nothing is undecided.
UNDECIDED = 0.5


def step_model(model: keras.Model) -> keras.Model | None:
    """The classifier's output applied after every token, sharing its trained layers.

    Rebuilds the head's chain of layers with the last recurrent layer
    returning its whole sequence, so the Dense layer and the output
    activation map each step's state to P(positive). Dropout layers are
    identities at inference and are kept as they are. Only a head made of
    the layer types listed here is rebuilt: its layers are called in order,
    one input each, which is what such a head is.

    Args:
        model: a classifier from `sentiment.models.build_classifier`.

    Returns:
        A model mapping <int32>[batch, time] token ids to <float32>[batch, time, 1]
        (P(positive) after each token; [batch, time, classes] for more classes),
        or None when the architecture has no meaningful state per step
        (bidirectional layers, mean/max pooling, a transformer, any
        unexpected layer). minGRU and minLSTM have one, as the Keras cells do.
    """
    allowed = (keras.layers.Dropout, keras.layers.Dense, *models.RECURRENT_CLASSES)
    try:
        encoder, head, output_layer = models.encoder(model), models.head(model), models.output_layer(model)
    except ValueError:
        return None
    layers = [layer for layer in head.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not all(isinstance(layer, allowed) for layer in layers):
        return None
    recurrent = [index for index, layer in enumerate(layers) if isinstance(layer, models.RECURRENT_CLASSES)]
    if not recurrent or not isinstance(layers[-1], keras.layers.Dense):
        return None
    last = layers[recurrent[-1]]
    stepwise = type(last).from_config({**last.get_config(), "return_sequences": True, "name": f"{last.name}_steps"})

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x, mask = encoder(token_ids)
    for layer in layers:
        layer = stepwise if layer is last else layer
        x = layer(x, mask=mask) if isinstance(layer, models.RECURRENT_CLASSES) else layer(x)
    stepwise.set_weights(last.get_weights())
    return keras.Model(token_ids, output_layer(x), name=f"{model.name}_steps")


@dataclass(frozen=True)
class Reading:
    """How one model read one review.

    Attributes:
        words: every word of the review as the vectorizer splits it
            (lowercased, markup and punctuation removed), before truncation.
        read_start: index in `words` of the first word the model read; the
            words before it were cut (the model reads at most
            `sequence_length` words).
        read_stop: index in `words` after the last word read.
        token_ids: <int32>[read_stop - read_start] the ids the model read; 1
            marks a word the vocabulary does not know. A review with no words
            is read as a single unknown token (see `sentiment.data`), so this
            then holds one id while `words` is empty.
        trajectory: <float32>[len(token_ids)] P(positive) after each token.
    """

    words: tuple[str, ...]
    read_start: int
    read_stop: int
    token_ids: np.ndarray
    trajectory: np.ndarray

    @property
    def probability(self) -> float:
        """P(positive) for the whole review: the trajectory's last point."""
        return float(self.trajectory[-1])

    @property
    def known(self) -> np.ndarray:
        """<bool>[len(token_ids)] whether each read token is in the vocabulary."""
        return self.token_ids != data.UNKNOWN_ID

    @property
    def effects(self) -> np.ndarray:
        """<float32>[len(token_ids)] how much each token moved P(positive).

        The change in the trajectory at that token; the first token's effect
        is measured from `UNDECIDED`.
        """
        return np.diff(self.trajectory, prepend=np.float32(UNDECIDED))


class Predictor:
    """Scores reviews with one trained model.

    Args:
        artifact: a loaded artifact (see `sentiment.io.artifacts.load_artifact`)
            of a binary sentiment model; a model of more classes is refused
            with a `SentimentError` saying so.
    """

    def __init__(self, artifact: Artifact):
        require_binary(artifact, "the predictor (and the comparison app)")
        self.artifact = artifact
        self.cell_type = artifact.config.model.cell_type
        self._data_config = artifact.config.data
        self.encoder = artifact.encoder
        model = artifact.model
        # One trace for every batch size and review length: no request retraces.
        ids_spec = [tf.TensorSpec([None, None], tf.int32)]
        self._forward = tf.function(lambda ids: model(ids, training=False), input_signature=ids_spec)
        steps = step_model(model)
        self.reads_in_one_pass = steps is not None
        if steps is not None:
            self._steps = tf.function(lambda ids: steps(ids, training=False)[:, :, 0], input_signature=ids_spec)
        else:
            self._steps = tf.function(lambda ids: self._prefix_probabilities(model, ids), input_signature=ids_spec)

    @classmethod
    def from_folder(cls, folder: str | Path) -> Predictor:
        return cls(load_artifact(folder))

    @property
    def sequence_length(self) -> int:
        return self._data_config.sequence_length

    def token_ids(self, texts: Sequence[str]) -> np.ndarray:
        """<int32>[batch, length] ids as the model sees them, padded to the longest (`TextEncoder.encode`)."""
        return self.encoder.encode(texts)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """P(positive) for each review.

        Args:
            texts: raw review texts (any string; empty ones are scored as a
                single unknown word).

        Returns:
            <float32>[batch].
        """
        if len(texts) == 0:
            return np.zeros(0, np.float32)
        return self._forward(tf.constant(self.token_ids(texts), tf.int32)).numpy().reshape(-1)

    def words(self, text: str) -> list[str]:
        """The review's words as the vectorizer splits them, before truncation (`TextEncoder.words`)."""
        return self.encoder.words(text)

    def read(self, text: str) -> Reading:
        """Reads one review token by token.

        Args:
            text: a raw review (any string).

        Returns:
            The words, which of them were read, and P(positive) after each
            read token; `Reading.probability` equals `predict([text])[0]`.
        """
        return self.read_many([text])[0]

    def read_many(self, texts: Sequence[str]) -> list[Reading]:
        """Reads several reviews token by token, together.

        For a model that reads in one pass (`reads_in_one_pass`) that is one
        forward pass over the batch, right-padded to the longest review; the
        masked padding changes no review's states, so each reading equals the
        review's `read` alone (to float32 rounding). The other architectures
        score every prefix, a batch of its own per review.

        Args:
            texts: raw reviews (any strings).

        Returns:
            One `Reading` per text, in order.
        """
        if len(texts) == 0:
            return []
        ids = self.token_ids(texts)
        if self.reads_in_one_pass:
            trajectories = self._steps(tf.constant(ids)).numpy()
        else:
            trajectories = [self._steps(tf.constant(row[None, : data.review_length(row)])).numpy()[0] for row in ids]
        words = self.encoder.words_many(texts)
        return [
            self._reading(review_words, row[: data.review_length(row)], trajectory[: data.review_length(row)])
            for review_words, row, trajectory in zip(words, ids, trajectories)
        ]

    def _reading(self, words: list[str], ids: np.ndarray, trajectory: np.ndarray) -> Reading:
        """The `Reading` of one review from its words, its ids (padding removed) and P(positive) after each."""
        read_count = min(len(words), self.sequence_length)
        if self._data_config.truncation_side == "left":
            read_start, read_stop = len(words) - read_count, len(words)
        else:
            read_start, read_stop = 0, read_count
        return Reading(tuple(words), read_start, read_stop, ids, trajectory)

    @staticmethod
    def _prefix_probabilities(model: keras.Model, ids: tf.Tensor) -> tf.Tensor:
        """P(positive) of every prefix of one review: <float32>[1, time].

        Row i of the batch is the first i+1 ids, right-padded with zeros.
        """
        length = tf.shape(ids)[1]
        keep = tf.sequence_mask(tf.range(1, length + 1), length, dtype=ids.dtype)
        prefixes = tf.tile(ids[:1], [length, 1]) * keep
        return tf.reshape(model(prefixes, training=False), [1, length])

    def warm_up(self) -> None:
        """Traces the graphs once so the first real request is not slow."""
        self.predict(["warm up"])
        self.read("warm up")
