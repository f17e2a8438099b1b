import importlib
from dataclasses import replace

import keras
import numpy as np
import pytest
import tensorflow as tf

from sentiment import cells, models
from sentiment.config import AFTER_THE_LSTM, ALL_CELL_TYPES, CELL_TYPES, PRESETS, ModelConfig
from sentiment.models import RECURRENT_LAYERS, all_layers, build_classifier, build_regressor, recurrent_layers
from sentiment.report import model_name

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
        return [type(layer).__name__ for layer in all_layers(model) if not isinstance(layer, keras.layers.RNN)]

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


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "max_mean", "last_token"])
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


# Architectures the head must carry alike: pooled, stacked, bidirectional, n-class, a bag of embeddings.
ARCHITECTURES = [
    (ModelConfig(cell_type="lstm", bidirectional=True, pooling="max_mean", embedding_dim=8, units=6), 2),
    (ModelConfig(cell_type="gru", num_layers=2, embedding_dim=8, units=6), 2),
    (ModelConfig(cell_type="simple_rnn", bidirectional=True, pooling="mean", embedding_dim=8, units=6), 3),
    (ModelConfig(cell_type="lstm", pooling="max", embedding_dim=8, units=6, chrono_max_steps=20), 4),
    (ModelConfig(cell_type="simple_rnn", irnn=True, embedding_dim=8, units=6), 2),
    (ModelConfig(cell_type="gru", num_layers=0, pooling="mean", embedding_dim=8, units=6), 2),
    # After the LSTM: a stacked chrono minGRU on its loop, a pooled minLSTM, a two-block transformer.
    (ModelConfig(cell_type="mingru", num_layers=2, solver="loop", chrono_max_steps=20, embedding_dim=8, units=6), 2),
    (ModelConfig(cell_type="minlstm", pooling="max_mean", embedding_dim=8, units=6), 3),
    (ModelConfig(cell_type="transformer", num_layers=2, embedding_dim=8, units=32), 4),
]


def _right_padded_ids(rng: np.random.Generator) -> np.ndarray:
    token_ids = rng.integers(2, 50, (4, 20)).astype(np.int32)
    token_ids[0, 6:] = 0  # right padding, as the batches have it
    token_ids[1, 15:] = 0
    return token_ids


@pytest.mark.parametrize("config, num_classes", ARCHITECTURES)
def test_the_classifier_is_its_encoder_then_its_head_then_the_output_activation(config, num_classes):
    model = build_classifier(config, 50, num_classes, sequence_length=20)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Functional", "Functional", "Activation"]
    token_ids = _right_padded_ids(np.random.default_rng(0))
    embedded, mask = models.encoder(model)(token_ids)
    assert embedded.shape == (4, 20, 8) and mask.dtype == "bool"
    logits = models.head(model)([embedded, mask], training=False)
    assert logits.shape == (4, 1 if num_classes == 2 else num_classes)
    probabilities = keras.ops.convert_to_numpy(model(token_ids, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(models.output_layer(model)(logits)), probabilities, atol=1e-6)
    # The head gives the logit: the sigmoid (softmax) of it is the model's output.
    squash = keras.ops.sigmoid if num_classes == 2 else keras.ops.softmax
    np.testing.assert_allclose(keras.ops.convert_to_numpy(squash(logits)), probabilities, atol=1e-6)
    if num_classes > 2:
        np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("config, num_classes", ARCHITECTURES)
def test_the_head_reads_only_the_words_its_mask_keeps(config, num_classes):
    """Whatever sits at the masked steps (perturbed words, another review's padding), the logit is the same."""
    model = build_classifier(config, 50, num_classes, sequence_length=20)
    rng = np.random.default_rng(1)
    token_ids = _right_padded_ids(rng)
    embedded, mask = models.encoder(model)(token_ids)
    noise = rng.normal(0.0, 1.0, embedded.shape).astype(np.float32) * (token_ids == 0)[..., None]
    head = models.head(model)
    clean = keras.ops.convert_to_numpy(head([embedded, mask], training=False))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(head([embedded + noise, mask], training=False)), clean, atol=1e-6
    )
    alone = head([embedded[:1, :6], mask[:1, :6]], training=False)  # the first review without its padding
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alone), clean[:1], atol=1e-6)


