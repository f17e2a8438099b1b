"""The thesis on tasks where memory is the only way to win.

Two tasks from the literature, both a function of a seed:

- **Variable-lag recall.** One signal token (one of two classes) sits at a
  random lag L in [T/2, T] before the final token of a sequence of T + 1
  tokens; every other token is a random distractor. The label is the
  signal's class and the classifier reads only the state after the final
  token, so it must carry one bit across L steps of noise, and because L
  varies it cannot learn the phase of one lag (a tanh RNN trained with the
  signal always exactly T steps back can: see the lag-shift diagnostic).
  Chance is 50%.
- **The adding problem** (Hochreiter & Schmidhuber 1997; Le, Jaitly &
  Hinton 2015; Bai, Kolter & Koltun 2018). T steps of two channels, a value
  in [0, 1] and a marker; exactly one marker in each half; the target is the
  sum of the two marked values. Real-valued inputs at every step cannot be
  zeroed out by a learned embedding. Predicting the test targets' mean (the
  best constant) gives their variance, about 1/6: that is failure. A run
  counts as solved when its test MSE falls below 0.01.
- **Associative recall** (Ba et al. 2016; Arora et al. 2023, "Zoology").
  P key-value pairs with distinct keys, then a query naming one of the
  keys; the label is that key's value, one of V (chance 1/V). A recurrent
  model must hold every pair in its fixed-size state until the query comes;
  attention can look the key up when it does. Its size is P, not a lag:
  T = P + 1 tokens (`associative_sequences` says why a pair is one token).

Every model variant is built by the project's own builder
(`sentiment.models`) from one `ModelConfig` that differs only in the cell
and its initialization: SimpleRNN as Keras builds it, the IRNN (ReLU with an
identity recurrent matrix, the plain RNN's best case), LSTM and GRU with
Keras's gate biases, and LSTM and GRU with chrono initialization at one
horizon fixed for the whole sweep (never the test distance); and, after the
LSTM, minGRU and minLSTM (gate biases 0, and chrono) and a Transformer,
marked as such in every table (`sentiment.report.marked_name`). All train on
fresh sequences every update, with one optimizer and one budget, evaluated
on a fixed held-out set at fixed update intervals, and stop when solved.

For the longest T the suite also measures the state Jacobian
(`sentiment.analysis.jacobians`) at initialization and after training, and a
lag-shift diagnostic trains on the fixed-lag task and tests at neighbouring
lags. Independent runs go to parallel processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sentiment.analysis.parallel import run_all
from sentiment.config import TASKS, VARIANTS, LongRangeConfig, to_dict
from sentiment.io import provenance
from sentiment.io.provenance import machine_line
from sentiment.report import listing, marked_name

CHANCE_ACCURACY = 0.5

# Recall's token ids keep the IMDB models' layout: 0 is padding (masked), 1
# the unused [UNK] slot, then the two signal tokens, then the distractors.
SIGNAL_IDS = (2, 3)  # class 0, class 1
FIRST_DISTRACTOR_ID = 4
# Associative recall's ids: 0 padding, 1 [UNK], a query token per key, then a token per (key, value) pair.
FIRST_QUERY_ID = 2
# A data stream's seed is [seed, its task's number here, T, stream]; the
# lag-shift diagnostic's number is 2 (as it was before associative recall).
TASK_STREAMS = {"recall": 0, "adding": 1, "associative": 3}
LAG_SHIFT_STREAM = 2

# A recall run is solved at this held-out accuracy, an adding run below this MSE.
SOLVED_ACCURACY = 0.99
SOLVED_MSE = 0.01
# The variant whose Jacobian is also taken with inputs scaled up, to show tanh saturation.
DRIVEN_VARIANT = "simple_rnn"


# --- The tasks -------------------------------------------------------------


def recall_sequences(
    rng: np.random.Generator, count: int, length: int, distractor_count: int, lag: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Variable-lag recall: a signal token at lag L in [ceil(T/2), T], distractors elsewhere.

    Args:
        rng: NumPy generator (the caller seeds it).
        count: sequences.
        length: T; every sequence has T + 1 tokens.
        distractor_count: distinct distractor tokens.
        lag: a fixed lag for every sequence instead (the fixed-lag task).

    Returns:
        token_ids <int32>[count, T + 1], labels <int32>[count] (the signal's
        class), lags <int32>[count] (steps from the signal to the final
        token: the signal is at column T - L).
    """
    labels = rng.integers(0, 2, size=count, dtype=np.int32)
    lags = (
        np.full(count, lag, np.int32)
        if lag is not None
        else rng.integers((length + 1) // 2, length + 1, size=count, dtype=np.int32)
    )
    if not np.all((lags >= 0) & (lags <= length)):
        raise ValueError(f"a lag must be within the sequence (0 to {length})")
    ids = rng.integers(
        FIRST_DISTRACTOR_ID, FIRST_DISTRACTOR_ID + distractor_count, size=(count, length + 1), dtype=np.int32
    )
    ids[np.arange(count), length - lags] = np.asarray(SIGNAL_IDS, np.int32)[labels]
    return ids, labels, lags


def adding_sequences(rng: np.random.Generator, count: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The adding problem: values in [0, 1], one marker in each half, target their sum.

    Returns:
        inputs <float32>[count, T, 2] (channel 0 the value, channel 1 the
        marker), targets <float32>[count], marked <int32>[count, 2] (the
        marked steps: first in [0, T/2), second in [T/2, T)).
    """
    half = length // 2
    values = rng.random((count, length), dtype=np.float32)
    marked = np.stack([rng.integers(0, half, count), rng.integers(half, length, count)], axis=1).astype(np.int32)
    markers = np.zeros((count, length), np.float32)
    rows = np.arange(count)[:, None]
    markers[rows, marked] = 1.0
    targets = values[rows, marked].sum(axis=1).astype(np.float32)
    return np.stack([values, markers], axis=-1), targets, marked


def associative_sequences(
    rng: np.random.Generator, count: int, pairs: int, keys: int, values: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Associative recall: P key-value pairs with distinct keys, then a query key; the label is its value.

    A pair is one token (its id names the key and the value): every model
    reads a pair in one step, and the question is only whether it can hold
    P of them until the query. With a key token and a value token apart,
    attention needs two layers to join them (an induction head: one to read
    each value's key, one to find the queried key), where these models have
    one layer each, recurrent or attending.

    Args:
        rng: NumPy generator (the caller seeds it).
        count: sequences.
        pairs: P; every sequence has P + 1 tokens.
        keys: distinct keys to draw from (at least P).
        values: distinct values; chance is 1 / values.

    Returns:
        token_ids <int32>[count, P + 1] (pair tokens, then the query token),
        labels <int32>[count] (the queried key's value), positions
        <int32>[count] (how many pairs before the query the queried one is:
        1 for the last pair).
    """
    if not 1 <= pairs <= keys:
        raise ValueError(f"pairs must be between 1 and the number of keys ({keys}), got {pairs}")
    chosen = np.argsort(rng.random((count, keys)), axis=1)[:, :pairs].astype(np.int32)  # distinct keys per row
    paired = rng.integers(0, values, size=(count, pairs), dtype=np.int32)
    queried = rng.integers(0, pairs, size=count, dtype=np.int32)
    rows = np.arange(count)
    ids = np.empty((count, pairs + 1), np.int32)
    ids[:, :pairs] = FIRST_QUERY_ID + keys + chosen * values + paired
    ids[:, pairs] = FIRST_QUERY_ID + chosen[rows, queried]
    return ids, paired[rows, queried], (pairs - queried).astype(np.int32)


def associative_vocabulary_size(keys: int, values: int) -> int:
    """Token ids an associative-recall model embeds: padding, [UNK], the query keys and the pairs."""
    return FIRST_QUERY_ID + keys + keys * values


def chance_accuracy(task: str, config: LongRangeConfig | dict[str, Any]) -> float:
    """The accuracy of guessing: 1/2 for recall, 1 / the number of values for associative recall."""
    values = config["associative_values"] if isinstance(config, dict) else config.associative_values
    return 1.0 / values if task == "associative" else CHANCE_ACCURACY


def recall_vocabulary_size(distractor_count: int) -> int:
    """Token ids a recall model embeds: padding, [UNK], the two signals and the distractors."""
    return FIRST_DISTRACTOR_ID + distractor_count


def task_batch(
    task: str, rng: np.random.Generator, count: int, length: int, config: LongRangeConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, targets, positions) of `count` fresh sequences of `task` at length T."""
    if task == "recall":
        return recall_sequences(rng, count, length, config.distractor_count)
    if task == "associative":
        return associative_sequences(rng, count, length - 1, config.associative_keys, config.associative_values)
    return adding_sequences(rng, count, length)


def data_seed(task: str, length: int, seed: int, stream: str) -> list[int]:
    """The NumPy seed of one stream ("train", "test" or "jacobian") of one (task, T, seed)."""
    return [seed, TASK_STREAMS[task], length, ("train", "test", "jacobian").index(stream)]


def constant_baseline_mse(targets: np.ndarray) -> float:
    """The MSE of the best constant prediction (the targets' mean): what a model without memory can reach."""
    targets = np.asarray(targets, np.float64)
    return float(np.mean((targets - targets.mean()) ** 2))


def score(task: str, predictions: np.ndarray, targets: np.ndarray) -> float:
    """Held-out accuracy (recall; associative recall, of the most probable value) or mean squared error (adding)."""
    if task == "associative":  # predictions <float>[count, values], or [count] P(value 1) for two values
        predictions = np.asarray(predictions)
        chosen = np.argmax(predictions, axis=-1) if predictions.ndim == 2 else (predictions >= 0.5).astype(int)
        return float(np.mean(chosen == np.asarray(targets)))
    predictions, targets = np.asarray(predictions, np.float64).reshape(-1), np.asarray(targets, np.float64)
    if task == "recall":
        return float(np.mean((predictions >= 0.5) == (targets == 1)))
    return float(np.mean((predictions - targets) ** 2))


def solved(task: str, value: float) -> bool:
    return value < SOLVED_MSE if task == "adding" else value >= SOLVED_ACCURACY


def accuracy_by_lag(
    predictions: np.ndarray, labels: np.ndarray, lags: np.ndarray, length: int, bins: int
) -> list[dict[str, Any]]:
    """Recall accuracy in `bins` equal lag ranges covering [ceil(T/2), T]."""
    low = (length + 1) // 2
    edges = np.linspace(low, length + 1, min(bins, length + 1 - low) + 1).round().astype(int)
    correct = (np.asarray(predictions).reshape(-1) >= 0.5) == (np.asarray(labels) == 1)
    rows = []
    for start, stop in zip(edges[:-1], edges[1:]):
        inside = (lags >= start) & (lags < stop)
        rows.append(
            {
                "lags": [int(start), int(stop - 1)],
                "count": int(inside.sum()),
                "accuracy": float(correct[inside].mean()) if inside.any() else None,
            }
        )
    return rows


# --- Training --------------------------------------------------------------


def build_model(config: LongRangeConfig, task: str, variant: str, seed: int, steps: int | None = None):
    """The variant's model for the task, seeded, from the project's builder.

    Args:
        steps: the longest sequence the model will read, in steps (a
            transformer learns a position for each; the recurrent models
            ignore it). None: the longest any run of the suite reads.
    """
    import keras

    from sentiment.models import build_classifier, build_regressor

    keras.utils.set_random_seed(seed)
    model_config = config.model_config(variant)
    steps = steps or longest_sequence(config)
    if task == "recall":
        return build_classifier(model_config, recall_vocabulary_size(config.distractor_count), sequence_length=steps)
    if task == "associative":
        vocabulary = associative_vocabulary_size(config.associative_keys, config.associative_values)
        return build_classifier(model_config, vocabulary, config.associative_values, sequence_length=steps)
    return build_regressor(model_config, input_features=2, sequence_length=steps)


def sequence_steps(task: str, length: int) -> int:
    """The steps a sequence of `task` at T has: T + 1 tokens for recall (the signal can be T back), else T."""
    return length + 1 if task == "recall" else length


def longest_sequence(config: LongRangeConfig) -> int:
    """The most steps any run of the suite (the lag-shift diagnostic included) reads."""
    shifted = config.lag_shift_length is not None and "recall" in config.tasks
    lag_shift = config.lag_shift_length + config.lag_shift_radius + 1 if shifted else 0
    return max(
        lag_shift, *(sequence_steps(task, length) for task in config.tasks for length in config.task_lengths(task))
    )


def has_state(variant: str) -> bool:
    """Whether a variant carries a state from step to step (a transformer does not: no state Jacobian)."""
    from sentiment.models import RECURRENT_LAYERS

    return VARIANTS[variant][0] in RECURRENT_LAYERS


def _step_function(model, task: str, config: LongRangeConfig) -> Callable:
    """The project's training step (`sentiment.training.loop`), XLA-compiled, with this suite's optimizer.

    Adam at a constant learning rate with per-variable gradient clipping, as
    the IMDB training (without its per-epoch decay: there are no epochs).
    """
    from sentiment import models
    from sentiment.config import TrainConfig
    from sentiment.training import loop

    optimizer_config = TrainConfig(
        learning_rate=config.learning_rate, learning_rate_decay=1.0, clipnorm=config.clipnorm
    )
    loop.compile_for_training(model, optimizer_config, steps_per_epoch=1)
    model.optimizer.build(model.trainable_variables)
    # Not for minGRU and minLSTM: XLA cannot differentiate their parallel scan, a while loop of
    # ceil(log2 T) levels whose count it is not given (sentiment.cells._parallel_scan).
    scan = any(isinstance(layer, models.PARALLEL_RECURRENCES) for layer in models.recurrent_layers(model))
    return loop.TrainingStep(
        model, objective="regression" if task == "adding" else "classification", jit_compile=not scan
    ).on_batch


def _predict_function(model, reduce_retracing: bool = False) -> Callable:
    import tensorflow as tf

    forward = tf.function(
        lambda inputs: model(inputs, training=False), jit_compile=True, reduce_retracing=reduce_retracing
    )

    def predict(inputs) -> np.ndarray:  # <float>[count] P(class 1) or a value; [count, classes] with more classes
        outputs = forward(inputs).numpy()
        return outputs.reshape(-1) if outputs.shape[-1] == 1 else outputs

    return predict


def train_until_solved(
    model,
    task: str,
    batch: Callable[[], tuple],
    config: LongRangeConfig,
    test: tuple[np.ndarray, np.ndarray],
    on_evaluation: Callable[[int, float], bool | None] | None = None,
) -> dict[str, Any]:
    """Trains on fresh batches until the held-out score solves the task or the budget ends.

    Args:
        model: from `build_model`.
        task: "recall" or "adding" (the loss, the score and what "solved" means).
        batch: returns (inputs, targets, positions) of fresh training sequences.
        config: the budget.
        test: held-out (inputs, targets).
        on_evaluation: called with (updates, held-out score) after every
            evaluation, update 0 included: the playground
            (`sentiment.analysis.playground`) streams the curve from it. A
            true answer ends the training there, as a spent budget would
            (its time cap); None, or an answer that is never true, changes
            nothing.

    Returns:
        `updates` and `scores` (held-out score after each evaluation, update
        0 included), `solved_at` (updates at the first solving evaluation, or
        None), `final` (the last score; NaN if the weights diverged, which
        ends the run), `train_seconds`, and `predictions`
        (<float64>[test sequences], at the end; not JSON, pop it).
    """
    step, predict = _step_function(model, task, config), _predict_function(model)
    updates, scores, solved_at = [0], [score(task, predict(test[0]), test[1])], None
    started = time.perf_counter()
    budget = config.budget(task)
    ended = on_evaluation is not None and bool(on_evaluation(0, scores[0]))
    for update in range(1, budget + 1):
        if ended:
            break
        inputs, targets, _ = batch()
        step(inputs, targets if task == "associative" else targets.reshape(-1, 1))  # class ids, or a column
        if update % config.eval_interval and update != budget:
            continue
        updates.append(update)
        scores.append(score(task, predict(test[0]), test[1]))
        ended = on_evaluation is not None and bool(on_evaluation(update, scores[-1]))
        if solved(task, scores[-1]) or not np.isfinite(scores[-1]):  # solved, or diverged (NaN)
            solved_at = update if solved(task, scores[-1]) else None
            break
    seconds = time.perf_counter() - started
    rounded = [float(f"{value:.5g}") for value in scores]
    return {
        "updates": updates,
        "scores": rounded,
        "solved_at": solved_at,
        "final": scores[-1],
        "train_seconds": seconds,
        "predictions": predict(test[0]),
    }


def run_one(
    config: LongRangeConfig,
    task: str,
    length: int,
    seed: int,
    variant: str,
    on_evaluation: Callable[[int, float], bool | None] | None = None,
) -> dict[str, Any]:
    """One (task, T, seed, variant): train until solved or out of budget; score; Jacobians at the longest T.

    `on_evaluation` is `train_until_solved`'s (the playground's live curve and time cap).
    """
    from sentiment.analysis import jacobians

    started = time.perf_counter()
    test_inputs, test_targets, positions = task_batch(
        task, np.random.default_rng(data_seed(task, length, seed, "test")), config.test_sequences, length, config
    )
    model = build_model(config, task, variant, seed, sequence_steps(task, length))
    jacobian_inputs = None
    run: dict[str, Any] = {
        "task": task,
        "length": length,
        "seed": seed,
        "variant": variant,
        "cell_type": VARIANTS[variant][0],
        "parameters": int(model.count_params()),
    }
    if task != "associative" and length == config.jacobian_length and has_state(variant):
        jacobian_rng = np.random.default_rng(data_seed(task, length, seed, "jacobian"))
        jacobian_inputs = task_batch(task, jacobian_rng, config.jacobian_sequences, length, config)[0]
        run["jacobian"] = {"init": jacobians.measure(model, jacobian_inputs)}
        if variant == DRIVEN_VARIANT:
            run["jacobian"]["init_driven"] = jacobians.measure(model, jacobian_inputs, config.driven_input_scale)
    initial_norms = embedding_norms(model) if task == "recall" else None
    rng = np.random.default_rng(data_seed(task, length, seed, "train"))
    run.update(
        train_until_solved(
            model,
            task,
            lambda: task_batch(task, rng, config.batch_size, length, config),
            config,
            (test_inputs, test_targets),
            on_evaluation,
        )
    )
    predictions = run.pop("predictions")
    if task == "recall":
        run["by_lag"] = accuracy_by_lag(predictions, test_targets, positions, length, config.lag_bins)
        run["embedding_norms"] = {"init": initial_norms, "trained": embedding_norms(model)}
    elif task == "associative":
        run["pairs"] = length - 1
    else:
        run["baseline_mse"] = constant_baseline_mse(test_targets)
    if jacobian_inputs is not None:
        run["jacobian"]["trained"] = jacobians.measure(model, jacobian_inputs)
    run["wall_seconds"] = time.perf_counter() - started
    return run


def embedding_norms(model) -> dict[str, float]:
    """Mean L2 norm of the signal tokens' and the distractors' embeddings.

    A recall model can keep a bit over many steps without gates by learning
    to embed the distractors near zero: its recurrence then runs on almost no
    input, close to linear, and what it stored does not decay. The ratio of
    the two norms tells whether a trained model did that.
    """
    import keras

    from sentiment import models

    table = keras.ops.convert_to_numpy(models.embedding(model).embeddings)
    norms = np.linalg.norm(table, axis=1)
    signal, distractor = float(norms[list(SIGNAL_IDS)].mean()), float(norms[FIRST_DISTRACTOR_ID:].mean())
    return {"signal": signal, "distractor": distractor, "distractor_over_signal": distractor / signal}


def lag_shift(config: LongRangeConfig, seed: int, variant: str) -> dict[str, Any]:
    """The fixed-lag diagnostic: train with the signal always `lag_shift_length` back, test at lags around it.

    Training uses the fixed-lag recall task (every signal exactly
    `lag_shift_length` steps before the final token) with the suite's
    budget, until solved at that lag; each test lag L then gets its own
    held-out sequences of L + 1 tokens with the signal first.
    """
    length, distractors = config.lag_shift_length, config.distractor_count
    started = time.perf_counter()
    model = build_model(config, "recall", variant, seed, length + config.lag_shift_radius + 1)
    rng = np.random.default_rng([seed, LAG_SHIFT_STREAM, length, 0])

    def fixed_lag(count: int, lag: int, generator: np.random.Generator) -> tuple[np.ndarray, ...]:
        return recall_sequences(generator, count, lag, distractors, lag=lag)

    test = fixed_lag(config.test_sequences, length, np.random.default_rng([seed, LAG_SHIFT_STREAM, length, 1]))[:2]
    training = train_until_solved(model, "recall", lambda: fixed_lag(config.batch_size, length, rng), config, test)
    lags = list(range(length - config.lag_shift_radius, length + config.lag_shift_radius + 1))
    predict = _predict_function(model, reduce_retracing=True)
    accuracy = [
        score("recall", predict(inputs), labels)
        for inputs, labels, _ in (
            fixed_lag(config.test_sequences, lag, np.random.default_rng([seed, LAG_SHIFT_STREAM, lag, 1]))
            for lag in lags
        )
    ]
    return {
        "variant": variant,
        "seed": seed,
        "trained_lag": length,
        "solved_at": training["solved_at"],
        "updates": training["updates"][-1],
        "lags": lags,
        "accuracy": accuracy,
        "wall_seconds": time.perf_counter() - started,
    }


# --- The sweep -------------------------------------------------------------


def jobs(config: LongRangeConfig) -> list[tuple[str, tuple]]:
    """Every run of the sweep as (kind, arguments), the longest first so parallel workers finish together."""
    runs = [
        ("run", (task, length, seed, variant))
        for task in config.tasks
        for length in config.task_lengths(task)
        for seed in config.seeds
        for variant in config.variants
    ]
    runs.sort(key=lambda job: -job[1][1])  # stable: at one T, the tasks, seeds and variants in order
    if config.lag_shift_length is not None and "recall" in config.tasks:
        runs[1:1] = [("lag_shift", (seed, variant)) for seed in config.seeds for variant in config.variants]
    return runs


def _execute(config: LongRangeConfig, kind: str, arguments: tuple) -> tuple[str, dict[str, Any]]:
    return kind, (run_one(config, *arguments) if kind == "run" else lag_shift(config, *arguments))


# Beside the results in the output folder while the suite runs: one line per finished job.
JOURNAL_NAME = "long_range.journal.jsonl"


def _job_key(kind: str, value: dict[str, Any]) -> tuple:
    """A finished job's identity, as `jobs` names it: (kind, arguments)."""
    if kind == "run":
        return kind, (value["task"], value["length"], value["seed"], value["variant"])
    return kind, (value["seed"], value["variant"])


def read_journal(journal: Path, config: LongRangeConfig) -> tuple[list[dict[str, Any]], list[tuple[str, dict]]]:
    """The segments and finished jobs an interrupted `run_suite` wrote to `journal` (none if there is no file).

    A last line cut short by a kill is dropped, and the file rewritten without it.

    Raises:
        SentimentError: the journal is of another configuration, or unreadable.
    """
    import json

    from sentiment.errors import SentimentError
    from sentiment.io import files

    if not journal.is_file():
        return [], []
    text = journal.read_text(encoding="utf-8", errors="replace").splitlines()
    lines = []
    for number, line in enumerate(text, 1):
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number < len(text):
                raise SentimentError(
                    f"{journal}, line {number}: not a journal of the long-range suite ({error})"
                ) from None
    if not lines or lines[0].get("config") != json.loads(json.dumps(to_dict(config))):
        raise SentimentError(
            f"{journal} holds the finished runs of another configuration of the suite: run the same flags to go on "
            "with it, or delete it to start over"
        )
    if len(lines) < len(text):
        files.write_text(journal, "".join(json.dumps(line) + "\n" for line in lines))
    segments = [line["segment"] for line in lines[1:] if "segment" in line]
    return segments, [(line["kind"], line["value"]) for line in lines[1:] if "kind" in line]


def run_suite(
    config: LongRangeConfig,
    log: Callable[[str], None] = print,
    command: str | None = None,
    progress: bool = True,
    journal: Path | None = None,
) -> dict[str, Any]:
    """Runs every job of the sweep, in parallel processes when `config.workers` > 1.

    Args:
        journal: a JSON-lines file each finished job is appended to as it
            finishes. A run interrupted and started again with the same
            config reads it and runs only what is missing; the caller
            deletes it once the results are written.

    Returns:
        JSON-ready: `config`, `command`, `machine`, `started_at`,
        `wall_seconds`, `load_average` (start and end), `runs` (from
        `run_one`, in the config's order) and `lag_shift` (from `lag_shift`).
        A resumed suite also has `segments`: each sitting's `started_at`,
        `wall_seconds` and `jobs`; `wall_seconds` is then their sum, and
        `started_at` the first one's.
    """
    import json

    from tqdm import tqdm

    measurement = provenance.Measurement()
    segments, finished = read_journal(journal, config) if journal else ([], [])
    results: dict[str, list] = {"run": [], "lag_shift": []}
    for kind, value in finished:
        results[kind].append(value)
    done = {_job_key(kind, value) for kind, value in finished}
    work = [job for job in jobs(config) if job not in done]
    if finished:
        log(f"resuming: {len(finished)} runs read from {journal}, {len(work)} to go")
    if journal and not journal.exists():
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_text(json.dumps({"config": to_dict(config)}) + "\n", encoding="utf-8")
    this_segment = {"started_at": measurement.started_at, "jobs": 0}
    bar = tqdm(total=len(work), unit="run", disable=not progress, dynamic_ncols=True)
    for kind, value in run_all(_execute, [(config, kind, arguments) for kind, arguments in work], config.workers):
        results[kind].append(value)
        this_segment["jobs"] += 1
        if journal:
            this_segment["wall_seconds"] = time.perf_counter() - measurement.started
            with journal.open("a", encoding="utf-8") as file:  # one line a job: a kill loses at most the last
                file.write(json.dumps({"kind": kind, "value": value}) + "\n")
                file.write(json.dumps({"segment": this_segment}) + "\n")
        bar.update()
        bar.write(_log_line(kind, value)) if progress else log(_log_line(kind, value))
    bar.close()
    record = measurement.record(command)
    if segments:
        # Each sitting wrote its segment after every job; the last line of each is its total.
        sittings = list({segment["started_at"]: segment for segment in segments}.values())
        this_segment["wall_seconds"] = record["wall_seconds"]
        record["segments"] = [*sittings, this_segment]
        record["started_at"] = record["segments"][0]["started_at"]
        record["wall_seconds"] = sum(segment["wall_seconds"] for segment in record["segments"])
    return {
        "config": to_dict(config),
        **record,
        "runs": sorted(
            results["run"],
            key=lambda run: (
                TASKS.index(run["task"]),
                run["length"],
                run["seed"],
                list(VARIANTS).index(run["variant"]),
            ),
        ),
        "lag_shift": sorted(results["lag_shift"], key=lambda run: (run["seed"], list(VARIANTS).index(run["variant"]))),
    }


def _log_line(kind: str, value: dict[str, Any]) -> str:
    if kind == "lag_shift":
        at = dict(zip(value["lags"], value["accuracy"]))[value["trained_lag"]]
        return (
            f"lag shift  seed {value['seed']} {value['variant']:<12} accuracy at the trained lag {at:.3f}, "
            f"lowest nearby {min(value['accuracy']):.3f} ({value['wall_seconds']:.0f} s)"
        )
    solved_text = f"solved at {value['solved_at']}" if value["solved_at"] else f"not solved in {value['updates'][-1]}"
    metric = "MSE" if value["task"] == "adding" else "accuracy"
    return (
        f"{value['task']:<6} T={value['length']:<4} seed {value['seed']} {value['variant']:<12} "
        f"{metric} {value['final']:.4f}, {solved_text} updates ({value['wall_seconds']:.0f} s)"
    )


# --- Tables, the page and the files ----------------------------------------


def variants_of(result: dict[str, Any]) -> list[str]:
    """The variants that ran, in `VARIANTS` order."""
    present = {run["variant"] for run in result["runs"]} | {run["variant"] for run in result.get("lag_shift", [])}
    return [variant for variant in VARIANTS if variant in present]


def run_table(
    result: dict[str, Any], task: str, field: str = "final"
) -> tuple[list[int], list[str], list[int], np.ndarray]:
    """One figure of every run of a task, by T, variant and seed.

    Args:
        field: "final" (held-out accuracy or MSE at the end) or "solved_at"
            (updates to solve; infinity where the budget ran out unsolved).

    Returns:
        lengths, variants, seeds and <float64>[lengths, variants, seeds], NaN
        where a run is missing.
    """
    runs = [run for run in result["runs"] if run["task"] == task]
    lengths, seeds, variants = (
        sorted({run["length"] for run in runs}),
        sorted({run["seed"] for run in runs}),
        variants_of(result),
    )
    table = np.full((len(lengths), len(variants), len(seeds)), np.nan)
    for run in runs:
        value = run[field]
        table[lengths.index(run["length"]), variants.index(run["variant"]), seeds.index(run["seed"])] = (
            np.inf if value is None else value
        )
    return lengths, variants, seeds, table


def by_lag_table(result: dict[str, Any], length: int) -> tuple[list[str], list[str], np.ndarray]:
    """Recall accuracy by lag bin at one T: bin labels, variants, <float64>[bins, variants] (mean over seeds)."""
    runs = [run for run in result["runs"] if run["task"] == "recall" and run["length"] == length]
    variants = [variant for variant in variants_of(result) if any(run["variant"] == variant for run in runs)]
    if not runs:
        return [], variants, np.empty((0, len(variants)))
    labels = [f"{low}–{high}" for low, high in (entry["lags"] for entry in runs[0]["by_lag"])]
    table = np.full((len(labels), len(variants)), np.nan)
    for index, variant in enumerate(variants):
        values = np.array(
            [
                [np.nan if entry["accuracy"] is None else entry["accuracy"] for entry in run["by_lag"]]
                for run in runs
                if run["variant"] == variant
            ]
        )
        table[:, index] = np.nanmean(values, axis=0)
    return labels, variants, table


def jacobian_curves(result: dict[str, Any], task: str, phase: str) -> dict[str, np.ndarray]:
    """Variant -> <float64>[seeds, distance] state-Jacobian norms of one task and phase.

    Args:
        phase: "init", "init_driven" or "trained".
    """
    curves: dict[str, list] = {}
    for run in result["runs"]:
        if run["task"] == task and phase in run.get("jacobian", {}):
            curves.setdefault(run["variant"], []).append(run["jacobian"][phase]["by_distance"])
    return {variant: np.asarray(curves[variant], np.float64) for variant in VARIANTS if variant in curves}


def jacobian_summaries(result: dict[str, Any], task: str, phase: str) -> dict[str, dict[str, Any]]:
    """Variant -> the `jacobians.summarize` figures of the seeds' geometric-mean curve."""
    from sentiment.analysis import jacobians

    return {
        variant: jacobians.summarize(np.exp(np.log(np.maximum(curves, jacobians.FLOAT32_TINY)).mean(axis=0)))
        for variant, curves in jacobian_curves(result, task, phase).items()
    }


def late_gains(result: dict[str, Any], task: str) -> tuple[list[int], list[str], np.ndarray]:
    """How far each unsolved run's held-out score moved over the second half of its budget.

    A run that ends unsolved either had stopped learning or ran out of
    updates while still climbing; the table of final scores cannot tell
    which, this can. A score here is accuracy (recall, associative recall)
    or MSE (adding), so a gain is in the task's own units.

    Returns:
        lengths, variants and <float64>[lengths, variants, seeds]: the last
        score minus the score at the evaluation nearest half the run's
        updates; NaN for a solved or missing run.
    """
    lengths, variants, seeds, table = run_table(result, task)
    gains = np.full(table.shape, np.nan)
    for run in result["runs"]:
        if run["task"] != task or run["solved_at"] is not None or len(run["updates"]) < 2:
            continue
        updates = np.asarray(run["updates"], np.float64)
        half = int(np.argmin(np.abs(updates - updates[-1] / 2)))
        index = lengths.index(run["length"]), variants.index(run["variant"]), seeds.index(run["seed"])
        gains[index] = run["scores"][-1] - run["scores"][half]
    return lengths, variants, gains


def _percent(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{100 * value:.1f}%"


def _mean_and_seeds(values: np.ndarray, form: Callable[[float], str]) -> str:
    """ "mean (seed, seed, seed)" of one cell of a table; NaN seeds show as n/a."""
    values = np.asarray(values, np.float64)
    if not np.isfinite(values).any():
        return "n/a"
    mean = form(float(np.nanmean(values)))
    return mean if len(values) == 1 else f"{mean} ({', '.join(form(float(v)) for v in values)})"


def _solved_cell(updates: np.ndarray) -> str:
    """ "solved/ran, median updates of the solved"; NaN: not run, infinity: not solved."""
    ran, solved_updates = int((~np.isnan(updates)).sum()), updates[np.isfinite(updates)]
    if not ran:
        return "n/a"
    return f"{solved_updates.size}/{ran}" + (
        f", median {int(np.median(solved_updates)):,}" if solved_updates.size else ""
    )


def _header(result: dict[str, Any]) -> list[str]:
    config, machine = result["config"], result["machine"]
    load = result.get("load_average") or {}
    load_note = (
        f" (1-minute load average {load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the end)"
        if load.get("start") and load.get("end")
        else ""
    )
    segments = result.get("segments") or []
    sittings = (
        f" over {len(segments)} sittings, the same command resumed from its journal ("
        + "; ".join(
            f"{segment['started_at']}: {segment['jobs']} runs in {segment['wall_seconds'] / 60:.1f} min"
            for segment in segments
        )
        + ")"
        if segments
        else ""
    )
    budgets = [
        (updates, name)
        for task, name, updates in (
            ("recall", "recall", config["recall_updates"]),
            ("adding", "adding", config["adding_updates"]),
            ("associative", "associative recall", _associative_budget(config)),
        )
        if task in config["tasks"]
    ]
    budget = listing(
        [f"{updates:,}{' updates' if index == 0 else ''} ({name})" for index, (updates, name) in enumerate(budgets)],
        "or",
    )
    return [
        f"Produced by `{result['command']}` on {result['started_at']}; "
        f"the whole suite took {result['wall_seconds'] / 60:.1f} min "
        f"in {config['workers']} parallel process(es){sittings}{load_note}.",
        "",
        f"Machine: {machine_line(machine)}.",
        "",
        f"Budget, the same for every T, variant and seed: at most {budget} of {config['batch_size']} fresh sequences, "
        f"Adam {config['learning_rate']} (clipnorm {config['clipnorm']}), {config['units']} units, no dropout; "
        f"held-out score on {config['test_sequences']:,} sequences every {config['eval_interval']} updates, "
        f"and a run stops once solved (recall accuracy ≥ {100 * SOLVED_ACCURACY:.0f}%, adding MSE < {SOLVED_MSE}). "
        f"Seeds {', '.join(map(str, config['seeds']))}: "
        "a seed fixes the initial weights and, with the task and T, the data.",
        "",
        "Variants, all from `sentiment.models` with one `ModelConfig`: "
        "SimpleRNN as Keras builds it (tanh, orthogonal recurrent matrix); "
        "IRNN (ReLU, identity recurrent matrix, Le, Jaitly & Hinton 2015: the plain RNN's best case); "
        "LSTM and GRU with Keras's gate biases (LSTM forget gate 1, GRU update gate 0); "
        "and LSTM and GRU with chrono initialization (Tallec & Ollivier 2018) at "
        f"T_max = {config['chrono_horizon']} for every T of the sweep "
        "(fixed: the model does not know the test distance)." + _cells_that_ran(result),
        "",
        *_after_the_lstm_lines(result),
    ]


def _cells_that_ran(result: dict[str, Any]) -> str:
    """ " This run: ..." where the run left some of the six cell variants out ("" where it ran them all)."""
    from sentiment.config import AFTER_THE_LSTM

    cells = [variant for variant in VARIANTS if VARIANTS[variant][0] not in AFTER_THE_LSTM]
    ran = [variant for variant in variants_of(result) if variant in cells]
    return "" if ran == cells else f" This run: {', '.join(map(marked_name, ran)) or 'none of them'}."


def _after_the_lstm_lines(result: dict[str, Any]) -> list[str]:
    """What the variants after the LSTM are, when the suite ran any."""
    from sentiment.config import AFTER_THE_LSTM

    after = [variant for variant in variants_of(result) if VARIANTS[variant][0] in AFTER_THE_LSTM]
    if not after:
        return []
    return [
        "After the LSTM, and marked so: minGRU and minLSTM (Feng et al. 2024: gates from the input alone, a linear "
        "recurrence solved by a parallel scan), with gate biases 0 and with chrono initialization at the same "
        "T_max; and a Transformer (Vaswani et al. 2017: one attention block, learned positions, read at its last "
        "token, where a recurrent model's final state is), the same width. "
        f"Here: {', '.join(marked_name(variant) for variant in after)}.",
        "",
    ]


def _recall_section(result: dict[str, Any], plot_file: str | None) -> list[str]:
    from sentiment.report import markdown_table

    lengths, variants, _, accuracy = run_table(result, "recall")
    if not lengths:
        return []
    longest = lengths[-1]
    labels, lag_variants, by_lag = by_lag_table(result, longest)
    parts = [
        "## Variable-lag recall",
        "",
        "One signal token (one of two classes) at a random lag L in [T/2, T] before the final token, "
        f"among {result['config']['distractor_count']} distractor tokens; "
        "the classifier reads only the final state. Chance is 50%. "
        "Held-out accuracy at the end of the budget (mean over seeds, then each seed):",
        "",
        markdown_table(
            ["T", *map(marked_name, variants)],
            [
                [str(t), *(_mean_and_seeds(accuracy[i, j], _percent) for j in range(len(variants)))]
                for i, t in enumerate(lengths)
            ],
        ),
        "",
        f"Updates to reach {100 * SOLVED_ACCURACY:.0f}% (runs solved of those run, median updates of the solved ones):",
        "",
        markdown_table(
            ["T", *map(marked_name, variants)],
            [
                [str(t), *(_solved_cell(row) for row in solved)]
                for t, solved in zip(lengths, run_table(result, "recall", "solved_at")[3])
            ],
        ),
        "",
        f"At T = {longest}, accuracy by lag (mean over seeds):",
        "",
        markdown_table(
            ["lag L", *map(marked_name, lag_variants)],
            [[label, *(_percent(v) for v in row)] for label, row in zip(labels, by_lag)],
        ),
        "",
    ]
    parts += _embedding_lines(result, lengths, variants)
    if plot_file:
        parts += [f"![Recall accuracy against T, and by lag at T = {longest}]({plot_file})", ""]
    return parts


def _embedding_lines(result: dict[str, Any], lengths: list[int], variants: list[str]) -> list[str]:
    """The distractor-nulling check: distractor over signal embedding norm, at initialization and trained."""
    from sentiment.report import markdown_table

    runs = [run for run in result["runs"] if run["task"] == "recall" and "embedding_norms" in run]
    if not runs:
        return []

    def cell(length: int, variant: str) -> str:
        found = [run["embedding_norms"] for run in runs if run["length"] == length and run["variant"] == variant]
        if not found:
            return "n/a"
        init, trained = (
            float(np.mean([norms[phase]["distractor_over_signal"] for norms in found])) for phase in ("init", "trained")
        )
        return f"{init:.2f} → {trained:.2f}"

    return [
        "Did a model null the distractors? "
        "The mean embedding norm of the distractor tokens over that of the two signal tokens, "
        "at initialization → after training (mean over seeds). "
        "Near 0, the recurrence runs on almost no input between the signal and the readout, "
        "so a plain RNN can carry the bit without gates; the adding problem's real-valued inputs rule that out.",
        "",
        markdown_table(
            ["T", *map(marked_name, variants)], [[str(t), *(cell(t, v) for v in variants)] for t in lengths]
        ),
        "",
    ]


def _adding_section(result: dict[str, Any], plot_file: str | None) -> list[str]:
    from sentiment.report import markdown_table

    lengths, variants, _, mse = run_table(result, "adding")
    if not lengths:
        return []
    baselines = {
        t: np.mean([run["baseline_mse"] for run in result["runs"] if run["task"] == "adding" and run["length"] == t])
        for t in lengths
    }
    parts = [
        "## The adding problem",
        "",
        "Two channels per step, a value in [0, 1] and a marker; one marker in each half; "
        "the target is the sum of the two marked values. "
        "Real-valued inputs at every step cannot be zeroed by an embedding. "
        "The best constant prediction (the test targets' mean) scores the targets' variance, "
        f"{', '.join(f'{baselines[t]:.3f} at T = {t}' for t in lengths)}: a model at that level has learned nothing. "
        "Held-out MSE at the end of the budget (mean over seeds, then each seed):",
        "",
        markdown_table(
            ["T", "baseline", *map(marked_name, variants)],
            [
                [
                    str(t),
                    f"{baselines[t]:.3f}",
                    *(_mean_and_seeds(mse[i, j], lambda v: f"{v:.4f}") for j in range(len(variants))),
                ]
                for i, t in enumerate(lengths)
            ],
        ),
        "",
        f"Updates until the MSE fell below {SOLVED_MSE} (runs solved of those run, median updates of the solved ones; "
        f"a run that never did stopped at {result['config']['adding_updates']:,}):",
        "",
        markdown_table(
            ["T", *map(marked_name, variants)],
            [
                [str(t), *(_solved_cell(row) for row in solved)]
                for t, solved in zip(lengths, run_table(result, "adding", "solved_at")[3])
            ],
        ),
        "",
    ]
    if plot_file:
        parts += [f"![Adding problem: held-out MSE against updates, one panel per T]({plot_file})", ""]
    return parts


def _associative_section(result: dict[str, Any], plot_file: str | None) -> list[str]:
    from sentiment.report import markdown_table

    lengths, variants, _, accuracy = run_table(result, "associative")
    if not lengths:
        return []
    config = result["config"]
    chance = chance_accuracy("associative", config)
    solved = run_table(result, "associative", "solved_at")[3]
    parts = [
        "## Associative recall",
        "",
        f"P key-value pairs (keys distinct, drawn from {config['associative_keys']}; values from "
        f"{config['associative_values']}), each pair one token, then a query naming one of the P keys; the label is "
        f"that key's value. Chance is {_percent(chance)}. A recurrent model must hold all P pairs in its "
        f"{config['units']} units until the query; attention can look the queried key up. Every model reads "
        "its output at the query (a recurrent model its state, the transformer its last position: a mean over "
        "the positions would dilute the query among the pairs). Budget "
        f"{_associative_budget(config):,} updates, solved at {100 * SOLVED_ACCURACY:.0f}%. "
        "Held-out accuracy at the end of the budget "
        "(mean over seeds, then each seed):",
        "",
        markdown_table(
            ["pairs P (T = P + 1)", *map(marked_name, variants)],
            [
                [f"{t - 1} ({t})", *(_mean_and_seeds(accuracy[i, j], _percent) for j in range(len(variants)))]
                for i, t in enumerate(lengths)
            ],
        ),
        "",
        f"Updates to reach {100 * SOLVED_ACCURACY:.0f}% (runs solved of those run, median updates of the solved ones):",
        "",
        markdown_table(
            ["pairs P", *map(marked_name, variants)],
            [[str(t - 1), *(_solved_cell(row) for row in rows)] for t, rows in zip(lengths, solved)],
        ),
        "",
    ]
    parts += _still_climbing_lines(result)
    if plot_file:
        parts += [f"![Associative recall: held-out accuracy against the number of pairs]({plot_file})", ""]
    return parts


STILL_CLIMBING = 0.05  # accuracy gained over a budget's second half that says a run had not stopped learning


def _still_climbing_lines(result: dict[str, Any]) -> list[str]:
    """Whether the unsolved recurrent models of associative recall had stopped learning, per P, from their curves."""
    lengths, variants, gains = late_gains(result, "associative")
    recurrent = [j for j, variant in enumerate(variants) if has_state(variant)]
    if not recurrent:
        return []
    budget = _associative_budget(result["config"])
    climbing, flat = [], []
    for i, length in enumerate(lengths):
        means = [(float(np.nanmean(gains[i, j])), variants[j]) for j in recurrent if np.isfinite(gains[i, j]).any()]
        if not means:
            continue
        gain, variant = max(means)
        (climbing if gain >= STILL_CLIMBING else flat).append((length - 1, gain, variant))
    sentences = []
    if climbing:
        sentences.append(
            f"with {listing([str(p) for p, _, _ in climbing])} pairs a recurrent model was still climbing when "
            "the budget ran out ("
            + "; ".join(f"{marked_name(v)} gained {100 * g:.1f} points with {p}" for p, g, v in climbing)
            + "): there the table shows where the budget stopped it, not where it would end"
        )
    if flat:
        sentences.append(
            f"with {listing([str(p) for p, _, _ in flat])} pairs none gained more than "
            f"{100 * max(g for _, g, _ in flat):.1f} points: a plateau at the end of this budget, which does not "
            "show that more updates would not lift them"
        )
    text = "; ".join(sentences)
    return [
        f"Still learning, or stopped? Over the second half of the budget ({budget // 2:,} to {budget:,} updates, "
        f"mean over seeds, the recurrent model that gained most at each P): {text}.",
        "",
    ]


def _associative_budget(config: dict[str, Any]) -> int:
    """Associative recall's budget in a result's config (one written before it had its own ran on recall's)."""
    return config.get("associative_updates", config["recall_updates"])


def _jacobian_section(result: dict[str, Any], plot_file: str | None) -> list[str]:
    from sentiment.analysis.jacobians import FORGOTTEN_FRACTION
    from sentiment.report import markdown_table

    config, rows = result["config"], []
    length = max(config["lengths"])
    by_task = {
        task: {phase: jacobian_summaries(result, task, phase) for phase in ("init", "trained", "init_driven")}
        for task in config["tasks"]
    }
    for task, summaries in by_task.items():
        for variant, init in summaries["init"].items():
            trained = summaries["trained"].get(variant, {})
            rows.append([task, marked_name(variant), *_jacobian_cells(init), *_jacobian_cells(trained)])
        for variant, driven in summaries["init_driven"].items():
            rows.append(
                [
                    task,
                    f"{marked_name(variant)}, inputs × {config['driven_input_scale']:g}",
                    *_jacobian_cells(driven),
                    "–",
                    "–",
                ]
            )
    if not rows:
        return []
    parts = [
        f"## State Jacobians at T = {length}",
        "",
        "‖∂s_T/∂x_t‖ (Frobenius) of the final state s_T (h_T, and c_T for the LSTM) "
        "with respect to the input at each step, "
        f"geometric mean over {config['jacobian_sequences']} random sequences of the task and over seeds, "
        "at initialization and after training. "
        "Shrink per step: exp of the least-squares slope of log-norm against distance. "
        "Forgotten at: the first distance whose norm is below "
        f'{FORGOTTEN_FRACTION:g} of the norm at distance 0 ("beyond" where none within T). '
        "The inputs are what the layer reads: embedded tokens (recall) or the two channels (adding).",
        "",
        *_stateless_lines(result),
        *_silent_lines(by_task),
        markdown_table(
            [
                "task",
                "model",
                "shrink/step at init",
                "forgotten at (init)",
                "shrink/step trained",
                "forgotten at (trained)",
            ],
            rows,
        ),
        "",
    ]
    if plot_file:
        parts += [f"![State Jacobian norm against distance, at initialization and after training]({plot_file})", ""]
    return parts


def _stateless_lines(result: dict[str, Any]) -> list[str]:
    """What the Jacobian section says of minGRU and minLSTM, and of the variants without a state."""
    from sentiment.config import AFTER_THE_LSTM

    ran = variants_of(result)
    lines = []
    if any(VARIANTS[variant][0] in ("mingru", "minlstm") for variant in ran):
        lines.append(
            "minGRU's and minLSTM's step Jacobian ∂h_k/∂h_{k−1} is diagonal, their keep factor (minGRU: one minus "
            "its update gate), computed from the input alone: ∂h_T/∂x_t is the product of the keep factors after "
            "step t times the step's own ∂h_t/∂x_t, so its fall with distance is the product of its gates."
        )
    stateless = [marked_name(v) for v in ran if VARIANTS[v][0] in AFTER_THE_LSTM and not has_state(v)]
    if stateless:
        lines.append(
            f"{', '.join(stateless)}: no row, as there is no state carried from step to step to differentiate "
            "(every position reads every other in one attention layer)."
        )
    return [" ".join(lines), ""] if lines else []


def _silent_lines(by_task: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Which models' final state no input reaches (a zero Jacobian at every distance), and what that means.

    Args:
        by_task: task -> phase -> variant -> `jacobians.summarize` figures.
    """
    silent = [
        (task, phase, variant)
        for task, phases in by_task.items()
        for phase in ("init", "trained")
        for variant, summary in phases[phase].items()
        if summary.get("silent")
    ]
    if not silent:
        return []
    cases = "; ".join(
        f"{marked_name(variant)} on {task}, {'at initialization' if phase == 'init' else 'after training'}"
        for task, phase, variant in silent
    )
    relu = all(VARIANTS[variant][1] == "identity" for _, _, variant in silent)  # the IRNN, a ReLU cell
    why = "every one of its ReLU units is off at the last step, whatever the sequence (dead ReLUs), so " if relu else ""
    return [
        f"A zero norm at every distance, in every seed ({cases}): the final state depends on no input at all: "
        f"{why}the model answers the same for every input. Its row has no shrink factor, and its line lies on the "
        "plot's floor (the smallest float32).",
        "",
    ]


def _jacobian_cells(summary: dict[str, Any]) -> list[str]:
    if not summary:
        return ["–", "–"]
    if summary.get("silent"):
        return ["none", "no input reaches the state"]
    forgotten = summary["forgotten_at"]
    return [f"{summary['shrink_per_step']:.3f}", "beyond" if forgotten is None else f"{forgotten} steps"]


def _lag_shift_section(result: dict[str, Any], plot_file: str | None) -> list[str]:
    from sentiment.report import markdown_table

    shifts = result.get("lag_shift", [])
    if not shifts:
        return []
    trained = shifts[0]["trained_lag"]
    rows = []
    for variant in variants_of(result):
        runs = [run for run in shifts if run["variant"] == variant]
        if not runs:
            continue
        accuracy = np.array([run["accuracy"] for run in runs])
        at_trained = accuracy[:, runs[0]["lags"].index(trained)]
        others = np.delete(accuracy, runs[0]["lags"].index(trained), axis=1)
        solved_count = sum(run["solved_at"] is not None for run in runs)
        rows.append(
            [
                marked_name(variant),
                f"{solved_count}/{len(runs)}",
                _percent(float(at_trained.mean())),
                _percent(float(others.mean())),
                _percent(float(others.min())),
            ]
        )
    parts = [
        "## Lag-shift diagnostic: trained at one fixed lag, tested at its neighbours",
        "",
        f"The fixed-lag task puts the signal exactly {trained} steps before the final token in every sequence. "
        "Each variant is trained on it with the budget above, "
        f"then tested at every lag from {shifts[0]['lags'][0]} to {shifts[0]['lags'][-1]} "
        "(the signal first, then L distractors). "
        "A model that carries the bit does not care about the exact lag; "
        "a readout tuned to the state's phase at one lag does.",
        "",
        markdown_table(
            [
                "model",
                "solved at the trained lag",
                f"accuracy at L = {trained}",
                "mean at the other lags",
                "lowest at another lag",
            ],
            rows,
        ),
        "",
        *_stateless_shift_lines(shifts, trained),
    ]
    if plot_file:
        parts += [f"![Accuracy against the test lag for models trained at L = {trained}]({plot_file})", ""]
    return parts


def _stateless_shift_lines(shifts: list[dict[str, Any]], trained: int) -> list[str]:
    """Why a model without a state (the transformer) can miss at other lags: it reads from a new position."""
    lines = []
    for variant in dict.fromkeys(run["variant"] for run in shifts if not has_state(run["variant"])):
        runs = [run for run in shifts if run["variant"] == variant]
        lags = runs[0]["lags"]
        accuracy = np.delete(np.array([run["accuracy"] for run in runs]), lags.index(trained), axis=1)
        lines += [
            f"{marked_name(variant)} carries no state, so this diagnostic asks it something else. Every test "
            "sequence has its signal at position 0 and is read at its last token, position L; with a learned "
            f"embedding per position, it was trained reading at position {trained} only. At another lag it reads "
            f"from a position it never read from (and past {trained}, one it never saw), so its "
            f"{_percent(float(accuracy.mean()))} there (mean over the other lags and seeds) measures how its position "
            "embeddings carry over to new positions, not how long it remembers.",
            "",
        ]
    return lines


PLOT_FILES = {
    "recall": "long_range_recall.png",
    "adding": "long_range_adding.png",
    "associative": "long_range_associative.png",
    "jacobians": "jacobians.png",
    "lag_shift": "lag_shift.png",
}


def results_markdown(result: dict[str, Any], plot_files: dict[str, str] | None = None) -> str:
    """Renders a suite result as a self-contained Markdown page.

    Args:
        result: from `run_suite` (or its JSON).
        plot_files: plot kind ("recall", "adding", "associative", "jacobians", "lag_shift")
            -> its path relative to the page; None links none.
    """
    plots = plot_files or {}
    parts = [
        "# Memory on long-range tasks: SimpleRNN vs LSTM vs GRU",
        "",
        *_header(result),
        *_recall_section(result, plots.get("recall")),
        *_adding_section(result, plots.get("adding")),
        *_associative_section(result, plots.get("associative")),
        *_jacobian_section(result, plots.get("jacobians")),
        *_lag_shift_section(result, plots.get("lag_shift")),
    ]
    return "\n".join(parts).rstrip() + "\n"


def write_results(result: dict[str, Any], output: str | Path) -> dict[str, Path]:
    """Writes long_range.json, long_range.md and the figures, each atomically.

    Returns:
        The written paths by kind: "json", "markdown" and the plot kinds that had data.
    """
    from sentiment.io import files

    output = Path(output)
    written = {"json": output / "long_range.json", "markdown": output / "long_range.md"}
    files.write_json(written["json"], result)
    for kind, draw in _FIGURES.items():
        if draw(result, output / PLOT_FILES[kind]):
            written[kind] = output / PLOT_FILES[kind]
    files.write_text(
        written["markdown"],
        results_markdown(result, {kind: path.name for kind, path in written.items() if kind in PLOT_FILES}),
    )
    return written


def _draw_recall(result: dict[str, Any], path: Path) -> bool:
    from sentiment.analysis.plots import plot_recall

    lengths, variants, _, accuracy = run_table(result, "recall")
    if not lengths:
        return False
    labels, lag_variants, by_lag = by_lag_table(result, lengths[-1])
    plot_recall(lengths, variants, accuracy, labels, by_lag[:, [lag_variants.index(v) for v in variants]], path)
    return True


def _draw_adding(result: dict[str, Any], path: Path) -> bool:
    from sentiment.analysis.plots import plot_adding

    runs = [run for run in result["runs"] if run["task"] == "adding"]
    if not runs:
        return False
    curves: dict[int, dict[str, list]] = {}
    for run in runs:
        curves.setdefault(run["length"], {}).setdefault(run["variant"], []).append((run["updates"], run["scores"]))
    baselines = {
        length: float(np.mean([run["baseline_mse"] for run in runs if run["length"] == length])) for length in curves
    }
    plot_adding(curves, baselines, SOLVED_MSE, path)
    return True


def _draw_associative(result: dict[str, Any], path: Path) -> bool:
    from sentiment.analysis.plots import plot_associative

    lengths, variants, _, accuracy = run_table(result, "associative")
    if not lengths:
        return False
    plot_associative(
        [t - 1 for t in lengths], variants, accuracy, chance_accuracy("associative", result["config"]), path
    )
    return True


def _draw_jacobians(result: dict[str, Any], path: Path) -> bool:
    from sentiment.analysis.plots import plot_jacobians

    driven_scale = result["config"]["driven_input_scale"]
    panels = []
    for task in result["config"]["tasks"]:
        for phase, title in (("init", "at initialization"), ("trained", "after training")):
            curves = jacobian_curves(result, task, phase)
            if phase == "init":
                curves.update(
                    {
                        f"{variant}, inputs × {driven_scale:g}": values
                        for variant, values in jacobian_curves(result, task, "init_driven").items()
                    }
                )
            if curves:
                panels.append((f"{task}: {title}", curves))
    if not panels:
        return False
    plot_jacobians(panels, path)
    return True


def _draw_lag_shift(result: dict[str, Any], path: Path) -> bool:
    from sentiment.analysis.plots import plot_lag_shift

    shifts = result.get("lag_shift", [])
    if not shifts:
        return False
    accuracy = {
        variant: np.array([run["accuracy"] for run in shifts if run["variant"] == variant])
        for variant in variants_of(result)
        if any(run["variant"] == variant for run in shifts)
    }
    plot_lag_shift(shifts[0]["lags"], accuracy, shifts[0]["trained_lag"], path)
    return True


_FIGURES = {
    "recall": _draw_recall,
    "adding": _draw_adding,
    "associative": _draw_associative,
    "jacobians": _draw_jacobians,
    "lag_shift": _draw_lag_shift,
}
