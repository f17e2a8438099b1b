import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from sentiment import models
from sentiment.analysis.gradients import (
    FLOAT32_TINY,
    align_to_end,
    average_by_distance,
    embedding_gradient_norms,
    review_gradient_norms,
)
from sentiment.config import CELL_TYPES, ModelConfig
from sentiment.io.artifacts import load_artifact
from sentiment.models import build_classifier

from conftest import run_cli

# Two right-padded reviews whose tokens are all different, so each token's
# row of the embedding table receives the gradient of exactly one step.
IDS = np.array([[2, 3, 4, 5, 6, 0, 0, 0], [7, 8, 9, 10, 11, 12, 13, 14]])
LABELS = np.array([1, 0])


@pytest.fixture(scope="module")
def loaded(tiny_artifacts):
    return {cell: load_artifact(tiny_artifacts / cell) for cell in CELL_TYPES}


def _norms_from_embedding_table(model, ids, labels):
    """The same quantity through the whole model: Keras masks, nothing split."""
    table = models.embedding(model).embeddings
    with tf.GradientTape() as tape:
        probability = model(ids, training=False)[:, 0]
        y = tf.constant(labels, tf.float32)
        loss = -tf.reduce_sum(y * tf.math.log(probability) + (1 - y) * tf.math.log(1 - probability))
    gradient = tf.convert_to_tensor(tape.gradient(loss, table)).numpy()
    return np.linalg.norm(gradient[ids], axis=-1)


def test_norms_equal_the_gradient_of_the_embedding_rows(loaded):
    for cell, artifact in loaded.items():
        norms = embedding_gradient_norms(artifact.model, IDS, LABELS)
        expected = _norms_from_embedding_table(artifact.model, IDS, LABELS)
        real = IDS != 0
        np.testing.assert_allclose(norms[real], expected[real], rtol=2e-4, err_msg=cell)


def test_padding_is_excluded_and_real_tokens_have_positive_finite_norms(loaded):
    for cell, artifact in loaded.items():
        norms = embedding_gradient_norms(artifact.model, IDS, LABELS)
        assert norms.shape == IDS.shape
        assert np.all(np.isnan(norms[IDS == 0])), cell
        assert np.all(np.isfinite(norms[IDS != 0]) & (norms[IDS != 0] > 0)), cell
        # Without its padding the short review gets the very same norms: the
        # padded steps changed nothing.
        alone = embedding_gradient_norms(artifact.model, IDS[:1, :5], LABELS[:1])
        np.testing.assert_allclose(norms[0, :5], alone[0], rtol=1e-5, err_msg=cell)


def test_default_target_is_the_models_own_decision(loaded):
    model = loaded["gru"].model
    decided = (keras.ops.convert_to_numpy(model(IDS, training=False))[:, 0] >= 0.5).astype(int)
    np.testing.assert_array_equal(embedding_gradient_norms(model, IDS), embedding_gradient_norms(model, IDS, decided))
    assert not np.allclose(
        embedding_gradient_norms(model, IDS, 1 - decided), embedding_gradient_norms(model, IDS, decided), equal_nan=True
    )


def _linear_simple_rnn(recurrent_scale: float) -> keras.Model:
    """SimpleRNN with h_t = tanh(e_t + s * h_{t-1}) and a sum head, small inputs."""
    model = build_classifier(
        ModelConfig(cell_type="simple_rnn", embedding_dim=4, units=4, word_dropout_rate=0.0, dropout_rate=0.0), 16
    )
    models.embedding(model).set_weights([0.1 * np.random.default_rng(0).standard_normal((16, 4))])
    (recurrent,) = models.recurrent_layers(model)
    recurrent.set_weights([np.eye(4), recurrent_scale * np.eye(4), np.zeros(4)])
    models.head(model).get_layer("logits").set_weights([np.ones((4, 1)), np.zeros(1)])
    return model


def test_small_recurrent_weights_make_early_gradients_vanish():
    ids = np.arange(2, 10)[None, :]  # eight real tokens, no padding
    vanishing = embedding_gradient_norms(_linear_simple_rnn(0.2), ids, [1])[0]
    # Each step back multiplies by about 0.2: strictly smaller the further from the end.
    assert np.all(np.diff(vanishing) > 0), vanishing
    assert vanishing[0] < 1e-3 * vanishing[-1], vanishing
    # With an identity recurrence the same words keep most of their gradient.
    preserved = embedding_gradient_norms(_linear_simple_rnn(1.0), ids, [1])[0]
    assert preserved[0] > 0.1 * preserved[-1], preserved


def test_saturated_prediction_keeps_a_nonzero_gradient():
    # P(positive) rounds to exactly 1.0 in float32: a loss computed from the
    # clipped probability would give zero gradient everywhere.
    model = _linear_simple_rnn(0.5)
    models.head(model).get_layer("logits").set_weights([np.ones((4, 1)), np.array([40.0])])
    assert keras.ops.convert_to_numpy(model(IDS[:1], training=False))[0, 0] == 1.0
    norms = embedding_gradient_norms(model, IDS[:1], [1])[0, :5]
    assert np.all(np.isfinite(norms) & (norms > 0)), norms


