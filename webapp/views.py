"""SimpleRNN, LSTM and GRU side by side: everything the comparison app shows.

`load_models` loads every cell type's artifact folder once and keeps going
when one fails, recording why. `compare` scores one review with each loaded
model and reads it token by token. The `*_frame` functions turn the saved
metrics and histories of the loaded models into tidy pandas DataFrames.
Nothing here imports a UI library; `app.py` lays these out.

The models after the LSTM (minGRU, minLSTM, the Transformer) are loaded too
where the folder holds them, or its `next/` folder (`NEXT_FOLDER`): they are
rows of the accuracy tables, marked as after the LSTM the way the bag of
n-grams is marked as the reference. The Compare tab, the inside view and the
decision plot stay about the three cells, so they never score them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sentiment.config import AFTER_THE_LSTM, BASELINE, CELL_TYPES, LABEL_NAMES
from sentiment.errors import SentimentError
from sentiment.report import marked_name, model_name
from sentiment.serving.predict import Predictor, Reading
from webapp import findings

DEFAULT_ARTIFACTS = "artifacts"
# Where the models after the LSTM are trained beside a run of the cells, as a run of their own (so the
# cells' summary.json keeps its command and date): `python -m sentiment train --cells
# mingru,minlstm,transformer --output artifacts/next`. A model in the folder itself comes first.
NEXT_FOLDER = "next"
# Longer than any IMDB review (the longest has 13,704 characters) and far more
# than the models read; the cap bounds the work one request can cause.
MAX_REVIEW_CHARACTERS = 20_000
EXAMPLES_FILE = Path(__file__).with_name("examples.json")

EMPTY_REVIEW_MESSAGE = "The review is empty: type or paste a review, or pick an example, then compare."

# A token's effect is how much reading it moved P(positive); these bins name it.
STRONG_EFFECT = 0.10
WEAK_EFFECT = 0.02
MUCH_MORE_POSITIVE = "much more positive"
MORE_POSITIVE = "more positive"
MORE_NEGATIVE = "more negative"
MUCH_MORE_NEGATIVE = "much more negative"
UNKNOWN_WORD = "unknown word"
NOT_READ = "not read (cut)"
TOKEN_CATEGORIES = (MUCH_MORE_POSITIVE, MORE_POSITIVE, MORE_NEGATIVE, MUCH_MORE_NEGATIVE, UNKNOWN_WORD, NOT_READ)


def train_command(folder: str | Path) -> str:
    """The exact command that writes the artifacts this app reads from `folder`."""
    if Path(folder) == Path(DEFAULT_ARTIFACTS):
        return "python -m sentiment train"
    return f"python -m sentiment train --output {folder}"


def example_reviews() -> list[dict[str, Any]]:
    """Real IMDB test reviews kept in the repository (see scripts/pick_examples.py).

    Returns:
        Dicts with `name` (short, negation, late flip, long), `why`, `index`
        in the test split, `label`, `words` and `text`.
    """
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))["examples"]


@dataclass(frozen=True)
class LoadedModels:
    """The models of one artifacts folder, loaded once.

    Attributes:
        folder: the artifacts folder.
        predictors: cell type -> Predictor, for those that loaded, in
            `CELL_TYPES` order.
        failures: cell type -> why it did not load (a message a user can act on).
        reference: the bag-of-n-grams reference's metrics, or None.
        after: the models after the LSTM that loaded (`AFTER_THE_LSTM`
            order), from the folder or its `NEXT_FOLDER`: rows of the accuracy
            tables, never scored by the app.
    """

    folder: Path
    predictors: dict[str, Predictor]
    failures: dict[str, str]
    reference: dict[str, Any] | None = None
    after: dict[str, Predictor] = field(default_factory=dict)

    def all_metrics(self) -> dict[str, dict[str, Any]]:
        """Model -> metrics.json of every loaded model: the cells, the reference (if trained), those after the LSTM."""
        metrics = {cell_type: predictor.artifact.metrics for cell_type, predictor in self.predictors.items()}
        if self.reference:
            metrics[BASELINE] = self.reference
        return {**metrics, **{cell_type: predictor.artifact.metrics for cell_type, predictor in self.after.items()}}

    @property
    def nothing_trained(self) -> bool:
        """True when no cell type has even started training in `folder`."""
        return not any((self.folder / cell_type).is_dir() for cell_type in CELL_TYPES)


def load_models(
    folder: str | Path,
    cell_types: tuple[str, ...] = CELL_TYPES,
    warm_up: bool = True,
    after: tuple[str, ...] = AFTER_THE_LSTM,
) -> LoadedModels:
    """Loads every cell type's artifact, recording failures instead of raising.

    Args:
        folder: the artifacts folder written by `python -m sentiment train`.
        cell_types: which models to load.
        warm_up: trace each model's graphs now, so the first request is fast.
        after: which models after the LSTM to load where `after_folder` finds
            them (never warmed up: the app does not score them); one that is
            not there is not a failure.
    """
    folder = Path(folder)
    predictors, failures = {}, {}
    trained_here = [cell_type for cell_type in cell_types if (folder / cell_type).is_dir()]
    for cell_type in (
        trained_here or cell_types
    ):  # a run of some cells only (the strong preset) is not a failure of the others
        predictor = _load_one(folder, folder / cell_type, cell_type, failures)
        if predictor is not None:
            if warm_up:
                predictor.warm_up()
            predictors[cell_type] = predictor
    loaded_after = {}
    for cell_type in after:
        model_folder = after_folder(folder, cell_type)
        if model_folder is not None and (predictor := _load_one(folder, model_folder, cell_type, failures)):
            loaded_after[cell_type] = predictor
    return LoadedModels(folder, predictors, failures, _reference_metrics(folder), loaded_after)


def after_folder(folder: Path, cell_type: str) -> Path | None:
    """Where `folder` holds a model after the LSTM: `<folder>/<cell>`, else `<folder>/next/<cell>`, else None."""
    for candidate in (folder / cell_type, folder / NEXT_FOLDER / cell_type):
        if candidate.is_dir():
            return candidate
    return None


def _load_one(folder: Path, model_folder: Path, cell_type: str, failures: dict[str, str]) -> Predictor | None:
    """The Predictor of one artifact, checked; None (with the reason in `failures`) when it cannot serve the app."""
    try:
        predictor = Predictor.from_folder(model_folder)
        if predictor.cell_type != cell_type:
            raise SentimentError(f"{model_folder} holds a {predictor.cell_type} model, not {cell_type}")
        problem = saved_figures_problem(predictor.artifact.metrics, predictor.artifact.history)
        if problem:
            raise SentimentError(f"{model_folder}: {problem}; retrain it with {train_command(folder)}")
        return predictor
    except SentimentError as error:
        failures[cell_type] = str(error)
    except Exception as error:  # a damaged file can fail in many ways; one model must not stop the app
        failures[cell_type] = f"{model_folder} could not be loaded: {type(error).__name__}: {error}"
    return None


def _reference_metrics(folder: Path) -> dict[str, Any] | None:
    """The bag-of-n-grams reference's verified metrics.json, or None (not trained, not intact, or not of its shape)."""
    from sentiment.io import artifacts, files

    try:
        artifacts.verify_manifest(folder / BASELINE)
        metrics = files.read_json(folder / BASELINE / artifacts.METRICS_FILE)
    except SentimentError:
        return None
    return None if saved_figures_problem(metrics, {}) else metrics


