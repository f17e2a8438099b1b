"""One classifier builder for the three recurrent cell types.

SimpleRNN, LSTM and GRU share every line but the recurrent layer's class, so
the comparison is fair by construction. The defaults keep LSTM and GRU
eligible for the cuDNN kernels on a GPU: tanh/sigmoid activations, no
recurrent dropout, no unrolling, biases on, GRU `reset_after=True`, and
right-padded masks from the embedding's `mask_zero`.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from sentiment.config import ModelConfig

RECURRENT_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}


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


_POOLING_LAYERS = {
    "mean": keras.layers.GlobalAveragePooling1D,
    "max": MaskedGlobalMaxPooling1D,
}


def build_classifier(
    config: ModelConfig, vocabulary_size: int, num_classes: int = 2, embedding_weights: np.ndarray | None = None
) -> keras.Model:
    """Builds an uncompiled text classifier: binary sentiment, or n classes.

    Args:
        config: the architecture; `config.cell_type` picks the recurrent layer.
        vocabulary_size: number of token ids, padding (0) and [UNK] (1) included.
        num_classes: 2 for a sigmoid head, more for a softmax head.
        embedding_weights: <float>[vocabulary_size, embedding_dim] starting
            word vectors (pretrained); None starts at random.

    Returns:
        A Functional model mapping <int>[batch, time] token ids (0 = padding)
        to <float32>[batch, 1] P(positive) for two classes, or
        <float32>[batch, num_classes] class probabilities.
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    # mask_zero=True: padding is skipped, so with "last" pooling the head
    # reads the state after the review's last real token.
    embedding = keras.layers.Embedding(vocabulary_size, config.embedding_dim, mask_zero=True, name="embedding")
    x = embedding(token_ids)
    if embedding_weights is not None:  # set, not an initializer: a Constant would store the table in the model's config
        embedding.set_weights([np.asarray(embedding_weights, np.float32)])
    output = _classifier_head(config, num_classes, x, _Layers())
    return _finish(keras.Model(token_ids, output, name=f"{config.cell_type}_classifier"), config)


def classify_embedded(model: keras.Model, config: ModelConfig, embedded, mask, training: bool, logits: bool = False):
    """What a `build_classifier` model computes from its embedded words on, on tensors.

    Adversarial training (`sentiment.training.loop`) needs the words after
    the embedding, to perturb them, and the gradient by word
    (`sentiment.analysis.gradients`) differentiates with respect to them:
    this replays the model's own layers (the same code that built them)
    from there. `classify_embedded(model, config, embedding(ids), ids != 0,
    training)` equals `model(ids, training)`.

    Args:
        model: a model from `build_classifier` with this `config` (only its
            layers' arrangement is read: `replay_config(model)` gives one).
        embedded: <float32>[batch, time, embedding_dim] embedded words.
        mask: <bool>[batch, time] the real words (True), as the embedding's
            `mask_zero` makes it.
        training: dropout on (True) or off.
        logits: return the sigmoid head's logit instead of P(positive)
            (two classes only): 1 - P rounds to 0 long before the logit
            stops carrying the answer.
    """
    num_classes = _output_count(model)
    if logits and num_classes != 2:
        raise ValueError("logits are the sigmoid head's: a model with more than two classes has none")
    return _classifier_head(config, num_classes, embedded, _Layers(model, mask, training, logits))


def replay_config(model: keras.Model) -> ModelConfig:
    """The arrangement of a `build_classifier` model's layers, read from the model, as a ModelConfig.

    What `classify_embedded` needs to replay a model (its cell, layers,
    directions and pooling), for a model whose own config is not at hand.
    The sizes and dropout rates are the defaults: replaying reads the
    model's own layers, which have theirs.

    Raises:
        ValueError: the model is not one `build_classifier` makes.
    """
    names = {layer.name for layer in model.layers}
    recurrent = recurrent_layers(model)
    cells = {type(layer) for layer in recurrent}
    if "embedding" not in names or len(cells) != 1 or not ({"probability", "probabilities"} & names):
        raise ValueError(
            f"{model.name} is not a classifier from build_classifier "
            "(token ids -> embedding -> recurrent layers -> head)"
        )
    cell_type = next(name for name, layer_class in RECURRENT_LAYERS.items() if cells == {layer_class})
    bidirectional = any(isinstance(layer, keras.layers.Bidirectional) for layer in model.layers)
    pooling = (
        "max_mean"
        if "max_mean_pooling" in names
        else next((kind for kind in _POOLING_LAYERS if f"{kind}_pooling" in names), "last")
    )
    num_layers = len(recurrent) // (2 if bidirectional else 1)
    return ModelConfig(cell_type=cell_type, num_layers=num_layers, bidirectional=bidirectional, pooling=pooling)


def _output_count(model: keras.Model) -> int:
    units = model.output.shape[-1]
    return 2 if units == 1 else units


