import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

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
    served = _serve_in_a_tensorflow_only_process(exports[cell])
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
    empty = serve(text=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 4) and empty["label"].shape == (0,)
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

    artifacts, exported = strong_shaped
    predictor = Predictor.from_folder(artifacts / cell)
    assert not predictor.reads_in_one_pass and predictor.artifact.config.model.pooling == "max_mean"
    served = _serve_in_a_tensorflow_only_process(exported[cell])
    np.testing.assert_allclose(served["probability"], predictor.predict(REVIEWS), atol=1e-5)
    assert find_cudnn_ops(exported[cell]) == []
    serve = tf.saved_model.load(str(exported[cell])).signatures["serving_default"]
    _assert_warmup_requests_score_like_the_predictor(exported[cell], serve, predictor)


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


# --- Exports are checked like artifacts (issue 30) ---------------------------------


def test_every_version_carries_a_manifest_of_every_file(exports):
    from sentiment.io.artifacts import EXPORT_FILES, verify_export

    for folder in exports.values():
        listed = verify_export(folder)
        on_disk = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
        assert set(listed) == on_disk - {"manifest.json"}
        assert set(EXPORT_FILES) <= set(listed)
        assert any(name.startswith("variables/variables.data-") for name in listed)


def test_an_empty_batch_gets_empty_outputs_as_the_predictor_does(exports, tiny_artifacts, reliability):
    import tensorflow as tf

    serve = tf.saved_model.load(str(exports["gru"])).signatures["serving_default"]
    outputs = serve(text=tf.constant([], tf.string))
    assert outputs["probability"].shape == (0,) and outputs["probability"].dtype == tf.float32
    assert outputs["label"].shape == (0,) and outputs["label"].dtype == tf.string
    assert Predictor.from_folder(tiny_artifacts / "gru").predict([]).shape == (0,)
    np.testing.assert_allclose(  # and a batch after it is scored as before
        serve(text=tf.constant(REVIEWS))["probability"].numpy(),
        Predictor.from_folder(tiny_artifacts / "gru").predict(REVIEWS),
        atol=1e-5,
    )
    reliability.record(
        "input: SavedModel (serving_default)",
        "an empty batch (text of shape [0])",
        "empty probability and label, as the Predictor returns for no reviews",
        f"probability {outputs['probability'].dtype.name} {outputs['probability'].shape.as_list()}, "
        f"label {outputs['label'].dtype.name} {outputs['label'].shape.as_list()}",
    )


def _overwrite_a_block(path):
    data = bytearray(path.read_bytes())
    data[: min(64, len(data))] = bytes(min(64, len(data)))
    path.write_bytes(bytes(data))


EXPORT_FAULTS = {
    "saved_model.pb truncated to half": (
        lambda v: (v / "saved_model.pb").write_bytes((v / "saved_model.pb").read_bytes()[:100]),
        "saved_model.pb does not match its checksum",
    ),
    "a block of the variables overwritten": (
        lambda v: _overwrite_a_block(next((v / "variables").glob("variables.data-*"))),
        "does not match its checksum",
    ),
    "variables/variables.index missing": (
        lambda v: (v / "variables" / "variables.index").unlink(),
        "variables/variables.index is missing",
    ),
    "a file added to variables/": (
        lambda v: (v / "variables" / "extra").write_bytes(b"x"),
        "variables/extra is not in",
    ),
    "no manifest.json (an unfinished export, or an older one)": (
        lambda v: (v / "manifest.json").unlink(),
        "has no manifest.json",
    ),
}


@pytest.mark.parametrize("fault", list(EXPORT_FAULTS))
def test_a_damaged_export_is_refused_by_name(exports, tmp_path, reliability, fault):
    import shutil

    from sentiment.errors import SentimentError
    from sentiment.serving.score import export_scorers

    from tf_serving_standin import load_models

    damage, expected = EXPORT_FAULTS[fault]
    version = Path(shutil.copytree(exports["lstm"], tmp_path / "export" / "lstm" / "1"))
    damage(version)
    with pytest.raises(SentimentError, match=re.escape(expected)) as raised:
        export_scorers(tmp_path / "export")  # python -m sentiment predict --export
    with pytest.raises(SentimentError, match=re.escape(expected)):
        load_models(tmp_path / "export")  # the stand-in that serves the client's examples
    message = str(raised.value)
    assert "\n" not in message and "export it again" in message
    reliability.record(
        "export",
        fault,
        "refused in one line naming the file, before TensorFlow reads it",
        message.replace(str(tmp_path), "…"),
    )


def test_a_killed_exports_staging_folder_is_removed_by_the_next_export(tiny_artifacts, tmp_path, reliability):
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()  # a process that is gone, as a killed export's is
    stale = tmp_path / "gru" / f"1.tmp-{killed.pid}"
    (stale / "variables").mkdir(parents=True)
    (stale / "saved_model.pb").write_bytes(b"half")
    first = export_model(tiny_artifacts / "gru", tmp_path / "gru")
    assert first.name == "1" and sorted(path.name for path in (tmp_path / "gru").iterdir()) == ["1"]
    reliability.record(
        "export",
        "an export killed while writing (its staging folder left behind)",
        "the next export removes it and writes the version",
        f"{stale.name} removed; the folder holds {', '.join(path.name for path in (tmp_path / 'gru').iterdir())}",
    )


