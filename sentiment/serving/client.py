"""Ask a running TensorFlow Serving for predictions, over REST or gRPC.

The requests a client sends to the exported `serving_default` signature
(`text` <string>[batch] in; `probability` <float32>[batch] and `label`
<string>[batch] out), in the formats of TF Serving's REST API
(https://www.tensorflow.org/tfx/serving/api_rest) and its gRPC
`PredictionService`:

    REST, row format:       {"signature_name": "serving_default", "instances": [{"text": "..."}, ...]}
                            or, the signature having one input, "instances": ["...", ...]
    REST, columnar format:  {"signature_name": "serving_default", "inputs": {"text": ["...", ...]}}
    gRPC:                   a PredictRequest whose inputs["text"] is a string TensorProto of shape [batch]

POSTed to http://HOST:8501/v1/models/NAME:predict, or sent to HOST:8500.
The export's warmup file holds the same gRPC requests
(`sentiment.serving.export.write_warmup_requests`).

    python -m sentiment.serving.client --model lstm "A moving film." "Dull and far too long."

Every review is sent as it was given: a review holding bytes that are not
UTF-8 goes as those bytes (in a REST body as TF Serving's `{"b64": ...}`
binary value, JSON having no other way to carry them). Nothing the server
answers is trusted: an answer that is not JSON, an error object, the wrong
shape, a count of predictions other than the count of reviews, or a
probability that is not a number in [0, 1] is a `SentimentError` (exit code
2), never a traceback and never a review silently dropped.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import httpx
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from sentiment.errors import SentimentError
from sentiment.serving.score import review_bytes, valid_text

SIGNATURE = "serving_default"
INPUT_NAME = "text"
REST_PORT = 8501
GRPC_PORT = 8500


def json_string(text: str) -> str | dict[str, str]:
    """A review as a JSON value: the string itself, or `{"b64": ...}` for one that is not valid UTF-8.

    TF Serving's REST API takes a string tensor's value in base64 under the
    key "b64" (its way of carrying binary data), so bytes that are not UTF-8
    reach the model as they were given instead of failing to encode.
    """
    if valid_text(text)[1]:
        return {"b64": base64.b64encode(review_bytes(text)).decode("ascii")}
    return text


def row_body(texts: Sequence[str], named: bool = True) -> dict[str, Any]:
    """The REST `:predict` body in row format: one instance a review.

    Args:
        texts: raw reviews.
        named: `{"text": review}` objects (True), or the bare strings TF
            Serving also accepts for a signature with one input (False).

    Returns:
        The JSON body, as a dict.
    """
    values = [json_string(text) for text in texts]
    instances = [{INPUT_NAME: value} for value in values] if named else values
    return {"signature_name": SIGNATURE, "instances": instances}


def columnar_body(texts: Sequence[str]) -> dict[str, Any]:
    """The REST `:predict` body in columnar format: the whole `text` tensor under `inputs`."""
    return {"signature_name": SIGNATURE, "inputs": {INPUT_NAME: [json_string(text) for text in texts]}}


def rest_url(host: str, model: str, port: int = REST_PORT) -> str:
    """TF Serving's predict URL for the latest version of `model`."""
    return f"http://{host}:{port}/v1/models/{model}:predict"


