"""The next chapter's layers: parallel gated recurrences (minGRU, minLSTM) and a small Transformer encoder.

Gates answer the plain RNN's vanishing memory, not its third limit: a
recurrent layer has T sequential steps on its critical path, because every
gate reads the previous state. Two designs remove that dependency.

Parallel gated RNNs (Feng et al. 2024, "Were RNNs All We Needed?",
arXiv:2410.01201) compute their gates from the input alone, so each step is

    h_t = a_t * h_{t-1} + b_t,    h_0 = 0,

with a_t (the keep factor) and b_t (what is written) functions of x_t only,
computed for every step in one batched matmul. Such a linear recurrence is a
prefix computation under the associative operation

    (a1, b1) o (a2, b2) = (a1 * a2, a2 * b1 + b2)    (`combine`),

so it can be solved in ceil(log2 T) parallel levels instead of T steps.
`MinGRU` and `MinLSTM` differ only in their coefficients; both run either
solver (`solver="loop"` or `"scan"`), which compute the same states.

Attention (Vaswani et al. 2017) has no recurrence at all: `PositionEmbedding`
and `TransformerBlock` are a small encoder whose every position is computed
at once; `keras.layers.GlobalAveragePooling1D`, which honours the mask, reads
it out (see `TransformerBlock`).

Every layer takes the padding mask (True at the real words, right padding)
explicitly or from Keras, and gives the same answer for a review whatever the
other reviews in its batch are. The layers are registered serializable, so a
model with them saves as .keras and loads with `safe_mode=True`.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from sentiment.config import SOLVERS

# --- The linear recurrence and its two solvers --------------------------------


def combine(earlier, later):
    """Composes two steps (or runs of steps) of h -> a * h + b: first `earlier`, then `later`.

    (a1, b1) then (a2, b2) maps h to a2 * (a1 * h + b1) + b2, so the pair is
    (a1 * a2, a2 * b1 + b2). Function composition is associative, which is
    what lets a scan group the steps in any order.

    Args:
        earlier: (a1, b1), tensors of one shape.
        later: (a2, b2), the same shape.

    Returns:
        (a, b): the composed step.
    """
    keep_earlier, write_earlier = earlier
    keep_later, write_later = later
    return keep_earlier * keep_later, keep_later * write_earlier + write_later


def linear_recurrence(keep, write, solver: str = "scan"):
    """Every state of h_t = keep_t * h_{t-1} + write_t from h_0 = 0.

    Args:
        keep: <float>[batch, time, units] a_t.
        write: <float>[batch, time, units] b_t.
        solver: "loop" (T sequential steps) or "scan" (ceil(log2 T) levels).

    Returns:
        <float>[batch, time, units] h_1 ... h_T.
    """
    if solver == "loop":
        return _loop(keep, write)
    if solver == "scan":
        return _parallel_scan(keep, write)
    raise ValueError(f"unknown solver {solver!r}; choose from {', '.join(SOLVERS)}")


def _loop(keep, write):
    """T steps, each waiting for the one before: a recurrent layer's critical path."""

    def step(state, coefficients):
        state = coefficients[..., 0] * state + coefficients[..., 1]
        return state, state

    # One tensor <float>[time, batch, units, 2], not a pair: Keras 3.15's
    # TensorFlow scan fails on two inputs whose length is unknown when traced.
    time_major = keras.ops.moveaxis(keras.ops.stack([keep, write], axis=-1), 1, 0)
    _, states = keras.ops.scan(step, keras.ops.zeros_like(time_major[0, ..., 0]), time_major)
    return keras.ops.moveaxis(states, 0, 1)


