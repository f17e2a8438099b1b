"""Train SimpleRNN, LSTM and GRU classifiers under one budget, resumably.

`train_models` is the whole pipeline: load and split reviews (in memory, or
streamed from a tensorflow-datasets dataset), adapt the vocabulary on training
data, then for each cell type train with early stopping on a validation
figure, evaluate on the test split, and write the artifact folder.

One training loop serves one device, several devices and several machines:
a step is `strategy.run` over a distributed dataset (see
`sentiment.distribute`), with the Keras callbacks called by hand, so resume,
metrics and artifacts are the same whatever the strategy.

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

from sentiment import artifacts, data, distribute, evaluate
from sentiment.config import ARTIFACT_FORMAT_VERSION, CELL_TYPES, LABEL_NAMES, DataConfig, ModelConfig, TrainConfig, to_dict
from sentiment.errors import SentimentError
from sentiment.models import build_classifier
from sentiment.report import cpu_name, load_average

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
    """Gives the model its optimizer, saved with each checkpoint.

    The loss and accuracy are `_losses_and_hits`, computed by the training
    step itself (there is no `model.fit`), so none is compiled in.
    """
    learning_rate = keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, decay_steps=steps_per_epoch, decay_rate=config.learning_rate_decay, staircase=True
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=config.clipnorm))


def _losses_and_hits(labels: tf.Tensor, outputs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-review loss and 1.0 for a right answer, as Keras computes them.

    Args:
        labels: <number>[batch] class ids (1 = positive).
        outputs: <float32>[batch, 1] P(positive), or [batch, classes].

    Returns:
        (<float32>[batch] loss, <float32>[batch] hits).
    """
    if outputs.shape[-1] == 1:
        labels = tf.reshape(tf.cast(labels, outputs.dtype), [-1, 1])
        hits = tf.cast(tf.equal(tf.cast(outputs > 0.5, outputs.dtype), labels), tf.float32)[:, 0]
        return keras.losses.binary_crossentropy(labels, outputs), hits
    labels = tf.cast(labels, tf.int64)
    hits = tf.cast(tf.equal(tf.argmax(outputs, axis=-1), labels), tf.float32)
    return keras.losses.sparse_categorical_crossentropy(labels, outputs), hits


def _step_functions(model: keras.Model, strategy: tf.distribute.Strategy) -> tuple[Callable, Callable]:
    """One training step and one validation step over a distributed iterator.

    Each returns the global (loss sum, right answers, reviews) of its batch.
    The loss is summed over the batch's reviews on every replica and divided
    by their total count, so the gradient is the mean over the global batch
    whatever the split (the last batch of an epoch may split unevenly).
    """
    optimizer = model.optimizer
    sum_op = tf.distribute.ReduceOp.SUM

    def replica_train_step(token_ids: tf.Tensor, labels: tf.Tensor):
        count = tf.cast(tf.shape(labels)[0], tf.float32)
        global_count = tf.distribute.get_replica_context().all_reduce(sum_op, count)
        with tf.GradientTape() as tape:
            losses, hits = _losses_and_hits(labels, model(token_ids, training=True))
            loss = tf.reduce_sum(losses) / global_count
        # The embedding's gradient stays sparse (IndexedSlices): summed across
        # replicas it is the rows of every replica's reviews, the very
        # gradient one device computes for the global batch, and clipped the
        # same way.
        gradients = tape.gradient(loss, model.trainable_variables)
        return gradients, (tf.reduce_sum(losses), tf.reduce_sum(hits), count)

    def replica_validation_step(token_ids: tf.Tensor, labels: tf.Tensor):
        losses, hits = _losses_and_hits(labels, model(token_ids, training=False))
        return tf.reduce_sum(losses), tf.reduce_sum(hits), tf.cast(tf.shape(labels)[0], tf.float32)

    @tf.function
    def train_step(iterator):
        gradients, totals = strategy.run(replica_train_step, args=next(iterator))
        # Sum the replicas' gradients here and hand the optimizer the total:
        # applied in replica context, Keras 3 clips (clipnorm) each replica's
        # part before its own all-reduce, so the sum could exceed the clip.
        gradients = [strategy.reduce(sum_op, gradient, axis=None) for gradient in gradients]
        optimizer.apply(gradients, model.trainable_variables)
        return [strategy.reduce(sum_op, total, axis=None) for total in totals]

    @tf.function
    def validation_step(iterator):
        totals = strategy.run(replica_validation_step, args=next(iterator))
        return [strategy.reduce(sum_op, total, axis=None) for total in totals]

    return train_step, validation_step


