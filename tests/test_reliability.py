"""Everything users send and every fault they cause, each recorded as a row of docs/RELIABILITY.md.

Inputs go through the three places text enters: the running app (through
gradio_client, or raw HTTP for what gradio_client cannot encode), the
Predictor, and the exported SavedModel's `serving_default` signature. Faults:
a failed or full-disk write while writing artifacts, checkpoints and exports,
tampered and truncated files, a model that needs unsafe deserialization.
"""

from __future__ import annotations

import errno
import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentiment import data
from sentiment.errors import SentimentError
from sentiment.io import artifacts
from sentiment.serving.export import export_model, graph_op_types
from sentiment.serving.predict import Predictor
from webapp import experiment_views, views

# app_url and client are fixtures: one app process for this module.
from test_app import MODEL_NAMES, _compare_raw, app_url, client  # noqa: F401

MEGABYTE = 1_000_000
# What the app may take to answer one review of any size on a shared 2-core
# machine; a 20,000-character review takes well under a second.
APP_SECONDS = 20.0
# The Predictor and the export have no cap of their own: their cost grows with
# the text, and this bounds it for a megabyte.
LIBRARY_SECONDS = 30.0

# Every kind of text users paste, by name. Invalid UTF-8 and lone surrogates are
# added per entry point below: each takes them in its own form.
INPUTS = {
    "empty": "",
    "whitespace only": " \t\n \r\n\u00a0\u3000 ",
    "1 MB of text": ("a wonderful film, a boring plot. " * (MEGABYTE // 33 + 1))[:MEGABYTE],
    "one 100 kB word": "w" * 100_000,
    "NUL bytes": "great\x00 movie\x00\x00 really",
    "emoji": "😀🎬👍🏽 loved it 🍿❤️",
    "Chinese": "这部电影非常好看，演员很棒",
    "Arabic": "الفيلم رائع جدا والتمثيل ممتاز",
    "HTML and script tags": '<script>alert(1)</script><img src=x onerror="alert(2)"><b>great</b> <a '
    'href="javascript:x">film</a>',
    "only punctuation": "?!... ,,; --- !!! (((",
}
BLANK = {"empty", "whitespace only"}
# What an endpoint that takes a review answers first when it is blank: the
# Compare tab's message, or that of the experiments that read its review.
EMPTY_MESSAGES = {views.EMPTY_REVIEW_MESSAGE, experiment_views.EMPTY_REVIEW_MESSAGE}
LONE_SURROGATES = "bad \ud800 movie \udfff ending"
INVALID_UTF8 = b"bad \xff\xfe movie \xc3\x28 ending \xed\xa0\x80"


def _probabilities_valid(values) -> bool:
    values = np.asarray(values, dtype=np.float64)
    return values.size > 0 and bool(np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1)))


def _case_label(name: str, text: str) -> str:
    return f"{name} ({len(text):,} characters)" if name in ("1 MB of text", "one 100 kB word") else name


# --- The running app, through gradio_client -------------------------------------


@pytest.mark.parametrize("name", list(INPUTS))
def test_app_answers_every_input(client, reliability, name):  # noqa: F811
    text = INPUTS[name]
    start = time.perf_counter()
    notice, results, *_ = client.predict(text, api_name="/compare")
    seconds = time.perf_counter() - start
    if name in BLANK:
        expected = "the empty-review message, no scores"
        assert notice == views.EMPTY_REVIEW_MESSAGE and results["data"] == []
        measured = f"message {notice[:38]!r}..., no scores, {seconds * 1000:.0f} ms"
    else:
        expected = "P(positive) in [0, 1] from all three models"
        probabilities = [row[1] for row in results["data"]]
        assert [row[0] for row in results["data"]] == MODEL_NAMES and _probabilities_valid(probabilities)
        measured = f"P = {', '.join(f'{p:.3f}' for p in probabilities)} in {seconds * 1000:.0f} ms"
        if len(text) > views.MAX_REVIEW_CHARACTERS:
            expected += f"; cut to {views.MAX_REVIEW_CHARACTERS:,} characters on the server, within {APP_SECONDS:.0f} s"
            assert f"cut to its last {views.MAX_REVIEW_CHARACTERS:,} characters (it had {len(text):,})" in notice
            assert seconds < APP_SECONDS
            measured += "; the page says it was cut"
    reliability.record("input: app (gradio_client)", _case_label(name, text), expected, measured)


