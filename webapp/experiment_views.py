"""What the "Try it yourself" sections of the Inside tab compute: clamp a gate, step through a review, edit and compare.

- `intervention_views`: each loaded model on a review as learned and with an
  intervention (the memory gate clamped, a unit knocked out, from word k
  on), replayed by `sentiment.analysis.interventions`; a plot of
  P(positive) after each word both ways, a table, and the sentence above.
- `StepThrough`: word t of a review, for each model its cell's equations
  with that step's values (the gates' means over units, the units the word
  moved most, the change of the state) and P(positive) so far. A review is
  replayed once (`gates.inspect_review`) and kept, so moving the slider or
  playing costs no model time.
- `pair_views`: a review and an edited copy read by each model
  (`Predictor.read_many`, both in one pass), where the two part, and
  whether each model still carries the edit at the end.

Every function takes the reviews of a batch (what arrived together) and
returns one view per review, each with its notice first; the settings come
as they were sent (any JSON value) and are checked here, so an unknown
choice or a number out of range gets a sentence, never an error that would
fail its batch. Nothing here imports a UI library (`webapp.experiment_tab`
lays it out); plots are `webapp.charts` specs in `sentiment.style` colours.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sentiment import style
from sentiment.analysis import gates, interventions
from sentiment.config import CELL_TYPES, LABEL_NAMES
from sentiment.errors import SentimentError
from sentiment.report import model_name
from sentiment.serving.predict import UNDECIDED
from webapp import charts, findings, views

# --- The settings a learner picks, and how a sent value is read --------------

AS_LEARNED = "as learned"
GATE_CHOICES = {AS_LEARNED: None, "0: keep nothing of the old memory": 0.0, "1: keep all of it": 1.0}
KNOCK_OUT_NONE = "no unit"
KNOCK_OUT_SENTIMENT_UNIT = "the unit that follows P(positive)"
KNOCK_OUT_NUMBERED_UNIT = "the unit numbered below"
KNOCKOUT_CHOICES = (KNOCK_OUT_NONE, KNOCK_OUT_SENTIMENT_UNIT, KNOCK_OUT_NUMBERED_UNIT)
NOTHING_CHANGED_MESSAGE = "Nothing is changed: pick a value for the memory gate, or a unit to knock out."
EMPTY_REVIEW_MESSAGE = (
    "The review in the Compare tab is empty: type or paste one there, or pick an example (or a ready-made edit below)."
)
# What a plot calls a review's words: the x axis of every plot here counts the words read, from 1.
X = "words read"
Y = "P(positive)"
VERDICT_LEVEL = charts.Level("0.5: above, positive", 0.5)
# Two readings within this of each other count as the same (the Compare tab's weakest effect).
SAME_READING = findings.SAME_READING
# The most characters of a sent value a message repeats.
SHOWN_CHARACTERS = 40


def whole_number(value: Any) -> int | None:
    """A sent number (or numeric text) as a whole number, rounded; None for anything else (NaN, text, a list)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return int(round(value))
    return None


def _number(value: int) -> str:
    """A whole number as a message writes it: in full while short, else in scientific notation."""
    return str(value) if abs(value) < 10**9 else f"{value:.3g}"


