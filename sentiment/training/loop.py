"""The project's one training step and the loop around it.

`TrainingStep` is the update every trained model of the project takes: the
IMDB classifiers under any `tf.distribute` strategy (`fit`, called by
`sentiment.training.train`), the long-range suite's models
(`sentiment.analysis.longrange`, on fresh NumPy batches) and the bench
(`sentiment.analysis.bench`, which times it). The loss is defined once
(`losses_and_hits`); the replicas' gradients are summed before the
optimizer clips them, so a step is the update one device would make on the
global batch. With `TrainConfig.adversarial_epsilon` the step also trains on
the batch's embedded words moved against the model (`EmbeddingAdversary`).

`fit` is `model.fit` rebuilt on that step: the Keras callbacks (progress
bar, TensorBoard, `ResumableCheckpoint`) see the calls `fit` makes and can
stop training. Keras 3's own `model.fit` fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sentiment import data, models
from sentiment.config import TrainConfig
from sentiment.training import distribute

# What a model is trained to do: a class (sigmoid or softmax head) or a number.
OBJECTIVES = ("classification", "regression")


def compile_for_training(model: keras.Model, config: TrainConfig, steps_per_epoch: int) -> None:
    """Gives the model its optimizer (saved with each checkpoint): Adam, per-variable clipnorm, the decay per epoch.

    The loss is `losses_and_hits`, computed by the training step itself, so
    none is compiled in.
    """
    learning_rate = keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, decay_steps=max(1, steps_per_epoch), decay_rate=config.learning_rate_decay, staircase=True
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=config.clipnorm))


def losses_and_hits(
    targets: tf.Tensor, outputs: tf.Tensor, objective: str = "classification"
) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-example loss and 1.0 for a right answer, as Keras computes them.

    Args:
        targets: <number>[batch] class ids (1 = positive), a teacher's
            P(positive) (a soft target; a right answer is on its side of
            0.5), or values to regress.
        outputs: <float32>[batch, 1] P(positive) or a value, or [batch, classes].
        objective: "classification" (cross-entropy) or "regression" (squared
            error; a regression has no right answers, its hits are 0).

    Returns:
        (<float32>[batch] loss, <float32>[batch] hits).
    """
    if objective == "regression":
        errors = tf.reshape(outputs, [-1]) - tf.reshape(tf.cast(targets, outputs.dtype), [-1])
        return tf.square(errors), tf.zeros_like(errors)
    if outputs.shape[-1] == 1:
        labels = tf.reshape(tf.cast(targets, outputs.dtype), [-1, 1])
        hits = tf.cast(tf.equal(outputs > 0.5, labels > 0.5), tf.float32)[:, 0]
        return keras.losses.binary_crossentropy(labels, outputs), hits
    labels = tf.cast(targets, tf.int64)
    hits = tf.cast(tf.equal(tf.argmax(outputs, axis=-1), labels), tf.float32)
    return keras.losses.sparse_categorical_crossentropy(labels, outputs), hits


class EmbeddingAdversary:
    """Adversarial training on the embedded words (Miyato, Dai & Goodfellow, ICLR 2017).

    A step first computes the batch's loss and its gradient with respect to
    the embedded words, then moves each review's embedded words by
    `epsilon` (L2 norm over the whole review) along that gradient: the
    small change that raises the loss fastest, to first order. The loss on
    the moved words is added to the clean loss, so the model learns to give
    the same answer to a review and to its nearest worst case. Only the
    embedding's output is moved, never its weights, so nothing outlives the
    step and the model (its export included) is unchanged. A word ID cannot
    be perturbed; its vector can, which is why this works on text.

    The classifier is called in its two parts (`sentiment.models`): the
    encoder embeds the words, and the head and output layer classify them,
    clean or moved.

    Args:
        epsilon: the perturbation's norm per review.
    """

    def __init__(self, epsilon: float):
        if epsilon <= 0:
            raise ValueError(f"epsilon must be positive, got {epsilon}")
        self.epsilon = epsilon

    def gradients(
        self, model: keras.Model, inputs: tf.Tensor, targets: tf.Tensor, global_count: tf.Tensor, objective: str
    ):
        """(the gradients of clean + adversarial loss, (the clean loss sum, right answers)).

        Args:
            model: a classifier from `sentiment.models.build_classifier`.
            inputs: <int32>[batch, time] token ids, right-padded.
            targets: <number>[batch] (`losses_and_hits`).
            global_count: examples in the global batch, the loss's divisor.
            objective: "classification".
        """
        encoder, head, output_layer = models.encoder(model), models.head(model), models.output_layer(model)
        variables = model.trainable_variables

        def losses_from(embedded: tf.Tensor, mask: tf.Tensor):
            return losses_and_hits(targets, output_layer(head([embedded, mask], training=True)), objective)

        with tf.GradientTape() as tape:
            embedded, mask = encoder(inputs, training=True)
            losses, hits = losses_from(embedded, mask)
            loss = tf.reduce_sum(losses) / global_count
        *gradients, uphill = tape.gradient(loss, [*variables, embedded])
        perturbation = self.epsilon * tf.math.l2_normalize(tf.stop_gradient(uphill), axis=[1, 2])
        with tf.GradientTape() as tape:
            embedded, mask = encoder(inputs, training=True)
            adversarial_loss = tf.reduce_sum(losses_from(embedded + perturbation, mask)[0]) / global_count
        adversarial_gradients = tape.gradient(adversarial_loss, variables)
        return [_sum_gradients(clean, moved) for clean, moved in zip(gradients, adversarial_gradients)], (
            tf.reduce_sum(losses),
            tf.reduce_sum(hits),
        )


