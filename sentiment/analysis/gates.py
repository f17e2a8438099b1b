"""Inside the cell: a trained recurrent layer replayed token by token, every gate exposed.

Keras runs a recurrent layer as one fused loop and returns only its
outputs. `replay` runs the same equations again in NumPy, with the layer's
own weights, activations and gate order, and keeps everything a reader
wants to see at each token:

- LSTM (gates in Keras's order input, forget, cell, output):
  i = σ(x W_i + h U_i + b_i), f = σ(...), o = σ(...), candidate g = tanh(...),
  c = f ⊙ c_prev + i ⊙ g, h = o ⊙ tanh(c). The input gate decides what to
  store, the forget gate what to keep of the old memory, the output gate
  what to show.
- GRU (Keras: update z, reset r, candidate; `reset_after=True` by default):
  z = σ(x W_z + b_z + h U_z + b'_z), r = σ(...),
  candidate = tanh(x W_h + b_h + r ⊙ (h U_h + b'_h)), h = z ⊙ h_prev + (1 − z) ⊙ candidate.
  In Keras's convention z near 1 keeps the old state.
- SimpleRNN: the pre-activation x W + h U + b, and h = tanh(pre-activation)
  (ReLU for the IRNN).

`replay` and `read_review` take an optional `Intervention`: the memory gate
(the LSTM's forget gate, the GRU's update gate) clamped to a value, and/or
one unit's state held at 0, from a given word on. Without one, or with one
that changes nothing, the replay is the same code and gives the same
numbers; `sentiment.analysis.interventions` reads P(positive) from it.

A review is replayed on its real tokens only, which is what the layer's mask
does to a right-padded batch; a bidirectional layer's backward direction
reads the tokens from the last to the first and is reported aligned with
them. Plain NumPy per review: no TensorFlow function is traced, so no
review length retraces anything.

The models after the LSTM (minGRU, minLSTM, transformer) are not replayed:
they are refused by name (`require_replayable`), never half-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from sentiment import models
from sentiment.errors import SentimentError

# What `replay` returns per cell type, in display order; "hidden" is h.
QUANTITIES = {
    "lstm": ("input gate", "forget gate", "output gate", "candidate", "cell state", "hidden"),
    "gru": ("update gate", "reset gate", "candidate", "hidden"),
    "simple_rnn": ("pre-activation", "hidden"),
}
GATE_ROLES = {
    "input gate": "what to store",
    "forget gate": "what to keep of the old memory (1 keeps it)",
    "output gate": "what to show",
    "update gate": "how much of the old state to keep (Keras: 1 keeps it)",
    "reset gate": "how much of the old state the candidate may use",
}
_ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
    "linear": lambda x: x,
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
}


@dataclass(frozen=True)
class Intervention:
    """A change to a cell's computation, made in the replay from word `start` on.

    Attributes:
        memory_gate: None leaves the memory gate (`MEMORY_GATES`) as learned;
            a value in [0, 1] replaces it in every unit. 0 keeps nothing of
            the old memory (LSTM: c_t = i_t * g_t; GRU: h_t = candidate), 1
            keeps all of it (LSTM: c_t = c_{t-1} + i_t * g_t; GRU: h_t = h_{t-1}).
            A SimpleRNN has no gate: it is left as it is.
        start: the first word (0-based, in the review's order) changed.
        unit: a unit whose state (hidden, and the LSTM's cell state) is held
            at 0 after each changed step, so it passes nothing on; None: none.
            `read_review` knocks it out in the last recurrent layer, the one
            the head reads.
    """

    memory_gate: float | None = None
    start: int = 0
    unit: int | None = None

    def __post_init__(self):
        if self.memory_gate is not None and not 0.0 <= self.memory_gate <= 1.0:
            raise ValueError(f"memory_gate must be None (as learned) or in [0, 1]; got {self.memory_gate}")
        if self.start < 0:
            raise ValueError(f"start must be a word index, 0 or more; got {self.start}")
        if self.unit is not None and self.unit < 0:
            raise ValueError(f"unit must be a unit index, 0 or more; got {self.unit}")

    @property
    def changes_nothing(self) -> bool:
        return self.memory_gate is None and self.unit is None


def _activation(function) -> Any:
    name = function if isinstance(function, str) else keras.activations.serialize(function)
    name = name if isinstance(name, str) else name.get("config", name.get("class_name"))
    if name not in _ACTIVATIONS:
        raise ValueError(f"cannot replay activation {name!r}; replay knows {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def require_replayable(cell_types) -> None:
    """Refuses, in one line, models whose cells `replay` does not know (those after the LSTM).

    Args:
        cell_types: the models' `ModelConfig.cell_type`s.

    Raises:
        SentimentError: one of them is not "simple_rnn", "lstm" or "gru".
    """
    others = [cell for cell in cell_types if cell not in QUANTITIES]
    if others:
        raise SentimentError(
            f"inside the cell replays SimpleRNN, LSTM and GRU gates; {', '.join(others)} "
            f"{'is' if len(others) == 1 else 'are'} after the LSTM, with no such gates to show: "
            f"leave {'it' if len(others) == 1 else 'them'} out of --cells"
        )


def cell_type(layer: keras.layers.Layer) -> str:
    """ "lstm", "gru" or "simple_rnn" for a Keras recurrent layer."""
    for name, kind in (("lstm", keras.layers.LSTM), ("gru", keras.layers.GRU), ("simple_rnn", keras.layers.SimpleRNN)):
        if isinstance(layer, kind):
            return name
    raise ValueError(f"cannot replay a {type(layer).__name__}")


def replay(
    layer: keras.layers.Layer, inputs: np.ndarray, backwards: bool = False, intervention: Intervention | None = None
) -> dict[str, np.ndarray]:
    """Runs a recurrent layer's cell over one sequence, keeping every gate.

    Args:
        layer: a Keras SimpleRNN, LSTM or GRU layer (not the Bidirectional wrapper).
        inputs: <float>[time, features] what the layer reads (real tokens only).
        backwards: read from the last step to the first (a Bidirectional
            layer's backward direction); the results stay aligned with `inputs`.
        intervention: what to change at the steps from `intervention.start`
            on (in `inputs`' order), or None: the layer as learned. The
            values returned are those the changed cell computed (a clamped
            gate shows its clamped value, a knocked-out unit 0).

    Returns:
        Quantity name (see `QUANTITIES`) -> <float64>[time, units].

    Raises:
        ValueError: the intervention names a unit the layer does not have.
    """
    cell = layer.cell
    weights = [
        np.asarray(keras.ops.convert_to_numpy(weight), np.float64) for weight in (cell.kernel, cell.recurrent_kernel)
    ]
    bias = np.asarray(keras.ops.convert_to_numpy(cell.bias), np.float64) if cell.use_bias else None
    step = {"lstm": _lstm_step, "gru": _gru_step, "simple_rnn": _simple_rnn_step}[cell_type(layer)]
    functions = (
        _activation(cell.activation),
        _activation(getattr(cell, "recurrent_activation", "sigmoid") or "sigmoid"),
    )
    projected = np.asarray(inputs, np.float64) @ weights[0]  # every token's input projection at once
    order = range(len(inputs) - 1, -1, -1) if backwards else range(len(inputs))
    units = cell.units
    if intervention is not None and intervention.unit is not None and intervention.unit >= units:
        raise ValueError(f"{layer.name} has {units} units (0 to {units - 1}); there is no unit {intervention.unit}")
    state = {"hidden": np.zeros(units), "cell state": np.zeros(units)}
    rows: dict[int, dict[str, np.ndarray]] = {}
    for t in order:
        changed = intervention is not None and t >= intervention.start
        memory_gate = intervention.memory_gate if changed else None
        state = step(projected[t], state, weights[1], bias, cell, functions, memory_gate)
        if changed and intervention.unit is not None:
            state = _knocked_out(state, intervention.unit)
        rows[t] = state
    names = QUANTITIES[cell_type(layer)]
    return {
        name: np.stack([rows[t][name] for t in range(len(inputs))]) if len(inputs) else np.zeros((0, units))
        for name in names
    }


def _knocked_out(state: dict[str, np.ndarray], unit: int) -> dict[str, np.ndarray]:
    """The step's values with `unit`'s state (hidden, and the LSTM's cell state) at 0: it passes nothing on."""
    state = dict(state)
    for name in ("hidden", "cell state"):
        if name in state:
            state[name] = state[name].copy()
            state[name][unit] = 0.0
    return state


def _lstm_step(xw, state, recurrent_kernel, bias, cell, functions, memory_gate=None) -> dict[str, np.ndarray]:
    activation, recurrent_activation = functions
    z = xw + state["hidden"] @ recurrent_kernel + (bias if bias is not None else 0.0)
    i, f, g, o = np.split(z, 4)
    i, f, o, g = recurrent_activation(i), recurrent_activation(f), recurrent_activation(o), activation(g)
    if memory_gate is not None:
        f = np.full_like(f, memory_gate)
    c = f * state["cell state"] + i * g
    return {
        "input gate": i,
        "forget gate": f,
        "output gate": o,
        "candidate": g,
        "cell state": c,
        "hidden": o * activation(c),
    }


def _gru_step(xw, state, kernel, bias, cell, functions, memory_gate=None) -> dict[str, np.ndarray]:
    activation, recurrent_activation = functions
    units, h = cell.units, state["hidden"]
    if bias is None:
        input_bias = recurrent_bias = np.zeros(3 * units)
    elif cell.reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, np.zeros(3 * units)
    x_z, x_r, x_h = np.split(xw + input_bias, 3)
    inner_z = h @ kernel[:, :units] + recurrent_bias[:units]
    inner_r = h @ kernel[:, units : 2 * units] + recurrent_bias[units : 2 * units]
    z, r = recurrent_activation(x_z + inner_z), recurrent_activation(x_r + inner_r)
    if memory_gate is not None:
        z = np.full_like(z, memory_gate)
    if cell.reset_after:
        candidate = activation(x_h + r * (h @ kernel[:, 2 * units :] + recurrent_bias[2 * units :]))
    else:
        candidate = activation(x_h + (r * h) @ kernel[:, 2 * units :])
    return {"update gate": z, "reset gate": r, "candidate": candidate, "hidden": z * h + (1.0 - z) * candidate}


def _simple_rnn_step(xw, state, recurrent_kernel, bias, cell, functions, memory_gate=None) -> dict[str, np.ndarray]:
    activation, _ = functions  # no gate: `memory_gate` leaves it as it is
    pre = xw + state["hidden"] @ recurrent_kernel + (bias if bias is not None else 0.0)
    return {"pre-activation": pre, "hidden": activation(pre)}


def read_review(
    model: keras.Model, token_ids: np.ndarray, intervention: Intervention | None = None
) -> list[dict[str, Any]]:
    """Replays every recurrent layer (and direction) of a classifier on one review.

    Args:
        model: from `sentiment.models.build_classifier`.
        token_ids: <int>[length] the review's ids, padding (0) allowed at the end.
        intervention: made in every recurrent layer (the unit knocked out in
            the last one only), or None: the model as learned.

    Returns:
        One entry per recurrent layer and direction, in the model's order:
        `layer` (its name), `direction` ("forward" or "backward"), `cell`
        (the cell type) and `values` (from `replay`).
    """
    ids = np.asarray(token_ids)
    ids = ids[ids != 0] if np.any(ids != 0) else ids[:1]
    x = np.asarray(keras.ops.convert_to_numpy(models.embedding(model).embeddings), np.float64)[ids]
    results = []
    recurrent_layers = [
        layer
        for layer in models.head(model).layers
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
    ]
    for layer in models.head(model).layers:
        if isinstance(layer, keras.layers.Bidirectional):
            directions = [("forward", layer.forward_layer, False), ("backward", layer.backward_layer, True)]
        elif isinstance(layer, keras.layers.RNN):
            directions = [("forward", layer, False)]
        else:
            continue
        layer_intervention = intervention
        if intervention is not None and intervention.unit is not None and layer is not recurrent_layers[-1]:
            layer_intervention = Intervention(intervention.memory_gate, intervention.start)  # the unit: last layer only
        outputs = []
        for direction, recurrent, backwards in directions:
            values = replay(recurrent, x, backwards=backwards, intervention=layer_intervention)
            results.append(
                {"layer": layer.name, "direction": direction, "cell": cell_type(recurrent), "values": values}
            )
            outputs.append(values["hidden"])
        x = np.concatenate(outputs, axis=-1)  # what the next recurrent layer reads
    if not results:
        raise SentimentError(f"{model.name} has no SimpleRNN, LSTM or GRU layer to replay")
    return results


def sentiment_unit(hidden: np.ndarray, trajectory: np.ndarray) -> dict[str, Any] | None:
    """The unit whose activation follows P(positive) most closely over a review (Radford et al. 2017).

    Args:
        hidden: <float>[time, units] the state after each token.
        trajectory: <float>[time] P(positive) after each token.

    Returns:
        `unit`, `correlation` (Pearson, the largest in absolute value) and
        `trace` (<float64>[time]); None for a review of fewer than 3 tokens
        or when nothing varies.
    """
    hidden, trajectory = np.asarray(hidden, np.float64), np.asarray(trajectory, np.float64)
    if len(trajectory) < 3 or np.std(trajectory) == 0:
        return None
    spread = hidden.std(axis=0)
    centred = (hidden - hidden.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    target = (trajectory - trajectory.mean()) / trajectory.std()
    correlations = np.where(spread > 0, centred.T @ target / len(target), 0.0)
    unit = int(np.argmax(np.abs(correlations)))
    if correlations[unit] == 0:
        return None
    return {"unit": unit, "correlation": float(correlations[unit]), "trace": hidden[:, unit]}


def saturated_share(hidden: np.ndarray, level: float = 0.95) -> np.ndarray:
    """<float64>[time]: the share of units with |h| above `level` after each token.

    Where tanh saturates, gradients vanish.
    """
    return np.mean(np.abs(np.asarray(hidden)) > level, axis=1)


# --- One review, every model: what `python -m sentiment inspect` and the app show ---


def words_read(reading) -> list[str]:
    """The words a model read (a review without words is read as one unknown token)."""
    words = list(reading.words[reading.read_start : reading.read_stop])
    return words or ["[UNK]"]


def inspect_review(predictor, text: str, reading=None) -> dict[str, Any]:
    """One model on one review: the words it read, P(positive) after each, and every gate of every layer.

    Args:
        predictor: a `sentiment.serving.predict.Predictor`.
        text: the review.
        reading: the predictor's `Reading` of `text` when it was already
            read (in a batch, `Predictor.read_many`); None reads it here.

    Returns:
        `cell_type`, `words`, `trajectory` <float>[time], `layers` (from
        `read_review`), `gate_means` (quantity -> <float>[time], the mean
        over units of each gate), `sentiment_unit` (of the last layer's
        hidden state, or None) and, for a SimpleRNN, `saturated_share`.
    """
    require_replayable([predictor.cell_type])
    reading = predictor.read(text) if reading is None else reading
    layers = read_review(predictor.artifact.model, reading.token_ids)
    trajectory = np.asarray(reading.trajectory, np.float64)
    last = (
        layers[-1]["values"]["hidden"]
        if layers[-1]["direction"] == "forward"
        else np.concatenate([entry["values"]["hidden"] for entry in layers[-2:]], axis=-1)
    )
    result = {
        "cell_type": predictor.cell_type,
        "words": words_read(reading),
        "trajectory": trajectory,
        "layers": layers,
        "gate_means": {name: values.mean(axis=1) for name, values in layers[0]["values"].items() if name in GATE_ROLES},
        "sentiment_unit": sentiment_unit(last, trajectory),
    }
    if predictor.cell_type == "simple_rnn":
        result["saturated_share"] = saturated_share(layers[0]["values"]["hidden"])
    return result


def heatmap_values(inspection: dict[str, Any]) -> dict[str, np.ndarray]:
    """Quantity -> <float>[time, units] for the heatmap; named by layer and direction when there are several.

    Takes `inspect_review`'s result or its JSON (`inspection_json`).
    """
    layers = inspection["layers"]
    prefix = (lambda entry: f"{entry['layer']} {entry['direction']}: ") if len(layers) > 1 else (lambda entry: "")
    return {
        prefix(entry) + name: np.asarray(values, np.float64)
        for entry in layers
        for name, values in entry["values"].items()
    }


def inspection_json(inspection: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready form of `inspect_review`: every per-token value, rounded to 5 significant digits."""

    def listed(array: np.ndarray) -> list:
        return (
            np.vectorize(lambda value: float(f"{value:.5g}"), otypes=[float])(np.asarray(array, np.float64)).tolist()
            if np.size(array)
            else []
        )

    unit = inspection["sentiment_unit"]
    return {
        "cell_type": inspection["cell_type"],
        "words": inspection["words"],
        "trajectory": listed(inspection["trajectory"]),
        "layers": [
            {
                **{key: entry[key] for key in ("layer", "direction", "cell")},
                "values": {name: listed(values) for name, values in entry["values"].items()},
            }
            for entry in inspection["layers"]
        ],
        "gate_means": {name: listed(values) for name, values in inspection["gate_means"].items()},
        "sentiment_unit": None
        if unit is None
        else {"unit": unit["unit"], "correlation": unit["correlation"], "trace": listed(unit["trace"])},
        **({"saturated_share": listed(inspection["saturated_share"])} if "saturated_share" in inspection else {}),
    }


# --- Across the test set ---------------------------------------------------

# The gate that decides how much memory a gated cell keeps per step.
MEMORY_GATES = {"lstm": "forget gate", "gru": "update gate"}
HISTOGRAM_BINS = 20
# A word is "strong" for a model when its mean effect on P(positive) over the
# sample is in the top STRONG_SHARE of the words seen at least MIN_OCCURRENCES times.
STRONG_SHARE = 0.05
MIN_OCCURRENCES = 3
WORD_CLASSES = ("strong positive", "strong negative", "other")


def test_set_statistics(predictor, texts) -> dict[str, Any]:
    """How one model's gates behave over many reviews.

    Returns:
        `memory_gate` (its name, or None for a SimpleRNN) and its
        `histogram` (`edges`, `counts` over every unit and token) and mean;
        `word_classes`: per class (strong positive, strong negative, other,
        by the model's own mean effect of reading each word) the number of
        words and tokens and the strongest words; `gate_by_class`: per gate,
        its mean over units on the tokens of each class.
    """
    require_replayable([predictor.cell_type])
    memory_gate = MEMORY_GATES.get(predictor.cell_type)
    counts = np.zeros(HISTOGRAM_BINS, np.int64)
    token_ids, effects, means = [], [], {}
    for text in texts:
        reading = predictor.read(text)
        values = read_review(predictor.artifact.model, reading.token_ids)[0]["values"]
        token_ids.append(np.asarray(reading.token_ids))
        effects.append(reading.effects)
        for name in GATE_ROLES:
            if name in values:
                means.setdefault(name, []).append(values[name].mean(axis=1))
        if memory_gate:
            counts += np.histogram(values[memory_gate], bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0]
    ids, effects = np.concatenate(token_ids), np.concatenate(effects).astype(np.float64)
    classes = _word_classes(ids, effects)
    token_class = np.select(
        [np.isin(ids, classes["strong positive"]), np.isin(ids, classes["strong negative"])], [0, 1], 2
    )
    vocabulary = predictor.artifact.vocabulary
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    return {
        "cell_type": predictor.cell_type,
        "reviews": len(texts),
        "tokens": int(len(ids)),
        "memory_gate": memory_gate,
        "histogram": {"edges": edges.round(4).tolist(), "counts": counts.tolist()} if memory_gate else None,
        "mean_memory_gate": float((counts * (edges[:-1] + edges[1:]) / 2).sum() / max(counts.sum(), 1))
        if memory_gate
        else None,
        "word_classes": {
            name: {
                "words": int(len(classes[name])),
                "tokens": int((token_class == index).sum()),
                "examples": [vocabulary[i] for i in classes[name][:10]],
            }
            for index, name in enumerate(WORD_CLASSES)
        },
        "gate_by_class": {
            gate: {
                name: float(np.concatenate(values)[token_class == index].mean())
                if (token_class == index).any()
                else None
                for index, name in enumerate(WORD_CLASSES)
            }
            for gate, values in means.items()
        },
    }


def _word_classes(ids: np.ndarray, effects: np.ndarray) -> dict[str, np.ndarray]:
    """Word ids by class: the strongest mean effects (each sorted strongest first), and every other word seen."""
    occurrences = np.bincount(ids)
    total = np.bincount(ids, weights=effects, minlength=len(occurrences))
    mean = np.divide(total, occurrences, out=np.zeros_like(total), where=occurrences > 0)
    eligible = np.flatnonzero(occurrences >= MIN_OCCURRENCES)
    eligible = eligible[eligible > 1]  # not padding, not [UNK]
    if not len(eligible):
        return {
            "strong positive": np.array([], int),
            "strong negative": np.array([], int),
            "other": np.flatnonzero(occurrences),
        }
    threshold = np.quantile(np.abs(mean[eligible]), 1.0 - STRONG_SHARE)
    positive = eligible[(mean[eligible] >= threshold) & (mean[eligible] > 0)]
    negative = eligible[(mean[eligible] <= -threshold) & (mean[eligible] < 0)]
    seen = np.flatnonzero(occurrences)
    return {
        "strong positive": positive[np.argsort(-mean[positive])],
        "strong negative": negative[np.argsort(mean[negative])],
        "other": np.setdiff1d(seen, np.concatenate([positive, negative])),
    }


# --- The command: python -m sentiment inspect --------------------------------


def inspect_models(
    predictors: dict, text: str | None, sample_size: int, seed: int = 0, command: str | None = None
) -> dict[str, Any]:
    """Every model's gates on one review and over a sample of its test split, JSON-ready.

    Args:
        predictors: cell type -> `Predictor`, from one training run.
        text: a review to read token by token (None: none).
        sample_size: test reviews for the statistics (0: none); the sample
            is the one `sentiment.analysis.gradients.sample_test_reviews` draws.
        seed: picks the sample.
        command: the command line, recorded with the figures.
    """
    from sentiment.analysis.gradients import sample_test_reviews
    from sentiment.io import provenance

    require_replayable([predictor.cell_type for predictor in predictors.values()])  # before any work
    cells = {}
    sample = (
        sample_test_reviews(next(iter(predictors.values())).artifact, sample_size, seed).texts if sample_size else None
    )
    for cell, predictor in predictors.items():
        artifact = predictor.artifact
        cells[cell] = {
            "artifact": str(artifact.folder),
            "trained_at": artifact.metrics.get("finished_at"),
            "review": inspection_json(inspect_review(predictor, text)) if text is not None else None,
            "test_set": test_set_statistics(predictor, sample) if sample is not None else None,
        }
    return {
        "command": command,
        "written_at": provenance.utc_now(),
        "text": text,
        "sample_size": sample_size,
        "sample_seed": seed,
        "cells": cells,
    }


def inspection_markdown(
    result: dict[str, Any], images: dict[str, str] | None = None, histogram: str | None = None
) -> str:
    """The page of `inspect_models`: what each gate does, the test-set figures, the heatmaps."""
    from sentiment.report import markdown_table, model_name

    parts = [
        "# Inside the cell: the gates of each model",
        "",
        f"Produced by `{result['command']}` on {result['written_at']}.",
        "",
        *(f"- **{name}**: {role}." for name, role in GATE_ROLES.items()),
        "",
    ]
    stats = {cell: entry["test_set"] for cell, entry in result["cells"].items() if entry["test_set"]}
    if stats:
        gates = [gate for gate in GATE_ROLES if any(gate in entry["gate_by_class"] for entry in stats.values())]
        rows = [
            [
                model_name(cell),
                gate,
                *(
                    f"{entry['gate_by_class'][gate][name]:.3f}"
                    if entry["gate_by_class"][gate][name] is not None
                    else "n/a"
                    for name in WORD_CLASSES
                ),
            ]
            for cell, entry in stats.items()
            for gate in gates
            if gate in entry["gate_by_class"]
        ]
        memory = [
            f"{model_name(cell)} {entry['memory_gate']} {entry['mean_memory_gate']:.3f}"
            for cell, entry in stats.items()
            if entry["memory_gate"]
        ]
        parts += [
            f"## Over {result['sample_size']} test reviews (seed {result['sample_seed']})",
            "",
            f"Mean of the gate that keeps memory, over every unit and token: {'; '.join(memory)}." if memory else "",
            "",
            "The mean gate value on the words each model itself moves most "
            "(its own mean effect on P(positive) over the sample: "
            f"the top {100 * STRONG_SHARE:.0f}% of words seen at least {MIN_OCCURRENCES} times), "
            "and on every other word:",
            "",
            markdown_table(["model", "gate", *WORD_CLASSES], rows),
            "",
        ]
        if histogram:
            parts += [f"![The memory gate's values over every unit and token of the sample]({histogram})", ""]
    if images:
        parts += ["## The review, word by word", "", f"{result['text']!r}", ""]
    for cell, path in (images or {}).items():
        parts += [f"![{model_name(cell)}: gates and states, units x words]({path})", ""]
    return "\n".join(parts)


def write_inspection(result: dict[str, Any], output, heatmaps: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Writes inspect.json, inspect.md, a heatmap PNG per model and the memory-gate histograms, each atomically."""
    from pathlib import Path

    from sentiment.analysis import plots
    from sentiment.io import files

    output = Path(output)
    paths: dict[str, Any] = {"json": output / "inspect.json", "markdown": output / "inspect.md"}
    files.write_json(paths["json"], result)
    images = {
        cell: plots.save_image(image, output / f"inspect_{cell}.png").name for cell, image in (heatmaps or {}).items()
    }
    histograms = {
        cell: entry["test_set"]["histogram"]
        for cell, entry in result["cells"].items()
        if entry["test_set"] and entry["test_set"]["histogram"]
    }
    if histograms:
        paths["histogram"] = plots.plot_gate_histograms(histograms, output / "inspect_memory_gates.png")
    files.write_text(
        paths["markdown"], inspection_markdown(result, images, paths["histogram"].name if histograms else None)
    )
    paths.update({cell: output / name for cell, name in images.items()})
    return paths
