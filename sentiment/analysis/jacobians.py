"""State Jacobians: how much the final state still depends on each input.

For a recurrent layer read at its final step T, the classic measure of memory
(Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013) is the norm
of the Jacobian of the final state with respect to the input at step t,

    J_t = || d s_T / d x_t ||_F ,

where s_T is the layer's whole final state: h_T for SimpleRNN, GRU, minGRU
and minLSTM, and (h_T, c_T) for an LSTM, whose memory lives in its cell
state c. By the chain
rule J_t contains one step Jacobian d s_k / d s_{k-1} per step between t and
T, so where those shrink vectors, J_t falls geometrically with the distance
d = T - t: that is the vanishing gradient. Unlike the gradient of a trained
model's loss, J_t does not depend on a label, an error size or on which
examples reach a distance; it is a property of the cell and its weights.

minGRU and minLSTM (`sentiment.cells`), after the LSTM, are measured the
same way. Their step Jacobian d h_k / d h_{k-1} is diagonal, the keep factor
a_k (minGRU: 1 - z_k, its update gate's complement), and it does not depend
on the state, so

    d h_T / d x_t = diag(a_T * ... * a_{t+1}) d h_t / d x_t :

a product of gates computed from the inputs alone, which the tests check
against this measure. A transformer has no state carried from step to step
(every position reads every other in one layer), so it has no such
Jacobian and is refused.

Everything here is deterministic (no dropout: the layer is called with
`training=False`) and works on any Keras model with one recurrent layer
(SimpleRNN, LSTM, GRU, minGRU or minLSTM, not wrapped in `Bidirectional`).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sentiment import cells, models
from sentiment.errors import SentimentError

# The fraction of the last step's norm below which a distance counts as forgotten.
FORGOTTEN_FRACTION = 1e-3
# |h| above this counts as a saturated tanh unit (its derivative 1 - h^2 < 0.1).
SATURATION_LEVEL = 0.95
# Float32 norms flush to zero below this on CPUs; counted as this value in logarithms.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def state_layer(model: keras.Model) -> keras.layers.Layer:
    """A copy of the model's recurrent layer that returns its final state, same weights.

    Returns:
        A built layer mapping <float>[batch, time, features] (what the
        original layer reads) to the list [output, *states]: [h, h] for
        SimpleRNN and GRU, [h, h, c] for LSTM; or, for minGRU and minLSTM,
        to h_T itself (their state is their output).

    Raises:
        SentimentError: the model is a transformer: it has no state.
        ValueError: the model has no recurrent layer or more than one.
    """
    attention = [layer.name for layer in models.all_layers(model) if isinstance(layer, cells.TransformerBlock)]
    if attention:
        raise SentimentError(
            f"{model.name} has no state Jacobian: a transformer carries no state from step to step "
            f"({attention[0]} lets every position read every other in one layer), so there is no d s_T / d x_t "
            "through a chain of steps to measure"
        )
    layers = models.recurrent_layers(model)  # a Bidirectional layer counts as two: its directions
    if len(layers) != 1:
        raise ValueError(
            f"{model.name}: state Jacobians need exactly one unidirectional recurrent layer, found {len(layers)}"
        )
    (layer,) = layers
    if isinstance(layer, models.PARALLEL_RECURRENCES):
        copy = type(layer).from_config({**layer.get_config(), "return_sequences": False, "name": f"{layer.name}_state"})
        features = int(layer.kernel.shape[0])
    else:
        copy = type(layer).from_config(
            {**layer.get_config(), "return_state": True, "return_sequences": False, "name": f"{layer.name}_state"}
        )
        features = int(layer.cell.kernel.shape[0])
    copy.build((None, None, features))
    copy.set_weights(layer.get_weights())
    return copy


def layer_inputs(model: keras.Model, inputs: np.ndarray) -> np.ndarray:
    """What the model's recurrent layer reads for `inputs`: embedded tokens, or the values themselves.

    Args:
        model: from `build_classifier` (token ids) or `build_regressor` (values).
        inputs: <int>[batch, time] token ids or <float>[batch, time, features].

    Returns:
        <float32>[batch, time, features].
    """
    if np.issubdtype(np.asarray(inputs).dtype, np.integer):  # token ids: the classifier's encoder embeds them
        embedded, _ = models.encoder(model)(np.asarray(inputs, np.int32), training=False)
        return keras.ops.convert_to_numpy(embedded)
    return np.asarray(inputs, dtype=np.float32)


def state_jacobian_norms(layer: keras.layers.Layer, inputs: np.ndarray) -> np.ndarray:
    """|| d s_T / d x_t ||_F for every sequence and step.

    The final state has S numbers (S = units, or 2 * units for an LSTM's
    (h, c)); each is differentiated with respect to every input in one
    backward pass, so the cost is S backward passes over the batch.
    Sequences are independent, so summing a unit over the batch before
    differentiating gives each sequence's own gradient.

    Args:
        layer: from `state_layer`.
        inputs: <float>[batch, time, features] what the layer reads.

    Returns:
        <float64>[batch, time] norms; column t is the input at step t
        (the last column is distance 0 from the final state).
    """
    inputs = tf.convert_to_tensor(inputs)
    state_size = int(_final_state(layer, inputs[:1, :1]).shape[-1])

    @tf.function(reduce_retracing=True)
    def unit_gradient(values: tf.Tensor, unit: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(values)
            selected = tf.reduce_sum(tf.gather(_final_state(layer, values), unit, axis=1))
        return tape.gradient(selected, values)

    squared = np.zeros(inputs.shape[:2], np.float64)
    for unit in range(state_size):
        gradient = unit_gradient(inputs, tf.constant(unit)).numpy().astype(np.float64)
        squared += np.sum(gradient**2, axis=-1)
    return np.sqrt(squared)


def _final_state(layer: keras.layers.Layer, values: tf.Tensor) -> tf.Tensor:
    """<float>[batch, S]: the layer's whole final state, (h, c) concatenated for an LSTM."""
    outputs = layer(values, training=False)
    if not isinstance(outputs, (list, tuple)):  # minGRU, minLSTM: the state is the output
        return outputs
    _, *states = outputs
    return tf.concat(states, axis=-1)


