"""Markdown tables from the metrics the pipeline wrote.

`docs/RESULTS.md` is `artifacts/summary.md` copied as written by the CLI, so
every figure in it comes from a run, with the command and machine beside it.
"""

from __future__ import annotations

from typing import Any

from sentiment.config import AFTER_THE_LSTM, SOLVERS, DataConfig, ModelConfig, TrainConfig, to_dict
from sentiment.io.provenance import machine_line

CELL_NAMES = {
    "simple_rnn": "SimpleRNN",
    "lstm": "LSTM",
    "gru": "GRU",
    # After the LSTM (sentiment.config.AFTER_THE_LSTM): Feng et al.'s and Vaswani et al.'s spellings.
    "mingru": "minGRU",
    "minlstm": "minLSTM",
    "transformer": "Transformer",
}


# The references and the plain RNN's best case, by key.
OTHER_NAMES = {"irnn": "IRNN", "bow": "Bag of n-grams (reference)", "conv1d": "Conv1D (parallel)"}
# How the models after the LSTM are marked where they appear beside the cells,
# as the bag of n-grams is marked as the reference (`marked_name`).
AFTER_THE_LSTM_MARK = "after the LSTM"


def model_name(cell_type: str) -> str:
    """How a cell type is written for readers: "lstm" -> "LSTM".

    A variant "cell+init" (the long-range benchmark's gate initializations)
    reads "LSTM (chrono init)"; "cell+solver" (minGRU's and minLSTM's two
    solvers, `sentiment.config.SOLVERS`) reads "minGRU (loop solver)".
    """
    cell, _, variant = cell_type.partition("+")
    name = {**CELL_NAMES, **OTHER_NAMES}.get(cell, cell)
    if not variant:
        return name
    return f"{name} ({variant} {'solver' if variant in SOLVERS else 'init'})"


def marked_name(cell_type: str) -> str:
    """`model_name`, marked for a model after the LSTM where it stands beside the cells.

    "minGRU (after the LSTM)", "minGRU (chrono init, after the LSTM)",
    "Transformer (after the LSTM)": the way "Bag of n-grams (reference)"
    marks the reference, so the three cells stay the comparison. Every
    other model reads as `model_name` writes it.
    """
    cell, _, variant = cell_type.partition("+")
    if cell not in AFTER_THE_LSTM:
        return model_name(cell_type)
    note = model_name(cell_type).removeprefix(model_name(cell)).strip(" ()")
    return f"{model_name(cell)} ({note + ', ' if note else ''}{AFTER_THE_LSTM_MARK})"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def interval_text(entry: dict[str, Any]) -> str:
    if not entry["count"]:
        return "n/a (0 reviews)"
    return f"{_percent(entry['accuracy'])} [{_percent(entry['ci_low'])}, {_percent(entry['ci_high'])}]"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table; cells are already formatted strings."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _distribution_lines(distribution: dict[str, Any] | None) -> list[str]:
    """How the training was spread: strategy, replicas and the batch per step."""
    if not distribution:
        return []
    return [
        "",
        f"Distribution: {distribution['strategy']} strategy, "
        f"{distribution['replicas']} replica(s) on {distribution['workers']} worker(s); "
        f"batch {distribution['batch_size_per_replica']} per replica, {distribution['global_batch_size']} per step.",
    ]


