"""One classifier builder for every cell type: an encoder and a head.

SimpleRNN, LSTM and GRU share every line but the recurrent layer's class, so
the comparison is fair by construction. The types after the LSTM
(`sentiment.config.AFTER_THE_LSTM`, layers in `sentiment.cells`) share them
too: minGRU and minLSTM are two more entries of `RECURRENT_LAYERS`, and the
transformer replaces the recurrent layers by attention blocks
(`_SEQUENCE_LAYERS`); the embedding, word dropout, pooling, output dropout
and output layer are the same lines. A classifier is two Functional
models called in turn, as flax's sst2 model exposes `embed_token_ids` and
`logits_from_embedded_inputs`:

    encoder:     token ids <int32>[batch, time]
                 -> (embedded words <float32>[batch, time, embedding_dim],
                     mask <bool>[batch, time], True at the real words)
    head:        (embedded words, mask) -> logits <float32>[batch, 1 or classes]
    classifier:  token ids -> encoder -> head -> Activation (sigmoid or softmax)

The split is where the analyses need it: adversarial training moves the
embedded words (`sentiment.training.loop.EmbeddingAdversary`) and the
gradient by word differentiates with respect to them
(`sentiment.analysis.gradients`); both call `head(model)` on words they
embedded themselves. The head returns the logit, and the classifier's last
layer applies the sigmoid (softmax): Dense followed by Activation computes
exactly what Dense(activation=...) did, and the gradient analysis reads the
logit it needs (1 - P rounds to 0 in float32 long before the logit stops
carrying the answer) without a special case.

The mask is an output of the encoder (ids != 0, what Keras's `mask_zero`
would compute) and an input of the head, which hands it explicitly to every
layer that reads the time axis: the head computes the same thing on words the
encoder embedded and on words moved elsewhere, and the padding is skipped
exactly as in `model(ids)`. The defaults keep LSTM and GRU eligible for the
cuDNN kernels on a GPU: tanh/sigmoid activations, no recurrent dropout, no
unrolling, biases on, GRU `reset_after=True`, and right-padded masks (padding
id 0 at the end of each review, never a review without a word).

The functions after the builders find the parts of a built model
(`encoder`, `head`, `output_layer`, `embedding`, `recurrent_layers`), so no
other module looks layers up by name or walks the nested models itself.
"""

from __future__ import annotations

import keras
import numpy as np

from sentiment import cells
from sentiment.config import PADDING_ID, ModelConfig

RECURRENT_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    # After the LSTM: gates from the input alone, a linear recurrence solved by `ModelConfig.solver`.
    "mingru": cells.MinGRU,
    "minlstm": cells.MinLSTM,
}
# The recurrent layers that are not Keras RNN layers (no `cell`, no Bidirectional): minGRU and minLSTM.
PARALLEL_RECURRENCES = tuple(kind for kind in RECURRENT_LAYERS.values() if not issubclass(kind, keras.layers.RNN))
# What `recurrent_layers` finds.
RECURRENT_CLASSES = (keras.layers.RNN, *PARALLEL_RECURRENCES)
# A transformer's shape from the shared fields: one attention head per this
# many units (BERT-base's heads are 64 wide; these models are 64 units in
# all), a feed-forward layer 4 units wide per unit (Vaswani et al.: 2048 for
# 512), and Vaswani et al.'s dropout inside the blocks, capped by
# `ModelConfig.dropout_rate` so a config without dropout has none.
ATTENTION_HEAD_SIZE = 16
FEED_FORWARD_FACTOR = 4
BLOCK_DROPOUT_RATE = 0.1