@pytest.mark.parametrize("name", list(INPUTS))
def test_the_inside_endpoint_answers_every_input(client, reliability, name):  # noqa: F811
    text = INPUTS[name]
    start = time.perf_counter()
    notice, *outputs = client.predict(text, api_name="/inside")
    seconds = time.perf_counter() - start
    heatmaps = outputs[0:12:4]
    if name in BLANK:
        assert notice == views.EMPTY_REVIEW_MESSAGE and not any(heatmaps)
        measured = f"message {notice[:38]!r}..., no heatmap, {seconds * 1000:.0f} ms"
    else:
        assert all(heatmaps) and all(len(plot["data"]) > 0 for plot in outputs[1:12:4])
        assert seconds < APP_SECONDS
        measured = f"three heatmaps and gate lines in {seconds * 1000:.0f} ms"
    reliability.record(
        "input: app (gradio_client), Inside the cell",
        _case_label(name, text),
        "a heatmap and gate lines per model, or the empty-review message",
        measured,
    )


def test_the_inside_endpoint_answers_lone_surrogates_sent_as_json(app_url):  # noqa: F811
    message = _compare_raw(app_url, b'"bad \\ud800 movie \\udfff ending"', api_name="inside")
    assert message["success"] is True, message
    notice, first_heatmap = message["output"]["data"][:2]
    assert notice == "" and first_heatmap  # a heatmap, not an error


@pytest.mark.parametrize(
    "name, body",
    [
        ("lone surrogates (JSON \\ud800 escapes)", b'"bad \\ud800 movie \\udfff ending"'),
        ("NUL byte as a JSON escape", b'"great \\u0000 movie"'),
    ],
)
def test_app_answers_what_gradio_client_cannot_send(app_url, reliability, name, body):  # noqa: F811
    message = _compare_raw(app_url, body)
    assert message["success"], message
    _, results, *_ = message["output"]["data"]
    probabilities = [row[1] for row in results["data"]]
    assert _probabilities_valid(probabilities) and len(probabilities) == 3
    reliability.record(
        "input: app (raw HTTP)",
        name,
        "P(positive) in [0, 1] from all three models",
        f"P = {', '.join(f'{p:.3f}' for p in probabilities)}",
    )


def test_app_refuses_a_body_that_is_not_utf8_with_a_client_error(app_url, reliability):  # noqa: F811
    import httpx

    body = b'{"data": ["' + INVALID_UTF8 + b'"], "fn_index": 0, "session_hash": "x"}'
    response = httpx.post(
        f"{app_url}/gradio_api/queue/join", content=body, headers={"content-type": "application/json"}, timeout=10
    )
    assert 400 <= response.status_code < 500, response.text
    alive = httpx.get(f"{app_url}/config", timeout=10).status_code
    assert alive == 200
    reliability.record(
        "input: app (raw HTTP)",
        "invalid UTF-8 bytes in the JSON body",
        "a 4xx error (the body is not JSON), the app keeps serving",
        f"HTTP {response.status_code}: {response.text[:60]!r}; next request HTTP {alive}",
    )


@pytest.fixture(scope="module")
def endpoints(client):  # noqa: F811
    """Every endpoint the running app exposes, from its own API description: name -> its parameters."""
    described = client.view_api(print_info=False, return_format="dict")
    return {name: info["parameters"] for name, info in described["named_endpoints"].items()}


def _takes_text(parameters: list[dict]) -> bool:
    return any(parameter["component"] == "Textbox" for parameter in parameters)


def _arguments(parameters: list[dict], text):
    """`text` in every text box of an endpoint (a review, an edited copy); every other input at its default."""
    return [text if parameter["component"] == "Textbox" else parameter["parameter_default"] for parameter in parameters]


# An endpoint with inputs but no text box: the playground, whose run trains for
# a minute or more; tests/test_playground.py sends it bad settings.
def _called_here(parameters: list[dict]) -> bool:
    return not parameters or _takes_text(parameters)


def test_the_api_description_lists_every_model_endpoint(endpoints):
    assert {"/compare", "/decision", "/inside"} <= {
        name for name, parameters in endpoints.items() if len(parameters) == 1
    }


