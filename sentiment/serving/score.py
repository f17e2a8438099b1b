"""Score reviews from the command line: `python -m sentiment predict`.

Reviews come from arguments, from stdin (one review a line) or from a
CSV/TSV file with a header and a `text` column (`--text-column` for another;
an `id` column, when there is one, names each row in the output). They are
scored in batches by every model of an artifact folder (the `Predictor`) or
of an export folder (the latest numeric version of each `<cell>/N`
SavedModel, through its `serving_default` signature, as TF Serving would),
and written as JSON lines or CSV:

    {"index": 0, "text": "A moving film with a superb cast.", "lstm": {"probability": 0.8394, "label": "positive"}, ...}

    index,text,lstm_probability,lstm_label,...

A label is the class name at P(positive) >= 0.5, the export's own rule.

Bytes that are not UTF-8 in an argument or a line of stdin are replaced by
U+FFFD and counted (the command warns, naming the lines), so the output is
always valid UTF-8; a CSV that is not UTF-8 is refused at its first bad line
(`sentiment.data.sources.open_table`). `--output` is written to a temporary
file beside it and renamed into place once every row is written, so an
interrupted or failed run leaves the old file as it was.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from sentiment.config import ALL_CELL_TYPES
from sentiment.errors import SentimentError

# How much of a review a row shows when the input has no id column.
PREVIEW_CHARACTERS = 60
OUTPUT_FORMATS = ("jsonl", "csv")

# texts -> (<float32>[batch] P(positive), labels)
Scorer = Callable[[list[str]], tuple[np.ndarray, list[str]]]


@dataclass(frozen=True)
class Review:
    """One review to score.

    Attributes:
        index: its position among the inputs, from 0.
        text: the raw review, as valid Unicode.
        id: the value of the file's `id` column, None without one.
        place: where it came from, for messages ("line 3", "argument 2").
        repaired: whether bytes that were not UTF-8 were replaced by U+FFFD.
    """

    index: int
    text: str
    id: str | None = None
    place: str = ""
    repaired: bool = False

    @property
    def preview(self) -> str:
        """The review's first characters, on one line ("…" where cut)."""
        flat = " ".join(self.text.split())
        return flat if len(flat) <= PREVIEW_CHARACTERS else flat[: PREVIEW_CHARACTERS - 1] + "…"


def review_bytes(text: str) -> bytes:
    """The bytes a review was given as: UTF-8, with the bytes that were not UTF-8 given back as they were.

    Python decodes an argument or a line with `surrogateescape`, keeping each
    bad byte as a lone surrogate; this undoes that. A lone surrogate of
    another origin (JSON can carry one) is encoded as `surrogatepass` does,
    which is just as invalid as UTF-8 and is replaced where it is read.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def valid_text(text: str) -> tuple[str, bool]:
    """`text` as valid Unicode, and whether it had to be repaired.

    Python carries the bytes of an argument (or a line) that are not UTF-8 as
    lone surrogates (`surrogateescape`); JSON can carry lone surrogates too.
    Neither can be written as UTF-8, so each such byte becomes U+FFFD, as a
    browser shows it.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return review_bytes(text).decode("utf-8", "replace"), True
    return text, False


def reviews_from_texts(texts: Iterable[str], place: str = "review") -> list[Review]:
    """Reviews numbered in order, each made valid Unicode (`valid_text`).

    Args:
        texts: raw reviews.
        place: what each one is, for messages: "argument" names the first one "argument 1".
    """
    reviews = []
    for index, text in enumerate(texts):
        text, repaired = valid_text(text)
        reviews.append(Review(index, text, place=f"{place} {index + 1}", repaired=repaired))
    return reviews


def read_lines(stream: TextIO | BinaryIO) -> list[Review]:
    """One review a non-blank line of `stream` (stdin), line endings removed.

    Read as bytes where the stream has them (a text stdin would stop at the
    first byte that is not UTF-8), each line decoded on its own; its bad
    bytes are replaced (`valid_text`) and the review marked `repaired`.
    """
    source = getattr(stream, "buffer", stream)
    reviews = []
    for number, line in enumerate(source, start=1):
        if isinstance(line, bytes):
            line = line.decode("utf-8", "surrogateescape")
        line = line.rstrip("\r\n")
        if line.strip():
            text, repaired = valid_text(line)
            reviews.append(Review(len(reviews), text, place=f"line {number}", repaired=repaired))
    return reviews