@keras.saving.register_keras_serializable(package="sentiment")
class MaskedGlobalMaxPooling1D(keras.layers.Layer):
    """The maximum over the steps the mask keeps, per feature.

    Keras's GlobalMaxPooling1D ignores the mask: padded steps (zeros out of a
    masked recurrent layer) would join the maximum, and a review's score would
    depend on how long the other reviews in its batch are.
    GlobalAveragePooling1D already honours the mask.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:  # never all False: an empty review is one [UNK] token
            inputs = keras.ops.where(keras.ops.expand_dims(mask, -1), inputs, float("-inf"))
        return keras.ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="sentiment")
class LastTokenPooling1D(keras.layers.Layer):
    """Every feature at the last step the mask keeps: a transformer's output at its last real token.

    What "last_token" pooling reads (`read_out`). In one attention layer
    that position has looked at every token, and on the long-range tasks it
    is where the question sits (associative recall's query key), as a
    recurrent model's final state is read after its last token. Padding is
    on the right, so the last real token is at (real tokens - 1).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs[:, -1, :]
        last = keras.ops.sum(keras.ops.cast(mask, "int32"), axis=1) - 1  # never -1: an empty review is [UNK]
        pick = keras.ops.one_hot(last, keras.ops.shape(inputs)[1], dtype=inputs.dtype)  # <float>[batch, time]
        return keras.ops.einsum("bt,btf->bf", pick, inputs)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


_POOLING_LAYERS = {
    "mean": keras.layers.GlobalAveragePooling1D,
    "max": MaskedGlobalMaxPooling1D,
    "last_token": LastTokenPooling1D,
}


def build_classifier(
    config: ModelConfig,
    vocabulary_size: int,
    num_classes: int = 2,
    embedding_weights: np.ndarray | None = None,
    sequence_length: int | None = None,
) -> keras.Model:
    """Builds an uncompiled text classifier: binary sentiment, or n classes.

    Args:
        config: the architecture; `config.cell_type` picks the recurrent layer.
        vocabulary_size: number of token ids, padding (0) and [UNK] (1) included.
        num_classes: 2 for a sigmoid output, more for a softmax output.
        embedding_weights: <float>[vocabulary_size, embedding_dim] starting
            word vectors (pretrained); None starts at random.
        sequence_length: the most tokens a review will have
            (`DataConfig.sequence_length`). A transformer learns a position
            for each and needs it; the recurrent models read any length and
            ignore it.

    Returns:
        A Functional model mapping <int32>[batch, time] token ids (0 =
        padding) to <float32>[batch, 1] P(positive) for two classes, or
        <float32>[batch, num_classes] class probabilities. Its layers are the
        input, the `encoder` and `head` models and the output Activation.
    """
    encoder_model = build_encoder(config, vocabulary_size, embedding_weights)
    head_model = build_head(config, num_classes, sequence_length)
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedded, mask = encoder_model(token_ids)
    logits = head_model([embedded, mask])
    if num_classes == 2:
        output = keras.layers.Activation("sigmoid", name="probability")(logits)
    else:
        output = keras.layers.Activation("softmax", name="probabilities")(logits)
    return _finish(keras.Model(token_ids, output, name=f"{config.cell_type}_classifier"), config)


def build_encoder(
    config: ModelConfig, vocabulary_size: int, embedding_weights: np.ndarray | None = None
) -> keras.Model:
    """The embedding, and the padding mask made explicit.

    Returns:
        A Functional model named "encoder" mapping <int32>[batch, time] token
        ids to (<float32>[batch, time, embedding_dim] embedded words,
        <bool>[batch, time] mask, True at the real words).
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    # The mask is an output, handed to the head explicitly; Keras's implicit
    # mask (mask_zero=True) would be a second copy of it, which the head
    # would drop with a warning when called on the encoder's output.
    embedding = keras.layers.Embedding(vocabulary_size, config.embedding_dim, name="embedding")
    embedded = embedding(token_ids)
    if embedding_weights is not None:  # set, not an initializer: a Constant would store the table in the model's config
        embedding.set_weights([np.asarray(embedding_weights, np.float32)])
    mask = keras.ops.not_equal(token_ids, PADDING_ID)  # what mask_zero=True computes
    return keras.Model(token_ids, [embedded, mask], name="encoder")


def build_head(config: ModelConfig, num_classes: int = 2, sequence_length: int | None = None) -> keras.Model:
    """Word dropout, the recurrent layers, the pooling, output dropout and the output Dense layer.

    A transformer's head has its attention blocks where the recurrent layers
    are (`_attention_blocks`); `sequence_length` is as in `build_classifier`.

    Returns:
        A Functional model named "head" mapping (<float32>[batch, time,
        embedding_dim] embedded words, <bool>[batch, time] mask) to
        <float32>[batch, 1] the logit of P(positive) for two classes, or
        <float32>[batch, num_classes] logits.
    """
    embedded = keras.Input(shape=(None, config.embedding_dim), dtype="float32", name="embedded")
    mask = keras.Input(shape=(None,), dtype="bool", name="mask")
    # noise_shape (batch, time, 1): drop whole words, not single features.
    x = keras.layers.Dropout(config.word_dropout_rate, noise_shape=(None, None, 1), name="word_dropout")(embedded)
    x = _body(config, x, mask, sequence_length)
    logits = keras.layers.Dense(1 if num_classes == 2 else num_classes, name="logits")(x)
    return keras.Model([embedded, mask], logits, name="head")


def build_regressor(config: ModelConfig, input_features: int, sequence_length: int | None = None) -> keras.Model:
    """Builds an uncompiled sequence regressor on real-valued inputs (the adding problem).

    The classifier's recurrent body (the same recurrent layers, pooling and
    output dropout) on every step, there being no padding and so no mask;
    the output is one linear unit.

    Args:
        config: the architecture (`embedding_dim` and `word_dropout_rate`
            are unused: there are no tokens).
        input_features: values per time step.
        sequence_length: the longest sequence, for a transformer's positions
            (as in `build_classifier`).

    Returns:
        A Functional model mapping <float32>[batch, time, input_features]
        to <float32>[batch, 1].
    """
    inputs = keras.Input(shape=(None, input_features), dtype="float32", name="inputs")
    output = keras.layers.Dense(1, name="value")(_body(config, inputs, None, sequence_length))
    return _finish(keras.Model(inputs, output, name=f"{config.cell_type}_regressor"), config)


def build_convolutional_classifier(config: ModelConfig, vocabulary_size: int, kernel_size: int = 5) -> keras.Model:
    """A parallel reference for timing: the same embedding, one Conv1D, max pooling, the same head.

    Every position is computed at once: its critical path is one layer deep
    whatever the sequence length, where a recurrent layer's is one step per
    token. Used by the bench's sequential-cost sweep, not trained for results.
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    # No mask: a convolution cannot use one (the bench feeds it no padding).
    x = keras.layers.Embedding(vocabulary_size, config.embedding_dim, name="embedding")(token_ids)
    x = keras.layers.Conv1D(config.units, kernel_size, padding="same", activation="relu", name="conv1d")(x)
    x = keras.layers.GlobalMaxPooling1D(name="max_pooling")(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="probability")(
        keras.layers.Dropout(config.dropout_rate, name="output_dropout")(x)
    )
    return keras.Model(token_ids, output, name="conv1d_classifier")


