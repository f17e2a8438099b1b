"""Train SimpleRNN, LSTM and GRU classifiers (and those after the LSTM) under one budget, resumably.

`train_models` is the whole pipeline: load and split reviews (in memory, or
streamed from a tensorflow-datasets dataset), adapt the vocabulary on training
data, then for each cell type train with early stopping on a validation
figure (`sentiment.training.loop`, under any `tf.distribute` strategy),
evaluate on the test split, and write the artifact folder.

The run's records: `summary.json` at the root holds the run's settings from
the start (a resumed run with other settings is refused) and every finished
model's figures with the machine that produced them; each
`<cell>/config.json` makes that artifact self-contained; the checkpoint's
`state.json` lives only until the model is finished (see
`sentiment.training.checkpoint`).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sentiment import data, evaluate
from sentiment.config import (
    ALL_MODELS,
    ARTIFACT_FORMAT_VERSION,
    BASELINE,
    LABEL_NAMES,
    MODELS,
    BaselineConfig,
    DataConfig,
    ModelConfig,
    TrainConfig,
    to_dict,
)
from sentiment.errors import SentimentError
from sentiment.io import artifacts, files, provenance
from sentiment.models import build_classifier
from sentiment.training import baseline, checkpoint, distribute, loop, vectors

SUMMARY_JSON = "summary.json"
SUMMARY_MARKDOWN = "summary.md"
# Pretrained word vectors: each review's first tokens, and the co-occurrence window.
VECTOR_CORPUS_TOKENS = 1000
VECTOR_WINDOW = 5
# Where a run's teacher (TrainConfig.teacher) is saved: a bag-of-n-grams artifact, like the reference's.
TEACHER_FOLDER = "teacher"


@dataclass(frozen=True)
class TrainResult:
    cell_type: str
    folder: Path
    metrics: dict[str, Any]
    skipped: bool  # already complete before this run


class _Inputs:
    """The batches of one run, from arrays in memory or streamed from tfds.

    Attributes:
        class_names: label names in class-id order.
        counts: "train", "validation", "test" -> reviews.
    """

    def __init__(
        self,
        data_config: DataConfig,
        train_config: TrainConfig,
        vocabulary: list[str],
        splits: data.Splits | None,
        stream: data.Stream | None,
    ):
        self._window = train_config.bucket_window if train_config.length_bucketing else None
        self._length_bucketing = train_config.length_bucketing
        self._stream, self.splits = stream, splits
        self.vectors, self.vectors_record = None, None
        self.teacher_record: dict[str, Any] | None = None
        self._unlabelled: np.ndarray | None = None
        self._encoder = data.TextEncoder.for_config(vocabulary, data_config)
        if stream is not None:
            self.class_names, self.counts = stream.class_names, stream.counts
        else:
            self._arrays = prepare_arrays(splits, self._encoder)
            self.class_names = LABEL_NAMES
            self.counts = {split: len(self._arrays[f"{split}_labels"]) for split in ("train", "validation", "test")}

    def unlabelled(self, data_config: DataConfig, limit: int | None = None) -> np.ndarray:
        """IMDB's unlabelled reviews (the first `limit`), read from disk once per run.

        The vectors and the teacher both read them.
        """
        if self._unlabelled is not None and (limit is None or limit <= len(self._unlabelled)):
            return self._unlabelled[:limit]
        texts = data.load_unlabelled(data_config.path, data_config.download, limit)
        if self._unlabelled is None or len(texts) > len(self._unlabelled):
            self._unlabelled = texts
        return texts

    def add_soft_targets(self, texts: np.ndarray, targets: np.ndarray) -> None:
        """Adds reviews to the training split with soft targets (a teacher's P(positive)); in memory only."""
        arrays = self._arrays
        arrays["train_ids"] = np.concatenate(
            [arrays["train_ids"], self._encoder.encode(texts, to_sequence_length=True)]
        )
        arrays["train_labels"] = np.concatenate(
            [arrays["train_labels"].astype(np.float32), np.asarray(targets, np.float32)]
        )
        self.counts["train"] = len(arrays["train_labels"])

    def batches(self, split: str, batch_size: int, shuffle_seed: int | None) -> tf.data.Dataset:
        """(<int32>[batch, time] token ids, labels[batch]) batches of "train" or "validation"."""
        if self._stream is not None:
            return data.stream_batches(self._stream, self._encoder, split, batch_size, shuffle_seed, self._window)
        return data.batched_dataset(
            self._arrays[f"{split}_ids"], self._arrays[f"{split}_labels"], batch_size, shuffle_seed, self._window
        )

    def predict_test(self, model: keras.Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, labels, word counts) over the test split."""
        if self._stream is None:
            arrays = self._arrays
            return (
                loop.predict_probabilities(model, arrays["test_ids"], self._length_bucketing),
                arrays["test_labels"],
                arrays["test_word_counts"],
            )
        batches = data.stream_batches(
            self._stream, self._encoder, "test", 256, None, self._window, with_word_counts=True
        )
        return loop.predict_batches(model, batches)


def run_settings(data_config: DataConfig, model_config: ModelConfig, train_config: TrainConfig) -> dict[str, Any]:
    """The settings every model of a run shares (the cell type is each model's own)."""
    return {
        "data": to_dict(data_config),
        "model": {key: value for key, value in to_dict(model_config).items() if key != "cell_type"},
        "train": to_dict(train_config),
    }


def _check_run(output: Path, settings: dict[str, Any]) -> None:
    """Starts the run's summary.json, or refuses to mix runs with other settings in one folder."""
    path = output / SUMMARY_JSON
    if not path.exists():
        files.write_json(path, {"format_version": ARTIFACT_FORMAT_VERSION, "run": settings, "models": {}})
        return
    stored = files.read_json(path)
    artifacts.check_format_version(stored.get("format_version"), output)
    # A field added to a config since the run started is absent from its
    # settings; at its default it is what that run did (ModelConfig.solver,
    # for one, changes no model trained before minGRU existed).
    defaults = {
        section: {field.name: field.default for field in dataclasses.fields(config)}
        for section, config in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))
    }
    differences = [
        f"{section}.{key}: {before!r} -> {value!r}"
        for section in ("data", "model", "train")
        for key, value in settings[section].items()
        if (before := stored["run"][section].get(key, defaults[section].get(key))) != value
    ]
    if differences:
        raise SentimentError(
            f"{output} holds a run with other settings ({'; '.join(differences)}); "
            f"pass another --output or delete {output}"
        )