_METRICS_NUMBERS = ("parameters", "epochs_run", "best_epoch", "training_seconds", "train_samples_per_second")
_TEST_NUMBERS = ("accuracy", "ci_low", "ci_high", "count")
_BUCKET_NUMBERS = ("accuracy", "ci_low", "ci_high")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def saved_figures_problem(metrics: Any, history: Any) -> str | None:
    """Why a model's metrics.json or history.json cannot fill the app's tables and plots, or None.

    Valid JSON of another shape (`{}`, `[]`, a string where a number goes)
    would otherwise stop the app at start, in whichever table reads it
    first; `load_models` drops that model instead, with this reason.
    """
    test = metrics.get("test") if isinstance(metrics, dict) else None
    if not isinstance(test, dict):
        return 'metrics.json has no test figures (a JSON object with a "test" object)'
    missing = [name for name in _METRICS_NUMBERS if not _is_number(metrics.get(name))]
    missing += [f"test.{name}" for name in _TEST_NUMBERS if not _is_number(test.get(name))]
    buckets = test.get("by_length")
    if not isinstance(buckets, list) or not all(
        isinstance(bucket, dict)
        and isinstance(bucket.get("bucket"), str)
        and _is_number(bucket.get("count"))
        and (not bucket["count"] or all(_is_number(bucket.get(name)) for name in _BUCKET_NUMBERS))
        for bucket in buckets
    ):
        missing.append("test.by_length (a list of buckets)")
    if missing:
        return f"metrics.json lacks {', '.join(missing)} or holds them in another form"
    if not isinstance(history, dict) or not all(
        isinstance(values, list) and all(_is_number(value) for value in values) for values in history.values()
    ):
        return "history.json is not an object of metric -> list of numbers"
    return None