def send_rest(
    body: dict[str, Any], url: str, client: httpx.Client | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    """POSTs a `:predict` body and returns TF Serving's JSON answer.

    Args:
        body: from `row_body` or `columnar_body`.
        url: from `rest_url`.
        client: an httpx client to reuse (a new one per call otherwise).
        timeout: seconds to wait for the answer.

    Returns:
        `{"predictions": [...]}` for a row body, `{"outputs": {...}}` for a columnar one.

    Raises:
        SentimentError: the server cannot be reached or answered with an error.
    """
    try:
        if client is None:
            with httpx.Client(timeout=timeout) as own_client:
                response = own_client.post(url, json=body)
        else:
            response = client.post(url, json=body, timeout=timeout)
    except httpx.HTTPError as error:
        raise SentimentError(
            f"cannot reach TF Serving at {url}: {error} (is the container running? see the README's serving section)"
        ) from None
    if response.status_code != 200:
        try:
            detail = response.json().get("error", response.text)
        except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
            detail = response.text
        raise SentimentError(f"TF Serving at {url} answered {response.status_code}: {_shown(detail)}")
    try:
        answer = response.json()
    except ValueError:
        raise SentimentError(
            f"TF Serving at {url} answered with something that is not JSON: {_shown(response.text)}"
        ) from None
    if not isinstance(answer, dict):
        raise SentimentError(f"TF Serving at {url} answered a JSON {type(answer).__name__}, not an object")
    if "error" in answer:
        raise SentimentError(f"TF Serving at {url} answered an error: {_shown(answer['error'])}")
    return answer


def _shown(value: Any, limit: int = 200) -> str:
    """At most `limit` characters of what a server sent, on one line."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rest_predictions(answer: dict[str, Any], count: int | None = None) -> list[dict[str, Any]]:
    """One `{"probability", "label"}` dict a review from either REST answer format.

    Args:
        answer: from `send_rest`.
        count: the number of reviews sent; None skips that check.

    Raises:
        SentimentError: an answer of neither format, or of the wrong shape (`checked_predictions`).
    """
    if isinstance(answer.get("predictions"), list):
        rows = answer["predictions"]
        if not all(isinstance(row, dict) for row in rows):
            raise SentimentError("TF Serving's predictions are not objects of the signature's outputs")
        return checked_predictions([dict(row) for row in rows], count)
    outputs = answer.get("outputs")
    if not isinstance(outputs, dict) or not all(isinstance(values, list) for values in outputs.values()):
        raise SentimentError(
            f"TF Serving answered neither predictions nor outputs of lists: {_shown(json.dumps(answer))}"
        )
    lengths = {name: len(values) for name, values in outputs.items()}
    if len(set(lengths.values())) > 1:
        raise SentimentError(f"TF Serving's outputs differ in length ({lengths})")
    return checked_predictions([dict(zip(outputs, values)) for values in zip(*outputs.values())], count)


def _is_probability(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def checked_predictions(predictions: list[dict[str, Any]], count: int | None) -> list[dict[str, Any]]:
    """The predictions, once each is a label and probabilities in [0, 1], one a review.

    Args:
        predictions: one dict a review, as decoded from the answer.
        count: the number of reviews sent; None skips that check.

    Raises:
        SentimentError: a count other than `count` (a review would be dropped
            or invented), a missing label, or a probability that is missing,
            not a number, NaN or outside [0, 1].
    """
    if count is not None and len(predictions) != count:
        raise SentimentError(f"TF Serving answered {len(predictions)} prediction(s) for {count} review(s)")
    for index, prediction in enumerate(predictions):
        if not isinstance(prediction.get("label"), str):
            raise SentimentError(f"TF Serving's prediction {index} has no label: {_shown(prediction)}")
        values = prediction.get("probability", prediction.get("probabilities"))
        values = values if isinstance(values, list) else [values]
        if not values or not all(_is_probability(value) for value in values):
            raise SentimentError(f"TF Serving's prediction {index} has no probability in [0, 1]: {_shown(prediction)}")
    return predictions


def predict_request(texts: Sequence[str], model_name: str = "") -> predict_pb2.PredictRequest:
    """The gRPC `PredictRequest` for the `serving_default` signature.

    Args:
        texts: raw reviews, sent as one <string>[batch] tensor.
        model_name: the name TF Serving serves the model under; empty in the
            warmup file, which TF Serving runs against the model it is loading.

    Returns:
        The request proto.
    """
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = SIGNATURE
    request.inputs[INPUT_NAME].CopyFrom(
        tf.make_tensor_proto([review_bytes(text) for text in texts], dtype=tf.string, shape=[len(texts)])
    )
    return request


def send_grpc(request: predict_pb2.PredictRequest, target: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Sends a `PredictRequest` to TF Serving's gRPC port.

    Args:
        request: from `predict_request`, with the served model's name.
        target: "HOST:8500".
        timeout: seconds to wait for the answer.

    Returns:
        One `{"probability", "label"}` dict a review.

    Raises:
        SentimentError: the server cannot be reached or answered with an error.
    """
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)
        except grpc.RpcError as error:
            raise SentimentError(
                f"TF Serving at {target} (gRPC) answered {error.code().name}: {error.details()}"
            ) from None
    return grpc_predictions(response, len(request.inputs[INPUT_NAME].string_val), target)