def shown(value: Any) -> str:
    """A sent value as a message may repeat it: valid UTF-8, short, Markdown-escaped, in quotes."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"
    return "“" + re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~$])", r"\\\1", text) + "”"


def _choice(value: Any, choices: Sequence[str], default: str, what: str) -> tuple[str | None, str | None]:
    """(the choice, None), or (None, why it is not one); None as sent picks `default`."""
    if value is None:
        return default, None
    if isinstance(value, str) and value in choices:
        return value, None
    return None, f"Unknown {what} {shown(value)}: choose one of {', '.join(f'“{choice}”' for choice in choices)}."


@dataclass(frozen=True)
class Settings:
    """An intervention as the learner set it: `memory_gate` None or 0/1, `start` the first word (1-based), `unit`."""

    memory_gate: float | None
    start: int
    unit: int | str | None
    notices: tuple[str, ...] = ()

    def describe(self, cell_type: str, unit: int | None) -> str:
        """What was changed in one model, in words ("forget gate = 0 from word 3; unit 5 knocked out")."""
        parts = []
        if self.memory_gate is not None and cell_type in gates.MEMORY_GATES:
            parts.append(f"{gates.MEMORY_GATES[cell_type]} = {self.memory_gate:g}")
        if unit is not None:
            parts.append(f"unit {unit} knocked out")
        if not parts:
            return "nothing"
        return "; ".join(parts) + (f", from word {self.start}" if self.start > 1 else ", at every word")


def read_settings(gate: Any, from_word: Any, knockout: Any, unit: Any) -> tuple[Settings | None, str | None]:
    """The intervention endpoint's settings as sent, checked: (settings, None) or (None, why they cannot be used).

    An unknown choice or a unit that is not a whole number is refused with a
    sentence; a first word before the first is read as word 1, and says so.
    """
    gate_choice, problem = _choice(gate, list(GATE_CHOICES), AS_LEARNED, "memory-gate setting")
    if problem:
        return None, problem
    knockout_choice, problem = _choice(knockout, KNOCKOUT_CHOICES, KNOCK_OUT_NONE, "knock-out setting")
    if problem:
        return None, problem
    notices = []
    start = 1 if from_word is None else whole_number(from_word)
    if start is None:
        return None, f"“From word” must be a whole number (1 is the first word read); got {shown(from_word)}."
    if start < 1:
        notices.append(f"Word {_number(start)} is before the first word: the change starts at word 1.")
        start = 1
    if GATE_CHOICES[gate_choice] is None and knockout_choice == KNOCK_OUT_NONE:
        notices.append(NOTHING_CHANGED_MESSAGE)
    chosen_unit: int | str | None = None
    if knockout_choice == KNOCK_OUT_SENTIMENT_UNIT:
        chosen_unit = interventions.SENTIMENT_UNIT
    elif knockout_choice == KNOCK_OUT_NUMBERED_UNIT:
        chosen_unit = whole_number(unit)
        if chosen_unit is None:
            return None, f"The unit to knock out must be a whole number (0 is the first); got {shown(unit)}."
    return Settings(GATE_CHOICES[gate_choice], start, chosen_unit, tuple(notices)), None


# --- Plots -------------------------------------------------------------------


def trajectory_chart(
    frame: pd.DataFrame,
    names: list[str],
    colors: dict[str, str],
    dashed: set[str],
    *,
    title: str,
    rules: Sequence[tuple[int, str]] = (),
    x_domain: tuple[int, int] | None = None,
    points: bool = False,
) -> charts.ChartData:
    """P(positive) after each word, a line per series, with the 0.5 level and vertical rules at chosen words.

    Args:
        frame: long format with columns `X`, `Y`, "series" and "word".
        names: the series in legend order; `colors` gives each its model's colour.
        dashed: the series drawn dashed (the changed or edited reading).
        rules: (word, label) vertical lines: where a change starts, where two reviews part.
        x_domain: fix the x axis (the step-through draws the words so far on the whole review's axis).
        points: mark each word's point (a line of one word is otherwise invisible).
    """
    chart = charts.line_chart(
        frame,
        X,
        Y,
        "series",
        title=title,
        x_title="words read",
        y_title="P(positive) after the word",
        names=names,
        colors=colors,
        levels=[VERDICT_LEVEL],
        tooltip=["series", X, "word", Y],
        integer_x=True,
        y_domain=(0.0, 1.0),
        height=320,
        points=points,
    )
    # `charts.line_chart` dashes a series by the model it names; here the dash says which reading it is.
    spec = charts.spec_of(chart)
    encoding = spec["layer"][0]["encoding"]
    encoding["strokeDash"]["scale"]["range"] = [
        charts.DASHES["dashed" if name in dashed else "solid"] for name in encoding["strokeDash"]["scale"]["domain"]
    ]
    if x_domain is not None:
        encoding["x"]["scale"] = {"domain": list(x_domain), "nice": False, "zero": False}
        encoding["x"]["axis"].pop("values", None)  # ticks over the whole domain, not only the words drawn so far
    if rules:
        values = [{X: word, "label": label} for word, label in rules]
        x_encoding = {"field": X, "type": "quantitative"}
        spec["layer"] += [
            {
                "data": {"values": values},
                "mark": {"type": "rule", "color": style.LEVEL_COLOR, "strokeDash": [2, 3], "strokeWidth": 1.5},
                "encoding": {"x": x_encoding, "tooltip": [{"field": "label"}, {"field": X}]},
            },
            {
                "data": {"values": values},
                "mark": {"type": "text", "align": "left", "baseline": "top", "dx": 4, "y": 4, "color": "#616161"},
                "encoding": {"x": x_encoding, "text": {"field": "label"}},
            },
        ]
    return charts.ChartData(type="altair", plot=json.dumps(spec, allow_nan=False))


def _points(series: str, words: Sequence[str], probabilities) -> pd.DataFrame:
    probabilities = np.round(np.asarray(probabilities, np.float64), views.TRAJECTORY_DECIMALS)
    return pd.DataFrame({X: np.arange(1, len(probabilities) + 1), Y: probabilities, "series": series, "word": words})


def _frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[X, Y, "series", "word"])


def _bounded(models: views.LoadedModels, texts: Sequence[Any]) -> tuple[list, list[int]]:
    """`views.bounded_batch`, its empty-review notice naming the Compare tab's box (these sections are elsewhere)."""
    bounded, scored = views.bounded_batch(models, texts)
    bounded = [
        (
            text,
            characters,
            [EMPTY_REVIEW_MESSAGE if notice == views.EMPTY_REVIEW_MESSAGE else notice for notice in notices],
        )
        for text, characters, notices in bounded
    ]
    return bounded, scored


def _no_model_notice(models: views.LoadedModels) -> str:
    return f"No model is loaded; train them first with `{views.public_train_command(models)}`."


# --- 1. Clamp a gate, knock out a unit ----------------------------------------

INTERVENTION_COLUMNS = [
    "model",
    "what was changed",
    "P(positive) as learned",
    "P(positive) changed",
    "verdict as learned",
    "verdict changed",
    "largest change",
    "at word",
    "word",
]


@dataclass
class InterventionView:
    """One review, each model as learned and changed: the notice, the sentence, the plot and the table."""

    notices: list[str] = field(default_factory=list)
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=INTERVENTION_COLUMNS))
    chart: charts.ChartData | None = None

    def outputs(self) -> tuple:
        finding = findings.finding_markdown(findings.intervention_finding(self.table))
        return "\n\n".join(self.notices), finding, self.chart, self.table


