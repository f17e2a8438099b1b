"""Adversarial training on the embedded words (`TrainConfig.adversarial_epsilon`, `loop.EmbeddingAdversary`).

The adversary calls the classifier's encoder and head (`sentiment.models`);
that the two make the classifier is tested in tests/test_models.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from sentiment import models
from sentiment.config import ModelConfig, TrainConfig
from sentiment.models import build_classifier
from sentiment.training import loop


def _unique_words_batch():
    """Every position a different word: moving an embedded word is then moving that word's row of the embedding."""
    token_ids = np.arange(2, 2 + 3 * 7, dtype=np.int32).reshape(3, 7)
    token_ids[2, 4:] = 0
    return token_ids, np.array([1.0, 0.0, 0.7], np.float32)


def test_the_adversarial_gradient_is_the_gradient_at_the_words_moved_uphill_plus_the_clean_one():
    config = ModelConfig(
        cell_type="lstm",
        bidirectional=True,
        pooling="max_mean",
        embedding_dim=5,
        units=4,
        word_dropout_rate=0.0,
        dropout_rate=0.0,
    )
    model = build_classifier(config, 30, 2)
    token_ids, targets = _unique_words_batch()
    variables, embedding = model.trainable_variables, models.embedding(model)
    epsilon, count = 0.5, tf.constant(3.0)

    got, (loss_sum, hits) = loop.EmbeddingAdversary(epsilon).gradients(
        model, tf.constant(token_ids), tf.constant(targets), count, "classification"
    )

    # The reference, written another way: through the model's own call and its embedding table.
    def loss_and_gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(loop.losses_and_hits(targets, model(token_ids, training=True))[0]) / count
        return loss, tape.gradient(loss, variables)

    clean_loss, clean = loss_and_gradients()
    table = embedding.embeddings
    rows = tf.convert_to_tensor(clean[[v.name for v in variables].index(table.name)])  # dense: one row per word
    uphill = np.zeros(table.shape, np.float32)
    for review in token_ids:
        words = review[review != 0]
        uphill[words] = epsilon * rows.numpy()[words] / np.linalg.norm(rows.numpy()[words])
    original = table.numpy()
    table.assign(original + uphill)
    moved_loss, moved = loss_and_gradients()
    table.assign(original)
    assert float(moved_loss) > float(clean_loss)  # moved uphill
    for name, mine, a, b in zip([v.name for v in variables], got, clean, moved):
        np.testing.assert_allclose(
            tf.convert_to_tensor(mine).numpy(),
            tf.convert_to_tensor(a).numpy() + tf.convert_to_tensor(b).numpy(),
            atol=1e-5,
            err_msg=name,
        )
    np.testing.assert_allclose(float(loss_sum) / 3, float(clean_loss), rtol=1e-5)  # it reports the clean batch
    assert float(hits) == float(tf.reduce_sum(loop.losses_and_hits(targets, model(token_ids, training=False))[1]))


def test_adversarial_training_trains_through_the_cli_and_is_recorded(tiny_csv, tmp_path):
    from sentiment import cli
    from sentiment.io import files

    with pytest.raises(ValueError, match="adversarial_epsilon must be zero"):
        TrainConfig(adversarial_epsilon=-1.0)
    arguments = [
        "train",
        *"--data-source csv".split(),
        *("--data-path", str(tiny_csv)),
        *"--cells gru".split(),
        *("--output", str(tmp_path)),
        *"--vocabulary-size 30 --sequence-length 8 --embedding-dim 4 --units 4 --epochs 2 --batch-size 32".split(),
        *"--adversarial-epsilon 0.3".split(),
    ]
    code = cli.main(arguments)
    assert code == 0
    summary = files.read_json(tmp_path / "summary.json")
    assert summary["run"]["train"]["adversarial_epsilon"] == 0.3
    assert summary["models"]["gru"]["epochs_run"] == 2 and np.isfinite(summary["models"]["gru"]["test"]["loss"])
    assert (
        "Adversarial training: each step also trains on its batch with every review's embedded words moved by 0.3"
        in (tmp_path / "summary.md").read_text()
    )


@pytest.mark.slow
def test_adversarial_steps_on_two_mirrored_replicas_are_one_devices_steps(tiny_csv, tmp_path):
    """Each replica perturbs its own reviews and the gradients are summed: one device's update.

    The perturbation's norm is per review, so the split does not change it.
    """
    import json

    from test_distribute import TINY, _one_device_history

    from conftest import run_cli, tiny_configs

    output = tmp_path / "mirrored"
    mirrored = run_cli(
        "train",
        *TINY,
        *("--data-path", str(tiny_csv)),
        *"--cells gru --epochs 1 --adversarial-epsilon 0.3 --strategy mirrored --cpu-devices 2".split(),
        *("--output", str(output)),
    )
    assert mirrored.returncode == 0, mirrored.stderr[-3000:]
    history = json.loads((output / "gru" / "history.json").read_text())
    one_device = _one_device_history(
        tiny_configs(tiny_csv, batch_size=64, epochs=1, clipnorm=0.01, adversarial_epsilon=0.3), tmp_path / "one"
    )
    plain = _one_device_history(tiny_configs(tiny_csv, batch_size=64, epochs=1, clipnorm=0.01), tmp_path / "plain")
    np.testing.assert_allclose(history["loss"], one_device["loss"], rtol=1e-5)
    assert history["loss"] != plain["loss"]  # the adversary changed the updates
