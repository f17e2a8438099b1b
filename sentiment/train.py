"""Train SimpleRNN, LSTM and GRU classifiers under one budget, resumably.

`train_models` is the whole pipeline: load and split reviews, adapt the
vocabulary on training data, then for each cell type train with early stopping
on validation loss, evaluate on the test split, and write the artifact folder.

Resuming: after every epoch the model (with its optimizer state), the best
weights so far and the early-stopping state are checkpointed under
`<output>/<cell>/checkpoint/`. Running the same command again after a crash or
a kill continues from the last completed epoch; cell types that already have a
complete artifact folder are skipped.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from sentiment import artifacts, data, evaluate
from sentiment.config import ARTIFACT_FORMAT_VERSION, CELL_TYPES, DataConfig, ModelConfig, TrainConfig, to_dict
from sentiment.errors import SentimentError
from sentiment.models import build_classifier
from sentiment.report import cpu_name

RUN_FILE = "run.json"
SUMMARY_JSON = "summary.json"
SUMMARY_MARKDOWN = "summary.md"
CHECKPOINT_FOLDER = "checkpoint"
_LAST_MODEL = "last.keras"
_BEST_WEIGHTS = "best.weights.h5"
_STATE = "state.json"


@dataclass(frozen=True)
class TrainResult:
    cell_type: str
    folder: Path
    metrics: dict[str, Any]
    skipped: bool  # already complete before this run


class ResumableCheckpoint(keras.callbacks.Callback):
    """Checkpoints every epoch and stops early on a validation figure.

    Unlike `keras.callbacks.EarlyStopping`, its state (best value, epochs
    without improvement, history) is written to disk, so a resumed run stops
    at the same epoch an uninterrupted run would. An epoch whose logs hold a
    NaN or infinite value stops training and is never written over the last
    good checkpoint.

    Args:
        folder: the checkpoint folder.
        monitor: "val_accuracy" (higher is better) or "val_loss" (lower is).
        patience: epochs without improvement before stopping.
        state: the dict to keep up to date (from `_fresh_state` or disk).
    """

    def __init__(self, folder: Path, monitor: str, patience: int, state: dict[str, Any]):
        super().__init__()
        self.folder = folder
        self.monitor = monitor
        self.patience = patience
        self.state = state
        self._epoch_start = self._train_end = 0.0

    def _improved(self, value: float) -> bool:
        best = self.state["best"]
        if best is None:
            return True
        return value > best if self.monitor == "val_accuracy" else value < best

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._train_end = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._train_end = time.perf_counter()  # validation starts: training part of the epoch is over

    def on_epoch_end(self, epoch, logs=None):
        logs = {name: float(value) for name, value in (logs or {}).items()}
        if not all(math.isfinite(value) for value in logs.values()):
            self.state["stopped_reason"] = f"non-finite loss or metric at epoch {epoch + 1}: {logs}"
            self.model.stop_training = True
            return
        now = time.perf_counter()
        history = self.state["history"]
        for name, value in logs.items():
            history.setdefault(name, []).append(value)
        history.setdefault("train_seconds", []).append(self._train_end - self._epoch_start)
        history.setdefault("epoch_seconds", []).append(now - self._epoch_start)

        if self._improved(logs[self.monitor]):
            self.state.update(best=logs[self.monitor], best_epoch=epoch + 1, wait=0)
            with artifacts.atomic_path(self.folder / _BEST_WEIGHTS) as temporary:
                self.model.save_weights(temporary)
        else:
            self.state["wait"] += 1
        self.state["epochs_done"] = epoch + 1
        if self.state["wait"] >= self.patience and self.state["wait"] > 0:
            self.state["stopped_reason"] = f"no {self.monitor} improvement for {self.state['wait']} epoch(s)"
            self.model.stop_training = True
        # Model first, then the state that points at it: a kill in between
        # repeats at most one epoch's bookkeeping, never loses a model.
        with artifacts.atomic_path(self.folder / _LAST_MODEL) as temporary:
            self.model.save(temporary)
        artifacts.write_json(self.folder / _STATE, self.state)


def _fresh_state() -> dict[str, Any]:
    return {"epochs_done": 0, "best": None, "best_epoch": 0, "wait": 0, "history": {}, "stopped_reason": None}


def _compile(model: keras.Model, config: TrainConfig, steps_per_epoch: int) -> None:
    learning_rate = keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, decay_steps=steps_per_epoch, decay_rate=config.learning_rate_decay, staircase=True
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=config.clipnorm),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )


def _batches(token_ids: np.ndarray, labels: np.ndarray, config: TrainConfig, shuffle_seed: int | None) -> tf.data.Dataset:
    window = config.bucket_window if config.length_bucketing else None
    return data.batched_dataset(token_ids, labels, config.batch_size, shuffle_seed, window)


def predict_probabilities(model: keras.Model, token_ids: np.ndarray, length_bucketing: bool, verbose: int = 0, batch_size: int = 256) -> np.ndarray:
    """P(positive) for every review, in the order given.

    With `length_bucketing` the reviews are predicted from shortest to
    longest, each batch padded only to its longest review, and the results
    put back in the original order: the same figures for a fraction of the
    recurrent steps.

    Returns:
        <float32>[n].
    """
    labels = np.zeros(len(token_ids), np.float32)  # unused by predict
    if not length_bucketing:
        return model.predict(data.batched_dataset(token_ids, labels, batch_size), verbose=verbose).reshape(-1)
    order = data.length_order(token_ids)
    sorted_probabilities = model.predict(data.batched_dataset(token_ids[order], labels, batch_size, bucket_window=1), verbose=verbose).reshape(-1)
    probabilities = np.empty_like(sorted_probabilities)
    probabilities[order] = sorted_probabilities
    return probabilities


def machine_description() -> dict[str, Any]:
    """What produced the figures: CPU, cores, accelerators, library versions."""
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "platform": platform.platform(),
    }


def _load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: how busy the machine was."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def _check_run(output: Path, data_config: DataConfig, model_config: ModelConfig, train_config: TrainConfig) -> None:
    """Refuses to mix runs with different settings in one folder."""
    run = {
        "format_version": ARTIFACT_FORMAT_VERSION,
        "data": to_dict(data_config),
        "model": {key: value for key, value in to_dict(model_config).items() if key != "cell_type"},
        "train": to_dict(train_config),
    }
    path = output / RUN_FILE
    if path.exists():
        stored = artifacts.read_json(path)
        artifacts.check_format_version(stored.get("format_version"), output)
        differences = [
            f"{section}.{key}: {stored.get(section, {}).get(key)!r} -> {value!r}"
            for section in ("data", "model", "train")
            for key, value in run[section].items()
            if stored.get(section, {}).get(key) != value
        ]
        if differences:
            raise SentimentError(
                f"{output} holds a run with other settings ({'; '.join(differences)}); "
                f"pass another --output or delete {output}"
            )
    else:
        artifacts.write_json(path, run)


def _train_one(
    cell_type: str,
    model_config: ModelConfig,
    train_config: TrainConfig,
    run_config: artifacts.RunConfig,
    vocabulary: list[str],
    arrays: dict[str, Any],
    folder: Path,
    verbose: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    checkpoint = folder / CHECKPOINT_FOLDER
    checkpoint.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(train_config.seed)

    if (checkpoint / _STATE).exists() and (checkpoint / _LAST_MODEL).exists():
        state = artifacts.read_json(checkpoint / _STATE)
        model = keras.models.load_model(checkpoint / _LAST_MODEL, safe_mode=True)
        log(f"[{cell_type}] resuming after epoch {state['epochs_done']} from {checkpoint}")
    else:
        state = _fresh_state()
        model = build_classifier(model_config, len(vocabulary))
        _compile(model, train_config, steps_per_epoch=math.ceil(len(arrays["train_labels"]) / train_config.batch_size))

    finished = state["epochs_done"] >= train_config.epochs or state["stopped_reason"] is not None
    if not finished:
        model.fit(
            _batches(arrays["train_ids"], arrays["train_labels"], train_config, shuffle_seed=train_config.seed),
            validation_data=_batches(arrays["validation_ids"], arrays["validation_labels"], train_config, shuffle_seed=None),
            epochs=train_config.epochs,
            initial_epoch=state["epochs_done"],
            shuffle=False,  # the dataset shuffles itself, seeded
            callbacks=[
                ResumableCheckpoint(checkpoint, train_config.monitor, train_config.patience, state),
                keras.callbacks.TensorBoard(log_dir=str(folder / "logs")),
            ],
            verbose=verbose,
        )
    if state["epochs_done"] == 0:
        raise SentimentError(f"[{cell_type}] training produced no usable epoch ({state['stopped_reason']}); try a lower --learning-rate")
    model.load_weights(checkpoint / _BEST_WEIGHTS)
    log(f"[{cell_type}] best epoch {state['best_epoch']} of {state['epochs_done']} ({train_config.monitor} {state['best']:.4f}); evaluating on the test split")

    start = time.perf_counter()
    probabilities = predict_probabilities(model, arrays["test_ids"], train_config.length_bucketing, verbose)
    inference_seconds = time.perf_counter() - start
    history = state["history"]
    train_seconds = float(sum(history["train_seconds"]))
    metrics = {
        "cell_type": cell_type,
        "test": evaluate.evaluate_predictions(
            probabilities, arrays["test_labels"], arrays["test_word_counts"], run_config.data.sequence_length
        ),
        "parameters": int(model.count_params()),
        "epochs_run": state["epochs_done"],
        "best_epoch": state["best_epoch"],
        "monitor": train_config.monitor,
        "best_monitor_value": state["best"],
        "stopped_reason": state["stopped_reason"],
        "train_samples": int(len(arrays["train_labels"])),
        "validation_samples": int(len(arrays["validation_labels"])),
        "training_seconds": float(sum(history["epoch_seconds"])),
        "train_samples_per_second": len(arrays["train_labels"]) * state["epochs_done"] / train_seconds,
        "test_inference_samples_per_second": len(probabilities) / inference_seconds,
        "machine": machine_description(),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }

    with artifacts.atomic_path(folder / artifacts.MODEL_FILE) as temporary:
        model.save(temporary, include_optimizer=False)  # the artifact is for inference
    artifacts.write_json(folder / artifacts.CONFIG_FILE, run_config.to_json())
    artifacts.write_vocabulary(folder / artifacts.VOCABULARY_FILE, vocabulary)
    artifacts.write_json(folder / artifacts.HISTORY_FILE, history)
    artifacts.write_json(folder / artifacts.METRICS_FILE, metrics)
    artifacts.write_manifest(folder)
    shutil.rmtree(checkpoint, ignore_errors=True)
    return metrics


def prepare_arrays(splits: data.Splits, vocabulary: list[str], config: DataConfig) -> dict[str, np.ndarray]:
    """Token ids and labels for every split, plus test review lengths."""
    return {
        "train_ids": data.vectorize_all(vocabulary, splits.train.texts, config),
        "train_labels": splits.train.labels,
        "validation_ids": data.vectorize_all(vocabulary, splits.validation.texts, config),
        "validation_labels": splits.validation.labels,
        "test_ids": data.vectorize_all(vocabulary, splits.test.texts, config),
        "test_labels": splits.test.labels,
        "test_word_counts": data.count_words(splits.test.texts),
    }


def train_models(
    data_config: DataConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    cell_types: tuple[str, ...] = CELL_TYPES,
    output: str | Path = "artifacts",
    verbose: int = 1,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> list[TrainResult]:
    """Trains each cell type and writes its artifact folder under `output`.

    Args:
        data_config, model_config, train_config: the shared settings; the
            cell type of `model_config` is replaced per model.
        cell_types: which of "simple_rnn", "lstm", "gru" to train.
        output: the artifacts folder.
        verbose: Keras verbosity (1 = progress bars, 2 = a line per epoch).
        log: where progress messages go.
        command: the command line, recorded in the summary.

    Returns:
        One TrainResult per cell type, in order.
    """
    started = time.perf_counter()
    output = Path(output)
    for cell_type in cell_types:
        replace(model_config, cell_type=cell_type)  # validates the name early
    output.mkdir(parents=True, exist_ok=True)
    _check_run(output, data_config, model_config, train_config)

    pending = [c for c in cell_types if not (output / c / artifacts.MANIFEST_FILE).exists()]
    results = {c: TrainResult(c, output / c, artifacts.read_json(output / c / artifacts.METRICS_FILE), True) for c in cell_types if c not in pending}
    for cell_type in results:
        log(f"[{cell_type}] already trained in {output / cell_type}; skipping (delete that folder to retrain)")
    if pending:
        log(f"loading reviews ({data_config.source})")
        splits = data.load_splits(data_config, train_config.seed)
        log(f"{len(splits.train)} train / {len(splits.validation)} validation / {len(splits.test)} test reviews")
        vocabulary_path = output / artifacts.VOCABULARY_FILE
        if vocabulary_path.exists():
            vocabulary = artifacts.read_vocabulary(vocabulary_path)
        else:
            vocabulary = data.adapt_vocabulary(splits.train.texts, data_config.vocabulary_size)
            artifacts.write_vocabulary(vocabulary_path, vocabulary)
        log(f"vocabulary: {len(vocabulary)} tokens (adapted on the training split)")
        arrays = prepare_arrays(splits, vocabulary, data_config)
        for cell_type in pending:
            cell_config = replace(model_config, cell_type=cell_type)
            run_config = artifacts.RunConfig(data=data_config, model=cell_config, train=train_config)
            log(f"[{cell_type}] training")
            metrics = _train_one(cell_type, cell_config, train_config, run_config, vocabulary, arrays, output / cell_type, verbose, log)
            results[cell_type] = TrainResult(cell_type, output / cell_type, metrics, False)
            log(f"[{cell_type}] test accuracy {metrics['test']['accuracy']:.4f} in {metrics['training_seconds']:.0f} s")
    write_summary(output, command=command, wall_seconds=time.perf_counter() - started)
    return [results[c] for c in cell_types]


def write_summary(output: str | Path, command: str | None = None, wall_seconds: float | None = None) -> dict[str, Any]:
    """Writes summary.json and summary.md over every complete model in `output`.

    Args:
        output: the artifacts folder.
        command: the command line that produced it.
        wall_seconds: wall time of that command, loading and evaluation
            included (only this invocation's, if it resumed earlier work).
    """
    from sentiment.report import summary_markdown

    output = Path(output)
    models = {
        cell_type: artifacts.read_json(output / cell_type / artifacts.METRICS_FILE)
        for cell_type in CELL_TYPES
        if (output / cell_type / artifacts.MANIFEST_FILE).exists()
    }
    summary = {
        "format_version": ARTIFACT_FORMAT_VERSION,
        "command": command or " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_description(),
        "written_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": wall_seconds,
        "load_average": _load_average(),
        "run": artifacts.read_json(output / RUN_FILE),
        "models": models,
    }
    artifacts.write_json(output / SUMMARY_JSON, summary)
    artifacts.write_text(output / SUMMARY_MARKDOWN, summary_markdown(summary))
    return summary
