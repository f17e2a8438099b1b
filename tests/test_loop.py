"""The project's one training step (`sentiment.training.loop`), on tiny models: flax's train-step tests.

Every trained model of the project takes `TrainingStep`'s update, so these
run it, not Keras's `train_on_batch`: one step must move every trainable
weight, report the batch's loss as it was before the update, and (with the
adversary) take a different step than the plain one.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from sentiment.config import ModelConfig, TrainConfig
from sentiment.models import build_classifier, build_regressor
from sentiment.training import loop

VOCABULARY_SIZE = 20
# Dropout off where a test compares figures: the step's loss is then the model's own on the batch.
NO_DROPOUT = {"word_dropout_rate": 0.0, "dropout_rate": 0.0}
TOKEN_IDS = np.array([[2, 3, 4, 5], [6, 7, 8, 0], [9, 10, 0, 0]], np.int32)  # right-padded, as the batches are


def _compiled(model: keras.Model) -> keras.Model:
    loop.compile_for_training(model, TrainConfig(learning_rate=0.01), steps_per_epoch=1)
    return model


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(variable.numpy()) for variable in model.trainable_variables]


def _assert_every_weight_changed(model: keras.Model, before: list[np.ndarray]) -> None:
    for variable, old in zip(model.trainable_variables, before):
        assert not np.array_equal(variable.numpy(), old), f"{variable.path} did not change"


def _batch_loss(model: keras.Model, targets: np.ndarray, objective: str = "classification") -> float:
    losses, _ = loop.losses_and_hits(tf.constant(targets), model(TOKEN_IDS, training=False), objective)
    return float(tf.reduce_sum(losses))


@pytest.mark.parametrize("cell_type", ["simple_rnn", "lstm", "gru"])
def test_one_step_updates_every_weight_and_reports_the_batch_loss_before_it(cell_type):
    keras.utils.set_random_seed(0)
    model = _compiled(
        build_classifier(ModelConfig(cell_type=cell_type, embedding_dim=4, units=4, **NO_DROPOUT), VOCABULARY_SIZE)
    )
    targets = np.array([1.0, 0.0, 1.0], np.float32)
    before, loss_before = _weights(model), _batch_loss(model, targets)
    loss_sum, hits, count = (float(value) for value in loop.TrainingStep(model).on_batch(TOKEN_IDS, targets))
    assert np.isfinite(loss_sum) and count == len(TOKEN_IDS) and 0 <= hits <= count
    assert loss_sum == pytest.approx(loss_before, rel=1e-5)  # the batch's loss, not after the update
    _assert_every_weight_changed(model, before)
    assert _batch_loss(model, targets) < loss_before  # one step downhill


def test_one_step_is_gradient_descent_on_the_mean_loss_of_the_batch():
    """With plain SGD the update is exactly -lr times the gradient of the batch's mean loss (not its sum)."""
    keras.utils.set_random_seed(0)
    model = build_classifier(ModelConfig(cell_type="gru", embedding_dim=4, units=4, **NO_DROPOUT), VOCABULARY_SIZE)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5))
    targets = np.array([1.0, 0.0, 1.0], np.float32)
    with tf.GradientTape() as tape:
        losses, _ = loop.losses_and_hits(tf.constant(targets), model(TOKEN_IDS, training=True), "classification")
        mean_loss = tf.reduce_mean(losses)
    gradients = [tf.convert_to_tensor(gradient) for gradient in tape.gradient(mean_loss, model.trainable_variables)]
    expected = [weight - 0.5 * gradient.numpy() for weight, gradient in zip(_weights(model), gradients)]
    loop.TrainingStep(model).on_batch(TOKEN_IDS, targets)
    for variable, weight in zip(model.trainable_variables, expected):
        np.testing.assert_allclose(variable.numpy(), weight, rtol=1e-5, atol=1e-6, err_msg=variable.path)


def test_a_step_with_dropout_and_a_four_class_head_updates_every_weight():
    keras.utils.set_random_seed(1)
    config = ModelConfig(cell_type="gru", embedding_dim=4, units=4, bidirectional=True, pooling="max_mean")
    model = _compiled(build_classifier(config, VOCABULARY_SIZE, num_classes=4))
    before = _weights(model)
    loss_sum, _, count = loop.TrainingStep(model).on_batch(TOKEN_IDS, np.array([0, 3, 2], np.int32))
    assert np.isfinite(float(loss_sum)) and float(count) == 3
    _assert_every_weight_changed(model, before)


def test_a_regression_step_under_xla_updates_every_weight():
    """The long-range suite's adding problem takes this step, XLA-compiled."""
    keras.utils.set_random_seed(2)
    model = _compiled(build_regressor(ModelConfig(cell_type="lstm", units=4, **NO_DROPOUT), input_features=2))
    values = np.random.default_rng(0).random((3, 5, 2)).astype(np.float32)
    targets = np.array([0.5, 1.0, 1.5], np.float32)
    before = _weights(model)
    squared_error = float(np.sum((keras.ops.convert_to_numpy(model(values))[:, 0] - targets) ** 2))
    step = loop.TrainingStep(model, objective="regression", jit_compile=True)
    loss_sum, hits, _ = (float(value) for value in step.on_batch(values, targets))
    assert loss_sum == pytest.approx(squared_error, rel=1e-5) and hits == 0.0
    _assert_every_weight_changed(model, before)


