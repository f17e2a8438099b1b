"""How fast the three models train and answer, against the machine's limits, and what came after them.

`python -m sentiment bench` runs `run_bench` and `write_results` (so does
the script `benchmarks/bench.py`, which only calls into this module).
`run_bench` measures, on whichever Keras backend is active:

- the training step of the project's own model (`build_classifier`, the
  default architecture) at fixed shapes, as reviews/s and tokens/s, and the
  FLOP/s of its recurrence against the machine's dense matmul rate;
- the same step in plain PyTorch (`nn.RNN`/`nn.LSTM`/`nn.GRU`, same shapes,
  same batch, same threads), reported as a ratio; skipped with a note where
  PyTorch is not installed;
- LSTM and GRU with the cuDNN kernels and without them (`use_cudnn=True` vs
  `False`, same weights), where the backend and device have them;
- inference latency for one review and for a batch, through the Keras model
  called directly (as `sentiment.serving.predict` does) and, on TensorFlow, through
  the exported SavedModel's `serving_default` (raw text in);
- the sequential cost: the training step and the forward pass against the
  sequence length T, for the cells, a Conv1D, and the models after the LSTM
  (minGRU and minLSTM on each solver, the Transformer), with the number of
  sequential steps on each one's critical path and where each curve crosses
  the GRU's (`crossings`).

Every time is a median (latency: p50 and p99) over repeated runs after
warm-up. The matmul rates are limits, so they are the best of many short
runs: on a shared machine other jobs only ever slow a run down. Token ids
come from NumPy, never tf.data, and TensorFlow is imported only by the
SavedModel part, so the bench runs with `KERAS_BACKEND=torch` on a
machine without TensorFlow.

The recurrence's FLOPs: a cell with g gate blocks (SimpleRNN 1, GRU 3,
LSTM 4) multiplies [batch, E + H] by [E + H, g H] at every step, 2 g (E + H) H
FLOPs per token forward; training costs about 3 times the forward pass
(backward computes gradients for both the inputs and the weights). The
embedding lookup, the elementwise gate math and the head are left out, so
the achieved FLOP/s is a lower bound on the work done.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
import numpy as np

from sentiment.config import BenchConfig, DataConfig, TrainConfig
from sentiment.io import files, provenance
from sentiment.models import ATTENTION_HEAD_SIZE, build_classifier, with_kernel_choice, without_mask
from sentiment.report import markdown_table, marked_name, model_name

# Gate blocks per cell: how many [E + H, H] matmuls one step does.
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
# Forward + backward: backward needs gradients for both inputs and weights.
TRAINING_FLOPS_FACTOR = 3
LATENCY_TARGET_MILLISECONDS = 30
_CUDNN_CELLS = ("lstm", "gru")  # Keras has no cuDNN SimpleRNN
# The learning-rate schedule's epoch length in the timed steps: the full
# preset's (22,500 training reviews in batches of 64); it only sets when the
# rate halves, never reached in a timing run.
TRAIN_STEPS_PER_EPOCH = 352


# ---------------------------------------------------------------- FLOPs and timing


def recurrence_flops_per_token(cell_type: str, embedding_dim: int, units: int) -> int:
    """Forward FLOPs of one recurrent step for one review: 2 g (E + H) H."""
    return 2 * GATES[cell_type] * (embedding_dim + units) * units


def training_flops_per_step(
    cell_type: str, embedding_dim: int, units: int, batch_size: int, sequence_length: int
) -> int:
    """FLOPs of the recurrence in one training step: 3 * 2 g (E + H) H * batch * steps."""
    tokens = batch_size * sequence_length
    return TRAINING_FLOPS_FACTOR * recurrence_flops_per_token(cell_type, embedding_dim, units) * tokens


def summarize(seconds: list[float]) -> dict[str, Any]:
    """Median, p50, p99 and min of timed runs, in seconds."""
    values = np.asarray(seconds, dtype=np.float64)
    return {
        "median": float(np.median(values)),
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "min": float(values.min()),
        "count": int(values.size),
    }


def time_calls(call: Callable[[], Any], warmup: int, repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls after `warmup` untimed ones.

    `call` must block until its work is done (return a NumPy value or a
    Python float), or the time of asynchronous GPU work is not counted.
    """
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds


def _torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def matmul_rate(rows: int, inner: int, columns: int, repeats: int, calls_per_repeat: int = 1) -> dict[str, Any]:
    """Measured float32 matmul rate for [rows, inner] @ [inner, columns].

    On the torch backend with torch on the device Keras uses (CUDA when there
    is one); otherwise NumPy's BLAS on the CPU. Small matmuls are timed in
    loops of `calls_per_repeat` so the timer's own cost does not count.

    Returns:
        {"shape", "library", "flops_per_second" (median),
        "best_flops_per_second", "seconds_per_call" (median), "repeats"}.
    """
    flops = 2 * rows * inner * columns
    rng = np.random.default_rng(0)
    left = rng.standard_normal((rows, inner), dtype=np.float32)
    right = rng.standard_normal((inner, columns), dtype=np.float32)
    if keras.backend.backend() == "torch":
        import torch

        device = _torch_device()
        left_t, right_t = torch.from_numpy(left).to(device), torch.from_numpy(right).to(device)
        library = f"torch {torch.__version__} ({device})"

        def call():
            for _ in range(calls_per_repeat):
                torch.matmul(left_t, right_t)
            if device == "cuda":
                torch.cuda.synchronize()
    else:
        library = f"numpy {np.__version__} BLAS (cpu)"

        def call():
            for _ in range(calls_per_repeat):
                np.matmul(left, right)

    seconds = np.asarray(time_calls(call, warmup=2, repeats=repeats)) / calls_per_repeat
    return {
        "shape": [rows, inner, columns],
        "library": library,
        "flops_per_second": flops / float(np.median(seconds)),
        "best_flops_per_second": flops / float(seconds.min()),  # the least disturbed run: the limit
        "seconds_per_call": float(np.median(seconds)),
        "repeats": repeats,
    }


