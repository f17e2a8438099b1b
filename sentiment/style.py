"""One colour per model, for the app's plots and the PNGs in docs/ alike.

Okabe-Ito colours (safe for colour-blind readers). The three cells the
project compares each have a hue; a variant of a cell (chrono gate biases,
another schedule) is drawn in its cell's colour, dotted. The references
(the bag of n-grams, the controls of sentiment at a distance, the bench's
Conv1D) are greys, dashed; the models "after the LSTM" (minGRU, minLSTM,
the Transformer) are a secondary family like the references: a hue each
(not one of the cells'), dash-dotted, their chrono variant dotted, and
minGRU's or minLSTM's sequential loop (the bench's "+loop") dotted beside
its parallel scan ("+scan", drawn as the model itself). Chance and
best-constant levels are drawn as labelled grey lines.

Every plotting module reads its colours here: `sentiment.analysis.plots`
(matplotlib) and the app (`webapp`), whose legends name models the way
`sentiment.report.model_name` writes them.
"""

from __future__ import annotations

from sentiment.config import SOLVERS
from sentiment.report import AFTER_THE_LSTM_MARK, model_name

# Model key -> (colour, tint). The tint draws a model's training split.
COLORS = {
    "simple_rnn": ("#D55E00", "#EE9A6B"),
    "lstm": ("#0072B2", "#6FA8D6"),
    "gru": ("#009E73", "#66C5AB"),
    # The plain RNN's best case (identity recurrence, ReLU): a neighbour of its hue.
    "irnn": ("#E69F00", "#F2C466"),
    # After the LSTM.
    "mingru": ("#CC79A7", "#E0A8C8"),
    "minlstm": ("#56B4E9", "#9AD0F0"),
    "transformer": ("#000000", "#999999"),
    # References and controls.
    "bow": ("#666666", "#BBBBBB"),
    "bag_of_embeddings": ("#888888", "#CCCCCC"),
    "lstm_t0": ("#333333", "#AAAAAA"),
    # The bench's parallel reference (sentiment.analysis.bench.CONV1D).
    "conv1d": ("#7F7F7F", "#BFBFBF"),
}
# The colour of a level a model should beat: chance, the best constant.
LEVEL_COLOR = "#9E9E9E"
# A model with no entry above.
OTHER_COLOR = "#7F7F7F"
# The Jacobian panel's SimpleRNN on inputs scaled up ("SimpleRNN, inputs × 8"): its cell's tint
# (not minGRU's hue, which shares that panel).
DRIVEN_COLOR = "#EE9A6B"

REFERENCES = ("bow", "bag_of_embeddings", "lstm_t0", "conv1d")
AFTER_THE_LSTM = ("mingru", "minlstm", "transformer")


def _cell_and_init(key: str) -> tuple[str, str]:
    cell, _, init = key.partition("+")
    return cell, init


def color(key: str) -> str:
    """The colour of a model or variant key ("lstm", "lstm+chrono", "bow", ...).

    A variant has its cell's colour (its line is dotted: `line_style`).
    """
    return COLORS.get(_cell_and_init(key)[0], (OTHER_COLOR, OTHER_COLOR))[0]


def tint(key: str) -> str:
    """The lighter colour of a model: its interval bounds, its training split."""
    return COLORS.get(_cell_and_init(key)[0], (OTHER_COLOR, OTHER_COLOR))[1]


def line_style(key: str) -> str:
    """The matplotlib line style of a model: solid for the cells, dotted for a
    chrono variant, dashed for a reference or the IRNN, dash-dot after the LSTM
    (a "+scan" solver as its model, a "+loop" dotted)."""
    cell, init = _cell_and_init(key)
    if init == "scan":
        return line_style(cell)
    if init:
        return ":"
    if cell in REFERENCES or cell == "irnn":
        return "--"
    if cell in AFTER_THE_LSTM:
        return "-."
    return "-"


def color_map(keys) -> dict[str, str]:
    """Display name -> colour for the app's plots, for model or variant keys."""
    return {model_name(key): color(key) for key in keys}


def key_of_name(name: str) -> str | None:
    """The model key a plot's name stands for, or None.

    Reads the names the project writes: `model_name`'s ("LSTM (chrono
    init)", "minGRU (loop solver)"), `sentiment.report.marked_name`'s
    ("minGRU (after the LSTM)", "minGRU (chrono init, after the LSTM)"), and
    those of sentiment at a distance ("GRU (mixed schedule)", "bag of
    embeddings", "LSTM trained at T = 0"), whose other schedule is drawn like
    a variant.
    """
    if name == "bag of embeddings":
        return "bag_of_embeddings"
    if "trained at T = 0" in name:
        return "lstm_t0"
    base, _, note = name.partition(" (")
    notes = [part.strip() for part in note.removesuffix(")").split(",") if part.strip()]
    notes = [part for part in notes if part != AFTER_THE_LSTM_MARK]
    for key in COLORS:
        if model_name(key) == name:
            return key
        if model_name(key) != base:
            continue
        if not notes:
            return key
        variant = notes[0]
        if len(notes) == 1 and variant.endswith(" solver") and variant.split()[0] in SOLVERS:
            return f"{key}+{variant.split()[0]}"
        if len(notes) == 1 and variant.endswith(("init", "schedule")):
            return f"{key}+variant"
    return None


def color_of_name(name: str) -> str:
    """The colour of a model as the plots name it ("LSTM (chrono init)", "SimpleRNN, inputs × 8", ...)."""
    if ", inputs ×" in name:
        return DRIVEN_COLOR
    key = key_of_name(name)
    return OTHER_COLOR if key is None else color(key)


def tint_of_name(name: str) -> str:
    """The tint of a model as the plots name it."""
    key = key_of_name(name)
    return OTHER_COLOR if key is None else tint(key)


def line_style_of_name(name: str) -> str:
    """The matplotlib line style of a model as the plots name it."""
    key = key_of_name(name)
    return "-" if key is None else line_style(key)


def colors_of_names(names) -> dict[str, str]:
    """Display name -> colour, for the names a plot draws."""
    return {name: color_of_name(name) for name in names}