def summary_markdown(summary: dict[str, Any], heading: str = "Results", after: dict[str, Any] | None = None) -> str:
    """Renders summary.json as Markdown: the settings, then test figures overall, by length, by truncation.

    The models after the LSTM (`sentiment.config.AFTER_THE_LSTM`) get a
    section of their own below the cells' table, and are marked in the
    tables by length (`marked_name`).

    Args:
        summary: a run's summary.json.
        heading: the page's title.
        after: another run's summary.json whose models after the LSTM join
            this page (`python -m sentiment results` joins its "imdb_next"
            source to docs/imdb/), with that run's command, date and machine and any
            setting it had differently. A model this run has is not taken
            from it. None: this run's own only.
    """
    models = summary["models"]
    if not models and not (after and after["models"]):
        return f"# {heading}\n\nNo model has finished training yet.\n"
    joined = _joined_after(summary, after)
    if not models:  # only another run's rows: that run is the page
        return summary_markdown(after, heading)
    dataset = summary["run"]["data"].get("dataset")
    parts = [
        f"# {heading}: {' vs '.join(model_name(cell).split(' (')[0] for cell in models)} on {dataset or 'IMDB'}",
        "",
        f"Produced by `{summary['command']}` on {summary['written_at']}.",
        "",
        f"Machine: {machine_line(summary['machine'])}.",
        "",
        _settings_line(summary["run"]),
        *_distribution_lines(next(iter(models.values())).get("distribution")),
        "",
        "## Test set",
        "",
        *_reference_lines(models),
        *_teacher_lines(models),
        *_compared_table(models),
        _cost_line(summary),  # this run's: another run's rows after the LSTM say what they cost in their table
        "",
        *_after_lines(summary, after, joined),
        "## Accuracy by review length (words), 95% Wilson intervals",
        "",
        _length_table({**models, **joined}),
        "",
        *_truncation_lines({**models, **joined}),
    ]
    return "\n".join(parts)


def _compared_table(models: dict[str, Any]) -> list[str]:
    """The test table of the cells and the reference (the models after the LSTM have their own)."""
    compared = {cell: metrics for cell, metrics in models.items() if cell not in AFTER_THE_LSTM}
    return [_test_table(compared), ""] if compared else []


def _joined_after(summary: dict[str, Any], after: dict[str, Any] | None) -> dict[str, Any]:
    """The models after the LSTM that `after` adds to `summary` (those `summary` lacks), in their order."""
    if not after:
        return {}
    return {
        cell: metrics
        for cell, metrics in after["models"].items()
        if cell in AFTER_THE_LSTM and cell not in summary["models"]
    }


def _after_lines(summary: dict[str, Any], after: dict[str, Any] | None, joined: dict[str, Any]) -> list[str]:
    """The models after the LSTM: what they are, where their rows come from, and their test table."""
    own = {cell: metrics for cell, metrics in summary["models"].items() if cell in AFTER_THE_LSTM}
    rows = {**own, **joined}
    if not rows:
        return []
    lines = [
        "### After the LSTM",
        "",
        f"{listing([model_name(cell) for cell in rows])} came after the LSTM and are not part of the comparison of "
        "the cells: they answer the plain RNN's third limit, steps that cannot run in parallel "
        "(`sentiment/cells.py`). minGRU and minLSTM (Feng et al. 2024) compute their gates from the word alone, so "
        "their recurrence is linear and a parallel scan solves it in ceil(log2 T) steps; the Transformer "
        "(Vaswani et al. 2017) has no recurrence, and with no final state to read it reads the mean of its "
        "outputs over the words. Built by the same builder from the same settings"
        + (f"; minGRU and minLSTM solved by {_solver_words(summary['run'])}." if _has_recurrence(rows) else "."),
        "",
    ]
    if joined:
        changes = _config_changes(summary["run"], after["run"])
        lines += [
            f"The rows of {listing([model_name(cell) for cell in joined])} come from another run: "
            f"`{after['command']}` on {after['written_at']} ({machine_line(after['machine'])}); "
            + (f"its settings differ from the run above in {changes}." if changes else "with the same settings."),
            "",
        ]
    return [*lines, _test_table(rows), ""]


def _has_recurrence(models: dict[str, Any]) -> bool:
    return any(cell in ("mingru", "minlstm") for cell in models)


def _solver_words(run: dict[str, Any]) -> str:
    solver = run["model"].get("solver", ModelConfig().solver)
    return "a parallel scan (`--solver scan`)" if solver == "scan" else "a loop of T steps (`--solver loop`)"


