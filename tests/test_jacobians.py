import keras
import numpy as np
import pytest
import tensorflow as tf

from sentiment import models
from sentiment.analysis import jacobians
from sentiment.config import ModelConfig
from sentiment.models import build_classifier, build_regressor


@pytest.fixture
def float64():
    # The dtype policy, not only floatx: Keras caches its default policy once a layer exists.
    policy, floatx = keras.config.dtype_policy(), keras.config.floatx()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_dtype_policy(policy)
    keras.config.set_floatx(floatx)


def _finite_difference_norms(layer, inputs, epsilon=1e-6):
    """|| d s_T / d x_t ||_F by central differences, one input number at a time."""
    squared = np.zeros(inputs.shape[:2])
    for t in range(inputs.shape[1]):
        for feature in range(inputs.shape[2]):
            step = np.zeros_like(inputs)
            step[:, t, feature] = epsilon
            plus = jacobians._final_state(layer, tf.constant(inputs + step)).numpy()
            minus = jacobians._final_state(layer, tf.constant(inputs - step)).numpy()
            squared[:, t] += np.sum(((plus - minus) / (2 * epsilon)) ** 2, axis=1)
    return np.sqrt(squared)


@pytest.mark.parametrize(
    "cell, chrono, irnn",
    [
        ("simple_rnn", None, False),
        ("simple_rnn", None, True),
        ("lstm", None, False),
        ("lstm", 20, False),
        ("gru", None, False),
        ("gru", 20, False),
    ],
)
def test_state_jacobian_matches_finite_differences(float64, cell, chrono, irnn):
    keras.utils.set_random_seed(1)
    model = build_regressor(
        ModelConfig(cell_type=cell, units=3, dropout_rate=0.0, chrono_max_steps=chrono, irnn=irnn), input_features=2
    )
    layer = jacobians.state_layer(model)
    assert layer.cell.kernel.dtype == "float64"  # finite differences need it
    inputs = np.random.default_rng(0).normal(size=(4, 6, 2))
    if irnn:  # ReLU units must be active for a nonzero Jacobian
        inputs = np.abs(inputs)
        layer.cell.kernel.assign(np.abs(np.random.default_rng(1).normal(size=(2, 3))))
    norms = jacobians.state_jacobian_norms(layer, inputs)
    assert norms.shape == (4, 6)
    np.testing.assert_allclose(norms, _finite_difference_norms(layer, inputs), rtol=1e-6, atol=1e-9)
    assert np.all(norms > 0)


def test_lstm_state_is_hidden_and_cell_state():
    model = build_regressor(ModelConfig(cell_type="lstm", units=5, dropout_rate=0.0), 2)
    layer = jacobians.state_layer(model)
    assert jacobians._final_state(layer, tf.zeros((1, 3, 2))).shape == (1, 10)
    gru = jacobians.state_layer(build_regressor(ModelConfig(cell_type="gru", units=5, dropout_rate=0.0), 2))
    assert jacobians._final_state(gru, tf.zeros((1, 3, 2))).shape == (1, 5)


def test_state_layer_keeps_the_model_weights():
    model = build_classifier(
        ModelConfig(cell_type="gru", units=4, embedding_dim=3, dropout_rate=0.0, word_dropout_rate=0.0), 10
    )
    ids = np.array([[2, 3, 4, 5]])
    layer = jacobians.state_layer(model)
    hidden = keras.ops.convert_to_numpy(layer(jacobians.layer_inputs(model, ids))[0])
    head = models.head(model)
    (recurrent,) = models.recurrent_layers(head)
    expected = keras.ops.convert_to_numpy(keras.Model(head.inputs, recurrent.output)(models.encoder(model)(ids)))
    np.testing.assert_allclose(hidden, expected, atol=1e-6)


def test_bidirectional_or_stacked_models_are_refused():
    with pytest.raises(ValueError, match="exactly one unidirectional recurrent layer"):
        jacobians.state_layer(
            build_regressor(ModelConfig(cell_type="lstm", units=2, num_layers=2, dropout_rate=0.0), 2)
        )
    with pytest.raises(ValueError, match="exactly one unidirectional recurrent layer"):
        jacobians.state_layer(
            build_regressor(ModelConfig(cell_type="lstm", units=2, bidirectional=True, dropout_rate=0.0), 2)
        )


def test_summary_of_a_geometric_curve():
    curve = 2.0 * 0.9 ** np.arange(100)
    summary = jacobians.summarize(curve)
    assert summary["shrink_per_step"] == pytest.approx(0.9)
    assert summary["forgotten_at"] == 66  # 0.9^65 = 1.06e-3, 0.9^66 = 0.96e-3
    assert summary["ratio_at_end"] == pytest.approx(0.9**99)
    assert jacobians.summarize(np.ones(50)) == {
        "shrink_per_step": pytest.approx(1.0),
        "forgotten_at": None,
        "ratio_at_end": 1.0,
        "silent": False,
    }


def test_a_norm_zero_at_every_distance_is_silent_not_a_perfect_memory():
    # Flat at the float32 floor: its slope is 0, which would read as "nothing lost per step".
    summary = jacobians.summarize(np.zeros(20))
    assert summary == {"shrink_per_step": None, "forgotten_at": 0, "ratio_at_end": None, "silent": True}
    assert not jacobians.summarize(np.r_[1e-3, np.zeros(19)])["silent"]  # the last input still reaches the state


