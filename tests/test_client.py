"""The TF Serving client's requests, checked against the exported signature.

TF Serving itself cannot run here (no container engine, no network): the
bodies are parsed as its REST API documents and run through the real
SavedModel's `serving_default`, the gRPC request's tensor is converted with
`tf.make_ndarray` as the server does, and the transport (httpx, grpcio) is
sent to `tf_serving_standin`, which does the same behind a real socket.
"""

import json
import math
import os
import re
import socket

import numpy as np
import pytest
import tensorflow as tf

from sentiment.errors import SentimentError
from sentiment.serving import client
from sentiment.serving.predict import Predictor

from tf_serving_standin import BadAnswers, grpc_server, load_models, rest_server, tensors_from_body

REVIEWS = ["the movie was wonderful", "awful, boring plot<br />", "", "😀 电影 <b>great</b>", "great " * 600]


@pytest.fixture(scope="module")
def models(tiny_export):
    return load_models(tiny_export)


@pytest.fixture(scope="module")
def expected(tiny_artifacts):
    """The Predictor's P(positive) and labels for REVIEWS, from the LSTM artifact the export came from."""
    probabilities = Predictor.from_folder(tiny_artifacts / "lstm").predict(REVIEWS)
    return probabilities, ["positive" if p >= 0.5 else "negative" for p in probabilities]


def _check(results, expected):
    np.testing.assert_allclose([result["probability"] for result in results], expected[0], atol=1e-5)
    assert [result["label"] for result in results] == expected[1]


def test_the_bodies_have_the_documented_shapes():
    assert client.row_body(["a", "b"]) == {
        "signature_name": "serving_default",
        "instances": [{"text": "a"}, {"text": "b"}],
    }
    assert client.row_body(["a", "b"], named=False) == {"signature_name": "serving_default", "instances": ["a", "b"]}
    assert client.columnar_body(["a", "b"]) == {"signature_name": "serving_default", "inputs": {"text": ["a", "b"]}}
    assert client.rest_url("example.org", "lstm") == "http://example.org:8501/v1/models/lstm:predict"


@pytest.mark.parametrize(
    "body",
    [client.row_body(REVIEWS), client.row_body(REVIEWS, named=False), client.columnar_body(REVIEWS)],
    ids=["rows", "bare-rows", "columns"],
)
def test_rest_bodies_run_through_the_signature_as_the_predictor_scores(body, models, expected):
    signature = models["lstm"]
    inputs, row_format = tensors_from_body(json.loads(json.dumps(body)), list(signature.structured_input_signature[1]))
    assert row_format == ("instances" in body)
    assert inputs["text"].dtype == tf.string and inputs["text"].shape == (len(REVIEWS),)
    outputs = signature(**inputs)
    _check(
        [
            {"probability": p, "label": label.decode()}
            for p, label in zip(outputs["probability"].numpy(), outputs["label"].numpy())
        ],
        expected,
    )


def test_the_grpc_request_converts_to_the_signature_input(models, expected):
    request = type(client.predict_request([]))()
    request.ParseFromString(client.predict_request(REVIEWS, "lstm").SerializeToString())  # as it crosses the wire
    assert (request.model_spec.name, request.model_spec.signature_name, list(request.inputs)) == (
        "lstm",
        "serving_default",
        ["text"],
    )
    text = tf.make_ndarray(request.inputs["text"])
    assert text.shape == (len(REVIEWS),) and [value.decode("utf-8") for value in text] == REVIEWS
    outputs = models["lstm"](text=tf.constant(text))
    _check(
        [
            {"probability": p, "label": label.decode()}
            for p, label in zip(outputs["probability"].numpy(), outputs["label"].numpy())
        ],
        expected,
    )


@pytest.fixture(scope="module")
def bad_answers():
    return BadAnswers()


@pytest.fixture(autouse=True)
def _honest_servers(bad_answers):
    """Every test starts with servers that answer correctly."""
    bad_answers.rest = bad_answers.grpc = None
    yield
    bad_answers.rest = bad_answers.grpc = None


