"""Trained models on your own labelled reviews: `python -m sentiment evaluate`.

Any labelled source `train` accepts (the IMDB split of tensorflow-datasets,
any streamed tfds dataset, an aclImdb folder, a CSV/TSV file) is scored by
every artifact of a folder, the bag-of-n-grams reference included, with the
figures training writes: accuracy with its 95% Wilson interval, log loss,
accuracy by review length and truncated vs not, and a confusion matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sentiment import data, evaluate
from sentiment.config import BASELINE
from sentiment.errors import SentimentError
from sentiment.io import files, provenance

BATCH = 256
# What `write_evaluation` writes in its folder (the CLI checks they can be written before scoring).
EVALUATION_FILES = ("evaluation.json", "evaluation.md")


class _Scorer:
    """P(positive) of texts for one artifact: a recurrent model's Predictor, or the bag of n-grams."""

    def __init__(self, folder: Path, cell: str):
        if cell == BASELINE:
            from sentiment.training.baseline import BagOfNgrams

            model = BagOfNgrams.load(folder)
            self.score, self.sequence_length = model.probabilities, None
        else:
            from sentiment.serving.predict import Predictor

            predictor = Predictor.from_folder(folder)
            self.score, self.sequence_length = predictor.predict, predictor.sequence_length


def score_all(scorer: _Scorer, texts: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """<float64>[n] P(positive), in batches (`progress(count)` after each)."""
    parts = []
    for start in range(0, len(texts), BATCH):
        parts.append(np.asarray(scorer.score(list(texts[start : start + BATCH])), np.float64).reshape(-1))
        if progress:
            progress(len(parts[-1]))
    return np.concatenate(parts) if parts else np.zeros(0)


def confusion(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """Counts of true/false positives/negatives at P(positive) >= 0.5."""
    predicted, actual = np.asarray(probabilities) >= 0.5, np.asarray(labels) == 1
    return {
        "true_negative": int((~predicted & ~actual).sum()),
        "false_positive": int((predicted & ~actual).sum()),
        "false_negative": int((~predicted & actual).sum()),
        "true_positive": int((predicted & actual).sum()),
    }


def paired_counts(model_right: np.ndarray, reference_right: np.ndarray) -> dict[str, Any]:
    """A model and the reference on the same reviews: who is right where they differ, and the exact McNemar p-value."""
    only_model, only_reference = (
        int(np.sum(model_right & ~reference_right)),
        int(np.sum(~model_right & reference_right)),
    )
    return {
        "only_model_right": only_model,
        "only_reference_right": only_reference,
        "p_value": evaluate.mcnemar_p_value(only_model, only_reference),
    }


def evaluate_artifacts(
    folder: str | Path,
    cells: Sequence[str],
    reviews: data.Reviews,
    source: str,
    command: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Scores `reviews` with each artifact in `folder`; JSON-ready.

    Returns:
        `source` (what was read), `reviews`, `positive_share`, `command`,
        `machine`, `written_at` and per model its metrics (as in
        metrics.json's `test`), `confusion` and, when the bag-of-n-grams
        reference is among the models, `vs_reference` (`paired_counts`).
    """
    from tqdm import tqdm

    if len(reviews) == 0:
        raise SentimentError(f"{source} holds no labelled reviews")
    folder = Path(folder)
    word_counts = data.count_words(reviews.texts)
    models: dict[str, Any] = {}
    right: dict[str, np.ndarray] = {}
    for cell in cells:
        scorer = _Scorer(folder / cell, cell)
        with tqdm(total=len(reviews), unit="review", desc=cell, disable=not progress, dynamic_ncols=True) as bar:
            probabilities = score_all(scorer, reviews.texts, bar.update)
        sequence_length = scorer.sequence_length or int(word_counts.max(initial=1))  # the reference reads every word
        models[cell] = {
            **evaluate.evaluate_predictions(probabilities, reviews.labels, word_counts, sequence_length),
            "confusion": confusion(probabilities, reviews.labels),
        }
        right[cell] = (probabilities >= 0.5) == (reviews.labels == 1)
    for cell in right:
        if BASELINE in right and cell != BASELINE:
            models[cell]["vs_reference"] = paired_counts(right[cell], right[BASELINE])
    return {
        "source": source,
        "artifacts": str(folder),
        "reviews": len(reviews),
        "positive_share": float(np.mean(reviews.labels == 1)),
        "command": command,
        "machine": provenance.machine(),
        "written_at": provenance.utc_now(),
        "models": models,
    }


def evaluation_markdown(result: dict[str, Any]) -> str:
    """The page: overall, confusion matrices, by length."""
    from sentiment.report import interval_text, markdown_table, model_name

    models = result["models"]
    overall = [
        [model_name(cell), interval_text(m), f"{m['loss']:.4f}", f"{m['count']:,}"] for cell, m in models.items()
    ]
    matrix = [
        [
            model_name(cell),
            f"{c['true_negative']:,}",
            f"{c['false_positive']:,}",
            f"{c['false_negative']:,}",
            f"{c['true_positive']:,}",
        ]
        for cell, c in ((cell, m["confusion"]) for cell, m in models.items())
    ]
    first = next(iter(models.values()))["by_length"]
    by_length = [
        [bucket["bucket"], f"{bucket['count']:,}", *(interval_text(m["by_length"][i]) for m in models.values())]
        for i, bucket in enumerate(first)
    ]
    return "\n".join(
        [
            f"# Evaluation on {result['source']}",
            "",
            f"Produced by `{result['command']}` on {result['written_at']}: the artifacts in `{result['artifacts']}` on "
            f"{result['reviews']:,} labelled reviews ({100 * result['positive_share']:.1f}% positive).",
            "",
            f"Machine: {provenance.machine_line(result['machine'])}.",
            "",
            "## Accuracy [95% Wilson interval]",
            "",
            markdown_table(["model", "accuracy [95% CI]", "log loss", "reviews"], overall),
            "",
            "## Confusion matrix (at P(positive) >= 0.5)",
            "",
            markdown_table(
                [
                    "model",
                    "negative, called negative",
                    "negative, called positive",
                    "positive, called negative",
                    "positive, called positive",
                ],
                matrix,
            ),
            "",
            "## Accuracy by review length (words)",
            "",
            markdown_table(["words", "reviews", *map(model_name, models)], by_length),
            "",
            *_paired_section(models),
        ]
    )


def _paired_section(models: dict[str, Any]) -> list[str]:
    """Each model against the reference, review by review; nothing when the reference was not scored."""
    from sentiment.report import markdown_table, model_name

    rows = [
        [
            model_name(cell),
            f"{m['vs_reference']['only_model_right']:,}",
            f"{m['vs_reference']['only_reference_right']:,}",
            f"{m['vs_reference']['p_value']:.2g}",
        ]
        for cell, m in models.items()
        if "vs_reference" in m
    ]
    if not rows:
        return []
    return [
        "## Against the reference, review by review (exact McNemar test)",
        "",
        "Where a model and the bag-of-n-grams reference disagree, exactly one of them is right. "
        "If the two were equally good, each such review would go either way with probability 1/2; "
        "the p-value (two-sided) is how likely a split at least this uneven would then be. "
        "Pairing the reviews finds differences that two overlapping intervals can hide.",
        "",
        markdown_table(
            ["model", "right where the reference is wrong", "wrong where the reference is right", "p-value"], rows
        ),
        "",
    ]


def write_evaluation(result: dict[str, Any], output: str | Path) -> dict[str, Path]:
    """Writes evaluation.json and evaluation.md, each atomically."""
    output = Path(output)
    paths = {"json": output / EVALUATION_FILES[0], "markdown": output / EVALUATION_FILES[1]}
    files.write_json(paths["json"], result)
    files.write_text(paths["markdown"], evaluation_markdown(result))
    return paths