def _restore_or_build(
    cell_type: str,
    run_config: artifacts.RunConfig,
    vocabulary_size: int,
    train_count: int,
    folder: Path,
    strategy: tf.distribute.Strategy,
    log: Callable[[str], None],
    embedding_weights: np.ndarray | None = None,
):
    """(model, state): the interrupted run's checkpoint, or a fresh compiled model.

    Refuses a resume on other devices.
    """
    train_config = run_config.train
    global_batch = train_config.batch_size * strategy.num_replicas_in_sync
    state = checkpoint.saved_state(folder)
    distribute.check_workers_agree(
        strategy, f"the epochs [{cell_type}] already trained", state["epochs_done"] if state else 0
    )
    if state is not None and state["global_batch_size"] != global_batch:
        raise SentimentError(
            f"[{cell_type}] {folder} was trained with a global batch of {state['global_batch_size']} reviews; "
            f"this run has {strategy.num_replicas_in_sync} replica(s) x {train_config.batch_size} = {global_batch}. "
            f"Resume with the same --strategy and devices, or pass another --output"
        )
    with strategy.scope():  # variables (model and optimizer) are mirrored on every replica
        if state is not None:
            log(f"[{cell_type}] resuming after epoch {state['epochs_done']} from {folder}")
            return checkpoint.load_last_model(folder), state
        model = build_classifier(
            run_config.model,
            vocabulary_size,
            run_config.num_classes,
            embedding_weights,
            run_config.data.sequence_length,
        )
        loop.compile_for_training(model, train_config, math.ceil(train_count / global_batch))
        model.optimizer.build(model.trainable_variables)
    return model, checkpoint.fresh_state(global_batch)


