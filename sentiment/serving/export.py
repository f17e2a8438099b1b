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

Versions are written to `<export>/<version>.tmp-<pid>/` and renamed to
`<export>/<version>/` only once complete: TF Serving only loads numeric
folders, so it never sees a half-written model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
import keras
import tensorflow as tf

from sentiment.data import TextEncoder
from sentiment.io.artifacts import Artifact, load_artifact
from sentiment.errors import SentimentError
from sentiment.models import with_kernel_choice

SIGNATURE = "serving_default"
INPUT_NAME = "text"


def generic_kernel_model(model: keras.Model) -> keras.Model:
    """A copy of `model`, same weights, whose recurrent layers never pick cuDNN."""
    return with_kernel_choice(model, use_cudnn=False)


def next_version(export_folder: Path) -> int:
    """One more than the highest numeric version folder (1 for none)."""
    versions = [int(p.name) for p in export_folder.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


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

    def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
        ids = encoder.padded(text)  # the training pipeline's own graph code
        outputs = model(ids, training=False)
        if not binary:
            return {"probabilities": outputs, "label": tf.gather(label_names, tf.argmax(outputs, axis=-1))}
        probability = tf.reshape(outputs, [-1])
        label = tf.gather(label_names, tf.cast(probability >= 0.5, tf.int32))
        return {"probability": probability, "label": label}

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
    artifact = load_artifact(artifact_folder)
    export_folder = Path(export_folder)
    export_folder.mkdir(parents=True, exist_ok=True)
    version = next_version(export_folder)
    final = export_folder / str(version)
    staging = export_folder / f"{version}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        build_archive(artifact).write_out(str(staging), verbose=False)
        cudnn_ops = find_cudnn_ops(staging)
        if cudnn_ops:
            raise SentimentError(f"export of {artifact_folder} contains cuDNN-only ops ({', '.join(cudnn_ops)}); it would not load on a CPU server")
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


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