class _Layers:
    """Creates a classifier's layers (building it) or calls a built model's own layers again (replaying it).

    While building, Keras tensors carry the mask from layer to layer; when
    replaying on plain tensors, the mask is passed to the layers that read
    the time axis.
    """

    def __init__(self, model: keras.Model | None = None, mask=None, training: bool | None = None, logits: bool = False):
        self.model, self.mask, self.training, self.logits = model, mask, training, logits

    def __call__(self, make: Callable[[str], keras.layers.Layer], name: str, inputs, over_time: bool = False):
        if self.model is None:
            return make(name)(inputs)
        layer = self.model.get_layer(name)
        if self.logits and name == "probability":  # the sigmoid head, stopped before its sigmoid
            return keras.ops.matmul(inputs, layer.kernel) + layer.bias
        mask = {"mask": self.mask} if over_time else {}
        return layer(inputs, training=self.training, **mask)


def _classifier_head(config: ModelConfig, num_classes: int, x, layers: _Layers):
    """Word dropout, the recurrent body and the output layer, on embedded words."""
    # noise_shape (batch, time, 1): drop whole words, not single features.
    x = layers(
        lambda name: keras.layers.Dropout(config.word_dropout_rate, noise_shape=(None, None, 1), name=name),
        "word_dropout",
        x,
    )
    x = _recurrent_body(config, x, layers)
    if num_classes == 2:
        return layers(lambda name: keras.layers.Dense(1, activation="sigmoid", name=name), "probability", x)
    return layers(lambda name: keras.layers.Dense(num_classes, activation="softmax", name=name), "probabilities", x)


def build_regressor(config: ModelConfig, input_features: int) -> keras.Model:
    """Builds an uncompiled sequence regressor on real-valued inputs (the adding problem).

    Everything after the embedding is `build_classifier`'s: the same
    recurrent layers, pooling and dropout; the head is one linear unit.

    Args:
        config: the architecture (`embedding_dim` and `word_dropout_rate`
            are unused: there are no tokens).
        input_features: values per time step.

    Returns:
        A Functional model mapping <float32>[batch, time, input_features]
        to <float32>[batch, 1].
    """
    inputs = keras.Input(shape=(None, input_features), dtype="float32", name="inputs")
    output = keras.layers.Dense(1, name="value")(_recurrent_body(config, inputs, _Layers()))
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


def _recurrent_body(config: ModelConfig, x, layers: _Layers):
    """The recurrent layers, the pooling and the output dropout, on <float>[batch, time, features]."""
    for index in range(config.num_layers):
        is_last = index == config.num_layers - 1
        return_sequences = not (is_last and config.pooling == "last")
        if config.bidirectional:

            def make(name, return_sequences=return_sequences, index=index):
                return keras.layers.Bidirectional(
                    _recurrent_layer(config, return_sequences, f"{config.cell_type}_{index}"), name=name
                )

            x = layers(make, f"bidirectional_{index}", x, over_time=True)
        else:
            x = layers(
                lambda name, return_sequences=return_sequences: _recurrent_layer(config, return_sequences, name),
                f"{config.cell_type}_{index}",
                x,
                over_time=True,
            )
    if config.pooling == "max_mean":
        pooled = [
            layers(lambda name, kind=kind: _POOLING_LAYERS[kind](name=name), f"{kind}_pooling", x, over_time=True)
            for kind in ("max", "mean")
        ]
        x = layers(lambda name: keras.layers.Concatenate(name=name), "max_mean_pooling", pooled)
    elif config.pooling != "last":
        x = layers(
            lambda name: _POOLING_LAYERS[config.pooling](name=name), f"{config.pooling}_pooling", x, over_time=True
        )
    return layers(lambda name: keras.layers.Dropout(config.dropout_rate, name=name), "output_dropout", x)


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
    return RECURRENT_LAYERS[config.cell_type](config.units, return_sequences=return_sequences, name=name)


def _finish(model: keras.Model, config: ModelConfig) -> keras.Model:
    if config.chrono_max_steps is not None:
        chrono_initialize(model, config.chrono_max_steps)
    return model


def chrono_initialize(model: keras.Model, max_steps: int) -> None:
    """Sets the gate biases of the model's LSTM/GRU layers by chrono initialization.

    A gate's bias b makes it start at sigmoid(b): the LSTM forget gate starts
    near 0.73 with Keras's bias of 1, so a state decays by about e after
    3 steps, and a bias of log(u) makes it last about u steps. Drawing u
    from Uniform(1, max_steps - 1) per unit spreads the memory spans up to
    `max_steps` (Tallec & Ollivier, ICLR 2018). The values are drawn with
    Keras's seeded generator, so `keras.utils.set_random_seed` fixes them.

    LSTM bias layout [input, forget, cell, output]: forget = log(u),
    input = -log(u). GRU (Keras: h = z * h_previous + (1 - z) * candidate)
    layout [update z, reset, candidate], input bias row when
    `reset_after=True`: z = log(u), so the state is kept.
    """
    for layer in recurrent_layers(model):
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


def recurrent_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's recurrent layers, unwrapped from `Bidirectional`."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            found.extend([layer.forward_layer, layer.backward_layer])
        elif isinstance(layer, keras.layers.RNN):
            found.append(layer)
    return found


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
