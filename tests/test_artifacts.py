import json
import os
import re
import signal
from pathlib import Path

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


# --- The manifest means what it says (issue 30) ----------------------------------


def _rewrite_manifest(folder, change) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _entry_for(path) -> dict:
    return {"sha256": files.sha256_of(path), "bytes": path.stat().st_size}


def _swap_two_words(folder) -> None:
    words = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    words[2], words[3] = words[3], words[2]
    (folder / "vocabulary.txt").write_text("\n".join(words), encoding="utf-8")


def _fifo_entry(folder) -> None:
    os.mkfifo(folder / "pipe")
    _rewrite_manifest(folder, lambda m: m["files"].update({"pipe": {"sha256": "0" * 64, "bytes": 0}}))


def _link_out(folder) -> None:
    (folder / "passwd").symlink_to("/etc/passwd")
    _rewrite_manifest(folder, lambda m: m["files"].update({"passwd": _entry_for(Path("/etc/passwd"))}))


MANIFEST_FAULTS = {
    "files: {} and two words of vocabulary.txt swapped": (
        lambda folder: (_swap_two_words(folder), _rewrite_manifest(folder, lambda m: m.update(files={}))),
        "does not list model.keras, config.json, vocabulary.txt",
    ),
    "vocabulary.txt left out of the manifest, then changed": (
        lambda folder: (_rewrite_manifest(folder, lambda m: m["files"].pop("vocabulary.txt")), _swap_two_words(folder)),
        "does not list vocabulary.txt",
    ),
    "an entry ../../../../etc/passwd (its checksum matching)": (
        lambda folder: _rewrite_manifest(
            folder, lambda m: m["files"].update({"../../../../etc/passwd": _entry_for(Path("/etc/passwd"))})
        ),
        "lists '../../../../etc/passwd': not a plain path inside the folder",
    ),
    "an entry /dev/zero": (
        lambda folder: _rewrite_manifest(
            folder, lambda m: m["files"].update({"/dev/zero": {"sha256": "0" * 64, "bytes": 1 << 40}})
        ),
        "lists '/dev/zero': not a plain path inside the folder",
    ),
    "an entry that is a link to /etc/passwd (its checksum matching)": (_link_out, "passwd links outside"),
    "an entry that is a named pipe": (_fifo_entry, "pipe is not a regular file"),
    "an entry that is a folder": (
        lambda folder: _rewrite_manifest(
            folder, lambda m: m["files"].update({"logs": {"sha256": "0" * 64, "bytes": 0}})
        ),
        "logs is not a regular file",
    ),
    "a manifest that is a list": (
        lambda folder: (folder / "manifest.json").write_text("[]"),
        "manifest.json is not a manifest",
    ),
    "an entry that is a string": (
        lambda folder: _rewrite_manifest(folder, lambda m: m["files"].update({"model.keras": "abc"})),
        'the entry of model.keras is not {"sha256"',
    ),
    "a manifest of 2 MB": (
        lambda folder: (folder / "manifest.json").write_text(" " * 2_000_000 + "{}"),
        "manifest.json is larger than 1,000,000 bytes",
    ),
}


@pytest.mark.parametrize("fault", list(MANIFEST_FAULTS))
def test_a_manifest_that_does_not_check_every_file_is_refused(tiny_artifacts, tmp_path, reliability, fault):
    damage, expected = MANIFEST_FAULTS[fault]
    folder = _copy(tiny_artifacts / "lstm", tmp_path / "lstm")
    damage(folder)
    # Each check must end at once: /dev/zero read as a file, or a FIFO opened, would never return.
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("the check hung")))
    signal.alarm(30)
    try:
        with pytest.raises(SentimentError) as raised:
            artifacts.load_artifact(folder)
    finally:
        signal.alarm(0)
    message = str(raised.value)
    assert expected in message and "\n" not in message
    reliability.record(
        "artifact", f"manifest: {fault}", "refused in one line naming the entry", _short(message, tmp_path)
    )


def _short(message: str, tmp_path) -> str:
    return message.replace(str(tmp_path), "…")


