import json

import pytest

from sentiment.config import ARTIFACT_FORMAT_VERSION
from sentiment.errors import SentimentError
from sentiment.io import artifacts, files


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "metrics.json"
    files.write_json(path, {"accuracy": 0.9})
    with pytest.raises(RuntimeError):
        with files.atomic_path(path) as temporary:
            temporary.write_text('{"accuracy": 0.')  # half written...
            raise RuntimeError("disk full")  # ...then the write fails
    assert json.loads(path.read_text()) == {"accuracy": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left behind


def test_atomic_write_keeps_compound_suffixes(tmp_path):
    with files.atomic_path(tmp_path / "best.weights.h5") as temporary:
        assert temporary.name.endswith(".weights.h5")
        temporary.write_bytes(b"x")
    assert (tmp_path / "best.weights.h5").read_bytes() == b"x"


def test_vocabulary_round_trip(tmp_path):
    vocabulary = ["", "[UNK]", "the", "café", "don"]
    artifacts.write_vocabulary(tmp_path / "vocabulary.txt", vocabulary)
    assert artifacts.read_vocabulary(tmp_path / "vocabulary.txt") == vocabulary


def test_complete_artifacts_verify(tiny_artifacts):
    for cell in ("simple_rnn", "lstm", "gru"):
        artifacts.verify_manifest(tiny_artifacts / cell)


def _copy(source, destination):
    import shutil

    shutil.copytree(source, destination)
    return destination


def test_tampered_file_is_named(tiny_artifacts, tmp_path):
    folder = _copy(tiny_artifacts / "lstm", tmp_path / "lstm")
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["test"]["accuracy"] = 1.0
    (folder / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SentimentError, match=r"metrics\.json does not match its checksum"):
        artifacts.load_artifact(folder)


def test_truncated_model_is_named(tiny_artifacts, tmp_path):
    folder = _copy(tiny_artifacts / "gru", tmp_path / "gru")
    data = (folder / "model.keras").read_bytes()
    (folder / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(SentimentError, match=r"model\.keras does not match its checksum"):
        artifacts.load_artifact(folder)


def test_incomplete_folder_says_to_train_again(tiny_artifacts, tmp_path):
    folder = _copy(tiny_artifacts / "gru", tmp_path / "gru")
    (folder / "manifest.json").unlink()
    with pytest.raises(SentimentError, match="training did not finish there"):
        artifacts.load_artifact(folder)


def test_other_format_version_is_refused(tiny_artifacts, tmp_path):
    folder = _copy(tiny_artifacts / "simple_rnn", tmp_path / "simple_rnn")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = ARTIFACT_FORMAT_VERSION + 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SentimentError, match=f"written by artifact format {ARTIFACT_FORMAT_VERSION + 1}"):
        artifacts.load_artifact(folder)


def test_a_folder_from_before_the_encoder_and_head_is_refused_with_retrain(tiny_artifacts, tmp_path):
    folder = _copy(tiny_artifacts / "gru", tmp_path / "gru")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 2  # model.keras one flat Functional model, read by name
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SentimentError, match="written by artifact format 2, .*; retrain into a new folder"):
        artifacts.load_artifact(folder)


def test_a_loaded_model_is_its_encoder_and_head(tiny_artifacts):
    import numpy as np

    from sentiment import models

    model = artifacts.load_artifact(tiny_artifacts / "lstm").model  # loaded with safe_mode
    token_ids = np.array([[2, 3, 4, 0], [5, 6, 7, 8]], np.int32)
    embedded, mask = models.encoder(model)(token_ids)
    probabilities = models.output_layer(model)(models.head(model)([embedded, mask]))
    np.testing.assert_allclose(np.asarray(probabilities), np.asarray(model(token_ids)), atol=1e-6)


def test_loaded_artifact_carries_its_config(tiny_artifacts):
    artifact = artifacts.load_artifact(tiny_artifacts / "gru")
    assert artifact.config.model.cell_type == "gru"
    assert artifact.vocabulary[:2] == ["", "[UNK]"]
    assert artifact.model.count_params() == artifact.metrics["parameters"]