def _sum_gradients(first, second):
    """first + second; two sparse embedding gradients (IndexedSlices) stay sparse: their rows are joined."""
    if isinstance(first, tf.IndexedSlices) and isinstance(second, tf.IndexedSlices):
        return tf.IndexedSlices(
            tf.concat([first.values, second.values], 0),
            tf.concat([first.indices, second.indices], 0),
            first.dense_shape,
        )
    return tf.convert_to_tensor(first) + tf.convert_to_tensor(second)


class TrainingStep:
    """One optimizer update of a compiled model, and one validation pass, under a strategy.

    Each returns the global (loss sum, right answers, examples) of its batch.
    The loss is summed over the batch on every replica and divided by the
    global count, so the gradient is the mean over the global batch whatever
    the split.

    Args:
        model: a model with an optimizer (`compile_for_training`), built in
            `strategy.scope()`.
        strategy: None for the default (one device).
        objective: "classification" or "regression" (`losses_and_hits`).
        jit_compile: compile `on_batch` with XLA (one device only): the
            long-range suite's small models run about 1.6 times faster on a CPU.
        adversary: also train on adversarially perturbed embedded words
            (`EmbeddingAdversary`); the loss and right answers it reports
            stay those of the clean batch.
    """

    def __init__(
        self,
        model: keras.Model,
        strategy: tf.distribute.Strategy | None = None,
        objective: str = "classification",
        jit_compile: bool = False,
        adversary: EmbeddingAdversary | None = None,
    ):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        self.model, self.objective, self.adversary = model, objective, adversary
        self.strategy = strategy or tf.distribute.get_strategy()
        self._sum = tf.distribute.ReduceOp.SUM
        self.on_iterator = tf.function(self._on_iterator)
        self.validate = tf.function(self._validate)
        self.on_batch = tf.function(self._on_batch, jit_compile=jit_compile)

    def _gradients(self, inputs: tf.Tensor, targets: tf.Tensor, global_count: tf.Tensor):
        if self.adversary is not None:
            return self.adversary.gradients(self.model, inputs, targets, global_count, self.objective)
        with tf.GradientTape() as tape:
            losses, hits = losses_and_hits(targets, self.model(inputs, training=True), self.objective)
            loss = tf.reduce_sum(losses) / global_count
        # The embedding's gradient stays sparse (IndexedSlices): summed across
        # replicas it is the rows of every replica's examples, the very
        # gradient one device computes for the global batch, clipped the same way.
        return tape.gradient(loss, self.model.trainable_variables), (tf.reduce_sum(losses), tf.reduce_sum(hits))

    def _replica_step(self, inputs: tf.Tensor, targets: tf.Tensor):
        count = tf.cast(tf.shape(targets)[0], tf.float32)
        global_count = tf.distribute.get_replica_context().all_reduce(self._sum, count)
        gradients, (loss_sum, hits) = self._gradients(inputs, targets, global_count)
        return gradients, (loss_sum, hits, count)

    def _on_iterator(self, iterator) -> list[tf.Tensor]:
        """Takes the next global batch from a distributed iterator and updates the model."""
        gradients, totals = self.strategy.run(self._replica_step, args=next(iterator))
        # Sum the replicas' gradients here and hand the optimizer the total:
        # applied in replica context, Keras 3 clips (clipnorm) each replica's
        # part before its own all-reduce, so the sum could exceed the clip.
        gradients = [self.strategy.reduce(self._sum, gradient, axis=None) for gradient in gradients]
        self.model.optimizer.apply(gradients, self.model.trainable_variables)
        return [self.strategy.reduce(self._sum, total, axis=None) for total in totals]

    def _on_batch(self, inputs: tf.Tensor, targets: tf.Tensor) -> list[tf.Tensor]:
        """Updates the model on one batch held here (one device): the long-range suite's and the bench's step."""
        count = tf.cast(tf.shape(targets)[0], tf.float32)
        gradients, (loss_sum, hits) = self._gradients(inputs, targets, count)
        self.model.optimizer.apply(gradients, self.model.trainable_variables)
        return [loss_sum, hits, count]

    def _validate(self, iterator) -> list[tf.Tensor]:
        def replica_validation(inputs: tf.Tensor, targets: tf.Tensor):
            losses, hits = losses_and_hits(targets, self.model(inputs, training=False), self.objective)
            return tf.reduce_sum(losses), tf.reduce_sum(hits), tf.cast(tf.shape(targets)[0], tf.float32)

        totals = self.strategy.run(replica_validation, args=next(iterator))
        return [self.strategy.reduce(self._sum, total, axis=None) for total in totals]


