"""The bag-of-n-grams reference: trained beside the cells, saved without pickle, reported beside them."""

import json

import numpy as np
import pytest

from sentiment import data
from sentiment.config import BaselineConfig, DataConfig, ModelConfig, TrainConfig
from sentiment.errors import SentimentError
from sentiment.io import artifacts
from sentiment.training import baseline

from conftest import make_reviews


def _splits(count=300):
    texts, labels = make_reviews(count, seed=3)
    reviews = data.Reviews(np.array(texts, dtype=object), np.array(labels, np.int32))
    return data.Splits(
        train=reviews.take(np.arange(0, 200)),
        validation=reviews.take(np.arange(200, 250)),
        test=reviews.take(np.arange(250, 300)),
    )


def test_the_model_is_a_weight_per_ngram_and_learns_the_sentiment_words():
    model, history = baseline.fit(_splits(), BaselineConfig(), log=lambda line: None)
    weights = dict(zip(model.ngrams, model.weights))
    assert weights["great"] > 0 > weights["awful"] and "the movie" in weights  # bigrams too
    assert history["chosen_C"] == history["C"][int(np.argmax(history["val_accuracy"]))]
    probabilities = model.probabilities(["a great film", "an awful plot", ""])
    assert probabilities[0] > 0.5 > probabilities[1] and np.all((probabilities > 0) & (probabilities < 1))
    # P = sigmoid(bias + the weights of the n-grams present), and nothing else
    expected = 1 / (1 + np.exp(-(model.bias + weights["great"] + weights["film"] + weights["great film"])))
    assert model.probabilities(["GREAT <b>film</b>!!"])[0] == pytest.approx(
        expected
    )  # standardized like the cells' text


def test_the_artifact_reloads_without_pickle_and_is_checksummed(tmp_path):
    splits = _splits()
    metrics = baseline.train_and_write(splits, DataConfig(), BaselineConfig(), tmp_path, log=lambda line: None)
    assert metrics["test"]["count"] == 50 and metrics["cell_type"] == "bow"
    loaded = baseline.BagOfNgrams.load(tmp_path)
    np.testing.assert_allclose(
        loaded.probabilities(splits.test.texts), baseline.BagOfNgrams.load(tmp_path).probabilities(splits.test.texts)
    )
    assert set(json.loads((tmp_path / artifacts.MANIFEST_FILE).read_text())["files"]) == set(baseline.BASELINE_FILES)
    with np.load(tmp_path / baseline.WEIGHTS_FILE, allow_pickle=False) as arrays:
        assert set(arrays.files) == {"weights", "bias"}
    (tmp_path / baseline.NGRAMS_FILE).write_text("tampered\n")
    with pytest.raises(SentimentError, match="does not match its checksum"):
        baseline.BagOfNgrams.load(tmp_path)


def test_train_models_trains_it_beside_the_cells_and_reports_it(tiny_artifacts):
    summary = json.loads((tiny_artifacts / "summary.json").read_text())
    assert list(summary["models"]) == ["simple_rnn", "lstm", "gru", "bow"]
    assert "Bag of n-grams (reference)" in (tiny_artifacts / "summary.md").read_text()
    assert "non-recurrent reference" in (tiny_artifacts / "summary.md").read_text()


def test_a_streamed_dataset_is_refused_with_a_message(tmp_path):
    from sentiment.training.train import train_models

    config = DataConfig(dataset="anything", download=False)
    with pytest.raises(SentimentError, match="reads reviews in memory; leave it out of --cells with --dataset"):
        train_models(
            config,
            ModelConfig(),
            TrainConfig(),
            cell_types=("lstm", "bow"),
            output=tmp_path,
            verbose=0,
            log=lambda line: None,
        )
