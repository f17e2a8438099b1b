"""What the app's "Why gates matter" tab shows: the thesis measurements as tables.

Every frame comes from a results file the CLI wrote: the long-range suite
(`python -m sentiment long-range`), sentiment at a distance (`python -m
sentiment distance`), the gradients of the trained models (`python -m
sentiment gradients`) and the bench's sequential cost (`python -m sentiment
bench`). The measured files ship in docs/, so a fresh clone shows them
before anything is trained; a file of the user's own run, where there is
one, takes precedence, and every panel's note says which run it shows.

Panels 1 to 3 are about the cells (`CELL_VARIANTS`); the models after the
LSTM that the same suite measures (`AFTER_VARIANTS`) are the "What came
next" panel's, beside the cells they are compared with, marked as after the
LSTM (`sentiment.report.marked_name`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sentiment.config import AFTER_THE_LSTM, CELL_TYPES, VARIANTS
from sentiment.report import marked_name, model_name

DOCS = Path(__file__).resolve().parents[1] / "docs"
# Kind -> (the CLI's default output, the shipped file).
RESULT_FILES = {
    "long_range": (Path("long_range") / "long_range.json", DOCS / "long_range" / "long_range.json"),
    "distance": (Path("distance") / "distance.json", DOCS / "distance" / "distance.json"),
    "gradients": (None, DOCS / "gradients" / "gradients.json"),
    "inspect": (None, DOCS / "inspect" / "inspect.json"),
    "bench": (Path("bench") / "bench.json", DOCS / "bench" / "bench.json"),
    # The IMDB run of the models after the LSTM, and of the cells (the app's own folder's come first).
    "imdb_next": (None, DOCS / "imdb_next" / "summary.json"),
    "imdb": (None, DOCS / "imdb" / "summary.json"),
}
COMMANDS = {
    "long_range": "python -m sentiment long-range",
    "distance": "python -m sentiment distance",
    "gradients": "python -m sentiment gradients",
    "inspect": "python -m sentiment inspect",
    "bench": "python -m sentiment bench",
    "imdb_next": "python -m sentiment train --cells mingru,minlstm,transformer --output artifacts/next",
    "imdb": "python -m sentiment train",
}
# The long-range variants of the compared cells (panels 1 to 3), and those after the LSTM ("What came next").
CELL_VARIANTS = tuple(variant for variant, (cell, _) in VARIANTS.items() if cell in CELL_TYPES)
AFTER_VARIANTS = tuple(variant for variant, (cell, _) in VARIANTS.items() if cell in AFTER_THE_LSTM)


def find_results(kind: str, first: str | Path | None = None) -> Path | None:
    """The results file of `kind` to show: `first` if it exists, else the CLI's default output, else the shipped one."""
    default, shipped = RESULT_FILES[kind]
    candidates = [Path(first)] if first is not None else []
    candidates += [path for path in (default, shipped) if path is not None]
    return next((path for path in candidates if path.exists()), None)


def load_results(kind: str, first: str | Path | None = None) -> tuple[dict[str, Any] | None, str]:
    """(the parsed results or None, a Markdown line naming the file and the run that wrote it, or why there is none).

    The line is public: a file outside the project is named by its folder and
    file name, and a file that cannot be read or is not a JSON object is
    shown as no results, with a short reason (what reads it drops its panel).
    """
    path = find_results(kind, first)
    if path is None:
        return None, f"No results yet: run `{COMMANDS[kind]}`."
    shown = _relative(path)
    if Path(shown).is_absolute():
        shown = f"{path.parent.name}/{path.name}"
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        return None, f"The results in {shown} could not be read ({type(error).__name__}: {error.strerror})."
    except ValueError as error:
        return None, f"The results in {shown} could not be read ({type(error).__name__}: {error})."
    if not isinstance(result, dict):
        return None, f"The results in {shown} are not a JSON object; run `{COMMANDS[kind]}` again."
    shipped = path.resolve() == RESULT_FILES[kind][1].resolve()
    when = result.get("started_at") or result.get("written_at") or result.get("date") or "an unknown date"
    origin = "the project's measured run, shipped in docs/" if shipped else "your run"
    return result, f"From {shown} ({origin}: `{result.get('command') or COMMANDS[kind]}`, {when})."


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(DOCS.parent))
    except ValueError:
        return str(path)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


# --- 1. State Jacobians at initialization ------------------------------------

JACOBIAN_COLUMNS = ["model", "distance", "log10 norm"]


