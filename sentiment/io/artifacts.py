"""The artifacts folder: writing it safely and reading it back with checks.

Layout, per cell type (`artifacts/<cell_type>/`):

    model.keras       the trained Keras model (token ids -> P(positive))
    config.json       format version, data/model/train configs, library versions
    vocabulary.txt    one token per line, line i = token id i
    history.json      per-epoch loss/accuracy/val_*/seconds
    metrics.json      test metrics, accuracy by review length, cost figures
    manifest.json     SHA-256 of every file above; written last, so a folder
                      without it is incomplete

Every file is written to a temporary name and renamed into place
(`sentiment.io.files`), so a crash leaves either the old file or the new one,
never half of one.
"""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from pathlib import Path
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
from sentiment.io.files import read_json, sha256_of, write_json, write_text

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.txt"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
ARTIFACT_FILES = (MODEL_FILE, CONFIG_FILE, VOCABULARY_FILE, HISTORY_FILE, METRICS_FILE)


def write_manifest(folder: str | Path, names: tuple[str, ...] = ARTIFACT_FILES) -> None:
    """Records the SHA-256 of every artifact file; marks the folder complete."""
    folder = Path(folder)
    entries = {name: {"sha256": sha256_of(folder / name), "bytes": (folder / name).stat().st_size} for name in names}
    write_json(folder / MANIFEST_FILE, {"format_version": ARTIFACT_FORMAT_VERSION, "files": entries})


def verify_manifest(folder: str | Path) -> None:
    """Raises SentimentError naming the first missing, truncated or altered file."""
    folder = Path(folder)
    if not (folder / MANIFEST_FILE).exists():
        raise SentimentError(
            f"{folder} has no {MANIFEST_FILE}: training did not finish there; run the train command again"
        )
    manifest = read_json(folder / MANIFEST_FILE)
    check_format_version(manifest.get("format_version"), folder)
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.exists():
            raise SentimentError(f"{path} is missing; retrain or copy the whole folder")
        if sha256_of(path) != expected["sha256"]:
            raise SentimentError(
                f"{path} does not match its checksum in {MANIFEST_FILE} (altered or truncated); "
                "retrain or copy it again"
            )


def check_format_version(version: Any, folder: str | Path) -> None:
    if version != ARTIFACT_FORMAT_VERSION:
        raise SentimentError(
            f"{folder} was written by artifact format {version!r}, this code reads format {ARTIFACT_FORMAT_VERSION}; "
            f"retrain into a new folder with --output"
        )


def write_vocabulary(path: str | Path, vocabulary: list[str]) -> None:
    # Tokens never contain whitespace (the vectorizer splits on it).
    write_text(path, "\n".join(vocabulary) + "\n")


def read_vocabulary(path: str | Path) -> list[str]:
    return Path(path).read_text(encoding="utf-8").split("\n")[:-1]


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
    verify_manifest(folder)
    config = RunConfig.from_json(read_json(folder / CONFIG_FILE), folder)
    if not zipfile.is_zipfile(folder / MODEL_FILE):  # Keras would report a missing file instead
        raise SentimentError(
            f"{folder / MODEL_FILE} is not a Keras model file (a .keras file is a zip archive); "
            "retrain or copy it again"
        )
    try:
        model = keras.models.load_model(folder / MODEL_FILE, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file
        raise SentimentError(f"{folder / MODEL_FILE} could not be loaded: {error}") from None
    return Artifact(
        folder=folder,
        config=config,
        vocabulary=read_vocabulary(folder / VOCABULARY_FILE),
        model=model,
        metrics=read_json(folder / METRICS_FILE),
        history=read_json(folder / HISTORY_FILE),
    )