def intervention_views(models: views.LoadedModels, rows: Sequence[tuple]) -> list[InterventionView]:
    """The intervention endpoint, batched: each (review, gate, from word, knock-out, unit) as sent.

    The reviews are read together, one forward pass per model
    (`Predictor.read_many`); each is then replayed in NumPy as learned and
    changed (`interventions.intervene`).
    """
    rows = [tuple(row) + (None,) * (5 - len(row)) for row in rows]
    bounded, scored = _bounded(models, [row[0] for row in rows])
    result = [InterventionView(notices=list(notices)) for _, _, notices in bounded]
    settings: dict[int, Settings] = {}
    for index in scored:
        read, problem = read_settings(*rows[index][1:5])
        if problem:
            result[index].notices.append(problem)
        else:
            settings[index] = read
            result[index].notices.extend(read.notices)
    if settings and not models.predictors:
        for index in settings:
            result[index].notices.append(_no_model_notice(models))
    outcomes: dict[int, list[dict[str, Any]]] = {index: [] for index in settings}
    for cell, predictor in models.predictors.items():
        try:
            interventions.require_one_pass(predictor)
        except SentimentError as error:
            for index in settings:
                result[index].notices.append(f"{model_name(cell)} is left out: {error}.")
            continue
        texts = [bounded[index][0] for index in settings]
        for index, reading in zip(settings, predictor.read_many(texts) if texts else []):
            chosen = settings[index]
            try:
                outcome = interventions.intervene(
                    predictor, bounded[index][0], chosen.memory_gate, chosen.start - 1, chosen.unit, reading
                )
            except SentimentError as error:
                result[index].notices.append(f"{model_name(cell)} is left out: {error}.")
                continue
            result[index].notices.extend(outcome["notes"])
            outcomes[index].append(outcome)
    for index, outcome_list in outcomes.items():
        _fill_intervention(result[index], settings[index], outcome_list)
    return result