@pytest.mark.parametrize(
    "case, vocabulary, expected",
    [
        ("invalid UTF-8 in vocabulary.txt", b"\n[UNK]\nthe\ncaf\xe9\n", "vocabulary.txt:4: not UTF-8"),
        (
            "a word listed twice in vocabulary.txt",
            b"\n[UNK]\nthe\nfilm\nthe\n",
            "vocabulary.txt:5: 'the' is listed again",
        ),
        ("vocabulary.txt cut short (no final newline)", b"\n[UNK]\nthe\nfil", "does not end with a newline"),
        ("vocabulary.txt without padding and [UNK]", b"the\nfilm\n", "does not start with the padding line and [UNK]"),
    ],
)
def test_a_malformed_vocabulary_is_one_line_even_with_a_matching_manifest(
    tiny_artifacts, tmp_path, reliability, case, vocabulary, expected
):
    folder = _copy(tiny_artifacts / "gru", tmp_path / "gru")
    (folder / "vocabulary.txt").write_bytes(vocabulary)
    artifacts.write_manifest(folder)  # as a copier who rewrote the manifest would
    with pytest.raises(SentimentError, match=re.escape(expected)) as raised:
        artifacts.load_artifact(folder)
    reliability.record(
        "artifact",
        f"{case}, manifest rewritten to match",
        "refused in one line naming the line",
        _short(str(raised.value), tmp_path),
    )


@pytest.mark.parametrize("role", ["bow", "teacher"])
def test_the_bag_of_ngrams_folder_must_list_its_own_files(tiny_artifacts, tmp_path, reliability, role):
    """The reference (`bow/`) and the strong preset's teacher (`teacher/`) are read by `BagOfNgrams.load`."""
    from sentiment.training.baseline import BASELINE_FILES, BagOfNgrams

    assert set(BASELINE_FILES) == set(artifacts.BASELINE_FILES)  # one list of what the loader reads
    folder = _copy(tiny_artifacts / "bow", tmp_path / role)
    assert BagOfNgrams.load(folder).config is not None
    _rewrite_manifest(folder, lambda m: m["files"].pop("weights.npz"))
    with pytest.raises(SentimentError, match="does not list weights.npz") as raised:
        BagOfNgrams.load(folder)
    reliability.record(
        "artifact",
        f"{role}/: weights.npz left out of the manifest",
        "refused: a bag-of-n-grams folder must list ngrams.txt, weights.npz and its JSON files",
        _short(str(raised.value), tmp_path),
    )


def test_bounded_reads_refuse_devices_pipes_and_oversized_files(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    for path, expected in [
        ("/dev/zero", "is not a regular file"),
        (tmp_path / "pipe", "is not a regular file"),
        (tmp_path, "is a folder"),
        (tmp_path / "absent.json", "is missing"),
    ]:
        with pytest.raises(SentimentError, match=expected):
            files.read_bytes(path, 10)
        with pytest.raises(SentimentError, match=expected):
            files.sha256_of(path)
    (tmp_path / "big.json").write_text("[" + "0," * 50 + "0]")
    with pytest.raises(SentimentError, match="larger than 20 bytes"):
        files.read_json(tmp_path / "big.json", max_bytes=20)
    with pytest.raises(SentimentError, match="longer than the 20 bytes expected"):
        files.sha256_of(tmp_path / "big.json", max_bytes=20)


def test_output_paths_are_checked_before_any_work(tmp_path):
    (tmp_path / "taken").write_text("x")
    (tmp_path / "folder").mkdir()
    assert files.check_output_file(tmp_path / "out.jsonl") == tmp_path / "out.jsonl"
    assert files.check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    for call, expected in [
        (lambda: files.check_output_file(tmp_path / "folder"), "is a folder; give a file name"),
        (lambda: files.check_output_file(tmp_path / "missing" / "out.jsonl"), "does not exist; create it first"),
        (lambda: files.check_output_file(tmp_path / "taken" / "out.jsonl"), "taken is a file, not a folder"),
        (lambda: files.check_output_file("/dev/null"), "is not a regular file"),
        (lambda: files.check_output_file("/proc/out.jsonl"), "cannot write in /proc"),
        (lambda: files.check_output_folder(tmp_path / "taken"), "is a file; give a folder"),
        (lambda: files.check_output_folder(tmp_path / "taken" / "sub"), "taken is a file, not a folder"),
        (lambda: files.check_output_folder(tmp_path, ("folder",)), "is a folder, so it cannot be written"),
        (lambda: files.check_output_folder("/proc/evaluation"), "cannot write in /proc"),
    ]:
        with pytest.raises(SentimentError, match=re.escape(expected)):
            call()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder", "taken"]  # no probe left behind
