"""Pretrained word vectors (PPMI + SVD) and the strong preset's architecture."""

import json

import keras
import numpy as np
import pytest

from sentiment import models
from sentiment.config import PRESETS, ModelConfig
from sentiment.models import build_classifier
from sentiment.training import vectors


def test_cooccurrences_count_pairs_within_the_window_weighted_by_distance():
    ids = np.array([[2, 3, 4, 0], [2, 1, 3, 0]])  # 0 padding and 1 [UNK] are left out
    counts = vectors.cooccurrences(ids, 6, window=2).toarray()
    assert (
        counts[2, 3] == pytest.approx(1.0 + 0.5) and counts[3, 2] == counts[2, 3]
    )  # adjacent in row 0; two apart in row 1
    assert counts[2, 4] == pytest.approx(0.5) and counts[3, 4] == pytest.approx(1.0)
    assert counts[:, :2].sum() == 0 and counts[:2].sum() == 0


def test_words_in_the_same_contexts_get_similar_vectors():
    rng = np.random.default_rng(0)
    # Words 2 and 3 appear beside 10..14, words 4 and 5 beside 15..19.
    rows = [[int(rng.choice([2, 3])), int(rng.integers(10, 15))] for _ in range(400)] + [
        [int(rng.choice([4, 5])), int(rng.integers(15, 20))] for _ in range(400)
    ]
    found = vectors.ppmi_svd(vectors.cooccurrences(np.array(rows), 20, window=1), dimensions=4)
    cosine = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    assert found.shape == (20, 4) and found.dtype == np.float32
    assert cosine(found[2], found[3]) > 0.9 and cosine(found[2], found[3]) > cosine(found[2], found[4]) + 0.5


def test_vectors_are_cached_with_a_record(tmp_path):
    ids = np.random.default_rng(1).integers(2, 30, size=(50, 12))
    first = vectors.pretrain(ids, 30, 4, 2, tmp_path, "a test corpus", log=lambda line: None)
    record = json.loads((tmp_path / vectors.VECTORS_RECORD).read_text())
    assert (
        record["corpus"] == "a test corpus"
        and record["dimensions"] == 4
        and record["window"] == 2
        and record["reviews"] == 50
    )
    again = vectors.pretrain(
        np.zeros((1, 1), int), 30, 4, 2, tmp_path, "ignored", log=lambda line: None
    )  # the cache, not the corpus
    np.testing.assert_array_equal(first, again)


def test_the_strong_architecture_starts_from_the_given_vectors():
    config = ModelConfig(**{**PRESETS["strong"].model.__dict__, "cell_type": "gru", "embedding_dim": 4, "units": 3})
    weights = np.arange(40, dtype=np.float32).reshape(10, 4)
    model = build_classifier(config, 10, embedding_weights=weights)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(models.embedding(model).embeddings), weights)
    pooled = models.head(model).get_layer("max_mean_pooling")
    assert pooled.output.shape[-1] == 2 * 2 * 3  # max and mean of both directions
    out = keras.ops.convert_to_numpy(model(np.array([[2, 3, 4, 0, 0]])))
    assert out.shape == (1, 1) and 0 < out[0, 0] < 1
    big = build_classifier(config, 5000, embedding_weights=np.ones((5000, 4), np.float32))
    assert len(json.dumps(big.get_config())) < 50_000  # the table is set, never stored in the model's config


def test_a_strong_style_run_records_its_vectors_serves_and_exports(tiny_csv, tmp_path):
    import tensorflow as tf

    from sentiment.serving.export import SIGNATURE, export_model
    from sentiment.serving.predict import Predictor
    from sentiment.training.train import train_models

    from conftest import tiny_configs

    data_config, _, train_config = tiny_configs(tiny_csv, epochs=2)
    model_config = ModelConfig(
        cell_type="lstm",
        embedding_dim=4,
        units=4,
        bidirectional=True,
        pooling="max_mean",
        pretrained_vectors="ppmi-svd",
        word_dropout_rate=0.0,
        dropout_rate=0.0,
    )
    (result,) = train_models(
        data_config,
        model_config,
        train_config,
        cell_types=("lstm",),
        output=tmp_path / "strong",
        verbose=0,
        log=lambda line: None,
    )
    record = result.metrics["pretrained_vectors"]
    assert (
        record["corpus"] == "the training split (validation excluded)" and record["dimensions"] == 4
    )  # a CSV has no unlabelled reviews
    assert (tmp_path / "strong" / vectors.VECTORS_FILE).exists()
    predictor = Predictor.from_folder(tmp_path / "strong" / "lstm")
    probability = float(predictor.predict(["the movie was great"])[0])
    assert predictor.read("the movie was great").probability == pytest.approx(probability, abs=1e-5)
    folder = export_model(tmp_path / "strong" / "lstm", tmp_path / "export")
    served = (
        tf.saved_model.load(str(folder))
        .signatures[SIGNATURE](text=tf.constant(["the movie was great"]))["probability"]
        .numpy()[0]
    )
    assert served == pytest.approx(probability, abs=1e-5)