def read_out(config: ModelConfig) -> str:
    """How the head reads the sequence: `config.pooling`, with "last" and "last_token" per model kind.

    A transformer has no final state: no position has read the others in
    order, so its last position is the last word's view of the review, not
    a summary of it. For "last" its read-out is the masked mean (see
    `_attention_blocks`); "last_token" reads that last position, which is
    where a long-range task puts its question. A recurrent model's output at
    its last token is its final state: "last_token" is "last" for it.
    """
    if config.pooling == "last" and config.cell_type not in RECURRENT_LAYERS:
        return "mean"
    if config.pooling == "last_token" and config.cell_type in RECURRENT_LAYERS:
        return "last"
    return config.pooling


def _body(config: ModelConfig, x, mask, sequence_length: int | None):
    """The layers that read the time axis (`_SEQUENCE_LAYERS`), the pooling and the output dropout.

    Args:
        x: <float>[batch, time, features] Keras tensor.
        mask: <bool>[batch, time] Keras tensor given to every layer that
            reads the time axis, or None (every step is real).
        sequence_length: as in `build_classifier`.
    """
    over_time = {} if mask is None else {"mask": mask}
    x = _SEQUENCE_LAYERS[config.cell_type](config, x, over_time, sequence_length)
    pooling = read_out(config)
    if pooling == "max_mean":
        pooled = [_POOLING_LAYERS[kind](name=f"{kind}_pooling")(x, **over_time) for kind in ("max", "mean")]
        x = keras.layers.Concatenate(name="max_mean_pooling")(pooled)
    elif pooling != "last":
        x = _POOLING_LAYERS[pooling](name=f"{pooling}_pooling")(x, **over_time)
    return keras.layers.Dropout(config.dropout_rate, name="output_dropout")(x)