@dataclass(frozen=True)
class ModelResult:
    """One model's answer for one review.

    Attributes:
        cell_type: "simple_rnn", "lstm" or "gru".
        reading: the words and P(positive) after each token.
        seconds: wall time of this model, vectorization included, for the
            batch of reviews this one was scored with (see `Comparison.batch`).
    """

    cell_type: str
    reading: Reading
    seconds: float

    @property
    def probability(self) -> float:
        return self.reading.probability

    @property
    def label(self) -> str:
        return LABEL_NAMES[int(self.probability >= 0.5)]


@dataclass(frozen=True)
class Comparison:
    """The three models on one review.

    Attributes:
        text: the text that was scored (cut to `MAX_REVIEW_CHARACTERS`).
        characters: length of the text as received.
        results: cell type -> result, for the loaded models; empty when the
            review was empty or no model is loaded.
        notices: sentences for the user about the input (empty, cut, not
            fully read, no words).
        batch: how many reviews were scored in the same forward pass as
            this one (itself included; 0 when it was not scored).
    """

    text: str
    characters: int
    results: dict[str, ModelResult]
    notices: list[str] = field(default_factory=list)
    batch: int = 1

    @property
    def cut(self) -> bool:
        return self.characters > len(self.text)


def compare(models: LoadedModels, text: str | None) -> Comparison:
    """Scores one review with every loaded model (`compare_many` of one)."""
    return compare_many(models, [text])[0]


def compare_many(models: LoadedModels, texts: Sequence[str | None]) -> list[Comparison]:
    """Scores reviews that arrived together: one forward pass per model for all of them.

    Args:
        models: from `load_models`.
        texts: the reviews as typed or sent to the API; any strings (None
            counts as empty).

    Returns:
        One comparison per text, in order, each equal (to float32 rounding)
        to scoring that review alone. Empty or whitespace-only texts hold no
        results and say so; they cost no model time. Each model's `seconds`
        is its time for the whole batch, and `batch` says how many reviews
        shared it.
    """
    bounded, scored = bounded_batch(models, texts)
    readings: dict[str, list[Reading]] = {}
    seconds: dict[str, float] = {}
    for cell_type, predictor in models.predictors.items():
        start = time.perf_counter()
        readings[cell_type] = predictor.read_many([bounded[index][0] for index in scored]) if scored else []
        seconds[cell_type] = time.perf_counter() - start
    comparisons = [
        Comparison(text, characters, {}, notices, len(scored) if text else 0) for text, characters, notices in bounded
    ]
    for position, index in enumerate(scored):
        comparison = comparisons[index]
        for cell_type in readings:
            comparison.results[cell_type] = ModelResult(cell_type, readings[cell_type][position], seconds[cell_type])
        if comparison.results:
            comparison.notices.extend(_reading_notices(next(iter(comparison.results.values())).reading))
        if len(scored) > 1:
            comparison.notices.append(
                f"Scored in one batch with {len(scored) - 1} other review(s) sent at the same moment; each model's "
                "time is for the whole batch."
            )
    return comparisons


def bounded_batch(
    models: LoadedModels, texts: Sequence[str | None]
) -> tuple[list[tuple[str, int, list[str]]], list[int]]:
    """Each text cut as `_bounded_text` cuts it for these models, and the indices of those left to score (not blank)."""
    keep_end = _reads_the_end(models)
    bounded = [_bounded_text(text, keep_end) for text in texts]
    return bounded, [index for index, (text, _, _) in enumerate(bounded) if text]