def _fill_intervention(view: InterventionView, chosen: Settings, outcomes: list[dict[str, Any]]) -> None:
    if not outcomes:
        return
    parts, names, colors, dashed, rows = [], [], {}, set(), []
    read = len(outcomes[0]["words"])
    if chosen.start > read:
        view.notices.append(
            f"The review has {read} words read: a change from word {_number(chosen.start)} changes nothing."
        )
    for outcome in outcomes:
        cell, words = outcome["cell_type"], outcome["words"]
        name, made = model_name(cell), outcome["intervention"]
        learned, changed = outcome["learned"], outcome["changed"]
        names.append(f"{name} as learned")
        colors[names[-1]] = style.color(cell)
        parts.append(_points(names[-1], words, learned))
        if made is not None:
            names.append(f"{name} changed")
            colors[names[-1]], dashed = style.color(cell), dashed | {names[-1]}
            parts.append(_points(names[-1], words, changed))
        difference = np.abs(changed - learned)
        largest = int(np.argmax(difference))
        rows.append(
            [
                name,
                chosen.describe(cell, None if made is None else made.unit),
                round(float(learned[-1]), 4),
                round(float(changed[-1]), 4),
                *outcome["verdicts"],
                round(float(difference[largest]), 4),
                largest + 1,
                words[largest],
            ]
        )
    view.table = pd.DataFrame(rows, columns=INTERVENTION_COLUMNS)
    rules = [(chosen.start, f"changed from word {chosen.start}")] if 1 < chosen.start <= read else []
    view.chart = trajectory_chart(
        _frame(parts),
        names,
        colors,
        dashed,
        title="P(positive) after each word: as learned (solid) and changed (dashed)",
        rules=rules,
    )


def intervention_view(
    models: views.LoadedModels, text: Any, gate: Any = None, from_word: Any = 1, knockout: Any = None, unit: Any = None
) -> InterventionView:
    """`intervention_views` of one review."""
    return intervention_views(models, [(text, gate, from_word, knockout, unit)])[0]


# --- 2. Step through a review ---------------------------------------------------

# How many of the units a word moved most each step lists.
MOVED_UNITS = 3
# The step-through marks each word's point while the lines are this short.
POINTS_UP_TO = 40
# Reviews kept replayed, so the slider and the play button cost no model time.
KEPT_REVIEWS = 32

_EQUATIONS = {
    "lstm": [
        ("input gate", r"i_t &= \sigma(W_i x_t + U_i h_{t-1} + b_i)", "i_t"),
        ("forget gate", r"f_t &= \sigma(W_f x_t + U_f h_{t-1} + b_f)", "f_t"),
        ("output gate", r"o_t &= \sigma(W_o x_t + U_o h_{t-1} + b_o)", "o_t"),
        ("candidate", r"\tilde{c}_t &= \tanh(W_c x_t + U_c h_{t-1} + b_c)", r"\tilde{c}_t"),
        ("cell state", r"c_t &= f_t \odot c_{t-1} + i_t \odot \tilde{c}_t", "c_t"),
        ("hidden", r"h_t &= o_t \odot \tanh(c_t)", "h_t"),
    ],
    "gru": [
        ("update gate", r"z_t &= \sigma(W_z x_t + U_z h_{t-1} + b_z)", "z_t"),
        ("reset gate", r"r_t &= \sigma(W_r x_t + U_r h_{t-1} + b_r)", "r_t"),
        ("candidate", r"\tilde{h}_t &= \tanh(W_h x_t + r_t \odot (U_h h_{t-1} + b'_h) + b_h)", r"\tilde{h}_t"),
        ("hidden", r"h_t &= z_t \odot h_{t-1} + (1 - z_t) \odot \tilde{h}_t", "h_t"),
    ],
    "simple_rnn": [
        ("pre-activation", r"a_t &= W x_t + U h_{t-1} + b", "a_t"),
        ("hidden", r"h_t &= \tanh(a_t)", "h_t"),
    ],
}
_STATES = ("cell state", "hidden")
# The moved-units table's column of each quantity: its symbol in the equations, and a state's step (inline LaTeX).
_COLUMN = {
    "lstm": {"candidate": r"$\tilde{c}_t$", "cell state": r"$c_{t-1} \to c_t$"},
    "gru": {"candidate": r"$\tilde{h}_t$"},
    "simple_rnn": {"pre-activation": "$a_t$"},
}
_GATE_COLUMN = {
    "input gate": "$i_t$",
    "forget gate": "$f_t$",
    "output gate": "$o_t$",
    "update gate": "$z_t$",
    "reset gate": "$r_t$",
    "hidden": r"$h_{t-1} \to h_t$",
}


@dataclass(frozen=True)
class _Steps:
    """One model's replay of one review, kept for the step-through: every quantity of its first layer per word."""

    cell_type: str
    words: list[str]
    trajectory: np.ndarray  # <float64>[time]
    values: dict[str, np.ndarray]  # quantity -> <float32>[time, units]
    head_reads_state: bool  # P(positive) is the head on h_t (else the model run on the words so far)
    relu: bool
    layer_note: str


