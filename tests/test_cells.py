"""Tests for sentiment/cells.py: minGRU and minLSTM with both solvers, and the Transformer encoder's layers.

Tiny sizes (units 4, 3 features, at most 16 steps). The recurrences are
checked against a direct NumPy transcription of the paper's equations, the
two solvers against each other (eagerly and in a graph, where the time axis
has no static length), the parallel scan against Keras's own
associative_scan, and the Jacobian helper against autodiff.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from sentiment import cells

UNITS = 4
FEATURES = 3
STEPS = 16
CELLS = [cells.MinGRU, cells.MinLSTM]
SOLVERS = ["loop", "scan"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _inputs(batch=3, steps=STEPS, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, FEATURES)).astype(np.float32)


def _right_padded_mask(lengths, steps=STEPS):
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


def _layer(cell, solver="scan", return_sequences=True, seed=1):
    """A built layer whose weights are drawn at a scale that makes the gates differ from step to step."""
    layer = cell(UNITS, solver=solver, return_sequences=return_sequences)
    layer.build((None, None, FEATURES))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=1.0, size=weight.shape).astype(np.float32) for weight in layer.get_weights()])
    return layer


def _same_weights(layer, **changes):
    """A copy of `layer` with its config changed by `changes` (the solver, return_sequences), same weights."""
    copy = type(layer).from_config({**layer.get_config(), **changes})
    copy.build((None, None, FEATURES))
    copy.set_weights(layer.get_weights())
    return copy


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _in_graph(layer, inputs, mask):
    """The layer run inside a tf.function whose time axis has no static length, as in a Functional model."""
    function = tf.function(
        lambda x, m: layer(x, mask=m),
        input_signature=[tf.TensorSpec([None, None, FEATURES]), tf.TensorSpec([None, None], tf.bool)],
    )
    return function(inputs, mask).numpy()


def _reference(cell, kernel, bias, sequence):
    """The paper's equations, one step at a time, for one unpadded sequence <float>[time, features]."""
    blocks = {
        gate: (kernel[:, index * UNITS : (index + 1) * UNITS], bias[index * UNITS : (index + 1) * UNITS])
        for index, gate in enumerate(cell.GATES)
    }

    def linear(gate, x):
        weights, offset = blocks[gate]
        return x.astype(np.float64) @ weights + offset

    state = np.zeros(UNITS)
    states = []
    for x in sequence:
        candidate = linear("candidate", x)
        if cell is cells.MinGRU:
            update = _sigmoid(linear("update", x))
            state = (1.0 - update) * state + update * candidate
        else:
            forget, input_gate = _sigmoid(linear("forget", x)), _sigmoid(linear("input", x))
            forget_share, input_share = forget / (forget + input_gate), input_gate / (forget + input_gate)
            state = forget_share * state + input_share * candidate
        states.append(state)
    return np.array(states)


# --- The solvers ---------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.__name__)
@pytest.mark.parametrize("lengths", [None, (16, 5, 1)], ids=["unmasked", "masked"])
def test_loop_and_scan_give_the_same_states(cell, lengths):
    inputs = _inputs()
    mask = None if lengths is None else _right_padded_mask(lengths)
    loop = _layer(cell, solver="loop")
    scan = _same_weights(loop, solver="scan")
    expected = _numpy(loop(inputs, mask=mask))
    np.testing.assert_allclose(_numpy(scan(inputs, mask=mask)), expected, atol=1e-5)
    graph_mask = np.ones(inputs.shape[:2], bool) if mask is None else mask
    np.testing.assert_allclose(_in_graph(scan, inputs, graph_mask), expected, atol=1e-5)
    np.testing.assert_allclose(_in_graph(loop, inputs, graph_mask), expected, atol=1e-5)
    final = _same_weights(loop, solver="scan", return_sequences=False)
    np.testing.assert_allclose(_numpy(final(inputs, mask=mask)), expected[:, -1], atol=1e-5)


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 16])
def test_the_parallel_scan_matches_keras_associative_scan(steps):
    rng = np.random.default_rng(steps)
    keep = rng.uniform(0.0, 1.0, size=(2, steps, UNITS)).astype(np.float32)
    write = rng.normal(size=(2, steps, UNITS)).astype(np.float32)
    _, expected = keras.ops.associative_scan(cells.combine, (keep, write), axis=1)
    np.testing.assert_allclose(_numpy(cells.linear_recurrence(keep, write, "scan")), _numpy(expected), atol=1e-6)