def _bounded_text(text: str | None, keep_end: bool = True) -> tuple[str, int, list[str]]:
    """The text a request may cost: cut to `MAX_REVIEW_CHARACTERS`.

    Args:
        text: as typed or sent.
        keep_end: keep the last characters (the models read the end of a long
            review, `truncation_side="left"`) rather than the first.

    Returns:
        The text to score ("" when there is nothing to score), its original
        length in characters, and what to tell the user about it.
    """
    text = "" if text is None else str(text)
    characters = len(text)
    if not text.strip():
        return "", characters, [EMPTY_REVIEW_MESSAGE]
    if characters <= MAX_REVIEW_CHARACTERS:
        return text, characters, []
    text = text[-MAX_REVIEW_CHARACTERS:] if keep_end else text[:MAX_REVIEW_CHARACTERS]
    side = "last" if keep_end else "first"
    return (
        text,
        characters,
        [
            f"The review was cut to its {side} {MAX_REVIEW_CHARACTERS:,} characters (it had {characters:,}) before "
            "scoring."
        ],
    )


def _reads_the_end(models: LoadedModels) -> bool:
    """Whether the loaded models keep the end of a long review (the default)."""
    return all(predictor.artifact.config.data.truncation_side == "left" for predictor in models.predictors.values())


def _reading_notices(reading: Reading) -> list[str]:
    words, read = len(reading.words), reading.read_stop - reading.read_start
    if words == 0:
        return ["No words are left once markup and punctuation are removed; the models score it as one unknown word."]
    if read < words:
        where = "last" if reading.read_start > 0 else "first"
        return [
            f"The review has {words:,} words; the models read only the {where} {read:,}, the rest is marked as not "
            "read."
        ]
    return []


# --- The compare answer's tables ------------------------------------------
#
# Built as plain rows: under a classroom's load the app answers dozens of
# compares a second on one Python thread, and a pandas DataFrame per answer
# (then turned back into rows by the components) cost more than the models.

RESULT_COLUMNS = ("model", "P(positive)", "label", "time (ms)")
TRAJECTORY_COLUMNS = ("model", "token", "word", "P(positive)")
# P(positive) in the answer: a float32's noise digits would double its size.
TRAJECTORY_DECIMALS = 6
# How a plot reads each trajectory column (Gradio's native plots' data types).
TRAJECTORY_DATATYPES = {"model": "nominal", "token": "quantitative", "word": "nominal", "P(positive)": "quantitative"}


def result_rows(models: LoadedModels, comparison: Comparison) -> list[list]:
    """One row per cell type (`RESULT_COLUMNS`): P(positive), label and milliseconds, or why it is missing."""
    rows = []
    for cell_type in CELL_TYPES:
        result = comparison.results.get(cell_type)
        if result is not None:
            rows.append(
                [model_name(cell_type), round(result.probability, 4), result.label, round(1000 * result.seconds, 1)]
            )
        elif cell_type in models.failures:
            rows.append([model_name(cell_type), None, "not loaded", None])
    return rows


def results_frame(models: LoadedModels, comparison: Comparison) -> pd.DataFrame:
    """`result_rows` as a DataFrame."""
    return pd.DataFrame(result_rows(models, comparison), columns=list(RESULT_COLUMNS))


def trajectory_rows(comparison: Comparison) -> list[list]:
    """P(positive) after each token, long format (`TRAJECTORY_COLUMNS`): model, token, word, P(positive).

    `token` counts the words read, from 1; `word` is "[UNK]" for the single
    unknown token a review without words is read as.
    """
    rows = []
    for cell_type, result in comparison.results.items():
        reading, name = result.reading, model_name(cell_type)
        words = list(reading.words[reading.read_start : reading.read_stop]) or ["[UNK]"]
        probabilities = np.round(reading.trajectory.astype(np.float64), TRAJECTORY_DECIMALS).tolist()
        rows += [
            [name, token, word, probability]
            for token, (word, probability) in enumerate(zip(words, probabilities), start=1)
        ]
    return rows