def jacobian_frame(
    result: dict[str, Any] | None, task: str = "recall", phase: str = "init", variants: tuple[str, ...] = CELL_VARIANTS
) -> tuple[pd.DataFrame, str]:
    """log10 ‖∂s_T/∂x_t‖ against distance per variant (geometric mean over seeds), and a sentence of shrink factors.

    The sentence names the variant whose norm shrinks least per step: the
    longest memory at this phase, as measured. Only `variants` are read.
    """
    from sentiment.analysis.longrange import jacobian_curves, jacobian_summaries

    if not result:
        return _frame([], JACOBIAN_COLUMNS), ""
    curves = _only(jacobian_curves(result, task, phase), variants)
    summaries = _only(jacobian_summaries(result, task, phase), variants)
    driven_scale = result["config"].get("driven_input_scale")
    if phase == "init":
        for variant, values in _only(jacobian_curves(result, task, "init_driven"), variants).items():
            curves[f"{variant}, inputs × {driven_scale:g}"] = values
    rows = []
    for label, values in curves.items():
        variant, _, note = label.partition(", ")
        mean = np.log10(np.maximum(values, np.finfo(np.float32).tiny)).mean(axis=0)
        name = marked_name(variant) + (f", {note}" if note else "")
        rows += [
            {"model": name, "distance": distance, "log10 norm": float(value)} for distance, value in enumerate(mean)
        ]
    if not summaries:
        return _frame(rows, JACOBIAN_COLUMNS), ""
    measured = {variant: summary for variant, summary in summaries.items() if not summary.get("silent")}
    silent = [marked_name(variant) for variant in summaries if variant not in measured]
    sentences = []
    if measured:
        longest = max(measured, key=lambda variant: measured[variant]["shrink_per_step"])
        factors = ", ".join(
            f"{marked_name(variant)} {summary['shrink_per_step']:.3f}" for variant, summary in measured.items()
        )
        sentences.append(
            f"Per-step shrink factor of the norm ({task} task, "
            f"{'at initialization' if phase == 'init' else 'after training'}): {factors}. "
            f"{marked_name(longest)} keeps the most per step."
        )
    if silent:
        sentences.append(
            f"{', '.join(silent)}: the norm is zero at every distance (its line lies on the floor): no input "
            "reaches the final state, so the model answers the same whatever it reads."
        )
    return _frame(rows, JACOBIAN_COLUMNS), " ".join(sentences)


def _only(by_variant: dict[str, Any], variants: tuple[str, ...]) -> dict[str, Any]:
    """The entries of `variants`, in their order."""
    return {variant: value for variant, value in by_variant.items() if variant in variants}


# --- 2. Variable-lag recall ------------------------------------------------

RECALL_COLUMNS = ["model", "T", "accuracy", "seeds"]


def recall_frame(result: dict[str, Any] | None, variants: tuple[str, ...] = CELL_VARIANTS) -> pd.DataFrame:
    """Held-out accuracy against T (an integer) per variant of `variants` (mean over seeds; each seed as text)."""
    from sentiment.analysis.longrange import run_table

    if not result:
        return _frame([], RECALL_COLUMNS)
    lengths, ran, _, accuracy = run_table(result, "recall")
    rows = [
        {
            "model": marked_name(variant),
            "T": int(length),
            "accuracy": float(np.nanmean(accuracy[i, j])),
            "seeds": ", ".join(f"{100 * v:.1f}%" for v in accuracy[i, j] if np.isfinite(v)),
        }
        for i, length in enumerate(lengths)
        for j, variant in enumerate(ran)
        if variant in variants and np.isfinite(accuracy[i, j]).any()
    ]
    return _frame(rows, RECALL_COLUMNS)


# --- 3. The adding problem ---------------------------------------------------

ADDING_COLUMNS = ["series", "model", "seed", "updates", "log10 MSE"]


def adding_frame(
    result: dict[str, Any] | None, variants: tuple[str, ...] = CELL_VARIANTS
) -> tuple[pd.DataFrame, float | None, int | None]:
    """Held-out MSE against updates at the longest T, a series per (variant, seed); and that T's baseline MSE and T."""
    if not result:
        return _frame([], ADDING_COLUMNS), None, None
    runs = [run for run in result["runs"] if run["task"] == "adding" and run["variant"] in variants]
    if not runs:
        return _frame([], ADDING_COLUMNS), None, None
    longest = max(run["length"] for run in runs)
    rows = []
    for run in (run for run in runs if run["length"] == longest):
        name = marked_name(run["variant"])
        rows += [
            {
                "series": f"{name}, seed {run['seed']}",
                "model": name,
                "seed": run["seed"],
                "updates": update,
                "log10 MSE": float(np.log10(max(value, 1e-12))),
            }
            for update, value in zip(run["updates"], run["scores"])
            if value is not None and np.isfinite(value)
        ]
    baseline = float(np.mean([run["baseline_mse"] for run in runs if run["length"] == longest]))
    return _frame(rows, ADDING_COLUMNS), baseline, longest


