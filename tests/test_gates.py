"""The replay of a trained recurrent layer reproduces Keras's own states at every token."""

import keras
import numpy as np
import pytest

from sentiment import models
from sentiment.analysis import gates
from sentiment.config import PRESETS, ModelConfig
from sentiment.models import build_classifier

FULL = PRESETS["full"]
VOCABULARY_SIZE = FULL.data.vocabulary_size


def _sequence_model(cell: str, bidirectional: bool, **overrides) -> keras.Model:
    """The full preset's shapes; mean pooling, so the recurrent layer returns every step's state."""
    config = ModelConfig(
        **{**FULL.model.__dict__, "cell_type": cell, "bidirectional": bidirectional, "pooling": "mean", **overrides}
    )
    keras.utils.set_random_seed(7)
    model = build_classifier(config, VOCABULARY_SIZE)
    for layer in models.head(model).layers:  # trained-looking weights: larger than the initializer's
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
            layer.set_weights([w + np.random.default_rng(1).normal(0, 0.05, w.shape) for w in layer.get_weights()])
    return model


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_replay_reproduces_the_layers_state_at_every_token(cell, bidirectional):
    model = _sequence_model(cell, bidirectional)
    head = models.head(model)
    recurrent = next(
        layer for layer in head.layers if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
    )
    recurrent_states = keras.Model(head.inputs, recurrent.output)

    def states(ids):
        return recurrent_states(models.encoder(model)(ids))

    rng = np.random.default_rng(0)
    lengths = (FULL.data.sequence_length, 37)  # a full-length review and a short one, right-padded in one batch
    ids = np.zeros((2, lengths[0]), np.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(2, VOCABULARY_SIZE, length)
    expected = keras.ops.convert_to_numpy(states(ids))  # [batch, time, units (x2 bidirectional)]
    for row, length in enumerate(lengths):
        replayed = gates.read_review(model, ids[row])
        assert [entry["direction"] for entry in replayed] == (["forward", "backward"] if bidirectional else ["forward"])
        hidden = np.concatenate([entry["values"]["hidden"] for entry in replayed], axis=-1)
        assert hidden.shape == (length, expected.shape[-1])
        np.testing.assert_allclose(hidden, expected[row, :length], atol=1e-5)
        assert set(replayed[0]["values"]) == set(gates.QUANTITIES[cell])


def test_gates_are_probabilities_and_the_lstm_cell_adds_up():
    model = _sequence_model("lstm", False, units=8, embedding_dim=8)
    (entry,) = gates.read_review(model, np.arange(2, 30))
    values = entry["values"]
    for gate in ("input gate", "forget gate", "output gate"):
        assert np.all((values[gate] > 0) & (values[gate] < 1))
    previous = np.vstack([np.zeros(8), values["cell state"][:-1]])
    np.testing.assert_allclose(
        values["cell state"], values["forget gate"] * previous + values["input gate"] * values["candidate"], atol=1e-12
    )
    np.testing.assert_allclose(values["hidden"], values["output gate"] * np.tanh(values["cell state"]), atol=1e-12)


def test_gru_without_reset_after_and_the_irnn():
    for config in (
        ModelConfig(cell_type="gru", units=4, embedding_dim=3, pooling="mean"),
        ModelConfig(cell_type="simple_rnn", irnn=True, units=4, embedding_dim=3, pooling="mean"),
    ):
        model = build_classifier(config, 12)
        if config.cell_type == "gru":  # rebuild the layer the other way round
            (layer,) = models.recurrent_layers(model)
            layer = keras.layers.GRU.from_config({**layer.get_config(), "reset_after": False})
            layer.build((None, None, 3))
        else:
            (layer,) = models.recurrent_layers(model)
        copy = type(layer).from_config({**layer.get_config(), "return_sequences": True})
        copy.build((None, None, 3))
        copy.set_weights([w + 0.1 for w in layer.get_weights()])
        x = np.random.default_rng(2).normal(size=(9, 3)).astype(np.float32)
        np.testing.assert_allclose(
            gates.replay(copy, x)["hidden"], keras.ops.convert_to_numpy(copy(x[None]))[0], atol=1e-5
        )


def test_sentiment_unit_and_saturation():
    trajectory = np.linspace(0.1, 0.9, 20)
    hidden = np.random.default_rng(0).normal(size=(20, 5))
    hidden[:, 3] = -2 * trajectory + 0.01 * np.sin(np.arange(20))  # follows P(positive), inverted
    unit = gates.sentiment_unit(hidden, trajectory)
    assert unit["unit"] == 3 and unit["correlation"] < -0.99
    np.testing.assert_array_equal(unit["trace"], hidden[:, 3])
    assert (
        gates.sentiment_unit(hidden[:2], trajectory[:2]) is None
        and gates.sentiment_unit(hidden, np.full(20, 0.5)) is None
    )
    np.testing.assert_array_equal(gates.saturated_share(np.array([[0.99, 0.1], [-0.97, 0.96]])), [0.5, 1.0])
