"""Training on IMDB's unlabelled reviews with the bag-of-n-grams reference as the teacher (`TrainConfig.teacher`)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from sentiment import data
from sentiment.config import BASELINE, DataConfig, ModelConfig, TrainConfig
from sentiment.errors import SentimentError
from sentiment.io import artifacts, files
from sentiment.training import baseline, loop
from sentiment.training.train import TEACHER_FOLDER


def test_soft_targets_give_the_soft_cross_entropy_and_count_the_side_of_one_half():
    outputs = tf.constant([[0.9], [0.2], [0.6], [0.4]])
    targets = tf.constant([0.8, 0.3, 0.4, 0.0])
    losses, hits = loop.losses_and_hits(targets, outputs)
    p, t = outputs.numpy()[:, 0], targets.numpy()
    np.testing.assert_allclose(losses.numpy(), -(t * np.log(p) + (1 - t) * np.log(1 - p)), rtol=1e-4)
    assert hits.numpy().tolist() == [1.0, 1.0, 0.0, 1.0]
    _, hard_hits = loop.losses_and_hits(tf.constant([1, 0, 0, 1]), outputs)  # class ids read as before
    assert hard_hits.numpy().tolist() == [1.0, 1.0, 0.0, 0.0]


def test_a_teacher_needs_the_unlabelled_reviews_of_the_tfds_source(tiny_csv, tmp_path):
    from sentiment.training.train import train_models

    from conftest import tiny_configs

    data_config, model_config, train_config = tiny_configs(tiny_csv)
    with pytest.raises(SentimentError, match="only the tfds source has"):
        train_models(
            data_config,
            model_config,
            TrainConfig(epochs=1, teacher="bow"),
            cell_types=("lstm",),
            output=tmp_path,
            verbose=0,
            log=lambda line: None,
        )
    with pytest.raises(ValueError, match="teacher must be one of"):
        TrainConfig(teacher="lstm")


@pytest.mark.imdb
def test_the_teacher_is_trained_first_and_labels_the_unlabelled_reviews(tmp_path):
    from sentiment.training.train import train_models

    data_config = DataConfig(
        max_train_samples=300, max_test_samples=200, vocabulary_size=2000, sequence_length=32, download=False
    )
    model_config = ModelConfig(embedding_dim=8, units=4, word_dropout_rate=0.0, dropout_rate=0.0)
    train_config = TrainConfig(epochs=1, batch_size=32, teacher="bow", teacher_reviews=120)
    lines: list[str] = []
    (result,) = train_models(
        data_config, model_config, train_config, cell_types=("lstm",), output=tmp_path, verbose=0, log=lines.append
    )
    teacher_folder = tmp_path / TEACHER_FOLDER
    teacher = baseline.BagOfNgrams.load(teacher_folder)  # a verified artifact, like the reference's
    assert teacher.config.ngram_max == 3 and any(ngram.count(" ") == 2 for ngram in teacher.ngrams)
    assert not (tmp_path / BASELINE).exists()  # the reference is not the teacher, and --cells did not name it
    record = result.metrics["teacher"]
    assert (
        record["reviews"] == 120
        and record["labelled_train_samples"] == 270
        and result.metrics["train_samples"] == 270 + 120
    )
    assert (
        record["teacher_test_accuracy"] == files.read_json(teacher_folder / artifacts.METRICS_FILE)["test"]["accuracy"]
    )
    unlabelled = data.load_unlabelled(None, False, 120)
    assert len(unlabelled) == 120
    assert record["positive_share"] == pytest.approx(float(np.mean(teacher.probabilities(unlabelled) > 0.5)))
    summary = (tmp_path / "summary.md").read_text()
    assert "Teacher: the recurrent models also train on the first 120 of IMDB's unlabelled reviews" in summary
    assert f"it labelled 120 unlabelled reviews ({100 * record['positive_share']:.1f}% of them positive)" in summary
    assert any(line.startswith("[teacher] labelling 120") for line in lines) and any(
        line.startswith("[teacher] C = ") for line in lines
    )
    assert result.metrics["validation_samples"] == 30  # validation stays the labelled reviews