def test_align_to_end_and_average_by_distance():
    norms = np.array([[1.0, 2.0, 3.0, np.nan], [10.0, 20.0, np.nan, np.nan], [0.0, 4.0, 5.0, 6.0]])
    ids = np.array([[5, 5, 5, 0], [5, 5, 0, 0], [5, 5, 5, 5]])
    aligned = align_to_end(norms, ids)
    np.testing.assert_array_equal(aligned[0], [3.0, 2.0, 1.0, np.nan])
    np.testing.assert_array_equal(aligned[1], [20.0, 10.0, np.nan, np.nan])
    np.testing.assert_array_equal(aligned[2], [6.0, 5.0, 4.0, 0.0])
    average = average_by_distance(norms, ids)
    np.testing.assert_array_equal(average["count"], [3, 3, 2, 1])
    np.testing.assert_array_equal(average["zero_count"], [0, 0, 0, 1])
    np.testing.assert_allclose(average["geometric_mean"][:3], [(3 * 20 * 6) ** (1 / 3), (2 * 10 * 5) ** (1 / 3), 2.0])
    np.testing.assert_allclose(average["geometric_mean"][3], FLOAT32_TINY)
    np.testing.assert_allclose(average["median"], [6.0, 5.0, 2.5, 0.0])


def test_review_gradient_norms_follow_the_words(loaded):
    review = review_gradient_norms(loaded["lstm"], "The movie was great!")
    assert review["tokens"] == ["the", "movie", "was", "great"]
    assert review["norms"].shape == (4,) and np.all(review["norms"] > 0)
    np.testing.assert_array_equal(review["by_distance"], review["norms"][::-1])
    assert review["label"] == int(review["probability"] >= 0.5)


