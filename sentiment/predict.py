"""Raw text in, probabilities out, from a trained artifact folder.

The predictor vectorizes with the same code and vocabulary as training and
the SavedModel export, and calls the Keras model directly (not
`model.predict`, which is neither thread-safe nor fast for one review).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from sentiment import data
from sentiment.artifacts import Artifact, load_artifact


class Predictor:
    """Scores reviews with one trained model.

    Args:
        artifact: a loaded artifact (see `sentiment.artifacts.load_artifact`).
    """

    def __init__(self, artifact: Artifact):
        self.artifact = artifact
        self.cell_type = artifact.config.model.cell_type
        self._data_config = artifact.config.data
        self._vectorizer = data.make_vectorizer(self._data_config.vocabulary_size, artifact.vocabulary)
        model = artifact.model
        # One trace per padded length bucket; reduce_retracing generalizes the
        # time dimension instead of tracing every new review length.
        self._forward = tf.function(lambda ids: model(ids, training=False), reduce_retracing=True)

    @classmethod
    def from_folder(cls, folder: str | Path) -> "Predictor":
        return cls(load_artifact(folder))

    def token_ids(self, texts: Sequence[str]) -> np.ndarray:
        """<int64>[batch, length] ids as the model sees them, padded to the longest."""
        return data.token_ids(
            self._vectorizer,
            tf.constant(list(texts), dtype=tf.string),
            self._data_config.sequence_length,
            self._data_config.truncation_side,
            pad_to_sequence_length=False,
        ).numpy()

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
        return self._forward(tf.constant(self.token_ids(texts))).numpy().reshape(-1)
