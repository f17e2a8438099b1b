"""What the "Inside the cell" tab shows: every gate of each loaded model on one review, and over test reviews.

`inside_view` reads the review with each model (`Predictor.read`, traced
once at start) and replays its recurrent layer in NumPy
(`sentiment.analysis.gates`), so a review of any length runs no new
TensorFlow trace. It returns a heatmap image per model (drawn straight into
pixels) and tidy DataFrames for the line plots. The test-set figures come
from `python -m sentiment inspect` (inspect.json beside the artifacts, else
the one shipped in docs/).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sentiment.analysis import gates, plots
from sentiment.config import CELL_TYPES
from sentiment.report import model_name
from webapp import findings, views

GATE_COLUMNS = ["word index", "value", "series", "word"]
UNIT_COLUMNS = ["word index", "value", "series", "word"]
SATURATION_COLUMNS = ["word index", "share of units with |h| > 0.95", "word"]
HISTOGRAM_COLUMNS = ["gate value", "share", "model"]
CLASS_COLUMNS = ["model", "gate", *gates.WORD_CLASSES]


@dataclass
class InsideView:
    """One review through every loaded model, ready for the tab's components."""

    notices: list[str] = field(default_factory=list)
    heatmaps: dict[str, np.ndarray | None] = field(default_factory=dict)
    gate_means: dict[str, pd.DataFrame] = field(default_factory=dict)
    units: dict[str, pd.DataFrame] = field(default_factory=dict)
    unit_notes: dict[str, str] = field(default_factory=dict)
    saturation: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SATURATION_COLUMNS))

    def outputs(self) -> tuple:
        """The tab's outputs in order.

        The notice, then per cell type the heatmap, gate means, unit plot
        and unit note; then the saturation plot.
        """
        per_cell = []
        for cell in CELL_TYPES:
            per_cell += [
                self.heatmaps.get(cell),
                self.gate_means.get(cell, _empty(GATE_COLUMNS)),
                self.units.get(cell, _empty(UNIT_COLUMNS)),
                self.unit_notes.get(cell, ""),
            ]
        return ("\n\n".join(self.notices), *per_cell, self.saturation)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


def inside_view(models: views.LoadedModels, text: str | None) -> InsideView:
    """Every gate of each loaded model on one review (`inside_views` of one)."""
    return inside_views(models, [text])[0]


def inside_views(models: views.LoadedModels, texts: Sequence[str | None]) -> list[InsideView]:
    """Every gate of each loaded model on each review (the Compare tab's, cut as it cuts).

    The reviews are read together, one forward pass per model
    (`Predictor.read_many`); each is then replayed in NumPy on its own.
    """
    bounded, scored = views.bounded_batch(models, texts)
    result = [InsideView(notices=notices) for _, _, notices in bounded]
    if scored and not models.predictors:
        for index in scored:
            result[index].notices.append(
                f"No model is loaded; train them first with `{views.public_train_command(models)}`."
            )
    for cell, predictor in models.predictors.items():
        texts_read = [bounded[index][0] for index in scored]
        for index, text, reading in zip(scored, texts_read, predictor.read_many(texts_read) if scored else []):
            _add_model(result[index], cell, gates.inspect_review(predictor, text, reading))
    return result


def _add_model(view: InsideView, cell: str, inspection: dict[str, Any]) -> None:
    """One model's heatmap, gate means, unit plot and (SimpleRNN) saturation, into `view`."""
    words = inspection["words"]
    view.heatmaps[cell] = plots.gate_heatmap(gates.heatmap_values(inspection), words, tuple(gates.GATE_ROLES))
    view.gate_means[cell] = _gate_means_frame(inspection)
    view.units[cell], note = _unit_frame(inspection)
    view.unit_notes[cell] = f"{note} {findings.gate_means_sentence(view.gate_means[cell])}".strip()
    if "saturated_share" in inspection:
        view.saturation = pd.DataFrame(
            {"word index": np.arange(len(words)), SATURATION_COLUMNS[1]: inspection["saturated_share"], "word": words}
        )
        view.unit_notes[cell] += " " + findings.saturation_sentence(view.saturation)


