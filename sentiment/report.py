"""Markdown tables from the metrics the pipeline wrote.

`docs/RESULTS.md` is `artifacts/summary.md` copied as written by the CLI, so
every figure in it comes from a run, with the command and machine beside it.
"""

from __future__ import annotations

import os
import platform
from typing import Any

CELL_NAMES = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), for the machine line."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages (how busy the machine was), where the OS tells."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def model_name(cell_type: str) -> str:
    """How a cell type is written for readers: "lstm" -> "LSTM".

    A variant "cell+init" (the long-range benchmark's gate initializations)
    reads "LSTM (chrono init)".
    """
    cell, _, init = cell_type.partition("+")
    name = CELL_NAMES.get(cell, cell)
    return f"{name} ({init} init)" if init else name


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _interval(entry: dict[str, Any]) -> str:
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
        f"Distribution: {distribution['strategy']} strategy, {distribution['replicas']} replica(s) on {distribution['workers']} worker(s); "
        f"batch {distribution['batch_size_per_replica']} per replica, {distribution['global_batch_size']} per step.",
    ]


def summary_markdown(summary: dict[str, Any]) -> str:
    """Renders summary.json as Markdown: overall, by length, by truncation."""
    models = summary["models"]
    machine = summary["machine"]
    run = summary["run"]
    if not models:
        return "# Results\n\nNo model has finished training yet.\n"
    names = [model_name(cell) for cell in models]
    dataset = run["data"].get("dataset")
    parts = [
        f"# Results: SimpleRNN vs LSTM vs GRU on {dataset or 'IMDB'}",
        "",
        f"Produced by `{summary['command']}` on {summary['written_at']}.",
        "",
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPU cores, GPUs: {', '.join(machine['gpus']) or 'none'}; "
        f"Python {machine['python']}, TensorFlow {machine['tensorflow']}, Keras {machine['keras']}.",
        "",
        f"Data: {f'{dataset} (streamed)' if dataset else run['data']['source']}, vocabulary {run['data']['vocabulary_size']}, "
        f"sequence length {run['data']['sequence_length']} tokens (truncation side: {run['data']['truncation_side']}). "
        f"Model: embedding {run['model']['embedding_dim']}, {run['model']['units']} units, "
        f"{run['model']['num_layers']} layer(s), bidirectional {run['model']['bidirectional']}, pooling {run['model']['pooling']}, "
        f"word dropout {run['model']['word_dropout_rate']}, dropout {run['model']['dropout_rate']}. Training: batch {run['train']['batch_size']}, at most {run['train']['epochs']} epochs, "
        f"Adam {run['train']['learning_rate']} (x{run['train']['learning_rate_decay']} per epoch), best epoch and early stopping by {run['train']['monitor']} (patience {run['train']['patience']}), seed {run['train']['seed']}.",
        *_distribution_lines(next(iter(models.values())).get("distribution")),
        "",
        "## Test set",
        "",
        markdown_table(
            ["model", "test accuracy [95% CI]", "test loss", "test reviews", "parameters", "epochs (best)", "training time", "train samples/s"],
            [
                [
                    name,
                    _interval(m["test"]),
                    f"{m['test']['loss']:.4f}",
                    f"{m['test']['count']:,}",
                    f"{m['parameters']:,}",
                    f"{m['epochs_run']} ({m['best_epoch']})",
                    f"{m['training_seconds']:.0f} s",
                    f"{m['train_samples_per_second']:.0f}",
                ]
                for name, m in zip(names, models.values())
            ],
        ),
        "",
        f"Training time, all models: {sum(m['training_seconds'] for m in models.values()) / 60:.1f} min"
        + (
            f"; wall time of the command (loading, vectorizing and evaluating included): {summary['wall_seconds'] / 60:.1f} min"
            if summary.get("wall_seconds") is not None
            else ""
        )
        + (f"; load average at the end (1/5/15 min): {', '.join(map(str, summary['load_average']))}." if summary.get("load_average") else "."),
        "",
        "## Accuracy by review length (words), 95% Wilson intervals",
        "",
    ]
    first = next(iter(models.values()))
    buckets = [b["bucket"] for b in first["test"]["by_length"]]
    parts.append(
        markdown_table(
            ["words", "reviews", *names],
            [
                [bucket, f"{first['test']['by_length'][i]['count']:,}", *(_interval(m["test"]["by_length"][i]) for m in models.values())]
                for i, bucket in enumerate(buckets)
            ],
        )
    )
    sequence_length = first["test"]["by_truncation"]["sequence_length"]
    parts += [
        "",
        f"## Truncated (more than {sequence_length} words) vs not truncated",
        "",
        markdown_table(
            ["reviews", "count", *names],
            [
                [label, f"{first['test']['by_truncation'][key]['count']:,}", *(_interval(m["test"]["by_truncation"][key]) for m in models.values())]
                for key, label in (("not_truncated", "not truncated"), ("truncated", "truncated"))
            ],
        ),
        "",
    ]
    return "\n".join(parts)
