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
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import httpx
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from sentiment.errors import SentimentError

SIGNATURE = "serving_default"
INPUT_NAME = "text"
REST_PORT = 8501
GRPC_PORT = 8500


def row_body(texts: Sequence[str], named: bool = True) -> dict[str, Any]:
    """The REST `:predict` body in row format: one instance a review.

    Args:
        texts: raw reviews.
        named: `{"text": review}` objects (True), or the bare strings TF
            Serving also accepts for a signature with one input (False).

    Returns:
        The JSON body, as a dict.
    """
    instances = [{INPUT_NAME: text} for text in texts] if named else list(texts)
    return {"signature_name": SIGNATURE, "instances": instances}


def columnar_body(texts: Sequence[str]) -> dict[str, Any]:
    """The REST `:predict` body in columnar format: the whole `text` tensor under `inputs`."""
    return {"signature_name": SIGNATURE, "inputs": {INPUT_NAME: list(texts)}}


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
        except ValueError:
            detail = response.text
        raise SentimentError(f"TF Serving at {url} answered {response.status_code}: {detail}")
    return response.json()


def rest_predictions(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One `{"probability", "label"}` dict a review from either REST answer format."""
    if "predictions" in answer:
        return [dict(row) for row in answer["predictions"]]
    outputs = answer["outputs"]
    return [dict(zip(outputs, values)) for values in zip(*outputs.values())]


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
        tf.make_tensor_proto([text.encode("utf-8") for text in texts], dtype=tf.string, shape=[len(texts)])
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
    probabilities = tf.make_ndarray(response.outputs["probability"]).tolist()
    labels = [label.decode("utf-8") for label in tf.make_ndarray(response.outputs["label"])]
    return [{"label": label, "probability": probability} for label, probability in zip(labels, probabilities)]


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
    return rest_predictions(send_rest(body, rest_url(host, model, port or REST_PORT)))


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
    for text, result in zip(args.texts, results):
        print(json.dumps({"text": text, **result}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
