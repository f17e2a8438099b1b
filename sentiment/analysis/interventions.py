"""Change a trained cell and read the review again: P(positive) after each word, as learned and changed.

A learner asks "what if this LSTM could not forget?" and gets the answer
from the model itself: `intervene` replays the review with the exact NumPy
replay of the cell (`sentiment.analysis.gates.read_review`), once as
learned and once with a `gates.Intervention` (the memory gate clamped to 0
or 1, one unit knocked out, from a chosen word on), and maps each step's
state to P(positive) with the model's own head (`head_probabilities`: the
layers after the last recurrent layer and the output activation, the same
layers `sentiment.serving.predict.step_model` runs on every step). As
learned, that is the Predictor's trajectory (`Predictor.read`) to float32
rounding; changed, the only difference is the intervention.

P(positive) after each word is the head on each step's state only for a
model that reads once, left to right, and reads out its last state
(`Predictor.reads_in_one_pass`); the others (bidirectional, pooled) are
refused with a sentence saying so.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from sentiment import models
from sentiment.analysis import gates
from sentiment.config import LABEL_NAMES
from sentiment.errors import SentimentError
from sentiment.report import model_name

# `intervene`'s `unit` for "the unit that follows P(positive) most closely on this review, as learned".
SENTIMENT_UNIT = "sentiment"


def require_one_pass(predictor) -> None:
    """Refuses, in one line, a model whose P(positive) after each word is not its head on each step's state.

    Raises:
        SentimentError: the model cannot be replayed (`gates.require_replayable`),
            or it reads both ways or pools its states.
    """
    gates.require_replayable([predictor.cell_type])
    if not predictor.reads_in_one_pass:
        raise SentimentError(
            f"the {model_name(predictor.cell_type)} reads the review both ways or pools its states, so its "
            "P(positive) after a word is the model run again on the words so far, not one state a clamp can change; "
            "an intervention needs a model trained with --no-bidirectional --pooling last"
        )


def head_probabilities(model: keras.Model, hidden: np.ndarray) -> np.ndarray:
    """P(positive) after each token, from the last recurrent layer's state after each token.

    Args:
        model: a binary classifier from `sentiment.models.build_classifier`
            whose head reads the last state ("last" pooling, one direction).
        hidden: <float>[time, units] the last recurrent layer's states (`gates.read_review`).

    Returns:
        <float64>[time]: the layers after the recurrent layers (Dropout is
        an identity at inference, Dense is x W + b and its activation) and
        the output activation, applied to every state.

    Raises:
        SentimentError: the head has another kind of layer after the recurrence.
    """
    layers = [layer for layer in models.head(model).layers if not isinstance(layer, keras.layers.InputLayer)]
    recurrent = [
        index for index, layer in enumerate(layers) if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
    ]
    if not recurrent:
        raise SentimentError(f"{model.name} has no recurrent layer whose states the head could read")
    x = np.asarray(hidden, np.float64)
    for layer in layers[recurrent[-1] + 1 :]:
        if isinstance(layer, keras.layers.Dropout):
            continue
        if not isinstance(layer, keras.layers.Dense):
            raise SentimentError(
                f"{model.name} has a {type(layer).__name__} after its recurrent layer: P(positive) after each word "
                "is read only from a head of Dropout and Dense layers"
            )
        kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
        bias = np.asarray(keras.ops.convert_to_numpy(layer.bias), np.float64) if layer.use_bias else 0.0
        x = gates._activation(layer.activation)(x @ kernel + bias)
    probabilities = gates._activation(models.output_layer(model).activation)(x)
    return probabilities[:, 0]


def last_units(predictor) -> int:
    """How many units the last recurrent layer has: the units `intervene` can knock out are 0 to this - 1."""
    return models.recurrent_layers(predictor.artifact.model)[-1].units


def intervene(
    predictor,
    text: str,
    memory_gate: float | None = None,
    start: int = 0,
    unit: int | str | None = None,
    reading=None,
) -> dict[str, Any]:
    """One model on one review, as learned and with an intervention.

    Args:
        predictor: a `sentiment.serving.predict.Predictor` of a model that
            reads in one pass (`require_one_pass`).
        text: the review.
        memory_gate: None (as learned), or the value in [0, 1] the LSTM's
            forget gate or the GRU's update gate is clamped to (1 keeps the
            old memory; a SimpleRNN has no gate and is left as learned).
        start: the first word read (0-based) the intervention changes.
        unit: a unit of the last recurrent layer to knock out (its state
            held at 0), `SENTIMENT_UNIT` for the one that follows P(positive)
            most closely on this review as learned (`gates.sentiment_unit`),
            or None.
        reading: the predictor's `Reading` of `text` when it was already read.

    Returns:
        `cell_type`, `words` (the words read), `learned` and `changed`
        (<float64>[time] P(positive) after each word), `verdicts` (label as
        learned, label changed), `intervention` (the `gates.Intervention`
        made, its unit resolved; None when nothing was changed), `layers`
        (`gates.read_review` with the intervention) and `notes` (sentences
        for the learner: no gate to clamp, no sentiment unit on this review).

    Raises:
        SentimentError: the model is refused (`require_one_pass`), or `unit`
            is not one of the last layer's units.
    """
    require_one_pass(predictor)
    reading = predictor.read(text) if reading is None else reading
    model, name = predictor.artifact.model, model_name(predictor.cell_type)
    learned_layers = gates.read_review(model, reading.token_ids)
    learned = head_probabilities(model, learned_layers[-1]["values"]["hidden"])
    notes = []
    if memory_gate is not None and predictor.cell_type not in gates.MEMORY_GATES:
        notes.append(f"The {name} has no gate to clamp.")
        memory_gate = None
    if unit == SENTIMENT_UNIT:
        found = gates.sentiment_unit(learned_layers[-1]["values"]["hidden"], learned)
        unit = None if found is None else found["unit"]
        notes.append(
            f"The {name} has no unit that follows P(positive) on this review (too short, or P(positive) never moves): "
            "no unit knocked out."
            if found is None
            else f"The {name}'s unit {found['unit']} follows P(positive) most closely (correlation "
            f"{found['correlation']:+.2f}); it is knocked out."
        )
    if unit is not None and not 0 <= int(unit) < last_units(predictor):
        raise SentimentError(
            f"the {name}'s last layer has {last_units(predictor)} units, 0 to {last_units(predictor) - 1}; "
            f"there is no unit {unit}"
        )
    intervention = gates.Intervention(memory_gate, start, None if unit is None else int(unit))
    if intervention.changes_nothing:
        changed_layers, changed, intervention = learned_layers, learned, None
    else:
        changed_layers = gates.read_review(model, reading.token_ids, intervention)
        changed = head_probabilities(model, changed_layers[-1]["values"]["hidden"])
    return {
        "cell_type": predictor.cell_type,
        "words": gates.words_read(reading),
        "learned": learned,
        "changed": changed,
        "verdicts": tuple(LABEL_NAMES[int(trajectory[-1] >= 0.5)] for trajectory in (learned, changed)),
        "intervention": intervention,
        "layers": changed_layers,
        "notes": notes,
    }