def _recurrent_stack(config: ModelConfig, x, over_time: dict, sequence_length: int | None):
    """`config.num_layers` recurrent layers; the last returns its final state for "last" pooling, else every state."""
    for index in range(config.num_layers):
        is_last = index == config.num_layers - 1
        return_sequences = not (is_last and read_out(config) == "last")
        if config.bidirectional:
            layer = keras.layers.Bidirectional(
                _recurrent_layer(config, return_sequences, f"{config.cell_type}_{index}"), name=f"bidirectional_{index}"
            )
        else:
            layer = _recurrent_layer(config, return_sequences, f"{config.cell_type}_{index}")
        x = layer(x, **over_time)
    return x


def _attention_blocks(config: ModelConfig, x, over_time: dict, sequence_length: int | None):
    """A small Transformer encoder: the words projected to `units`, learned positions, `num_layers` blocks.

    Every block attends over the real words only: the padding mask hides
    the padded ones as keys (`sentiment.cells.TransformerBlock`).

    Read out by masked mean pooling (`read_out`), not a class token. A class
    token (BERT's [CLS]) would be one more id in the shared `TextEncoder`,
    one more position, and a read-out the recurrent models do not have;
    pooling the outputs over the real words keeps the head identical to the
    recurrent models' pooled read-out (`--pooling mean`, `max`, `max_mean`),
    so the comparison changes the layers that read the time axis and nothing
    else, and right padding cannot change a review's probability.

    Returns:
        <float>[batch, time, units] Keras tensor: every position's output.

    Raises:
        ValueError: `sequence_length` is None (the positions need it).
    """
    if sequence_length is None:
        raise ValueError(
            "a transformer learns one position per token: give the builder sequence_length "
            "(DataConfig.sequence_length, the most tokens a review has)"
        )
    heads = max(1, config.units // ATTENTION_HEAD_SIZE)
    x = keras.layers.Dense(config.units, name="projection")(x)  # the role of a recurrent layer's input kernel
    x = cells.PositionEmbedding(sequence_length, name="positions")(x, **over_time)
    for index in range(config.num_layers):
        block = cells.TransformerBlock(
            heads,
            FEED_FORWARD_FACTOR * config.units,
            dropout_rate=min(config.dropout_rate, BLOCK_DROPOUT_RATE),
            key_dim=config.units // heads,
            name=f"transformer_{index}",
        )
        x = block(x, **over_time)
    return x


# What reads the time axis, per cell type: a new type is one entry here (and one in config.AFTER_THE_LSTM).
_SEQUENCE_LAYERS = {
    **{cell_type: _recurrent_stack for cell_type in RECURRENT_LAYERS},
    "transformer": _attention_blocks,
}


def _recurrent_layer(config: ModelConfig, return_sequences: bool, name: str) -> keras.layers.Layer:
    if config.irnn:
        # Le, Jaitly & Hinton (2015): ReLU, identity recurrence, zero bias, input weights N(0, 0.001).
        return keras.layers.SimpleRNN(
            config.units,
            activation="relu",
            recurrent_initializer="identity",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
            return_sequences=return_sequences,
            name=name,
        )
    layer_class = RECURRENT_LAYERS[config.cell_type]
    options = {"solver": config.solver} if layer_class in PARALLEL_RECURRENCES else {}  # Keras's layers have none
    return layer_class(config.units, return_sequences=return_sequences, name=name, **options)


def _finish(model: keras.Model, config: ModelConfig) -> keras.Model:
    if config.chrono_max_steps is not None:
        chrono_initialize(model, config.chrono_max_steps)
    return model


# --- The parts of a built model ------------------------------------------------


def encoder(model: keras.Model) -> keras.Model:
    """The classifier's encoder: token ids -> (embedded words, mask) (`build_encoder`).

    Raises:
        ValueError: the model is not a classifier from `build_classifier`.
    """
    return _part(model, "encoder")


def head(model: keras.Model) -> keras.Model:
    """The classifier's head: (embedded words, mask) -> logits (`build_head`).

    `output_layer(model)(head(model)([embedded, mask]))` is what the
    classifier computes from its embedded words.

    Raises:
        ValueError: the model is not a classifier from `build_classifier`.
    """
    return _part(model, "head")


def output_layer(model: keras.Model) -> keras.layers.Activation:
    """The classifier's last layer: the Activation mapping logits to P(positive) (sigmoid) or probabilities (softmax).

    Raises:
        ValueError: the model is not a classifier from `build_classifier`.
    """
    head(model)  # the same check and message
    return model.layers[-1]


def embedding(model: keras.Model) -> keras.layers.Embedding:
    """The classifier's Embedding layer (its table: `.embeddings`)."""
    return encoder(model).get_layer("embedding")


def _part(model: keras.Model, name: str) -> keras.Model:
    part = next((layer for layer in model.layers if layer.name == name), None)
    if not isinstance(part, keras.Model):
        raise ValueError(
            f"{model.name} has no {name}: it is not a classifier from build_classifier "
            "(token ids -> encoder -> head -> output activation)"
        )
    return part


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of the model, those of its sub-models (the encoder and head) included, in order.

    The sub-models themselves are left out: only the layers that compute.
    """
    found = []
    for layer in model.layers:
        found.extend(all_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return found


def recurrent_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's recurrent layers, in order, unwrapped from `Bidirectional` (forward, then backward).

    Keras's RNN layers (SimpleRNN, LSTM, GRU) and minGRU and minLSTM
    (`PARALLEL_RECURRENCES`, which have no `cell`); a transformer has none.
    """
    found = []
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Bidirectional):
            found.extend([layer.forward_layer, layer.backward_layer])
        elif isinstance(layer, RECURRENT_CLASSES):
            found.append(layer)
    return found


