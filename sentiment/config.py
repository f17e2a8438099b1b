"""Typed, frozen configuration for every stage of the pipeline.

Each config validates itself in `__post_init__` and raises `ValueError` with a
message a user can act on. Nothing here imports TensorFlow or Keras, so the CLI
can validate its arguments before paying for those imports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Bumped whenever the layout or meaning of the artifacts folder changes, so
# that code never silently reads a folder written by an incompatible version
# (no field is ever read with a fallback for older folders).
# 2: run.json merged into summary.json; class names always stored; the
#    provenance record (`sentiment.io.provenance.machine`) in metrics.json.
ARTIFACT_FORMAT_VERSION = 3  # 3: model.keras is the classifier as an encoder and a head (sentiment/models.py)

# The three cells the project compares (and the app is about).
CELL_TYPES = ("simple_rnn", "lstm", "gru")
# After the LSTM: the designs that answer the plain RNN's third limit, steps
# that cannot run in parallel (sentiment/cells.py). minGRU and minLSTM
# compute their gates from the input alone and solve a linear recurrence
# (`ModelConfig.solver`); the Transformer has no recurrence. The one builder
# builds them and they train, export and serve like the cells, but they are
# marked as what came next, as the bag-of-n-grams is marked as the
# reference, and stay out of `CELL_TYPES`. A new type is one entry here and
# one in `sentiment.models`.
AFTER_THE_LSTM = ("mingru", "minlstm", "transformer")
# Every architecture `ModelConfig.cell_type` names.
ALL_CELL_TYPES = (*CELL_TYPES, *AFTER_THE_LSTM)
# The non-recurrent reference trained beside them (sentiment/training/baseline.py).
BASELINE = "bow"
# A run's models by default: the compared cells and the reference.
MODELS = (*CELL_TYPES, BASELINE)
# Every model a run can train (`train --cells`), in the order runs report them.
ALL_MODELS = (*MODELS, *AFTER_THE_LSTM)
# How minGRU and minLSTM solve their recurrence: a parallel scan, ceil(log2 T)
# steps deep, or a loop of T steps; both give the same states.
SOLVERS = ("scan", "loop")
DATA_SOURCES = ("tfds", "aclimdb", "csv")
TRUNCATION_SIDES = ("left", "right")
POOLING_MODES = ("last", "mean", "max", "max_mean", "last_token")
# How a model's word vectors start: random (Keras's default) or pretrained on
# unlabelled reviews by PPMI + SVD (sentiment/training/vectors.py).
VECTOR_INITS = (None, "ppmi-svd")
MONITORS = ("val_accuracy", "val_loss")
# What labels IMDB's unlabelled reviews for training: nothing (they are not
# used), or a bag-of-n-grams model (sentiment/training/baseline.py).
TEACHERS = (None, "bow")
# A binary sentiment model's classes, by id: labels 0 and 1.
LABEL_NAMES = ("negative", "positive")
# How training is spread over devices (see sentiment/training/distribute.py): one
# device, several devices of one machine, or several machines (TF_CONFIG).
STRATEGIES = ("default", "mirrored", "multi-worker")

# The token id of padding, masked by every model (`sentiment.data.text`, `sentiment.models`). Here, with
# no TensorFlow import, so the models build on the torch backend without TensorFlow (the bench's GPU path).
PADDING_ID = 0

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

    source: str = field(default="tfds", metadata={"flag": "data-source"})
    path: str | None = field(default=None, metadata={"flag": "data-path"})
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
        _require(
            self.source in DATA_SOURCES, f"unknown data source {self.source!r}; choose one of {', '.join(DATA_SOURCES)}"
        )
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
        _require(
            self.dataset is None or self.source == "tfds",
            f"--dataset streams from tensorflow-datasets; it cannot be combined with data source {self.source!r}",
        )
        _require(self.dataset is None or bool(self.dataset.strip()), "dataset must be a tensorflow-datasets name")
        for name, split in (("train_split", self.train_split), ("test_split", self.test_split)):
            # Validation is carved from the train split by index, so both must be plain split names.
            _require(
                split.replace("_", "").isalnum(),
                f"{name} must be a split name such as 'train' or 'test', got {split!r}",
            )
        _positive_or_none("vocabulary_samples", self.vocabulary_samples)


@dataclass(frozen=True)
class ModelConfig:
    """The classifier architecture; everything but `cell_type` is shared.

    Attributes:
        cell_type: "simple_rnn", "lstm" or "gru", the compared cells; or,
            after the LSTM (`AFTER_THE_LSTM`), "mingru", "minlstm" or
            "transformer" (sentiment/cells.py).
        embedding_dim: width of the token embedding.
        units: hidden units per recurrent layer (per direction); a
            transformer's width (its words are projected to it, one
            attention head per 16 units).
        num_layers: stacked recurrent layers (a transformer's encoder
            blocks). 0 (with "mean" or "max" pooling) leaves none: a bag of
            embeddings, a control without order or memory.
        bidirectional: wrap each recurrent layer in `Bidirectional`
            (simple_rnn, lstm and gru only).
        word_dropout_rate: share of whole words whose embedding is zeroed in
            training (one draw per token, all features together): it keeps
            the model from leaning on a few memorable words.
        dropout_rate: dropout on the recurrent output, before the head.
            There is deliberately no recurrent dropout: it disqualifies the
            cuDNN kernels.
        pooling: how the head reads the recurrent output. "last" (default)
            reads the final state, so the prediction depends on what the cell
            remembers; "mean"/"max" pool over all time steps, which hides the
            memory effect this project measures; "max_mean" concatenates both
            (the strong preset's). A transformer has no final state: it
            reads "last" as "mean", its masked mean over the words, and
            "last_token" as its output at the last real token (for a
            recurrent model "last_token" is "last").
        pretrained_vectors: None starts the embedding at random; "ppmi-svd"
            from word vectors computed on the training split and IMDB's
            unlabelled reviews (never the test split) by PPMI + SVD, cached in
            the artifacts folder (its `vectors.json` says how they were made).
        chrono_max_steps: None keeps Keras's gate biases (LSTM forget gate
            1, GRU update gate 0). A number T sets them by chrono
            initialization (Tallec & Ollivier, "Can recurrent neural networks
            warp time?", ICLR 2018) for dependencies of up to T steps: the
            LSTM forget-gate bias is log(u), u ~ Uniform(1, T - 1), and the
            input-gate bias its negative; the GRU update-gate bias is log(u).
            The gates then start out remembering over 1 to T steps instead
            of forgetting within a few. minGRU and minLSTM get the same spans
            (`sentiment.cells.MinGRU.chrono_initialize`). SimpleRNN and the
            transformer have no gates and ignore it.
        irnn: SimpleRNN only: ReLU units with an identity recurrent matrix,
            zero biases and small input weights (the IRNN of Le, Jaitly &
            Hinton 2015), the plain RNN's best case for long memory. The
            default SimpleRNN is tanh with an orthogonal recurrent matrix.
        solver: minGRU and minLSTM only (the others ignore it): "scan"
            solves their recurrence by a parallel scan, ceil(log2 T) steps
            deep; "loop" step by step, T steps. The states are the same.
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
    irnn: bool = False
    pretrained_vectors: str | None = None
    solver: str = "scan"

    def __post_init__(self) -> None:
        _require(
            self.cell_type in ALL_CELL_TYPES,
            f"unknown cell type {self.cell_type!r}; choose from {', '.join(ALL_CELL_TYPES)}",
        )
        _require(self.embedding_dim >= 1, "embedding_dim must be at least 1")
        _require(self.units >= 1, "units must be at least 1")
        _require(
            self.num_layers >= 1 or (self.num_layers == 0 and self.pooling not in ("last", "last_token")),
            "num_layers must be at least 1 (0 only with mean or max pooling)",
        )
        _require(0.0 <= self.word_dropout_rate < 1.0, "word_dropout_rate must be in [0, 1)")
        _require(0.0 <= self.dropout_rate < 1.0, "dropout_rate must be in [0, 1)")
        _require(self.pooling in POOLING_MODES, f"pooling must be one of {', '.join(POOLING_MODES)}")
        _require(
            self.chrono_max_steps is None or self.chrono_max_steps >= 3, "chrono_max_steps must be at least 3 (or None)"
        )
        _require(
            not self.irnn or self.cell_type == "simple_rnn",
            "irnn (identity-initialized ReLU) applies to simple_rnn only",
        )
        _require(
            not self.bidirectional or self.cell_type in CELL_TYPES,
            f"bidirectional applies to {', '.join(CELL_TYPES)} only, not {self.cell_type} "
            "(Keras's Bidirectional wraps its own recurrent layers); train it with --no-bidirectional",
        )
        _require(self.solver in SOLVERS, f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        _require(
            self.pretrained_vectors in VECTOR_INITS,
            f"pretrained_vectors must be one of {', '.join(map(str, VECTOR_INITS))}",
        )


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
        teacher: None trains on the labelled training reviews alone. "bow"
            also trains on IMDB's unlabelled reviews (tensorflow-datasets'
            `unsupervised` split, never the test split), each with the
            P(positive) of a bag-of-n-grams model as a soft target:
            knowledge distillation (Hinton, Vinyals & Dean 2015) on
            unlabelled data, a form of self-training. The teacher is the
            reference's model (`sentiment/training/baseline.py`) with
            n-grams up to `teacher_ngram_max`, fitted on the same training
            split and saved in `<output>/teacher`. Validation and test stay
            the labelled reviews; the model trained is unchanged.
        teacher_ngram_max: the teacher's longest word n-gram (3: up to
            trigrams, which label better than the reference's bigrams).
        teacher_reviews: with a teacher, use at most this many unlabelled
            reviews (the first ones); None uses all 50,000.
        adversarial_epsilon: 0 trains on the reviews as they are. Above 0,
            adversarial training on the embedded words (Miyato, Dai &
            Goodfellow, "Adversarial training methods for semi-supervised
            text classification", ICLR 2017): each step also trains on its
            batch with every review's embedded words moved, by a
            perturbation of this L2 norm over the whole review, in the
            direction that raises the loss fastest; the two losses are
            added. A second forward and backward pass per step; the model
            trained is unchanged (`sentiment.training.loop.EmbeddingAdversary`).
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
    teacher: str | None = None
    teacher_ngram_max: int = 3
    teacher_reviews: int | None = None
    adversarial_epsilon: float = 0.0

    def __post_init__(self) -> None:
        _require(self.adversarial_epsilon >= 0, "adversarial_epsilon must be zero (off) or positive")
        _require(self.teacher in TEACHERS, f"teacher must be one of {', '.join(map(str, TEACHERS))}")
        _positive_or_none("teacher_reviews", self.teacher_reviews)
        _require(self.teacher_ngram_max >= 1, "teacher_ngram_max must be at least 1")
        _require(self.batch_size >= 1, "batch_size must be at least 1")
        _require(self.bucket_window >= 1, "bucket_window must be at least 1")
        _require(self.epochs >= 1, "epochs must be at least 1")
        _require(self.learning_rate > 0, "learning_rate must be positive")
        _require(0 < self.learning_rate_decay <= 1, "learning_rate_decay must be in (0, 1]")
        _require(self.clipnorm > 0, "clipnorm must be positive")
        _require(self.monitor in MONITORS, f"monitor must be one of {', '.join(MONITORS)}")
        _require(self.patience >= 0, "patience must be zero or more")


@dataclass(frozen=True)
class BaselineConfig:
    """The bag-of-n-grams reference: NB-weighted logistic regression on word n-grams.

    Attributes:
        ngram_max: the longest n-gram (2: unigrams and bigrams).
        min_df: n-grams in fewer training reviews than this are left out.
        nb_alpha: the Naive Bayes smoothing count.
        c_grid: the logistic regression's inverse regularization strengths
            tried; the one with the best validation accuracy is kept.
    """

    ngram_max: int = 2
    min_df: int = 2
    nb_alpha: float = 1.0
    c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)

    def __post_init__(self) -> None:
        _require(self.ngram_max >= 1, "ngram_max must be at least 1")
        _require(self.min_df >= 1, "min_df must be at least 1")
        _require(self.nb_alpha > 0, "nb_alpha must be positive")
        _require(bool(self.c_grid) and all(c > 0 for c in self.c_grid), "c_grid must name positive values")


@dataclass(frozen=True)
class Preset:
    """A named bundle of configs; `cell_type` is set per model at train time."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    description: str
    cells: tuple[str, ...] = MODELS


PRESETS: dict[str, Preset] = {
    "full": Preset(
        data=DataConfig(),
        model=ModelConfig(),
        train=TrainConfig(),
        description="all 25k training reviews, 400 tokens; the figures in docs/RESULTS.md",
    ),
    "strong": Preset(
        data=DataConfig(vocabulary_size=30_000, sequence_length=600),
        model=ModelConfig(
            embedding_dim=128, units=64, bidirectional=True, pooling="max_mean", pretrained_vectors="ppmi-svd"
        ),
        train=TrainConfig(epochs=2, learning_rate=2e-3, patience=1, teacher="bow", adversarial_epsilon=0.6),
        description=(
            "a model to deploy: bidirectional, max+mean pooling, "
            "word vectors pretrained on the training and unlabelled reviews, 600 tokens, "
            "the unlabelled reviews labelled by a bag-of-trigrams teacher, "
            "and adversarial training on the embedded words"
        ),
        cells=("lstm", "gru", "bow"),
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


# The models after the LSTM that the bench's sequential-cost sweep can time:
# minGRU and minLSTM with each solver ("+scan", "+loop"), and the transformer.
COST_VARIANTS = ("mingru+scan", "mingru+loop", "minlstm+scan", "minlstm+loop", "transformer")


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
        cost_lengths: sequence lengths of the sequential-cost sweep (training
            step and inference time against length; empty: skip it).
        cost_batch_size: reviews per step in that sweep.
        cost_repeats: timed runs per figure in that sweep.
        cost_variants: the models after the LSTM timed in that sweep beside
            the cells and the Conv1D (`COST_VARIANTS`): "mingru+scan",
            "mingru+loop", "minlstm+scan", "minlstm+loop", "transformer".
        cost_memory_gb: the sweep skips a model at a length where its
            attention scores would need more memory than this (batch x
            heads x T^2 floats, about eight copies in a training step: the
            transformer's cost grows as T^2); recurrent models grow as T
            and are never skipped. Raise it on a GPU with the memory.
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
    cost_lengths: tuple[int, ...] = (50, 100, 200, 400, 800, 1600, 3200)
    cost_batch_size: int = 32
    cost_repeats: int = 5
    cost_variants: tuple[str, ...] = ("mingru+scan", "mingru+loop", "minlstm+scan", "transformer")
    cost_memory_gb: float = 4.0

    def __post_init__(self) -> None:
        unknown = [cell for cell in self.cell_types if cell not in CELL_TYPES]
        _require(
            bool(self.cell_types) and not unknown,
            f"unknown cell type {', '.join(unknown) or repr(self.cell_types)}; choose from {', '.join(CELL_TYPES)}",
        )
        _require(
            all(length >= 1 for length in self.cost_lengths),
            f"cost_lengths must be positive, got {self.cost_lengths!r}",
        )
        unknown_variants = [variant for variant in self.cost_variants if variant not in COST_VARIANTS]
        _require(
            not unknown_variants,
            f"unknown cost variant {', '.join(map(repr, unknown_variants))}; choose from {', '.join(COST_VARIANTS)}",
        )
        _require(self.cost_memory_gb > 0, f"cost_memory_gb must be positive, got {self.cost_memory_gb}")
        for name in (
            "batch_size",
            "sequence_length",
            "embedding_dim",
            "units",
            "review_words",
            "inference_batch_size",
            "repeats",
            "latency_repeats",
            "matmul_size",
            "cost_batch_size",
            "cost_repeats",
        ):
            _require(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)}")
        _require(self.warmup >= 0, f"warmup must be zero or more, got {self.warmup}")
        _require(self.vocabulary_size >= 3, "vocabulary_size must be at least 3 (padding, [UNK] and one word)")

    def model_config(self, cell_type: str) -> ModelConfig:
        """The default architecture (dropout included) at this bench's sizes."""
        return ModelConfig(cell_type=cell_type, embedding_dim=self.embedding_dim, units=self.units)


# --- The thesis measurements (sentiment.analysis) -------------------------

# The long-range suite's tasks and model variants (sentiment.analysis.longrange).
TASKS = ("recall", "adding", "associative")
# Variant name -> (cell type, initialization). "keras": the layer as Keras
# builds it (after the LSTM: as `sentiment.cells` builds it, gate biases 0);
# "chrono": chrono gate biases; "identity": the IRNN.
VARIANTS = {
    "simple_rnn": ("simple_rnn", "keras"),
    "irnn": ("simple_rnn", "identity"),
    "lstm": ("lstm", "keras"),
    "lstm+chrono": ("lstm", "chrono"),
    "gru": ("gru", "keras"),
    "gru+chrono": ("gru", "chrono"),
    # After the LSTM (AFTER_THE_LSTM): gates from the input alone, and attention.
    "mingru": ("mingru", "keras"),
    "mingru+chrono": ("mingru", "chrono"),
    "minlstm": ("minlstm", "keras"),
    "minlstm+chrono": ("minlstm", "chrono"),
    "transformer": ("transformer", "keras"),
}
DEFAULT_LENGTHS = (25, 50, 100, 200)


def _distinct(values: tuple, name: str) -> None:
    _require(len(values) > 0, f"{name} must name at least one value")
    _require(len(set(values)) == len(values), f"{name} must not repeat, got {values!r}")


@dataclass(frozen=True)
class LongRangeConfig:
    """The suite: tasks, lengths, variants, seeds and one budget for every run.

    The defaults are what docs/long_range/ was measured with; the page
    states the measured wall time.

    Attributes:
        tasks: "recall", "adding" and/or "associative".
        lengths: sequence lengths T. Recall: the signal is L in [T/2, T]
            steps before the final token. Adding: T steps.
        associative_pairs: associative recall's sizes: P key-value pairs,
            then the query (T = P + 1 tokens).
        associative_keys: distinct keys (a sequence's P keys are distinct).
        associative_values: distinct values; chance is 1 / this.
        variants: model variants, keys of `VARIANTS`.
        seeds: each run is repeated per seed; a seed fixes the data (with
            the task and T), the initial weights and the order.
        units: recurrent units (every variant).
        embedding_dim: token embedding width (recall).
        distractor_count: distinct distractor tokens (recall).
        batch_size: fresh sequences per update.
        learning_rate: Adam learning rate, constant.
        clipnorm: gradient norm clipping, as in the IMDB training.
        recall_updates: the recall budget: a run (and a lag-shift run)
            stops here if it has not solved its task.
        adding_updates: the adding budget, calibrated so that Keras's
            default LSTM at T = 200 solves within it (it did at 5,200,
            6,200 and 8,000 updates in 3 seeds; at chance at 4,000).
        associative_updates: the associative-recall budget, set so that the
            transformer, which a lookup suits, can solve 32 pairs within it
            (at 5,000 updates no variant did, the transformer included).
        eval_interval: updates between evaluations on the held-out set.
        test_sequences: held-out sequences per (task, T, seed).
        lag_bins: recall accuracy is also reported in this many lag bins.
        chrono_horizon: T_max of chrono initialization, one value for the
            whole sweep (a property of the model, never the test distance).
        jacobian_sequences: random sequences the state Jacobian is averaged
            over, at the longest T, before and after training.
        driven_input_scale: the saturated-SimpleRNN Jacobian multiplies its
            inputs by this.
        lag_shift_length: the diagnostic trains on the fixed-lag recall task
            with the signal exactly this many steps back (None: skip it)...
        lag_shift_radius: ...and tests at every lag within this many steps.
        workers: parallel processes (each runs TensorFlow on one thread);
            1 runs everything in this process.
    """

    tasks: tuple[str, ...] = TASKS
    lengths: tuple[int, ...] = DEFAULT_LENGTHS
    associative_pairs: tuple[int, ...] = (4, 8, 16, 32)
    associative_keys: int = 64
    associative_values: int = 4
    variants: tuple[str, ...] = tuple(VARIANTS)
    seeds: tuple[int, ...] = (0, 1, 2)
    units: int = 32
    embedding_dim: int = 16
    distractor_count: int = 16
    batch_size: int = 64
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    recall_updates: int = 5000
    adding_updates: int = 10000
    associative_updates: int = 20000
    eval_interval: int = 200
    test_sequences: int = 1000
    lag_bins: int = 5
    chrono_horizon: int = 200
    jacobian_sequences: int = 256
    driven_input_scale: float = 8.0
    lag_shift_length: int | None = 100
    lag_shift_radius: int = 10
    workers: int = 2

    def __post_init__(self) -> None:
        _distinct(self.tasks, "tasks")
        _require(set(self.tasks) <= set(TASKS), f"unknown task in {self.tasks!r}; choose from {', '.join(TASKS)}")
        _distinct(self.lengths, "lengths")
        _require(
            all(isinstance(t, int) and t >= 2 for t in self.lengths),
            f"lengths must be integers >= 2, got {self.lengths!r}",
        )
        _distinct(self.associative_pairs, "associative_pairs")
        _require(
            all(isinstance(p, int) and p >= 1 for p in self.associative_pairs),
            f"associative_pairs must be integers >= 1, got {self.associative_pairs!r}",
        )
        _require(
            self.associative_keys >= max(self.associative_pairs),
            f"associative_keys ({self.associative_keys}) must be at least the most pairs "
            f"({max(self.associative_pairs)}): a sequence's keys are distinct",
        )
        _require(self.associative_values >= 2, f"associative_values must be at least 2, got {self.associative_values}")
        _distinct(self.variants, "variants")
        unknown = [variant for variant in self.variants if variant not in VARIANTS]
        _require(not unknown, f"unknown variant {', '.join(map(repr, unknown))}; choose from {', '.join(VARIANTS)}")
        _distinct(self.seeds, "seeds")
        _require(
            all(isinstance(s, int) and s >= 0 for s in self.seeds), f"seeds must be integers >= 0, got {self.seeds!r}"
        )
        for name in (
            "units",
            "embedding_dim",
            "distractor_count",
            "batch_size",
            "recall_updates",
            "adding_updates",
            "associative_updates",
            "eval_interval",
            "test_sequences",
            "lag_bins",
            "jacobian_sequences",
            "workers",
        ):
            _require(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)!r}")
        _require(self.learning_rate > 0 and self.clipnorm > 0, "learning_rate and clipnorm must be positive")
        _require(self.chrono_horizon >= 3, "chrono_horizon must be at least 3")
        _require(self.driven_input_scale > 0, "driven_input_scale must be positive")
        _require(
            self.lag_shift_length is None or self.lag_shift_length > self.lag_shift_radius >= 1,
            "lag_shift_length must exceed lag_shift_radius >= 1",
        )

    def budget(self, task: str) -> int:
        """The most updates a run of `task` gets."""
        return {"adding": self.adding_updates, "associative": self.associative_updates}.get(task, self.recall_updates)

    def task_lengths(self, task: str) -> tuple[int, ...]:
        """The sequence lengths T a task runs at: `lengths`, or P + 1 tokens for associative recall."""
        if task == "associative":
            return tuple(pairs + 1 for pairs in self.associative_pairs)
        return self.lengths

    @property
    def jacobian_length(self) -> int:
        return max(self.lengths)

    def model_config(self, variant: str) -> ModelConfig:
        """One architecture for every variant; only the cell and its initialization differ.

        No dropout: the tasks have no noise to regularize, and fresh data
        every update rules out overfitting. "last_token" pooling: the head
        reads the state after the final step, and a transformer, which has
        none, its output at the final step, where each task's question sits
        (`sentiment.models.read_out`; a mean over the steps dilutes the
        query of associative recall among the pairs, and the transformer
        stayed near chance with it).
        """
        cell_type, init = VARIANTS[variant]
        return ModelConfig(
            cell_type=cell_type,
            embedding_dim=self.embedding_dim,
            units=self.units,
            word_dropout_rate=0.0,
            dropout_rate=0.0,
            pooling="last_token",
            chrono_max_steps=self.chrono_horizon if init == "chrono" else None,
            irnn=init == "identity",
        )


