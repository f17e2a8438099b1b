"""Compares two full training runs, with and without length bucketing.

    python -m benchmarks.bucketing_report artifacts-bucketed artifacts-padded \
        [--time-logs bucketed.time padded.time]

Reads each folder's summary.json (written by `python -m sentiment train`),
and optionally the output of `/usr/bin/time -v` around each command for the
CPU seconds, and prints a Markdown section: wall time of each whole command,
training time and test accuracy per cell, and the ratios. Nothing is typed
in by hand; the figures are whatever the two runs measured.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from sentiment.config import CELL_TYPES
from sentiment.io.provenance import machine_line
from sentiment.report import markdown_table, model_name


def cpu_seconds(time_log: Path) -> float | None:
    """User + system CPU seconds from `/usr/bin/time -v` output, if it is there."""
    text = time_log.read_text(errors="replace")
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    system = re.search(r"System time \(seconds\): ([\d.]+)", text)
    return float(user.group(1)) + float(system.group(1)) if user and system else None


def median_epoch_seconds(folder: Path, cell: str) -> float:
    """Median wall seconds of one epoch (training and validation) from history.json."""
    history = json.loads((folder / cell / "history.json").read_text())
    return statistics.median(history["epoch_seconds"])


def comparison_markdown(bucketed: Path, padded: Path, time_logs: tuple[Path, Path] | None = None) -> str:
    runs = {
        name: json.loads((folder / "summary.json").read_text())
        for name, folder in (("bucketed", bucketed), ("padded", padded))
    }
    for name, summary in runs.items():
        expected = name == "bucketed"
        if summary["run"]["train"].get("length_bucketing", False) != expected:
            raise SystemExit(f"{name} run in {bucketed if expected else padded} has length_bucketing={not expected}")
    b, p = runs["bucketed"], runs["padded"]
    cells = [
        cell for cell in b["models"] if cell in p["models"] and cell in CELL_TYPES
    ]  # bucketing is the recurrent models' concern
    rows = []
    for cell in cells:
        mb, mp = b["models"][cell], p["models"][cell]
        epoch_p, epoch_b = median_epoch_seconds(padded, cell), median_epoch_seconds(bucketed, cell)
        rows.append(
            [
                model_name(cell),
                f"{mp['training_seconds']:.0f} s",
                f"{mb['training_seconds']:.0f} s",
                f"{mp['training_seconds'] / mb['training_seconds']:.2f}x",
                f"{epoch_p:.0f} s / {epoch_b:.0f} s ({epoch_p / epoch_b:.2f}x)",
                f"{100 * mp['test']['accuracy']:.2f}%",
                f"{100 * mb['test']['accuracy']:.2f}%",
                f"{100 * (mb['test']['accuracy'] - mp['test']['accuracy']):+.2f}",
                f"{mp['epochs_run']} ({mp['best_epoch']}) / {mb['epochs_run']} ({mb['best_epoch']})",
            ]
        )
    rows.append(
        [
            "**whole command**",
            f"{p['wall_seconds'] / 60:.1f} min",
            f"{b['wall_seconds'] / 60:.1f} min",
            f"**{p['wall_seconds'] / b['wall_seconds']:.2f}x**",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    lines = [
        f"Fixed padding: `{p['command']}`, finished {p['written_at']}, load average at the end {p['load_average']}.",
        f"Length bucketing: `{b['command']}`, finished {b['written_at']}, load average at the end {b['load_average']}.",
        f"Machine: {machine_line(b['machine'])}. "
        f"Same seed ({b['run']['train']['seed']}), same data, vocabulary and model; only the batching differs.",
        "",
        "Early stopping can end the two runs after different numbers of epochs; the median epoch compares the same "
        "work.",
        "",
        markdown_table(
            [
                "model",
                "training, padded",
                "training, bucketed",
                "speed-up",
                "median epoch, padded / bucketed",
                "test accuracy, padded",
                "bucketed",
                "points",
                "epochs run (best), padded / bucketed",
            ],
            rows,
        ),
    ]
    if time_logs:
        padded_cpu, bucketed_cpu = cpu_seconds(time_logs[1]), cpu_seconds(time_logs[0])
        if padded_cpu and bucketed_cpu:
            lines += [
                "",
                f"CPU time of the whole command (user + system, `/usr/bin/time -v`): padded {padded_cpu / 60:.1f} min, "
                f"bucketed {bucketed_cpu / 60:.1f} min, {padded_cpu / bucketed_cpu:.2f}x. CPU time moves less than "
                "wall "
                "time when other jobs share the cores.",
            ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bucketed", type=Path, help="artifacts folder of the run with length bucketing (the default)")
    parser.add_argument("padded", type=Path, help="artifacts folder of the run with --no-length-bucketing")
    parser.add_argument(
        "--time-logs",
        type=Path,
        nargs=2,
        default=None,
        help="/usr/bin/time -v output of the bucketed and the padded command",
    )
    args = parser.parse_args()
    print(comparison_markdown(args.bucketed, args.padded, tuple(args.time_logs) if args.time_logs else None), end="")


if __name__ == "__main__":
    main()