@dataclass
class StepView:
    """Word `word` of `words` of one review: the notice, the plot so far, each model's equations and moved units."""

    notices: list[str] = field(default_factory=list)
    word: int = 1
    words: int = 1
    chart: charts.ChartData | None = None
    equations: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def outputs(self) -> tuple:
        """The notice, the word, the review's length, the plot, then per cell type its equations and units table."""
        return (
            "\n\n".join(self.notices),
            self.word,
            self.words,
            self.chart,
            *(part.get(cell, "") for cell in CELL_TYPES for part in (self.equations, self.units)),
        )


class StepThrough:
    """The step-through endpoint: word t of a review, every loaded model's cell at that word.

    Keeps the replays of the last `KEPT_REVIEWS` reviews, so the slider and
    the play button, which ask for the same review word after word, cost a
    look-up and a few lines of text.
    """

    def __init__(self, models: views.LoadedModels):
        self.models = models
        self._kept: OrderedDict[str, dict[str, _Steps]] = OrderedDict()
        self._lock = threading.Lock()

    def views(self, rows: Sequence[tuple]) -> list[StepView]:
        """Each (review, word) as sent; reviews not kept are read together, one forward pass per model."""
        rows = [tuple(row) + (None,) * (2 - len(row)) for row in rows]
        bounded, scored = _bounded(self.models, [row[0] for row in rows])
        result = [StepView(notices=list(notices)) for _, _, notices in bounded]
        if scored and not self.models.predictors:
            for index in scored:
                result[index].notices.append(_no_model_notice(self.models))
            return result
        replays = self._replays(sorted({bounded[index][0] for index in scored}))
        for index in scored:
            steps = replays[bounded[index][0]]
            if steps:
                _fill_step(result[index], steps, rows[index][1])
            else:
                result[index].notices.append(
                    "No loaded model has SimpleRNN, LSTM or GRU gates to step through (the models after the LSTM "
                    "have none)."
                )
        return result

    def view(self, text: Any, word: Any = 1) -> StepView:
        """`views` of one review."""
        return self.views([(text, word)])[0]

    def _replays(self, texts: list[str]) -> dict[str, dict[str, _Steps]]:
        with self._lock:
            found = {text: self._kept[text] for text in texts if text in self._kept}
        missing = [text for text in texts if text not in found]
        read: dict[str, dict[str, _Steps]] = {text: {} for text in missing}
        for cell, predictor in self.models.predictors.items():
            if cell not in gates.QUANTITIES:
                continue
            for text, reading in zip(missing, predictor.read_many(missing) if missing else []):
                read[text][cell] = _steps_of(predictor, gates.inspect_review(predictor, text, reading))
        with self._lock:
            for text, steps in read.items():
                self._kept[text] = steps
                self._kept.move_to_end(text)
            while len(self._kept) > KEPT_REVIEWS:
                self._kept.popitem(last=False)
        return {**found, **read}


def _steps_of(predictor, inspection: dict[str, Any]) -> _Steps:
    layers = inspection["layers"]
    return _Steps(
        cell_type=inspection["cell_type"],
        words=inspection["words"],
        trajectory=np.asarray(inspection["trajectory"], np.float64),
        values={name: np.asarray(values, np.float32) for name, values in layers[0]["values"].items()},
        head_reads_state=predictor.reads_in_one_pass and len(layers) == 1,
        relu=bool(predictor.artifact.config.model.irnn),
        layer_note=""
        if len(layers) == 1
        else f" Shown: {layers[0]['layer']} ({layers[0]['direction']}), of {len(layers)} layers and directions.",
    )


def _fill_step(view: StepView, steps: dict[str, _Steps], word: Any) -> None:
    first = next(iter(steps.values()))
    count = len(first.words)
    asked = 1 if word is None else whole_number(word)
    if asked is None:
        view.notices.append(f"The word must be a whole number from 1 to {count}; got {shown(word)}: showing word 1.")
        asked = 1
    t = min(max(asked, 1), count)
    if t != asked:
        view.notices.append(f"Word {_number(asked)} is outside the review's {count} words read: showing word {t}.")
    view.word, view.words = t, count
    parts, names, colors = [], [], {}
    for cell, cell_steps in steps.items():
        names.append(model_name(cell))
        colors[names[-1]] = style.color(cell)
        parts.append(_points(names[-1], cell_steps.words[:t], cell_steps.trajectory[:t]))
        view.equations[cell], view.units[cell] = step_markdown(cell_steps, t)
    view.chart = trajectory_chart(
        _frame(parts),
        names,
        colors,
        set(),
        title=f"P(positive) so far: word {t} of {count}",
        rules=[(t, f"word {t}: “{first.words[t - 1]}”")],
        x_domain=(1, max(count, 2)),
        points=t <= POINTS_UP_TO,
    )