def test_a_model_without_an_encoder_and_a_head_is_refused_by_name():
    regressor = build_regressor(ModelConfig(cell_type="gru", units=2), input_features=2)
    for part in (models.encoder, models.head, models.output_layer, models.embedding):
        with pytest.raises(ValueError, match="gru_regressor has no (encoder|head): it is not a classifier"):
            part(regressor)


def test_copies_keep_the_weights_and_the_parts():
    config = ModelConfig(cell_type="lstm", bidirectional=True, pooling="max_mean", embedding_dim=4, units=4)
    model = build_classifier(config, VOCABULARY_SIZE)
    full, padded = np.array([[2, 3, 4, 5], [6, 7, 8, 9]]), np.array([[2, 3, 0, 0], [6, 7, 8, 9]])
    expected = keras.ops.convert_to_numpy(model(padded))
    generic = models.with_kernel_choice(model, use_cudnn=False)
    assert [layer.use_cudnn for layer in recurrent_layers(generic)] == [False] * 2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(generic(padded)), expected, atol=1e-6)
    unmasked = models.without_mask(model)
    assert _recurrent_mask_inputs(models.head(unmasked)) == [None, None]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(unmasked(full)), keras.ops.convert_to_numpy(model(full)), atol=1e-6
    )
    assert not np.allclose(keras.ops.convert_to_numpy(unmasked(padded)), expected)  # the padding is read now


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
    # cuDNN takes a mask only when it is right-padded with no review fully
    # masked: the encoder's mask is ids != 0 (an empty review is one [UNK]),
    # and each recurrent layer of the head is handed it.
    token_ids = np.array([[2, 3, 0, 0], [4, 5, 6, 7], [1, 0, 0, 0]], np.int32)
    _, mask = models.encoder(model)(token_ids)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask), token_ids != 0)
    assert bool(tensorflow_rnn._is_sequence_right_padded(mask))
    assert not bool(tensorflow_rnn._has_fully_masked_sequence(mask))
    assert _recurrent_mask_inputs(models.head(model)) == ["mask"] * len(recurrent_layers(models.head(model)))


def _recurrent_mask_inputs(head: keras.Model) -> list[str | None]:
    """The name of the head's input handed as `mask` to each recurrent layer call (per direction), in order."""
    names = []
    for layer in head.get_config()["layers"]:
        if layer["class_name"] in ("Bidirectional", *(cls.__name__ for cls in RECURRENT_LAYERS.values())):
            ((node,),) = [layer["inbound_nodes"]]
            source = node["kwargs"].get("mask")
            name = source["config"]["keras_history"][0] if source else None
            names += [name] * (2 if layer["class_name"] == "Bidirectional" else 1)
    return names


def test_stacked_bidirectional_and_pooling_options():
    model = build_classifier(
        ModelConfig(cell_type="gru", embedding_dim=4, units=4, num_layers=2, bidirectional=True, pooling="mean"),
        VOCABULARY_SIZE,
    )
    assert len(recurrent_layers(model)) == 4
    assert all(layer.return_sequences for layer in recurrent_layers(model))
    assert _recurrent_mask_inputs(models.head(model)) == ["mask"] * 4
    assert any(isinstance(layer, keras.layers.GlobalAveragePooling1D) for layer in all_layers(model))
    maxed = build_classifier(ModelConfig(cell_type="lstm", embedding_dim=4, units=4, pooling="max"), VOCABULARY_SIZE)
    restored = keras.models.model_from_json(maxed.to_json())  # the masked max layer is registered for loading
    assert any(type(layer).__name__ == "MaskedGlobalMaxPooling1D" for layer in all_layers(restored))
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
    models.embedding(second).embeddings.assign(np.zeros((VOCABULARY_SIZE, 4), np.float32))
    assert np.abs(keras.ops.convert_to_numpy(models.embedding(first).embeddings)).sum() > 0  # not shared
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr() == ("", "")