# ---------------------------------------------------------------- training


def _random_batch(config: BenchConfig, batch_size: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """<int32>[batch, length] ids of real words (never 0 or [UNK]) and <float32>[batch] labels."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(2, config.vocabulary_size, size=(batch_size, length), dtype=np.int32)
    return token_ids, rng.integers(0, 2, size=batch_size).astype(np.float32)


def _compiled(model: keras.Model) -> keras.Model:
    """`sentiment.training.train`'s optimizer (Adam, per-epoch decay, per-variable clipnorm), and on torch its loss.

    On TensorFlow the step timed is `sentiment.training.loop.TrainingStep`,
    which brings its own loss; on the torch backend (no TensorFlow, no
    project training loop) Keras's `train_on_batch` with the same optimizer
    and binary cross-entropy stands in.
    """
    defaults = TrainConfig()
    if keras.backend.backend() == "tensorflow":
        from sentiment.training import loop

        loop.compile_for_training(model, defaults, steps_per_epoch=TRAIN_STEPS_PER_EPOCH)
        return model
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=defaults.learning_rate, clipnorm=defaults.clipnorm),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def keras_step_seconds(
    model: keras.Model, token_ids: np.ndarray, labels: np.ndarray, warmup: int, repeats: int
) -> list[float]:
    """Seconds per training step (forward, backward, clipped Adam update) of a `_compiled` model.

    On TensorFlow: the very step `python -m sentiment train` runs
    (`TrainingStep.on_iterator` under the default strategy, on a
    distributed iterator repeating this batch), read back to the host each
    time as the training loop does.
    """
    if keras.backend.backend() != "tensorflow":
        return time_calls(lambda: model.train_on_batch(token_ids, labels), warmup, repeats)
    import tensorflow as tf

    from sentiment.training import distribute, loop

    strategy = tf.distribute.get_strategy()
    step = loop.TrainingStep(model, strategy)
    batches = tf.data.Dataset.from_tensors((token_ids, labels)).repeat()
    iterator = iter(distribute.distribute_batches(strategy, batches))
    return time_calls(lambda: [float(total) for total in step.on_iterator(iterator)], warmup, repeats)


def torch_peer(config: BenchConfig, cell_type: str, token_ids: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """The same classifier and training step in plain PyTorch.

    Embedding(padding_idx=0) -> word dropout -> nn.RNN/LSTM/GRU(batch_first)
    -> final state -> dropout -> Linear(1) -> sigmoid, BCE, Adam with each
    gradient clipped to norm 1 (Keras's `clipnorm` clips per variable). The
    sequences are unpacked: every token is real, so this is the same function
    the masked Keras model computes.

    On a CPU it runs with as many threads as TensorFlow's default intra-op
    pool (every core), and again with one thread: at these small matmuls
    OpenMP's synchronization at every step can cost more than the second
    core gives, most of all on a shared machine.

    Returns:
        {"seconds": summary, "device", "threads"}, and on a CPU
        "one_thread_seconds": the same step on one thread.
    """
    import torch

    device = _torch_device()
    previous_threads = torch.get_num_threads()  # on the torch backend Keras shares this pool
    try:
        torch.set_num_threads(os.cpu_count() or 1)
        step = _torch_training_step(config, cell_type, token_ids, labels, device)
        result = {
            "seconds": summarize(time_calls(step, config.warmup, config.repeats)),
            "device": device,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        }
        if device == "cpu" and result["threads"] > 1:
            torch.set_num_threads(1)
            result["one_thread_seconds"] = summarize(time_calls(step, config.warmup, config.repeats))
    finally:
        torch.set_num_threads(previous_threads)
    return result


def _torch_training_step(
    config: BenchConfig, cell_type: str, token_ids: np.ndarray, labels: np.ndarray, device: str
) -> Callable[[], float]:
    """One plain-PyTorch training step of the peer classifier, as a closure."""
    import torch

    torch.manual_seed(config.seed)
    model_config = config.model_config(cell_type)
    recurrent_class = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell_type]

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(config.vocabulary_size, model_config.embedding_dim, padding_idx=0)
            self.recurrent = recurrent_class(model_config.embedding_dim, model_config.units, batch_first=True)
            self.output_dropout = torch.nn.Dropout(model_config.dropout_rate)
            self.head = torch.nn.Linear(model_config.units, 1)

        def forward(self, ids):
            x = self.embedding(ids)
            rate = model_config.word_dropout_rate
            if self.training and rate:
                keep = torch.rand(x.shape[0], x.shape[1], 1, device=x.device) >= rate
                x = x * keep / (1 - rate)
            _, state = self.recurrent(x)
            final = (state[0] if isinstance(state, tuple) else state)[-1]
            return torch.sigmoid(self.head(self.output_dropout(final))).squeeze(-1)

    classifier = Classifier().to(device).train()
    optimizer = torch.optim.Adam(classifier.parameters(), lr=TrainConfig().learning_rate)
    loss_function = torch.nn.BCELoss()
    ids = torch.from_numpy(token_ids.astype(np.int64)).to(device)
    targets = torch.from_numpy(labels).to(device)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(classifier(ids), targets)
        loss.backward()
        for parameter in classifier.parameters():
            torch.nn.utils.clip_grad_norm_([parameter], TrainConfig().clipnorm)
        optimizer.step()
        return loss.item()  # waits for the GPU

    return step


def _torch_available() -> tuple[bool, str]:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False, "PyTorch is not installed here: no peer (pip install torch to add it)"
    return True, ""


def _without_mask(model: keras.Model) -> keras.Model:
    """The same model and weights with no mask (`sentiment.models.without_mask`).

    For ids with no padding the output is identical. The torch backend's
    fused and cuDNN paths refuse any mask, so this is what they can run.
    """
    return without_mask(model)


def cudnn_comparison(
    model: keras.Model, token_ids: np.ndarray, labels: np.ndarray, config: BenchConfig
) -> dict[str, Any]:
    """Training step with `use_cudnn=True` vs `False`, same weights, no mask.

    Returns:
        {"cudnn_seconds", "generic_seconds"} summaries, or {"skipped": reason}
        where the backend or device has no cuDNN kernel for this layer.
    """
    unmasked = _without_mask(model)
    fast = _compiled(with_kernel_choice(unmasked, use_cudnn=True))
    generic = _compiled(with_kernel_choice(unmasked, use_cudnn=False))
    try:
        fast(token_ids, training=True)  # Keras refuses use_cudnn=True here when it cannot run
    except ValueError:  # Keras: "use_cudnn=True was specified, but cuDNN is not supported ..."
        return {
            "skipped": "Keras refused use_cudnn=True: no cuDNN kernel for this layer on the "
            f"{keras.backend.backend()} backend on this device"
        }
    result = {
        "cudnn_seconds": summarize(keras_step_seconds(fast, token_ids, labels, config.warmup, config.repeats)),
        "generic_seconds": summarize(keras_step_seconds(generic, token_ids, labels, config.warmup, config.repeats)),
    }
    if keras.backend.backend() == "torch" and _torch_device() != "cuda":
        result["note"] = (
            "no CUDA device: use_cudnn=True ran Keras's fused torch fallback (input projections precomputed), not cuDNN"
        )
    return result


def training_throughput(
    config: BenchConfig, cell_type: str, peak_flops_per_second: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """One cell's training step: Keras, the PyTorch peer, cuDNN vs generic.

    `peak_flops_per_second` is the machine's limit (the best dense matmul run)
    that the achieved FLOP/s and the step-sized matmul are compared with.
    """
    keras.utils.set_random_seed(config.seed)
    model = build_classifier(config.model_config(cell_type), config.vocabulary_size)
    token_ids, labels = _random_batch(config, config.batch_size, config.sequence_length, config.seed)
    compiled = _compiled(model)
    seconds = summarize(keras_step_seconds(compiled, token_ids, labels, config.warmup, config.repeats))
    flops = training_flops_per_step(
        cell_type, config.embedding_dim, config.units, config.batch_size, config.sequence_length
    )
    width = config.embedding_dim + config.units
    step_matmul = matmul_rate(
        config.batch_size, width, GATES[cell_type] * config.units, repeats=20, calls_per_repeat=100
    )
    result = {
        "keras_seconds": seconds,
        "reviews_per_second": config.batch_size / seconds["median"],
        "tokens_per_second": config.batch_size * config.sequence_length / seconds["median"],
        "recurrence_flops_per_step": flops,
        "achieved_flops_per_second": flops / seconds["median"],
        "fraction_of_matmul_peak": flops / seconds["median"] / peak_flops_per_second,
        "step_matmul": step_matmul,
        "step_matmul_fraction_of_peak": step_matmul["best_flops_per_second"] / peak_flops_per_second,
    }
    log(f"  {model_name(cell_type)}: Keras step {1000 * seconds['median']:.1f} ms")
    available, reason = _torch_available()
    if not config.peer:
        result["peer"] = {"skipped": "peer turned off (--no-peer)"}
    elif not available:
        result["peer"] = {"skipped": reason}
    else:
        result["peer"] = torch_peer(config, cell_type, token_ids, labels)
        result["peer"]["keras_over_torch"] = seconds["median"] / result["peer"]["seconds"]["median"]
        if "one_thread_seconds" in result["peer"]:
            result["peer"]["keras_over_torch_one_thread"] = (
                seconds["median"] / result["peer"]["one_thread_seconds"]["median"]
            )
        log(f"  {model_name(cell_type)}: PyTorch step {1000 * result['peer']['seconds']['median']:.1f} ms")
    if cell_type in _CUDNN_CELLS:
        result["cudnn"] = cudnn_comparison(model, token_ids, labels, config)
        cudnn = result["cudnn"]
        if "skipped" not in cudnn:
            cudnn["generic_over_cudnn"] = cudnn["generic_seconds"]["median"] / cudnn["cudnn_seconds"]["median"]
            if "seconds" in result["peer"]:
                cudnn["cudnn_over_torch"] = cudnn["cudnn_seconds"]["median"] / result["peer"]["seconds"]["median"]
    return result


# ---------------------------------------------------------------- sequential cost

# The parallel reference of the sequential-cost sweep, beside the three cells.
CONV1D = "conv1d"
# The curve every other is compared with: where it crosses the GRU's.
REFERENCE_CURVE = "gru"
# Float32 copies of the attention scores (batch x heads x T x T) a training step
# holds at once: scores, masked scores, weights, dropped weights and their gradients.
ATTENTION_COPIES = 8


def cost_models(config: BenchConfig) -> list[str]:
    """The sweep's models: the cells, the Conv1D, then those after the LSTM (`BenchConfig.cost_variants`)."""
    return [*config.cell_types, CONV1D, *config.cost_variants]


def sequential_steps(name: str, length: int) -> int:
    """Sequential steps on one forward pass's critical path at T tokens (the backward pass walks them again).

    A recurrent cell: T, one per token, each waiting for the state before
    it; minGRU and minLSTM on their loop too. On their parallel scan:
    ceil(log2 T) levels, each one batched operation over every position.
    The Conv1D and the Transformer: 1 layer, whatever T (their work grows
    with T, or T^2 for attention, but in parallel).
    """
    cell, _, solver = name.partition("+")
    if name == CONV1D or cell == "transformer":
        return 1
    if cell in ("mingru", "minlstm") and solver != "loop":
        return math.ceil(math.log2(length)) if length > 1 else 1
    return length


def attention_bytes(config: BenchConfig, name: str, length: int) -> int:
    """What a training step's attention scores hold at T (`ATTENTION_COPIES` float32 copies); 0 without attention."""
    if name.partition("+")[0] != "transformer":
        return 0
    heads = max(1, config.units // ATTENTION_HEAD_SIZE)
    return ATTENTION_COPIES * 4 * config.cost_batch_size * heads * length * length


def _cost_model(config: BenchConfig, name: str) -> keras.Model:
    """The sweep's model of `name`: the bench's architecture, its cell (and solver), or the Conv1D reference."""
    from dataclasses import replace

    from sentiment.models import build_convolutional_classifier

    if name == CONV1D:
        return build_convolutional_classifier(config.model_config(config.cell_types[0]), config.vocabulary_size)
    cell, _, solver = name.partition("+")
    model_config = config.model_config(cell)
    if solver:
        model_config = replace(model_config, solver=solver)
    # A transformer learns a position per token: as many as the longest T.
    return build_classifier(model_config, config.vocabulary_size, sequence_length=max(config.cost_lengths))


def sequential_cost(config: BenchConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """Training-step and inference time against sequence length, per model (`cost_models`).

    Every model has the same embedding, width and head; every token is real
    (no padding). A recurrent layer has one step per token on its critical
    path (the backward pass walks them again in reverse); minGRU's and
    minLSTM's scan has ceil(log2 T) levels; the convolution and the
    attention block compute every position at once, one layer deep whatever
    the length. A length at which a model's attention scores would need
    more than `config.cost_memory_gb` is skipped (None), never run.

    Returns:
        `lengths`, `batch_size`, `memory_gb`, and per model (`cost_models`
        order): `train_seconds` and `inference_seconds` (medians, one per
        length, None where skipped), `sequential_steps` (forward critical
        path, one per length) and `skipped` (the lengths skipped).
    """
    models: dict[str, Any] = {}
    for name in cost_models(config):
        keras.utils.set_random_seed(config.seed)
        model = _cost_model(config, name)
        compiled, forward = _compiled(model), _keras_forward(model)
        entry: dict[str, list] = {"train_seconds": [], "inference_seconds": [], "sequential_steps": [], "skipped": []}
        for length in config.cost_lengths:
            entry["sequential_steps"].append(sequential_steps(name, length))
            if attention_bytes(config, name, length) > config.cost_memory_gb * 2**30:
                entry["skipped"].append(length)
                entry["train_seconds"].append(None)
                entry["inference_seconds"].append(None)
                continue
            token_ids, labels = _random_batch(config, config.cost_batch_size, length, config.seed)
            entry["train_seconds"].append(
                summarize(keras_step_seconds(compiled, token_ids, labels, 1, config.cost_repeats))["median"]
            )
            inference = time_calls(lambda forward=forward, ids=token_ids: forward(ids), 1, config.cost_repeats)
            entry["inference_seconds"].append(summarize(inference)["median"])
        timed = [f"{1000 * s:.0f}" if s is not None else "skipped" for s in entry["train_seconds"]]
        log(f"  {name}: training step {', '.join(timed)} ms at T = {', '.join(map(str, config.cost_lengths))}")
        models[name] = entry
    return {
        "lengths": list(config.cost_lengths),
        "batch_size": config.cost_batch_size,
        "memory_gb": config.cost_memory_gb,
        "models": models,
    }


def crossings(lengths: list[int], times: list[float | None], reference: list[float | None]) -> dict[str, Any]:
    """How a curve of times against T lies against a reference curve: where it is faster, and where they cross.

    Args:
        lengths: T, increasing.
        times, reference: seconds at each T (None: not measured).

    Returns:
        `measured`: the T where both have a time; `faster`: whether the curve
        is below the reference at each of those; `crossings`: one entry per
        change of side between neighbouring measured T, with `between` (the
        two T), `at` (where the lines cross, interpolated on log T and log
        time, rounded) and `becomes` ("faster" or "slower"); `ratio_at_end`:
        time over the reference's at the longest measured T.
    """
    measured = [(t, a, b) for t, a, b in zip(lengths, times, reference) if a is not None and b is not None]
    faster = [a < b for _, a, b in measured]
    found = []
    for (t1, a1, b1), (t2, a2, b2), before, after in zip(measured, measured[1:], faster, faster[1:]):
        if before == after:
            continue
        gap1, gap2 = math.log(a1 / b1), math.log(a2 / b2)  # log of the ratio: 0 where the lines cross
        share = gap1 / (gap1 - gap2)
        at = math.exp(math.log(t1) + share * (math.log(t2) - math.log(t1)))
        found.append({"between": [t1, t2], "at": int(round(at)), "becomes": "faster" if after else "slower"})
    return {
        "measured": [t for t, _, _ in measured],
        "faster": faster,
        "crossings": found,
        "ratio_at_end": measured[-1][1] / measured[-1][2] if measured else None,
    }


def crossing_sentence(name: str, what: str, lengths, times, reference, reference_name: str = "the GRU's") -> str:
    """One sentence: where `name`'s curve of `what` lies against the reference's, and where they cross (`crossings`).

    "minGRU's training step is slower than the GRU's at T = 50 to 200 and
    faster at T = 400 to 3200: the curves cross near T ≈ 290 (0.21x the
    GRU's time at T = 3200)."
    """
    found = crossings(list(lengths), list(times), list(reference))
    if not found["measured"]:
        return ""
    segments: list[list] = []  # [side, first T, last T] of each run of measured T on one side
    for length, faster in zip(found["measured"], found["faster"]):
        side = "faster" if faster else "slower"
        if segments and segments[-1][0] == side:
            segments[-1][2] = length
        else:
            segments.append([side, length, length])
    # T without thousands separators, and "≈" for an interpolated crossing: "T = n" is always a measured length.
    sides = [f"{side} at T = {first}" + (f" to {last}" if last != first else "") for side, first, last in segments]
    sides[0] = sides[0].replace(" at ", f" than {reference_name} at ", 1)
    text = f"{name}'s {what} is {_and(sides)}"
    if found["crossings"]:
        places = [f"T ≈ {crossing['at']}" for crossing in found["crossings"]]
        text += f": the curves cross near {_and(places)}"
    return f"{text} ({found['ratio_at_end']:.2f}x {reference_name} time at T = {found['measured'][-1]})."


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


# ---------------------------------------------------------------- inference


def _synthetic_vocabulary(size: int) -> list[str]:
    """ "" and [UNK], then made-up words: the bench needs no dataset."""
    return ["", "[UNK]"] + [f"word{index}" for index in range(2, size)]


def _keras_forward(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """The app's path to P(positive) on the current backend.

    On TensorFlow a traced `model(ids, training=False)` (as
    `sentiment.serving.predict.Predictor`), `predict_on_batch` (no autograd)
    on the other backends.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        traced = tf.function(lambda ids: model(ids, training=False), reduce_retracing=True)
        return lambda ids: traced(ids).numpy()
    return lambda ids: np.asarray(model.predict_on_batch(ids))


def _serving_signature(model: keras.Model, config: BenchConfig, cell_type: str, folder: Path):
    """Exports `model` with `sentiment.serving.export` and loads its `serving_default`."""
    import tensorflow as tf

    from sentiment.io.artifacts import Artifact, RunConfig
    from sentiment.serving.export import SIGNATURE, build_archive

    run_config = RunConfig(
        data=DataConfig(
            vocabulary_size=config.vocabulary_size, sequence_length=max(config.sequence_length, config.review_words)
        ),
        model=config.model_config(cell_type),
        train=TrainConfig(),
    )
    artifact = Artifact(
        folder=folder,
        config=run_config,
        vocabulary=_synthetic_vocabulary(config.vocabulary_size),
        model=model,
        metrics={},
        history={},
    )
    build_archive(artifact).write_out(str(folder / "export"), verbose=False)
    signature = tf.saved_model.load(str(folder / "export")).signatures[SIGNATURE]
    return lambda texts: signature(text=tf.constant(texts))["probability"].numpy()


def inference_latency(config: BenchConfig, cell_type: str) -> dict[str, Any]:
    """Latency of one review and of a batch, Keras direct and (TF) SavedModel.

    The Keras model reads token ids (vectorizing is not timed); the
    SavedModel reads raw text and vectorizes inside its graph.
    """
    keras.utils.set_random_seed(config.seed)
    model = build_classifier(config.model_config(cell_type), config.vocabulary_size)
    batch_ids, _ = _random_batch(config, config.inference_batch_size, config.review_words, config.seed + 1)
    single_ids = batch_ids[:1]
    forward = _keras_forward(model)
    batch_repeats = max(config.latency_repeats // 4, 1)
    result = {
        "keras_single": summarize(time_calls(lambda: forward(single_ids), config.warmup, config.latency_repeats)),
        "keras_batch": summarize(time_calls(lambda: forward(batch_ids), config.warmup, batch_repeats)),
    }
    if keras.backend.backend() != "tensorflow":
        result["saved_model"] = {
            "skipped": f"the SavedModel export needs TensorFlow; this run uses the {keras.backend.backend()} backend"
        }
        return result
    vocabulary = _synthetic_vocabulary(config.vocabulary_size)
    texts = [" ".join(vocabulary[index] for index in row) for row in batch_ids]
    with tempfile.TemporaryDirectory(prefix="sentiment-bench-") as folder:
        serve = _serving_signature(model, config, cell_type, Path(folder))
        probabilities = serve(texts[:1])
        # The export must score what the model scores, or its timing means nothing.
        np.testing.assert_allclose(probabilities, forward(single_ids).reshape(-1), atol=1e-5)
        result["saved_model"] = {
            "single": summarize(time_calls(lambda: serve(texts[:1]), config.warmup, config.latency_repeats)),
            "batch": summarize(time_calls(lambda: serve(texts), config.warmup, batch_repeats)),
        }
    return result


# ---------------------------------------------------------------- the whole run


def run_bench(config: BenchConfig, log: Callable[[str], None] = print, command: str | None = None) -> dict[str, Any]:
    """Runs every measurement and returns them as one JSON-ready dict."""
    started = time.perf_counter()
    load_before = provenance.load_average()
    log(f"matmul peak: float32 {config.matmul_size}^2")
    # Many short runs: the best is one in which no other job held a core.
    peak = matmul_rate(config.matmul_size, config.matmul_size, config.matmul_size, repeats=50, calls_per_repeat=4)
    training, latency = {}, {}
    for cell_type in config.cell_types:
        log(f"{model_name(cell_type)}: training step at {config.batch_size} x {config.sequence_length}")
        training[cell_type] = training_throughput(config, cell_type, peak["best_flops_per_second"], log)
        log(f"{model_name(cell_type)}: inference latency, {config.review_words}-word review")
        latency[cell_type] = inference_latency(config, cell_type)
    cost = None
    if config.cost_lengths:
        log(f"sequential cost: T = {', '.join(map(str, config.cost_lengths))}, batch {config.cost_batch_size}")
        cost = sequential_cost(config, log)
    return {
        "command": command,
        "date": provenance.utc_now(),
        "machine": provenance.machine(),
        "load_average_before": load_before,
        "load_average_after": provenance.load_average(),
        "wall_seconds": time.perf_counter() - started,
        "config": asdict(config),
        "flops_formula": "3 * 2 * g * (E + H) * H per token per training step; g = 1 SimpleRNN, 3 GRU, 4 LSTM",
        "matmul_peak": peak,
        "training": training,
        "latency": latency,
        "sequential_cost": cost,
    }


# ---------------------------------------------------------------- Markdown


def _ms(summary: dict[str, Any], key: str = "median") -> str:
    return f"{1000 * summary[key]:.1f}"


def _gflops(value: float) -> str:
    return f"{value / 1e9:.1f}"


def _skipped_or(entry: dict[str, Any], render: Callable[[dict[str, Any]], str]) -> str:
    return "skipped" if "skipped" in entry else render(entry)


def bench_markdown(result: dict[str, Any]) -> str:
    """Renders a `run_bench` result as the Markdown of docs/BENCHMARKS.md."""
    config = result["config"]
    parts = [
        f"Produced by `{result['command']}` on {result['date']} ({result['wall_seconds'] / 60:.1f} min).",
        "",
        f"Machine: {provenance.machine_line(result['machine'])}. Load average (1/5/15 min) before: "
        f"{', '.join(map(str, result['load_average_before']))}; after: "
        f"{', '.join(map(str, result['load_average_after']))}.",
        "",
        f"Model: the default `build_classifier` (vocabulary {config['vocabulary_size']:,}, embedding "
        f"{config['embedding_dim']}, "
        f"{config['units']} units, head on the final state, padding masked (ids != 0), dropout on). Medians of "
        f"{config['repeats']} "
        f"training steps after {config['warmup']} warm-up steps.",
        "",
        *_training_lines(result),
        *_cudnn_lines(result["training"]),
        *_latency_lines(result["latency"], config),
        *_sequential_cost_lines(result.get("sequential_cost")),
    ]
    notes = _skip_notes(result)
    if notes:
        parts += ["", "Skipped or substituted:", ""] + [f"- {note}" for note in notes]
    return "\n".join(parts) + "\n"


def _skip_notes(result: dict[str, Any]) -> list[str]:
    """One line per measurement that was skipped or substituted, with why."""
    notes = []
    for cell_type, entry in result["training"].items():
        for part in ("peer", "cudnn"):
            if part in entry and ("skipped" in entry[part] or "note" in entry[part]):
                notes.append(f"{model_name(cell_type)} {part}: {entry[part].get('skipped') or entry[part]['note']}")
    for cell_type, entry in result["latency"].items():
        if "skipped" in entry["saved_model"]:
            notes.append(f"{model_name(cell_type)} SavedModel: {entry['saved_model']['skipped']}")
    return notes


def _training_row(cell_type: str, entry: dict[str, Any]) -> list[str]:
    peer = entry["peer"]
    return [
        model_name(cell_type),
        _ms(entry["keras_seconds"]),
        f"{entry['reviews_per_second']:,.0f}",
        f"{entry['tokens_per_second']:,.0f}",
        f"{entry['recurrence_flops_per_step'] / 1e9:.3g}",
        _gflops(entry["achieved_flops_per_second"]),
        f"{100 * entry['fraction_of_matmul_peak']:.1f}%",
        f"{_gflops(entry['step_matmul']['best_flops_per_second'])} "
        f"({100 * entry['step_matmul_fraction_of_peak']:.0f}%)",
        _skipped_or(peer, lambda peer: _ms(peer["seconds"])),
        _skipped_or(peer, lambda peer: f"{peer['keras_over_torch']:.2f}x"),
        _skipped_or(peer, lambda peer: _ms(peer["one_thread_seconds"]) if "one_thread_seconds" in peer else "n/a"),
        _skipped_or(
            peer, lambda peer: f"{peer['keras_over_torch_one_thread']:.2f}x" if "one_thread_seconds" in peer else "n/a"
        ),
    ]


def _training_lines(result: dict[str, Any]) -> list[str]:
    config, peak, training = result["config"], result["matmul_peak"], result["training"]
    header = [
        "model",
        "step (ms)",
        "reviews/s",
        "tokens/s",
        "GFLOP/step",
        "achieved GFLOP/s",
        "of matmul peak",
        "one step's matmul [B, E+H]x[E+H, gH]: GFLOP/s (of peak)",
        "PyTorch step (ms)",
        "Keras / PyTorch",
        "PyTorch, 1 thread (ms)",
        "Keras / PyTorch 1 thread",
    ]
    return [
        f"### Training step, batch {config['batch_size']} x {config['sequence_length']} tokens",
        "",
        f"Recurrence FLOPs per training step = {result['flops_formula']}. Machine's dense matmul rate: "
        f"best run {_gflops(peak['best_flops_per_second'])} GFLOP/s, median {_gflops(peak['flops_per_second'])} "
        "GFLOP/s "
        f"({peak['library']}, float32 {config['matmul_size']}^2, {peak['repeats']} runs). The limit is the best run: "
        "on a shared machine a "
        "multithreaded matmul runs at about half speed whenever another job holds a core, so its median understates "
        "what the cores can do. "
        "The fractions below are of that best run; the step-sized matmul is likewise its best run.",
        "",
        markdown_table(header, [_training_row(cell_type, entry) for cell_type, entry in training.items()]),
        "",
        f"{config['batch_size'] * config['sequence_length']:,} tokens per step. p99 of the Keras step: "
        + ", ".join(f"{model_name(cell)} {_ms(entry['keras_seconds'], 'p99')} ms" for cell, entry in training.items())
        + ".",
        "",
    ]


def _cudnn_lines(training: dict[str, Any]) -> list[str]:
    rows = [
        [
            model_name(cell_type),
            _skipped_or(entry["cudnn"], lambda cudnn: _ms(cudnn["cudnn_seconds"])),
            _skipped_or(entry["cudnn"], lambda cudnn: _ms(cudnn["generic_seconds"])),
            _skipped_or(entry["cudnn"], lambda cudnn: f"{cudnn['generic_over_cudnn']:.2f}x"),
            _skipped_or(
                entry["cudnn"],
                lambda cudnn: f"{cudnn['cudnn_over_torch']:.2f}x" if "cudnn_over_torch" in cudnn else "no peer",
            ),
        ]
        for cell_type, entry in training.items()
        if "cudnn" in entry
    ]
    header = ["model", "use_cudnn=True (ms)", "use_cudnn=False (ms)", "generic / cuDNN", "Keras cuDNN / PyTorch"]
    return ["### cuDNN vs generic kernel (same weights, no mask)", "", markdown_table(header, rows), ""]


def _latency_lines(latency: dict[str, Any], config: dict[str, Any]) -> list[str]:
    batch = config["inference_batch_size"]
    rows = [
        [
            model_name(cell_type),
            f"{_ms(entry['keras_single'], 'p50')} / {_ms(entry['keras_single'], 'p99')}",
            f"{_ms(entry['keras_batch'], 'p50')} / {_ms(entry['keras_batch'], 'p99')}",
            _skipped_or(
                entry["saved_model"], lambda saved: f"{_ms(saved['single'], 'p50')} / {_ms(saved['single'], 'p99')}"
            ),
            _skipped_or(
                entry["saved_model"], lambda saved: f"{_ms(saved['batch'], 'p50')} / {_ms(saved['batch'], 'p99')}"
            ),
            "met" if 1000 * entry["keras_single"]["median"] < LATENCY_TARGET_MILLISECONDS else "missed",
        ]
        for cell_type, entry in latency.items()
    ]
    header = [
        "model",
        "Keras, 1 review",
        f"Keras, batch of {batch}",
        "SavedModel, 1 review",
        f"SavedModel, batch of {batch}",
        f"Keras 1 review < {LATENCY_TARGET_MILLISECONDS} ms",
    ]
    return [
        f"### Inference latency, {config['review_words']}-word review (ms; p50 / p99)",
        "",
        markdown_table(header, rows),
        "",
        f"{config['latency_repeats']} single-review calls and {max(config['latency_repeats'] // 4, 1)} batch calls "
        "per figure. "
        "The Keras model reads token ids; the SavedModel reads raw text and vectorizes it inside its graph.",
    ]


def sequential_cost_markdown(result: dict[str, Any], plot_file: str = "sequential_cost.png") -> str:
    """The sequential cost of a bench run as a page of its own (a section of docs/RESULTS.md)."""
    return (
        "\n".join(
            [
                "# The sequential cost: every recurrent cell has one step per token, and what came after",
                "",
                f"Produced by `{result['command']}` on {result['date']}. Machine: "
                f"{provenance.machine_line(result['machine'])}.",
                *_sequential_cost_lines(result.get("sequential_cost"), plot_file),
            ]
        )
        + "\n"
    )


def _sequential_cost_lines(cost: dict[str, Any] | None, plot_file: str = "sequential_cost.png") -> list[str]:
    """The sequential-cost tables (ms per training step and per forward pass; sequential steps) and the crossings."""
    if not cost:
        return []
    names = {name: marked_name(name) for name in cost["models"]}
    rows = []
    for name, entry in cost["models"].items():
        for label, key in (("training step", "train_seconds"), ("inference", "inference_seconds")):
            rows.append([names[name], label, *(_cost_ms(value) for value in entry[key])])
    steps = [
        [names[name], *(f"{count:,}" for count in entry["sequential_steps"])] for name, entry in cost["models"].items()
    ]
    longest, shortest = cost["lengths"][-1], cost["lengths"][0]
    growth = ", ".join(f"{names[name]} {ratio:.1f}x" for name, ratio in growth_ratios(cost).items())
    skipped = [
        f"{names[name]} at T = {', '.join(f'{length:,}' for length in entry['skipped'])}"
        for name, entry in cost["models"].items()
        if entry.get("skipped")
    ]
    lines = [
        "",
        f"### Sequential cost: time against sequence length (ms, median; batch {cost['batch_size']})",
        "",
        markdown_table(["model", "", *(f"T = {length}" for length in cost["lengths"])], rows),
        "",
        "Sequential steps on the critical path of one forward pass (the backward pass walks them again, in "
        "reverse): T for each recurrent cell and for minGRU and minLSTM on their loop; ceil(log2 T) levels for "
        "their parallel scan; 1 layer for the Conv1D and the Transformer, whatever T (their work grows with T, "
        "and as T² for attention, but in parallel):",
        "",
        markdown_table(["model", *(f"T = {length}" for length in cost["lengths"])], steps),
        "",
    ]
    if growth:
        lines += [
            f"Training step at T = {longest} over T = {shortest} ({longest // shortest}x the tokens): {growth}.",
            "",
        ]
    if skipped:
        lines += [
            f"Not run (n/a above): {'; '.join(skipped)}, where the attention scores alone would need more than "
            f"{cost.get('memory_gb', 0):g} GB (`--cost-memory-gb`).",
            "",
        ]
    lines += _crossing_lines(cost)
    return [*lines, f"![Training-step time against sequence length, log-log]({plot_file})"]


def growth_ratios(cost: dict[str, Any]) -> dict[str, float]:
    """Model -> its training step at the longest T over that at the shortest; models not timed at both left out."""
    return {
        name: entry["train_seconds"][-1] / entry["train_seconds"][0]
        for name, entry in cost["models"].items()
        if entry["train_seconds"][0] and entry["train_seconds"][-1]
    }


def _cost_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{1000 * value:.1f}"


def _crossing_lines(cost: dict[str, Any]) -> list[str]:
    """Where each model's curves cross the GRU's, a sentence per model and curve."""
    reference = cost["models"].get(REFERENCE_CURVE)
    if reference is None:
        return []
    sentences = [
        crossing_sentence(marked_name(name), what, cost["lengths"], entry[key], reference[key])
        for name, entry in cost["models"].items()
        if name != REFERENCE_CURVE
        for what, key in (("training step", "train_seconds"), ("forward pass", "inference_seconds"))
    ]
    sentences = [sentence for sentence in sentences if sentence]
    if not sentences:
        return []
    return [f"Against the {model_name(REFERENCE_CURVE)}, on this machine:", "", *(f"- {s}" for s in sentences), ""]


def write_results(result: dict[str, Any], folder: str | Path) -> dict[str, Path]:
    """Writes bench.json and bench.md into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "bench.json", "markdown": folder / "bench.md"}
    files.write_json(paths["json"], result)
    if result.get("sequential_cost"):
        from sentiment.analysis.plots import plot_sequential_cost

        paths["plot"] = plot_sequential_cost(result["sequential_cost"], folder / "sequential_cost.png")
    files.write_text(paths["markdown"], bench_markdown(result))
    return paths