def step_markdown(steps: _Steps, t: int) -> tuple[str, str]:
    """One model at word t (1-based): its equations with the step's values and P so far; the units the word moved most.

    The gates' values are their means over units, ⟨·⟩; the states' change is
    the norm of what the word changed, ‖h_t − h_{t−1}‖; P(positive) so far is
    the model's reading after word t, and how much the word moved it.
    """
    cell, index = steps.cell_type, t - 1
    values = steps.values
    before = {
        name: values[name][index - 1] if index else np.zeros_like(values[name][0]) for name in _STATES if name in values
    }
    lines = []
    for name, equation, symbol in _EQUATIONS[cell]:
        if cell == "simple_rnn" and name == "hidden" and steps.relu:
            equation = r"h_t &= \max(0, a_t)"
        if name in _STATES:
            change = float(np.linalg.norm(values[name][index] - before[name]))
            symbol_before = symbol.replace("_t", "_{t-1}")
            value = rf"\lVert {symbol} - {symbol_before} \rVert = {change:.2f}"
        else:
            value = rf"\langle {symbol} \rangle = {float(values[name][index].mean()):.2f}"
        lines.append(rf"{equation} && {value}")
    probability, previous = float(steps.trajectory[index]), float(steps.trajectory[index - 1]) if index else UNDECIDED
    if steps.head_reads_state:
        lines.append(rf"p_t &= \sigma(w^\top h_t + b) && p_t = {probability:.2f}")
    equations = "$$\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n$$"
    verdict = LABEL_NAMES[int(probability >= 0.5)]
    heading = (
        f"#### {model_name(cell)}: word {t} of {len(steps.words)}, “{steps.words[index]}”\n\n"
        f"P(positive) so far: {previous:.2f} → **{probability:.2f}** ({probability - previous:+.2f}), {verdict}."
        + ("" if steps.head_reads_state else " (The model run on the words so far: its head does not read h_t alone.)")
        + steps.layer_note
    )
    return heading + "\n\n" + equations, _moved_units_table(steps, index, before)


def _moved_units_table(steps: _Steps, index: int, before: dict[str, np.ndarray]) -> str:
    """The gates' means over units, then the units whose h the word moved most: each gate and state, before → after."""
    values = steps.values
    names = [name for name, _, _ in _EQUATIONS[steps.cell_type]]
    moved = np.argsort(-np.abs(values["hidden"][index] - before["hidden"]), kind="stable")[:MOVED_UNITS]
    header = "| unit | " + " | ".join({**_GATE_COLUMN, **_COLUMN[steps.cell_type]}[name] for name in names) + " |"
    rows = [header, "|" + "---|" * (len(names) + 1)]
    rows.append(
        "| mean over units | "
        + " | ".join("—" if name in _STATES else f"{float(values[name][index].mean()):.2f}" for name in names)
        + " |"
    )
    for unit in moved:
        cells = [
            f"{float(before[name][unit]):+.2f} → **{float(values[name][index][unit]):+.2f}**"
            if name in _STATES
            else f"{float(values[name][index][unit]):.2f}"
            for name in names
        ]
        rows.append(f"| {int(unit)} | " + " | ".join(cells) + " |")
    return (
        f"The gates' means, and the {MOVED_UNITS} units this word moved most (largest change of $h$):\n\n"
        + "\n".join(rows)
    )


# --- 3. Two reviews side by side -------------------------------------------------

PAIR_COLUMNS = [
    "model",
    "P(positive), review",
    "P(positive), edited",
    "verdict, review",
    "verdict, edited",
    "largest gap",
    "at word (edited)",
    "same ending (words)",
    "agree again after (words)",
]
ONLY_IN_REVIEW, ONLY_IN_EDITED = "only in the review", "only in the edited copy"
DIFF_COLORS = {ONLY_IN_REVIEW: "#c2a5cf", ONLY_IN_EDITED: "#92c5de"}
EMPTY_EDITED_MESSAGE = "The edited copy is empty: type an edited copy of the review, or pick a ready-made edit."