def trajectory_frame(comparison: Comparison) -> pd.DataFrame:
    """`trajectory_rows` as a DataFrame (typed columns, also when no model answered)."""
    rows = trajectory_rows(comparison)
    columns = {name: [row[index] for row in rows] for index, name in enumerate(TRAJECTORY_COLUMNS)}
    dtypes = {"model": str, "token": int, "word": str, "P(positive)": float}
    return pd.DataFrame({name: pd.Series(values, dtype=dtypes[name]) for name, values in columns.items()})


def effect_category(effect: float, known: bool) -> str | None:
    """The bin a read token falls in; None for one that barely moved the model."""
    if not known:
        return UNKNOWN_WORD
    if effect >= STRONG_EFFECT:
        return MUCH_MORE_POSITIVE
    if effect >= WEAK_EFFECT:
        return MORE_POSITIVE
    if effect <= -STRONG_EFFECT:
        return MUCH_MORE_NEGATIVE
    if effect <= -WEAK_EFFECT:
        return MORE_NEGATIVE
    return None


def effect_categories(effects: np.ndarray, known: np.ndarray) -> list[str | None]:
    """`effect_category` of each token at once (the compare answer bins every word it read)."""
    effects, known = np.asarray(effects, np.float64), np.asarray(known, bool)
    categories = np.full(len(effects), None, dtype=object)
    for category, chosen in (
        (MORE_POSITIVE, effects >= WEAK_EFFECT),
        (MUCH_MORE_POSITIVE, effects >= STRONG_EFFECT),
        (MORE_NEGATIVE, effects <= -WEAK_EFFECT),
        (MUCH_MORE_NEGATIVE, effects <= -STRONG_EFFECT),
        (UNKNOWN_WORD, ~known),
    ):
        categories[chosen] = category  # later rules win, as in effect_category
    return categories.tolist()


def token_effects(reading: Reading) -> list[tuple[str, str | None]]:
    """The review's words with their category, in order, separated by spaces.

    Words the model did not read (cut by the sequence length) form one
    `NOT_READ` span; read words are binned by `effect_category`. Words that
    barely moved the model and the spaces between words are plain text, and
    a run of them is one span: what the page shows is the same, and the
    answer is a fraction of the size (it is sent and walked once per request).
    """
    unread_before = reading.words[: reading.read_start]
    unread_after = reading.words[reading.read_stop :]
    pieces = [(" ".join(unread_before), NOT_READ)] if unread_before else []
    pieces += zip(
        reading.words[reading.read_start : reading.read_stop], effect_categories(reading.effects, reading.known)
    )
    pieces += [(" ".join(unread_after), NOT_READ)] if unread_after else []
    spans: list[tuple[str, str | None]] = []
    plain = ""  # the plain text since the last highlighted span
    for index, (text, category) in enumerate(pieces):
        if index:
            plain += " "
        if category is None:
            plain += text
            continue
        if plain:
            spans.append((plain, None))
            plain = ""
        spans.append((text, category))
    if plain:
        spans.append((plain, None))
    return spans


def overall_frame(models: LoadedModels) -> pd.DataFrame:
    """The test-set table: accuracy with its 95% CI and the cost of each model."""
    rows = []
    for cell_type, metrics in models.all_metrics().items():
        test = metrics["test"]
        rows.append(
            {
                "model": marked_name(cell_type),
                "test accuracy": round(test["accuracy"], 4),
                "95% CI": f"[{test['ci_low']:.4f}, {test['ci_high']:.4f}]",
                "test reviews": test["count"],
                "parameters": metrics["parameters"],
                "epochs (best)": f"{metrics['epochs_run']} ({metrics['best_epoch']})",
                "training time (s)": round(metrics["training_seconds"], 1),
                "train samples/s": round(metrics["train_samples_per_second"], 1),
            }
        )
    columns = [
        "model",
        "test accuracy",
        "95% CI",
        "test reviews",
        "parameters",
        "epochs (best)",
        "training time (s)",
        "train samples/s",
    ]
    return pd.DataFrame(rows, columns=columns)