def test_by_distance_is_a_geometric_mean_from_the_end():
    norms = np.array([[1.0, 10.0, 100.0], [4.0, 10.0, 1.0], [0.0, 10.0, 1.0]])
    curve = jacobians.by_distance(norms)
    assert curve[0] == pytest.approx((100 * 1 * 1) ** (1 / 3))  # the last step first
    assert curve[1] == pytest.approx(10.0)
    assert curve[2] == pytest.approx((1 * 4 * jacobians.FLOAT32_TINY) ** (1 / 3))  # an underflowed zero counts as tiny


def test_strong_inputs_saturate_a_simple_rnn_and_shrink_its_jacobian():
    keras.utils.set_random_seed(0)
    model = build_regressor(ModelConfig(cell_type="simple_rnn", units=16, dropout_rate=0.0), 2)
    inputs = np.random.default_rng(0).random((32, 40, 2)).astype(np.float32)
    gentle, driven = jacobians.measure(model, inputs), jacobians.measure(model, inputs, input_scale=8.0)
    assert driven["saturated_share"] > gentle["saturated_share"]
    assert driven["shrink_per_step"] < gentle["shrink_per_step"]
    assert len(gentle["by_distance"]) == 40 and gentle["sequences"] == 32


# --- After the LSTM: minGRU's and minLSTM's state Jacobians; the transformer has none --------------------


# The loop in float64 (finite differences need it; the scan's positions do not run in float64: the test
# below checks the scan against the loop in float32).
@pytest.mark.parametrize("cell, chrono", [("mingru", None), ("mingru", 20), ("minlstm", None), ("minlstm", 20)])
def test_min_cells_state_jacobian_matches_finite_differences(float64, cell, chrono):
    keras.utils.set_random_seed(2)
    model = build_regressor(
        ModelConfig(cell_type=cell, units=3, dropout_rate=0.0, chrono_max_steps=chrono, solver="loop"), input_features=2
    )
    layer = jacobians.state_layer(model)
    assert layer.kernel.dtype == "float64" and layer.solver == "loop" and not layer.return_sequences
    inputs = np.random.default_rng(0).normal(size=(4, 6, 2))
    norms = jacobians.state_jacobian_norms(layer, inputs)
    assert norms.shape == (4, 6) and np.all(norms > 0)
    np.testing.assert_allclose(norms, _finite_difference_norms(layer, inputs), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_the_scan_differentiates_as_the_loop(cell):
    keras.utils.set_random_seed(4)
    loop_model = build_regressor(ModelConfig(cell_type=cell, units=3, dropout_rate=0.0, solver="loop"), 2)
    scan_model = build_regressor(ModelConfig(cell_type=cell, units=3, dropout_rate=0.0, solver="scan"), 2)
    scan_model.set_weights(loop_model.get_weights())
    inputs = np.random.default_rng(3).normal(size=(3, 11, 2)).astype(np.float32)
    loop_norms = jacobians.state_jacobian_norms(jacobians.state_layer(loop_model), inputs)
    scan_norms = jacobians.state_jacobian_norms(jacobians.state_layer(scan_model), inputs)
    np.testing.assert_allclose(scan_norms, loop_norms, rtol=1e-4, atol=1e-7)


def test_min_gru_state_jacobian_is_a_product_of_its_keep_factors(float64):
    """d h_T / d x_t = diag(a_T ... a_{t+1}) d h_t / d x_t: the gates after t, times the step's own Jacobian."""
    keras.utils.set_random_seed(3)
    model = build_regressor(ModelConfig(cell_type="mingru", units=3, dropout_rate=0.0, solver="loop"), 2)
    layer = jacobians.state_layer(model)
    inputs = np.random.default_rng(1).normal(size=(2, 5, 2))
    keep = keras.ops.convert_to_numpy(layer.keep_factors(inputs))  # <float>[batch, time, units]
    expected = np.zeros(inputs.shape[:2])
    for t in range(inputs.shape[1]):
        # d h_t / d x_t: the state after step t, read where the sequence ends at t. <float>[batch, units, features]
        step = np.stack([_input_gradient(layer, inputs[:, : t + 1], unit)[:, t] for unit in range(layer.units)], 1)
        product = np.prod(keep[:, t + 1 :], axis=1)  # <float>[batch, units]: a_{t+1} ... a_T
        expected[:, t] = np.sqrt(np.sum((product[..., None] * step) ** 2, axis=(1, 2)))
    np.testing.assert_allclose(jacobians.state_jacobian_norms(layer, inputs), expected, rtol=1e-9)


def _input_gradient(layer, inputs: np.ndarray, unit: int) -> np.ndarray:
    """d h_last[unit] / d inputs, summed over the batch (the sequences are independent)."""
    values = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(values)
        selected = tf.reduce_sum(layer(values)[:, unit])
    return tape.gradient(selected, values).numpy()


def test_a_transformer_has_no_state_jacobian():
    from sentiment.errors import SentimentError

    model = build_classifier(
        ModelConfig(cell_type="transformer", units=4, embedding_dim=3, dropout_rate=0.0), 10, sequence_length=6
    )
    with pytest.raises(SentimentError, match="has no state Jacobian: a transformer carries no state from step to step"):
        jacobians.state_layer(model)


def test_a_min_gru_classifier_is_measured_on_its_embedded_words():
    keras.utils.set_random_seed(0)
    model = build_classifier(
        ModelConfig(cell_type="mingru", units=4, embedding_dim=3, dropout_rate=0.0, word_dropout_rate=0.0), 12
    )
    ids = np.random.default_rng(0).integers(2, 12, size=(5, 9))
    measured = jacobians.measure(model, ids)
    assert len(measured["by_distance"]) == 9 and measured["sequences"] == 5
    assert 0 < measured["shrink_per_step"] < 1  # gate biases 0: every keep factor is below 1