def chrono_initialize(model: keras.Model, max_steps: int) -> None:
    """Sets the gate biases of the model's LSTM/GRU/minGRU/minLSTM layers by chrono initialization.

    A gate's bias b makes it start at sigmoid(b): the LSTM forget gate starts
    near 0.73 with Keras's bias of 1, so a state decays by about e after
    3 steps, and a bias of log(u) makes it last about u steps. Drawing u
    from Uniform(1, max_steps - 1) per unit spreads the memory spans up to
    `max_steps` (Tallec & Ollivier, ICLR 2018). The values are drawn with
    Keras's seeded generator, so `keras.utils.set_random_seed` fixes them.

    LSTM bias layout [input, forget, cell, output]: forget = log(u),
    input = -log(u). GRU (Keras: h = z * h_previous + (1 - z) * candidate)
    layout [update z, reset, candidate], input bias row when
    `reset_after=True`: z = log(u), so the state is kept. minGRU and minLSTM
    set theirs (`sentiment.cells.MinGRU.chrono_initialize`).
    """
    for layer in recurrent_layers(model):
        if isinstance(layer, PARALLEL_RECURRENCES):
            layer.chrono_initialize(max_steps)
            continue
        if not isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
            continue
        units = layer.cell.units
        keep = keras.ops.convert_to_numpy(keras.ops.log(keras.random.uniform((units,), 1.0, float(max_steps - 1))))
        bias = keras.ops.convert_to_numpy(layer.cell.bias).copy()
        if isinstance(layer, keras.layers.LSTM):
            bias[units : 2 * units] = keep
            bias[:units] = -keep
        else:
            input_bias = bias[0] if bias.ndim == 2 else bias
            input_bias[:units] = keep
            if bias.ndim == 2:
                bias[1, :units] = 0.0
        layer.cell.bias.assign(bias.astype(np.float32))


def with_kernel_choice(model: keras.Model, use_cudnn: bool | str) -> keras.Model:
    """A copy of `model`, same weights, whose LSTM/GRU layers use `use_cudnn`.

    `use_cudnn` is not part of the layers' saved config, so it is set on the
    rebuilt layers; LSTM and GRU read it each time they are traced or called.
    `False` forces the generic kernels (the export does this, so a model
    trained on a GPU runs on a CPU server); `True` makes Keras raise where
    cuDNN cannot run rather than fall back silently.
    """
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    for layer in recurrent_layers(clone):
        if hasattr(layer, "use_cudnn"):
            layer.use_cudnn = use_cudnn
    return clone


def without_mask(model: keras.Model) -> keras.Model:
    """A copy of `model`, same weights, that masks nothing: no layer is handed a mask.

    For ids without padding the output is identical. The torch backend's
    fused and cuDNN paths refuse any mask, so this is what the bench times
    them on. The head still takes the encoder's mask as an input, unread.
    """
    config = model.get_config()
    _strip_masks(config)
    clone = keras.Model.from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def _strip_masks(model_config: dict) -> None:
    for layer in model_config["layers"]:
        for node in layer["inbound_nodes"]:
            node["kwargs"].pop("mask", None)
        if "layers" in layer["config"]:  # a sub-model: the encoder or the head
            _strip_masks(layer["config"])
