from dataclasses import replace

import numpy as np
import pytest

from sentiment.io.artifacts import load_artifact
from sentiment.models import build_classifier, build_convolutional_classifier
from sentiment.serving.predict import Predictor, step_model

AWKWARD_INPUTS = [
    "",
    "   ",
    "?!...",
    "<script>alert(1)</script>",
    "😀🎬",
    "电影很好",
    "الفيلم رائع",
    "nul\x00byte",
    "great " * 2000,
]


@pytest.fixture(scope="module")
def predictors(tiny_artifacts):
    return {cell: Predictor.from_folder(tiny_artifacts / cell) for cell in ("simple_rnn", "lstm", "gru")}


def test_predictions_match_the_model_on_vectorized_text(predictors):
    texts = ["the movie was great", "awful plot and boring story"]
    for predictor in predictors.values():
        ids = predictor.token_ids(texts)
        direct = predictor.artifact.model.predict(ids, verbose=0).reshape(-1)
        np.testing.assert_allclose(predictor.predict(texts), direct, atol=1e-6)


def test_predictions_follow_the_learned_sentiment(predictors):
    probabilities = predictors["lstm"].predict(["the movie was wonderful", "the movie was terrible"])
    assert probabilities[0] > 0.5 > probabilities[1]


@pytest.mark.parametrize("text", AWKWARD_INPUTS)
def test_any_text_gets_a_valid_probability(predictors, text):
    for predictor in predictors.values():
        (probability,) = predictor.predict([text])
        assert 0.0 <= probability <= 1.0


def test_long_reviews_are_truncated_to_the_sequence_length(predictors):
    ids = predictors["gru"].token_ids(["great " * 5000])
    assert ids.shape == (1, predictors["gru"].artifact.config.data.sequence_length)


def test_empty_batch(predictors):
    assert predictors["lstm"].predict([]).shape == (0,)


# --- Reading a review token by token -----------------------------------------

CELLS = ("simple_rnn", "lstm", "gru")


@pytest.mark.parametrize("cell", CELLS)
def test_the_trajectory_ends_at_the_models_prediction(predictors, cell):
    predictor = predictors[cell]
    assert predictor.reads_in_one_pass  # the default architecture needs no prefix runs
    for text in ["the movie was great but the plot was awful", "boring", "great " * 50]:
        reading = predictor.read(text)
        assert reading.trajectory.shape == (len(reading.token_ids),)
        np.testing.assert_allclose(reading.probability, predictor.predict([text])[0], atol=1e-5)