@pytest.mark.parametrize("name", list(INPUTS))
def test_every_endpoint_answers_every_input(client, app_url, endpoints, reliability, name):  # noqa: F811
    """Each hostile input to each endpoint that takes text; the others are called as they are; the process survives."""
    import httpx

    text, answered = INPUTS[name], []
    for endpoint, parameters in ((e, p) for e, p in endpoints.items() if _called_here(p)):
        start = time.perf_counter()
        outputs = client.predict(*_arguments(parameters, text), api_name=endpoint)
        seconds = time.perf_counter() - start
        outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
        assert len(outputs) > 0 and seconds < APP_SECONDS, (endpoint, seconds)
        if _takes_text(parameters) and name in BLANK:
            # /pair names each blank text box in a paragraph of its own, the review's first.
            assert outputs[0].split("\n\n")[0] in EMPTY_MESSAGES, (endpoint, outputs[0])
        answered.append(f"{endpoint} {seconds * 1000:.0f} ms")
    assert httpx.get(f"{app_url}/config", timeout=10).status_code == 200
    reliability.record(
        "input: app, every endpoint in its API description",
        _case_label(name, text),
        "an answer (or the empty-review message) from every endpoint, each within 20 s; the app keeps serving",
        "; ".join(answered),
    )


def _raw_arguments(parameters: list[dict], text_json: bytes) -> bytes:
    """An endpoint's JSON data list, without its brackets: `text_json` in every text box, defaults elsewhere."""
    return b", ".join(
        text_json if parameter["component"] == "Textbox" else json.dumps(parameter["parameter_default"]).encode()
        for parameter in parameters
    )


def test_every_text_endpoint_answers_lone_surrogates_and_nul_sent_as_json(
    app_url,  # noqa: F811
    endpoints,
    reliability,
):
    """What gradio_client cannot send, to every endpoint that takes text.

    JSON escapes of lone surrogates, and bytes that are not UTF-8.
    """
    import httpx

    measured = []
    texts = {name: parameters for name, parameters in endpoints.items() if _takes_text(parameters)}
    for endpoint, parameters in texts.items():
        for body in (b'"bad \\ud800 movie \\udfff ending"', b'"great \\u0000 movie"'):
            message = _compare_raw(app_url, _raw_arguments(parameters, body), api_name=endpoint.lstrip("/"))
            assert message["success"] is True, (endpoint, message)
        measured.append(f"{endpoint}: answered")
    config = httpx.get(f"{app_url}/config", timeout=10).json()
    for dependency in (d for d in config["dependencies"] if f"/{d.get('api_name')}" in texts):
        data = _raw_arguments(texts[f"/{dependency['api_name']}"], b'"' + INVALID_UTF8 + b'"')
        body = b'{"data": [%b], "fn_index": %d, "session_hash": "x"}' % (data, dependency["id"])
        response = httpx.post(
            f"{app_url}/gradio_api/queue/join", content=body, headers={"content-type": "application/json"}, timeout=10
        )
        assert 400 <= response.status_code < 500, (dependency["api_name"], response.text)
    assert httpx.get(f"{app_url}/config", timeout=10).status_code == 200
    reliability.record(
        "input: app (raw HTTP), every endpoint",
        "lone surrogates and NUL as JSON escapes; invalid UTF-8 in the body",
        "every endpoint that takes text answers (no server error); a body that is not UTF-8 gets a 4xx; the app keeps "
        "serving",
        "; ".join(measured) + "; invalid UTF-8: 4xx from every endpoint",
    )


# --- The Predictor, in process ---------------------------------------------------


@pytest.fixture(scope="module")
def predictors(tiny_artifacts):
    return {cell: Predictor.from_folder(tiny_artifacts / cell) for cell in ("simple_rnn", "lstm", "gru")}


def _predictor_inputs() -> dict[str, str]:
    return {
        **INPUTS,
        "lone surrogates": LONE_SURROGATES,
        "invalid UTF-8 (surrogateescape-decoded)": INVALID_UTF8.decode("utf-8", "surrogateescape"),
    }