def length_frame(models: LoadedModels) -> pd.DataFrame:
    """Accuracy per review-length bucket, long format.

    Columns: model (the models after the LSTM marked so: `marked_name`),
    words (the bucket, e.g. "100-199"), accuracy, ci_low, ci_high (95%
    Wilson interval), reviews (test reviews in the bucket). Empty buckets
    have no accuracy and are left out.
    """
    rows = [
        {
            "model": marked_name(cell_type),
            "words": bucket["bucket"],
            "accuracy": bucket["accuracy"],
            "ci_low": bucket["ci_low"],
            "ci_high": bucket["ci_high"],
            "reviews": bucket["count"],
        }
        for cell_type, metrics in models.all_metrics().items()
        for bucket in metrics["test"]["by_length"]
        if bucket["count"]
    ]
    return pd.DataFrame(rows, columns=["model", "words", "accuracy", "ci_low", "ci_high", "reviews"])


def length_buckets(models: LoadedModels) -> list[str]:
    """The bucket labels in ascending length, as the metrics list them."""
    for metrics in models.all_metrics().values():
        return [bucket["bucket"] for bucket in metrics["test"]["by_length"]]
    return []


def history_frame(models: LoadedModels) -> pd.DataFrame:
    """Training curves, long format: model, epoch, split (train/validation), accuracy, loss."""
    rows = []
    for cell_type, predictor in models.predictors.items():
        history = predictor.artifact.history
        for split, prefix in (("train", ""), ("validation", "val_")):
            for epoch, (accuracy, loss) in enumerate(
                zip(history.get(f"{prefix}accuracy", []), history.get(f"{prefix}loss", [])), start=1
            ):
                rows.append(
                    {"model": model_name(cell_type), "epoch": epoch, "split": split, "accuracy": accuracy, "loss": loss}
                )
    return pd.DataFrame(rows, columns=["model", "epoch", "split", "accuracy", "loss"])


# --- Why gates matter: what each decision depends on -----------------------

# Written into the artifacts folder by `python -m sentiment gradients`.
GRADIENTS_FILE = "gradients.json"
_DECISION_COLUMNS = ["model", "steps before the end", "log10 share", "word"]


def review_decision_frame(models: LoadedModels, text: str | None) -> tuple[list[str], pd.DataFrame]:
    """What each model's decision on one review depends on (`review_decision_frames` of one)."""
    return review_decision_frames(models, [text])[0]


def review_decision_frames(models: LoadedModels, texts: Sequence[str | None]) -> list[tuple[list[str], pd.DataFrame]]:
    """What each model's decision on each review depends on, word by word; one gradient pass per model for all of them.

    For every loaded model, the norm of d(loss)/d(embedded word) at each word
    as a share of the review's total (`gradients.share_per_review`), by its
    distance from the final token (0 = the last word read), as log10. The
    loss target is the model's own decision.

    Returns:
        Per text: notices for the user, and a DataFrame with columns model,
        "steps before the end", "log10 share", word.
    """
    from sentiment.analysis.gradients import FLOAT32_TINY, review_gradient_norms_many

    bounded, scored = bounded_batch(models, texts)
    frames: list[list[pd.DataFrame]] = [[] for _ in texts]
    for cell_type, predictor in models.predictors.items():
        try:
            results = (
                review_gradient_norms_many(predictor.artifact, [bounded[index][0] for index in scored])
                if scored
                else []
            )
        except SentimentError as error:  # a model the replay from its embedded words cannot run (or reproduce)
            for index in scored:
                bounded[index][2].append(f"{model_name(cell_type)} is left out of this plot: {error}.")
            continue
        for index, result in zip(scored, results):
            shares = np.maximum(np.asarray(result["share_by_distance"], np.float64), FLOAT32_TINY)
            frames[index].append(
                pd.DataFrame(
                    {
                        "model": model_name(cell_type),
                        "steps before the end": np.arange(len(shares)),
                        "log10 share": np.log10(shares),
                        "word": result["tokens"][::-1],
                    }
                )
            )
    return [
        (
            notices,
            pd.concat(review_frames, ignore_index=True) if review_frames else pd.DataFrame(columns=_DECISION_COLUMNS),
        )
        for (_, _, notices), review_frames in zip(bounded, frames)
    ]