@pytest.mark.parametrize(
    "change, num_classes", [({"num_layers": 2}, 2), ({"irnn": True, "cell_type": "simple_rnn"}, 2), ({}, 3)]
)
def test_the_step_model_ends_at_the_models_output(tiny_artifacts, change, num_classes):
    """Stacked layers and the IRNN read in one pass too; its last step is the model's output, for n classes too."""
    artifact = load_artifact(tiny_artifacts / "gru")
    model = build_classifier(replace(artifact.config.model, **change), len(artifact.vocabulary), num_classes)
    steps = step_model(model)
    ids = np.array([[2, 3, 4, 5], [6, 7, 0, 0]], np.int32)
    per_step = steps(ids, training=False).numpy()
    assert per_step.shape == (2, 4, 1 if num_classes == 2 else num_classes)
    expected = model(ids, training=False).numpy()
    np.testing.assert_allclose(per_step[[0, 1], [3, 1]], expected, atol=1e-6)
    np.testing.assert_allclose(per_step[1, 1], model(ids[1:, :2], training=False).numpy()[0], atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_each_trajectory_point_is_the_prediction_on_that_prefix(predictors, cell):
    predictor = predictors[cell]
    words = "movie was wonderful actor was terrible".split()  # fewer than sequence_length (8)
    reading = predictor.read(" ".join(words))
    prefixes = [" ".join(words[: index + 1]) for index in range(len(words))]
    np.testing.assert_allclose(reading.trajectory, predictor.predict(prefixes), atol=1e-5)


def test_effects_add_up_to_the_move_from_undecided(predictors):
    reading = predictors["lstm"].read("the plot was boring but the actor was wonderful")
    assert reading.effects.shape == reading.trajectory.shape
    np.testing.assert_allclose(reading.effects.sum(), reading.probability - 0.5, atol=1e-5)
    assert reading.effects[-1] > 0  # "wonderful" last: the tiny models learned it is positive


def test_reading_marks_unknown_and_cut_words(predictors):
    predictor = predictors["gru"]  # sequence_length 8, truncation_side left: the start is cut
    words = ["zebra", "the", "movie", "was", "great", "and", "the", "qwerty", "plot", "good"]
    reading = predictor.read("<b>" + " ".join(words).upper() + "!</b>")
    assert reading.words == tuple(words)  # lowercased, markup and punctuation removed
    assert (reading.read_start, reading.read_stop) == (2, 10)
    assert reading.known.tolist() == [True, True, True, True, True, False, True, True]  # only "qwerty" is unknown
    np.testing.assert_array_equal(reading.token_ids, predictor.token_ids([" ".join(words)])[0])


def test_a_review_without_words_is_read_as_one_unknown_token(predictors):
    reading = predictors["lstm"].read("?!... <br />")
    assert reading.words == () and reading.token_ids.tolist() == [1] and reading.trajectory.shape == (1,)


@pytest.mark.parametrize("text", [*AWKWARD_INPUTS, "lone \ud800 surrogate", "\udfff"])
def test_any_text_can_be_read(predictors, text):
    for predictor in predictors.values():
        reading = predictor.read(text)
        assert np.all((reading.trajectory >= 0) & (reading.trajectory <= 1))
        assert all("<" not in word and "\ud800" not in word for word in reading.words)
        (probability,) = predictor.predict([text])
        np.testing.assert_allclose(reading.probability, probability, atol=1e-5)


@pytest.mark.parametrize("change", [{"bidirectional": True}, {"pooling": "mean"}])
def test_other_architectures_are_read_prefix_by_prefix(tiny_artifacts, change):
    """Without a state per step (bidirectional, pooling), each point is the model on a prefix."""
    artifact = load_artifact(tiny_artifacts / "lstm")
    model_config = replace(artifact.config.model, **change)
    model = build_classifier(model_config, len(artifact.vocabulary))  # untrained weights suffice
    assert step_model(model) is None
    assert step_model(build_convolutional_classifier(model_config, len(artifact.vocabulary))) is None  # no head
    predictor = Predictor(replace(artifact, model=model, config=replace(artifact.config, model=model_config)))
    assert not predictor.reads_in_one_pass
    words = "the movie was great plot boring".split()
    reading = predictor.read(" ".join(words))
    prefixes = [" ".join(words[: index + 1]) for index in range(len(words))]
    np.testing.assert_allclose(reading.trajectory, predictor.predict(prefixes), atol=1e-5)


# Reviews of different lengths and kinds, scored together: the batch pads them to the longest.
BATCH = [
    "a wonderful film",
    "",
    "boring " * 40 + "but the ending was great",
    "\ud800 odd <b>markup</b>",
    "the plot was bad and the acting worse " * 3,
]


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_a_batch_reads_each_review_as_it_would_be_read_alone(predictors, cell):
    predictor = predictors[cell]
    together = predictor.read_many(BATCH)
    for text, reading in zip(BATCH, together):
        alone = predictor.read(text)
        assert reading.words == alone.words and (reading.read_start, reading.read_stop) == (
            alone.read_start,
            alone.read_stop,
        )
        np.testing.assert_array_equal(reading.token_ids, alone.token_ids)
        assert reading.trajectory.shape == alone.trajectory.shape
        np.testing.assert_allclose(reading.trajectory, alone.trajectory, atol=1e-5)
    assert predictor.read_many([]) == []


@pytest.mark.parametrize("change", [{"bidirectional": True}, {"pooling": "max_mean"}])
def test_a_batch_of_prefix_read_models_matches_each_review_alone(tiny_artifacts, change):
    artifact = load_artifact(tiny_artifacts / "gru")
    model_config = replace(artifact.config.model, **change)
    model = build_classifier(model_config, len(artifact.vocabulary))
    predictor = Predictor(replace(artifact, model=model, config=replace(artifact.config, model=model_config)))
    for text, reading in zip(BATCH, predictor.read_many(BATCH)):
        np.testing.assert_allclose(reading.trajectory, predictor.read(text).trajectory, atol=1e-5)