@pytest.mark.slow
def test_cli_writes_the_figure_and_the_numbers(tiny_artifacts, tmp_path):
    result = run_cli(
        "gradients",
        *("--artifacts", str(tiny_artifacts)),
        *("--text", "the wonderful film"),
        *"--sample-size 16".split(),
        *("--output", str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads((tmp_path / "gradients.json").read_text())
    assert list(values["cells"]) == list(CELL_TYPES) and values["sample_size"] == 16
    for entry in values["cells"].values():
        assert entry["review"]["tokens"] == ["the", "wonderful", "film"]
        assert entry["average"]["count"][0] == 16 and len(entry["average"]["geometric_mean"]) == 8
    assert (tmp_path / "gradients.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (tmp_path / "gradients.md").read_text()
    assert (
        "| steps before the end | reviews | SimpleRNN | LSTM | GRU |" in markdown
        and "python -m sentiment gradients" in markdown
    )


@pytest.mark.parametrize(
    "options",
    [{"bidirectional": True}, {"pooling": "mean", "num_layers": 2}, {"bidirectional": True, "pooling": "max_mean"}],
)
def test_other_architectures_keep_padding_out(options):
    # The head is handed the mask with the embedded words; stacked,
    # bidirectional and pooled models must see exactly what model(ids) sees.
    model = build_classifier(ModelConfig(cell_type="gru", embedding_dim=4, units=4, **options), 16)
    norms = embedding_gradient_norms(model, IDS[:, :6] % 16, LABELS)
    alone = embedding_gradient_norms(model, IDS[:1, :5], LABELS[:1])
    np.testing.assert_allclose(norms[0, :5], alone[0], rtol=1e-5)
    assert np.isnan(norms[0, 5])


def test_only_a_binary_classifier_is_measured():
    from sentiment.errors import SentimentError
    from sentiment.models import build_regressor

    three_classes = build_classifier(ModelConfig(cell_type="gru", embedding_dim=4, units=4), 16, num_classes=3)
    with pytest.raises(SentimentError, match="does not end in a sigmoid of one logit"):
        embedding_gradient_norms(three_classes, IDS % 16)
    regressor = build_regressor(ModelConfig(cell_type="gru", units=4), input_features=2)
    with pytest.raises(SentimentError, match="gru_regressor has no encoder.*gradient flow needs token ids"):
        embedding_gradient_norms(regressor, IDS % 16)


def test_reviews_of_any_length_reuse_one_traced_function(loaded):
    # The app computes one review per request: retracing each time would cost
    # a second per click instead of milliseconds.
    from sentiment.analysis.gradients import _traced_functions

    artifact = loaded["simple_rnn"]
    gradients, forward = _traced_functions(artifact.model)
    for words in (["great"], ["the", "movie", "was", "bad"], ["good", "film", "and", "story", "the", "actor"]):
        review_gradient_norms(artifact, " ".join(words))
    assert _traced_functions(artifact.model) == (gradients, forward)
    assert 1 <= gradients.experimental_get_tracing_count() <= 2 and 1 <= forward.experimental_get_tracing_count() <= 2


def test_retention_is_stated_as_measured_shares_of_the_final_words_gradient():
    from sentiment.analysis.gradients import retention_lines

    counts = [10] * 150 + [0] * 100  # no review reaches 200 steps: only 100 is stated
    curves = {"simple_rnn": [2.0] + [0.02] * 249, "lstm": [0.5] + [0.25] * 249}
    text = "\n".join(retention_lines(curves, counts))
    assert "SimpleRNN 1% at 100; LSTM 50% at 100." in text and "at 200" not in text
    assert retention_lines(curves, [10] * 50) == []  # too short to say anything


def test_the_sample_comes_from_the_dataset_the_artifact_was_trained_on(tmp_path):
    # A binary dataset streamed from tfds: the gradients' test sample must be
    # its test split, not IMDB's (which TFDS_DATA_DIR may also hold).
    import tensorflow_datasets as tfds

    from sentiment.analysis.gradients import sample_test_reviews
    from sentiment.config import DataConfig, TrainConfig
    from sentiment.training.train import train_models

    from conftest import make_reviews

    features = tfds.features.FeaturesDict(
        {"text": tfds.features.Text(), "label": tfds.features.ClassLabel(names=["negative", "positive"])}
    )
    splits = {split: make_reviews(count, seed) for split, count, seed in (("train", 120, 0), ("test", 40, 1))}
    examples = {
        split: tf.data.Dataset.from_tensor_slices({"text": texts, "label": labels})
        for split, (texts, labels) in splits.items()
    }
    tfds.dataset_builders.store_as_tfds_dataset(
        "tiny_binary_reviews", "1.0.0", features, examples, data_dir=str(tmp_path / "tfds")
    )
    data_config = DataConfig(
        dataset="tiny_binary_reviews",
        path=str(tmp_path / "tfds"),
        download=False,
        vocabulary_size=30,
        sequence_length=8,
    )
    model_config = ModelConfig(embedding_dim=4, units=4, word_dropout_rate=0.0, dropout_rate=0.0)
    train_models(
        data_config,
        model_config,
        TrainConfig(epochs=1, batch_size=32),
        cell_types=("lstm",),
        output=tmp_path / "out",
        verbose=0,
        log=lambda line: None,
    )
    sample = sample_test_reviews(load_artifact(tmp_path / "out" / "lstm"), 12, seed=0)
    assert len(sample) == 12 and set(sample.texts) <= set(splits["test"][0])
    labels = dict(zip(*splits["test"]))
    assert all(labels[text] == label for text, label in zip(sample.texts, sample.labels))


def test_pooled_models_get_the_gradient_their_own_call_gives():
    """Max+mean pooling (the strong preset's models), through the head: the gradient is model(ids)'s.

    The pooling is two branches after the recurrence.

    With every position a different word, d loss / d e_t is the gradient of
    the embedding table's row for word t, taken here through model(ids)
    itself and its own cross-entropy.
    """
    config = ModelConfig(cell_type="lstm", embedding_dim=4, units=4, bidirectional=True, pooling="max_mean")
    model = build_classifier(config, 16)
    ids = np.array([[2, 3, 4, 5, 6, 0, 0], [7, 8, 9, 10, 11, 12, 13]], np.int32)
    labels = np.array([1.0, 0.0], np.float32)
    norms = embedding_gradient_norms(model, ids, labels)
    table = models.embedding(model).embeddings
    with tf.GradientTape() as tape:
        probabilities = model(ids, training=False)
        loss = tf.reduce_sum(keras.losses.binary_crossentropy(labels[:, None], probabilities))
    rows = tf.convert_to_tensor(tape.gradient(loss, table)).numpy()
    expected = np.where(ids == 0, np.nan, np.linalg.norm(rows[ids], axis=-1))
    np.testing.assert_allclose(norms, expected, rtol=1e-4)
    assert np.all(norms[ids != 0] > 0)


@pytest.mark.slow
def test_cli_defaults_to_the_models_the_folder_holds(tiny_strong_artifacts, tmp_path):
    """A strong-preset folder has no SimpleRNN: without --cells, its LSTM and GRU are measured.

    Pooling branches and all.
    """
    result = run_cli(
        "gradients", "--artifacts", str(tiny_strong_artifacts), "--sample-size", "8", "--output", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads((tmp_path / "gradients.json").read_text())
    assert list(values["cells"]) == ["lstm", "gru"]
    assert all(entry["average"]["count"][0] == 8 for entry in values["cells"].values())
    empty = run_cli("gradients", "--artifacts", str(tmp_path / "nothing"), "--sample-size", "8")
    assert (
        empty.returncode != 0 and "no trained model in" in empty.stderr and "python -m sentiment train" in empty.stderr
    )