# How the filler length T is drawn in training, epoch by epoch.
# "curriculum": the longest T grows over the epochs (the steps of
# `sentiment.analysis.distance.curriculum_max`, the last epochs at
# `max_train_filler`); "mixed": every epoch draws from [0, max_train_filler];
# "zero": always T = 0 (the control that never sees filler). In the first
# two, `zero_share` of the examples have T = 0.
SCHEDULES = ("curriculum", "mixed", "zero")
# Model names besides the cell types: the two controls.
BAG_OF_EMBEDDINGS = "bag_of_embeddings"
ZERO_ONLY = "lstm_t0"
# The fields of `DistanceConfig.data` that sentiment at a distance reads;
# the others must keep their defaults (an example's review part is
# `review_tokens` from the start of the review, its test sample `test_reviews`,
# and the reviews are loaded whole, never streamed).
DISTANCE_DATA_FIELDS = (
    "source",
    "path",
    "download",
    "validation_fraction",
    "test_fraction",
    "max_train_samples",
    "vocabulary_size",
    "vocabulary_samples",
)


@dataclass(frozen=True)
class DistanceConfig:
    """What `python -m sentiment distance` trains and measures.

    Attributes:
        cell_types: the recurrent cells compared.
        schedule: how T is drawn in training for the compared cells:
            "curriculum" or "mixed" (see `SCHEDULES`).
        other_schedule: also train the cells under this schedule and report
            it beside the first (None: skip).
        controls: train the bag-of-embeddings and the T = 0 controls.
        review_tokens: k, the tokens kept from the start of each review.
        max_train_filler: the longest filler in training.
        test_fillers: the filler lengths T evaluated.
        zero_share: share of training examples with T = 0.
        epochs: passes over the training reviews, fresh filler each time.
        embedding_dim, units: the model's width, the same for every model.
        batch_size, learning_rate, clipnorm: the optimizer (Adam), the same for every model.
        test_reviews: test reviews scored at every T (a seeded sample).
        seeds: every model is trained once per seed; a seed fixes the
            validation split, the test sample, the filler, the weights and
            the order.
        workers: parallel processes (each TensorFlow on one thread).
        data: where the reviews come from and their vocabulary, as for
            `train`: the source, path and download, the validation (and CSV
            test) fraction, the cap on training reviews (validation
            included) and the vocabulary size (the separator is one more
            id). Only the fields in `DISTANCE_DATA_FIELDS` are read; the
            others must keep their defaults.
    """

    cell_types: tuple[str, ...] = CELL_TYPES
    schedule: str = "curriculum"
    other_schedule: str | None = "mixed"
    controls: bool = True
    review_tokens: int = 100
    max_train_filler: int = 200
    test_fillers: tuple[int, ...] = (0, 25, 50, 100, 200, 400)
    zero_share: float = 0.3
    epochs: int = 4
    embedding_dim: int = 64
    units: int = 64
    batch_size: int = 64
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    test_reviews: int = 5000
    seeds: tuple[int, ...] = (0, 1, 2)
    workers: int = 2
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        unknown = [cell for cell in self.cell_types if cell not in CELL_TYPES]
        _require(
            bool(self.cell_types) and not unknown,
            f"unknown cell type {', '.join(unknown) or repr(self.cell_types)}; choose from {', '.join(CELL_TYPES)}",
        )
        for name in ("schedule", "other_schedule"):
            value = getattr(self, name)
            _require(
                value in SCHEDULES[:2] or (name == "other_schedule" and value is None),
                f"{name} must be curriculum or mixed, got {value!r}",
            )
        _require(self.other_schedule != self.schedule, "other_schedule must differ from schedule")
        for name in (
            "review_tokens",
            "max_train_filler",
            "epochs",
            "embedding_dim",
            "units",
            "batch_size",
            "test_reviews",
            "workers",
        ):
            _require(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)!r}")
        _require(
            bool(self.test_fillers) and all(t >= 0 for t in self.test_fillers), "test_fillers must be lengths >= 0"
        )
        _require(0.0 <= self.zero_share < 1.0, "zero_share must be in [0, 1)")
        _require(
            bool(self.seeds) and len(set(self.seeds)) == len(self.seeds) and min(self.seeds) >= 0,
            f"seeds must be distinct integers >= 0, got {self.seeds!r}",
        )
        _require(self.learning_rate > 0 and self.clipnorm > 0, "learning_rate and clipnorm must be positive")
        _require(isinstance(self.data, DataConfig), f"data must be a DataConfig, got {type(self.data).__name__}")
        unread = [
            data_field.name
            for data_field in dataclasses.fields(DataConfig)
            if data_field.name not in DISTANCE_DATA_FIELDS and getattr(self.data, data_field.name) != data_field.default
        ]
        _require(
            not unread,
            f"sentiment at a distance does not read data.{', data.'.join(unread)}; leave them at their defaults "
            "(the review part of an example is review_tokens, the test sample test_reviews)",
        )

    def models(self) -> list[tuple[str, str]]:
        """(model, schedule) pairs to train, the compared cells first."""
        pairs = [(cell, self.schedule) for cell in self.cell_types]
        if self.other_schedule:
            pairs += [(cell, self.other_schedule) for cell in self.cell_types]
        if self.controls:
            pairs += [(BAG_OF_EMBEDDINGS, self.schedule), (ZERO_ONLY, "zero")]
        return pairs

    def model_config(self, model: str) -> ModelConfig:
        """The project's default architecture at these sizes; the controls change one thing each."""
        if model == BAG_OF_EMBEDDINGS:
            return ModelConfig(
                cell_type="lstm", embedding_dim=self.embedding_dim, units=self.units, num_layers=0, pooling="mean"
            )
        return ModelConfig(
            cell_type="lstm" if model == ZERO_ONLY else model, embedding_dim=self.embedding_dim, units=self.units
        )

    def train_config(self) -> TrainConfig:
        """The optimizer and the batches of every model, for `sentiment.training.loop`.

        Adam at a constant learning rate with per-variable clipnorm, as the
        long-range suite's (no per-epoch decay: the schedule of T is what
        changes from epoch to epoch), on length-bucketed batches.
        """
        return TrainConfig(
            batch_size=self.batch_size,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            learning_rate_decay=1.0,
            clipnorm=self.clipnorm,
        )