def run_epoch(step: Callable, batches, steps: int, on_batch_end: Callable | None = None) -> dict[str, float]:
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


def fit(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    batches: Callable,
    counts: dict[str, int],
    config: TrainConfig,
    callbacks: list,
    state: dict[str, Any],
    verbose: int,
) -> None:
    """Trains from epoch `state["epochs_done"]`, as `model.fit` would, under `strategy`.

    Args:
        batches: (split, global batch size, shuffle seed or None) -> a
            dataset of (token ids, labels) batches.
        counts: "train", "validation" -> examples.
        config: the epochs and the shuffling seed.
        callbacks: see the calls `fit` makes (progress bar, TensorBoard,
            `ResumableCheckpoint`) and may stop training through `model.stop_training`.
        state: holds `epochs_done` and `global_batch_size`.
        verbose: Keras verbosity.
    """
    adversary = EmbeddingAdversary(config.adversarial_epsilon) if config.adversarial_epsilon > 0 else None
    global_batch = state["global_batch_size"]
    steps = {split: math.ceil(counts[split] / global_batch) for split in ("train", "validation")}
    train_batches = distribute.distribute_batches(strategy, batches("train", global_batch, config.seed))
    validation_batches = distribute.distribute_batches(strategy, batches("validation", global_batch, None))
    step = TrainingStep(model, strategy, adversary=adversary)
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_progbar=verbose != 0, model=model, verbose=verbose, epochs=config.epochs, steps=steps["train"]
    )
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(state["epochs_done"], config.epochs):
        callback_list.on_epoch_begin(epoch)
        train_logs = run_epoch(step.on_iterator, train_batches, steps["train"], callback_list.on_train_batch_end)
        callback_list.on_test_begin()
        validation_logs = run_epoch(step.validate, validation_batches, steps["validation"])
        callback_list.on_test_end(validation_logs)
        callback_list.on_epoch_end(
            epoch, {**train_logs, **{f"val_{name}": value for name, value in validation_logs.items()}}
        )
        if model.stop_training:
            break
    callback_list.on_train_end()


def predict_probabilities(
    model: keras.Model, token_ids: np.ndarray, length_bucketing: bool, batch_size: int = 256
) -> np.ndarray:
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
        return predict_batches(model, data.batched_dataset(token_ids, labels, batch_size))[0]
    order = data.length_order(token_ids)
    sorted_probabilities = predict_batches(
        model, data.batched_dataset(token_ids[order], labels, batch_size, bucket_window=1)
    )[0]
    probabilities = np.empty_like(sorted_probabilities)
    probabilities[order] = sorted_probabilities
    return probabilities


def predict_batches(model: keras.Model, batches: tf.data.Dataset) -> tuple[np.ndarray, ...]:
    """Runs the model on (token ids, *extras) batches.

    Called directly (not `model.predict`, which fails under
    MultiWorkerMirroredStrategy), on one device: every worker evaluates alone.

    Returns:
        (probabilities <float32>[n] or [n, classes], *extras concatenated).
    """
    forward = tf.function(
        lambda ids: model(ids, training=False), input_signature=[tf.TensorSpec([None, None], tf.int32)]
    )
    parts: list[list[np.ndarray]] = []
    for token_ids, *extras in batches:
        outputs = forward(tf.cast(token_ids, tf.int32)).numpy()
        parts.append([outputs.reshape(-1) if outputs.shape[-1] == 1 else outputs, *(extra.numpy() for extra in extras)])
    if not parts:
        return (np.zeros(0, np.float32),)
    return tuple(np.concatenate(column) for column in zip(*parts))
