import importlib

import keras
import numpy as np
import pytest

from sentiment.config import CELL_TYPES, PRESETS, ModelConfig
from sentiment.models import RECURRENT_LAYERS, build_classifier, recurrent_layers

# The TensorFlow backend's own cuDNN argument checks (private, but they are the
# exact rules the layers apply before picking the cuDNN kernel).
tensorflow_rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")
VOCABULARY_SIZE = 20
TINY = ModelConfig(embedding_dim=4, units=4)


@pytest.fixture(scope="module")
def tiny_models():
    return {
        cell: build_classifier(ModelConfig(cell_type=cell, embedding_dim=4, units=4), VOCABULARY_SIZE)
        for cell in CELL_TYPES
    }


def test_cell_types_differ_only_in_the_recurrent_layer(tiny_models):
    def skeleton(model):
        return [type(layer).__name__ for layer in model.layers if not isinstance(layer, keras.layers.RNN)]

    skeletons = {cell: skeleton(model) for cell, model in tiny_models.items()}
    assert skeletons["simple_rnn"] == skeletons["lstm"] == skeletons["gru"]
    for cell, model in tiny_models.items():
        (layer,) = recurrent_layers(model)
        assert type(layer) is RECURRENT_LAYERS[cell]


def test_output_is_a_probability_per_review(tiny_models):
    ids = np.array([[2, 3, 4, 0], [5, 0, 0, 0]])
    for model in tiny_models.values():
        out = keras.ops.convert_to_numpy(model(ids))
        assert out.shape == (2, 1) and np.all((out > 0) & (out < 1))


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "max_mean"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_the_prediction(pooling, bidirectional):
    # With mask_zero the head reads only real tokens: the state after the last
    # one, or the mean/max over them. A review scores the same alone and beside
    # a longer one (length bucketing and serving batch reviews of any length).
    for cell in CELL_TYPES:
        model = build_classifier(
            ModelConfig(cell_type=cell, embedding_dim=4, units=4, pooling=pooling, bidirectional=bidirectional),
            VOCABULARY_SIZE,
        )
        short = keras.ops.convert_to_numpy(model(np.array([[2, 3]])))
        padded = keras.ops.convert_to_numpy(model(np.array([[2, 3, 0, 0, 0], [4, 5, 6, 7, 8]])))[:1]
        np.testing.assert_allclose(short, padded, atol=1e-6)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_default_lstm_and_gru_are_cudnn_eligible(preset, cell):
    model = build_classifier(
        ModelConfig(**{**PRESETS[preset].model.__dict__, "cell_type": cell, "units": 4}), VOCABULARY_SIZE
    )
    for layer in recurrent_layers(model):
        cell_layer = layer.cell
        assert layer.use_cudnn in ("auto", True)
        assert cell_layer.recurrent_dropout == 0 and not layer.unroll
        arguments = dict(
            activation=cell_layer.activation,
            recurrent_activation=cell_layer.recurrent_activation,
            unroll=layer.unroll,
            use_bias=cell_layer.use_bias,
        )
        if cell == "gru":
            assert tensorflow_rnn._do_gru_arguments_support_cudnn(reset_after=cell_layer.reset_after, **arguments)
        else:
            assert tensorflow_rnn._do_lstm_arguments_support_cudnn(**arguments)
    embedding = model.get_layer("embedding")
    assert embedding.mask_zero  # right-padded masks come from padding id 0


def test_stacked_bidirectional_and_pooling_options():
    model = build_classifier(
        ModelConfig(cell_type="gru", embedding_dim=4, units=4, num_layers=2, bidirectional=True, pooling="mean"),
        VOCABULARY_SIZE,
    )
    assert len(recurrent_layers(model)) == 4
    assert all(layer.return_sequences for layer in recurrent_layers(model))
    assert any(isinstance(layer, keras.layers.GlobalAveragePooling1D) for layer in model.layers)
    maxed = build_classifier(ModelConfig(cell_type="lstm", embedding_dim=4, units=4, pooling="max"), VOCABULARY_SIZE)
    restored = keras.models.model_from_json(maxed.to_json())  # the masked max layer is registered for loading
    assert any(type(layer).__name__ == "MaskedGlobalMaxPooling1D" for layer in restored.layers)
    assert keras.ops.convert_to_numpy(model(np.array([[2, 3, 0]]))).shape == (1, 1)