# Edits of the example reviews (`views.example_reviews`), as (old, new) replacements made in order;
# kept here rather than in examples.json, which scripts/pick_examples.py rewrites.
READY_MADE_EDITS = [
    {
        "example": "short",
        "edit": "a negation added",
        "replacements": [("This is an excellent film.", "This is not an excellent film.")],
    },
    {
        "example": "short",
        "edit": "the ending changed",
        "replacements": [
            (
                'The film gives meaning to the phrase, "Never in the history of human conflict has so much been '
                'owed by so many to so few."',
                "But the second half is dull and far too long, and the ending is the worst I have seen.",
            )
        ],
    },
    {
        "example": "short",
        "edit": "the first sentence moved to the end",
        "replacements": [
            ("This is an excellent film. ", ""),
            ('so many to so few."', 'so many to so few." This is an excellent film.'),
        ],
    },
    {
        "example": "negation",
        "edit": "the negations taken out",
        "replacements": [("not really funny and not really cunning", "really funny and really cunning")],
    },
    {
        "example": "late flip",
        "edit": "the ending turned to praise",
        "replacements": [
            (
                "what a stupid, tasteless, boring, corny, sacrilegious movie!\" It's not fit to be seen by children "
                "or anyone else.",
                'what a sweet, funny, warm, lovely little movie!" It is fit to be seen by children and anyone else.',
            )
        ],
    },
]


def ready_made_edits() -> list[dict[str, str]]:
    """Each ready-made edit as `name` ("short: a negation added"), `review` and `edited` (the texts).

    Raises:
        ValueError: an edit's text is not found exactly once in its example (the examples were picked again).
    """
    examples = {example["name"]: example["text"] for example in views.example_reviews()}
    edits = []
    for edit in READY_MADE_EDITS:
        text = examples[edit["example"]]
        edited = text
        for old, new in edit["replacements"]:
            if edited.count(old) != 1:
                raise ValueError(
                    f"the {edit['example']!r} example holds {old[:40]!r} {edited.count(old)} times, not once"
                )
            edited = edited.replace(old, new)
        edits.append({"name": f"{edit['example']}: {edit['edit']}", "review": text, "edited": edited})
    return edits


@dataclass
class PairView:
    """A review and its edited copy: the notice, the sentence, the plot, the table, both texts with the edit marked."""

    notices: list[str] = field(default_factory=list)
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PAIR_COLUMNS))
    chart: charts.ChartData | None = None
    parted_at: int | None = None
    parted_word: str | None = None
    review: list[tuple[str, str | None]] | None = None
    edited: list[tuple[str, str | None]] | None = None

    def outputs(self) -> tuple:
        finding = findings.pair_finding(self.table, self.parted_at, self.parted_word)
        return (
            "\n\n".join(self.notices),
            findings.finding_markdown(finding),
            self.chart,
            self.table,
            self.review,
            self.edited,
        )


def pair_views(models: views.LoadedModels, rows: Sequence[tuple]) -> list[PairView]:
    """The pair endpoint, batched: each (review, edited copy) as sent; every text read in one pass per model."""
    rows = [tuple(row) + (None,) * (2 - len(row)) for row in rows]
    originals, _ = _bounded(models, [row[0] for row in rows])
    edits, _ = views.bounded_batch(models, [row[1] for row in rows])
    result = []
    for (_, _, notices), (_, _, edited_notices) in zip(originals, edits):
        view = PairView(notices=list(notices))
        view.notices += [
            EMPTY_EDITED_MESSAGE if notice == views.EMPTY_REVIEW_MESSAGE else notice.replace("review", "edited copy")
            for notice in edited_notices
        ]
        result.append(view)
    pairs = [index for index, (original, edited) in enumerate(zip(originals, edits)) if original[0] and edited[0]]
    if pairs and not models.predictors:
        for index in pairs:
            result[index].notices.append(_no_model_notice(models))
        return result
    texts = [originals[index][0] for index in pairs] + [edits[index][0] for index in pairs]
    readings = {cell: predictor.read_many(texts) if texts else [] for cell, predictor in models.predictors.items()}
    for position, index in enumerate(pairs):
        by_model = {cell: (read[position], read[len(pairs) + position]) for cell, read in readings.items()}
        _fill_pair(result[index], by_model)
    return result


def pair_view(models: views.LoadedModels, text: Any, edited: Any) -> PairView:
    """`pair_views` of one pair."""
    return pair_views(models, [(text, edited)])[0]