def repaired_places(reviews: Sequence[Review], shown: int = 10) -> str | None:
    """The warning for reviews whose bad bytes were replaced, naming where they were; None for none."""
    places = [review.place for review in reviews if review.repaired]
    if not places:
        return None
    named = ", ".join(places[:shown]) + (f" and {len(places) - shown} more" if len(places) > shown else "")
    return (
        f"{len(places)} review(s) held bytes that are not UTF-8 ({named}); "
        "each such byte was replaced by U+FFFD before scoring"
    )


def read_review_file(path: str | Path, text_column: str = "text") -> list[Review]:
    """Reads the reviews of a CSV (or .tsv/.tab) file, checking every line.

    Args:
        path: a file with a header row; `.tsv`/`.tab` files are tab-separated.
        text_column: the header of the column holding the reviews. An `id`
            column, if any, names each review in the output.

    Returns:
        The reviews in file order.

    Raises:
        SentimentError: naming the file, the line and the problem, as
            `python -m sentiment train` reports a malformed CSV.
    """
    from sentiment.data.sources import open_table

    column = text_column.lower()
    reviews = []
    with open_table(path, (column,), hint="; name the column with --text-column") as (header, lines):
        text_at, id_at = header.index(column), header.index("id") if "id" in header else None
        for line, row in lines:
            if len(row) != len(header):
                raise SentimentError(f"{path}:{line}: expected {len(header)} fields, found {len(row)}")
            reviews.append(
                Review(len(reviews), row[text_at], row[id_at] if id_at is not None else None, place=f"line {line}")
            )
    return reviews