@pytest.mark.parametrize("name", list(_predictor_inputs()))
def test_predictor_scores_every_input(predictors, reliability, name):
    text = _predictor_inputs()[name]
    start = time.perf_counter()
    probabilities = [float(predictor.predict([text])[0]) for predictor in predictors.values()]
    readings = [predictor.read(text) for predictor in predictors.values()]
    seconds = time.perf_counter() - start
    assert _probabilities_valid(probabilities)
    np.testing.assert_allclose([reading.probability for reading in readings], probabilities, atol=1e-5)
    assert seconds < LIBRARY_SECONDS
    expected = f"P(positive) in [0, 1] (predict and read agree), within {LIBRARY_SECONDS:.0f} s"
    if len(text.encode("utf-8", "surrogatepass")) > data.MAX_REVIEW_BYTES:
        expected += f"; only the {data.MAX_REVIEW_BYTES:,} bytes at the end the model reads are vectorized"
        for predictor in predictors.values():  # the words it splits are those of the kept bytes only
            assert len(predictor.words(text)) == len(predictor.words(_kept_end(predictor, text))) < len(text.split())
    reliability.record(
        "input: Predictor",
        _case_label(name, text),
        expected,
        f"P = {', '.join(f'{p:.3f}' for p in probabilities)}; {seconds * 1000:.0f} ms for 3 models x (predict + read)",
    )


def _kept_end(predictor: Predictor, text: str) -> str:
    """The part of an ASCII review that `data.cap_bytes` keeps."""
    if predictor.artifact.config.data.truncation_side == "left":
        return text[-data.MAX_REVIEW_BYTES :]
    return text[: data.MAX_REVIEW_BYTES]


# --- The exported SavedModel -------------------------------------------------------


@pytest.fixture(scope="module")
def serving_folder(tiny_artifacts, tmp_path_factory):
    return export_model(tiny_artifacts / "lstm", tmp_path_factory.mktemp("export") / "lstm")


@pytest.fixture(scope="module")
def serving(serving_folder):
    import tensorflow as tf

    return tf.saved_model.load(str(serving_folder)).signatures["serving_default"]


def _export_inputs() -> dict[str, bytes]:
    return {
        **{name: text.encode("utf-8") for name, text in INPUTS.items()},
        "lone surrogates (surrogatepass-encoded)": LONE_SURROGATES.encode("utf-8", "surrogatepass"),
        "invalid UTF-8 bytes": INVALID_UTF8,
    }


@pytest.mark.parametrize("name", list(_export_inputs()))
def test_export_scores_every_input(serving, serving_folder, predictors, reliability, name):
    import tensorflow as tf

    text = _export_inputs()[name]
    start = time.perf_counter()
    outputs = serving(text=tf.constant([text]))
    seconds = time.perf_counter() - start
    probability = float(outputs["probability"].numpy()[0])
    label = outputs["label"].numpy()[0].decode()
    assert _probabilities_valid([probability]) and label == ("positive" if probability >= 0.5 else "negative")
    assert seconds < LIBRARY_SECONDS
    expected_probability = predictors["lstm"].predict([text.decode("utf-8", "surrogateescape")])[0]
    assert probability == pytest.approx(float(expected_probability), abs=1e-5)
    expected = f"P(positive) in [0, 1] and its label, equal to the Predictor's, within {LIBRARY_SECONDS:.0f} s"
    if len(text) > data.MAX_REVIEW_BYTES:
        assert "Substr" in graph_op_types(serving_folder)  # the cap (data.cap_bytes) is in the served graph
        expected += f"; only the {data.MAX_REVIEW_BYTES:,} bytes at the end the model reads are vectorized"
    reliability.record(
        "input: SavedModel (serving_default)",
        _case_label(name, text.decode("utf-8", "replace")),
        expected,
        f"P = {probability:.3f} ({label}); {seconds * 1000:.0f} ms",
    )


# --- Properties over any text (hypothesis) --------------------------------------------

# Any code point, surrogates and control characters included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
PROPERTY_EXAMPLES = 60


def test_standardize_text_turns_any_bytes_into_clean_utf8(reliability):
    import tensorflow as tf

    seen = []

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=300))
    def check(raw):
        (standardized,) = data.standardize_text(tf.constant([raw])).numpy()
        text = standardized.decode("utf-8")  # raises if the output were not valid UTF-8
        assert text == text.lower() or not text.isascii()
        assert not re.search(r"[\x00-\x1f<>]", text)
        seen.append(raw)

    check()
    reliability.record(
        "input: property (hypothesis)",
        f"any bytes, {len(seen)} examples, up to 300 bytes",
        "standardize_text returns valid UTF-8 without control characters or markup brackets",
        f"{len(seen)} examples passed",
    )