def listing(names: list[str], conjunction: str = "and") -> str:
    """ "A", "A and B", "A, B and C" (or another conjunction: "A, B or C")."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def _reference_lines(models: dict[str, Any]) -> list[str]:
    if "bow" not in models:
        return []
    return [
        "The bag of n-grams is the non-recurrent reference: "
        "NB-weighted logistic regression on the word unigrams and bigrams a review "
        "contains (`sentiment/training/baseline.py`), on the same training split, "
        "its regularization chosen on the same validation "
        "split. It reads every word of a review (no truncation), in no order.",
        "",
    ]


def _settings_line(run: dict[str, Any]) -> str:
    data, model, train = run["data"], run["model"], run["train"]
    source = f"{data['dataset']} (streamed)" if data.get("dataset") else data["source"]
    return (
        f"Data: {source}, vocabulary {data['vocabulary_size']}, "
        f"sequence length {data['sequence_length']} tokens (truncation side: {data['truncation_side']}). "
        f"Model: embedding {model['embedding_dim']}, {model['units']} units, {model['num_layers']} layer(s), "
        f"bidirectional {model['bidirectional']}, "
        f"pooling {model['pooling']}, embedding init {model.get('pretrained_vectors') or 'random'}, "
        f"word dropout {model['word_dropout_rate']}, dropout {model['dropout_rate']}. "
        f"Training: batch {train['batch_size']}, at most {train['epochs']} epochs, "
        f"Adam {train['learning_rate']} (x{train['learning_rate_decay']} per epoch), "
        f"best epoch and early stopping by {train['monitor']} (patience {train['patience']}), seed {train['seed']}."
        + (f" Teacher: {_teacher_words(train)}." if train.get("teacher") else "")
        + (
            f" Adversarial training: {_adversarial_words(train['adversarial_epsilon'])}."
            if train.get("adversarial_epsilon")
            else ""
        )
    )


def _adversarial_words(epsilon: float) -> str:
    return (
        f"each step also trains on its batch with every review's embedded words moved by {epsilon} "
        "(L2 norm per review) "
        "along the loss's gradient (Miyato, Dai & Goodfellow 2017)"
    )


def _teacher_words(train: dict[str, Any]) -> str:
    reviews = (
        "IMDB's 50,000 unlabelled reviews"
        if train.get("teacher_reviews") is None
        else f"the first {train['teacher_reviews']:,} of IMDB's unlabelled reviews"
    )
    return (
        f"the recurrent models also train on {reviews}, "
        f"with the P(positive) of a bag of word n-grams up to {train['teacher_ngram_max']}-grams "
        "(NB-weighted logistic regression fitted on the same training split, saved in `teacher/`) "
        "as soft targets"
    )


def _teacher_lines(models: dict[str, Any]) -> list[str]:
    record = next((m["teacher"] for m in models.values() if m.get("teacher")), None)
    if record is None:
        return []
    return [
        f"The teacher (n-grams up to {record['teacher_ngram_max']}) "
        f"scored {_percent(record['teacher_test_accuracy'])} on the test set; it labelled "
        f"{record['reviews']:,} unlabelled reviews ({_percent(record['positive_share'])} of them positive), "
        "which the recurrent models trained on "
        f"beside the {record['labelled_train_samples']:,} labelled ones. "
        "What the models are is unchanged: only their training data grew.",
        "",
    ]


def _test_table(models: dict[str, Any]) -> str:
    header = [
        "model",
        "test accuracy [95% CI]",
        "test loss",
        "test reviews",
        "parameters",
        "epochs (best)",
        "training time",
        "train samples/s",
    ]
    rows = [
        [
            model_name(cell),
            interval_text(m["test"]),
            f"{m['test']['loss']:.4f}",
            f"{m['test']['count']:,}",
            f"{m['parameters']:,}",
            f"{m['epochs_run']} ({m['best_epoch']})",
            f"{m['training_seconds']:.0f} s",
            f"{m['train_samples_per_second']:.0f}",
        ]
        for cell, m in models.items()
    ]
    return markdown_table(header, rows)


def _cost_line(summary: dict[str, Any]) -> str:
    line = f"Training time, all models: {sum(m['training_seconds'] for m in summary['models'].values()) / 60:.1f} min"
    if summary.get("wall_seconds") is not None:
        line += (
            "; wall time of the command (loading, vectorizing and evaluating included): "
            f"{summary['wall_seconds'] / 60:.1f} min"
        )
    if summary.get("load_average"):
        line += f"; load average at the end (1/5/15 min): {', '.join(map(str, summary['load_average']))}"
    return line + "."


def _length_table(models: dict[str, Any]) -> str:
    first = next(iter(models.values()))["test"]["by_length"]
    rows = [
        [bucket["bucket"], f"{bucket['count']:,}", *(interval_text(m["test"]["by_length"][i]) for m in models.values())]
        for i, bucket in enumerate(first)
    ]
    return markdown_table(["words", "reviews", *map(marked_name, models)], rows)


def _truncation_lines(models: dict[str, Any]) -> list[str]:
    first = next(iter(models.values()))["test"]["by_truncation"]
    rows = [
        [label, f"{first[key]['count']:,}", *(interval_text(m["test"]["by_truncation"][key]) for m in models.values())]
        for key, label in (("not_truncated", "not truncated"), ("truncated", "truncated"))
    ]
    return [
        f"## Truncated (more than {first['sequence_length']} words) vs not truncated",
        "",
        markdown_table(["reviews", "count", *map(marked_name, models)], rows),
        "",
    ]


def ablation_markdown(
    summaries: dict[str, dict[str, Any]], reference: str, cell: str = "lstm", reference_is: str = ""
) -> str:
    """What each change bought: one row per run of `cell`, against the run named `reference`.

    Args:
        summaries: run name -> its summary.json; every run trains `cell` with
            the same seed and data, each changing something of the reference.
        reference: the name of the unchanged run.
        cell: the model compared.
        reference_is: a sentence on what the reference is, put first.

    Returns:
        Markdown: a table of the runs, what each changed (read from the
        configs the runs recorded, not from their names), the test accuracy
        with its 95% interval, the change from the reference, the best
        validation accuracy and the training time.
    """
    base = summaries[reference]
    rows = [
        "| run | what differs from the reference | test accuracy [95% CI] | vs reference "
        "| best validation | training time |",
        "|---|---|---|---|---|---|",
    ]
    base_accuracy = base["models"][cell]["test"]["accuracy"]
    for name, summary in summaries.items():
        metrics = summary["models"][cell]
        test = metrics["test"]
        changes = _config_changes(base["run"], summary["run"]) or "nothing (the reference)"
        delta = 100 * (test["accuracy"] - base_accuracy)
        rows.append(
            f"| `{name}` | {changes} "
            f"| {100 * test['accuracy']:.2f}% [{100 * test['ci_low']:.2f}, {100 * test['ci_high']:.2f}] "
            f"| {delta:+.2f} points | {100 * metrics['best_monitor_value']:.2f}% "
            f"| {metrics['training_seconds'] / 60:.1f} min |"
        )
    commands = sorted({summary["command"] for summary in summaries.values()})
    return "\n".join(
        [
            f"# What each change of the strong preset bought ({model_name(cell)})",
            "",
            (f"{reference_is} " if reference_is else "")
            + f"Each run trains the {model_name(cell)} on the reference's data; "
            "the second column lists every setting it recorded differently "
            "from the reference (a run made before a setting existed had that setting's default). "
            "The intervals are 95% Wilson "
            f"intervals over the {base['models'][cell]['test']['count']:,} test reviews, "
            "so a difference inside both intervals is not one we can claim. "
            "A run whose only change is `seed` is the reference again with other starting weights, "
            "shuffling and validation split (so also another nine tenths to train on): "
            "how far it lands from the reference is the scale for every other row.",
            "",
            *rows,
            "",
            "Produced by: "
            + "; ".join(f"`{command}`" for command in commands)
            + f" (from {min(s['written_at'] for s in summaries.values())} "
            f"to {max(s['written_at'] for s in summaries.values())}; {machine_line(base['machine'])}).",
        ]
    )


def _config_changes(base: dict[str, Any], run: dict[str, Any]) -> str:
    """The settings `run` recorded differently from `base`, as "field: old → new"."""
    changes = []
    for part, defaults in (
        ("data", to_dict(DataConfig())),
        ("model", to_dict(ModelConfig())),
        ("train", to_dict(TrainConfig())),
    ):
        # A field a run predates reads as its default (it did not exist, so the run had it at that).
        old, new = {**defaults, **base[part]}, {**defaults, **run[part]}
        for key, value in new.items():
            if key != "cell_type" and old.get(key) != value:
                changes.append(f"{key}: {old.get(key)} → {value}")
    return ", ".join(changes)