def test_models_define_no_lambda_layers(tiny_models):
    for model in tiny_models.values():
        assert not any(isinstance(layer, keras.layers.Lambda) for layer in all_layers(model))


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
        head = models.head(model)
        (layer,) = recurrent_layers(head)
        states = keras.Model(head.inputs, layer.output)(models.encoder(model)(sequences))
        return float(np.abs(keras.ops.convert_to_numpy(states[0] - states[1])).max())

    assert final_state_gap(201) > 100 * final_state_gap(None)


def test_simple_rnn_has_no_gates_to_initialize():
    keras.utils.set_random_seed(0)
    first = build_classifier(ModelConfig(cell_type="simple_rnn", units=8, chrono_max_steps=50), vocabulary_size=20)
    keras.utils.set_random_seed(0)
    second = build_classifier(ModelConfig(cell_type="simple_rnn", units=8), vocabulary_size=20)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


# --- After the LSTM: minGRU, minLSTM and the transformer (sentiment/cells.py) ----------------

SEQUENCE_LENGTH = 12


def _after_the_lstm(cell_type: str, **fields) -> keras.Model:
    config = ModelConfig(cell_type=cell_type, embedding_dim=4, units=4, **fields)
    return build_classifier(config, VOCABULARY_SIZE, sequence_length=SEQUENCE_LENGTH)


def _probabilities(model, token_ids) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(np.asarray(token_ids, np.int32), training=False))


def test_a_new_cell_type_is_one_entry_and_the_three_cells_stay_the_comparison():
    assert CELL_TYPES == ("simple_rnn", "lstm", "gru")
    assert AFTER_THE_LSTM == ("mingru", "minlstm", "transformer") and ALL_CELL_TYPES == (*CELL_TYPES, *AFTER_THE_LSTM)
    assert [model_name(cell) for cell in AFTER_THE_LSTM] == ["minGRU", "minLSTM", "Transformer"]
    assert RECURRENT_LAYERS["mingru"] is cells.MinGRU and RECURRENT_LAYERS["minlstm"] is cells.MinLSTM
    for cell in ALL_CELL_TYPES:  # every name the config accepts builds, and its model is named after it
        assert _after_the_lstm(cell).name == f"{cell}_classifier"


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_mingru_and_minlstm_differ_from_the_lstm_only_in_the_recurrent_layer(cell):
    def skeleton(model):
        return [type(layer).__name__ for layer in all_layers(model) if layer not in recurrent_layers(model)]

    model = _after_the_lstm(cell, solver="loop")
    assert skeleton(model) == skeleton(build_classifier(TINY, VOCABULARY_SIZE))
    (layer,) = recurrent_layers(model)
    assert type(layer) is RECURRENT_LAYERS[cell] and layer.solver == "loop" and layer.units == 4
    assert not layer.return_sequences  # "last" pooling: the state after the last real word


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "max_mean"])
def test_the_transformer_has_the_pooled_recurrent_models_head(pooling):
    """Attention where the recurrent layers are, and every other layer the same as a pooled LSTM's.

    "last" reads as the masked mean: a transformer has no final state.
    """
    model = _after_the_lstm("transformer", pooling=pooling, num_layers=2)
    attention = (keras.layers.Dense, cells.PositionEmbedding, cells.TransformerBlock)
    found = all_layers(model)
    outside = [type(layer).__name__ for layer in found if not isinstance(layer, attention) or layer.name == "logits"]
    lstm = build_classifier(replace(TINY, pooling="mean" if pooling == "last" else pooling), VOCABULARY_SIZE)
    assert outside == [type(layer).__name__ for layer in all_layers(lstm) if layer not in recurrent_layers(lstm)]
    assert recurrent_layers(model) == []
    (positions,) = [layer for layer in found if isinstance(layer, cells.PositionEmbedding)]
    blocks = [layer for layer in found if isinstance(layer, cells.TransformerBlock)]
    assert positions.max_length == SEQUENCE_LENGTH and len(blocks) == 2
    assert all(block.feed_forward_dim == 4 * 4 and block.num_heads == 1 for block in blocks)