def test_predictor_gives_a_probability_for_any_text(predictors, reliability):
    predictor, seen = predictors["gru"], []

    @settings(max_examples=PROPERTY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(ANY_TEXT, min_size=1, max_size=4))
    def check(texts):
        probabilities = predictor.predict(texts)
        assert probabilities.shape == (len(texts),) and _probabilities_valid(probabilities)
        np.testing.assert_allclose(predictor.read(texts[0]).probability, probabilities[0], atol=1e-5)
        seen.append(texts)

    check()
    reliability.record(
        "input: property (hypothesis)",
        f"any Unicode text (surrogates, controls), {len(seen)} batches of 1-4",
        "Predictor: one P(positive) in [0, 1] per review; read() agrees with predict()",
        f"{len(seen)} batches passed",
    )


def test_compare_answers_any_text(predictors, tiny_artifacts, reliability):
    models = views.LoadedModels(tiny_artifacts, predictors, {})
    seen = []

    @settings(max_examples=PROPERTY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ANY_TEXT)
    def check(text):
        comparison = views.compare(models, text)
        if text.strip():
            assert _probabilities_valid([result.probability for result in comparison.results.values()])
            assert len(comparison.results) == 3
        else:
            assert comparison.results == {} and comparison.notices == [views.EMPTY_REVIEW_MESSAGE]
        seen.append(text)

    check()
    reliability.record(
        "input: property (hypothesis)",
        f"any Unicode text, {len(seen)} examples, through the app's compare()",
        "three P(positive) in [0, 1], or the empty-review message for blank text",
        f"{len(seen)} examples passed",
    )


# --- Failed writes and a full disk ------------------------------------------------------


