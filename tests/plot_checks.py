"""Checks of a plot as a reader sees it: the data it was sent, its axes, its legend, its finding.

Each check returns a list of problems (empty: right). They read what the
browser test collects: a native plot's value (`{"columns", "data",
"datatypes"}`, as its endpoint answers it) and, from the drawn SVG, the
axes' and the legend's aria labels and texts. `tests/test_plot_checks.py`
breaks each once.
"""

from __future__ import annotations

import json
import re
from typing import Any

# The names of reference levels drawn as lines of their own (`webapp.thesis_views`).
LEVEL_PREFIXES = ("chance", "best constant")


def _spec(value: dict[str, Any]) -> dict[str, Any] | None:
    """The Vega-Lite spec of a `webapp.charts` plot (`{"type": "altair", "plot": json}`), or None for a native plot."""
    return json.loads(value["plot"]) if "plot" in value else None


def rows(value: dict[str, Any]) -> list[dict[str, Any]]:
    """A plot value's data as dicts: a native plot's rows, or the data inside a chart's spec."""
    spec = _spec(value)
    if spec is not None:
        return list(spec["data"]["values"])
    return [dict(zip(value["columns"], row)) for row in value["data"]]


def column_type(value: dict[str, Any], column: str) -> str | None:
    """How the plot reads a column: the chart's x or y encoding type, or a native plot's datatype."""
    spec = _spec(value)
    if spec is None:
        return value["datatypes"].get(column)
    encoding = spec["layer"][0]["encoding"]
    for channel in ("x", "y"):
        if encoding[channel]["field"] == column:
            return encoding[channel]["type"]
    return None


def numeric_column_problems(value: dict[str, Any], column: str) -> list[str]:
    """The column must be sent as numbers, and typed quantitative, so the axis is numeric and in numeric order."""
    problems = []
    if column_type(value, column) != "quantitative":
        problems.append(f"{column!r} is sent as {column_type(value, column)!r}, not quantitative")
    texts = [
        row[column] for row in rows(value) if not isinstance(row[column], int | float) or isinstance(row[column], bool)
    ]
    if texts:
        problems.append(f"{column!r} holds {len(texts)} values that are not numbers, e.g. {texts[0]!r}")
    return problems


def axis_problems(axis_label: str, tick_texts: list[str], numeric: bool) -> list[str]:
    """A drawn axis: numeric ones on a continuous scale with ticks in increasing order.

    Args:
        axis_label: the axis group's aria-label, as Vega writes it ("X-axis
            titled 'T' for a linear scale with values from 25 to 200").
        tick_texts: its tick labels, left to right (or bottom to top).
        numeric: whether the axis should be numeric.
    """
    if not numeric:
        return []
    problems = []
    if "discrete scale" in axis_label or "band scale" in axis_label or "point scale" in axis_label:
        problems.append(f"a numeric axis is drawn as categories: {axis_label!r}")
    values = []
    for text in tick_texts:
        try:
            values.append(float(text.replace("−", "-").replace(",", "").replace("\u2009", "")))
        except ValueError:
            problems.append(f"tick {text!r} is not a number")
    if any(later <= earlier for earlier, later in zip(values, values[1:])):
        problems.append(f"ticks are not in increasing order: {tick_texts}")
    return problems


def legend_problems(legend_texts: list[str], value: dict[str, Any], color: str) -> list[str]:
    """Every legend entry names a series that has data; one entry per name."""
    present = {str(row[color]) for row in rows(value)}
    problems = [f"legend entry {text!r} has no data" for text in legend_texts if text not in present]
    duplicates = {text for text in legend_texts if legend_texts.count(text) > 1}
    problems += [f"legend entry {text!r} appears more than once" for text in sorted(duplicates)]
    return problems


def _percentages(text: str) -> list[float]:
    """Every percentage in a sentence, ranges included ("49.8 to 51.2%" gives both)."""
    found = []
    for low, high in re.findall(r"(\d+(?:\.\d+)?)(?: to (\d+(?:\.\d+)?))?%", text):
        found.append(float(low))
        if high:
            found.append(float(high))
    return found


def finding_problems(
    finding: str,
    value: dict[str, Any],
    names_column: str,
    number_columns: tuple[str, ...] = (),
    percent_columns: tuple[str, ...] = (),
    ignore_percentages: tuple[float, ...] = (50.0, 95.0),
) -> list[str]:
    """The sentence above a plot agrees with the plotted data.

    - every model or series it names is in the plot (`names_column`), unless
      it is a level line's name;
    - every "T = n", "epoch n" and the like (`number_columns`) is a value
      of those columns;
    - every percentage is one of the plotted values of `percent_columns` as
      a percentage to one decimal (the levels in `ignore_percentages`, such
      as chance, and the 95% of "95% interval", excepted).

    Args:
        finding: the Markdown shown.
        value: the plot's data as its endpoint sent it.
    """
    if not finding:
        return ["the finding is empty"]
    data = rows(value)
    problems = []
    names = {str(row[names_column]) for row in data}
    numbers = {float(row[column]) for row in data for column in number_columns if row.get(column) is not None}
    unnamed = finding  # numbers inside a model's name ("LSTM trained at T = 0") are not claims
    for name in sorted(names, key=len, reverse=True):
        unnamed = unnamed.replace(name, "")
    for column in number_columns:
        for match in re.findall(rf"\b{re.escape(column)} = (\d+)", unnamed):
            if float(match) not in numbers:
                problems.append(f"the finding names {column} = {match}, which the plot does not hold")
    plotted = {
        round(100 * float(row[column]), 1) for row in data for column in percent_columns if row.get(column) is not None
    }
    for number in _percentages(finding):
        if number not in plotted and number not in ignore_percentages:
            problems.append(f"the finding says {number}%, which no plotted value of {percent_columns} is")
    for name in _mentioned_names(finding, names):
        if name not in names:
            problems.append(f"the finding names {name!r}, which the plot does not draw")
    return problems


# The model names the project writes, for finding which a sentence mentions.
KNOWN_NAMES = (
    "SimpleRNN",
    "IRNN",
    "LSTM",
    "GRU",
    "Bag of n-grams (reference)",
    "bag of embeddings",
    "minGRU",
    "minLSTM",
    "Transformer",
)


def _mentioned_names(finding: str, names: set[str]) -> list[str]:
    """The longest model names (plotted ones first, then known ones) that the sentence mentions."""
    mentioned = []
    for name in sorted(names | set(KNOWN_NAMES), key=len, reverse=True):
        if name.startswith(LEVEL_PREFIXES):
            continue
        pattern = rf"(?<![\w(]){re.escape(name)}(?![\w)])"
        if re.search(pattern, finding) and not any(name in longer for longer in mentioned):
            mentioned.append(name)
    return [name for name in mentioned if name in names or name in KNOWN_NAMES]
