"""Where reviews come from: tensorflow-datasets, an aclImdb folder, a CSV/TSV file, or a stream.

Three sources give the same `Splits`, held in memory: tensorflow-datasets
`imdb_reviews`, a folder in the aclImdb layout, or a CSV/TSV file. Any other
tensorflow-datasets text classification dataset (`DataConfig.dataset`) is
streamed instead (`open_stream`, `stream_reviews`): read from disk split by
split, never held whole. The validation split is always carved from the
training split; the test split is touched only for the final evaluation.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from sentiment.config import DataConfig
from sentiment.errors import SentimentError

_LABEL_VALUES = {
    "0": 0,
    "neg": 0,
    "negative": 0,
    "1": 1,
    "pos": 1,
    "positive": 1,
}


@dataclass(frozen=True)
class Reviews:
    """Review texts and their labels.

    Attributes:
        texts: <object>[n] Python strings.
        labels: <int32>[n], 1 for positive.
    """

    texts: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray) -> Reviews:
        return Reviews(self.texts[indices], self.labels[indices])


@dataclass(frozen=True)
class Splits:
    train: Reviews
    validation: Reviews
    test: Reviews


def _reviews(texts: list, labels: list) -> Reviews:
    decoded = [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else str(t) for t in texts]
    return Reviews(np.array(decoded, dtype=object), np.asarray(labels, dtype=np.int32))


def load_tfds(data_dir: str | None, download: bool) -> tuple[Reviews, Reviews]:
    """Loads IMDB train and test from tensorflow-datasets.

    `data_dir=None` lets tfds use `TFDS_DATA_DIR` (or its default).
    """
    import tensorflow_datasets as tfds

    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "the tensorflow-datasets default folder"
    try:
        train, test = tfds.load(
            "imdb_reviews",
            split=["train", "test"],
            as_supervised=True,
            data_dir=data_dir,
            download=download,
        )
    except (AssertionError, FileNotFoundError) as error:
        raise SentimentError(
            f"IMDB (imdb_reviews) is not in {where}; set TFDS_DATA_DIR to a folder holding it, "
            f"or run without --no-download so tensorflow-datasets fetches it ({type(error).__name__})"
        ) from None

    def collect(dataset) -> Reviews:
        texts, labels = [], []
        for text_batch, label_batch in dataset.batch(4096).as_numpy_iterator():
            texts.extend(text_batch)
            labels.extend(label_batch)
        return _reviews(texts, labels)

    return collect(train), collect(test)


def load_unlabelled(data_dir: str | None, download: bool, limit: int | None = None) -> np.ndarray:
    """IMDB's 50,000 unlabelled reviews, or its first `limit`, as <object>[n] texts.

    They are tensorflow-datasets' `unsupervised` split.
    """
    import tensorflow_datasets as tfds

    split = "unsupervised" if limit is None else f"unsupervised[:{int(limit)}]"
    try:
        dataset = tfds.load("imdb_reviews", split=split, as_supervised=True, data_dir=data_dir, download=download)
    except (AssertionError, FileNotFoundError) as error:
        raise SentimentError(
            "IMDB's unsupervised split is not in "
            f"{data_dir or os.environ.get('TFDS_DATA_DIR') or 'the default folder'} ({type(error).__name__})"
        ) from None
    texts = [text for batch, _ in dataset.batch(4096).as_numpy_iterator() for text in batch]
    return _reviews(texts, [0] * len(texts)).texts


def load_aclimdb(folder: str | Path) -> tuple[Reviews, Reviews]:
    """Loads a folder laid out like the original aclImdb archive."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SentimentError(f"data folder {folder} does not exist; pass the folder that holds train/ and test/")
    splits = []
    for split in ("train", "test"):
        texts, labels = [], []
        for label, name in enumerate(("neg", "pos")):
            subfolder = folder / split / name
            if not subfolder.is_dir():
                raise SentimentError(
                    f"{subfolder} is missing; an aclImdb folder needs train/pos, train/neg, test/pos and test/neg"
                )
            for path in sorted(subfolder.glob("*.txt")):
                texts.append(path.read_bytes())
                labels.append(label)
        if not texts:
            raise SentimentError(f"{folder / split} holds no .txt reviews")
        splits.append(_reviews(texts, labels))
    return splits[0], splits[1]