def _digests(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir()) if path.is_file()
    }


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_rewriting_an_artifact_leaves_it_intact(tiny_artifacts, tmp_path, monkeypatch, reliability):
    folder = tmp_path / "gru"
    shutil.copytree(tiny_artifacts / "gru", folder)
    before = _digests(folder)
    real_write = Path.write_text

    def half_then_full(self, text, *args, **kwargs):
        real_write(self, text[: len(text) // 2], *args, **kwargs)  # part of it reaches the disk...
        _disk_full()  # ...then the disk is full

    monkeypatch.setattr(Path, "write_text", half_then_full)
    with pytest.raises(OSError) as raised:
        artifacts.write_json(folder / artifacts.METRICS_FILE, {"accuracy": 0.0})
    monkeypatch.undo()
    assert raised.value.errno == errno.ENOSPC
    assert _digests(folder) == before  # byte-identical, and no temporary file left behind
    artifacts.verify_manifest(folder)
    reliability.record(
        "fault: write",
        "disk full half-way through rewriting metrics.json",
        "the write raises ENOSPC; every file byte-identical, no temporary left, the manifest verifies",
        f"OSError errno {raised.value.errno}; {len(before)} files unchanged; verified",
    )


def test_a_failed_checkpoint_write_keeps_the_last_good_checkpoint(tiny_csv, tmp_path, monkeypatch, reliability):
    import keras

    from sentiment.training.checkpoint import CHECKPOINT_FOLDER
    from sentiment.training.train import train_models

    from conftest import tiny_configs

    data_config, model_config, train_config = tiny_configs(tiny_csv, epochs=2, patience=5)
    quiet = dict(cell_types=("gru",), output=tmp_path, verbose=0, log=lambda message: None)
    checkpoint = tmp_path / "gru" / CHECKPOINT_FOLDER
    real_save, saved = keras.Model.save, {}

    def full_at_epoch_two(model, path, *args, **kwargs):
        if "epoch 1" in saved:  # epoch 1's checkpoint is on disk: now the disk is full
            saved["before"] = {name: digest for name, digest in _digests(checkpoint).items() if ".tmp." not in name}
            _disk_full()
        real_save(model, path, *args, **kwargs)
        saved["epoch 1"] = True

    monkeypatch.setattr(keras.Model, "save", full_at_epoch_two)
    with pytest.raises(OSError) as raised:
        train_models(data_config, model_config, train_config, **quiet)
    monkeypatch.undo()
    after = _digests(checkpoint)
    assert raised.value.errno == errno.ENOSPC
    assert after == saved["before"]  # last.keras, best weights and state.json byte-identical, no temporary left
    assert set(after) == {"last.keras", "best.weights.h5", "state.json"}
    assert json.loads((checkpoint / "state.json").read_text())["epochs_done"] == 1

    messages = []
    train_models(data_config, model_config, train_config, **{**quiet, "log": messages.append})
    assert any("resuming after epoch 1" in message for message in messages)
    artifacts.verify_manifest(tmp_path / "gru")
    reliability.record(
        "fault: write",
        "disk full while saving the epoch-2 checkpoint",
        "training stops with ENOSPC; the epoch-1 checkpoint is byte-identical; the next run resumes after epoch 1 and "
        "finishes",
        f"OSError errno {raised.value.errno}; {', '.join(after)} unchanged; resumed after epoch 1; manifest verifies",
    )


def test_a_failed_export_leaves_the_previous_version(tiny_artifacts, tmp_path, monkeypatch, reliability):
    import tensorflow as tf

    first = export_model(tiny_artifacts / "simple_rnn", tmp_path / "simple_rnn")
    before = {path.relative_to(first): path.read_bytes() for path in first.rglob("*") if path.is_file()}

    def part_then_full(obj, export_dir, *args, **kwargs):
        Path(export_dir).mkdir(parents=True, exist_ok=True)
        (Path(export_dir) / "saved_model.pb").write_bytes(b"\x08\x01")  # a first part reaches the disk...
        _disk_full()  # ...then it is full

    monkeypatch.setattr(tf.saved_model, "save", part_then_full)
    with pytest.raises(OSError) as raised:
        export_model(tiny_artifacts / "simple_rnn", tmp_path / "simple_rnn")
    monkeypatch.undo()
    assert raised.value.errno == errno.ENOSPC
    assert [path.name for path in (tmp_path / "simple_rnn").iterdir()] == ["1"]
    assert {path.relative_to(first): path.read_bytes() for path in first.rglob("*") if path.is_file()} == before
    reliability.record(
        "fault: write",
        "disk full while exporting version 2",
        "the export raises; version 1 byte-identical, no version 2 or staging folder left",
        f"OSError; only version 1 left, its {len(before)} files unchanged",
    )


# --- Artifacts that were not built here --------------------------------------------------


def _copy_cell(tiny_artifacts: Path, destination: Path, cell: str = "lstm") -> Path:
    return Path(shutil.copytree(tiny_artifacts / cell, destination / cell))


@pytest.mark.parametrize(
    "fault, damage",
    [
        ("a byte changed in model.keras", lambda folder: _flip_byte(folder / artifacts.MODEL_FILE)),
        ("model.keras truncated to half", lambda folder: _truncate(folder / artifacts.MODEL_FILE)),
        ("vocabulary.txt with a word replaced", lambda folder: _replace_text(folder / artifacts.VOCABULARY_FILE)),
        ("config.json edited", lambda folder: _replace_text(folder / artifacts.CONFIG_FILE)),
        ("metrics.json deleted", lambda folder: (folder / artifacts.METRICS_FILE).unlink()),
    ],
)
def test_a_tampered_artifact_is_refused_by_name(tiny_artifacts, tmp_path, reliability, fault, damage):
    folder = _copy_cell(tiny_artifacts, tmp_path)
    damage(folder)
    with pytest.raises(SentimentError) as raised:
        artifacts.load_artifact(folder)
    message = str(raised.value)
    named = re.search(r"(model\.keras|vocabulary\.txt|config\.json|metrics\.json)", message).group(1)
    assert named in fault
    reliability.record("artifact", fault, "refused; the message names the file", message.replace(str(tmp_path), "…"))


def _flip_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _replace_text(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("great", "awful", 1) if "great" in text else text.replace("32", "33", 1), encoding="utf-8"
    )


def test_a_model_with_a_lambda_layer_is_refused_even_with_a_matching_manifest(tiny_artifacts, tmp_path, reliability):
    import keras

    folder = _copy_cell(tiny_artifacts, tmp_path)
    original = keras.models.load_model(folder / artifacts.MODEL_FILE, compile=False)
    token_ids = keras.Input(shape=(None,), dtype="int32")
    hostile = keras.Model(token_ids, keras.layers.Lambda(lambda x: x * 0 + 1.0)(original(token_ids)))
    hostile.save(folder / artifacts.MODEL_FILE)
    artifacts.write_manifest(folder)  # as a copier who rewrote the manifest would
    with pytest.raises(SentimentError) as raised:
        artifacts.load_artifact(folder)
    message = str(raised.value)
    assert "model.keras could not be loaded" in message and "safe_mode" in message
    reliability.record(
        "artifact",
        "model.keras replaced by one with a Lambda layer, manifest rewritten to match",
        "refused by Keras safe_mode; the message names the file",
        message.replace(str(tmp_path), "…")[:160] + "…",
    )


def test_every_model_the_project_builds_reloads_under_safe_mode(tmp_path, reliability):
    # safe_mode refuses to deserialize a Lambda layer (arbitrary code): every
    # architecture the builders make must come back through it unchanged.
    import keras

    from sentiment.config import ModelConfig
    from sentiment.models import build_classifier, build_convolutional_classifier, build_regressor

    tiny = {"embedding_dim": 3, "units": 2}
    models = [build_classifier(ModelConfig(cell_type=cell, **tiny), 10) for cell in ("simple_rnn", "lstm", "gru")]
    models += [
        build_classifier(
            ModelConfig(cell_type="lstm", bidirectional=True, num_layers=2, pooling="max", chrono_max_steps=20, **tiny),
            10,
            num_classes=4,
        ),
        build_classifier(ModelConfig(cell_type="lstm", num_layers=0, pooling="mean", **tiny), 10),
        build_regressor(ModelConfig(cell_type="simple_rnn", irnn=True, **tiny), 2),
        build_convolutional_classifier(ModelConfig(**tiny), 10),
    ]
    for index, model in enumerate(models):
        path = tmp_path / f"model_{index}.keras"
        model.save(path)
        reloaded = keras.models.load_model(path, safe_mode=True)
        assert [type(layer).__name__ for layer in reloaded.layers] == [type(layer).__name__ for layer in model.layers]
    reliability.record(
        "artifact",
        "every architecture the project builds, saved and loaded back",
        "loads under Keras safe_mode (no Lambda layer, no arbitrary code)",
        f"{len(models)} architectures reloaded with safe_mode=True",
    )


def test_a_checkpoint_with_a_lambda_layer_is_refused_on_resume(tiny_artifacts, tmp_path, reliability):
    import keras

    from sentiment.training import checkpoint

    original = keras.models.load_model(tiny_artifacts / "gru" / artifacts.MODEL_FILE, compile=False)
    token_ids = keras.Input(shape=(None,), dtype="int32")
    keras.Model(token_ids, keras.layers.Lambda(lambda x: x * 0 + 1.0)(original(token_ids))).save(
        tmp_path / checkpoint.LAST_MODEL
    )
    with pytest.raises(SentimentError) as raised:
        checkpoint.load_last_model(tmp_path)
    message = str(raised.value)
    assert "could not be loaded to resume" in message and "safe_mode" in message
    reliability.record(
        "training",
        "checkpoint/last.keras replaced by one with a Lambda layer",
        "resume refused by Keras safe_mode, with the folder to delete",
        message.replace(str(tmp_path), "…")[:160] + "…",
    )


def test_a_corrupt_model_in_the_apps_folder_leaves_the_others_working(tiny_artifacts, tmp_path, reliability):
    for cell in ("simple_rnn", "lstm", "gru"):
        _copy_cell(tiny_artifacts, tmp_path, cell)
    (tmp_path / "lstm" / artifacts.MODEL_FILE).write_bytes(b"PK\x03\x04 not really a zip")
    artifacts.write_manifest(tmp_path / "lstm")  # the checksum matches: only loading can tell
    models = views.load_models(tmp_path, warm_up=False)
    comparison = views.compare(models, "a wonderful film")
    assert list(models.failures) == ["lstm"] and "model.keras is not a Keras model file" in models.failures["lstm"]
    assert sorted(comparison.results) == ["gru", "simple_rnn"]
    assert _probabilities_valid([result.probability for result in comparison.results.values()])
    reliability.record(
        "artifact",
        "corrupt model.keras (checksum rewritten to match) in the app's folder",
        "LSTM named as not loaded with the reason; SimpleRNN and GRU answer",
        f"failures: {{lstm: {models.failures['lstm'].replace(str(tmp_path), '…')[:90]}…}}; answered: SimpleRNN, GRU",
    )
