"""Sentiment at a distance: memory on real IMDB reviews.

A classifier that keeps the last 400 tokens of a review and reads its final
state needs only a few dozen words of memory: the verdict is usually near the
end. Here the distance between the evidence and the readout is the controlled
variable. Each example is

    the first k tokens of a review, a separator token, then T filler tokens

where the filler is a window of T consecutive tokens from the reviews of one
label drawn independently of the review's own (training reviews in training,
test reviews in evaluation). The filler is real review text in the same
vocabulary, carrying its own sentiment, so a model cannot learn to ignore it
by its words; only the separator says where the review ended. The label is
the review's, so the model must carry the review's sentiment across T steps
of competing sentiment. On the examples whose filler has the other label, a
model that forgets (and follows the filler) falls below 50%.

Every model trains with the same budget on fresh filler each epoch, under a
schedule of T (see `SCHEDULES`), through the project's one training step
(`sentiment.training.loop.TrainingStep`) with the long-range suite's
optimizer. Two controls: a bag-of-embeddings model (mean of the word vectors,
no recurrence: it cannot tell review from filler), and an LSTM trained at
T = 0 only (it never saw filler).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sentiment.analysis.parallel import run_all
from sentiment.config import BAG_OF_EMBEDDINGS, SCHEDULES, ZERO_ONLY, DistanceConfig, TrainConfig, to_dict
from sentiment.io import provenance
from sentiment.io.provenance import machine_line

# The curriculum's longest T in its first epochs; its last epochs reach `max_train_filler`.
CURRICULUM_STEPS = (0, 50, 100, 200)
# The filler pools read every review in full, up to this many tokens.
POOL_REVIEW_TOKENS = 1000

# --- Building the examples -------------------------------------------------


def filler_lengths(
    schedule: str,
    epoch: int,
    epochs: int,
    count: int,
    max_filler: int,
    zero_share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """<int64>[count] filler lengths T for one training epoch under `schedule`."""
    if schedule == "zero":
        return np.zeros(count, np.int64)
    longest = max_filler if schedule == "mixed" else curriculum_max(epoch, epochs, max_filler)
    lengths = rng.integers(0, longest + 1, size=count)
    lengths[rng.random(count) < zero_share] = 0
    return lengths


def curriculum_max(epoch: int, epochs: int, max_filler: int) -> int:
    """The longest T of a curriculum epoch: 0, 50, 100, 200 (capped at `max_filler`), last epochs at `max_filler`."""
    steps = [min(step, max_filler) for step in CURRICULUM_STEPS if step < max_filler] + [max_filler]
    offset = max(0, len(steps) - epochs)  # fewer epochs than steps: skip the first steps
    return steps[min(offset + epoch, len(steps) - 1)]


def token_pools(ids: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """Label -> <int32>[tokens]: the real tokens of every review of that label, concatenated in order."""
    return {label: ids[labels == label][ids[labels == label] != 0].astype(np.int32) for label in (0, 1)}


def build_examples(
    review_ids: np.ndarray,
    fillers: np.ndarray,
    pools: dict[int, np.ndarray],
    separator_id: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Review prefix, separator, then a window of filler from an independently drawn label.

    Args:
        review_ids: <int>[n, k] each review's first k token ids, right-padded.
        fillers: <int>[n] the filler length T of each example.
        pools: from `token_pools` (the split the filler is taken from).
        separator_id: the separator's token id.
        rng: draws the filler labels and windows.

    Returns:
        token_ids <int32>[n, longest] right-padded examples, and
        filler_labels <int64>[n] (each drawn with probability 1/2, whatever
        the review's label).
    """
    from sentiment.errors import SentimentError

    shortest = min(len(pool) for pool in pools.values())
    if len(fillers) and int(np.max(fillers)) > shortest:
        raise SentimentError(
            f"a filler of {int(np.max(fillers))} tokens needs more text: "
            f"one label's reviews hold only {shortest} tokens"
        )
    filler_labels = rng.integers(0, 2, size=len(review_ids))
    lengths = np.count_nonzero(review_ids, axis=1)
    out = np.zeros((len(review_ids), int((lengths + 1 + fillers).max(initial=1))), np.int32)
    for row, (review_length, filler, label) in enumerate(zip(lengths, fillers, filler_labels)):
        pool = pools[int(label)]
        start = rng.integers(0, len(pool) - filler + 1)
        out[row, :review_length] = review_ids[row, :review_length]
        out[row, review_length] = separator_id
        out[row, review_length + 1 : review_length + 1 + filler] = pool[start : start + filler]
    return out, filler_labels


