"""Export a trained model as a string-in SavedModel for TensorFlow Serving.

The exported `serving_default` signature takes raw review text and does the
whole job: standardize, vectorize (with the saved vocabulary), classify.

    inputs:  text         <string>[batch]   raw review text
    outputs: probability  <float32>[batch]  P(positive)
             label        <string>[batch]   "positive" or "negative"

and for a model of more than two classes (a `--dataset` such as ag_news_subset):

    outputs: probabilities  <float32>[batch, classes]  in class-id order
             label          <string>[batch]           the likeliest class's name

Token ids never leave the graph. The recurrent layers are rebuilt with
`use_cudnn=False` before tracing, so a model trained on a GPU still exports
a graph of generic ops that a CPU-only server can run.

Each version carries TF Serving's warmup file,
`assets.extra/tf_serving_warmup_requests`: a TFRecord of `PredictionLog`s,
each a `PredictRequest` of real IMDB reviews (`warmup_reviews.json`), built
by the same code as the gRPC client's requests. TF Serving runs them when it
loads the version, before it takes traffic, so the first real request does
not pay for the lazy initialization (one of a batch of all the reviews, then
one a review, the batch size most requests have).

Each version also carries the artifacts' `manifest.json` (SHA-256 and size
of every file in it, written last), which `python -m sentiment predict
--export` and the TF Serving stand-in check before loading it: a truncated
`saved_model.pb` or an overwritten block of variables is refused by name,
not by a TensorFlow traceback. TF Serving ignores the extra file.

Versions are written to `<export>/<version>.tmp-<pid>/` and renamed to
`<export>/<version>/` only once complete: TF Serving only loads numeric
folders, so it never sees a half-written model. A staging folder left by an
export that was killed (its process is gone) is removed by the next export.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

from sentiment.data import TextEncoder
from sentiment.errors import SentimentError
from sentiment.io import files
from sentiment.io.artifacts import Artifact, load_artifact, verify_export, write_export_manifest
from sentiment.models import with_kernel_choice
from sentiment.serving.client import INPUT_NAME, SIGNATURE, predict_request

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
WARMUP_REVIEWS_FILE = Path(__file__).with_name("warmup_reviews.json")
# `<version>.tmp-<pid>`: a version being written by process <pid>.
_STAGING = re.compile(r"(\d+)\.tmp-(\d+)")


def generic_kernel_model(model: keras.Model) -> keras.Model:
    """A copy of `model`, same weights, whose recurrent layers never pick cuDNN."""
    return with_kernel_choice(model, use_cudnn=False)


def next_version(export_folder: Path) -> int:
    """One more than the highest numeric version folder (1 for none)."""
    versions = [int(p.name) for p in export_folder.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_staging(export_folder: Path) -> list[Path]:
    """Removes the staging folders of exports whose process is gone (killed mid-export).

    This process's own are stale too: an export removes its staging folder
    when it ends, so one still there was left by an earlier, interrupted call.

    Returns:
        The folders removed.
    """
    stale = [
        path
        for path in export_folder.glob("*.tmp-*")
        if (match := _STAGING.fullmatch(path.name))
        and path.is_dir()
        and (int(match.group(2)) == os.getpid() or not _process_alive(int(match.group(2))))
    ]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def _version_target(export_folder: Path) -> Path:
    """The next version folder, checked before any work: a folder that takes new files, the name free.

    Also removes the staging folders that killed exports left behind.

    Raises:
        SentimentError: the export folder is a file or not writable, or something
            already sits where the next version goes.
    """
    files.check_output_folder(export_folder)
    if not export_folder.is_dir():
        return export_folder / "1"
    remove_stale_staging(export_folder)
    final = export_folder / str(next_version(export_folder))
    if final.exists() or final.is_symlink():
        raise SentimentError(
            f"{final} is in the way of the next version (a file, not a version folder); move or delete it first"
        )
    return final


def build_archive(artifact: Artifact) -> keras.export.ExportArchive:
    """The ExportArchive with the string-in `serving_default` endpoint."""
    model = generic_kernel_model(artifact.model)
    encoder = TextEncoder.for_config(artifact.vocabulary, artifact.config.data)  # its own: the archive tracks its table
    label_names = tf.constant(artifact.config.class_names)
    binary = artifact.config.num_classes == 2

    archive = keras.export.ExportArchive()
    archive.track(model)
    encoder.vectorizer(tf.constant([""]))  # builds the layer so its lookup table can be tracked
    archive.track(encoder.vectorizer)

    def scored(text: tf.Tensor) -> dict[str, tf.Tensor]:
        ids = encoder.padded(text)  # the training pipeline's own graph code
        outputs = model(ids, training=False)
        if not binary:
            return {"probabilities": outputs, "label": tf.gather(label_names, tf.argmax(outputs, axis=-1))}
        probability = tf.reshape(outputs, [-1])
        label = tf.gather(label_names, tf.cast(probability >= 0.5, tf.int32))
        return {"probability": probability, "label": label}

    def nothing() -> dict[str, tf.Tensor]:
        # The recurrent layers cannot run on zero rows (their TensorArray has nothing to stack):
        # an empty batch gets empty outputs of the same dtypes, as the Predictor returns.
        labels = tf.zeros([0], tf.string)
        if not binary:
            return {"probabilities": tf.zeros([0, len(artifact.config.class_names)]), "label": labels}
        return {"probability": tf.zeros([0]), "label": labels}

    def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
        return tf.cond(tf.size(text) > 0, lambda: scored(text), nothing)

    archive.add_endpoint(SIGNATURE, serve, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    return archive


def export_model(artifact_folder: str | Path, export_folder: str | Path) -> Path:
    """Exports one artifact folder as the next version under `export_folder`.

    Args:
        artifact_folder: `artifacts/<cell_type>` written by training.
        export_folder: `export/<cell_type>`; versions are numbered from 1.

    Returns:
        The completed version folder, e.g. `export/lstm/1`.
    """
    export_folder = Path(export_folder)
    final = _version_target(export_folder)  # before the work: a bad target costs a line, not an export
    artifact = load_artifact(artifact_folder)
    export_folder.mkdir(parents=True, exist_ok=True)
    staging = export_folder / f"{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        build_archive(artifact).write_out(str(staging), verbose=False)
        write_warmup_requests(staging, warmup_reviews())
        cudnn_ops = find_cudnn_ops(staging)
        if cudnn_ops:
            raise SentimentError(
                f"export of {artifact_folder} contains cuDNN-only ops ({', '.join(cudnn_ops)}); "
                "it would not load on a CPU server"
            )
        write_export_manifest(staging)  # last: a version with a manifest is complete
        try:
            os.rename(staging, final)
        except OSError as error:  # another export took the version meanwhile
            raise SentimentError(
                f"cannot move the export into {final} ({error.strerror}); run the export again"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    verify_export(final)
    return final


def warmup_reviews() -> list[str]:
    """The real IMDB reviews of `warmup_reviews.json` (from the app's examples)."""
    return [review["text"] for review in json.loads(WARMUP_REVIEWS_FILE.read_text(encoding="utf-8"))["reviews"]]


def write_warmup_requests(version_folder: str | Path, texts: Sequence[str]) -> Path:
    """Writes TF Serving's warmup file into a SavedModel folder.

    Args:
        version_folder: the SavedModel folder (`export/<cell>/<version>`, or
            its staging folder).
        texts: the reviews; one request holds them all, then one request
            holds each alone.

    Returns:
        `<version_folder>/assets.extra/tf_serving_warmup_requests`: a TFRecord
        file of `PredictionLog`s whose `predict_log.request` is a
        `PredictRequest` for the `serving_default` signature.
    """
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(version_folder) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in [list(texts), *([text] for text in texts)]:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=predict_request(batch))
            )
            writer.write(log.SerializeToString())
    return path


def graph_op_types(saved_model_folder: str | Path) -> set[str]:
    """Every op type in a SavedModel's graphs and function library."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((Path(saved_model_folder) / "saved_model.pb").read_bytes())
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def find_cudnn_ops(saved_model_folder: str | Path) -> list[str]:
    """Op types that only exist with cuDNN (CudnnRNN, CudnnRNNV3, ...)."""
    return sorted(op for op in graph_op_types(saved_model_folder) if "cudnn" in op.lower())