@pytest.fixture(scope="module")
def rest_port(models, bad_answers):
    server = rest_server(models, port=0, bad=bad_answers)
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def grpc_port(models, bad_answers):
    server, port = grpc_server(models, port=0, bad=bad_answers)
    yield port
    server.stop(None)


@pytest.mark.parametrize("body_format", ["row", "columnar"])
def test_rest_requests_over_http(rest_port, expected, body_format):
    _check(client.predict(REVIEWS, "127.0.0.1", "lstm", "rest", body_format, port=rest_port), expected)


def test_grpc_requests_over_grpc(grpc_port, expected):
    _check(client.predict(REVIEWS, "127.0.0.1", "lstm", "grpc", port=grpc_port), expected)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_errors_name_the_server_and_the_problem(rest_port, grpc_port):
    with pytest.raises(SentimentError, match=r"answered 404: Servable not found for request: Latest\(transformer\)"):
        client.predict(["a"], "127.0.0.1", "transformer", port=rest_port)
    with pytest.raises(SentimentError, match="answered NOT_FOUND: Servable not found"):
        client.predict(["a"], "127.0.0.1", "transformer", "grpc", port=grpc_port)
    with pytest.raises(SentimentError, match="cannot reach TF Serving at http://127.0.0.1:.*is the container running"):
        client.predict(["a"], "127.0.0.1", "lstm", port=_closed_port())