def _run_epoch(step: Callable, batches, steps: int, on_batch_end: Callable | None = None) -> dict[str, float]:
    """Runs `steps` steps over a fresh iterator; the running loss and accuracy."""
    iterator = iter(batches)
    loss_sum = hits = count = 0.0
    logs: dict[str, float] = {}
    for batch in range(steps):
        batch_loss, batch_hits, batch_count = (float(value) for value in step(iterator))
        loss_sum, hits, count = loss_sum + batch_loss, hits + batch_hits, count + batch_count
        logs = {"loss": loss_sum / count, "accuracy": hits / count}
        if on_batch_end is not None:
            on_batch_end(batch, logs)
    return logs


def _fit(model: keras.Model, strategy: tf.distribute.Strategy, inputs: "_Inputs", config: TrainConfig, callbacks: list, state: dict[str, Any], verbose: int) -> None:
    """Trains from epoch `state["epochs_done"]`, as `model.fit` would, under `strategy`.

    The callbacks see the calls `fit` makes (progress bar, TensorBoard,
    `ResumableCheckpoint`), and may stop training through
    `model.stop_training`.
    """
    global_batch = state["global_batch_size"]
    steps = {split: math.ceil(inputs.counts[split] / global_batch) for split in ("train", "validation")}
    train_batches = distribute.distribute_batches(strategy, inputs.batches("train", global_batch, config.seed))
    validation_batches = distribute.distribute_batches(strategy, inputs.batches("validation", global_batch, None))
    train_step, validation_step = _step_functions(model, strategy)
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_progbar=verbose != 0, model=model, verbose=verbose, epochs=config.epochs, steps=steps["train"]
    )
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(state["epochs_done"], config.epochs):
        callback_list.on_epoch_begin(epoch)
        train_logs = _run_epoch(train_step, train_batches, steps["train"], callback_list.on_train_batch_end)
        callback_list.on_test_begin()
        validation_logs = _run_epoch(validation_step, validation_batches, steps["validation"])
        callback_list.on_test_end(validation_logs)
        callback_list.on_epoch_end(epoch, {**train_logs, **{f"val_{name}": value for name, value in validation_logs.items()}})
        if model.stop_training:
            break
    callback_list.on_train_end()


def predict_probabilities(model: keras.Model, token_ids: np.ndarray, length_bucketing: bool, batch_size: int = 256) -> np.ndarray:
    """P(positive) (or class probabilities) for every review, in the order given.

    With `length_bucketing` the reviews are predicted from shortest to
    longest, each batch padded only to its longest review, and the results
    put back in the original order: the same figures for a fraction of the
    recurrent steps.

    Returns:
        <float32>[n], or <float32>[n, classes] for more than two classes.
    """
    labels = np.zeros(len(token_ids), np.float32)  # unused
    if not length_bucketing:
        return _predict(model, data.batched_dataset(token_ids, labels, batch_size))[0]
    order = data.length_order(token_ids)
    sorted_probabilities = _predict(model, data.batched_dataset(token_ids[order], labels, batch_size, bucket_window=1))[0]
    probabilities = np.empty_like(sorted_probabilities)
    probabilities[order] = sorted_probabilities
    return probabilities


def _predict(model: keras.Model, batches: tf.data.Dataset) -> tuple[np.ndarray, ...]:
    """Runs the model on (token ids, *extras) batches.

    Called directly (not `model.predict`, which fails under
    MultiWorkerMirroredStrategy), on one device: every worker evaluates alone.

    Returns:
        (probabilities <float32>[n] or [n, classes], *extras concatenated).
    """
    forward = tf.function(lambda ids: model(ids, training=False), input_signature=[tf.TensorSpec([None, None], tf.int32)])
    parts: list[list[np.ndarray]] = []
    for token_ids, *extras in batches:
        outputs = forward(tf.cast(token_ids, tf.int32)).numpy()
        parts.append([outputs.reshape(-1) if outputs.shape[-1] == 1 else outputs, *(extra.numpy() for extra in extras)])
    if not parts:
        return (np.zeros(0, np.float32),)
    return tuple(np.concatenate(column) for column in zip(*parts))