def grpc_predictions(response: predict_pb2.PredictResponse, count: int, target: str) -> list[dict[str, Any]]:
    """One `{"probability", "label"}` dict a review from a `PredictResponse`, checked (`checked_predictions`).

    Raises:
        SentimentError: an output missing or not a tensor of the expected kind.
    """
    name = "probability" if "probability" in response.outputs else "probabilities"
    missing = [output for output in (name, "label") if output not in response.outputs]
    if missing:
        raise SentimentError(f"TF Serving at {target} (gRPC) answered without {', '.join(missing)}")
    try:
        probabilities = tf.make_ndarray(response.outputs[name])
        labels = tf.make_ndarray(response.outputs["label"])
    except Exception as error:  # a TensorProto that does not hold what it says
        raise SentimentError(f"TF Serving at {target} (gRPC) answered a malformed tensor: {error}") from None
    if labels.dtype != object or labels.ndim != 1 or probabilities.dtype.kind != "f":
        raise SentimentError(
            f"TF Serving at {target} (gRPC) answered {name} of {probabilities.dtype} {list(probabilities.shape)} "
            f"and label of {labels.dtype} {list(labels.shape)}"
        )
    if len(probabilities) != len(labels):
        raise SentimentError(
            f"TF Serving at {target} (gRPC) answered {len(probabilities)} {name} for {len(labels)} labels"
        )
    predictions = [
        {"label": label.decode("utf-8", "replace"), name: probability}
        for label, probability in zip(labels, probabilities.tolist())
    ]
    return checked_predictions(predictions, count)


def predict(
    texts: Sequence[str],
    host: str,
    model: str,
    protocol: str = "rest",
    body_format: str = "row",
    port: int | None = None,
) -> list[dict[str, Any]]:
    """Scores reviews with a running TF Serving.

    Args:
        texts: raw reviews.
        host: where TF Serving runs.
        model: the name it serves the model under (its MODEL_NAME).
        protocol: "rest" or "grpc".
        body_format: the REST body, "row" or "columnar" (gRPC has one format).
        port: defaults to 8501 for REST, 8500 for gRPC.

    Returns:
        One `{"probability", "label"}` dict a review, in order.
    """
    if protocol == "grpc":
        return send_grpc(predict_request(texts, model), f"{host}:{port or GRPC_PORT}")
    body = row_body(texts) if body_format == "row" else columnar_body(texts)
    return rest_predictions(send_rest(body, rest_url(host, model, port or REST_PORT)), len(texts))


def main(argv: list[str] | None = None) -> int:
    """`python -m sentiment.serving.client`: one JSON line a review on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m sentiment.serving.client",
        description="Score reviews with a running TensorFlow Serving (REST or gRPC).",
    )
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="reviews to score")
    parser.add_argument("--host", default="localhost", help="where TF Serving runs (default: localhost)")
    parser.add_argument("--model", default="lstm", help="the served model's name, its MODEL_NAME (default: lstm)")
    parser.add_argument(
        "--protocol", choices=("rest", "grpc"), default="rest", help="REST on 8501 or gRPC on 8500 (default: rest)"
    )
    parser.add_argument(
        "--body", choices=("row", "columnar"), default="row", help="the REST body's format (default: row)"
    )
    parser.add_argument("--port", type=int, default=None, help=f"default: {REST_PORT} for REST, {GRPC_PORT} for gRPC")
    args = parser.parse_args(argv)
    try:
        results = predict(args.texts, args.host, args.model, args.protocol, args.body, args.port)
    except SentimentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for text, result in zip(args.texts, results, strict=True):
        # The review as sent, made printable: its bytes that are not UTF-8 shown as U+FFFD.
        print(json.dumps({"text": valid_text(text)[0], **result}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
