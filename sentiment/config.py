"""Typed, frozen configuration for every stage of the pipeline.

Each config validates itself in `__post_init__` and raises `ValueError` with a
message a user can act on. Nothing here imports TensorFlow or Keras, so the CLI
can validate its arguments before paying for those imports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Bumped whenever the layout or meaning of the artifacts folder changes, so
# that code never silently reads a folder written by an incompatible version.
ARTIFACT_FORMAT_VERSION = 1

CELL_TYPES = ("simple_rnn", "lstm", "gru")
DATA_SOURCES = ("tfds", "aclimdb", "csv")
TRUNCATION_SIDES = ("left", "right")
POOLING_MODES = ("last", "mean", "max")
MONITORS = ("val_accuracy", "val_loss")
# A binary model's classes, by id: sentiment labels 0 and 1. Folders written
# before class names were stored are binary sentiment models.
LABEL_NAMES = ("negative", "positive")
# How training is spread over devices (see sentiment/distribute.py): one
# device, several devices of one machine, or several machines (TF_CONFIG).
STRATEGIES = ("default", "mirrored", "multi-worker")

# Review length in words: the bucket edges used for "accuracy by length".
# The last bucket is open-ended.
LENGTH_BUCKET_EDGES = (0, 100, 200, 300, 500, 1000)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _positive_or_none(name: str, value: int | None) -> None:
    _require(value is None or value > 0, f"{name} must be a positive integer or None, got {value!r}")


@dataclass(frozen=True)
class DataConfig:
    """Where the reviews come from and how they become token ids.

    Attributes:
        source: "tfds" (tensorflow-datasets `imdb_reviews`, honours
            `TFDS_DATA_DIR`), "aclimdb" (a folder with train/pos, train/neg,
            test/pos, test/neg of .txt files) or "csv" (a CSV/TSV file with
            `text` and `label` columns and an optional `split` column).
        path: the aclImdb folder or CSV file; for "tfds", an optional data
            directory overriding `TFDS_DATA_DIR`.
        download: let tensorflow-datasets download IMDB when it is missing.
        validation_fraction: share of the (possibly capped) training reviews
            held out for validation. The test split is never used for
            validation.
        test_fraction: for a CSV without a `split` column, the share of rows
            held out as the test split.
        max_train_samples: cap on training+validation reviews (quick runs).
        max_test_samples: cap on test reviews (quick runs).
        vocabulary_size: size of the vocabulary including padding and [UNK].
        sequence_length: tokens per review fed to the model; longer reviews
            are truncated.
        truncation_side: which end to drop from reviews longer than
            `sequence_length`: "left" keeps the ending (where reviewers tend
            to give their verdict), "right" keeps the opening.
        dataset: a tensorflow-datasets name (`yelp_polarity_reviews`,
            `ag_news_subset`, ...) to stream from disk instead of loading
            IMDB into memory. None (default) loads IMDB in memory, the path
            behind docs/RESULTS.md. Streamed, validation is the first
            `validation_fraction` of `train_split` (tfds shuffled it when it
            prepared the dataset), and the caps take the first examples.
        text_key: the dataset's text feature (streamed datasets).
        label_key: the dataset's `ClassLabel` feature; two or more classes.
        train_split: the split to train on (and carve validation from).
        test_split: the split for the final evaluation.
        vocabulary_samples: adapt the vocabulary on at most this many
            training reviews (the first ones); None reads them all.
    """

    source: str = "tfds"
    path: str | None = None
    download: bool = True
    validation_fraction: float = 0.1
    test_fraction: float = 0.2
    max_train_samples: int | None = None
    max_test_samples: int | None = None
    vocabulary_size: int = 20_000
    sequence_length: int = 400
    truncation_side: str = "left"
    dataset: str | None = None
    text_key: str = "text"
    label_key: str = "label"
    train_split: str = "train"
    test_split: str = "test"
    vocabulary_samples: int | None = None

    def __post_init__(self) -> None:
        _require(self.source in DATA_SOURCES, f"unknown data source {self.source!r}; choose one of {', '.join(DATA_SOURCES)}")
        _require(
            self.source == "tfds" or self.path is not None,
            f"data source {self.source!r} needs a path (--data-path)",
        )
        _require(0.0 < self.validation_fraction < 1.0, "validation_fraction must be between 0 and 1 (exclusive)")
        _require(0.0 < self.test_fraction < 1.0, "test_fraction must be between 0 and 1 (exclusive)")
        _positive_or_none("max_train_samples", self.max_train_samples)
        _positive_or_none("max_test_samples", self.max_test_samples)
        _require(self.vocabulary_size >= 3, "vocabulary_size must be at least 3 (padding, [UNK] and one word)")
        _require(self.sequence_length >= 1, "sequence_length must be at least 1")
        _require(
            self.truncation_side in TRUNCATION_SIDES,
            f"truncation_side must be one of {', '.join(TRUNCATION_SIDES)}, got {self.truncation_side!r}",
        )
        _require(self.dataset is None or self.source == "tfds", f"--dataset streams from tensorflow-datasets; it cannot be combined with data source {self.source!r}")
        _require(self.dataset is None or bool(self.dataset.strip()), "dataset must be a tensorflow-datasets name")
        for name, split in (("train_split", self.train_split), ("test_split", self.test_split)):
            # Validation is carved from the train split by index, so both must be plain split names.
            _require(split.replace("_", "").isalnum(), f"{name} must be a split name such as 'train' or 'test', got {split!r}")
        _positive_or_none("vocabulary_samples", self.vocabulary_samples)


@dataclass(frozen=True)
class ModelConfig:
    """The classifier architecture; everything but `cell_type` is shared.

    Attributes:
        cell_type: "simple_rnn", "lstm" or "gru".
        embedding_dim: width of the token embedding.
        units: hidden units per recurrent layer (per direction).
        num_layers: stacked recurrent layers.
        bidirectional: wrap each recurrent layer in `Bidirectional`.
        word_dropout_rate: share of whole words whose embedding is zeroed in
            training (one draw per token, all features together): it keeps
            the model from leaning on a few memorable words.
        dropout_rate: dropout on the recurrent output, before the head.
            There is deliberately no recurrent dropout: it disqualifies the
            cuDNN kernels.
        pooling: how the head reads the recurrent output. "last" (default)
            reads the final state, so the prediction depends on what the cell
            remembers; "mean"/"max" pool over all time steps, which hides the
            memory effect this project measures.
        chrono_max_steps: None keeps Keras's gate biases (LSTM forget gate
            1, GRU update gate 0). A number T sets them by chrono
            initialization (Tallec & Ollivier, "Can recurrent neural networks
            warp time?", ICLR 2018) for dependencies of up to T steps: the
            LSTM forget-gate bias is log(u), u ~ Uniform(1, T - 1), and the
            input-gate bias its negative; the GRU update-gate bias is log(u).
            The gates then start out remembering over 1 to T steps instead
            of forgetting within a few. SimpleRNN has no gates and ignores it.
    """

    cell_type: str = "lstm"
    embedding_dim: int = 64
    units: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    word_dropout_rate: float = 0.25
    dropout_rate: float = 0.5
    pooling: str = "last"
    chrono_max_steps: int | None = None

    def __post_init__(self) -> None:
        _require(
            self.cell_type in CELL_TYPES,
            f"unknown cell type {self.cell_type!r}; choose from {', '.join(CELL_TYPES)}",
        )
        _require(self.embedding_dim >= 1, "embedding_dim must be at least 1")
        _require(self.units >= 1, "units must be at least 1")
        _require(self.num_layers >= 1, "num_layers must be at least 1")
        _require(0.0 <= self.word_dropout_rate < 1.0, "word_dropout_rate must be in [0, 1)")
        _require(0.0 <= self.dropout_rate < 1.0, "dropout_rate must be in [0, 1)")
        _require(self.pooling in POOLING_MODES, f"pooling must be one of {', '.join(POOLING_MODES)}")
        _require(self.chrono_max_steps is None or self.chrono_max_steps >= 3, "chrono_max_steps must be at least 3 (or None)")


@dataclass(frozen=True)
class TrainConfig:
    """The training budget, identical for every cell type.

    Attributes:
        batch_size: reviews per step.
        epochs: maximum epochs; early stopping may end sooner.
        learning_rate: Adam learning rate for the first epoch.
        learning_rate_decay: factor applied to the learning rate after each
            epoch (1.0 keeps it constant). Halving it lets later epochs
            refine rather than overfit; it lives in the optimizer's step
            count, so a resumed run continues the same schedule.
        clipnorm: gradient norm clipping; keeps SimpleRNN from exploding.
        monitor: the validation figure that picks the best epoch and stops
            training: "val_accuracy" (default; the figure this project
            reports) or "val_loss". Validation loss starts rising from
            overconfidence while accuracy still improves.
        patience: epochs without a better `monitor` value before stopping.
        seed: seeds weights, shuffling and the validation split.
        length_bucketing: batch reviews of similar length together and pad
            each batch only to its longest review, instead of padding every
            review to `sequence_length`. Most IMDB reviews are far shorter
            than 400 tokens, so most of the recurrence was spent on padding.
            Padding stays on the right and masked, as cuDNN requires.
        bucket_window: with `length_bucketing`, how many batches' worth of
            shuffled reviews are sorted by length together before being cut
            into batches (whose order is then shuffled again). Larger windows
            waste less padding; smaller ones keep batches more random.
    """

    batch_size: int = 64
    epochs: int = 6
    learning_rate: float = 1e-3
    learning_rate_decay: float = 0.5
    clipnorm: float = 1.0
    monitor: str = "val_accuracy"
    patience: int = 2
    seed: int = 42
    length_bucketing: bool = True
    bucket_window: int = 50

    def __post_init__(self) -> None:
        _require(self.batch_size >= 1, "batch_size must be at least 1")
        _require(self.bucket_window >= 1, "bucket_window must be at least 1")
        _require(self.epochs >= 1, "epochs must be at least 1")
        _require(self.learning_rate > 0, "learning_rate must be positive")
        _require(0 < self.learning_rate_decay <= 1, "learning_rate_decay must be in (0, 1]")
        _require(self.clipnorm > 0, "clipnorm must be positive")
        _require(self.monitor in MONITORS, f"monitor must be one of {', '.join(MONITORS)}")
        _require(self.patience >= 0, "patience must be zero or more")


@dataclass(frozen=True)
class Preset:
    """A named bundle of configs; `cell_type` is set per model at train time."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    description: str


PRESETS: dict[str, Preset] = {
    "full": Preset(
        data=DataConfig(),
        model=ModelConfig(),
        train=TrainConfig(),
        description="all 25k training reviews, 400 tokens; the figures in docs/RESULTS.md",
    ),
    "quick": Preset(
        data=DataConfig(max_train_samples=6000, max_test_samples=5000, vocabulary_size=10_000, sequence_length=128),
        model=ModelConfig(embedding_dim=32, units=32),
        train=TrainConfig(epochs=3, batch_size=64, patience=1),
        description="6k training reviews, 128 tokens, 5k test reviews: a few minutes on a laptop CPU",
    ),
}


def to_dict(config: Any) -> dict[str, Any]:
    """Returns a JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(config)


def from_dict(cls: type, values: dict[str, Any]):
    """Builds a config from a dict, rejecting unknown keys with a clear error."""
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = set(values) - names
    _require(not unknown, f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
    return cls(**values)


@dataclass(frozen=True)
class BenchConfig:
    """What `python -m sentiment bench` measures; the defaults are the full preset's model.

    Attributes:
        cell_types: the cells to measure.
        batch_size: reviews per training step.
        sequence_length: tokens per review in a training step (every token
            real, so masked and unmasked models do the same work).
        vocabulary_size, embedding_dim, units: the model's shape.
        review_words: words in the review used for inference latency.
        inference_batch_size: reviews in the batched inference call.
        warmup: untimed runs before each measurement (tracing, allocation).
        repeats: timed training steps per figure.
        latency_repeats: timed calls per latency figure (p99 needs ~100).
        matmul_size: side of the square float32 matmul that measures the
            machine's dense rate.
        peer: also time plain PyTorch where it is installed.
        seed: seeds weights and the random token ids.
    """

    cell_types: tuple[str, ...] = CELL_TYPES
    batch_size: int = 64
    sequence_length: int = 400
    vocabulary_size: int = 20_000
    embedding_dim: int = 64
    units: int = 64
    review_words: int = 250
    inference_batch_size: int = 64
    warmup: int = 3
    repeats: int = 20
    latency_repeats: int = 100
    matmul_size: int = 1024
    peer: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [cell for cell in self.cell_types if cell not in CELL_TYPES]
        _require(
            bool(self.cell_types) and not unknown,
            f"unknown cell type {', '.join(unknown) or repr(self.cell_types)}; choose from {', '.join(CELL_TYPES)}",
        )
        for name in ("batch_size", "sequence_length", "embedding_dim", "units", "review_words", "inference_batch_size", "repeats", "latency_repeats", "matmul_size"):
            _require(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)}")
        _require(self.warmup >= 0, f"warmup must be zero or more, got {self.warmup}")
        _require(self.vocabulary_size >= 3, "vocabulary_size must be at least 3 (padding, [UNK] and one word)")

    def model_config(self, cell_type: str) -> ModelConfig:
        """The default architecture (dropout included) at this bench's sizes."""
        return ModelConfig(cell_type=cell_type, embedding_dim=self.embedding_dim, units=self.units)
