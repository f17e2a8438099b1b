"""Shared fixtures: tiny data and tiny trained artifacts, built once per session.

Unit tests use a 20-word synthetic review language, `units=4` and
`sequence_length=8`, so TensorFlow's graph building, not training, is most of
their cost. Tests marked `imdb` read the real IMDB data from `TFDS_DATA_DIR`
(defaulting to ../shared/tensorflow_datasets beside the checkout) and never
download.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_SHARED_TFDS = ROOT.parent / "shared" / "tensorflow_datasets"
if "TFDS_DATA_DIR" not in os.environ and _SHARED_TFDS.is_dir():
    os.environ["TFDS_DATA_DIR"] = str(_SHARED_TFDS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

POSITIVE_WORDS = ["great", "good", "love", "excellent", "wonderful"]
NEGATIVE_WORDS = ["bad", "awful", "boring", "terrible", "hate"]
NEUTRAL_WORDS = ["the", "movie", "plot", "actor", "film", "story", "was", "and", "it", "this"]

# The tests on real IMDB: skipped where the data is not in TFDS_DATA_DIR (never downloaded).
NEEDS_IMDB = pytest.mark.skipif(
    not os.path.isdir(os.path.join(os.environ.get("TFDS_DATA_DIR", "/nonexistent"), "imdb_reviews")),
    reason="IMDB is not in TFDS_DATA_DIR",
)


def make_reviews(count: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """Synthetic reviews whose label is which sentiment word comes last."""
    return _texts_with_one_key_word(count, seed, (NEGATIVE_WORDS, POSITIVE_WORDS), ".<br /><br />")


def _texts_with_one_key_word(
    count: int, seed: int, key_words: tuple[list[str], ...], ending: str
) -> tuple[list[str], list[int]]:
    """Neutral words around one word of `key_words[label]`; the label is drawn per text."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(count):
        words = list(rng.choice(NEUTRAL_WORDS, size=rng.integers(2, 7)))
        label = int(rng.integers(0, len(key_words)))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(key_words[label])))
        texts.append(" ".join(words).capitalize() + ending)
        labels.append(label)
    return texts, labels