def prepare_data(config: DistanceConfig, seed: int) -> dict[str, np.ndarray]:
    """IMDB as token ids: each review's first k tokens, and every review in full for the filler pools.

    The reviews come from `config.data` (validation carved out of the
    training split first, with the seed); the vocabulary is adapted on the
    training split; the test sample is `config.test_reviews` seeded test
    reviews.

    Returns:
        Plain numeric arrays (`save_arrays` hands them to the worker
        processes): `train_ids`, `validation_ids`, `test_ids`
        <int32>[n, review_tokens] right-padded; `train_labels`,
        `validation_labels`, `test_labels` <int64>[n]; `train_full`,
        `test_full` <int32>[n, POOL_REVIEW_TOKENS], the filler pools' text.
    """
    from sentiment import data

    splits = data.load_splits(config.data, seed)
    vocabulary_size = config.data.vocabulary_size
    vocabulary = data.adapt_vocabulary(splits.train.texts, vocabulary_size, config.data.vocabulary_samples)
    prefix = data.TextEncoder(vocabulary, config.review_tokens, "right", vocabulary_size)
    full = data.TextEncoder(vocabulary, POOL_REVIEW_TOKENS, "right", vocabulary_size)
    sample = np.sort(np.random.default_rng([seed, 1]).permutation(len(splits.test))[: config.test_reviews])
    test = splits.test.take(sample)
    return {
        "train_ids": prefix.encode(splits.train.texts, to_sequence_length=True),
        "train_labels": splits.train.labels.astype(np.int64),
        "validation_ids": prefix.encode(splits.validation.texts, to_sequence_length=True),
        "validation_labels": splits.validation.labels.astype(np.int64),
        "test_ids": prefix.encode(test.texts, to_sequence_length=True),
        "test_labels": test.labels.astype(np.int64),
        "train_full": full.encode(splits.train.texts, to_sequence_length=True),
        "test_full": full.encode(test.texts, to_sequence_length=True),
    }


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes numeric arrays to one .npz; an array of objects (which only pickle could store) is refused."""
    np.savez(path, allow_pickle=False, **arrays)


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Reads a `save_arrays` file without pickle: nothing in it can run code."""
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


# --- Training and evaluation -----------------------------------------------


def build_model(config: DistanceConfig, model_name: str, seed: int):
    """One model of the comparison, seeded, with the optimizer `config.train_config()` gives every model.

    Its vocabulary is `config.data.vocabulary_size` words and one more id,
    the separator.
    """
    import keras

    from sentiment.models import build_classifier
    from sentiment.training import loop

    keras.utils.set_random_seed(seed)
    model = build_classifier(config.model_config(model_name), config.data.vocabulary_size + 1)
    loop.compile_for_training(model, config.train_config(), steps_per_epoch=1)
    # Adam's slots exist before the step is traced, as in the long-range suite.
    model.optimizer.build(model.trainable_variables)
    return model