def _parallel_scan(keep, write):
    """All prefixes of `combine` in ceil(log2 T) levels (Hillis & Steele 1986).

    After the level with offset d, position t holds the composition of steps
    max(t - 2d + 1, 0) .. t; each level combines every position with the one
    d steps before it (the identity (1, 0) before the first step), all at
    once, and doubles d. The work is O(T log T) against the loop's O(T), but
    the critical path is ceil(log2 T) levels against T steps.

    Why not `keras.ops.associative_scan` (Blelloch's O(T) work, the same
    combine): on a time axis of unknown length, which every Functional model
    here has, its TensorFlow implementation refuses a pair (a, b) when
    traced, and for one stacked tensor traces a 48-level nested fallback,
    about 23 s for one forward function on a two-core CPU (Keras 3.15,
    TensorFlow 2.21), where this while loop traces in 0.4 s. The tests check
    the two give the same states.
    """
    steps = keras.ops.shape(keep)[1]
    positions = keras.ops.arange(steps)

    def level(offset, keep, write):
        earlier = keras.ops.maximum(positions - offset, 0)
        exists = keras.ops.reshape(positions >= offset, (1, -1, 1))
        keep_earlier = keras.ops.where(exists, keras.ops.take(keep, earlier, axis=1), 1.0)
        write_earlier = keras.ops.where(exists, keras.ops.take(write, earlier, axis=1), 0.0)
        keep, write = combine((keep_earlier, write_earlier), (keep, write))
        return offset * 2, keep, write

    _, _, states = keras.ops.while_loop(
        lambda offset, keep, write: offset < steps, level, (keras.ops.convert_to_tensor(1), keep, write)
    )
    return states


# --- minGRU and minLSTM --------------------------------------------------------


class _GatedLinearRecurrence(keras.layers.Layer):
    """What minGRU and minLSTM share: one matmul for every gate and step, a solver, the mask, the read-out.

    Subclasses name their weight blocks (`GATES`) and turn the matmul's
    output into the keep factor a_t and the write b_t (`_keep_and_write`).
    """

    GATES: tuple[str, ...] = ()
    # Gate name -> sign of log(u) in its bias under chrono initialization.
    _CHRONO_SIGNS: dict[str, float] = {}

    def __init__(
        self,
        units: int,
        solver: str = "scan",
        return_sequences: bool = False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose from {', '.join(SOLVERS)}")
        self.units = int(units)
        self.solver = solver
        self.return_sequences = bool(return_sequences)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        # One kernel, gate blocks side by side ([features, gates * units]):
        # one matmul computes every gate at every step.
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], len(self.GATES) * self.units), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(
            name="bias", shape=(len(self.GATES) * self.units,), initializer=self.bias_initializer
        )

    def coefficients(self, inputs, mask=None):
        """(a_t, b_t) for every step: h_t = a_t * h_{t-1} + b_t.

        Args:
            inputs: <float>[batch, time, features].
            mask: <bool>[batch, time], True at the real steps, or None.

        Returns:
            (keep, write), each <float>[batch, time, units]. At a padded step
            keep = 1 and write = 0, so the state passes through unchanged and
            the state at the last step is the state after the last real one.
        """
        gates = keras.ops.matmul(inputs, self.kernel) + self.bias
        keep, write = self._keep_and_write(*keras.ops.split(gates, len(self.GATES), axis=-1))
        if mask is not None:
            real = keras.ops.expand_dims(keras.ops.cast(mask, "bool"), -1)
            keep = keras.ops.where(real, keep, 1.0)
            write = keras.ops.where(real, write, 0.0)
        return keep, write

    def keep_factors(self, inputs, mask=None):
        """<float>[batch, time, units] a_t, the per-step factor on the previous state.

        d h_T / d h_t is diagonal, the product of a_k for k in (t, T]; see
        `state_jacobian_log10_norms`.
        """
        return self.coefficients(inputs, mask)[0]

    def call(self, inputs, mask=None):
        states = linear_recurrence(*self.coefficients(inputs, mask), solver=self.solver)
        return states if self.return_sequences else states[:, -1]

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def chrono_initialize(self, max_steps: int) -> None:
        """Sets the gate biases so the units start with memory spans spread up to `max_steps`.

        Chrono initialization (Tallec & Ollivier, ICLR 2018), as
        `sentiment.models.chrono_initialize` does for LSTM and GRU: u ~
        Uniform(1, max_steps - 1) per unit, and biases of +-log(u) make the
        keep factor start (at zero input) at u / (1 + u) = 1 - 1 / (1 + u),
        a state that lasts about 1 + u steps. Drawn with Keras's seeded
        generator, so `keras.utils.set_random_seed` fixes them. The
        candidate's bias is left as it is.

        Raises:
            ValueError: max_steps is below 3, or the layer is not built.
        """
        if int(max_steps) < 3:
            raise ValueError(f"max_steps must be at least 3, got {max_steps!r}")
        if not self.built:
            raise ValueError(f"{self.name} is not built: call it on inputs before chrono initialization")
        span = keras.random.uniform((self.units,), 1.0, float(max_steps - 1))
        log_span = keras.ops.convert_to_numpy(keras.ops.log(span)).astype(np.float32)
        bias = keras.ops.convert_to_numpy(self.bias).copy()
        for gate, sign in self._CHRONO_SIGNS.items():
            index = self.GATES.index(gate)
            bias[index * self.units : (index + 1) * self.units] = sign * log_span
        self.bias.assign(bias)

    def _keep_and_write(self, *gate_blocks):
        raise NotImplementedError

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "solver": self.solver,
            "return_sequences": self.return_sequences,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="sentiment")