def read_csv_rows(path: str | Path) -> dict[str, list[tuple[str, int]]]:
    """Reads a CSV (or .tsv) file of labelled reviews, checking every line.

    Returns:
        Split -> [(text, label)]: "train" and "test" by the optional `split`
        column, "" for rows without one.

    Raises:
        SentimentError: naming the file, the line and the problem.
    """
    rows: dict[str, list] = {"train": [], "test": [], "": []}
    with open_table(path, ("text", "label")) as (header, lines):
        columns = (header.index("text"), header.index("label"), header.index("split") if "split" in header else None)
        for line, row in lines:
            rows.setdefault(_checked_split(row, columns[2], path, line), []).append(
                _checked_row(row, header, columns, path, line)
            )
    return rows


# A byte that is not UTF-8, as `surrogateescape` decoding carries it.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


@contextmanager
def open_table(
    path: str | Path, required: tuple[str, ...], hint: str = ""
) -> Iterator[tuple[list[str], Iterator[tuple[int, list[str]]]]]:
    """Opens a CSV file with a header row (`.tsv`/`.tab`: tab-separated), checking every line as it is read.

    The file must be UTF-8; a byte-order mark (what a spreadsheet's "CSV
    UTF-8" starts with) is skipped. A line that is not UTF-8 is refused by
    number rather than read with its bytes replaced, so a Latin-1 file never
    trains or scores silently altered text.

    Args:
        path: the file.
        required: the (lowercase) columns the header must have.
        hint: appended to the message of a missing column (say how to name another).

    Yields:
        (the header's names, lowercased; (line number, fields) of every
        non-empty line after it, read lazily).

    Raises:
        SentimentError: naming the file, the line and the problem (no file,
            an empty file, a missing column, a malformed line, bytes that are
            not UTF-8).
    """
    path = Path(path)
    if not path.is_file():
        raise SentimentError(f"data file {path} does not exist")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as file:
        reader = csv.reader(file, delimiter=delimiter, strict=True)
        lines = _csv_lines(reader, path)
        try:
            header_line, header = next(lines)
        except StopIteration:
            columns = " and ".join(required) + (" columns" if len(required) > 1 else " column")
            raise SentimentError(f"{path}: the file is empty; expected a header with {columns}") from None
        header = [name.strip().lower() for name in header]
        missing = set(required) - set(header)
        if missing:
            raise SentimentError(
                f"{path}:{header_line}: header has no {' or '.join(sorted(missing))} column "
                f"(found: {', '.join(header)}){hint}"
            )
        yield header, lines


def _csv_lines(reader, path: Path):
    """(line number, fields) of every non-empty row, a malformed or non-UTF-8 one reported with its line."""
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise SentimentError(f"{path}:{reader.line_num}: {error}") from None
        for at, field in enumerate(row):
            bad = _NOT_UTF8.search(field)
            if bad:
                # A quoted field may span lines: count them up to the bad byte.
                line = first_line + sum(f.count("\n") for f in row[:at]) + field[: bad.start()].count("\n")
                raise SentimentError(
                    f"{path}:{line}: not UTF-8 (byte 0x{ord(bad.group()) - 0xDC00:02x}); "
                    'save the file as UTF-8 (a spreadsheet\'s "CSV UTF-8") and run again'
                )
        if row:
            yield reader.line_num, row


def _checked_row(row: list[str], header: list[str], columns: tuple, path: Path, line: int) -> tuple[str, int]:
    if len(row) != len(header):
        raise SentimentError(f"{path}:{line}: expected {len(header)} fields, found {len(row)}")
    label = _LABEL_VALUES.get(row[columns[1]].strip().lower())
    if label is None:
        raise SentimentError(f"{path}:{line}: label {row[columns[1]]!r} is not one of 0/1, neg/pos, negative/positive")
    return row[columns[0]], label


def _checked_split(row: list[str], split_at: int | None, path: Path, line: int) -> str:
    split = row[split_at].strip().lower() if split_at is not None and split_at < len(row) else ""
    if split not in ("train", "test", ""):
        raise SentimentError(f"{path}:{line}: split {row[split_at]!r} is not train or test")
    return split


