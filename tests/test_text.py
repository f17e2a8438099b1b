"""One encoder from text to token ids: training, the Predictor, the analyses and the export agree."""

import numpy as np
import pytest
import tensorflow as tf
from test_reliability import INPUTS, INVALID_UTF8, LONE_SURROGATES

from sentiment import data
from sentiment.analysis import gradients
from sentiment.io.artifacts import load_artifact
from sentiment.serving.predict import Predictor

HOSTILE = [*INPUTS.values(), LONE_SURROGATES, INVALID_UTF8, "The movie was great", "the the the zebra"]


@pytest.fixture(scope="module")
def artifact(tiny_artifacts):
    return load_artifact(tiny_artifacts / "lstm")


def _rows(ids):
    """Each review's real ids, whatever the padding."""
    return [tuple(row[row != data.PADDING_ID]) for row in np.asarray(ids)]


def test_every_path_gives_the_same_ids_for_any_text(artifact):
    encoder = artifact.encoder
    training = encoder.encode(HOSTILE, to_sequence_length=True)  # how train vectorizes a split
    predictor = Predictor(artifact).token_ids(HOSTILE)
    graph = tf.function(lambda texts: encoder.padded(texts))(
        data.text_tensor(HOSTILE)
    ).numpy()  # the export's serve() code, traced
    assert training.shape == (len(HOSTILE), artifact.config.data.sequence_length)
    assert _rows(training) == _rows(predictor) == _rows(graph)
    assert all(len(row) >= 1 for row in _rows(training))  # never a fully masked review


def test_the_export_scores_what_the_encoder_encodes(artifact, tmp_path):
    from sentiment.serving.export import SIGNATURE, export_model

    folder = export_model(artifact.folder, tmp_path / "export")
    serve = tf.saved_model.load(str(folder)).signatures[SIGNATURE]
    served = serve(text=data.text_tensor(HOSTILE))["probability"].numpy()
    expected = artifact.model(artifact.encoder.encode(HOSTILE), training=False).numpy().reshape(-1)
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_the_encoder_is_built_once_per_artifact(artifact, monkeypatch):
    encoder = artifact.encoder
    assert artifact.encoder is encoder
    built = []
    monkeypatch.setattr(data.text, "make_vectorizer", lambda *args, **kwargs: built.append(args))
    gradients.review_gradient_norms(artifact, "the movie was great")
    gradients.review_gradient_norms(artifact, "a second review")
    assert built == []  # no 20,000-entry lookup table rebuilt per request


def test_gradients_of_a_review_with_lone_surrogates(artifact):
    result = gradients.review_gradient_norms(artifact, LONE_SURROGATES)
    assert result["tokens"][:1] == ["bad"] and np.all(np.isfinite(result["norms"]))
    assert 0 <= result["probability"] <= 1


def test_gradients_trace_once_for_every_length(artifact):
    function, _ = gradients._traced_functions(artifact.model)
    for words in (1, 3, 7, 12, 30):
        gradients.review_gradient_norms(artifact, " ".join(["great"] * words))
    assert function.experimental_get_tracing_count() == 1


def test_the_predictor_traces_once_for_every_length(artifact):
    predictor = Predictor(artifact)
    for words in (1, 4, 9, 20):
        predictor.predict(["great " * words, "bad"])
        predictor.read("great " * words)
    assert (
        predictor._forward.experimental_get_tracing_count() == 1
        and predictor._steps.experimental_get_tracing_count() == 1
    )