def test_the_client_command_prints_a_json_line_a_review(rest_port, expected, capsys):
    assert client.main(["--port", str(rest_port), "--host", "127.0.0.1", "--body", "columnar", *REVIEWS]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == REVIEWS
    _check(lines, expected)
    assert client.main(["--port", str(_closed_port()), "--host", "127.0.0.1", "a review"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot reach TF Serving")


# --- The client trusts nothing the server answers, and sends what it is given (issue 30) ---


def _json_answer(change):
    """A REST fault: the correct answer, changed, sent with status 200."""
    return lambda status, value: (200, json.dumps(change(value)).encode("utf-8"))


def _rows(value):
    return value["predictions"]


REST_FAULTS = {
    "an answer that is not JSON": (lambda status, value: (200, b"<html>502 Bad Gateway</html>"), "is not JSON"),
    "a JSON list instead of an object": (lambda status, value: (200, b"[]"), "a JSON list, not an object"),
    "an error object with status 200": (
        lambda status, value: (200, b'{"error": "Tensor name: probability has no shape"}'),
        "answered an error: Tensor name: probability has no shape",
    ),
    "predictions of bare numbers (the wrong shape)": (
        _json_answer(lambda value: {"predictions": [row["probability"] for row in _rows(value)]}),
        "predictions are not objects",
    ),
    "neither predictions nor outputs": (_json_answer(lambda value: {"result": 1}), "neither predictions nor outputs"),
    "one prediction for two reviews": (
        _json_answer(lambda value: {"predictions": _rows(value)[:1]}),
        "answered 1 prediction(s) for 2 review(s)",
    ),
    "NaN as a probability": (
        _json_answer(lambda value: {"predictions": [{**row, "probability": math.nan} for row in _rows(value)]}),
        "has no probability in [0, 1]",
    ),
    "a probability of 1.5": (
        _json_answer(lambda value: {"predictions": [{**row, "probability": 1.5} for row in _rows(value)]}),
        "has no probability in [0, 1]",
    ),
    "a prediction without its label": (
        _json_answer(lambda value: {"predictions": [{"probability": row["probability"]} for row in _rows(value)]}),
        "has no label",
    ),
}


@pytest.mark.parametrize("fault", list(REST_FAULTS))
def test_a_bad_rest_answer_is_a_clear_error_and_a_non_zero_exit(rest_port, bad_answers, capsys, reliability, fault):
    bad_answers.rest, expected = REST_FAULTS[fault]
    with pytest.raises(SentimentError, match=re.escape(expected)):
        client.predict(REVIEWS[:2], "127.0.0.1", "lstm", port=rest_port)
    assert client.main(["--port", str(rest_port), "--host", "127.0.0.1", *REVIEWS[:2]]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and expected in err and err.count("\n") == 1
    reliability.record(
        "client (REST)", f"TF Serving answers {fault}", "a one-line error, exit 2, nothing printed", err.strip()
    )


def _without_last(response):
    for name in list(response.outputs):
        array = tf.make_ndarray(response.outputs[name])
        response.outputs[name].CopyFrom(tf.make_tensor_proto(array[:-1]))
    return response


def _nan(response):
    array = tf.make_ndarray(response.outputs["probability"]).copy()
    array[0] = np.nan
    response.outputs["probability"].CopyFrom(tf.make_tensor_proto(array))
    return response


def _no_label(response):
    del response.outputs["label"]
    return response


GRPC_FAULTS = {
    "one prediction for two reviews": (_without_last, "answered 1 prediction(s) for 2 review(s)"),
    "NaN as a probability": (_nan, "has no probability in [0, 1]"),
    "no label output": (_no_label, "answered without label"),
}


@pytest.mark.parametrize("fault", list(GRPC_FAULTS))
def test_a_bad_grpc_answer_is_a_clear_error_and_a_non_zero_exit(grpc_port, bad_answers, capsys, reliability, fault):
    bad_answers.grpc, expected = GRPC_FAULTS[fault]
    with pytest.raises(SentimentError, match=re.escape(expected)):
        client.predict(REVIEWS[:2], "127.0.0.1", "lstm", "grpc", port=grpc_port)
    assert client.main(["--protocol", "grpc", "--port", str(grpc_port), "--host", "127.0.0.1", *REVIEWS[:2]]) == 2
    out, err = capsys.readouterr()
    assert out == "" and expected in err
    reliability.record(
        "client (gRPC)", f"TF Serving answers {fault}", "a one-line error, exit 2, nothing printed", err.strip()
    )


@pytest.mark.parametrize("protocol, body_format", [("rest", "row"), ("rest", "columnar"), ("grpc", "row")])
def test_a_review_that_is_not_utf8_is_sent_as_given(
    rest_port, grpc_port, models, capsys, reliability, protocol, body_format
):
    raw = b"bad \xff\xfe film, a wonderful plot"
    review = os.fsdecode(raw)  # as Python hands a non-UTF-8 argument to the program
    port = rest_port if protocol == "rest" else grpc_port
    results = client.predict([review, "a good film"], "127.0.0.1", "lstm", protocol, body_format, port=port)
    expected = models["lstm"](text=tf.constant([raw, b"a good film"]))["probability"].numpy()
    np.testing.assert_allclose([result["probability"] for result in results], expected, atol=1e-6)
    arguments = ["--protocol", protocol, "--body", body_format, "--port", str(port), "--host", "127.0.0.1", review]
    assert client.main(arguments) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["text"] == "bad \ufffd\ufffd film, a wonderful plot"
    reliability.record(
        f"client ({'gRPC' if protocol == 'grpc' else 'REST, ' + body_format})",
        "a review holding bytes that are not UTF-8",
        'sent as its bytes (REST: TF Serving\'s {"b64": ...}); scored as the model scores those bytes',
        f"P(positive) {results[0]['probability']:.6f}, the signature on the raw bytes {expected[0]:.6f}",
    )


def test_a_body_carries_bytes_that_are_not_utf8_as_base64():
    review = os.fsdecode(b"caf\xe9")
    assert client.row_body([review, "ok"]) == {
        "signature_name": "serving_default",
        "instances": [{"text": {"b64": "Y2Fm6Q=="}}, {"text": "ok"}],
    }
    assert client.columnar_body([review])["inputs"]["text"] == [{"b64": "Y2Fm6Q=="}]
