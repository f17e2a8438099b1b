"""The TF Serving client's requests, checked against the exported signature.

TF Serving itself cannot run here (no container engine, no network): the
bodies are parsed as its REST API documents and run through the real
SavedModel's `serving_default`, the gRPC request's tensor is converted with
`tf.make_ndarray` as the server does, and the transport (httpx, grpcio) is
sent to `tf_serving_standin`, which does the same behind a real socket.
"""

import json
import socket

import numpy as np
import pytest
import tensorflow as tf

from sentiment.errors import SentimentError
from sentiment.serving import client
from sentiment.serving.predict import Predictor

from tf_serving_standin import grpc_server, load_models, rest_server, tensors_from_body

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
def rest_port(models):
    server = rest_server(models, port=0)
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def grpc_port(models):
    server, port = grpc_server(models, port=0)
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