def _train_one(
    cell_type: str,
    run_config: artifacts.RunConfig,
    vocabulary: list[str],
    inputs: _Inputs,
    folder: Path,
    strategy: tf.distribute.Strategy,
    verbose: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Trains (or resumes) one cell, evaluates its best epoch on the test split, writes its artifact folder."""
    train_config = run_config.train
    saved = folder / checkpoint.CHECKPOINT_FOLDER
    saved.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(train_config.seed)
    model, state = _restore_or_build(
        cell_type, run_config, len(vocabulary), inputs.counts["train"], saved, strategy, log, inputs.vectors
    )
    if state["epochs_done"] < train_config.epochs and state["stopped_reason"] is None:
        callbacks = [
            checkpoint.ResumableCheckpoint(saved, train_config.monitor, train_config.patience, state),
            keras.callbacks.TensorBoard(log_dir=str(folder / "logs")),
        ]
        loop.fit(model, strategy, inputs.batches, inputs.counts, train_config, callbacks, state, verbose)
    if state["epochs_done"] == 0:
        raise SentimentError(
            f"[{cell_type}] training produced no usable epoch ({state['stopped_reason']}); try a lower --learning-rate"
        )
    model.load_weights(saved / checkpoint.BEST_WEIGHTS)
    log(
        f"[{cell_type}] best epoch {state['best_epoch']} of {state['epochs_done']} "
        f"({train_config.monitor} {state['best']:.4f}); evaluating on the test split"
    )
    metrics = _evaluate(cell_type, model, run_config, inputs, state, strategy)
    _write_artifact(folder, model, run_config, vocabulary, state["history"], metrics)
    shutil.rmtree(saved, ignore_errors=True)
    return metrics


def _evaluate(
    cell_type: str,
    model: keras.Model,
    run_config: artifacts.RunConfig,
    inputs: _Inputs,
    state: dict[str, Any],
    strategy: tf.distribute.Strategy,
) -> dict[str, Any]:
    """metrics.json: the test figures, the training cost and how it was spread, and the machine."""
    start = time.perf_counter()
    probabilities, test_labels, test_word_counts = inputs.predict_test(model)
    inference_seconds = time.perf_counter() - start
    history, train_config = state["history"], run_config.train
    train_seconds = float(sum(history["train_seconds"]))
    return {
        "cell_type": cell_type,
        "test": evaluate.evaluate_predictions(
            probabilities, test_labels, test_word_counts, run_config.data.sequence_length
        ),
        "parameters": int(model.count_params()),
        "epochs_run": state["epochs_done"],
        "best_epoch": state["best_epoch"],
        "monitor": train_config.monitor,
        "best_monitor_value": state["best"],
        "stopped_reason": state["stopped_reason"],
        "train_samples": int(inputs.counts["train"]),
        "validation_samples": int(inputs.counts["validation"]),
        "training_seconds": float(sum(history["epoch_seconds"])),
        "train_samples_per_second": inputs.counts["train"] * state["epochs_done"] / train_seconds,
        "test_inference_samples_per_second": len(probabilities) / inference_seconds,
        "distribution": distribute.describe(strategy, train_config.batch_size),
        "pretrained_vectors": inputs.vectors_record,
        "teacher": inputs.teacher_record,
        "machine": provenance.machine(),
        "finished_at": provenance.utc_now(),
    }


def _write_artifact(
    folder: Path,
    model: keras.Model,
    run_config: artifacts.RunConfig,
    vocabulary: list[str],
    history: dict[str, Any],
    metrics: dict[str, Any],
) -> None:
    """The artifact's files, each atomically; the manifest last, which marks the folder complete."""
    with files.atomic_path(folder / artifacts.MODEL_FILE) as temporary:
        model.save(temporary, include_optimizer=False)  # the artifact is for inference
    files.write_json(folder / artifacts.CONFIG_FILE, run_config.to_json())
    artifacts.write_vocabulary(folder / artifacts.VOCABULARY_FILE, vocabulary)
    files.write_json(folder / artifacts.HISTORY_FILE, history)
    files.write_json(folder / artifacts.METRICS_FILE, metrics)
    artifacts.write_manifest(folder)


def _train_baseline(
    inputs: _Inputs, data_config: DataConfig, folder: Path, strategy: tf.distribute.Strategy, log: Callable[[str], None]
) -> dict[str, Any]:
    """The bag-of-n-grams reference on the same splits (the chief alone: it needs no devices)."""
    if inputs.splits is None:
        raise SentimentError(
            f"the {BASELINE} reference reads reviews in memory; leave it out of --cells with --dataset"
        )
    folder.mkdir(parents=True, exist_ok=True)
    metrics = baseline.train_and_write(inputs.splits, data_config, BaselineConfig(), folder, log)
    distribute.check_workers_agree(strategy, f"the {BASELINE} reference", 1)
    return metrics


def _add_teacher_targets(
    inputs: _Inputs, data_config: DataConfig, train_config: TrainConfig, output: Path, log: Callable[[str], None]
) -> None:
    """Labels IMDB's unlabelled reviews with the teacher and adds them to the training split.

    The labels are the teacher's P(positive), soft; the teacher is fitted
    first if `output` has none.
    """
    started = time.perf_counter()
    teacher_folder = output / TEACHER_FOLDER
    if not (teacher_folder / artifacts.MANIFEST_FILE).exists():
        log(f"[teacher] fitting the bag of n-grams up to {train_config.teacher_ngram_max}-grams")
        teacher_folder.mkdir(parents=True, exist_ok=True)
        baseline.train_and_write(
            inputs.splits,
            data_config,
            BaselineConfig(ngram_max=train_config.teacher_ngram_max),
            teacher_folder,
            log,
            name=TEACHER_FOLDER,
        )
    teacher = baseline.BagOfNgrams.load(teacher_folder)
    labelled = inputs.counts["train"]
    texts = inputs.unlabelled(data_config, train_config.teacher_reviews)
    log(f"[teacher] labelling {len(texts):,} unlabelled reviews")
    targets = teacher.probabilities(texts)
    inputs.add_soft_targets(texts, targets)
    inputs.teacher_record = {
        "teacher": train_config.teacher,
        "teacher_ngram_max": teacher.config.ngram_max,
        "teacher_folder": TEACHER_FOLDER,
        "teacher_test_accuracy": files.read_json(teacher_folder / artifacts.METRICS_FILE)["test"]["accuracy"],
        "corpus": "IMDB's unlabelled reviews (tensorflow-datasets' unsupervised split)",
        "reviews": len(texts),
        "targets": "soft: the teacher's P(positive)",
        "positive_share": float(np.mean(targets > 0.5)),
        "labelled_train_samples": labelled,
        "seconds": time.perf_counter() - started,
    }
    log(
        f"[teacher] test accuracy {inputs.teacher_record['teacher_test_accuracy']:.4f}; "
        f"training on {labelled:,} labelled and {len(texts):,} teacher-labelled reviews"
    )


def prepare_arrays(splits: data.Splits, encoder: data.TextEncoder) -> dict[str, np.ndarray]:
    """Token ids and labels for every split, plus test review lengths (in memory)."""
    return {
        "train_ids": encoder.encode(splits.train.texts, to_sequence_length=True),
        "train_labels": splits.train.labels,
        "validation_ids": encoder.encode(splits.validation.texts, to_sequence_length=True),
        "validation_labels": splits.validation.labels,
        "test_ids": encoder.encode(splits.test.texts, to_sequence_length=True),
        "test_labels": splits.test.labels,
        "test_word_counts": data.count_words(splits.test.texts),
    }


def _load_inputs(
    data_config: DataConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    output: Path,
    log: Callable[[str], None],
) -> tuple[list[str], _Inputs]:
    """Opens the data (in memory or streamed), adapts (or reloads) the vocabulary, and prepares the batches."""
    splits = stream = None
    if data_config.dataset is None:
        log(f"loading reviews ({data_config.source})")
        splits = data.load_splits(data_config, train_config.seed)
        counts = {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)}
    else:
        stream = data.open_stream(data_config)
        counts = stream.counts
        log(
            f"streaming {data_config.dataset} from disk: "
            f"{len(stream.class_names)} classes ({', '.join(stream.class_names)})"
        )
    log(f"{counts['train']} train / {counts['validation']} validation / {counts['test']} test reviews")
    vocabulary_path = output / artifacts.VOCABULARY_FILE
    if vocabulary_path.exists():
        vocabulary = artifacts.read_vocabulary(vocabulary_path)
    else:
        texts = (
            splits.train.texts if stream is None else data.stream_reviews(stream, "train").map(lambda text, label: text)
        )
        vocabulary = data.adapt_vocabulary(texts, data_config.vocabulary_size, data_config.vocabulary_samples)
        artifacts.write_vocabulary(vocabulary_path, vocabulary)
    log(f"vocabulary: {len(vocabulary)} tokens (adapted on the training split)")
    inputs = _Inputs(data_config, train_config, vocabulary, splits, stream)
    if model_config.pretrained_vectors is not None:
        inputs.vectors, inputs.vectors_record = _pretrained_vectors(
            data_config, model_config, vocabulary, inputs, output, log
        )
    return vocabulary, inputs


