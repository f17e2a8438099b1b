"""The non-recurrent reference: a linear model on a bag of word n-grams.

NB-weighted logistic regression (the NBSVM family, Wang & Manning 2012): each
review is the set of word unigrams and bigrams it contains (binary), each
n-gram is scaled by its Naive Bayes log-count ratio
r = log((1 + count in positive reviews) / |.|) − log((1 + count in negative) / |.|),
and scikit-learn's logistic regression is fitted on that. Its regularization
is chosen on the validation split the recurrent models use; the test split
is touched only for the final evaluation.

Trained, the model is a weight per n-gram and a bias:
P(positive) = sigmoid(b + Σ w_g over the n-grams g present). That is what the
artifact stores (the n-grams as text, the weights in NumPy's .npz), so
loading it runs no pickle. The text is standardized by the project's own
`sentiment.data.standardize_text` (markup stripped, lowercased, punctuation
removed), so it reads the same words as the recurrent models, all of them
(no truncation).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sentiment import data, evaluate
from sentiment.config import ARTIFACT_FORMAT_VERSION, BASELINE, BaselineConfig, DataConfig, to_dict
from sentiment.errors import SentimentError
from sentiment.io import artifacts, files, provenance

WEIGHTS_FILE = "weights.npz"
NGRAMS_FILE = "ngrams.txt"
BASELINE_FILES = (NGRAMS_FILE, WEIGHTS_FILE, artifacts.CONFIG_FILE, artifacts.METRICS_FILE, artifacts.HISTORY_FILE)


def standardized(texts: Sequence[str] | np.ndarray, batch_size: int = 4096) -> list[str]:
    """The project's standardization (`data.standardize_text`) of many texts, as Python strings."""
    out: list[str] = []
    for start in range(0, len(texts), batch_size):
        out += [
            text.decode("utf-8")
            for text in data.standardize_text(data.text_tensor(texts[start : start + batch_size])).numpy()
        ]
    return out


def _vectorizer(config: BaselineConfig, vocabulary: Sequence[str] | None = None):
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        binary=True,
        ngram_range=(1, config.ngram_max),
        token_pattern=r"\S+",
        lowercase=False,
        min_df=config.min_df if vocabulary is None else 1,
        vocabulary=list(vocabulary) if vocabulary is not None else None,
        dtype=np.float32,
    )


@dataclass
class BagOfNgrams:
    """A trained bag-of-n-grams model: P(positive) = sigmoid(bias + Σ weights of the n-grams present)."""

    ngrams: list[str]
    weights: np.ndarray
    bias: float
    config: BaselineConfig

    def __post_init__(self):
        self._vectorizer = _vectorizer(self.config, self.ngrams)

    def probabilities(self, texts: Sequence[str] | np.ndarray) -> np.ndarray:
        """<float64>[n] P(positive) of raw review texts."""
        if len(texts) == 0:
            return np.zeros(0)
        features = self._vectorizer.transform(standardized(texts))
        return 1.0 / (1.0 + np.exp(-(features @ self.weights + self.bias)))

    def save(self, folder: Path) -> None:
        files.write_text(folder / NGRAMS_FILE, "\n".join(self.ngrams) + "\n")  # an n-gram never holds a newline
        with files.atomic_path(folder / WEIGHTS_FILE) as temporary:
            np.savez(temporary, weights=self.weights.astype(np.float32), bias=np.float64(self.bias))

    @classmethod
    def load(cls, folder: str | Path) -> BagOfNgrams:
        """Loads a verified baseline artifact folder (checksums, format version); no pickle."""
        folder = Path(folder)
        if not folder.is_dir():
            raise SentimentError(
                f"baseline folder {folder} does not exist; "
                f"train it with: python -m sentiment train --cells {BASELINE} --output {folder.parent}"
            )
        artifacts.verify_manifest(folder)
        stored = files.read_json(folder / artifacts.CONFIG_FILE)
        artifacts.check_format_version(stored.get("format_version"), folder)
        from sentiment.config import from_dict

        with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as arrays:
            weights, bias = arrays["weights"].astype(np.float64), float(arrays["bias"])
        ngrams = (folder / NGRAMS_FILE).read_text(encoding="utf-8").split("\n")[:-1]
        return cls(ngrams, weights, bias, from_dict(BaselineConfig, stored["baseline"]))