def _gate_means_frame(inspection: dict[str, Any]) -> pd.DataFrame:
    """Per word: each gate's mean over units, and P(positive), as one long frame."""
    words, index = inspection["words"], np.arange(len(inspection["words"]))
    series = {f"{name} (mean over units)": values for name, values in inspection["gate_means"].items()}
    series["P(positive)"] = inspection["trajectory"]
    frames = [
        pd.DataFrame({"word index": index, "value": np.asarray(values, np.float64), "series": name, "word": words})
        for name, values in series.items()
    ]
    return pd.concat(frames, ignore_index=True)


def _unit_frame(inspection: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """The unit that follows P(positive) most closely: its trace beside P(positive), and a sentence."""
    unit, name = inspection["sentiment_unit"], model_name(inspection["cell_type"])
    if unit is None:
        return _empty(
            UNIT_COLUMNS
        ), f"{name}: the review is too short, or P(positive) does not move, to look for a sentiment unit."
    words, index = inspection["words"], np.arange(len(inspection["words"]))
    label = f"unit {unit['unit']} (correlation {unit['correlation']:+.2f})"
    frame = pd.concat(
        [
            pd.DataFrame({"word index": index, "value": unit["trace"], "series": label, "word": words}),
            pd.DataFrame(
                {"word index": index, "value": inspection["trajectory"], "series": "P(positive)", "word": words}
            ),
        ],
        ignore_index=True,
    )
    strength = (
        "follows it closely"
        if abs(unit["correlation"]) >= 0.8
        else "follows it only loosely: no clear sentiment unit on this review"
    )
    return (
        frame,
        f"{name}: unit {unit['unit']} of the last layer's state has correlation {unit['correlation']:+.2f} with "
        f"P(positive) over this review; it {strength}.",
    )


def inside_flow(models: views.LoadedModels, text: str) -> tuple:
    """The inside button for one review: every output of the tab for the review in the Compare tab."""
    return inside_view(models, text).outputs()


def inside_flows(models: views.LoadedModels, texts: list[str]) -> tuple[list, ...]:
    """The inside endpoint, batched: the reviews that arrived together read in one forward pass per model."""
    return views.by_output([view.outputs() for view in inside_views(models, texts)])


# --- Over test reviews: the shipped or the user's `python -m sentiment inspect` ---


def test_set_frames(result: dict[str, Any] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The memory gates' distributions (share per bin) and the gate means by word class, from inspect.json."""
    if not result:
        return _empty(HISTOGRAM_COLUMNS), _empty(CLASS_COLUMNS)
    histogram_rows, class_rows = [], []
    for cell, entry in result["cells"].items():
        stats = entry.get("test_set")
        if not stats:
            continue
        if stats["histogram"]:
            edges, counts = (
                np.asarray(stats["histogram"]["edges"]),
                np.asarray(stats["histogram"]["counts"], np.float64),
            )
            centres, shares = (edges[:-1] + edges[1:]) / 2, counts / max(counts.sum(), 1)
            histogram_rows += [
                {
                    "gate value": round(float(c), 3),
                    "share": float(s),
                    "model": f"{model_name(cell)} {stats['memory_gate']}",
                }
                for c, s in zip(centres, shares)
            ]
        for gate, by_class in stats["gate_by_class"].items():
            class_rows.append(
                {
                    "model": model_name(cell),
                    "gate": gate,
                    **{name: None if value is None else round(value, 3) for name, value in by_class.items()},
                }
            )
    return pd.DataFrame(histogram_rows, columns=HISTOGRAM_COLUMNS), pd.DataFrame(class_rows, columns=CLASS_COLUMNS)
