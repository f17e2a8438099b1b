import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sentiment.models import recurrent_layers
from sentiment.serving.export import export_model, find_cudnn_ops, generic_kernel_model, graph_op_types
from sentiment.serving.predict import Predictor

from conftest import ROOT

REVIEWS = ["the movie was wonderful", "awful, boring plot<br />", "", "😀 电影 <b>great</b>", "great " * 600]

# Loads the export the way TF Serving does: TensorFlow only, by signature name.
# `import tensorflow` itself pulls in a few keras modules when Keras is
# installed; loading and serving the export must not pull in any more, nor
# this package.
_TENSORFLOW_ONLY = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    before = set(sys.modules)
    loaded = tf.saved_model.load(sys.argv[1])
    serve = loaded.signatures["serving_default"]
    outputs = serve(text=tf.constant(json.loads(sys.argv[2])))
    extra = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("keras", "sentiment"))
    assert not extra and "sentiment" not in sys.modules, f"loading the export imported {extra}"
    print(json.dumps({
        "probability": outputs["probability"].numpy().tolist(),
        "label": [label.decode() for label in outputs["label"].numpy()],
        "inputs": {
            name: [spec.dtype.name, spec.shape.as_list()]
            for name, spec in serve.structured_input_signature[1].items()
        },
    }))
    """
)


@pytest.fixture(scope="module")
def exports(tiny_export):
    return {cell: tiny_export / cell / "1" for cell in ("simple_rnn", "lstm", "gru")}


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_export_loads_in_a_tensorflow_only_process_and_matches_keras(cell, exports, tiny_artifacts):
    result = subprocess.run(
        [sys.executable, "-c", _TENSORFLOW_ONLY, str(exports[cell]), json.dumps(REVIEWS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["inputs"] == {"text": ["string", [None]]}
    expected = Predictor.from_folder(tiny_artifacts / cell).predict(REVIEWS)
    np.testing.assert_allclose(served["probability"], expected, atol=1e-5)
    assert served["label"] == ["positive" if p >= 0.5 else "negative" for p in expected]


def test_version_folders_count_up_and_only_complete_ones_appear(tiny_artifacts, tmp_path):
    first = export_model(tiny_artifacts / "gru", tmp_path / "gru")
    second = export_model(tiny_artifacts / "gru", tmp_path / "gru")
    assert (first.name, second.name) == ("1", "2")
    assert sorted(p.name for p in (tmp_path / "gru").iterdir()) == ["1", "2"]  # no staging folders left
    assert (second / "saved_model.pb").exists() and (second / "variables").is_dir()


def test_graph_has_no_cudnn_only_ops(exports):
    for folder in exports.values():
        ops = graph_op_types(folder)
        assert "LookupTableFindV2" in ops or "LookupTableFind" in ops  # the vocabulary lives in the graph
        assert find_cudnn_ops(folder) == []


def test_serving_model_never_picks_cudnn(tiny_artifacts):
    from sentiment.io.artifacts import load_artifact

    artifact = load_artifact(tiny_artifacts / "lstm")
    clone = generic_kernel_model(artifact.model)
    assert [layer.use_cudnn for layer in recurrent_layers(clone)] == [False]
    assert [layer.use_cudnn for layer in recurrent_layers(artifact.model)] == ["auto"]
    ids = np.array([[2, 3, 4, 0]])
    np.testing.assert_allclose(clone.predict(ids, verbose=0), artifact.model.predict(ids, verbose=0), atol=1e-6)


def test_a_four_class_export_returns_class_probabilities_and_names(tiny_news_artifacts, tmp_path):
    import tensorflow as tf

    from sentiment.io.artifacts import load_artifact

    from conftest import TOPIC_NAMES, TOPIC_WORDS

    artifact = load_artifact(tiny_news_artifacts / "lstm")
    path = export_model(tiny_news_artifacts / "lstm", tmp_path / "lstm")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert set(serve.structured_outputs) == {"probabilities", "label"}
    texts = [f"the {words[0]} was it" for words in TOPIC_WORDS] + [""]
    outputs = serve(text=tf.constant(texts))
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (5, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert [label.decode() for label in outputs["label"].numpy()] == [
        TOPIC_NAMES[i] for i in probabilities.argmax(axis=1)
    ]
    vectorized = np.zeros((5, 8), np.int32)
    for row, text in enumerate(texts[:4]):
        ids = [artifact.vocabulary.index(word) if word in artifact.vocabulary else 1 for word in text.split()]
        vectorized[row, : len(ids)] = ids
    vectorized[4, 0] = 1  # an empty text is one [UNK]
    np.testing.assert_allclose(probabilities, artifact.model(vectorized, training=False).numpy(), atol=1e-5)


def test_the_warmup_file_holds_real_reviews_that_the_signature_serves(exports, tiny_artifacts):
    # TF Serving's warmup format: assets.extra/tf_serving_warmup_requests, a TFRecord
    # of PredictionLog records (at most 1,000), each here a PredictRequest.
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = exports["lstm"] / "assets.extra" / "tf_serving_warmup_requests"
    logs = [
        prediction_log_pb2.PredictionLog.FromString(record.numpy()) for record in tf.data.TFRecordDataset(str(path))
    ]
    assert 1 < len(logs) <= 1000
    serve = tf.saved_model.load(str(exports["lstm"])).signatures["serving_default"]
    predictor = Predictor.from_folder(tiny_artifacts / "lstm")
    sent = []
    for log in logs:
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default" and list(request.inputs) == ["text"]
        texts = [text.decode("utf-8") for text in tf.make_ndarray(request.inputs["text"])]
        outputs = serve(**{name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()})
        probabilities = outputs["probability"].numpy()
        assert probabilities.shape == (len(texts),) and np.all((probabilities >= 0) & (probabilities <= 1))
        np.testing.assert_allclose(probabilities, predictor.predict(texts), atol=1e-5)
        assert [label.decode() for label in outputs["label"].numpy()] == [
            "positive" if p >= 0.5 else "negative" for p in probabilities
        ]
        sent.extend(texts)
    examples = json.loads((ROOT / "webapp" / "examples.json").read_text(encoding="utf-8"))["examples"]
    assert sorted(set(sent)) == sorted(example["text"] for example in examples)  # the app's real IMDB reviews
    assert len(logs) == 1 + len(examples) and len(sent) == 2 * len(examples)  # all at once, then one by one


@pytest.fixture(scope="module")
def strong_shaped(tiny_strong_artifacts, tmp_path_factory):
    """The tiny strong-shaped models (conftest) and their exports."""
    export = tmp_path_factory.mktemp("strong-export")
    return tiny_strong_artifacts, {
        cell: export_model(tiny_strong_artifacts / cell, export / cell) for cell in ("lstm", "gru")
    }


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_strong_presets_export_meets_the_same_serving_contract(strong_shaped, cell):
    """TensorFlow alone loads it by signature and matches Keras; no cuDNN-only op; its warmup requests are served."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    artifacts, exported = strong_shaped
    predictor = Predictor.from_folder(artifacts / cell)
    assert not predictor.reads_in_one_pass and predictor.artifact.config.model.pooling == "max_mean"
    result = subprocess.run(
        [sys.executable, "-c", _TENSORFLOW_ONLY, str(exported[cell]), json.dumps(REVIEWS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(served["probability"], predictor.predict(REVIEWS), atol=1e-5)
    assert find_cudnn_ops(exported[cell]) == []
    serve = tf.saved_model.load(str(exported[cell])).signatures["serving_default"]
    path = exported[cell] / "assets.extra" / "tf_serving_warmup_requests"
    for record in tf.data.TFRecordDataset(str(path)):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        texts = [text.decode("utf-8") for text in tf.make_ndarray(request.inputs["text"])]
        np.testing.assert_allclose(
            serve(text=tf.constant(texts))["probability"].numpy(), predictor.predict(texts), atol=1e-5
        )


def test_a_strong_artifact_loads_where_only_the_serving_code_is_imported(strong_shaped):
    """The app, `predict` and `evaluate` import the Predictor, not the model builders.

    The masked max pooling must still be found.
    """
    artifacts, _ = strong_shaped
    code = (
        "import sys; from sentiment.serving.predict import Predictor; "
        "print(Predictor.from_folder(sys.argv[1]).predict(['a fine film'])[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(artifacts / "lstm")], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert 0 <= float(result.stdout.strip().splitlines()[-1]) <= 1