def test_an_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="unknown solver 'fast'"):
        cells.MinGRU(UNITS, solver="fast")
    with pytest.raises(ValueError, match="unknown solver"):
        cells.linear_recurrence(np.ones((1, 2, 1)), np.ones((1, 2, 1)), "fast")


# --- The paper's equations, padding and the mask --------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.__name__)
def test_the_recurrence_is_the_papers_equations(cell, solver):
    lengths = (16, 9, 2)
    inputs = _inputs(seed=3)
    layer = _layer(cell, solver=solver, seed=4)
    kernel, bias = (_numpy(weight).astype(np.float64) for weight in (layer.kernel, layer.bias))
    states = _numpy(layer(inputs, mask=_right_padded_mask(lengths)))
    for row, length in enumerate(lengths):
        expected = _reference(cell, kernel, bias, inputs[row, :length])
        np.testing.assert_allclose(states[row, :length], expected, atol=1e-5)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.__name__)
def test_right_padding_leaves_the_final_state_at_the_last_real_step(cell, solver):
    inputs = _inputs(seed=5)
    layer = _layer(cell, solver=solver, return_sequences=False, seed=6)
    alone = _numpy(layer(inputs[:1, :5]))
    # Whatever sits in the padding, and however long the other rows are.
    padded = inputs.copy()
    padded[0, 5:] = np.random.default_rng(7).normal(scale=10.0, size=padded[0, 5:].shape)
    for other_lengths in [(16, 16), (3, 11)]:
        final = _numpy(layer(padded, mask=_right_padded_mask((5, *other_lengths))))
        np.testing.assert_allclose(final[:1], alone, atol=1e-5)


def test_the_mask_is_passed_on_for_sequences_only():
    mask = _right_padded_mask((16, 4))
    sequences = _layer(cells.MinGRU, return_sequences=True)
    final_state = _same_weights(sequences, return_sequences=False)
    assert np.array_equal(_numpy(sequences.compute_mask(_inputs(2), mask)), mask)
    assert final_state.compute_mask(_inputs(2), mask) is None
    assert sequences.compute_output_shape((2, 16, FEATURES)) == (2, 16, UNITS)
    assert final_state.compute_output_shape((2, 16, FEATURES)) == (2, UNITS)


# --- Gradients and the state Jacobian -----------------------------------------


@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.__name__)
def test_gradients_flow_through_both_solvers_and_agree(cell):
    inputs = tf.constant(_inputs(seed=8))
    mask = _right_padded_mask((16, 6, 3))
    gradients = {}
    for solver in SOLVERS:
        layer = _layer(cell, solver=solver, return_sequences=False, seed=9)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(layer(inputs, mask=mask) ** 2)
        found = tape.gradient(loss, [inputs, layer.kernel.value, layer.bias.value])
        for gradient in found:
            assert np.all(np.isfinite(gradient.numpy())) and np.any(gradient.numpy() != 0.0)
        words = found[0].numpy()
        assert np.all(words[~mask] == 0.0) and np.all(np.abs(words[mask]).sum(axis=-1) > 0.0)
        gradients[solver] = [gradient.numpy() for gradient in found]
    for loop_gradient, scan_gradient in zip(gradients["loop"], gradients["scan"]):
        np.testing.assert_allclose(scan_gradient, loop_gradient, atol=1e-4)


