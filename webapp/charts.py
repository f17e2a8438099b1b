"""The app's measured plots as Vega-Lite specifications, drawn by `gr.Plot`.

Gradio's native line plot infers each axis from the data and gives no say
over ticks, line widths or dashes: whole epochs get ticks at 1.1, 1.2, ...,
and a line per seed gets a legend entry per seed. These specs state every
choice a reader needs:

- numbers on numeric axes (`quantitative`), with whole-number ticks where
  the values are counts (epochs, steps, T);
- one colour per model (`sentiment.style`), in a fixed legend order;
- a line per seed drawn thin in its model's colour, with one legend entry
  per model;
- a model's variant (chrono gates, another schedule) dotted, the
  references dashed;
- chance and best-constant levels as grey dashed rules with their name
  written beside them.

The data travels inside the spec, so what the page draws is exactly what
the endpoint sends (the browser test reads it back). Rendered as SVG.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from gradio.components.plot import PlotData

from sentiment import style

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
# Line dash per style (`sentiment.style.line_style`), in Vega's [dash, gap] pixels.
DASHES = {"solid": [1, 0], "dotted": [2, 2], "dashed": [6, 3], "dashdot": [6, 2, 2, 2]}
_MATPLOTLIB_TO_DASH = {"-": "solid", ":": "dotted", "--": "dashed", "-.": "dashdot"}


class ChartData(PlotData):
    """A spec for `gr.Plot`, marked as a chart of its own kind.

    With `chart` set, Gradio's front end sizes the chart to its container
    (and again when the window resizes) and gives it the page's fonts; it
    recolours only its own "line", "bar" and "scatter" charts, so "spec"
    keeps every colour here.
    """

    chart: str = "spec"


@dataclass(frozen=True)
class Level:
    """A horizontal reference line: chance, the best constant."""

    name: str
    value: float


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain JSON values, NaN as null."""
    records = []
    for row in frame.to_dict("records"):
        records.append(
            {
                key: (None if isinstance(value, float) and math.isnan(value) else _plain(value))
                for key, value in row.items()
            }
        )
    return records


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    return value


def _dash(name: str) -> str:
    if name.startswith(("chance", "best constant")):
        return "dashed"
    return _MATPLOTLIB_TO_DASH[style.line_style_of_name(name)]