class _Inputs:
    """The batches of one run, from arrays in memory or streamed from tfds.

    Attributes:
        class_names: label names in class-id order.
        counts: "train", "validation", "test" -> reviews.
    """

    def __init__(self, data_config: DataConfig, train_config: TrainConfig, vocabulary: list[str], splits: data.Splits | None, stream: data.Stream | None):
        self._window = train_config.bucket_window if train_config.length_bucketing else None
        self._length_bucketing = train_config.length_bucketing
        self._stream = stream
        if stream is not None:
            self.class_names, self.counts = stream.class_names, stream.counts
        else:
            self._arrays = prepare_arrays(splits, vocabulary, data_config)
            self.class_names = LABEL_NAMES
            self.counts = {split: len(self._arrays[f"{split}_labels"]) for split in ("train", "validation", "test")}
        self._vocabulary = vocabulary

    def batches(self, split: str, batch_size: int, shuffle_seed: int | None) -> tf.data.Dataset:
        """(<int32>[batch, time] token ids, labels[batch]) batches of "train" or "validation"."""
        if self._stream is not None:
            return data.stream_batches(self._stream, self._vocabulary, split, batch_size, shuffle_seed, self._window)
        return data.batched_dataset(self._arrays[f"{split}_ids"], self._arrays[f"{split}_labels"], batch_size, shuffle_seed, self._window)

    def predict_test(self, model: keras.Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, labels, word counts) over the test split."""
        if self._stream is None:
            arrays = self._arrays
            return predict_probabilities(model, arrays["test_ids"], self._length_bucketing), arrays["test_labels"], arrays["test_word_counts"]
        batches = data.stream_batches(self._stream, self._vocabulary, "test", 256, None, self._window, with_word_counts=True)
        return _predict(model, batches)


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
        # A setting added since the folder was written had its default then.
        defaults = {"data": to_dict(DataConfig()), "model": to_dict(ModelConfig()), "train": to_dict(TrainConfig())}
        stored = {section: {**defaults[section], **stored.get(section, {})} for section in defaults}
        differences = [
            f"{section}.{key}: {stored[section].get(key)!r} -> {value!r}"
            for section in ("data", "model", "train")
            for key, value in run[section].items()
            if stored[section].get(key) != value
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
    run_config: artifacts.RunConfig,
    vocabulary: list[str],
    inputs: _Inputs,
    folder: Path,
    strategy: tf.distribute.Strategy,
    verbose: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    train_config = run_config.train
    checkpoint = folder / CHECKPOINT_FOLDER
    checkpoint.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(train_config.seed)
    global_batch = train_config.batch_size * strategy.num_replicas_in_sync

    resuming = (checkpoint / _STATE).exists() and (checkpoint / _LAST_MODEL).exists()
    state = artifacts.read_json(checkpoint / _STATE) if resuming else {**_fresh_state(), "global_batch_size": global_batch}
    distribute.check_workers_agree(strategy, f"the epochs [{cell_type}] already trained", state["epochs_done"])
    if state.setdefault("global_batch_size", train_config.batch_size) != global_batch:  # older checkpoints: one device
        raise SentimentError(
            f"[{cell_type}] {checkpoint} was trained with a global batch of {state['global_batch_size']} reviews; "
            f"this run has {strategy.num_replicas_in_sync} replica(s) x {train_config.batch_size} = {global_batch}. "
            f"Resume with the same --strategy and devices, or pass another --output"
        )
    with strategy.scope():  # variables (model and optimizer) are mirrored on every replica
        if resuming:
            model = keras.models.load_model(checkpoint / _LAST_MODEL, safe_mode=True)
            log(f"[{cell_type}] resuming after epoch {state['epochs_done']} from {checkpoint}")
        else:
            model = build_classifier(run_config.model, len(vocabulary), run_config.num_classes)
            _compile(model, train_config, math.ceil(inputs.counts["train"] / global_batch))
            model.optimizer.build(model.trainable_variables)

    finished = state["epochs_done"] >= train_config.epochs or state["stopped_reason"] is not None
    if not finished:
        callbacks = [
            ResumableCheckpoint(checkpoint, train_config.monitor, train_config.patience, state),
            keras.callbacks.TensorBoard(log_dir=str(folder / "logs")),
        ]
        _fit(model, strategy, inputs, train_config, callbacks, state, verbose)
    if state["epochs_done"] == 0:
        raise SentimentError(f"[{cell_type}] training produced no usable epoch ({state['stopped_reason']}); try a lower --learning-rate")
    model.load_weights(checkpoint / _BEST_WEIGHTS)
    log(f"[{cell_type}] best epoch {state['best_epoch']} of {state['epochs_done']} ({train_config.monitor} {state['best']:.4f}); evaluating on the test split")

    start = time.perf_counter()
    probabilities, test_labels, test_word_counts = inputs.predict_test(model)
    inference_seconds = time.perf_counter() - start
    history = state["history"]
    train_seconds = float(sum(history["train_seconds"]))
    worker = distribute.worker_of(strategy)
    metrics = {
        "cell_type": cell_type,
        "test": evaluate.evaluate_predictions(probabilities, test_labels, test_word_counts, run_config.data.sequence_length),
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
        "distribution": {
            "strategy": _strategy_name(strategy),
            "workers": worker.count,
            "replicas": strategy.num_replicas_in_sync,
            "batch_size_per_replica": train_config.batch_size,
            "global_batch_size": global_batch,
        },
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


def _strategy_name(strategy: tf.distribute.Strategy) -> str:
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multi-worker"
    return "mirrored" if isinstance(strategy, tf.distribute.MirroredStrategy) else "default"


def prepare_arrays(splits: data.Splits, vocabulary: list[str], config: DataConfig) -> dict[str, np.ndarray]:
    """Token ids and labels for every split, plus test review lengths (in memory)."""
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
    strategy: tf.distribute.Strategy | None = None,
) -> list[TrainResult]:
    """Trains each cell type and writes its artifact folder under `output`.

    Args:
        data_config, model_config, train_config: the shared settings; the
            cell type of `model_config` is replaced per model.
        cell_types: which of "simple_rnn", "lstm", "gru" to train.
        output: the artifacts folder. A multi-worker run's workers other
            than the chief write to `output/workertemp_<i>` instead.
        verbose: Keras verbosity (1 = progress bars, 2 = a line per epoch).
        log: where progress messages go.
        command: the command line, recorded in the summary.
        strategy: from `sentiment.distribute.make_strategy`; None trains on
            one device. `train_config.batch_size` is per replica.

    Returns:
        One TrainResult per cell type, in order (this worker's folders).
    """
    started = time.perf_counter()
    strategy = strategy or tf.distribute.get_strategy()
    worker = distribute.worker_of(strategy)
    output = distribute.worker_folder(Path(output), worker)
    for cell_type in cell_types:
        replace(model_config, cell_type=cell_type)  # validates the name early
    output.mkdir(parents=True, exist_ok=True)
    _check_run(output, data_config, model_config, train_config)

    pending = [c for c in cell_types if not (output / c / artifacts.MANIFEST_FILE).exists()]
    distribute.check_workers_agree(strategy, "the cells still to train", sum(1 << CELL_TYPES.index(c) for c in pending))
    results = {c: TrainResult(c, output / c, artifacts.read_json(output / c / artifacts.METRICS_FILE), True) for c in cell_types if c not in pending}
    for cell_type in results:
        log(f"[{cell_type}] already trained in {output / cell_type}; skipping (delete that folder to retrain)")
    if pending:
        replicas = strategy.num_replicas_in_sync
        log(
            f"strategy {_strategy_name(strategy)}: worker {worker.index} of {worker.count}, {replicas} replica(s) in sync; "
            f"batch {train_config.batch_size} per replica, {train_config.batch_size * replicas} per step"
        )
        splits = stream = None
        if data_config.dataset is None:
            log(f"loading reviews ({data_config.source})")
            splits = data.load_splits(data_config, train_config.seed)
            counts = {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)}
        else:
            stream = data.open_stream(data_config)
            counts = stream.counts
            log(f"streaming {data_config.dataset} from disk: {len(stream.class_names)} classes ({', '.join(stream.class_names)})")
        log(f"{counts['train']} train / {counts['validation']} validation / {counts['test']} test reviews")
        vocabulary_path = output / artifacts.VOCABULARY_FILE
        if vocabulary_path.exists():
            vocabulary = artifacts.read_vocabulary(vocabulary_path)
        else:
            texts = splits.train.texts if stream is None else data.stream_reviews(stream, "train").map(lambda text, label: text)
            vocabulary = data.adapt_vocabulary(texts, data_config.vocabulary_size, data_config.vocabulary_samples)
            artifacts.write_vocabulary(vocabulary_path, vocabulary)
        log(f"vocabulary: {len(vocabulary)} tokens (adapted on the training split)")
        inputs = _Inputs(data_config, train_config, vocabulary, splits, stream)
        for cell_type in pending:
            cell_config = replace(model_config, cell_type=cell_type)
            run_config = artifacts.RunConfig(data=data_config, model=cell_config, train=train_config, class_names=tuple(inputs.class_names))
            log(f"[{cell_type}] training")
            metrics = _train_one(cell_type, run_config, vocabulary, inputs, output / cell_type, strategy, verbose, log)
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
        "load_average": load_average(),
        "run": artifacts.read_json(output / RUN_FILE),
        "models": models,
    }
    artifacts.write_json(output / SUMMARY_JSON, summary)
    artifacts.write_text(output / SUMMARY_MARKDOWN, summary_markdown(summary))
    return summary