def load_csv(path: str | Path, test_fraction: float, seed: int) -> tuple[Reviews, Reviews]:
    """Loads a CSV (or .tsv) file with `text` and `label` columns.

    An optional `split` column with values `train`/`test` picks the split;
    without it a seeded `test_fraction` of the rows becomes the test split.
    Labels may be 0/1, neg/pos or negative/positive.
    """
    rows = read_csv_rows(path)
    if rows[""]:
        order = np.random.default_rng(seed).permutation(len(rows[""]))
        test_count = int(round(len(order) * test_fraction))
        rows["test"] = [rows[""][i] for i in order[:test_count]]
        rows["train"] = [rows[""][i] for i in order[test_count:]]
    for split in ("train", "test"):
        if not rows[split]:
            raise SentimentError(f"{path}: no {split} rows; add rows or a split column")
    return tuple(_reviews([t for t, _ in rows[s]], [label for _, label in rows[s]]) for s in ("train", "test"))


def read_labelled(config: DataConfig, split: str) -> Reviews:
    """Every labelled review of one split ("train", "test" or "all") of any source `train` accepts.

    A CSV without a `split` column is all one split ("all"); a streamed
    tfds dataset (`config.dataset`) reads `config.train_split` or
    `config.test_split` (capped by `max_test_samples`).
    """
    if config.dataset is not None:
        return _read_stream(config, split)
    if config.source == "csv":
        rows = read_csv_rows(config.path)
        chosen = [*rows["train"], *rows["test"], *rows[""]] if split == "all" else rows[split]
        if not chosen:
            raise SentimentError(
                f"{config.path}: no {split} rows"
                + ("; it has no split column: use --split all" if not (rows["train"] or rows["test"]) else "")
            )
        return _reviews([text for text, _ in chosen], [label for _, label in chosen])
    train, test = load_tfds(config.path, config.download) if config.source == "tfds" else load_aclimdb(config.path)
    if split == "all":
        return Reviews(np.concatenate([train.texts, test.texts]), np.concatenate([train.labels, test.labels]))
    return train if split == "train" else test


def _read_stream(config: DataConfig, split: str) -> Reviews:
    if split == "all":
        raise SentimentError("a streamed dataset is read one split at a time: --split train or --split test")
    stream = open_stream(config)
    texts, labels = [], []
    for text, label in stream_reviews(stream, split).as_numpy_iterator():
        texts.append(text)
        labels.append(label)
    return _reviews(texts, labels)


def load_splits(config: DataConfig, seed: int) -> Splits:
    """Loads reviews and carves a seeded validation split out of train.

    Args:
        config: where the data is and how much of it to use.
        seed: makes the validation split and the caps deterministic.

    Returns:
        Train, validation and test reviews. Validation comes from the training
        split only.

    Raises:
        SentimentError: the config streams a dataset (`config.dataset`), which
            is read with `open_stream`, never loaded whole.
    """
    if config.dataset is not None:
        raise SentimentError(
            f"{config.dataset} is streamed from disk, not loaded into memory; read it with open_stream"
        )
    if config.source == "tfds":
        train, test = load_tfds(config.path, config.download)
    elif config.source == "aclimdb":
        train, test = load_aclimdb(config.path)
    else:
        train, test = load_csv(config.path, config.test_fraction, seed)

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    if config.max_train_samples is not None:
        order = order[: config.max_train_samples]
    validation_count = max(1, int(round(len(order) * config.validation_fraction)))
    if validation_count >= len(order):
        raise SentimentError(f"only {len(order)} training reviews: too few to hold out a validation split")
    validation, train = train.take(order[:validation_count]), train.take(order[validation_count:])
    if config.max_test_samples is not None and config.max_test_samples < len(test):
        test = test.take(np.sort(rng.permutation(len(test))[: config.max_test_samples]))
    return Splits(train=train, validation=validation, test=test)


# Reviews shuffled together while streaming the training split (on top of
# tfds's own file shuffling): enough to mix labels, small next to millions.
STREAM_SHUFFLE_BUFFER = 10_000