def train_epoch(
    step,
    token_ids: np.ndarray,
    labels: np.ndarray,
    train_config: TrainConfig,
    shuffle_seed: int,
) -> dict[str, float]:
    """One pass over the examples, one `TrainingStep` update per length-bucketed batch.

    Args:
        step: the model's `sentiment.training.loop.TrainingStep`, made once
            per model: its `on_iterator` is traced once, for batches of any
            length.
        token_ids: <int32>[n, time] right-padded examples.
        labels: <int>[n] the reviews' labels.
        train_config: the batch size and the bucketing window.
        shuffle_seed: the order of the examples and of the batches.

    Returns:
        The epoch's `loss` and `accuracy`, averaged over its examples.
    """
    from sentiment import data
    from sentiment.training import loop

    batches = data.batched_dataset(
        token_ids, labels, train_config.batch_size, shuffle_seed=shuffle_seed, bucket_window=train_config.bucket_window
    )
    return loop.run_epoch(step.on_iterator, batches, steps=-(-len(labels) // train_config.batch_size))


def train_model(
    config: DistanceConfig,
    model_name: str,
    schedule: str,
    seed: int,
    arrays: dict[str, np.ndarray],
    log: Callable[[str], None] | None = None,
) -> tuple[Any, dict[str, list[float]]]:
    """Trains one model under one schedule, on fresh filler each epoch.

    Args:
        arrays: from `prepare_data`.
        log: takes a line per epoch; None says nothing.

    Returns:
        The trained model, and per epoch `train_loss` (the mean over the
        epoch's examples) and `validation_accuracy` (validation reviews at
        T = 0).
    """
    from sentiment.training import loop

    separator = config.data.vocabulary_size  # one id past the vocabulary
    model = build_model(config, model_name, seed)
    step, train_config = loop.TrainingStep(model), config.train_config()
    pools = token_pools(arrays["train_full"], arrays["train_labels"])
    rng = np.random.default_rng([seed, 2, SCHEDULES.index(schedule)])
    history: dict[str, list[float]] = {"train_loss": [], "validation_accuracy": []}
    validation_ids = build_examples(
        arrays["validation_ids"], np.zeros(len(arrays["validation_ids"]), np.int64), pools, separator, rng
    )[0]
    for epoch in range(config.epochs):
        fillers = filler_lengths(
            schedule, epoch, config.epochs, len(arrays["train_ids"]), config.max_train_filler, config.zero_share, rng
        )
        ids, _ = build_examples(arrays["train_ids"], fillers, pools, separator, rng)
        logs = train_epoch(step, ids, arrays["train_labels"], train_config, shuffle_seed=seed + epoch)
        history["train_loss"].append(logs["loss"])
        history["validation_accuracy"].append(score(model, validation_ids, arrays["validation_labels"])["accuracy"])
        if log is not None:
            log(
                f"{model_name} ({schedule}, seed {seed}) epoch {epoch + 1}/{config.epochs}: "
                f"T up to {int(fillers.max())}, loss {logs['loss']:.4f}, "
                f"validation accuracy {history['validation_accuracy'][-1]:.4f}"
            )
    return model, history


def train_and_evaluate(
    config: DistanceConfig,
    model_name: str,
    schedule: str,
    seed: int,
    data_path: str,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Trains one model under one schedule; scores it at every test filler length.

    Args:
        data_path: a `save_arrays` file of `prepare_data`'s arrays.
        log: takes a line per epoch (`train_model`); None in a worker
            process, whose runs report when they finish.

    Returns:
        JSON-ready: `model`, `schedule`, `seed`, per-epoch `train_loss`,
        `validation_accuracy` (validation reviews at T = 0), `by_filler`
        (from `score_at_fillers`), `parameters`, `train_seconds`, `wall_seconds`.
    """
    started = time.perf_counter()
    arrays = load_arrays(data_path)
    model, history = train_model(config, model_name, schedule, seed, arrays, log)
    train_seconds = time.perf_counter() - started
    by_filler = score_at_fillers(model, arrays, config, seed, config.data.vocabulary_size)
    return {
        "model": model_name,
        "schedule": schedule,
        "seed": seed,
        "train_loss": history["train_loss"],
        "validation_accuracy": history["validation_accuracy"],
        "by_filler": by_filler,
        "parameters": int(model.count_params()),
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - started,
    }


def score(model, token_ids: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy with its 95% Wilson interval, on the examples `mask` selects."""
    from sentiment.evaluate import wilson_interval
    from sentiment.training.loop import predict_probabilities

    mask = np.ones(len(labels), bool) if mask is None else mask
    correct = (predict_probabilities(model, token_ids[mask], length_bucketing=True) >= 0.5) == (labels[mask] == 1)
    low, high = wilson_interval(int(correct.sum()), int(correct.size))
    return {
        "accuracy": float(correct.mean()) if correct.size else None,
        "ci_low": low,
        "ci_high": high,
        "count": int(correct.size),
    }


def score_at_fillers(
    model,
    arrays: dict[str, np.ndarray],
    config: DistanceConfig,
    seed: int,
    separator: int,
) -> list[dict[str, Any]]:
    """Test accuracy at each T: overall, and where the filler's label disagrees with the review's.

    The same test reviews at every T; the filler comes from the test
    reviews' pools with its own seeded generator per T.
    """
    pools = token_pools(arrays["test_full"], arrays["test_labels"])
    labels, rows = arrays["test_labels"], []
    for filler in config.test_fillers:
        rng = np.random.default_rng([seed, 3, filler])
        ids, filler_labels = build_examples(
            arrays["test_ids"], np.full(len(labels), filler, np.int64), pools, separator, rng
        )
        overall = score(model, ids, labels)
        disagree = score(model, ids, labels, filler_labels != labels) if filler else None
        rows.append({"filler": filler, "overall": overall, "disagree": disagree})
    return rows


def run_distance(
    config: DistanceConfig,
    log: Callable[[str], None] = print,
    command: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Prepares each seed's data once, trains every model (in parallel processes), and collects the figures.

    Args:
        config: the models, the task and the budget; `config.data` says
            where the reviews come from.
        log: takes the lines of progress: a line as each seed's data is
            prepared and as each run finishes, and with one worker (every
            run in this process) a line per epoch.
        command: the command line, recorded with the figures.
        progress: a progress bar over the runs, with the run and epoch lines
            written above it, instead of through `log`.

    Returns:
        JSON-ready: `config`, `command`, `machine`, `started_at`,
        `wall_seconds`, `load_average` (start and end), `train_reviews` and
        `runs` (from `train_and_evaluate`, in `config.models()` order, then by seed).
    """
    from tqdm import tqdm

    measurement = provenance.Measurement()
    runs, train_reviews = [], 0
    with tempfile.TemporaryDirectory() as folder:
        jobs = []
        for seed in config.seeds:
            log(f"seed {seed}: loading the reviews and building the token pools")
            arrays = prepare_data(config, seed)
            train_reviews = int(len(arrays["train_ids"]))
            path = os.path.join(folder, f"distance_data_{seed}.npz")
            save_arrays(path, arrays)
            jobs += [(config, model, schedule, seed, path) for model, schedule in config.models()]
        bar = tqdm(total=len(jobs), unit="run", disable=not progress, dynamic_ncols=True)
        report = bar.write if progress else log
        if config.workers == 1:  # every run in this process: it can report its epochs
            jobs = [(*job, report) for job in jobs]
        for run in run_all(train_and_evaluate, jobs, config.workers):
            runs.append(run)
            bar.update()
            report(_log_line(run))
        bar.close()
    order = config.models()
    runs.sort(key=lambda run: (order.index((run["model"], run["schedule"])), run["seed"]))
    return {
        "config": to_dict(config),
        **measurement.record(command),
        "train_reviews": train_reviews,
        "runs": runs,
    }


def _log_line(run: dict[str, Any]) -> str:
    figures = ", ".join(f"T={row['filler']}: {100 * row['overall']['accuracy']:.1f}%" for row in run["by_filler"])
    return f"{run['model']} ({run['schedule']}, seed {run['seed']}): {figures} ({run['wall_seconds']:.0f} s)"


# --- The page and the files --------------------------------------------------


def display_name(model: str, schedule: str, main_schedule: str) -> str:
    """ "LSTM", "LSTM (mixed schedule)", "bag of embeddings", "LSTM trained at T = 0"."""
    from sentiment.report import model_name

    if model == BAG_OF_EMBEDDINGS:
        return "bag of embeddings"
    if model == ZERO_ONLY:
        return "LSTM trained at T = 0"
    return model_name(model) + ("" if schedule == main_schedule else f" ({schedule} schedule)")


def accuracy_rows(result: dict[str, Any], part: str) -> tuple[list[int], list[str], list[list[dict[str, Any] | None]]]:
    """Filler lengths, model names and, per T, each model's `part` ("overall" or "disagree") figures over seeds.

    Each figure: `accuracy` (the mean of the seeds' accuracies), `ci_low`
    and `ci_high` (the 95% Wilson interval of every seed's examples pooled),
    `count` (those examples) and `seeds` (each seed's accuracy); None where
    nothing was measured (the disagreeing examples at T = 0).
    """
    from sentiment.evaluate import wilson_interval

    main = result["config"]["schedule"]
    models = list(dict.fromkeys((run["model"], run["schedule"]) for run in result["runs"]))
    fillers = result["config"]["test_fillers"]
    table = []
    for index in range(len(fillers)):
        row = []
        for model, schedule in models:
            entries = [
                run["by_filler"][index][part]
                for run in result["runs"]
                if (run["model"], run["schedule"]) == (model, schedule)
            ]
            entries = [entry for entry in entries if entry and entry["accuracy"] is not None]
            if not entries:
                row.append(None)
                continue
            hits, count = (
                sum(round(entry["accuracy"] * entry["count"]) for entry in entries),
                sum(entry["count"] for entry in entries),
            )
            low, high = wilson_interval(hits, count)
            seeds = [entry["accuracy"] for entry in entries]
            row.append(
                {"accuracy": float(np.mean(seeds)), "ci_low": low, "ci_high": high, "count": count, "seeds": seeds}
            )
        table.append(row)
    return fillers, [display_name(model, schedule, main) for model, schedule in models], table


def _cell(entry: dict[str, Any] | None) -> str:
    if not entry or entry["accuracy"] is None:
        return "–"
    text = f"{100 * entry['accuracy']:.1f}% [{100 * entry['ci_low']:.1f}, {100 * entry['ci_high']:.1f}]"
    seeds = entry.get("seeds", [])
    return text + (f" ({', '.join(f'{100 * value:.1f}' for value in seeds)})" if len(seeds) > 1 else "")


def results_markdown(result: dict[str, Any], plot_file: str | None = "distance.png") -> str:
    """Renders a `run_distance` result as a self-contained Markdown page."""
    from sentiment.report import markdown_table

    config, machine = result["config"], result["machine"]
    load = result.get("load_average") or {}
    load_note = (
        f" (1-minute load average {load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the end)"
        if load.get("start") and load.get("end")
        else ""
    )
    fillers, names, overall = accuracy_rows(result, "overall")
    _, _, disagree = accuracy_rows(result, "disagree")
    parts = [
        "# Sentiment at a distance: memory on real reviews",
        "",
        f"Produced by `{result['command']}` on {result['started_at']}; it took {result['wall_seconds'] / 60:.1f} min "
        f"in {config['workers']} parallel process(es){load_note}.",
        "",
        f"Machine: {machine_line(machine)}.",
        "",
        f"Each example: the first {config['review_tokens']} tokens of an IMDB review, a separator token, "
        "then T tokens of filler: a window of consecutive tokens from the reviews of a label drawn independently "
        "of the review's (training reviews in training, test reviews at test). The label is the review's. "
        "On the examples whose filler has the other label, a model that forgets the review and follows the filler "
        "falls below 50%.",
        "",
        f"Training, the same for every model: {result['train_reviews']:,} training reviews (validation carved out), "
        f"{config['epochs']} epochs with fresh filler each epoch, batch {config['batch_size']}, "
        f"Adam {config['learning_rate']} (clipnorm {config['clipnorm']}), embedding {config['embedding_dim']}, "
        f"{config['units']} units, the project's default head (final state) and dropout; "
        f"seeds {', '.join(map(str, config['seeds']))}, each fixing the "
        "validation split, the test sample, the filler, the weights and the order. "
        f'Schedule "{config["schedule"]}"{_schedule_text(config["schedule"], config)}'
        + (
            f'; the cells were also trained under "{config["other_schedule"]}"'
            f"{_schedule_text(config['other_schedule'], config)}"
            if config.get("other_schedule")
            else ""
        )
        + (
            ". Controls: a bag of embeddings (the mean of the word vectors, no recurrence, so it cannot tell "
            "the review from the filler) and an LSTM trained at T = 0 only."
        ),
        "",
        f"Scored on {config['test_reviews']:,} test reviews per seed at every T: the mean over seeds, "
        "the 95% Wilson interval of all seeds' examples pooled, and each seed's accuracy.",
        "",
        "## Accuracy, all examples",
        "",
        markdown_table(["T", *names], [[str(t), *map(_cell, row)] for t, row in zip(fillers, overall)]),
        "",
        "## Accuracy where the filler's label is the other one",
        "",
        markdown_table(["T", *names], [[str(t), *map(_cell, row)] for t, row in zip(fillers, disagree) if t > 0]),
        "",
    ]
    parts += _schedule_comparison(result, fillers, names, overall)
    if plot_file:
        parts += [
            f"![Accuracy against the filler length T, all examples and where the filler disagrees]({plot_file})",
            "",
        ]
    return "\n".join(parts)


def _schedule_comparison(
    result: dict[str, Any], fillers: list[int], names: list[str], overall: list[list]
) -> list[str]:
    """Why the main schedule: each cell's accuracy at T = 0 and at the longest T under both schedules."""
    config = result["config"]
    other = config.get("other_schedule")
    if not other or 0 not in fillers:
        return []
    longest, pairs = fillers[-1], []
    for cell in config["cell_types"]:
        main_name, other_name = (
            display_name(cell, config["schedule"], config["schedule"]),
            display_name(cell, other, config["schedule"]),
        )
        if main_name in names and other_name in names:
            figures = [
                overall[fillers.index(t)][names.index(name)] for t in (0, longest) for name in (main_name, other_name)
            ]
            shown = [f"{100 * entry['accuracy']:.1f}%" for entry in figures]
            pairs.append(f"{main_name} {shown[0]} / {shown[1]} at T = 0, {shown[2]} / {shown[3]} at T = {longest}")
    return [
        f'The schedule: "{config["schedule"]}" is the one reported first; '
        "under it the cells first learn to read reviews with little or no filler, "
        "then to keep what they read over longer filler. "
        f'Accuracy on all examples, "{config["schedule"]}" / "{other}": ' + "; ".join(pairs) + ".",
        "",
    ]


def _schedule_text(schedule: str, config: dict[str, Any]) -> str:
    share = f"{100 * config['zero_share']:.0f}%"
    if schedule == "curriculum":
        steps = [
            curriculum_max(epoch, config["epochs"], config["max_train_filler"]) for epoch in range(config["epochs"])
        ]
        return (
            f" (the longest T grows epoch by epoch: {', '.join(map(str, steps))}; "
            f"{share} of the examples at T = 0, the rest uniform up to that)"
        )
    return (
        f" ({share} of the examples at T = 0, "
        f"the rest uniform in [0, {config['max_train_filler']}] from the first epoch)"
    )


def write_results(result: dict[str, Any], output: str | Path) -> dict[str, Path]:
    """Writes distance.json, distance.md and distance.png atomically; returns their paths."""
    from sentiment.analysis.plots import plot_distance
    from sentiment.io import files

    output = Path(output)
    paths = {"json": output / "distance.json", "markdown": output / "distance.md", "plot": output / "distance.png"}
    files.write_json(paths["json"], result)
    fillers, names, overall = accuracy_rows(result, "overall")
    disagree = accuracy_rows(result, "disagree")[2]
    plot_distance(fillers, names, overall, disagree, paths["plot"])
    files.write_text(paths["markdown"], results_markdown(result, paths["plot"].name))
    return paths