def test_a_stray_file_where_the_next_version_goes_is_refused_before_the_work(
    tiny_artifacts, tmp_path, monkeypatch, reliability
):
    from sentiment.errors import SentimentError
    from sentiment.serving import export

    first = export_model(tiny_artifacts / "gru", tmp_path / "gru")
    (tmp_path / "gru" / "2").write_text("a stray file")
    monkeypatch.setattr(export, "load_artifact", lambda folder: pytest.fail("the work started before the check"))
    with pytest.raises(SentimentError, match=r"gru/2 is in the way of the next version") as raised:
        export_model(tiny_artifacts / "gru", tmp_path / "gru")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SentimentError, match="is a file; give a folder"):
        export_model(tiny_artifacts / "gru", tmp_path / "file")
    assert sorted(path.name for path in (tmp_path / "gru").iterdir()) == [first.name, "2"]
    reliability.record(
        "export",
        "a stray file named 2 where version 2 goes",
        "refused in one line before the model is loaded or traced",
        str(raised.value).replace(str(tmp_path), "…"),
    )


@pytest.mark.slow
def test_export_defaults_to_the_models_the_folder_holds(tiny_strong_artifacts, tmp_path, reliability):
    from conftest import run_cli

    result = run_cli("export", "--artifacts", str(tiny_strong_artifacts), "--output", str(tmp_path / "export"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(path.name for path in (tmp_path / "export").iterdir()) == ["gru", "lstm"]
    reliability.record(
        "export",
        "python -m sentiment export --artifacts <a strong-preset folder of LSTM and GRU>",
        "exports the models the folder holds (no --cells needed)",
        "; ".join(result.stdout.strip().replace(str(tmp_path), "…").splitlines()),
    )


# --- After the LSTM: minGRU and the transformer serve like the cells --------------------------


@pytest.fixture(scope="module")
def after_the_lstm(tiny_csv, tmp_path_factory):
    """minGRU and the transformer trained one epoch on the tiny CSV, and their exports."""
    from sentiment.training.train import train_models

    from conftest import tiny_configs

    artifacts = tmp_path_factory.mktemp("after-the-lstm")
    cells = ("mingru", "transformer")
    train_models(*tiny_configs(tiny_csv, epochs=1), cell_types=cells, output=artifacts, verbose=0, log=lambda m: None)
    export = tmp_path_factory.mktemp("after-the-lstm-export")
    return artifacts, {cell: export_model(artifacts / cell, export / cell) for cell in cells}


@pytest.mark.parametrize("cell", ["mingru", "transformer"])
def test_mingru_and_transformer_exports_meet_the_serving_contract(after_the_lstm, cell):
    """TensorFlow alone loads it by signature and matches Keras; no cuDNN op; a manifest; warmup and empty batches."""
    import tensorflow as tf

    from sentiment.io.artifacts import EXPORT_FILES, verify_export

    artifacts, exported = after_the_lstm
    predictor = Predictor.from_folder(artifacts / cell)
    served = _serve_in_a_tensorflow_only_process(exported[cell])
    assert served["inputs"] == {"text": ["string", [None]]}
    expected = predictor.predict(REVIEWS)
    np.testing.assert_allclose(served["probability"], expected, atol=1e-5)
    assert served["label"] == ["positive" if p >= 0.5 else "negative" for p in expected]
    assert find_cudnn_ops(exported[cell]) == [] and set(EXPORT_FILES) <= set(verify_export(exported[cell]))
    serve = tf.saved_model.load(str(exported[cell])).signatures["serving_default"]
    empty = serve(text=tf.constant([], tf.string))
    assert empty["probability"].shape == (0,) and empty["label"].shape == (0,)
    _assert_warmup_requests_score_like_the_predictor(exported[cell], serve, predictor)


def test_the_predictor_reads_mingru_in_one_pass_and_the_transformer_by_prefixes(after_the_lstm):
    """minGRU has a state after every word, as the Keras cells do; a transformer's read-out needs the prefixes."""
    import tensorflow as tf

    artifacts, _ = after_the_lstm
    text = "the plot was awful but the actor was great"
    for cell, one_pass in (("mingru", True), ("transformer", False)):
        predictor = Predictor.from_folder(artifacts / cell)
        assert predictor.reads_in_one_pass is one_pass
        reading = predictor.read(text)
        assert reading.probability == pytest.approx(float(predictor.predict([text])[0]), abs=1e-5)
        ids = tf.constant(reading.token_ids[None], tf.int32)
        by_prefixes = Predictor._prefix_probabilities(predictor.artifact.model, ids).numpy()[0]
        np.testing.assert_allclose(reading.trajectory, by_prefixes, atol=1e-5)


def _assert_warmup_requests_score_like_the_predictor(export_dir, serve, predictor):
    """Every TF Serving warm-up request in the export is scored as the Predictor scores it."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = export_dir / "assets.extra" / "tf_serving_warmup_requests"
    for record in tf.data.TFRecordDataset(str(path)):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        texts = [text.decode("utf-8") for text in tf.make_ndarray(request.inputs["text"])]
        np.testing.assert_allclose(
            serve(text=tf.constant(texts))["probability"].numpy(), predictor.predict(texts), atol=1e-5
        )


def _serve_in_a_tensorflow_only_process(export_dir):
    """The export's answer to REVIEWS in a process that imports TensorFlow and nothing of this project."""
    result = subprocess.run(
        [sys.executable, "-c", _TENSORFLOW_ONLY, str(export_dir), json.dumps(REVIEWS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