def _pretrained_vectors(
    data_config: DataConfig,
    model_config: ModelConfig,
    vocabulary: list[str],
    inputs: _Inputs,
    output: Path,
    log: Callable[[str], None],
) -> tuple[np.ndarray, dict[str, Any]]:
    """PPMI + SVD word vectors of the training split and, for IMDB, its 50,000 unlabelled reviews.

    Never the test split; cached in `output`.
    """
    if inputs.splits is None:
        raise SentimentError(
            "pretrained word vectors read the reviews in memory; they cannot be combined with --dataset"
        )
    texts, source = inputs.splits.train.texts, "the training split (validation excluded)"
    if data_config.source == "tfds":
        texts, source = (
            np.concatenate([texts, inputs.unlabelled(data_config)]),
            source + " and IMDB's 50,000 unlabelled reviews",
        )
    encoder = data.TextEncoder(vocabulary, VECTOR_CORPUS_TOKENS, "right", data_config.vocabulary_size)
    vectors_found = vectors.pretrain(
        encoder.encode(texts, to_sequence_length=True),
        len(vocabulary),
        model_config.embedding_dim,
        VECTOR_WINDOW,
        output,
        source,
        log,
    )
    return vectors_found, files.read_json(output / vectors.VECTORS_RECORD)


def train_models(
    data_config: DataConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    cell_types: tuple[str, ...] = MODELS,
    output: str | Path = "artifacts",
    verbose: int = 1,
    log: Callable[[str], None] = print,
    command: str | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> list[TrainResult]:
    """Trains each cell type and writes its artifact folder under `output`.

    Args:
        data_config, model_config, train_config: the shared settings; the
            cell type of `model_config` is replaced per model.
        cell_types: which of "simple_rnn", "lstm", "gru" and the "bow"
            reference (`sentiment.training.baseline`, in-memory data only) to
            train, and of those after the LSTM ("mingru", "minlstm",
            "transformer"; `sentiment.config.AFTER_THE_LSTM`).
        output: the artifacts folder. A multi-worker run's workers other
            than the chief write to `output/workertemp_<i>` instead.
        verbose: Keras verbosity (1 = progress bars, 2 = a line per epoch).
        log: where progress messages go.
        command: the command line, recorded in the summary.
        strategy: from `sentiment.training.distribute.make_strategy`; None
            trains on one device. `train_config.batch_size` is per replica.

    Returns:
        One TrainResult per cell type, in order (this worker's folders).
    """
    started = time.perf_counter()
    strategy = strategy or tf.distribute.get_strategy()
    output = distribute.worker_folder(Path(output), distribute.worker_of(strategy))
    for cell_type in cell_types:
        if cell_type not in ALL_MODELS:
            raise SentimentError(f"unknown model {cell_type!r}; choose from {', '.join(ALL_MODELS)}")
        if cell_type != BASELINE:
            try:  # early: a setting that cannot apply to one of the models (bidirectional minGRU) costs a line
                replace(model_config, cell_type=cell_type)
            except ValueError as error:
                raise SentimentError(f"[{cell_type}] {error}") from None
    if BASELINE in cell_types and data_config.dataset is not None:
        raise SentimentError(
            f"the {BASELINE} reference reads reviews in memory; leave it out of --cells with --dataset"
        )
    if train_config.teacher is not None and (data_config.source != "tfds" or data_config.dataset is not None):
        raise SentimentError(
            "--teacher labels IMDB's unlabelled reviews, which only the tfds source has (without --dataset)"
        )
    output.mkdir(parents=True, exist_ok=True)
    _check_run(output, run_settings(data_config, model_config, train_config))
    pending = [c for c in cell_types if not (output / c / artifacts.MANIFEST_FILE).exists()]
    distribute.check_workers_agree(strategy, "the cells still to train", sum(1 << ALL_MODELS.index(c) for c in pending))
    results = {
        c: TrainResult(c, output / c, files.read_json(output / c / artifacts.METRICS_FILE), True)
        for c in cell_types
        if c not in pending
    }
    for cell_type in results:
        log(f"[{cell_type}] already trained in {output / cell_type}; skipping (delete that folder to retrain)")
    if pending:
        log(distribute.describe_line(strategy, train_config.batch_size))
        vocabulary, inputs = _load_inputs(data_config, model_config, train_config, output, log)
        for cell_type in pending:
            log(f"[{cell_type}] training")
            if cell_type == BASELINE:
                metrics = _train_baseline(inputs, data_config, output / cell_type, strategy, log)
                results[cell_type] = TrainResult(cell_type, output / cell_type, metrics, False)
                log(
                    f"[{cell_type}] test accuracy {metrics['test']['accuracy']:.4f} "
                    f"in {metrics['training_seconds']:.0f} s"
                )
                continue
            if train_config.teacher is not None and inputs.teacher_record is None:
                _add_teacher_targets(inputs, data_config, train_config, output, log)
            run_config = artifacts.RunConfig(
                data=data_config,
                model=replace(model_config, cell_type=cell_type),
                train=train_config,
                class_names=tuple(inputs.class_names),
            )
            metrics = _train_one(cell_type, run_config, vocabulary, inputs, output / cell_type, strategy, verbose, log)
            results[cell_type] = TrainResult(cell_type, output / cell_type, metrics, False)
            log(f"[{cell_type}] test accuracy {metrics['test']['accuracy']:.4f} in {metrics['training_seconds']:.0f} s")
    write_summary(output, command=command, wall_seconds=time.perf_counter() - started)
    return [results[c] for c in cell_types]


def write_summary(output: str | Path, command: str | None = None, wall_seconds: float | None = None) -> dict[str, Any]:
    """Completes summary.json (and writes summary.md) with every finished model in `output`.

    Args:
        output: the artifacts folder.
        command: the command line that produced it.
        wall_seconds: wall time of that command, loading and evaluation
            included (only this invocation's, if it resumed earlier work).
    """
    from sentiment.report import summary_markdown

    output = Path(output)
    models = {
        cell_type: files.read_json(output / cell_type / artifacts.METRICS_FILE)
        for cell_type in ALL_MODELS
        if (output / cell_type / artifacts.MANIFEST_FILE).exists()
    }
    summary = {
        **files.read_json(output / SUMMARY_JSON),
        "command": command or " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": provenance.machine(),
        "written_at": provenance.utc_now(),
        "wall_seconds": wall_seconds,
        "load_average": provenance.load_average(),
        "models": models,
    }
    files.write_json(output / SUMMARY_JSON, summary)
    files.write_text(output / SUMMARY_MARKDOWN, summary_markdown(summary))
    return summary