def test_the_adversarial_step_updates_every_weight_and_differs_from_the_plain_step():
    """Plain SGD here, so each step's update is its gradient times the learning rate, and can be compared.

    The adversary's gradient is the clean one plus the one at the words moved
    uphill: its update minus the plain step's is the moved words' part, which
    is neither zero nor the clean gradient again (words not moved at all).
    """
    config = ModelConfig(cell_type="lstm", embedding_dim=4, units=4, **NO_DROPOUT)
    targets = np.array([1.0, 0.0, 1.0], np.float32)
    keras.utils.set_random_seed(3)
    plain, adversarial = build_classifier(config, VOCABULARY_SIZE), build_classifier(config, VOCABULARY_SIZE)
    adversarial.set_weights(plain.get_weights())
    for model in (plain, adversarial):
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    before = _weights(adversarial)
    plain_loss, _, _ = loop.TrainingStep(plain).on_batch(TOKEN_IDS, targets)
    step = loop.TrainingStep(adversarial, adversary=loop.EmbeddingAdversary(epsilon=1.0))
    adversarial_loss, _, count = step.on_batch(TOKEN_IDS, targets)
    assert np.isfinite(float(adversarial_loss)) and float(count) == 3
    _assert_every_weight_changed(adversarial, before)
    assert float(adversarial_loss) == pytest.approx(float(plain_loss), rel=1e-5)  # both report the clean batch
    clean_update = np.concatenate([(after - old).ravel() for after, old in zip(_weights(plain), before)])
    moved_update = np.concatenate([(after - old).ravel() for after, old in zip(_weights(adversarial), before)])
    moved_update -= clean_update
    size = np.linalg.norm(clean_update)
    assert np.linalg.norm(moved_update) > 0.1 * size  # the moved words' gradient was added
    assert np.linalg.norm(moved_update - clean_update) > 0.1 * size  # at words actually moved
    assert _batch_loss(adversarial, targets) != pytest.approx(_batch_loss(plain, targets), rel=1e-6)


def test_the_adversary_refuses_a_non_positive_epsilon():
    with pytest.raises(ValueError, match="epsilon must be positive"):
        loop.EmbeddingAdversary(epsilon=0.0)


# --- losses_and_hits: the one loss every step and every evaluation uses ------


def test_hard_targets_give_the_binary_cross_entropy_and_count_the_decisions():
    outputs = tf.constant([[0.9], [0.2], [0.6], [0.3]])
    losses, hits = loop.losses_and_hits(tf.constant([1, 0, 0, 1]), outputs)
    p, y = outputs.numpy()[:, 0], np.array([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(losses.numpy(), -(y * np.log(p) + (1 - y) * np.log(1 - p)), rtol=1e-5)
    assert hits.numpy().tolist() == [1.0, 1.0, 0.0, 0.0]


def test_soft_targets_give_the_soft_cross_entropy_and_a_hit_on_the_teachers_side_of_one_half():
    outputs = tf.constant([[0.9], [0.2], [0.6], [0.4]])
    targets = tf.constant([0.8, 0.3, 0.4, 0.0])  # a teacher's P(positive)
    losses, hits = loop.losses_and_hits(targets, outputs)
    p, t = outputs.numpy()[:, 0], targets.numpy()
    np.testing.assert_allclose(losses.numpy(), -(t * np.log(p) + (1 - t) * np.log(1 - p)), rtol=1e-4)
    assert hits.numpy().tolist() == [1.0, 1.0, 0.0, 1.0]


def test_class_ids_against_class_probabilities():
    outputs = tf.constant([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    targets = np.array([0, 1, 1])
    losses, hits = loop.losses_and_hits(tf.constant(targets), outputs)
    np.testing.assert_allclose(losses.numpy(), -np.log(outputs.numpy()[np.arange(3), targets]), rtol=1e-5)
    assert hits.numpy().tolist() == [1.0, 0.0, 0.0]


def test_regression_is_the_squared_error_and_has_no_right_answers():
    outputs, targets = tf.constant([[0.5], [2.0], [-1.0]]), tf.constant([1.0, 2.0, 1.0])
    losses, hits = loop.losses_and_hits(targets, outputs, "regression")
    np.testing.assert_allclose(losses.numpy(), (outputs.numpy()[:, 0] - targets.numpy()) ** 2, rtol=1e-6)
    assert hits.numpy().tolist() == [0.0, 0.0, 0.0]


def test_a_training_step_refuses_an_unknown_objective():
    with pytest.raises(ValueError, match="objective must be one of classification, regression"):
        loop.TrainingStep(keras.Sequential([keras.layers.Dense(1)]), objective="ranking")