# --- 4. Sentiment at a distance ----------------------------------------------

DISTANCE_COLUMNS = ["model", "T", "accuracy", "ci_low", "ci_high", "reviews"]


def distance_frame(result: dict[str, Any] | None, part: str = "disagree") -> pd.DataFrame:
    """Test accuracy against the filler length T per model, where the filler disagrees (or overall)."""
    from sentiment.analysis.distance import accuracy_rows

    if not result:
        return _frame([], DISTANCE_COLUMNS)
    fillers, names, table = accuracy_rows(result, part)
    rows = [
        {
            "model": name,
            "T": int(filler),
            "accuracy": entry["accuracy"],
            "ci_low": entry["ci_low"],
            "ci_high": entry["ci_high"],
            "reviews": entry["count"],
        }
        for filler, row in zip(fillers, table)
        for name, entry in zip(names, row)
        if entry and entry["accuracy"] is not None
    ]
    return _frame(rows, DISTANCE_COLUMNS)


# --- 5. What the decisions of the trained IMDB models depend on ---------------

DECISION_COLUMNS = ["model", "steps before the end", "log10 share", "reviews"]


def decision_frame(result: dict[str, Any] | None, cells: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Each review's gradient norms as shares of its total, geometric mean by distance from the end, per model."""
    if not result:
        return _frame([], DECISION_COLUMNS)
    rows = []
    for cell_type, entry in result["cells"].items():
        if "decision" not in entry or (cells is not None and cell_type not in cells):
            continue
        mean = np.array([np.nan if v is None else v for v in entry["decision"]["geometric_mean"]], np.float64)
        count = np.asarray(entry["decision"]["count"])
        rows += [
            {
                "model": model_name(cell_type),
                "steps before the end": int(d),
                "log10 share": float(np.log10(max(mean[d], 1e-38))),
                "reviews": int(count[d]),
            }
            for d in np.flatnonzero(np.isfinite(mean) & (count > 0))
        ]
    return _frame(rows, DECISION_COLUMNS)


# --- Reference levels drawn as labelled lines ---------------------------------

CHANCE_NAME = "chance (50%)"


def best_constant_name(baseline: float) -> str:
    return f"best constant (MSE {baseline:.3f})"


# --- The measurements that explain the recall result ------------------------

DISTRACTOR_COLUMNS = ["T", "model", "init", "trained"]


def distractor_frame(result: dict[str, Any] | None, variants: tuple[str, ...] = CELL_VARIANTS) -> pd.DataFrame:
    """Per T and variant: the distractor tokens' mean embedding norm over the signal tokens', at init and trained.

    Means over seeds of each run's `embedding_norms` (the long-range suite
    records them on recall). Near 0, a model has silenced the distractors.
    """
    if not result:
        return _frame([], DISTRACTOR_COLUMNS)
    runs = [
        run
        for run in result["runs"]
        if run["task"] == "recall" and run.get("embedding_norms") and run["variant"] in variants
    ]
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["length"], run["variant"]), []).append(run["embedding_norms"])
    rows = [
        {
            "T": int(length),
            "model": marked_name(variant),
            **{
                phase: float(np.mean([norms[phase]["distractor_over_signal"] for norms in found]))
                for phase in ("init", "trained")
            },
        }
        for (length, variant), found in sorted(groups.items(), key=lambda item: item[0][0])
    ]
    return _frame(rows, DISTRACTOR_COLUMNS)


def distractor_table(frame: pd.DataFrame) -> pd.DataFrame:
    """`distractor_frame` as a table to read: a row per T, "init → trained" per model, as percentages."""
    if frame.empty:
        return pd.DataFrame(columns=["T"])
    cells = frame.assign(
        cell=[f"{100 * init:.0f}% → {100 * trained:.0f}%" for init, trained in zip(frame["init"], frame["trained"])]
    )
    order = list(dict.fromkeys(frame["model"]))
    return cells.pivot(index="T", columns="model", values="cell")[order].sort_index().reset_index()


def initial_shrink(
    result: dict[str, Any] | None, task: str = "recall", variants: tuple[str, ...] = CELL_VARIANTS
) -> dict[str, float]:
    """Model name -> its state Jacobian's per-step shrink factor at initialization (mean over seeds)."""
    from sentiment.analysis.longrange import jacobian_summaries

    if not result:
        return {}
    return {
        marked_name(variant): float(summary["shrink_per_step"])
        for variant, summary in _only(jacobian_summaries(result, task, "init"), variants).items()
        if not summary.get("silent")
    }


# --- 6. What came next: the models after the LSTM -----------------------------

