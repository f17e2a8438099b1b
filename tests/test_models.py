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
    return {cell: build_classifier(ModelConfig(cell_type=cell, embedding_dim=4, units=4), VOCABULARY_SIZE) for cell in CELL_TYPES}


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


def test_padding_does_not_change_the_prediction(tiny_models):
    # With mask_zero and "last" pooling, the head reads the state after the last real token.
    for model in tiny_models.values():
        short = keras.ops.convert_to_numpy(model(np.array([[2, 3]])))
        padded = keras.ops.convert_to_numpy(model(np.array([[2, 3, 0, 0, 0]])))
        np.testing.assert_allclose(short, padded, atol=1e-6)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_default_lstm_and_gru_are_cudnn_eligible(preset, cell):
    model = build_classifier(ModelConfig(**{**PRESETS[preset].model.__dict__, "cell_type": cell, "units": 4}), VOCABULARY_SIZE)
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
    model = build_classifier(ModelConfig(cell_type="gru", embedding_dim=4, units=4, num_layers=2, bidirectional=True, pooling="mean"), VOCABULARY_SIZE)
    assert len(recurrent_layers(model)) == 4
    assert all(layer.return_sequences for layer in recurrent_layers(model))
    assert any(isinstance(layer, keras.layers.GlobalAveragePooling1D) for layer in model.layers)
    assert keras.ops.convert_to_numpy(model(np.array([[2, 3, 0]]))).shape == (1, 1)


def test_builder_is_pure():
    a = build_classifier(TINY, VOCABULARY_SIZE)
    b = build_classifier(TINY, VOCABULARY_SIZE)
    assert a is not b and a.count_params() == b.count_params()


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