def saturation_share(layer: keras.layers.Layer, inputs: np.ndarray) -> float:
    """The share of (sequence, unit) pairs whose final |h| exceeds `SATURATION_LEVEL`."""
    outputs = layer(np.asarray(inputs, np.float32), training=False)
    hidden = keras.ops.convert_to_numpy(outputs[0] if isinstance(outputs, (list, tuple)) else outputs)
    return float(np.mean(np.abs(hidden) > SATURATION_LEVEL))


def by_distance(norms: np.ndarray) -> np.ndarray:
    """<float64>[time]: the geometric mean over sequences, index d = d steps before the final state.

    Norms span orders of magnitude, so the mean is of their logarithms;
    norms that underflowed to zero count as `FLOAT32_TINY`.
    """
    logs = np.log(np.maximum(np.asarray(norms, np.float64), FLOAT32_TINY))
    return np.exp(logs.mean(axis=0))[::-1]


def summarize(curve: np.ndarray) -> dict[str, Any]:
    """The per-step shrink factor and the distance at which the norm is forgotten.

    Args:
        curve: <float>[time] from `by_distance` (index 0: the last input).

    Returns:
        `shrink_per_step`: exp of the least-squares slope of log(norm)
        against distance (1: nothing lost per step; 0.9: 10% lost);
        `forgotten_at`: the first distance whose norm is below
        `FORGOTTEN_FRACTION` of the norm at distance 0, or None if none is
        within the sequence; `ratio_at_end`: norm at the longest distance
        over norm at distance 0; `silent`: True where the norm is zero at
        every distance (no input reaches the state, as when every ReLU unit
        of an IRNN is off at the last step), and then the shrink and the
        ratio are None and the input is forgotten at distance 0.
    """
    curve = np.maximum(np.asarray(curve, np.float64), FLOAT32_TINY)
    # Flat at the floor (give or take the rounding of a geometric mean) would read as "nothing lost per step".
    if curve.max() <= 2 * FLOAT32_TINY:
        return {"shrink_per_step": None, "forgotten_at": 0, "ratio_at_end": None, "silent": True}
    distances = np.arange(len(curve))
    slope = np.polyfit(distances, np.log(curve), 1)[0] if len(curve) > 1 else 0.0
    below = np.flatnonzero(curve < FORGOTTEN_FRACTION * curve[0])
    return {
        "shrink_per_step": float(np.exp(slope)),
        "forgotten_at": int(below[0]) if below.size else None,
        "ratio_at_end": float(curve[-1] / curve[0]),
        "silent": False,
    }


def measure(model: keras.Model, inputs: np.ndarray, input_scale: float = 1.0) -> dict[str, Any]:
    """The state Jacobian of `model` on `inputs`, averaged and summarized, JSON-ready.

    Args:
        model: a model with one recurrent layer.
        inputs: <int>[batch, time] token ids or <float>[batch, time, features].
        input_scale: multiplies what the recurrent layer reads (8: strongly
            driven inputs that push tanh units into saturation).

    Returns:
        `by_distance` (geometric mean per distance, 4 significant digits),
        the `summarize` figures, `saturated_share` (final |h| > 0.95) and
        `sequences`.
    """
    layer = state_layer(model)
    values = layer_inputs(model, inputs) * np.float32(input_scale)
    curve = by_distance(state_jacobian_norms(layer, values))
    return {
        "by_distance": [float(f"{value:.4g}") for value in curve],
        **summarize(curve),
        "saturated_share": saturation_share(layer, values),
        "sequences": int(values.shape[0]),
        "input_scale": input_scale,
    }