def test_last_token_pooling_reads_the_transformers_output_at_its_last_real_token():
    """What the long-range suite reads: the position the query sits at, not the mean over the pairs."""
    keras.utils.set_random_seed(3)
    model = _after_the_lstm("transformer", pooling="last_token")
    head = model.get_layer("head")
    (pooling,) = [layer for layer in head.layers if isinstance(layer, models.LastTokenPooling1D)]
    blocks = keras.Model(head.inputs, head.get_layer("transformer_0").output)
    token_ids = np.array([[2, 3, 4, 0, 0], [5, 6, 7, 8, 9]], np.int32)
    embedded, mask = model.get_layer("encoder")(token_ids)
    outputs = keras.ops.convert_to_numpy(blocks([embedded, mask]))
    read = keras.ops.convert_to_numpy(pooling(outputs, mask=mask))
    np.testing.assert_allclose(read, outputs[[0, 1], [2, 4]], atol=1e-6)
    # A recurrent model's output at its last token is its final state: "last_token" is "last" for it.
    lstm = build_classifier(replace(TINY, pooling="last_token"), VOCABULARY_SIZE)
    last = build_classifier(TINY, VOCABULARY_SIZE)
    assert [type(layer).__name__ for layer in all_layers(lstm)] == [type(layer).__name__ for layer in all_layers(last)]
    assert not recurrent_layers(lstm)[0].return_sequences


def test_the_transformer_width_sets_its_heads():
    model = build_classifier(
        ModelConfig(cell_type="transformer", embedding_dim=8, units=64, dropout_rate=0.5),
        VOCABULARY_SIZE,
        sequence_length=8,
    )
    (block,) = [layer for layer in all_layers(model) if isinstance(layer, cells.TransformerBlock)]
    assert (block.num_heads, block.key_dim, block.dropout_rate) == (4, 16, 0.1)
    assert model.get_layer("head").get_layer("projection").units == 64


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("pooling", ["last", "max_mean"])
def test_loop_and_scan_give_the_same_probabilities_through_the_classifier(cell, pooling):
    keras.utils.set_random_seed(4)
    loop = _after_the_lstm(cell, solver="loop", pooling=pooling, num_layers=2, chrono_max_steps=30)
    scan = _after_the_lstm(cell, solver="scan", pooling=pooling, num_layers=2, chrono_max_steps=30)
    scan.set_weights(loop.get_weights())
    assert [layer.solver for layer in recurrent_layers(loop)] == ["loop"] * 2
    assert [layer.solver for layer in recurrent_layers(scan)] == ["scan"] * 2
    token_ids = np.random.default_rng(5).integers(2, VOCABULARY_SIZE, (4, SEQUENCE_LENGTH))
    token_ids[1, 7:], token_ids[2, 1:] = 0, 0  # right padding
    expected = _probabilities(loop, token_ids)
    np.testing.assert_allclose(_probabilities(scan, token_ids), expected, atol=1e-5)
    # In a graph whose time axis has no static length, as served and trained.
    spec = [tf.TensorSpec([None, None], tf.int32)]
    in_graph = tf.function(lambda ids: scan(ids, training=False), input_signature=spec)
    np.testing.assert_allclose(in_graph(token_ids.astype(np.int32)).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("cell", AFTER_THE_LSTM)
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "max_mean", "last_token"])
def test_right_padding_does_not_change_a_reviews_probability_after_the_lstm(cell, pooling):
    keras.utils.set_random_seed(6)
    model = _after_the_lstm(cell, pooling=pooling, num_layers=2)
    review = np.array([[2, 3, 4]])
    alone = _probabilities(model, review)
    beside_longer = _probabilities(model, [[2, 3, 4, 0, 0, 0, 0, 0], [5, 6, 7, 8, 9, 10, 11, 12]])[:1]
    padded_to_the_end = _probabilities(model, np.pad(review, ((0, 0), (0, SEQUENCE_LENGTH - 3))))
    np.testing.assert_allclose(beside_longer, alone, atol=1e-6)
    np.testing.assert_allclose(padded_to_the_end, alone, atol=1e-6)
    assert not np.allclose(_probabilities(model, [[2, 3, 5]]), alone)  # the words themselves count


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_chrono_initialization_reaches_mingru_and_minlstm_through_the_builder(cell):
    keras.utils.set_random_seed(7)
    model = build_classifier(ModelConfig(cell_type=cell, units=16, chrono_max_steps=101), VOCABULARY_SIZE)
    (layer,) = recurrent_layers(model)
    keep = keras.ops.convert_to_numpy(layer.keep_factors(np.zeros((1, 1, 64), np.float32)))[0, 0]
    # u ~ Uniform(1, 100): a keep factor u / (1 + u) in [0.5, 0.99] at zero input, spread over the units.
    assert keep.min() >= 0.5 - 1e-6 and keep.max() <= 100 / 101 + 1e-6 and np.ptp(keep) > 0.1
    keras.utils.set_random_seed(7)
    plain = build_classifier(ModelConfig(cell_type=cell, units=16), VOCABULARY_SIZE)
    (plain_layer,) = recurrent_layers(plain)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(plain_layer.bias), 0.0)