def write_csv(path: Path, texts: list[str], labels: list[int], splits: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"] + (["split"] if splits else []))
        for index, (text, label) in enumerate(zip(texts, labels)):
            writer.writerow([text, label] + ([splits[index]] if splits else []))
    return path


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    texts, labels = make_reviews(400)
    splits = ["train"] * 320 + ["test"] * 80
    return write_csv(tmp_path_factory.mktemp("data") / "reviews.csv", texts, labels, splits)


def tiny_configs(csv_path: Path, **train_overrides):
    from sentiment.config import DataConfig, ModelConfig, TrainConfig

    return (
        DataConfig(source="csv", path=str(csv_path), vocabulary_size=30, sequence_length=8),
        ModelConfig(embedding_dim=4, units=4, word_dropout_rate=0.0, dropout_rate=0.0),
        TrainConfig(**{"batch_size": 32, "epochs": 4, "learning_rate": 0.02, **train_overrides}),
    )


@pytest.fixture(scope="session")
def tiny_artifacts(tiny_csv, tmp_path_factory) -> Path:
    """An artifacts folder with all three cell types trained on the tiny CSV."""
    from sentiment.training.train import train_models

    output = tmp_path_factory.mktemp("artifacts")
    train_models(*tiny_configs(tiny_csv), output=output, verbose=0, log=lambda message: None)
    return output


@pytest.fixture(scope="session")
def tiny_strong_artifacts(tiny_csv, tmp_path_factory) -> Path:
    """The strong preset's architecture at the tiny size, LSTM and GRU, trained.

    Bidirectional, max+mean pooling, PPMI-SVD vectors.
    """
    from dataclasses import replace

    from sentiment.config import PRESETS
    from sentiment.training.train import train_models

    data_config, model_config, train_config = tiny_configs(tiny_csv)
    strong = PRESETS["strong"].model
    model_config = replace(
        model_config,
        bidirectional=strong.bidirectional,
        pooling=strong.pooling,
        pretrained_vectors=strong.pretrained_vectors,
    )
    output = tmp_path_factory.mktemp("strong-artifacts")
    train_models(
        data_config,
        model_config,
        train_config,
        cell_types=("lstm", "gru"),
        output=output,
        verbose=0,
        log=lambda message: None,
    )
    return output


@pytest.fixture(scope="session")
def tiny_export(tiny_artifacts, tmp_path_factory) -> Path:
    """An export folder of the three tiny models, version 1 each: `<root>/<cell>/1/`."""
    from sentiment.serving.export import export_model

    root = tmp_path_factory.mktemp("export")
    for cell in ("simple_rnn", "lstm", "gru"):
        export_model(tiny_artifacts / cell, root / cell)
    return root


def run_cli(*args: str, timeout: float = 600, **kwargs):
    """Runs `python -m sentiment ARGS` in a subprocess from the project root."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "sentiment", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


TOPIC_NAMES = ("world", "sports", "business", "science")
TOPIC_WORDS = (
    ["war", "election", "nation"],
    ["goal", "match", "coach"],
    ["market", "stock", "profit"],
    ["space", "atom", "physics"],
)


def make_news(count: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """Synthetic 4-class articles: the class is the topic of the one topic word."""
    return _texts_with_one_key_word(count, seed, TOPIC_WORDS, ".")


def write_tfds_dataset(data_dir: Path, name: str, splits: dict[str, int], seed: int = 0) -> Path:
    """Writes `make_news` articles as a real tensorflow-datasets dataset on disk.

    Features `description` (text) and `topic` (4-class label), like
    `ag_news_subset`; any process can read it back with
    `tfds.builder(name, data_dir=data_dir)`, as it would a downloaded one.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict(
        {"description": tfds.features.Text(), "topic": tfds.features.ClassLabel(names=list(TOPIC_NAMES))}
    )
    examples = {}
    for index, (split, count) in enumerate(splits.items()):
        texts, labels = make_news(count, seed + index)
        examples[split] = tf.data.Dataset.from_tensor_slices({"description": texts, "topic": labels})
    tfds.dataset_builders.store_as_tfds_dataset(name, "1.0.0", features, examples, data_dir=str(data_dir))
    return data_dir


@pytest.fixture(scope="session")
def tiny_news_dir(tmp_path_factory) -> Path:
    """A TFDS_DATA_DIR holding `tiny_news`: 4 classes, 400 train and 100 test articles."""
    return write_tfds_dataset(tmp_path_factory.mktemp("tfds"), "tiny_news", {"train": 400, "test": 100})


def tiny_news_configs(data_dir: Path, **train_overrides):
    """`tiny_configs`, streaming `tiny_news` instead of reading the CSV."""
    from sentiment.config import DataConfig

    _, model_config, train_config = tiny_configs(Path("unused.csv"), **train_overrides)
    data_config = DataConfig(
        dataset="tiny_news",
        path=str(data_dir),
        download=False,
        text_key="description",
        label_key="topic",
        vocabulary_size=30,
        sequence_length=8,
    )
    return data_config, model_config, train_config


@pytest.fixture(scope="session")
def tiny_news_artifacts(tiny_news_dir, tmp_path_factory) -> Path:
    """A 4-class LSTM artifact, streamed from `tiny_news` and trained on one device.

    A constant learning rate: halving it each epoch stalls the 4-unit LSTM
    before it has learned the topic words.
    """
    from sentiment.training.train import train_models

    output = tmp_path_factory.mktemp("news_artifacts")
    train_models(
        *tiny_news_configs(tiny_news_dir, epochs=6, patience=6, learning_rate=0.05, learning_rate_decay=1.0),
        cell_types=("lstm",),
        output=output,
        verbose=0,
        log=lambda message: None,
    )
    return output


# Rows of docs/RELIABILITY.md: the `reliability` fixture and the hooks that
# mark each row with its test's outcome (see tests/reliability_log.py).
from reliability_log import pytest_runtest_makereport, pytest_sessionfinish, reliability  # noqa: E402, F401


@pytest.fixture(scope="session")
def quick_artifacts(tmp_path_factory) -> Path:
    """The README's quick preset, trained through the CLI (or QUICK_ARTIFACTS, already trained).

    Trained once per session and shared by every browser test on the quick
    preset (tests/test_tour.py and the tests of the app's interactive tabs).
    """
    if os.environ.get("QUICK_ARTIFACTS"):
        return Path(os.environ["QUICK_ARTIFACTS"])
    output = tmp_path_factory.mktemp("quick")
    result = run_cli("train", "--preset", "quick", "--no-download", "--output", str(output), timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    return output


@pytest.fixture(scope="session")
def quick_app(quick_artifacts, tmp_path_factory):
    """The app on the quick preset, one process for the session: its URL."""
    from test_app import _start_app, _stop_app

    process, url = _start_app(quick_artifacts, tmp_path_factory.mktemp("tour") / "app.log")
    yield url
    _stop_app(process)


@pytest.fixture(scope="session")
def tiny_after_artifacts(tiny_csv, tmp_path_factory) -> Path:
    """minGRU, minLSTM and the transformer trained on the tiny CSV, as `train --cells mingru,minlstm,transformer` does.

    The models after the LSTM as a run of their own, as the project keeps them beside a run of the cells
    (`webapp.views.NEXT_FOLDER`).
    """
    from sentiment.config import AFTER_THE_LSTM
    from sentiment.training.train import train_models

    output = tmp_path_factory.mktemp("after-artifacts")
    train_models(*tiny_configs(tiny_csv), cell_types=AFTER_THE_LSTM, output=output, verbose=0, log=lambda message: None)
    return output
