"""PNG figures for the gradient-flow and long-range measurements.

Plotting is kept apart from the computations (`sentiment.gradients`,
`sentiment.longrange`), which return arrays. Figures are drawn on a
`matplotlib.figure.Figure` with the Agg canvas, never through `pyplot`, so no
global state or GUI backend is involved and the app can draw from threads.
Files are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sentiment import artifacts
from sentiment.report import model_name

# One colour per cell across every figure of the project.
CELL_COLOURS = {"simple_rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}


def _save(figure: Figure, path: str | Path) -> Path:
    FigureCanvasAgg(figure)
    path = Path(path)
    with artifacts.atomic_path(path) as temporary:
        # Fixed metadata: the same numbers give the same bytes.
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return path


def plot_gradient_norms(
    panels: Sequence[tuple[str, Mapping[str, np.ndarray]]],
    path: str | Path,
    words: Sequence[str] | None = None,
) -> Path:
    """Gradient norm against distance from the final token, log scale, a panel each.

    The x axis runs from the start of the review to its end (the final token,
    which the head reads, is at the right), labelled in steps before the end.

    Args:
        panels: (title, curves) per panel; `curves` maps a cell type to
            <float>[steps] norms where index d is d steps before the final
            token. NaN (no data) and zero values are left out of the line.
        path: the PNG to write.
        words: the first panel's words in reading order, to label its steps
            (used when there are at most 40).

    Returns:
        `path`.
    """
    figure = Figure(figsize=(6.4 * len(panels), 4.2))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for index, (axis, (title, curves)) in enumerate(zip(axes, panels)):
        for cell_type, curve in curves.items():
            curve = np.asarray(curve, np.float64)
            steps = np.arange(len(curve))
            shown = np.isfinite(curve) & (curve > 0)
            axis.plot(steps[shown], curve[shown], label=model_name(cell_type), color=CELL_COLOURS.get(cell_type), linewidth=1.4)
        axis.set_yscale("log")
        axis.invert_xaxis()  # reading order: the final token on the right
        axis.set_xlabel("steps before the final token")
        if index == 0 and words is not None and 0 < len(words) <= 40:
            axis.set_xticks(np.arange(len(words)), [f"{word} ({d})" for d, word in enumerate(reversed(words))], rotation=90, fontsize=7)
            axis.set_xlabel("word (steps before the final token)")
        axis.set_ylabel("‖∂ loss / ∂ embedding‖₂")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend()
    return _save(figure, path)


def plot_long_range(distances: Sequence[int], accuracy: Mapping[str, np.ndarray], path: str | Path, chance: float = 0.5) -> Path:
    """Held-out accuracy against distance T, one line per cell, chance dashed.

    Args:
        distances: <int>[n] the distances, ascending.
        accuracy: cell type (or variant "lstm+chrono", drawn dotted in the
            cell's colour) -> <float>[n] or <float>[n, seeds] accuracy at each
            distance (NaN: not run). With several seeds the line is their mean
            and each seed is a faint dot.
        path: the PNG to write.
        chance: the accuracy of guessing.

    Returns:
        `path`.
    """
    figure = Figure(figsize=(6.4, 4.2))
    axis = figure.subplots()
    for cell_type, values in accuracy.items():
        values = np.asarray(values, np.float64).reshape(len(distances), -1)
        cell, _, variant = cell_type.partition("+")  # "lstm+chrono": same colour, dotted
        colour = CELL_COLOURS.get(cell)
        runs = np.isfinite(values).sum(axis=1)
        mean = np.where(runs > 0, np.nansum(values, axis=1) / np.maximum(runs, 1), np.nan)  # NaN where nothing ran
        axis.plot(distances, mean, marker="s" if variant else "o", linestyle=":" if variant else "-", label=model_name(cell_type), color=colour)
        if values.shape[1] > 1:
            for seed_values in values.T:
                axis.scatter(distances, seed_values, color=colour, alpha=0.35, s=14)
    axis.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance ({100 * chance:.0f}%)")
    axis.set_xscale("log")
    axis.set_xticks(list(distances), [str(distance) for distance in distances])
    axis.minorticks_off()
    lowest = min((float(np.nanmin(v)) for v in accuracy.values() if np.isfinite(v).any()), default=chance)
    axis.set_ylim(min(0.4, lowest - 0.05), 1.02)  # below-chance runs stay visible
    axis.set_xlabel("distance T: steps between the signal and the final token")
    axis.set_ylabel("held-out accuracy")
    axis.set_title("Long-range dependency: same budget for every cell", fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.legend()
    return _save(figure, path)