class MinGRU(_GatedLinearRecurrence):
    """minGRU (Feng et al. 2024): a GRU whose gate reads only the input.

        z_t  = sigmoid(W_z x_t + b_z)         update gate
        h~_t = W_h x_t + b_h                  candidate, no activation
        h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t,   h_0 = 0

    so a_t = 1 - z_t and b_t = z_t * h~_t. The GRU's reset gate and the tanh
    go: with no h_{t-1} inside the candidate there is nothing to reset.
    h_t is a convex combination of h_{t-1} and h~_t, so |h_t| never exceeds
    the largest |h~| seen: no tanh is needed to keep it bounded.

    The plain form, not the paper's log-space one. The log-space form
    computes the scan as h_t = A_t * sum_k b_k / A_k, with A_t the running
    product of a, in logarithms so that dividing by a vanishing A_k does not
    overflow; logarithms need b_k > 0, so it passes the candidate through
    g(x) = x + 0.5 for x >= 0, sigmoid(x) otherwise, which changes the
    model. The associative scan here multiplies and adds, never divides: a
    product of keep factors that underflows to 0 is a past forgotten to
    float precision anyway. So both solvers compute the paper's equations
    above, with no g().

    Sequential steps on the critical path: T for `solver="loop"`,
    ceil(log2 T) for `solver="scan"` (plus the one matmul for all gates).
    The weights: `kernel` <float>[features, 2 * units] ([z | h~] blocks) and
    `bias` <float>[2 * units]: 2 * units * (features + 1) parameters, a GRU's
    without its recurrent kernel and third block.

    Args:
        units: size of the state.
        solver: "scan" (parallel, the default) or "loop" (sequential); the
            states are the same.
        return_sequences: True: <float>[batch, time, units], every state
            (the mask is passed on); False: <float>[batch, units], the state
            after the last real step.

    Input: <float>[batch, time, features], and optionally a <bool>[batch,
    time] mask, True at the real steps (right padding).
    """

    GATES = ("update", "candidate")
    # Keep factor 1 - z = sigmoid(-b_z): b_z = -log(u) makes it u / (1 + u).
    _CHRONO_SIGNS = {"update": -1.0}

    def _keep_and_write(self, update_logits, candidate):
        update = keras.ops.sigmoid(update_logits)
        # 1 - sigmoid(x) = sigmoid(-x), without the rounding of 1 - (nearly 1).
        return keras.ops.sigmoid(-update_logits), update * candidate


@keras.saving.register_keras_serializable(package="sentiment")
class MinLSTM(_GatedLinearRecurrence):
    """minLSTM (Feng et al. 2024): an LSTM whose gates read only the input, scaled to sum to 1.

        f_t  = sigmoid(W_f x_t + b_f),  i_t = sigmoid(W_i x_t + b_i)
        f'_t = f_t / (f_t + i_t),       i'_t = i_t / (f_t + i_t)
        h~_t = W_h x_t + b_h
        h_t  = f'_t * h_{t-1} + i'_t * h~_t,   h_0 = 0

    so a_t = f'_t and b_t = i'_t * h~_t. The output gate and the cell/hidden
    split go; normalising f and i to sum to 1 keeps the state's scale
    independent of the sequence length (the paper's reason), and makes h_t a
    convex combination like minGRU's.

    The plain form, not log-space, for the reasons in `MinGRU`; the same
    solvers, critical paths, arguments and input. Weights: `kernel`
    <float>[features, 3 * units] ([f | i | h~] blocks), `bias` <float>[3 * units].
    """

    GATES = ("forget", "input", "candidate")
    # f = sigmoid(log u) = u / (1 + u), i = 1 / (1 + u): f + i = 1, so f' = f.
    _CHRONO_SIGNS = {"forget": 1.0, "input": -1.0}

    def _keep_and_write(self, forget_logits, input_logits, candidate):
        forget = keras.ops.sigmoid(forget_logits)
        input_gate = keras.ops.sigmoid(input_logits)
        total = forget + input_gate  # above 0: both are sigmoids
        return forget / total, input_gate / total * candidate


