"""PNG figures for the gradient-flow and long-range measurements.

Plotting is kept apart from the computations (`sentiment.analysis.gradients`,
`sentiment.analysis.longrange`), which return arrays. Figures are drawn on a
`matplotlib.figure.Figure` with the Agg canvas, never through `pyplot`, so no
global state or GUI backend is involved and the app can draw from threads.
Files are written atomically.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sentiment import style
from sentiment.io import files
from sentiment.report import marked_name, model_name


def _save(figure: Figure, path: str | Path) -> Path:
    FigureCanvasAgg(figure)
    path = Path(path)
    with files.atomic_path(path) as temporary:
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
        panels: (title, curves) or (title, curves, y label) per panel;
            `curves` maps a cell type to <float>[steps] norms where index d
            is d steps before the final token. NaN (no data) and zero values
            are left out of the line.
        path: the PNG to write.
        words: the first panel's words in reading order, to label its steps
            (used when there are at most 40).

    Returns:
        `path`.
    """
    figure = Figure(figsize=(6.4 * len(panels), 4.2))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for index, (axis, (title, curves, *label)) in enumerate(zip(axes, panels)):
        for cell_type, curve in curves.items():
            curve = np.asarray(curve, np.float64)
            steps = np.arange(len(curve))
            shown = np.isfinite(curve) & (curve > 0)
            axis.plot(
                steps[shown],
                curve[shown],
                label=model_name(cell_type),
                color=style.color(cell_type),
                linewidth=1.4,
            )
        axis.set_yscale("log")
        axis.invert_xaxis()  # reading order: the final token on the right
        axis.set_xlabel("steps before the final token")
        if index == 0 and words is not None and 0 < len(words) <= 40:
            axis.set_xticks(
                np.arange(len(words)),
                [f"{word} ({d})" for d, word in enumerate(reversed(words))],
                rotation=90,
                fontsize=7,
            )
            axis.set_xlabel("word (steps before the final token)")
        axis.set_ylabel(label[0] if label else "‖∂ loss / ∂ embedding‖₂")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend()
    return _save(figure, path)


def _variant_line(axis, x, values, variant: str, **options) -> None:
    """A long-range variant's line in its colour and style (`sentiment.style`)."""
    axis.plot(
        x,
        values,
        color=style.color(variant),
        linestyle=style.line_style(variant),
        label=marked_name(variant),
        **options,
    )


def _outside_legend(figure: Figure, axes: Sequence, fontsize: int = 8) -> None:
    """One legend for the figure, right of its panels, so it never covers a line.

    With eleven long-range variants a legend inside a panel hides the very
    curves a reader compares; the labels of every panel are merged, each once.
    """
    entries: dict[str, object] = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    figure.legend(list(entries.values()), list(entries), loc="outside right upper", fontsize=fontsize)


def _name_hidden_lines(axis, lines: Mapping[str, np.ndarray], where: str) -> None:
    """Name the variants whose lines lie on one another at 100%: only the last one drawn is seen there."""
    perfect = [variant for variant, values in lines.items() if np.all(np.asarray(values, np.float64) >= 0.995)]
    if len(perfect) < 2:
        return
    axis.text(
        0.98,
        0.03,
        f"One line at 100% {where}, {len(perfect)} models on it:\n" + "\n".join(map(marked_name, perfect)),
        transform=axis.transAxes,
        ha="right",
        va="bottom",
        fontsize=7.5,
        bbox={"facecolor": "white", "edgecolor": style.LEVEL_COLOR, "alpha": 0.9},
    )