# The cells the models after the LSTM are set beside in that panel's sentences (as Keras builds them, and chrono).
COMPARED_VARIANTS = ("lstm", "lstm+chrono", "gru", "gru+chrono")
ASSOCIATIVE_COLUMNS = ["model", "pairs", "accuracy", "seeds", "late gain"]


def associative_frame(result: dict[str, Any] | None) -> tuple[pd.DataFrame, float | None]:
    """Associative recall: held-out accuracy against the number of pairs per variant (mean over seeds), and chance.

    Every variant that ran, the cells and those after the LSTM: associative
    recall is where the literature separates attention from recurrence.
    `late gain` is the accuracy the unsolved seeds gained over the second
    half of the budget (`longrange.late_gains`, mean; NaN where every seed
    solved it): whether a model had stopped learning or ran out of updates.
    """
    from sentiment.analysis.longrange import chance_accuracy, late_gains, run_table

    if not result:
        return _frame([], ASSOCIATIVE_COLUMNS), None
    lengths, variants, _, accuracy = run_table(result, "associative")
    if not lengths:
        return _frame([], ASSOCIATIVE_COLUMNS), None
    gains = late_gains(result, "associative")[2]
    rows = [
        {
            "model": marked_name(variant),
            "pairs": int(length - 1),
            "accuracy": float(np.nanmean(accuracy[i, j])),
            "seeds": ", ".join(f"{100 * v:.1f}%" for v in accuracy[i, j] if np.isfinite(v)),
            "late gain": float(np.nanmean(gains[i, j])) if np.isfinite(gains[i, j]).any() else np.nan,
        }
        for i, length in enumerate(lengths)
        for j, variant in enumerate(variants)
        if np.isfinite(accuracy[i, j]).any()
    ]
    return _frame(rows, ASSOCIATIVE_COLUMNS), chance_accuracy("associative", result["config"])


VERDICT_COLUMNS = ["task", "T", "model", "solved", "runs", "score"]


def verdict_frame(result: dict[str, Any] | None, variants: tuple[str, ...] = COMPARED_VARIANTS + AFTER_VARIANTS):
    """Recall and the adding problem at their longest T: per variant, the seeds that solved it and the mean score.

    Returns:
        Columns task ("recall" or "adding"), T, model (`marked_name`), solved
        and runs (seeds), score (mean held-out accuracy or MSE).
    """
    from sentiment.analysis.longrange import run_table

    rows = []
    for task in ("recall", "adding") if result else ():
        lengths, ran, _, solved_at = run_table(result, task, "solved_at")
        if not lengths:
            continue
        scores = run_table(result, task)[3]
        for j, variant in enumerate(ran):
            runs = solved_at[-1, j][~np.isnan(solved_at[-1, j])]
            if variant in variants and runs.size:
                rows.append(
                    {
                        "task": task,
                        "T": int(lengths[-1]),
                        "model": marked_name(variant),
                        "solved": int(np.isfinite(runs).sum()),
                        "runs": int(runs.size),
                        "score": float(np.nanmean(scores[-1, j])),
                    }
                )
    return _frame(rows, VERDICT_COLUMNS)


COST_COLUMNS = ["model", "T", "log10 ms", "ms", "sequential steps"]


def cost_frame(bench: dict[str, Any] | None, key: str = "train_seconds") -> pd.DataFrame:
    """The bench's sequential cost: log10 ms per training step (`key`) against T, a line per model.

    Lengths a model was not run at (its attention too large for the
    machine) have no row.
    """
    cost = (bench or {}).get("sequential_cost")
    if not cost:
        return _frame([], COST_COLUMNS)
    rows = [
        {
            "model": marked_name(name),
            "T": int(length),
            "log10 ms": float(np.log10(1000 * seconds)),
            "ms": round(1000 * seconds, 2),
            "sequential steps": int(steps),
        }
        for name, entry in cost["models"].items()
        for length, seconds, steps in zip(cost["lengths"], entry[key], entry["sequential_steps"])
        if seconds is not None
    ]
    return _frame(rows, COST_COLUMNS)


IMDB_COLUMNS = ["model", "accuracy", "ci_low", "ci_high", "reviews", "after the LSTM"]


def imdb_frame(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Test accuracy with its 95% interval per model, from metrics.json (or a summary's models), in their order."""
    rows = [
        {
            "model": marked_name(cell),
            "accuracy": entry["test"]["accuracy"],
            "ci_low": entry["test"]["ci_low"],
            "ci_high": entry["test"]["ci_high"],
            "reviews": entry["test"]["count"],
            "after the LSTM": cell in AFTER_THE_LSTM,
        }
        for cell, entry in metrics.items()
    ]
    return _frame(rows, IMDB_COLUMNS)