def test_builder_is_pure(tmp_path, monkeypatch, capsys):
    # The same config and seed give the same weights; the config is left as it
    # was; nothing is printed or written; two models share no variable.
    monkeypatch.chdir(tmp_path)
    config = ModelConfig(cell_type="gru", embedding_dim=4, units=4, chrono_max_steps=10)
    keras.utils.set_random_seed(3)
    first = build_classifier(config, VOCABULARY_SIZE)
    keras.utils.set_random_seed(3)
    second = build_classifier(config, VOCABULARY_SIZE)
    assert config == ModelConfig(cell_type="gru", embedding_dim=4, units=4, chrono_max_steps=10)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    second.layers[1].embeddings.assign(np.zeros((VOCABULARY_SIZE, 4), np.float32))
    assert np.abs(keras.ops.convert_to_numpy(first.layers[1].embeddings)).sum() > 0  # not shared
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr() == ("", "")


def test_one_training_step_changes_weights_and_gives_a_finite_loss(tiny_models):
    model = build_classifier(ModelConfig(cell_type="lstm", embedding_dim=4, units=4), VOCABULARY_SIZE)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(np.array([[2, 3, 4], [5, 6, 0]]), np.array([1.0, 0.0]))
    assert np.isfinite(loss)
    assert all(not np.array_equal(b, a) for b, a in zip(before, model.get_weights()))


def test_models_define_no_lambda_layers(tiny_models):
    for model in tiny_models.values():
        assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def _gate_biases(model, cell_type, units):
    (layer,) = recurrent_layers(model)
    bias = keras.ops.convert_to_numpy(layer.cell.bias)
    if cell_type == "lstm":
        return bias[units : 2 * units], bias[:units]  # forget, input
    return bias[0, :units], bias[1, :units]  # GRU update gate: input row, recurrent row


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
def test_chrono_initialization_sets_the_gate_biases(cell_type):
    keras.utils.set_random_seed(0)
    model = build_classifier(ModelConfig(cell_type=cell_type, units=16, chrono_max_steps=101), vocabulary_size=20)
    keep, other = _gate_biases(model, cell_type, 16)
    assert keep.min() >= 0.0 and keep.max() <= np.log(100) + 1e-6 and keep.std() > 0.3  # log(u), u ~ U(1, 100)
    np.testing.assert_allclose(other, -keep if cell_type == "lstm" else 0.0, atol=1e-6)
    keras.utils.set_random_seed(0)
    again = build_classifier(ModelConfig(cell_type=cell_type, units=16, chrono_max_steps=101), vocabulary_size=20)
    np.testing.assert_array_equal(_gate_biases(again, cell_type, 16)[0], keep)
    plain = build_classifier(ModelConfig(cell_type=cell_type, units=16), vocabulary_size=20)
    np.testing.assert_array_equal(_gate_biases(plain, cell_type, 16)[0], 1.0 if cell_type == "lstm" else 0.0)


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
def test_chrono_initialized_cells_remember_the_first_token_longer(cell_type):
    # Two sequences that differ only in their first token, then 200 shared
    # random tokens: how far apart are the final states, before any training?
    rng = np.random.default_rng(0)
    tail = rng.integers(2, 20, size=200)
    sequences = np.stack([np.concatenate([[first], tail]) for first in (2, 3)]).astype(np.int32)

    def final_state_gap(chrono_max_steps):
        keras.utils.set_random_seed(1)
        config = ModelConfig(
            cell_type=cell_type,
            units=16,
            embedding_dim=8,
            word_dropout_rate=0.0,
            dropout_rate=0.0,
            chrono_max_steps=chrono_max_steps,
        )
        model = build_classifier(config, vocabulary_size=20)
        (layer,) = recurrent_layers(model)
        states = keras.Model(model.input, layer.output)(sequences)
        return float(np.abs(keras.ops.convert_to_numpy(states[0] - states[1])).max())

    assert final_state_gap(201) > 100 * final_state_gap(None)


def test_simple_rnn_has_no_gates_to_initialize():
    keras.utils.set_random_seed(0)
    first = build_classifier(ModelConfig(cell_type="simple_rnn", units=8, chrono_max_steps=50), vocabulary_size=20)
    keras.utils.set_random_seed(0)
    second = build_classifier(ModelConfig(cell_type="simple_rnn", units=8), vocabulary_size=20)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