# --- What the events answer, and the plot data of the tabs ------------------


def _escape(text: str) -> str:
    """Markdown-escapes a message so paths and reasons show as written."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~])", r"\\\1", text)


def public_train_command(models: LoadedModels) -> str:
    """`train_command` for the page: the folder by its name only (the server log has the full path)."""
    return train_command(Path(models.folder.name or "."))


def status_markdown(models: LoadedModels) -> str:
    """What is loaded, what failed, and how to train what is missing.

    Anyone who can open the page reads it, so it names the artifacts folder
    by its name only and says which models failed in general terms; the
    reasons, with their paths, go to the server log (`webapp.server`).
    """
    folder = _escape(models.folder.name or ".")
    command = public_train_command(models)
    if not models.predictors:
        lines = [f"**No trained models could be loaded from {folder}.** Train them with:"]
        lines += ["", f"```\n{command}\n```", ""]
        lines += ["(add `--preset quick` for a demo in a few minutes), then start the app again."]
        if not models.nothing_trained:
            lines += ["", *_failure_lines(models)]
        return "\n".join(lines)
    loaded = ", ".join(model_name(cell_type) for cell_type in models.predictors)
    first = next(iter(models.predictors.values()))
    side = "last" if first.artifact.config.data.truncation_side == "left" else "first"
    lines = [
        f"Loaded from {folder}: **{loaded}**. They read at most the {side} {first.sequence_length} words of a review."
    ]
    if models.after:
        lines[0] += (
            f" After the LSTM, {', '.join(model_name(cell_type) for cell_type in models.after)} "
            f"{'is a row' if len(models.after) == 1 else 'are rows'} of the accuracy tables, not compared here."
        )
    if models.failures:
        lines += [
            "",
            *_failure_lines(models),
            "",
            f"To train what is missing: `{command}` (finished models are kept), then restart the app.",
        ]
    return "\n".join(lines)


def _failure_lines(models: LoadedModels) -> list[str]:
    return [
        f"- **{model_name(cell_type)} is not loaded**: "
        + (
            "its files are missing, incomplete or damaged (the server log says which and why)."
            if (models.folder / cell_type).is_dir() or after_folder(models.folder, cell_type) is not None
            else "it was not trained in this folder."
        )
        for cell_type in models.failures
    ]


def run_comparison(models: LoadedModels, text: str):
    """The compare button for one review: notices, results table, trajectory plot, one token view per model."""
    return _comparison_outputs(models, compare(models, text))


def run_comparisons(models: LoadedModels, texts: list[str]) -> tuple[list, ...]:
    """The compare endpoint, batched: reviews that arrived together, one forward pass per model; a list per output."""
    return by_output([_comparison_outputs(models, comparison) for comparison in compare_many(models, texts)])


def by_output(answers: list[tuple]) -> tuple[list, ...]:
    """Per-request output tuples -> one list per output component, as Gradio's batched functions return."""
    return tuple(list(column) for column in zip(*answers))


def _comparison_outputs(models: LoadedModels, comparison: Comparison) -> tuple:
    notices = list(comparison.notices)
    if not models.predictors:
        notices.append(f"No model is loaded; train them first with `{public_train_command(models)}`.")
    token_views = [
        token_effects(comparison.results[cell_type].reading) if cell_type in comparison.results else None
        for cell_type in CELL_TYPES
    ]
    trajectory = trajectory_rows(comparison)
    return (
        "\n\n".join(notices),
        {"headers": list(RESULT_COLUMNS), "data": result_rows(models, comparison)},
        line_plot_value(trajectory, TRAJECTORY_COLUMNS, TRAJECTORY_DATATYPES),
        *token_views,
        findings.finding_markdown(findings.trajectory_finding(trajectory)),
    )


def line_plot_value(rows: list[list], columns: tuple[str, ...], datatypes: dict[str, str]) -> dict:
    """A line plot's data as `gr.LinePlot.postprocess` makes it from a DataFrame of `rows`, without the DataFrame.

    Native plots pass a dict through as it is; building it from rows saves a
    DataFrame and its JSON round trip per answer (tests check it is the
    same value Gradio makes).
    """
    return {
        "columns": list(columns),
        "data": rows,
        "datatypes": {name: datatypes[name] for name in columns},
        "mark": "line",
    }