def fit(
    splits: data.Splits, config: BaselineConfig, log: Callable[[str], None] = print, name: str = BASELINE
) -> tuple[BagOfNgrams, dict[str, Any]]:
    """Fits the NB-weighted logistic regression; picks its C by validation accuracy (logged as `[name]`).

    Returns:
        The model and its history: each C tried with its validation accuracy, the C chosen.
    """
    from sklearn.linear_model import LogisticRegression

    vectorizer = _vectorizer(config)
    features = vectorizer.fit_transform(standardized(splits.train.texts))
    labels = splits.train.labels
    positive = np.asarray(features[labels == 1].sum(axis=0)).ravel() + config.nb_alpha
    negative = np.asarray(features[labels == 0].sum(axis=0)).ravel() + config.nb_alpha
    ratio = np.log(positive / positive.sum()) - np.log(negative / negative.sum())
    scaled = features.multiply(ratio).tocsr()
    validation = vectorizer.transform(standardized(splits.validation.texts)).multiply(ratio).tocsr()
    tried = []
    for c in config.c_grid:
        model = LogisticRegression(C=c, solver="liblinear", max_iter=1000).fit(scaled, labels)
        tried.append(
            {
                "C": c,
                "val_accuracy": float((model.predict(validation) == splits.validation.labels).mean()),
                "model": model,
            }
        )
        log(f"[{name}] C = {c}: validation accuracy {tried[-1]['val_accuracy']:.4f}")
    best = max(tried, key=lambda entry: entry["val_accuracy"])  # the first of equals: the strongest regularization
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    model = BagOfNgrams(vocabulary, ratio * best["model"].coef_[0], float(best["model"].intercept_[0]), config)
    history = {
        "C": [entry["C"] for entry in tried],
        "val_accuracy": [entry["val_accuracy"] for entry in tried],
        "chosen_C": best["C"],
    }
    return model, history


def train_and_write(
    splits: data.Splits,
    data_config: DataConfig,
    config: BaselineConfig,
    folder: Path,
    log: Callable[[str], None] = print,
    name: str = BASELINE,
) -> dict[str, Any]:
    """Fits the baseline, evaluates it on the test split like the recurrent models, and writes its artifact folder."""
    started = time.perf_counter()
    model, history = fit(splits, config, log, name)
    training_seconds = time.perf_counter() - started
    start = time.perf_counter()
    probabilities = model.probabilities(splits.test.texts)
    inference_seconds = time.perf_counter() - start
    metrics = {
        "cell_type": BASELINE,
        "test": evaluate.evaluate_predictions(
            probabilities, splits.test.labels, data.count_words(splits.test.texts), data_config.sequence_length
        ),
        "parameters": int(len(model.weights) + 1),
        "epochs_run": 1,
        "best_epoch": 1,
        "train_samples": len(splits.train),
        "validation_samples": len(splits.validation),
        "training_seconds": training_seconds,
        "train_samples_per_second": len(splits.train) / training_seconds,
        "test_inference_samples_per_second": len(probabilities) / inference_seconds,
        "machine": provenance.machine(),
        "finished_at": provenance.utc_now(),
    }
    model.save(folder)
    files.write_json(
        folder / artifacts.CONFIG_FILE,
        {"format_version": ARTIFACT_FORMAT_VERSION, "data": to_dict(data_config), "baseline": to_dict(config)},
    )
    files.write_json(folder / artifacts.HISTORY_FILE, history)
    files.write_json(folder / artifacts.METRICS_FILE, metrics)
    artifacts.write_manifest(folder, BASELINE_FILES)
    return metrics
