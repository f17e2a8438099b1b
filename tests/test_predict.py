import numpy as np
import pytest

from sentiment.predict import Predictor

AWKWARD_INPUTS = ["", "   ", "?!...", "<script>alert(1)</script>", "😀🎬", "电影很好", "الفيلم رائع", "nul\x00byte", "great " * 2000]


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