@dataclass(frozen=True)
class Stream:
    """A tensorflow-datasets dataset, opened but not read.

    Attributes:
        builder: the tfds builder, prepared on disk.
        class_names: the label feature's class names, in id order.
        splits: "train", "validation", "test" -> the tfds split it reads,
            e.g. "train[2500:25000]".
        counts: "train", "validation", "test" -> number of examples.
    """

    config: DataConfig
    builder: object
    class_names: tuple[str, ...]
    splits: dict[str, str]
    counts: dict[str, int]


def open_stream(config: DataConfig) -> Stream:
    """Opens `config.dataset` and fixes the three splits, reading no example.

    Validation is the first `validation_fraction` of the (capped) training
    split: tfds shuffled the examples when it wrote the dataset, so the head
    of a split is a random sample of it, and slicing by index needs no pass
    over the data.

    Raises:
        SentimentError: the dataset is missing (and not to be downloaded),
            or lacks the text or label feature, or a split.
    """
    import tensorflow_datasets as tfds

    where = config.path or os.environ.get("TFDS_DATA_DIR") or "the tensorflow-datasets default folder"
    try:
        builder = tfds.builder(config.dataset, data_dir=config.path)
    except Exception as error:  # tfds raises DatasetNotFoundError, ValueError, ... for unknown names
        raise SentimentError(
            f"tensorflow-datasets has no dataset {config.dataset!r} (in {where} or registered): "
            f"{str(error).splitlines()[0]}"
        ) from None
    if not builder.is_prepared():
        if not config.download:
            raise SentimentError(
                f"{config.dataset} is not in {where}; set TFDS_DATA_DIR to a folder holding it, "
                "or run without --no-download"
            )
        builder.download_and_prepare()
    features = builder.info.features
    for flag, key in (("--text-key", config.text_key), ("--label-key", config.label_key)):
        if key not in features:
            raise SentimentError(
                f"{config.dataset} has no feature {key!r} ({flag}); "
                f"its features are {', '.join(sorted(features.keys()))}"
            )
    label_feature = features[config.label_key]
    if not isinstance(label_feature, tfds.features.ClassLabel) or label_feature.num_classes < 2:
        raise SentimentError(
            f"{config.dataset} feature {config.label_key!r} is not a class label with two or more classes"
        )

    available = builder.info.splits
    for flag, split in (("--train-split", config.train_split), ("--test-split", config.test_split)):
        if split not in available:
            raise SentimentError(
                f"{config.dataset} has no split {split!r} ({flag}); its splits are {', '.join(available.keys())}"
            )
    train_count = available[config.train_split].num_examples
    if config.max_train_samples is not None:
        train_count = min(train_count, config.max_train_samples)
    validation_count = max(1, int(round(train_count * config.validation_fraction)))
    if validation_count >= train_count:
        raise SentimentError(f"only {train_count} training examples: too few to hold out a validation split")
    test_count = available[config.test_split].num_examples
    if config.max_test_samples is not None:
        test_count = min(test_count, config.max_test_samples)
    return Stream(
        config=config,
        builder=builder,
        class_names=tuple(label_feature.names),
        splits={
            "train": f"{config.train_split}[{validation_count}:{train_count}]",
            "validation": f"{config.train_split}[:{validation_count}]",
            "test": f"{config.test_split}[:{test_count}]",
        },
        counts={"train": train_count - validation_count, "validation": validation_count, "test": test_count},
    )


def stream_reviews(stream: Stream, split: str, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """(<string>[] text, <int32>[] label) read from disk, one example at a time.

    Args:
        stream: from `open_stream`.
        split: "train", "validation" or "test".
        shuffle_seed: shuffle the files and a window of
            `STREAM_SHUFFLE_BUFFER` examples, differently each epoch but the
            same on every worker; None keeps the stored order.
    """
    import tensorflow_datasets as tfds

    read_config = tfds.ReadConfig(shuffle_seed=shuffle_seed, try_autocache=False)
    dataset = stream.builder.as_dataset(
        split=stream.splits[split], shuffle_files=shuffle_seed is not None, read_config=read_config
    )
    text_key, label_key = stream.config.text_key, stream.config.label_key
    dataset = dataset.map(lambda example: (example[text_key], tf.cast(example[label_key], tf.int32)))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(STREAM_SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset
