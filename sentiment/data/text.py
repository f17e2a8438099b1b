"""Text to token ids: one encoder for training, the Predictor, the analyses and the export.

`TextEncoder` holds a vocabulary, a sequence length and which end of a long
review to drop. Its graph methods (`ragged`, `padded`) are what training and
the exported SavedModel run; `encode` wraps them for Python strings. Every
path from text to ids goes through it, so they cannot drift apart.

Token ids are right-padded with 0 (the cuDNN kernels require right padding)
and never all zero: a review with no tokens gets a single [UNK], because a
fully masked row breaks the cuDNN path and has no defined final state.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from sentiment.config import PADDING_ID, DataConfig

UNKNOWN_ID = 1  # TextVectorization puts "" at 0 and "[UNK]" at 1.
# Bounds the work one review can cause in the Predictor and the SavedModel:
# only this many bytes of a review are vectorized (the end the model reads is
# kept). Seven times the longest IMDB review (13,704 characters), and more
# than the app's 20,000-character cap in any script; never near what a model
# reads (a few hundred words).
MAX_REVIEW_BYTES = 100_000

# Punctuation other than the apostrophe becomes a space ("end.The" is two
# words); apostrophes are dropped so "don't" and "dont" are one word.
_CONTROL = r"[\x00-\x1f\x7f]"
_MARKUP = r"<[^>]*>"
_PUNCTUATION = r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~]"


def standardize_text(texts: tf.Tensor) -> tf.Tensor:
    """Lowercases and strips markup and punctuation.

    Invalid UTF-8 is replaced (U+FFFD) and control characters (NUL
    included, which would cut the string short in `tf.strings.lower`) become
    spaces first, so no input can fail a request.

    Args:
        texts: <string>[batch] raw review text.

    Returns:
        <string>[batch] standardized text, words separated by whitespace.
    """
    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
    texts = tf.strings.regex_replace(texts, _CONTROL, " ")
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _MARKUP, " ")  # IMDB is full of <br />
    texts = tf.strings.regex_replace(texts, "'", "")
    return tf.strings.regex_replace(texts, _PUNCTUATION, " ")


def text_tensor(texts: Sequence[str] | np.ndarray) -> tf.Tensor:
    """<string>[batch] from Python strings; lone surrogates (invalid Unicode from a JSON API) survive.

    `tf.constant` cannot encode a lone surrogate, so each text is encoded with
    `surrogatepass`; `standardize_text` replaces the invalid UTF-8 that makes,
    as it does any other invalid byte. Bytes pass through as they are.
    """
    return tf.constant(
        [text if isinstance(text, bytes) else str(text).encode("utf-8", "surrogatepass") for text in texts],
        dtype=tf.string,
    )


def make_vectorizer(vocabulary_size: int, vocabulary: list[str] | None = None) -> keras.layers.TextVectorization:
    """A TextVectorization layer that returns ragged token ids.

    Args:
        vocabulary_size: maximum vocabulary size, padding and [UNK] included.
        vocabulary: a saved vocabulary (index 0 "", index 1 "[UNK]"); None
            for a layer still to be adapted.
    """
    vectorizer = keras.layers.TextVectorization(
        max_tokens=vocabulary_size,
        standardize=standardize_text,
        split="whitespace",
        output_mode="int",
        ragged=True,
    )
    if vocabulary is not None:
        vectorizer.set_vocabulary(vocabulary[2:])  # set_vocabulary adds "" and [UNK] itself
    return vectorizer


def adapt_vocabulary(
    train_texts: np.ndarray | tf.data.Dataset, vocabulary_size: int, max_samples: int | None = None
) -> list[str]:
    """Learns the vocabulary from training texts only.

    Args:
        train_texts: <object>[n] texts, or a dataset of <string>[] texts
            (read once, as a stream: only the word counts are kept).
        vocabulary_size: maximum vocabulary size, padding and [UNK] included.
        max_samples: read at most this many texts (the first ones).

    Returns:
        The vocabulary, index 0 = padding "", index 1 = "[UNK]".
    """
    if not isinstance(train_texts, tf.data.Dataset):
        train_texts = tf.data.Dataset.from_tensor_slices(text_tensor(train_texts))
    if max_samples is not None:
        train_texts = train_texts.take(max_samples)
    vectorizer = make_vectorizer(vocabulary_size)
    vectorizer.adapt(train_texts.batch(1024))
    return vectorizer.get_vocabulary()


def cap_bytes(texts: tf.Tensor, truncation_side: str) -> tf.Tensor:
    """<string>[batch] each cut to `MAX_REVIEW_BYTES`, keeping the end the model reads.

    A cut inside a multi-byte character leaves invalid UTF-8, which
    `standardize_text` replaces.
    """
    if truncation_side == "left":
        start = tf.maximum(tf.strings.length(texts) - MAX_REVIEW_BYTES, 0)
        return tf.strings.substr(texts, start, tf.fill(tf.shape(start), MAX_REVIEW_BYTES))
    return tf.strings.substr(texts, 0, MAX_REVIEW_BYTES)


def word_counts(texts: tf.Tensor) -> tf.Tensor:
    """<string>[batch] -> <int64>[batch] words as the vectorizer splits them (before truncation)."""
    return tf.strings.split(standardize_text(texts)).row_lengths()


def count_words(texts: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Review length in words, as the vectorizer splits them (before truncation).

    Returns:
        <int64>[n].
    """
    counts = [
        word_counts(text_tensor(texts[start : start + batch_size])).numpy()
        for start in range(0, len(texts), batch_size)
    ]
    return np.concatenate(counts) if counts else np.zeros(0, np.int64)


def review_length(ids: np.ndarray) -> int:
    """Real tokens in one right-padded row of ids (at least 1: a review without words is one unknown token)."""
    return max(1, int(np.count_nonzero(ids)))


class TextEncoder:
    """Raw text to the token ids a model reads: the project's one encoder.

    Args:
        vocabulary: index 0 "", index 1 "[UNK]", then the words.
        sequence_length: tokens kept per review.
        truncation_side: "left" drops the start of long reviews (keeping the
            ending, where the verdict tends to be), "right" the end.
        vocabulary_size: the vectorizer's size; defaults to the vocabulary's.
    """

    def __init__(
        self, vocabulary: list[str], sequence_length: int, truncation_side: str, vocabulary_size: int | None = None
    ):
        self.vocabulary = list(vocabulary)
        self.sequence_length = sequence_length
        self.truncation_side = truncation_side
        self.vectorizer = make_vectorizer(vocabulary_size or len(self.vocabulary), self.vocabulary)
        self._split = self._encode = None  # traced on first use by `words_many` and `encode`

    @classmethod
    def for_config(cls, vocabulary: list[str], config: DataConfig) -> TextEncoder:
        """The encoder of a data config (its sequence length, truncation side and vocabulary size)."""
        return cls(vocabulary, config.sequence_length, config.truncation_side, config.vocabulary_size)

    def ragged(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """<string>[batch] -> <int64>[batch, (length)]: at least one id per review, at most `sequence_length`.

        Graph-friendly: training's tf.data pipelines and the exported
        SavedModel run this very code.
        """
        ragged = self.vectorizer(cap_bytes(texts, self.truncation_side))
        ragged = (
            ragged[:, -self.sequence_length :] if self.truncation_side == "left" else ragged[:, : self.sequence_length]
        )
        # An empty review becomes a single [UNK] so that no row is fully masked.
        empty = tf.equal(ragged.row_lengths(), 0)
        filler = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tf.cast(empty, tf.int64))], tf.constant(UNKNOWN_ID, tf.int64)),
            tf.cast(empty, tf.int64),
        )
        return tf.concat([ragged, tf.cast(filler, ragged.dtype)], axis=1)

    def padded(self, texts: tf.Tensor, to_sequence_length: bool = False) -> tf.Tensor:
        """<string>[batch] -> <int64>[batch, length] right-padded with 0.

        Args:
            to_sequence_length: pad every row to `sequence_length` (a fixed
                shape) rather than to the longest review of the batch.
        """
        shape = [None, self.sequence_length] if to_sequence_length else None
        return self.ragged(texts).to_tensor(PADDING_ID, shape=shape)

    def encode(
        self, texts: Sequence[str] | np.ndarray, to_sequence_length: bool = False, batch_size: int = 2048
    ) -> np.ndarray:
        """Python strings (any: surrogates, NUL, markup) -> <int32>[n, length] right-padded ids.

        Batched, so memory stays bounded for a whole split; with
        `to_sequence_length` every row has `sequence_length` columns,
        otherwise the longest review's.
        """
        if self._encode is None:
            # Traced once, for any number of reviews of any length: eagerly,
            # the ragged ops cost the app more than its models.
            self._encode = tf.function(
                lambda texts: self.padded(texts, True), input_signature=[tf.TensorSpec([None], tf.string)]
            )
        batches = [
            self._encode(text_tensor(texts[start : start + batch_size])).numpy()
            for start in range(0, len(texts), batch_size)
        ]
        if not batches:
            return np.zeros((0, self.sequence_length if to_sequence_length else 1), np.int32)
        ids = np.concatenate(batches).astype(np.int32)
        return ids if to_sequence_length else ids[:, : max(1, int(np.count_nonzero(ids, axis=1).max()))]

    def words(self, text: str) -> list[str]:
        """The review's words as the vectorizer splits them, before truncation (of its first `MAX_REVIEW_BYTES`)."""
        return self.words_many([text])[0]

    def words_many(self, texts: Sequence[str]) -> list[list[str]]:
        """`words` of each text, split in one traced call for them all (the app reads a batch of reviews at once)."""
        if len(texts) == 0:
            return []
        if self._split is None:
            # One trace for any number of reviews of any length: no request retraces.
            self._split = tf.function(
                lambda texts: tf.strings.split(standardize_text(cap_bytes(texts, self.truncation_side))),
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
        return [[word.decode("utf-8") for word in row] for row in self._split(text_tensor(texts)).to_list()]
