"""The artifacts folder: writing it safely and reading it back with checks.

Layout, per cell type (`artifacts/<cell_type>/`):

    model.keras       the trained Keras model (token ids -> P(positive))
    config.json       format version, data/model/train configs, library versions
    vocabulary.txt    one token per line, line i = token id i
    history.json      per-epoch loss/accuracy/val_*/seconds
    metrics.json      test metrics, accuracy by review length, cost figures
    manifest.json     SHA-256 and size of every file above; written last, so a
                      folder without it is incomplete

The bag-of-n-grams reference's folder (`bow/`, and the strong preset's
`teacher/`) holds ngrams.txt and weights.npz instead of the model and the
vocabulary; an exported SavedModel version (`export/<cell>/<version>/`) gets
a manifest of every file in it too.

A loader reads nothing before `verify_manifest` has checked it: the manifest
must list every file that loader reads (an empty list proves nothing), each
as a plain path inside the folder to a regular file of the recorded size and
checksum.

Every file is written to a temporary name and renamed into place
(`sentiment.io.files`), so a crash leaves either the old file or the new one,
never half of one.
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from sentiment.config import (
    ARTIFACT_FORMAT_VERSION,
    LABEL_NAMES,
    DataConfig,
    ModelConfig,
    TrainConfig,
    from_dict,
    to_dict,
)
from sentiment.errors import SentimentError
from sentiment.io.files import JSON_MAX_BYTES, read_bytes, read_json, sha256_of, write_json, write_text

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.txt"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
ARTIFACT_FILES = (MODEL_FILE, CONFIG_FILE, VOCABULARY_FILE, HISTORY_FILE, METRICS_FILE)
# The bag-of-n-grams reference (and the strong preset's teacher, one of it):
# `sentiment.training.baseline` writes and reads these.
NGRAMS_FILE = "ngrams.txt"
WEIGHTS_FILE = "weights.npz"
BASELINE_FILES = (NGRAMS_FILE, WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE, HISTORY_FILE)
# A SavedModel version folder (`export/<cell>/<version>/`): the files TF
# Serving cannot do without. Every other file in it must be listed as well
# (`verify_export`), the variables' data shards and the warmup file included.
SAVED_MODEL_FILE = "saved_model.pb"
EXPORT_FILES = (SAVED_MODEL_FILE, "variables/variables.index", "assets.extra/tf_serving_warmup_requests")
# A manifest lists a handful of files; a larger one is not a manifest.
MANIFEST_MAX_BYTES = 1_000_000
_SHA256 = re.compile(r"[0-9a-f]{64}")
RETRAIN = "retrain, or copy the whole folder again"


def write_manifest(folder: str | Path, names: Sequence[str] = ARTIFACT_FILES) -> None:
    """Records the SHA-256 and size of every file a loader reads; marks the folder complete.

    Args:
        folder: the artifact (or SavedModel version) folder.
        names: paths relative to `folder`, "/"-separated, each a regular file in it.
    """
    folder = Path(folder)
    entries = {name: {"sha256": sha256_of(folder / name), "bytes": (folder / name).stat().st_size} for name in names}
    write_json(folder / MANIFEST_FILE, {"format_version": ARTIFACT_FORMAT_VERSION, "files": entries})


def write_export_manifest(version_folder: str | Path) -> None:
    """The manifest of a SavedModel folder: every file under it, written last."""
    folder = Path(version_folder)
    write_manifest(
        folder,
        sorted(
            path.relative_to(folder).as_posix()
            for path in folder.rglob("*")
            if path.is_file() and path.name != MANIFEST_FILE
        ),
    )


def verify_manifest(folder: str | Path, required: Sequence[str] | None = None, remedy: str = RETRAIN) -> dict[str, Any]:
    """Checks a folder against its manifest before anything in it is read.

    The manifest must be a JSON object of this format version whose `files`
    map plain relative paths inside the folder (no `..`, not absolute, no
    link leading out) to `{"sha256", "bytes"}`; every file it names must be
    a regular file of that size and checksum (read no further than that
    size, so a device or a huge file cannot hang the check); and it must name
    every file in `required`.

    Args:
        folder: the artifact folder.
        required: the files the folder's loader reads. None: those of the
            kind its (verified) config.json says it is: a recurrent model's
            `ARTIFACT_FILES`, or `BASELINE_FILES` for the bag of n-grams.
        remedy: what the message tells the user to do (`RETRAIN`, or to export again).

    Returns:
        The manifest's `files`: name -> {"sha256", "bytes"}.

    Raises:
        SentimentError: one line naming the first missing, malformed, truncated
            or altered file, or the manifest itself.
    """
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if not path.exists():
        raise SentimentError(
            f"{folder} has no {MANIFEST_FILE}: training did not finish there; run the train command again"
        )
    manifest = read_json(path, max_bytes=MANIFEST_MAX_BYTES)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise SentimentError(f"{path} is not a manifest (a JSON object with a files object); {remedy}")
    check_format_version(manifest.get("format_version"), folder, remedy)
    entries = manifest["files"]
    for name, expected in entries.items():
        _verify_entry(folder, name, expected, remedy)
    if required is None:
        required = _required_by_kind(folder, entries, remedy)
    unlisted = [name for name in required if name not in entries]
    if unlisted:
        raise SentimentError(
            f"{path} does not list {', '.join(unlisted)}, which the loader reads, so it cannot be checked; {remedy}"
        )
    return entries


def verify_export(version_folder: str | Path) -> dict[str, Any]:
    """`verify_manifest` for a SavedModel folder, which must hold no file its manifest leaves out.

    TensorFlow reads every file of `variables/` and `assets/`, so a file
    added beside the checked ones would be read unchecked.
    """
    folder = Path(version_folder)
    remedy = "export it again (python -m sentiment export), or copy the whole folder again"
    if not (folder / MANIFEST_FILE).exists():
        raise SentimentError(
            f"{folder} has no {MANIFEST_FILE}: an unfinished export, or one written before exports were checked; "
            f"{remedy}"
        )
    entries = verify_manifest(folder, EXPORT_FILES, remedy)
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            raise SentimentError(f"{path} is a link or a special file; {remedy}")
        if path.is_file() and name not in entries and name != MANIFEST_FILE:
            raise SentimentError(f"{path} is not in {folder / MANIFEST_FILE}, so it cannot be checked; {remedy}")
    return entries


def _verify_entry(folder: Path, name: Any, expected: Any, remedy: str) -> None:
    """One manifest entry: a plain relative path to a regular file inside `folder`, of the recorded size and SHA-256."""
    manifest = folder / MANIFEST_FILE
    parts = name.split("/") if isinstance(name, str) else []
    if (
        not parts
        or any(part in ("", ".", "..") for part in parts)
        or "\\" in name
        or "\0" in name
        or PurePosixPath(name).is_absolute()
        or PureWindowsPath(name).drive
    ):
        raise SentimentError(f"{manifest} lists {name!r}: not a plain path inside the folder; {remedy}")
    if not (
        isinstance(expected, dict)
        and isinstance(expected.get("sha256"), str)
        and _SHA256.fullmatch(expected["sha256"])
        and type(expected.get("bytes")) is int
        and expected["bytes"] >= 0
    ):
        raise SentimentError(
            f'{manifest}: the entry of {name} is not {{"sha256": <64 hex digits>, "bytes": <size>}}; {remedy}'
        )
    path = folder / name
    if not path.exists() and not path.is_symlink():
        raise SentimentError(f"{path} is missing; {remedy}")
    if not path.resolve().is_relative_to(folder.resolve()):
        raise SentimentError(f"{path} links outside {folder}; {remedy}")
    if not path.is_file():
        raise SentimentError(f"{path} is not a regular file (a folder, a device or a pipe); {remedy}")
    size = path.stat().st_size
    if size != expected["bytes"] or sha256_of(path, max_bytes=expected["bytes"]) != expected["sha256"]:
        raise SentimentError(f"{path} does not match its checksum in {MANIFEST_FILE} (altered or truncated); {remedy}")


def _required_by_kind(folder: Path, entries: dict[str, Any], remedy: str) -> tuple[str, ...]:
    """The files of the kind the (verified) config.json names: a recurrent model or the bag of n-grams."""
    if CONFIG_FILE not in entries:
        raise SentimentError(f"{folder / MANIFEST_FILE} does not list {CONFIG_FILE}; {remedy}")
    config = read_json(folder / CONFIG_FILE)
    if not isinstance(config, dict):
        raise SentimentError(f"{folder / CONFIG_FILE} is not a JSON object; {remedy}")
    return BASELINE_FILES if "baseline" in config else ARTIFACT_FILES


def check_format_version(version: Any, folder: str | Path, remedy: str = RETRAIN) -> None:
    if version != ARTIFACT_FORMAT_VERSION:
        advice = "retrain into a new folder with --output" if remedy == RETRAIN else remedy
        raise SentimentError(
            f"{folder} was written by artifact format {version!r}, this code reads format {ARTIFACT_FORMAT_VERSION}; "
            f"{advice}"
        )


def write_vocabulary(path: str | Path, vocabulary: list[str]) -> None:
    # Tokens never contain whitespace (the vectorizer splits on it).
    write_text(path, "\n".join(vocabulary) + "\n")


def read_vocabulary(path: str | Path, max_bytes: int = JSON_MAX_BYTES) -> list[str]:
    """The vocabulary of `write_vocabulary`: line i is token id i.

    Raises:
        SentimentError: not UTF-8, not ending in a newline, not starting with
            the padding "" and "[UNK]", or a word listed twice (each a line
            naming the file, the line and what is wrong).
    """
    path = Path(path)
    raw = read_bytes(path, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SentimentError(f"{path}:{line}: not UTF-8 ({error.reason}); retrain or copy the folder again") from None
    if not text.endswith("\n"):
        raise SentimentError(f"{path} does not end with a newline (cut short?); retrain or copy the folder again")
    words = text.split("\n")[:-1]
    if words[:2] != ["", "[UNK]"]:
        raise SentimentError(f"{path} does not start with the padding line and [UNK]; it is not a vocabulary")
    first_line: dict[str, int] = {}
    for line, word in enumerate(words, start=1):
        if word in first_line:
            raise SentimentError(
                f"{path}:{line}: {word!r} is listed again (first on line {first_line[word]}); each word once, retrain"
            )
        first_line[word] = line
    return words


@dataclass(frozen=True)
class RunConfig:
    """The configs a model was trained with, as stored in config.json.

    `class_names` come out of the data step (the dataset's label names), in
    class-id order; two classes mean a sigmoid head giving P(class 1).
    """

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    class_names: tuple[str, ...] = LABEL_NAMES

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": ARTIFACT_FORMAT_VERSION,
            "data": to_dict(self.data),
            "model": to_dict(self.model),
            "train": to_dict(self.train),
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_json(cls, values: dict[str, Any], folder: str | Path) -> RunConfig:
        if not isinstance(values, dict):
            raise SentimentError(f"{folder}/{CONFIG_FILE} is not a JSON object; retrain")
        check_format_version(values.get("format_version"), folder)
        try:
            return cls(
                data=from_dict(DataConfig, values["data"]),
                model=from_dict(ModelConfig, values["model"]),
                train=from_dict(TrainConfig, values["train"]),
                class_names=tuple(values["class_names"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SentimentError(
                f"{folder}/{CONFIG_FILE} is not a config this code understands ({error}); retrain"
            ) from None


@dataclass(frozen=True)
class Artifact:
    """A verified, loaded artifact folder for one cell type."""

    folder: Path
    config: RunConfig
    vocabulary: list[str]
    model: Any  # keras.Model; typed loosely so this module imports without Keras
    metrics: dict[str, Any]
    history: dict[str, Any]

    @functools.cached_property
    def encoder(self):
        """The `sentiment.data.TextEncoder` this model was trained with, built once (its lookup table is large)."""
        from sentiment.data import TextEncoder

        return TextEncoder.for_config(self.vocabulary, self.config.data)


def require_binary(artifact: Artifact, what: str) -> None:
    """Refuses an n-class artifact where only binary sentiment makes sense.

    Args:
        artifact: a loaded artifact.
        what: the tool, for the message ("the comparison app").
    """
    names = artifact.config.class_names
    if len(names) != 2:
        raise SentimentError(
            f"{artifact.folder} is a {len(names)}-class model ({', '.join(names)}); {what} reads binary sentiment "
            f"models only. Serve it with: python -m sentiment export --artifacts {artifact.folder.parent}"
        )


def load_artifact(folder: str | Path) -> Artifact:
    """Verifies checksums, then loads the model with Keras `safe_mode` on.

    Raises:
        SentimentError: the folder is incomplete, altered, or of another format.
    """
    import keras

    # Registers the project's own layers (the masked max pooling) before Keras looks them up.
    from sentiment import models  # noqa: F401

    folder = Path(folder)
    if not folder.is_dir():
        raise SentimentError(
            f"artifact folder {folder} does not exist; "
            f"train first with: python -m sentiment train --output {folder.parent}"
        )
    verify_manifest(folder, ARTIFACT_FILES)
    config = RunConfig.from_json(read_json(folder / CONFIG_FILE), folder)
    vocabulary = read_vocabulary(folder / VOCABULARY_FILE)
    if len(vocabulary) > config.data.vocabulary_size:
        raise SentimentError(
            f"{folder / VOCABULARY_FILE} holds {len(vocabulary):,} tokens, more than the "
            f"{config.data.vocabulary_size:,} of {CONFIG_FILE}; retrain or copy the folder again"
        )
    metrics, history = read_json(folder / METRICS_FILE), read_json(folder / HISTORY_FILE)
    for name, value in ((METRICS_FILE, metrics), (HISTORY_FILE, history)):
        if not isinstance(value, dict):
            raise SentimentError(f"{folder / name} is not a JSON object; retrain")
    if not zipfile.is_zipfile(folder / MODEL_FILE):  # Keras would report a missing file instead
        raise SentimentError(
            f"{folder / MODEL_FILE} is not a Keras model file (a .keras file is a zip archive); "
            "retrain or copy it again"
        )
    try:
        model = keras.models.load_model(folder / MODEL_FILE, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file
        raise SentimentError(f"{folder / MODEL_FILE} could not be loaded: {error}") from None
    return Artifact(folder=folder, config=config, vocabulary=vocabulary, model=model, metrics=metrics, history=history)