def line_chart(
    frame: pd.DataFrame,
    x: str,
    y: str,
    color: str,
    *,
    title: str,
    x_title: str,
    y_title: str,
    names: Sequence[str] | None = None,
    colors: dict[str, str] | None = None,
    detail: str | None = None,
    levels: Sequence[Level] = (),
    tooltip: Sequence[str] = (),
    integer_x: bool = False,
    y_domain: tuple[float, float] | None = None,
    x_sort: Sequence[str] | None = None,
    interval: tuple[str, str] | None = None,
    height: int = 300,
    points: bool = False,
    log_x: bool = False,
    empty_message: str | None = None,
) -> PlotData:
    """A line per `color` value (and per `detail` value within it) of y against x.

    Args:
        frame: the data, long format; `x` and `y` numeric (`x` may be an
            ordered category when `x_sort` gives its order).
        color: the column naming the model of each row; the legend lists
            each name once, in `names` order (default: first appearance).
        colors: name -> colour (default: `sentiment.style.color_of_name`).
        detail: a column that splits a model's rows into thin lines (seeds).
        levels: reference lines, drawn dashed and grey with their names.
        tooltip: columns shown on hover.
        integer_x: the x values are counts: whole-number ticks only.
        y_domain: fix the y axis (e.g. (0, 1) for accuracies).
        x_sort: the x axis is these categories, in this order.
        interval: (low, high) columns of a 95% interval, drawn as a bar
            through each point in its model's colour.
        points: mark each point (for few points per line).
        log_x: a log scale on x (lengths that double: equal steps apart).
        empty_message: with no rows, this sentence in the middle of the
            plot instead of empty axes (say what to run to fill it).

    Returns:
        What `gr.Plot` draws: the Vega-Lite spec with its data inline.
    """
    if empty_message is not None and not len(frame):
        return _message_chart(title, empty_message, height)
    names = list(dict.fromkeys(names if names is not None else frame[color])) if len(frame) else []
    colors = {**{name: style.color_of_name(name) for name in names}, **(colors or {})}
    x_axis: dict[str, Any] = {"title": x_title, "labelOverlap": True, "grid": True}
    x_axis["tickCount"] = 10
    if integer_x:
        x_axis.update(tickMinStep=1, format="d")
        values = sorted({int(v) for v in frame[x].dropna()}) if len(frame) else []
        if values and values[-1] - values[0] <= 20:  # few whole numbers: a tick at each, never one between
            x_axis["values"] = list(range(values[0], values[-1] + 1))
        elif 1 < len(values) <= 8:  # a few measured lengths (T = 25, 50, 100, 200): a tick at each
            x_axis["values"] = values
    x_scale = {"type": "log", "base": 2} if log_x else {"zero": False}
    x_encoding: dict[str, Any] = {"field": x, "type": "quantitative", "axis": x_axis, "scale": x_scale}
    if x_sort is not None:
        x_encoding = {"field": x, "type": "ordinal", "sort": list(x_sort), "axis": {**x_axis, "labelAngle": 0}}
    y_encoding: dict[str, Any] = {"field": y, "type": "quantitative", "axis": {"title": y_title, "grid": True}}
    if y_domain is not None:
        y_encoding["scale"] = {"domain": list(y_domain)}
    else:
        y_encoding["scale"] = {"zero": False}
    encoding: dict[str, Any] = {
        "x": x_encoding,
        "y": y_encoding,
        "color": {
            "field": color,
            "type": "nominal",
            "title": "model",
            "scale": {"domain": names, "range": [colors[name] for name in names]},
            "legend": {"orient": "bottom", "columns": 4, "symbolType": "stroke", "labelLimit": 260},
        },
        # The same field as the colour, so the legend shows each model's colour and dash together.
        "strokeDash": {
            "field": color,
            "type": "nominal",
            "scale": {"domain": names, "range": [DASHES[_dash(str(name))] for name in names]},
        },
        "tooltip": [{"field": field} for field in (tooltip or (color, x, y))],
    }
    if detail is not None:
        encoding["detail"] = {"field": detail, "type": "nominal"}
    line = {
        "mark": {"type": "line", "strokeWidth": 1.2 if detail else 2.2, "point": points, "clip": True},
        "encoding": encoding,
    }
    layers: list[dict[str, Any]] = [line]
    if interval is not None:
        low, high = interval
        layers.append(
            {
                "mark": {"type": "rule", "strokeWidth": 3, "opacity": 0.35},
                "encoding": {
                    "x": x_encoding,
                    "y": {"field": low, "type": "quantitative"},
                    "y2": {"field": high},
                    "color": {**encoding["color"], "legend": None},
                    "strokeDash": {"value": [1, 0]},
                    "tooltip": encoding["tooltip"],
                },
            }
        )
    if levels:
        level_values = [{"level": level.name, "value": level.value} for level in levels]
        layers.append(
            {
                "data": {"values": level_values},
                "mark": {"type": "rule", "color": style.LEVEL_COLOR, "strokeDash": [5, 4], "strokeWidth": 1.5},
                "encoding": {
                    "y": {"field": "value", "type": "quantitative"},
                    "tooltip": [{"field": "level"}, {"field": "value"}],
                },
            }
        )
        layers.append(
            {
                "data": {"values": level_values},
                "mark": {
                    "type": "text",
                    "align": "right",
                    "baseline": "bottom",
                    "dy": -3,
                    "x": "width",
                    "color": "#616161",
                    "fontSize": 12,
                },
                "encoding": {"y": {"field": "value", "type": "quantitative"}, "text": {"field": "level"}},
            }
        )
    spec = {
        "$schema": SCHEMA,
        "title": title,
        "height": height,
        "data": {"values": _records(frame)},
        "layer": layers,
        "config": {"legend": {"labelFontSize": 12}, "axis": {"labelFontSize": 11, "titleFontSize": 12}},
        # SVG, not canvas: the browser test reads the axes and the legend from the page.
        "usermeta": {"embedOptions": {"renderer": "svg", "actions": False}},
    }
    return ChartData(type="altair", plot=json.dumps(spec, allow_nan=False))


def _message_chart(title: str, message: str, height: int) -> PlotData:
    """A plot's frame holding one sentence where its lines would be: no axes, no legend."""
    spec = {
        "$schema": SCHEMA,
        "title": title,
        "height": height,
        "data": {"values": [{"message": message}]},
        "mark": {
            "type": "text",
            "x": {"expr": "width / 2"},
            "y": {"expr": "height / 2"},
            "align": "center",
            "fontSize": 14,
            "color": "#616161",
            "limit": 900,
        },
        "encoding": {"text": {"field": "message"}},
        "usermeta": {"embedOptions": {"renderer": "svg", "actions": False}},
    }
    return ChartData(type="altair", plot=json.dumps(spec))


def spec_of(value: Any) -> dict[str, Any]:
    """The Vega-Lite spec inside a `line_chart` value (a PlotData, or its JSON as an endpoint sends it)."""
    if isinstance(value, PlotData):
        return json.loads(value.plot)
    return json.loads(value["plot"])