def _labelled(probabilities: np.ndarray, class_names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    probabilities = np.asarray(probabilities, np.float32).reshape(-1)
    return probabilities, [class_names[int(p >= 0.5)] for p in probabilities]


def _chosen_models(
    folder: Path, models: Sequence[str] | None, present: Callable[[Path], bool], kind: str, layout: str, command: str
) -> list[str]:
    """The cell types to load: those asked for, or every one `present` in `folder` (the cells and those after the LSTM).

    Raises:
        SentimentError: no such folder, a model asked for is missing, or none
            is there; the message ends with `command`, what to run instead.
    """
    if not folder.is_dir():
        raise SentimentError(f"{kind} folder {folder} does not exist; {command}")
    missing = [cell for cell in (models or ALL_CELL_TYPES) if not present(folder / cell)]
    if models and missing:
        raise SentimentError(f"no {kind} of {', '.join(missing)} in {folder} (expected {layout}); {command}")
    if len(missing) == len(ALL_CELL_TYPES):
        raise SentimentError(
            f"no {kind} in {folder} (expected {layout}, <cell> one of {', '.join(ALL_CELL_TYPES)}); {command}"
        )
    return [cell for cell in (models or ALL_CELL_TYPES) if cell not in missing]


def artifact_scorers(folder: str | Path, models: Sequence[str] | None = None) -> dict[str, Scorer]:
    """A scorer per trained model of an artifact folder, each a `Predictor`.

    Args:
        folder: written by `python -m sentiment train`.
        models: cell types to load; None for every one the folder holds.

    Returns:
        Cell type -> scorer, in `ALL_CELL_TYPES` order.
    """
    from sentiment.io.artifacts import MANIFEST_FILE, load_artifact
    from sentiment.serving.predict import Predictor

    folder = Path(folder)
    command = f"train first with: python -m sentiment train --output {folder}"
    scorers = {}
    for cell in _chosen_models(
        folder, models, lambda path: (path / MANIFEST_FILE).is_file(), "artifact", f"<cell>/{MANIFEST_FILE}", command
    ):
        artifact = load_artifact(folder / cell)
        predictor = Predictor(artifact)
        scorers[cell] = lambda texts, predictor=predictor, names=artifact.config.class_names: _labelled(
            predictor.predict(texts), names
        )
    return scorers


def latest_version(model_folder: Path) -> Path | None:
    """The highest numeric version folder holding a SavedModel, as TF Serving picks it; None for none."""
    versions = [path for path in model_folder.glob("*") if path.name.isdigit() and (path / "saved_model.pb").is_file()]
    return max(versions, key=lambda path: int(path.name), default=None)


def export_scorers(folder: str | Path, models: Sequence[str] | None = None) -> dict[str, Scorer]:
    """A scorer per exported model, calling its SavedModel's `serving_default` signature.

    Args:
        folder: written by `python -m sentiment export`: `<folder>/<cell>/<version>/`.
        models: cell types to load; None for every one the folder holds.

    Returns:
        Cell type -> scorer, in `ALL_CELL_TYPES` order.
    """
    import tensorflow as tf

    from sentiment.io.artifacts import verify_export
    from sentiment.serving.client import SIGNATURE

    folder = Path(folder)
    command = f"export first with: python -m sentiment export --output {folder}"
    scorers = {}
    for cell in _chosen_models(
        folder,
        models,
        lambda path: latest_version(path) is not None,
        "export",
        "<cell>/<version>/saved_model.pb",
        command,
    ):
        version = latest_version(folder / cell)
        verify_export(version)  # every file TensorFlow will read, checked first
        try:
            serve = tf.saved_model.load(str(version)).signatures[SIGNATURE]
        except Exception as error:  # TensorFlow raises many types for a SavedModel it cannot use
            raise SentimentError(f"{version} could not be loaded: {str(error).splitlines()[0]}") from None
        if "probability" not in serve.structured_outputs:
            raise SentimentError(
                f"{version} is not a two-class sentiment model "
                f"(its outputs: {', '.join(sorted(serve.structured_outputs))})"
            )
        scorers[cell] = lambda texts, serve=serve: _signature_outputs(
            serve(text=tf.constant([review_bytes(text) for text in texts], tf.string))
        )
    return scorers


def _signature_outputs(outputs) -> tuple[np.ndarray, list[str]]:
    return outputs["probability"].numpy(), [label.decode("utf-8", "replace") for label in outputs["label"].numpy()]


def score_rows(
    reviews: Sequence[Review], scorers: dict[str, Scorer], batch_size: int = 64, progress: bool = False
) -> Iterator[dict]:
    """Scores reviews in batches, yielding one output row a review.

    Args:
        reviews: from `reviews_from_texts` or `read_review_file`.
        scorers: model name -> scorer (`artifact_scorers`, `export_scorers`).
        batch_size: reviews a model call.
        progress: a tqdm bar on stderr.

    Yields:
        `{"index", "id" or "text", <model>: {"probability", "label"}, ...}`;
        "text" is the review's first characters.
    """
    from tqdm import tqdm

    with tqdm(total=len(reviews), disable=not progress, file=sys.stderr, unit="review", desc="scoring") as bar:
        for start in range(0, len(reviews), batch_size):
            batch = reviews[start : start + batch_size]
            scored = {name: scorer([review.text for review in batch]) for name, scorer in scorers.items()}
            for offset, review in enumerate(batch):
                row: dict = {
                    "index": review.index,
                    **({"id": review.id} if review.id is not None else {"text": review.preview}),
                }
                for name, (probabilities, labels) in scored.items():
                    row[name] = {"probability": round(float(probabilities[offset]), 6), "label": labels[offset]}
                yield row
            bar.update(len(batch))


def write_file(rows: Iterable[dict], path: str | Path, output_format: str = "jsonl") -> int:
    """Writes rows to `path` through a temporary file beside it, renamed into place when all are written.

    Until then `path` keeps what it held: a failure or Ctrl-C half-way loses
    nothing (and leaves no temporary file).

    Returns:
        How many rows were written.
    """
    from sentiment.io.files import atomic_path

    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as output:
        return write_rows(rows, output, output_format)


def write_rows(rows: Iterable[dict], output: TextIO, output_format: str = "jsonl") -> int:
    """Writes rows from `score_rows` as JSON lines or CSV, flushing after each.

    CSV flattens each model's result into `<model>_probability` and
    `<model>_label` columns.

    Returns:
        How many rows were written.
    """
    writer, count = None, 0
    for row in rows:
        if output_format == "jsonl":
            output.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            flat = {key: value for key, value in row.items() if not isinstance(value, dict)}
            flat.update(
                {
                    f"{name}_{field}": value
                    for name, result in row.items()
                    if isinstance(result, dict)
                    for field, value in result.items()
                }
            )
            if writer is None:
                writer = csv.DictWriter(output, fieldnames=list(flat), lineterminator="\n")
                writer.writeheader()
            writer.writerow(flat)
        output.flush()
        count += 1
    return count