def test_the_transformer_has_no_gates_to_initialize():
    keras.utils.set_random_seed(8)
    first = _after_the_lstm("transformer", chrono_max_steps=50)
    keras.utils.set_random_seed(8)
    second = _after_the_lstm("transformer")
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_what_cannot_apply_after_the_lstm_is_refused_in_one_line():
    for cell in AFTER_THE_LSTM:
        with pytest.raises(ValueError, match=f"bidirectional applies to simple_rnn, lstm, gru only, not {cell}"):
            ModelConfig(cell_type=cell, bidirectional=True)
    with pytest.raises(ValueError, match="solver must be one of scan, loop, got 'fast'"):
        ModelConfig(cell_type="mingru", solver="fast")
    with pytest.raises(
        ValueError, match="a transformer learns one position per token: give the builder sequence_length"
    ):
        build_classifier(ModelConfig(cell_type="transformer", embedding_dim=4, units=4), VOCABULARY_SIZE)
    # The Keras cells ignore the solver, as SimpleRNN ignores chrono initialization.
    assert (
        type(recurrent_layers(build_classifier(replace(TINY, solver="loop"), VOCABULARY_SIZE))[0]) is keras.layers.LSTM
    )


@pytest.mark.parametrize("cell", AFTER_THE_LSTM)
def test_one_training_step_after_the_lstm_updates_every_weight(cell):
    """The project's one step (`TrainingStep`), as `train` and the long-range suite take it."""
    from sentiment.config import TrainConfig
    from sentiment.training import loop

    keras.utils.set_random_seed(9)
    model = _after_the_lstm(cell, word_dropout_rate=0.0, dropout_rate=0.0)
    loop.compile_for_training(model, TrainConfig(learning_rate=0.01), steps_per_epoch=1)
    token_ids = np.array([[2, 3, 4, 5], [6, 7, 8, 0], [9, 10, 0, 0]], np.int32)
    targets = np.array([1.0, 0.0, 1.0], np.float32)
    before = [weight.copy() for weight in model.get_weights()]
    loss_sum, hits, count = (float(value) for value in loop.TrainingStep(model).on_batch(token_ids, targets))
    assert np.isfinite(loss_sum) and count == 3 and 0 <= hits <= 3
    changed = [not np.array_equal(after, start) for after, start in zip(model.get_weights(), before)]
    assert all(changed), [weight.path for weight, moved in zip(model.weights, changed) if not moved]


def test_the_analyses_of_keras_cells_refuse_the_models_after_the_lstm_in_one_line():
    """The gate replay reads Keras SimpleRNN, LSTM and GRU, the state Jacobian any state: the others get one line."""
    from sentiment.analysis import gates, jacobians
    from sentiment.errors import SentimentError

    for cell in AFTER_THE_LSTM:
        model = _after_the_lstm(cell)
        if cell == "transformer":  # minGRU's and minLSTM's state Jacobians: tests/test_jacobians.py
            with pytest.raises(SentimentError, match="has no state Jacobian: a transformer carries no state") as raised:
                jacobians.state_layer(model)
            assert "\n" not in str(raised.value)
        with pytest.raises(SentimentError, match=f"{cell}_classifier has no SimpleRNN, LSTM or GRU layer to replay"):
            gates.read_review(model, np.array([2, 3, 4]))
    with pytest.raises(SentimentError, match="mingru, transformer are after the LSTM.*leave them out of --cells"):
        gates.require_replayable(["lstm", "mingru", "transformer"])
    gates.require_replayable(CELL_TYPES)  # the three cells replay as before