def length_chart(models: LoadedModels):
    """Accuracy by review length, a line per model with its 95% intervals as bars (`webapp.charts`)."""
    from webapp import charts

    return charts.line_chart(
        length_frame(models),
        "words",
        "accuracy",
        "model",
        title="Accuracy by review length",
        x_title="review length (words)",
        y_title="test accuracy (95% interval)",
        tooltip=["model", "words", "accuracy", "ci_low", "ci_high", "reviews"],
        x_sort=length_buckets(models),
        interval=("ci_low", "ci_high"),
        height=360,
        points=True,
    )


def length_table(models: LoadedModels) -> pd.DataFrame:
    """Accuracy [95% CI] per bucket and model, with the number of reviews."""
    frame = length_frame(models)
    if not len(frame):
        return pd.DataFrame(columns=["words", "reviews"])
    frame = frame.assign(
        cell=frame.apply(lambda row: f"{row.accuracy:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]", axis=1)
    )
    table = frame.pivot(index="words", columns="model", values="cell")
    counts = frame.groupby("words")["reviews"].first()
    names = [marked_name(cell_type) for cell_type in models.all_metrics()]
    buckets = [bucket for bucket in length_buckets(models) if bucket in table.index]
    return table.assign(reviews=counts).loc[buckets, ["reviews", *names]].reset_index()


def curves_frame(models: LoadedModels) -> pd.DataFrame:
    """Histories with a series per model and split ("LSTM validation"); epochs stay whole numbers."""
    frame = history_frame(models)
    return frame.assign(series=frame["model"] + " " + frame["split"])


def curves_chart(models: LoadedModels, metric: str):
    """`metric` per epoch, validation in each model's colour and train in its tint (`webapp.charts`)."""
    from sentiment import style
    from webapp import charts

    names = [model_name(cell_type) for cell_type in models.predictors]
    series = [f"{name} {split}" for name in names for split in ("validation", "train")]
    colors = {
        f"{name} {split}": style.color_of_name(name) if split == "validation" else style.tint_of_name(name)
        for name in names
        for split in ("validation", "train")
    }
    return charts.line_chart(
        curves_frame(models),
        "epoch",
        metric,
        "series",
        title=f"{metric} per epoch (darker: validation, lighter: train)",
        x_title="epoch",
        y_title=metric,
        names=series,
        colors=colors,
        tooltip=["model", "split", "epoch", metric],
        integer_x=True,
        points=True,
    )


def bucket_counts(models: LoadedModels) -> pd.DataFrame:
    """Test reviews per length bucket (the same for every model)."""
    frame = length_frame(models)
    return frame.groupby("words", sort=False, as_index=False)["reviews"].first()


def decision_flow(models: LoadedModels, text: str):
    """The decision button for one review: notices and the per-word shares for the review in the Compare tab."""
    return _decision_outputs(models, *review_decision_frame(models, text))


def decision_flows(models: LoadedModels, texts: list[str]) -> tuple[list, ...]:
    """The decision endpoint, batched: one gradient pass per model for the reviews that arrived together."""
    return by_output(
        [_decision_outputs(models, notices, frame) for notices, frame in review_decision_frames(models, texts)]
    )


def _decision_outputs(models: LoadedModels, notices: list[str], frame: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    from webapp.findings import finding_markdown, review_decision_finding

    if not models.predictors:
        notices = [*notices, f"No model is loaded; train them first with `{public_train_command(models)}`."]
    return "\n\n".join([*notices, finding_markdown(review_decision_finding(frame))]).strip(), decision_chart(frame)


def decision_chart(frame: pd.DataFrame):
    """One review's gradient shares by distance from the end, a line per model (`webapp.charts`)."""
    from webapp import charts

    return charts.line_chart(
        frame,
        "steps before the end",
        "log10 share",
        "model",
        title="One review (at start: the first example)",
        x_title="steps before the final word (0 = the last word read)",
        y_title="log10 share of the review's gradient",
        tooltip=["model", "word", "steps before the end", "log10 share"],
        integer_x=True,
    )