def state_jacobian_log10_norms(keep, mask=None) -> np.ndarray:
    """log10 || d h_T / d h_t ||_F against the distance d from the final state, for every sequence.

    For minGRU and minLSTM, h_T depends on h_t only through the keep
    factors: d h_T / d h_t = diag(prod of a_k for k in (t, T]), so the norm
    is exact and needs no backward pass. It is summed in logarithms, so a
    product far below float32's range still has its logarithm. The
    Frobenius norm, as `sentiment.analysis.jacobians` uses: at distance 0
    (the identity) it is sqrt(units).

    Args:
        keep: <float>[batch, time, units] from the layer's `keep_factors`.
        mask: <bool>[batch, time], True at the real steps (right padding), or
            None (every step is real). T is then each sequence's last real step.

    Returns:
        <float64>[batch, time]: column d is d steps before the sequence's
        final state (0: the state itself); NaN beyond a sequence's length.
    """
    log_keep = np.log(np.asarray(keras.ops.convert_to_numpy(keep), np.float64))
    batch, steps, _ = log_keep.shape
    real = np.ones((batch, steps), bool) if mask is None else np.asarray(keras.ops.convert_to_numpy(mask), bool)
    log_keep = np.where(real[..., None], log_keep, 0.0)
    # after[:, t] = sum of log a_k for k > t: log of the diagonal of d h_last / d h_t.
    after = np.cumsum(log_keep[:, ::-1], axis=1)[:, ::-1] - log_keep
    doubled = 2.0 * after
    peak = doubled.max(axis=-1, keepdims=True)
    log_norms = (peak[..., 0] + np.log(np.exp(doubled - peak).sum(axis=-1))) / (2.0 * math.log(10.0))
    lengths = real.sum(axis=1)
    result = np.full((batch, steps), np.nan)
    for row, length in enumerate(lengths):
        # Steps after the last real one keep 1 and write 0: d h_last / d h_t
        # for t <= length - 1 is the same whether read at the padding's end or not.
        result[row, :length] = log_norms[row, :length][::-1]
    return result


# --- A small Transformer encoder ----------------------------------------------