@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.__name__)
def test_the_jacobian_helper_is_the_autodiff_jacobian(cell):
    lengths = (12, 7)
    inputs = _inputs(batch=2, steps=12, seed=10)
    mask = _right_padded_mask(lengths, steps=12)
    layer = _layer(cell, seed=11)
    keep, write = layer.coefficients(inputs, mask)
    # h_t = a_t * h_{t-1} + b_t: b_t enters h_t additively, so d h_T / d b_t = d h_T / d h_t.
    write = tf.convert_to_tensor(write)
    with tf.GradientTape() as tape:
        tape.watch(write)
        final = cells.linear_recurrence(keep, write, layer.solver)[:, -1]
    jacobian = tape.batch_jacobian(final, write).numpy()  # [batch, units, time, units]
    autodiff = np.log10(np.sqrt((jacobian.astype(np.float64) ** 2).sum(axis=(1, 3))))
    helper = cells.state_jacobian_log10_norms(layer.keep_factors(inputs, mask), mask)
    for row, length in enumerate(lengths):
        np.testing.assert_allclose(helper[row, :length], autodiff[row, :length][::-1], atol=1e-4)
        assert np.all(np.isnan(helper[row, length:]))
    np.testing.assert_allclose(helper[:, 0], 0.5 * np.log10(UNITS))  # the identity at distance 0
    assert np.all(np.diff(helper[0]) < 0)  # every keep factor is below 1: the norm falls with distance


def test_the_jacobian_helper_keeps_logarithms_past_float32s_range():
    keep = np.full((1, 400, 2), 0.5, np.float32)  # 0.5^399 is far below float32's smallest number
    log_norms = cells.state_jacobian_log10_norms(keep)
    np.testing.assert_allclose(log_norms[0, 399], 399 * np.log10(0.5) + 0.5 * np.log10(2), rtol=1e-9)


# --- Chrono initialization -----------------------------------------------------


@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.__name__)
def test_chrono_initialization_spreads_the_keep_factor_up_to_max_steps(cell):
    max_steps = 20
    layer = cell(UNITS)
    layer.build((None, None, FEATURES))
    keras.utils.set_random_seed(12)
    layer.chrono_initialize(max_steps)
    bias = _numpy(layer.bias).reshape(len(cell.GATES), UNITS)
    blocks = dict(zip(cell.GATES, bias))
    # At zero input a = u / (1 + u) with u in [1, max_steps - 1]: a state lasts 2 to max_steps steps.
    keep = _numpy(layer.keep_factors(np.zeros((1, 1, FEATURES), np.float32)))[0, 0]
    assert np.all(keep >= 0.5 - 1e-6) and np.all(keep <= 1.0 - 1.0 / max_steps + 1e-6)
    assert np.ptp(keep) > 0.01  # spread, not one span for every unit
    np.testing.assert_array_equal(blocks["candidate"], 0.0)
    if cell is cells.MinGRU:
        np.testing.assert_allclose(keep, _sigmoid(-blocks["update"]), rtol=1e-5)
    else:
        np.testing.assert_allclose(blocks["input"], -blocks["forget"])
        np.testing.assert_allclose(keep, _sigmoid(blocks["forget"]), rtol=1e-5)
    keras.utils.set_random_seed(12)
    layer.chrono_initialize(max_steps)
    np.testing.assert_array_equal(_numpy(layer.bias).reshape(len(cell.GATES), UNITS), bias)  # the seed fixes them
    keras.utils.set_random_seed(13)
    layer.chrono_initialize(max_steps)
    assert not np.array_equal(_numpy(layer.bias).reshape(len(cell.GATES), UNITS), bias)  # drawn, not fixed


def test_chrono_initialization_refuses_a_short_horizon():
    layer = _layer(cells.MinGRU)
    with pytest.raises(ValueError, match="at least 3"):
        layer.chrono_initialize(2)