def _seed_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis (seeds), NaN where no seed has a value."""
    runs = np.isfinite(values).sum(axis=-1)
    return np.where(runs > 0, np.nansum(values, axis=-1) / np.maximum(runs, 1), np.nan)


def plot_recall(
    lengths: Sequence[int],
    variants: Sequence[str],
    accuracy: np.ndarray,
    lag_labels: Sequence[str],
    by_lag: np.ndarray,
    path: str | Path,
) -> Path:
    """Variable-lag recall: accuracy against T (mean line, a dot per seed), and by lag at the longest T.

    Args:
        lengths, variants: the axes of `accuracy`.
        accuracy: <float>[lengths, variants, seeds] held-out accuracy.
        lag_labels, by_lag: <float>[bins, variants] accuracy by lag bin at the longest T.
        path: the PNG to write.
    """
    figure = Figure(figsize=(12.0, 4.2), layout="constrained")
    left, right = figure.subplots(1, 2)
    for index, variant in enumerate(variants):
        values = np.asarray(accuracy[:, index], np.float64)
        _variant_line(left, lengths, _seed_mean(values), variant, marker="o")
        for seed_values in values.T:
            left.scatter(lengths, seed_values, color=style.color(variant), alpha=0.35, s=14)
        _variant_line(right, np.arange(len(lag_labels)), by_lag[:, index], variant, marker="o")
    left.set_xscale("log")
    left.set_xticks(list(lengths), [str(length) for length in lengths])
    left.minorticks_off()
    left.set_xlabel("T: the signal is T/2 to T steps before the final token")
    right.set_xticks(np.arange(len(lag_labels)), list(lag_labels))
    right.set_xlabel(f"lag L (steps from the signal to the final token), T = {lengths[-1]}")
    means = {variant: _seed_mean(np.asarray(accuracy[:, index], np.float64)) for index, variant in enumerate(variants)}
    _name_hidden_lines(left, means, "at every T")
    _name_hidden_lines(right, {variant: by_lag[:, index] for index, variant in enumerate(variants)}, "at every lag")
    for axis, title in (
        (left, "Held-out accuracy (line: mean over seeds; dots: seeds)"),
        (right, f"By lag at T = {lengths[-1]} (mean over seeds)"),
    ):
        axis.axhline(0.5, color=style.LEVEL_COLOR, linestyle="--", linewidth=1, label="chance (50%)")
        axis.set_ylim(0.0, 1.02)  # room below chance for the note on overlapping lines
        axis.set_ylabel("held-out accuracy")
        axis.set_title(title, fontsize=10)
        axis.grid(True, alpha=0.3)
    _outside_legend(figure, [left, right])
    return _save(figure, path)


def plot_adding(
    curves: Mapping[int, Mapping[str, Sequence[tuple[Sequence[int], Sequence[float]]]]],
    baselines: Mapping[int, float],
    threshold: float,
    path: str | Path,
) -> Path:
    """The adding problem: held-out MSE against updates, a panel per T, a line per seed.

    Args:
        curves: T -> variant -> one (updates, MSE) pair per seed.
        baselines: T -> the best constant prediction's MSE (dashed).
        threshold: the MSE that counts as solved (dotted).
        path: the PNG to write.
    """
    lengths = sorted(curves)
    figure = Figure(figsize=(4.0 * len(lengths), 4.0), layout="constrained")
    axes = figure.subplots(1, len(lengths), squeeze=False, sharey=True)[0]
    for axis, length in zip(axes, lengths):
        for variant, runs in curves[length].items():
            for seed_index, (updates, scores) in enumerate(runs):
                axis.plot(
                    updates,
                    scores,
                    color=style.color(variant),
                    linestyle=style.line_style(variant),
                    linewidth=1.1,
                    alpha=0.8,
                    label=marked_name(variant) if seed_index == 0 else None,
                )
        axis.axhline(baselines[length], color=style.LEVEL_COLOR, linestyle="--", linewidth=1, label="best constant")
        axis.axhline(threshold, color="black", linestyle=":", linewidth=1, label=f"solved (< {threshold})")
        axis.set_yscale("log")
        axis.set_xlabel("updates")
        axis.set_title(f"T = {length}", fontsize=10)
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("held-out MSE (a line per seed)")
    _outside_legend(figure, axes)
    return _save(figure, path)


def plot_jacobians(panels: Sequence[tuple[str, Mapping[str, np.ndarray]]], path: str | Path) -> Path:
    """State-Jacobian norm against distance, log scale, a panel each.

    Args:
        panels: (title, curves); `curves` maps a variant (or any label whose
            part before ", " is a variant) to <float>[seeds, distance] norms,
            drawn as the geometric mean over seeds.
        path: the PNG to write.
    """
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(6.4 * columns, 4.0 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).reshape(-1)
    for axis, (title, curves) in zip(axes, panels):
        for label, norms in curves.items():
            norms = np.maximum(
                np.asarray(norms, np.float64).reshape(-1, np.shape(norms)[-1]), np.finfo(np.float32).tiny
            )
            mean = np.exp(np.log(norms).mean(axis=0))
            variant, _, note = label.partition(", ")
            name = marked_name(variant) + (f", {note}" if note else "")
            axis.plot(
                np.arange(len(mean)),
                mean,
                color=style.color_of_name(name),
                linestyle="-." if note else style.line_style(variant),
                linewidth=1.4,
                label=name,
            )
        axis.set_yscale("log")
        axis.set_xlabel("distance T − t (steps before the final state)")
        axis.set_ylabel("‖∂s_T / ∂x_t‖ (geometric mean)")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
    for axis in axes[len(panels) :]:
        axis.set_visible(False)
    _outside_legend(figure, axes[: len(panels)])
    return _save(figure, path)


def plot_lag_shift(lags: Sequence[int], accuracy: Mapping[str, np.ndarray], trained_lag: int, path: str | Path) -> Path:
    """Accuracy against the test lag for models trained at one fixed lag.

    Args:
        lags: the test lags.
        accuracy: variant -> <float>[seeds, lags].
        trained_lag: the lag every training sequence had (marked).
        path: the PNG to write.
    """
    figure = Figure(figsize=(8.4, 4.2), layout="constrained")
    axis = figure.subplots()
    for variant, values in accuracy.items():
        _variant_line(axis, lags, np.nanmean(np.asarray(values, np.float64), axis=0), variant, marker="o", markersize=3)
    axis.axvline(trained_lag, color="black", linewidth=0.8, alpha=0.5)
    axis.axhline(0.5, color=style.LEVEL_COLOR, linestyle="--", linewidth=1, label="chance (50%)")
    axis.set_ylim(-0.02, 1.02)
    axis.set_xticks(list(lags)[:: max(1, len(lags) // 10)])  # whole steps, within the lags tested
    axis.set_xlabel(f"test lag L (trained only at L = {trained_lag})")
    axis.set_ylabel("held-out accuracy (mean over seeds)")
    axis.set_title("Lag-shift diagnostic: trained at one fixed lag", fontsize=10)
    axis.grid(True, alpha=0.3)
    _outside_legend(figure, [axis])
    return _save(figure, path)


def plot_associative(
    pairs: Sequence[int], variants: Sequence[str], accuracy: np.ndarray, chance: float, path: str | Path
) -> Path:
    """Associative recall: held-out accuracy against the number of key-value pairs (mean line, a dot per seed).

    Args:
        pairs: the pairs P of each size (x axis, log scale).
        variants: the lines.
        accuracy: <float>[sizes, variants, seeds] held-out accuracy.
        chance: 1 / the number of values (dashed).
        path: the PNG to write.
    """
    figure = Figure(figsize=(8.8, 4.2), layout="constrained")
    axis = figure.subplots()
    for index, variant in enumerate(variants):
        values = np.asarray(accuracy[:, index], np.float64)
        _variant_line(axis, pairs, _seed_mean(values), variant, marker="o")
        for seed_values in values.T:
            axis.scatter(pairs, seed_values, color=style.color(variant), alpha=0.35, s=14)
    axis.axhline(chance, color=style.LEVEL_COLOR, linestyle="--", linewidth=1, label=f"chance ({100 * chance:.0f}%)")
    axis.set_xscale("log")
    axis.set_xticks(list(pairs), [str(count) for count in pairs])
    axis.minorticks_off()
    axis.set_xlabel("key-value pairs P before the query (T = P + 1 tokens)")
    axis.set_ylim(0, 1.02)
    axis.set_ylabel("held-out accuracy (line: mean over seeds; dots: seeds)")
    axis.set_title("Associative recall: the value of the queried key", fontsize=10)
    axis.grid(True, alpha=0.3)
    _outside_legend(figure, [axis])
    return _save(figure, path)


def plot_distance(
    fillers: Sequence[int],
    names: Sequence[str],
    overall: Sequence[Sequence[dict | None]],
    disagree: Sequence[Sequence[dict | None]],
    path: str | Path,
) -> Path:
    """Sentiment at a distance: accuracy against T, all examples and where the filler disagrees.

    Args:
        fillers: the filler lengths T.
        names: the models, in the order of each row.
        overall, disagree: per T, per model, {"accuracy", "ci_low", "ci_high"} (None: not measured).
        path: the PNG to write.
    """
    figure = Figure(figsize=(12.0, 4.4), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for axis, rows, title in (
        (axes[0], overall, "All test examples"),
        (axes[1], disagree, "Filler with the other label (forgetting falls below 50%)"),
    ):
        for index, name in enumerate(names):
            points = [
                (t, row[index]) for t, row in zip(fillers, rows) if row[index] and row[index]["accuracy"] is not None
            ]
            if not points:
                continue
            x = np.array([t for t, _ in points])
            y = np.array([entry["accuracy"] for _, entry in points])
            errors = np.array(
                [[entry["accuracy"] - entry["ci_low"], entry["ci_high"] - entry["accuracy"]] for _, entry in points]
            ).T
            axis.errorbar(
                x,
                y,
                yerr=errors,
                color=style.color_of_name(name),
                linestyle=style.line_style_of_name(name),
                marker="o",
                markersize=3,
                capsize=2,
                label=name,
            )
        axis.axhline(0.5, color=style.LEVEL_COLOR, linestyle="--", linewidth=1, label="chance (50%)")
        axis.set_xlabel("filler length T (tokens between the review and the readout)")
        axis.set_title(title, fontsize=10)
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("test accuracy (95% CI)")
    axes[0].legend(fontsize=7)
    return _save(figure, path)


def plot_sequential_cost(cost: Mapping, path: str | Path) -> Path:
    """Training-step and inference time against sequence length, log-log, a line per model.

    Args:
        cost: from `sentiment.analysis.bench.sequential_cost`.
        path: the PNG to write.
    """
    figure = Figure(figsize=(12.0, 4.2), layout="constrained")
    axes = figure.subplots(1, 2)
    for axis, key, title in (
        (axes[0], "train_seconds", "Training step"),
        (axes[1], "inference_seconds", "Inference (forward pass)"),
    ):
        for name, entry in cost["models"].items():
            axis.plot(
                cost["lengths"],
                1000 * np.asarray(entry[key], np.float64),  # None (a length skipped) is not drawn
                marker="o",
                color=style.color(name),
                linestyle=style.line_style(name),
                label=marked_name(name),
            )
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(cost["lengths"], [str(length) for length in cost["lengths"]])
        axis.minorticks_off()
        axis.set_xlabel("sequence length T (tokens)")
        axis.set_ylabel(f"ms per batch of {cost['batch_size']} (median)")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8)
    return _save(figure, path)


# --- Gate heatmaps: drawn straight into pixels, fast enough for a live app ----

_HEATMAP_WIDTH = 1100  # pixels for the words, whatever the review's length
_BAND_PIXELS = 128  # a quantity's band height for a layer of 64 units or fewer (at least 2 pixels a unit)
_LABEL_WIDTH = 120  # the quantity names on the left
_WORDS_HEIGHT = 70  # the rotated words below
_MAX_WORD_LABELS = 60


def _lookup_table(name: str) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


_GATE_COLOURS = _lookup_table("viridis")  # gates in [0, 1]
_STATE_COLOURS = _lookup_table("RdBu_r")  # states: blue negative, white 0, red positive


@functools.lru_cache(maxsize=4)
def _font(size: int):
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def _colour(values: np.ndarray, gate: bool) -> np.ndarray:
    """<uint8>[units, time, 3]: gates on [0, 1]; states on [-m, m], m their largest magnitude (at least 1)."""
    values = np.asarray(values, np.float64).T
    if gate:
        scaled = np.clip(values, 0.0, 1.0)
        table = _GATE_COLOURS
    else:
        bound = max(1.0, float(np.max(np.abs(values))) if values.size else 1.0)
        scaled = (np.clip(values, -bound, bound) + bound) / (2 * bound)
        table = _STATE_COLOURS
    return table[np.round(scaled * 255).astype(np.int64)]


def gate_heatmap(values: Mapping[str, np.ndarray], words: Sequence[str], gates: Sequence[str] = ()) -> np.ndarray:
    """One image of a model's gates and states over a review: a band per quantity, units (rows) x words (columns).

    Drawn with NumPy and Pillow (a few milliseconds, no figure library), so
    the app can draw it on every click. Gates use viridis on [0, 1]; states
    a blue-white-red scale symmetric around 0. Below, the words as the model
    read them (every one up to 60 words, evenly spaced ones beyond).

    Args:
        values: quantity name -> <float>[time, units] (from `gates.replay`).
        words: the `time` words.
        gates: which quantities are gates (coloured on [0, 1]).

    Returns:
        <uint8>[height, width, 3] RGB.
    """
    from PIL import Image, ImageDraw

    time = len(words)
    column = max(1, _HEATMAP_WIDTH // max(time, 1))
    units = max((np.shape(array)[1] for array in values.values()), default=1)
    row = max(2, _BAND_PIXELS // max(units, 1))
    bands = []
    for name, array in values.items():
        band = np.repeat(np.repeat(_colour(array, name in gates), row, axis=0), column, axis=1)
        bands += [band, np.full((4, band.shape[1], 3), 255, np.uint8)]
    body = np.concatenate(bands[:-1]) if bands else np.full((1, column * time, 3), 255, np.uint8)
    image = Image.new("RGB", (_LABEL_WIDTH + body.shape[1] + 8, body.shape[0] + _WORDS_HEIGHT), "white")
    image.paste(Image.fromarray(body), (_LABEL_WIDTH, 0))
    draw, font = ImageDraw.Draw(image), _font(11)
    top = 0
    for name, array in values.items():
        height = array.shape[1] * row
        draw.text((4, top + height // 2 - 6), name, fill="black", font=font)
        top += height + 4
    step = max(1, -(-time // _MAX_WORD_LABELS))
    for index in range(0, time, step):
        label = Image.new("RGBA", (_WORDS_HEIGHT - 4, 12), (255, 255, 255, 0))
        ImageDraw.Draw(label).text((0, 0), words[index][:12], fill="black", font=_font(10))
        rotated = label.rotate(90, expand=True)
        image.paste(rotated, (_LABEL_WIDTH + index * column + max(0, column // 2 - 6), body.shape[0] + 2), rotated)
    return np.asarray(image)


def save_image(image: np.ndarray, path: str | Path) -> Path:
    """Writes an RGB array as a PNG, atomically."""
    from PIL import Image

    path = Path(path)
    with files.atomic_path(path) as temporary:
        Image.fromarray(image).save(temporary, format="PNG")
    return path


def plot_gate_histograms(histograms: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path) -> Path:
    """The distribution of each gated model's memory gate (forget or update) over a sample of reviews.

    Args:
        histograms: cell type -> {"edges": <float>[bins + 1], "counts": <int>[bins]}.
        path: the PNG to write.
    """
    figure = Figure(figsize=(6.4, 3.8), layout="constrained")
    axis = figure.subplots()
    for cell, histogram in histograms.items():
        edges, counts = np.asarray(histogram["edges"]), np.asarray(histogram["counts"], np.float64)
        axis.stairs(
            counts / max(counts.sum(), 1), edges, color=style.color(cell), label=model_name(cell), linewidth=1.6
        )
    axis.set_xlabel("gate value (LSTM forget gate, GRU update gate: 1 keeps the memory)")
    axis.set_ylabel("share of (unit, token) pairs")
    axis.set_title("How much memory each gated model keeps per step", fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.legend()
    return _save(figure, path)