@keras.saving.register_keras_serializable(package="sentiment")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per position, for positions 0 .. max_length - 1.

    Attention is blind to order: without positions, a review and its words
    shuffled give the same outputs. Learned positions, not sinusoids: they
    cost max_length * features weights and reviews here are truncated to a
    fixed `sequence_length` anyway (Vaswani et al. 2017 found the two
    equivalent; BERT learns them).

    Args:
        max_length: the longest sequence the layer accepts.
        initializer: for the position table.

    Input: <float>[batch, time, features] (embedded words), time <= max_length.
    Output: the same shape, words plus positions; the mask passes through.

    Raises:
        ValueError (InvalidArgumentError in a TensorFlow graph, where the
        length is known only when it runs): time exceeds max_length.
    """

    def __init__(self, max_length: int, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(max_length) < 1:
            raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
        self.max_length = int(max_length)
        self.initializer = keras.initializers.get(initializer)
        self.supports_masking = True

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions", shape=(self.max_length, input_shape[-1]), initializer=self.initializer
        )

    def call(self, inputs, mask=None):
        steps = keras.ops.shape(inputs)[1]
        message = f"{self.name}: sequences are longer than max_length={self.max_length}, the positions it learned"
        if isinstance(steps, int):
            if steps > self.max_length:
                raise ValueError(f"{message} (got {steps})")
        elif keras.backend.backend() == "tensorflow":  # a graph: the length is known only when it runs
            import tensorflow as tf

            # The slice below waits for the check: without the dependency TensorFlow may run the slice
            # first, and it fails with its own message, which names no cause.
            check = tf.debugging.assert_less_equal(steps, self.max_length, message=message)
            with tf.control_dependencies([check]):
                steps = tf.identity(steps)
        positions = keras.ops.slice(self.positions, (0, 0), (steps, keras.ops.shape(self.positions)[1]))
        return inputs + keras.ops.cast(positions, inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "max_length": self.max_length,
            "initializer": keras.initializers.serialize(self.initializer),
        }


@keras.saving.register_keras_serializable(package="sentiment")
class TransformerBlock(keras.layers.Layer):
    """One encoder block (Vaswani et al. 2017): self-attention, then a position-wise feed-forward network.

        x = LayerNorm(x + Dropout(MultiHeadAttention(x, x, padding mask)))
        x = LayerNorm(x + Dropout(Dense(features)(Dense(feed_forward_dim, relu)(x))))

    Post-norm, as the paper and keras-io's text-classification Transformer
    have it. Every position is computed at once: one block is O(1)
    sequential steps whatever T (the work grows as T^2, in parallel). The
    padding mask hides the padded words as keys, so no real position reads
    them; padded positions still get outputs, which the mask (passed on)
    marks for the layers after.

    Read it out by masked mean pooling, `keras.layers.GlobalAveragePooling1D`
    called with the mask (it honours it; `sentiment.models` uses it for
    `--pooling mean`). A class token (BERT's [CLS]) would be one more id for
    the shared `TextEncoder` and one more thing to train; mean and max
    pooling over the outputs are the read-outs the cells already have, so
    the comparison changes one layer, not the head. "last" has no meaning
    here: no position accumulates the others in order.

    Args:
        num_heads: attention heads.
        feed_forward_dim: width of the feed-forward network's hidden layer.
        dropout_rate: on the attention weights and on each sublayer's output
            before the residual sum, in training only.
        key_dim: size of each head's queries and keys; None: features // num_heads.

    Input: <float>[batch, time, features], and optionally a <bool>[batch,
    time] mask, True at the real words (never all False in a row).
    Output: <float>[batch, time, features]; the mask passes through.
    """

    def __init__(
        self,
        num_heads: int,
        feed_forward_dim: int,
        dropout_rate: float = 0.0,
        key_dim: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_heads) < 1 or int(feed_forward_dim) < 1:
            raise ValueError(
                f"num_heads and feed_forward_dim must be positive integers, got {num_heads!r} and {feed_forward_dim!r}"
            )
        if not 0.0 <= float(dropout_rate) < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}")
        self.num_heads = int(num_heads)
        self.feed_forward_dim = int(feed_forward_dim)
        self.dropout_rate = float(dropout_rate)
        self.key_dim = None if key_dim is None else int(key_dim)
        self.supports_masking = True

    def build(self, input_shape):
        features = int(input_shape[-1])
        key_dim = self.key_dim or max(features // self.num_heads, 1)
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads, key_dim, dropout=self.dropout_rate, name="attention"
        )
        self.attention.build(input_shape, input_shape)
        self.attention_dropout = keras.layers.Dropout(self.dropout_rate, name="attention_output_dropout")
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="attention_norm")
        self.attention_norm.build(input_shape)
        self.feed_forward_hidden = keras.layers.Dense(
            self.feed_forward_dim, activation="relu", name="feed_forward_hidden"
        )
        self.feed_forward_hidden.build(input_shape)
        self.feed_forward_output = keras.layers.Dense(features, name="feed_forward_output")
        self.feed_forward_output.build((*input_shape[:-1], self.feed_forward_dim))
        self.feed_forward_dropout = keras.layers.Dropout(self.dropout_rate, name="feed_forward_dropout")
        self.feed_forward_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="feed_forward_norm")
        self.feed_forward_norm.build(input_shape)

    def call(self, inputs, mask=None, training=None):
        # The mask on the keys (values): every query may read every real word, none of the padded ones.
        attended = self.attention(inputs, inputs, value_mask=mask, training=training)
        x = self.attention_norm(inputs + self.attention_dropout(attended, training=training))
        transformed = self.feed_forward_output(self.feed_forward_hidden(x))
        return self.feed_forward_norm(x + self.feed_forward_dropout(transformed, training=training))

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "feed_forward_dim": self.feed_forward_dim,
            "dropout_rate": self.dropout_rate,
            "key_dim": self.key_dim,
        }
