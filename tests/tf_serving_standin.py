"""A stand-in for TensorFlow Serving's REST and gRPC front ends: NOT TF Serving.

This machine cannot run the `tensorflow/serving` container (no Docker
engine, no network), so the client's transport (httpx over HTTP, grpcio over
gRPC) is tested against this instead. It does what TF Serving's documented
front end does with a `:predict` call
(https://www.tensorflow.org/tfx/serving/api_rest):

- row format: `"instances"` is a list with one entry a batch row; objects are
  `{input name: value}` and are stacked per input, bare values are the one
  input's rows; the answer is `{"predictions": [...]}`, a list of
  `{output name: value}` objects (bare values for a signature of one output);
- columnar format: `"inputs"` is `{input name: tensor}` (or the one input's
  tensor); the answer is `{"outputs": {output name: tensor}}`;
- a string value may be `{"b64": "<base64>"}`, binary data (bytes that are
  not UTF-8);
- an unknown model is a 404 and a bad body a 400, each `{"error": "..."}`;
- gRPC `PredictionService.Predict`: the request's `inputs` TensorProtos in,
  `outputs` TensorProtos out;

and runs the real exported SavedModel's signature on the result, with
TensorFlow alone, as TF Serving does. Before loading a version it checks the
version's manifest (`sentiment.io.artifacts.verify_export`), as `python -m
sentiment predict --export` does, so the client's examples never run on a
damaged export. Number formatting in the JSON is Python's, which may differ
from TF Serving's in the last digits.

For the client's tests it also answers badly on demand (`BadAnswers`): not
JSON, an error object, the wrong shape, a prediction dropped, NaN.

    python tests/tf_serving_standin.py --export artifacts/export    # REST on 8501, gRPC on 8500
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import tensorflow as tf

SIGNATURE = "serving_default"


class BadAnswers:
    """What the servers answer instead of the truth, set by a test; None answers correctly.

    Attributes:
        rest: (status, the correct JSON answer) -> (status, body bytes) to send.
        grpc: the correct `PredictResponse` -> the one to send.
    """

    def __init__(self):
        self.rest: Callable[[int, dict], tuple[int, bytes]] | None = None
        self.grpc: Callable[[object], object] | None = None


def load_models(export_folder: str | Path) -> dict[str, object]:
    """Model name -> `serving_default` of its highest numeric version, as TF Serving loads a model base path.

    Each version is checked against its manifest first (`verify_export`), as
    `python -m sentiment predict --export` checks it.
    """
    from sentiment.io.artifacts import verify_export

    models = {}
    for model_folder in sorted(Path(export_folder).iterdir()):
        versions = [path for path in model_folder.glob("*") if path.name.isdigit()]
        if versions:
            latest = max(versions, key=lambda path: int(path.name))
            verify_export(latest)
            models[model_folder.name] = tf.saved_model.load(str(latest)).signatures[SIGNATURE]
    return models


def _tensor_value(value):
    """A JSON value of a string tensor as TF Serving reads it: `{"b64": ...}` is binary, lists nest."""
    if isinstance(value, dict) and list(value) == ["b64"]:
        return base64.b64decode(value["b64"], validate=True)
    if isinstance(value, list):
        return [_tensor_value(item) for item in value]
    return value


def tensors_from_body(body: dict, input_names: list[str]) -> tuple[dict[str, tf.Tensor], bool]:
    """The signature's input tensors from a REST `:predict` body, and whether it was in row format.

    Raises:
        ValueError: a body TF Serving would refuse (the message is its `error`).
    """
    if body.get("signature_name", SIGNATURE) != SIGNATURE:
        raise ValueError(f'Serving signature name: "{body["signature_name"]}" not found in signature def')
    if ("instances" in body) == ("inputs" in body):
        raise ValueError("JSON body must have exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    if "instances" in body:
        rows = body["instances"]
        if rows and all(isinstance(row, dict) and list(row) != ["b64"] for row in rows):  # {"b64"} is a value
            columns = {name: [row[name] for row in rows] for name in input_names}
        elif len(input_names) == 1:
            columns = {input_names[0]: rows}
        else:
            raise ValueError(f"instances must be objects of {', '.join(input_names)}")
    else:
        inputs = body["inputs"]
        columns = inputs if isinstance(inputs, dict) else {input_names[0]: inputs}
    if sorted(columns) != sorted(input_names):
        raise ValueError(f"inputs {sorted(columns)} do not match the signature's {sorted(input_names)}")
    return {name: tf.constant(_tensor_value(value)) for name, value in columns.items()}, "instances" in body


def _json_values(tensor: tf.Tensor) -> list:
    array = tensor.numpy()
    if array.dtype == object:
        return [value.decode("utf-8") for value in array.reshape(-1)]
    return array.tolist()


def answer(outputs: dict[str, tf.Tensor], row_format: bool) -> dict:
    """TF Serving's JSON answer for the signature's outputs."""
    columns = {name: _json_values(outputs[name]) for name in sorted(outputs)}
    if not row_format:
        return {"outputs": columns if len(columns) > 1 else next(iter(columns.values()))}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [dict(zip(columns, values)) for values in zip(*columns.values())]}


def rest_server(
    models: dict[str, object], port: int = 8501, host: str = "127.0.0.1", bad: BadAnswers | None = None
) -> ThreadingHTTPServer:
    """An HTTP server answering `POST /v1/models/NAME:predict`, serving in a daemon thread (`.shutdown()` stops it).

    Args:
        bad: while its `rest` is set, every answer is replaced by what it returns.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            name = self.path.removeprefix("/v1/models/").removesuffix(":predict")
            if not self.path.endswith(":predict") or name not in models:
                return self._reply(404, {"error": f"Servable not found for request: Latest({name})"})
            signature = models[name]
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                inputs, row_format = tensors_from_body(body, list(signature.structured_input_signature[1]))
            except (ValueError, KeyError, TypeError) as error:  # binascii.Error (bad base64) is a ValueError
                return self._reply(400, {"error": str(error)})
            self._reply(200, answer(signature(**inputs), row_format))

        def _reply(self, status: int, value: dict):
            payload = json.dumps(value, ensure_ascii=False).encode("utf-8")
            if bad is not None and bad.rest is not None:
                status, payload = bad.rest(status, value)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def grpc_server(models: dict[str, object], port: int = 8500, host: str = "127.0.0.1", bad: BadAnswers | None = None):
    """A started gRPC server with TF Serving's `PredictionService.Predict` (`.stop(None)` stops it).

    Args:
        bad: while its `grpc` is set, every response is replaced by what it returns.

    Returns:
        (server, the port it listens on: `port`, or the one chosen for 0).
    """
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            signature = models.get(request.model_spec.name)
            if signature is None:
                context.abort(
                    grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({request.model_spec.name})"
                )
            if request.model_spec.signature_name not in ("", SIGNATURE):
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f'Serving signature name: "{request.model_spec.signature_name}" not found in signature def',
                )
            outputs = signature(**{name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()})
            response = predict_pb2.PredictResponse()
            for name, tensor in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(tensor.numpy()))
            return bad.grpc(response) if bad is not None and bad.grpc is not None else response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, bound


def main() -> None:
    parser = argparse.ArgumentParser(
        description="A stand-in for TF Serving's REST (8501) and gRPC (8500) front ends, running real SavedModels."
    )
    parser.add_argument("--export", required=True, help="export folder: <export>/<model>/<version>/")
    parser.add_argument("--rest-port", type=int, default=8501)
    parser.add_argument("--grpc-port", type=int, default=8500)
    args = parser.parse_args()
    models = load_models(args.export)
    rest, (grpc_front, _) = rest_server(models, args.rest_port), grpc_server(models, args.grpc_port)
    print(f"stand-in serving {', '.join(models)}: REST on {args.rest_port}, gRPC on {args.grpc_port}", flush=True)
    try:
        threading.Event().wait()  # serve until interrupted
    finally:
        rest.shutdown()
        grpc_front.stop(None)


if __name__ == "__main__":
    main()