def _fill_pair(view: PairView, by_model: dict[str, tuple]) -> None:
    first_review, first_edited = next(iter(by_model.values()))
    view.review, view.edited = _marked_words(list(first_review.words), list(first_edited.words))
    words = gates.words_read(first_review), gates.words_read(first_edited)
    common = 0
    while common < min(map(len, words)) and words[0][common] == words[1][common]:
        common += 1
    if common == len(words[0]) == len(words[1]):
        view.notices.append("The models read the same words in both: edit the words (not only punctuation or case).")
    else:
        view.parted_at, view.parted_word = common + 1, (words[1] + ["(the end)"])[common]
    ending = 0
    while ending < min(map(len, words)) - common and words[0][-1 - ending] == words[1][-1 - ending]:
        ending += 1
    matcher = difflib.SequenceMatcher(None, words[0], words[1], autojunk=False)
    aligned = [(block.a + k, block.b + k) for block in matcher.get_matching_blocks() for k in range(block.size)]
    parts, names, colors, dashed, rows = [], [], {}, set(), []
    for cell, (review, edited) in by_model.items():
        name = model_name(cell)
        trajectories = np.asarray(review.trajectory, np.float64), np.asarray(edited.trajectory, np.float64)
        for label, trajectory, read in (
            ("review", trajectories[0], words[0]),
            ("edited copy", trajectories[1], words[1]),
        ):
            names.append(f"{name}: {label}")
            colors[names[-1]] = style.color(cell)
            parts.append(_points(names[-1], read, trajectory))
        dashed.add(names[-1])
        gaps = np.array([abs(trajectories[0][a] - trajectories[1][b]) for a, b in aligned]) if aligned else np.zeros(0)
        largest = int(np.argmax(gaps)) if len(gaps) else None
        tail = np.abs(trajectories[0][len(words[0]) - ending :] - trajectories[1][len(words[1]) - ending :])
        rows.append(
            [
                name,
                round(float(trajectories[0][-1]), 4),
                round(float(trajectories[1][-1]), 4),
                LABEL_NAMES[int(trajectories[0][-1] >= 0.5)],
                LABEL_NAMES[int(trajectories[1][-1] >= 0.5)],
                None if largest is None else round(float(gaps[largest]), 4),
                None if largest is None else aligned[largest][1] + 1,
                ending,
                agree_again_after(tail),
            ]
        )
    view.table = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    rules = [(view.parted_at, "the reviews part here")] if view.parted_at else []
    view.chart = trajectory_chart(
        _frame(parts),
        names,
        colors,
        dashed,
        title="P(positive) after each word: the review (solid) and the edited copy (dashed)",
        rules=rules,
    )


def agree_again_after(gaps: np.ndarray) -> int | None:
    """How many words of the common ending two readings take to agree (within `SAME_READING`) for good.

    Args:
        gaps: <float>[words] |P(review) − P(edited)| at each word of the
            ending both texts share, after the last edit.

    Returns:
        0 when they agree from the first shared word on, k when they agree
        from word k + 1 of the ending to its end, None when they still
        differ at the last word (or there is no shared ending).
    """
    apart = np.flatnonzero(np.asarray(gaps) >= SAME_READING)
    if not len(gaps) or (len(apart) and apart[-1] == len(gaps) - 1):
        return None
    return int(apart[-1] + 1) if len(apart) else 0


def _marked_words(review: list[str], edited: list[str]) -> tuple[list, list]:
    """Both texts' words (as the models split them), a span each, the words only one of them has marked.

    A span per word, not per run: the page cannot break a line inside a span.
    """
    review_categories: list[str | None] = [None] * len(review)
    edited_categories: list[str | None] = [None] * len(edited)
    matcher = difflib.SequenceMatcher(None, review, edited, autojunk=False)
    for operation, a_start, a_stop, b_start, b_stop in matcher.get_opcodes():
        if operation != "equal":
            review_categories[a_start:a_stop] = [ONLY_IN_REVIEW] * (a_stop - a_start)
            edited_categories[b_start:b_stop] = [ONLY_IN_EDITED] * (b_stop - b_start)
    return _spans(review, review_categories), _spans(edited, edited_categories)


def _spans(words: list[str], categories: list[str | None]) -> list[tuple[str, str | None]]:
    spans: list[tuple[str, str | None]] = []
    for index, (word, category) in enumerate(zip(words, categories)):
        if index:
            spans.append((" ", None))
        spans.append((word, category))
    return spans