# --- The Transformer encoder ---------------------------------------------------


def test_the_transformer_block_ignores_padded_positions():
    keras.utils.set_random_seed(13)
    block = cells.TransformerBlock(num_heads=2, feed_forward_dim=8, dropout_rate=0.1)
    pooling = keras.layers.GlobalAveragePooling1D()
    real = _inputs(batch=2, steps=6, seed=14)
    outputs = _numpy(block(real, mask=np.ones((2, 6), bool)))
    padding = np.random.default_rng(15).normal(scale=10.0, size=(2, 4, FEATURES)).astype(np.float32)
    padded, mask = np.concatenate([real, padding], axis=1), _right_padded_mask((6, 6), steps=10)
    padded_outputs = _numpy(block(padded, mask=mask))
    np.testing.assert_allclose(padded_outputs[:, :6], outputs, atol=1e-5)
    np.testing.assert_allclose(
        _numpy(pooling(padded_outputs, mask=mask)), _numpy(pooling(outputs)), atol=1e-5
    )  # the read-out: masked mean pooling
    assert np.array_equal(_numpy(block.compute_mask(padded, mask)), mask)


def test_position_embedding_adds_positions_and_refuses_longer_sequences():
    layer = cells.PositionEmbedding(max_length=8)
    inputs = _inputs(batch=1, steps=5)
    added = _numpy(layer(inputs))
    np.testing.assert_allclose(added - inputs, _numpy(layer.positions)[None, :5], atol=1e-6)
    with pytest.raises(ValueError, match="longer than max_length=8"):
        layer(_inputs(batch=1, steps=9))
    in_graph = tf.function(layer, input_signature=[tf.TensorSpec([None, None, FEATURES])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="longer than max_length=8"):
        in_graph(_inputs(batch=1, steps=9))


# --- Saving ----------------------------------------------------------------------


def test_a_model_with_every_layer_saves_and_loads_safely(tmp_path):
    keras.utils.set_random_seed(16)
    words = keras.Input(shape=(None, FEATURES), name="words")
    mask = keras.Input(shape=(None,), dtype="bool", name="mask")
    sequences = cells.MinGRU(UNITS, solver="scan", return_sequences=True)(words, mask=mask)
    recurrent = cells.MinLSTM(UNITS, solver="loop")(sequences, mask=mask)
    attended = cells.TransformerBlock(num_heads=2, feed_forward_dim=8, dropout_rate=0.1)(
        cells.PositionEmbedding(max_length=STEPS)(words, mask=mask), mask=mask
    )
    pooled = keras.layers.GlobalAveragePooling1D()(attended, mask=mask)
    model = keras.Model([words, mask], keras.layers.Concatenate()([recurrent, pooled]))
    inputs = [_inputs(seed=17), _right_padded_mask((16, 8, 3))]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0), atol=1e-6)
    solvers = {type(layer).__name__: getattr(layer, "solver", None) for layer in loaded.layers}
    assert solvers["MinGRU"] == "scan" and solvers["MinLSTM"] == "loop"


def test_one_training_step_in_a_graph_changes_every_weight():
    keras.utils.set_random_seed(18)
    words = keras.Input(shape=(None, FEATURES), name="words")
    mask = keras.Input(shape=(None,), dtype="bool", name="mask")
    sequences = cells.MinGRU(UNITS, solver="scan", return_sequences=True)(words, mask=mask)
    final = cells.MinLSTM(UNITS, solver="loop")(sequences, mask=mask)
    model = keras.Model([words, mask], keras.layers.Dense(1)(final))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [weight.copy() for weight in model.get_weights()]
    loss = model.train_on_batch([_inputs(seed=19), _right_padded_mask((16, 8, 3))], np.ones((3, 1), np.float32))
    assert np.isfinite(loss)
    assert all(np.any(after != start) for after, start in zip(model.get_weights(), before))
