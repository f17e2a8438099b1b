"""A synthetic long-range dependency benchmark for the three recurrent cells.

The task (Hochreiter & Schmidhuber 1997, experiment 2, in token form): each
sequence is one *signal* token, which is one of two classes, followed by T
random *distractor* tokens. The label is the class of the signal token, so the
classifier, which reads only the recurrent state after the final token, must
carry one bit across exactly T steps of noise. Chance is 50%.

SimpleRNN, LSTM and GRU are built with the project's own
`sentiment.models.build_classifier` from one `ModelConfig` that differs only
in `cell_type`, and trained on the same sequences, in the same order, with the
same optimizer, epochs and batch size. Every distance gets fresh data from a
seed derived from `(seed, distance)`, so adding a distance does not change the
others' figures. Whether a cell finds the solution within a small budget can
hinge on the seed, so a sweep can repeat every run over several seeds.

Gated cells run twice by default: with Keras's gate biases, and with chrono
initialization (`ModelConfig.chrono_max_steps`, Tallec & Ollivier 2018) for
dependencies as long as the sequence. With Keras's biases an LSTM's forget
gate starts near sigmoid(1) = 0.73, so what it stored fades within a few
steps until training has opened the gate, and on a small budget that can
fail at long distances for reasons of initialization, not capacity. The
chrono variant starts the gates open; SimpleRNN has no gate to open.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sentiment.config import CELL_TYPES, ModelConfig, to_dict
from sentiment.report import load_average

# Token ids keep the IMDB models' layout: 0 is padding (masked), 1 is the
# unused [UNK] slot, then the two signal tokens, then the distractors.
SIGNAL_IDS = (2, 3)  # class 0, class 1
FIRST_DISTRACTOR_ID = 4
CHANCE_ACCURACY = 0.5

DEFAULT_DISTANCES = (10, 25, 50, 100, 200, 500)
# Gate-bias initializations: Keras's defaults, or chrono initialization.
GATE_INITS = ("keras", "chrono")
GATED_CELLS = ("lstm", "gru")


def variant_name(cell_type: str, gate_init: str) -> str:
    """The key of one model variant: "lstm", or "lstm+chrono" for chrono init."""
    return cell_type if gate_init == "keras" else f"{cell_type}+{gate_init}"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class LongRangeConfig:
    """The benchmark: distances, data sizes and one training budget for all cells.

    One seed of the default sweep (6 distances x 5 model variants) takes
    about 15 minutes on a quiet 2-core CPU; docs/long_range/long_range.md
    has the measured time of three seeds.

    Attributes:
        distances: steps between the signal token and the final token (T).
        cell_types: which of "simple_rnn", "lstm", "gru" to train.
        distractor_count: how many distinct distractor tokens there are.
        train_sequences: training sequences per distance.
        test_sequences: held-out sequences per distance, for the accuracy.
        epochs: passes over the training sequences (no early stopping: every
            cell gets exactly this budget).
        batch_size: sequences per step.
        learning_rate: Adam learning rate, constant.
        clipnorm: gradient norm clipping, as in the IMDB training.
        embedding_dim: token embedding width.
        units: recurrent units.
        seeds: each run is repeated once per seed; a seed fixes the data
            (with the distance), the initial weights and the shuffling.
        gate_inits: gate-bias initializations to run the gated cells with:
            "keras" (Keras's defaults) and/or "chrono" (chrono
            initialization for dependencies as long as the sequence).
            SimpleRNN has no gates and runs once, with "keras".
    """

    distances: tuple[int, ...] = DEFAULT_DISTANCES
    cell_types: tuple[str, ...] = CELL_TYPES
    distractor_count: int = 16
    train_sequences: int = 2000
    test_sequences: int = 1000
    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 3e-3
    clipnorm: float = 1.0
    embedding_dim: int = 16
    units: int = 32
    seeds: tuple[int, ...] = (0,)
    gate_inits: tuple[str, ...] = GATE_INITS

    def __post_init__(self) -> None:
        _require(len(self.distances) > 0, "distances must name at least one distance")
        _require(all(isinstance(d, int) and d >= 1 for d in self.distances), f"distances must be positive integers, got {self.distances!r}")
        _require(len(set(self.distances)) == len(self.distances), f"distances must not repeat, got {self.distances!r}")
        _require(len(self.cell_types) > 0, "cell_types must name at least one cell type")
        unknown = [cell for cell in self.cell_types if cell not in CELL_TYPES]
        _require(not unknown, f"unknown cell type {', '.join(map(repr, unknown))}; choose from {', '.join(CELL_TYPES)}")
        _require(self.distractor_count >= 1, "distractor_count must be at least 1")
        _require(self.train_sequences >= 2, "train_sequences must be at least 2")
        _require(self.test_sequences >= 1, "test_sequences must be at least 1")
        _require(self.epochs >= 1, "epochs must be at least 1")
        _require(self.batch_size >= 1, "batch_size must be at least 1")
        _require(self.learning_rate > 0, "learning_rate must be positive")
        _require(self.clipnorm > 0, "clipnorm must be positive")
        _require(self.embedding_dim >= 1, "embedding_dim must be at least 1")
        _require(self.units >= 1, "units must be at least 1")
        _require(len(self.seeds) > 0, "seeds must name at least one seed")
        _require(all(isinstance(s, int) and s >= 0 for s in self.seeds), f"seeds must be integers >= 0, got {self.seeds!r}")
        _require(len(set(self.seeds)) == len(self.seeds), f"seeds must not repeat, got {self.seeds!r}")
        _require(
            len(self.gate_inits) > 0 and set(self.gate_inits) <= set(GATE_INITS) and len(set(self.gate_inits)) == len(self.gate_inits),
            f"gate_inits must name one or both of {', '.join(GATE_INITS)} once each, got {self.gate_inits!r}",
        )

    @property
    def vocabulary_size(self) -> int:
        return FIRST_DISTRACTOR_ID + self.distractor_count

    def model_config(self, cell_type: str, gate_init: str = "keras", distance: int | None = None) -> ModelConfig:
        """The classifier for this task: the IMDB architecture without dropout.

        Dropout would only add noise to a task that has none to regularize;
        "last" pooling makes the head read the state after the final token.
        "chrono" sets the gate biases for dependencies up to the sequence's
        length, `distance + 1` steps (at least 3).
        """
        chrono = gate_init == "chrono" and cell_type in GATED_CELLS
        _require(not chrono or distance is not None, "chrono initialization needs the distance")
        return ModelConfig(
            cell_type=cell_type,
            embedding_dim=self.embedding_dim,
            units=self.units,
            word_dropout_rate=0.0,
            dropout_rate=0.0,
            pooling="last",
            chrono_max_steps=max(3, distance + 1) if chrono else None,
        )

    def variants(self) -> list[tuple[str, str]]:
        """(cell type, gate init) pairs to run, cells in order; SimpleRNN once."""
        return [
            (cell_type, gate_init)
            for cell_type in self.cell_types
            for gate_init in (self.gate_inits if cell_type in GATED_CELLS else ("keras",))
        ]


def make_sequences(distance: int, count: int, distractor_count: int, seed: int | tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Signal token, then `distance` random distractors.

    Args:
        distance: T, the steps between the signal token and the final token.
        count: number of sequences.
        distractor_count: distinct distractor tokens to draw from.
        seed: NumPy seed (an int or a tuple of ints).

    Returns:
        token_ids: <int32>[count, distance + 1]; column 0 is the signal token
            (`SIGNAL_IDS[label]`), the other columns are distractors
            (ids from `FIRST_DISTRACTOR_ID` on). No padding.
        labels: <int32>[count], the signal token's class, balanced in
            expectation.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=count, dtype=np.int32)
    distractors = rng.integers(FIRST_DISTRACTOR_ID, FIRST_DISTRACTOR_ID + distractor_count, size=(count, distance), dtype=np.int32)
    signals = np.asarray(SIGNAL_IDS, np.int32)[labels]
    return np.concatenate([signals[:, None], distractors], axis=1), labels


def data_seeds(seed: int, distance: int) -> dict[str, list[int]]:
    """The NumPy seeds of one distance's training and test sequences."""
    return {"train": [seed, distance, 0], "test": [seed, distance, 1]}


def train_and_evaluate(config: LongRangeConfig, cell_type: str, distance: int, seed: int, gate_init: str = "keras") -> dict[str, Any]:
    """Trains one cell at one distance on fresh sequences; scores held-out ones.

    Args:
        config: the budget and architecture.
        cell_type: "simple_rnn", "lstm" or "gru".
        distance: T.
        seed: fixes the sequences (with T), the initial weights and the order.
        gate_init: "keras" or "chrono" (gated cells only).

    Returns:
        A JSON-ready dict: `cell_type`, `gate_init`, `variant`, `distance`, `seed`, `accuracy` with its 95%
        Wilson interval (`ci_low`, `ci_high`), `test_loss`, per-epoch
        `train_loss` and `train_accuracy`, `train_seconds`,
        `evaluate_seconds`, `wall_seconds`, `parameters`, and the seeds.
    """
    import keras
    import tensorflow as tf

    from sentiment.evaluate import binary_cross_entropy, wilson_interval
    from sentiment.models import build_classifier

    started = time.perf_counter()
    seeds = data_seeds(seed, distance)
    train_ids, train_labels = make_sequences(distance, config.train_sequences, config.distractor_count, seeds["train"])
    test_ids, test_labels = make_sequences(distance, config.test_sequences, config.distractor_count, seeds["test"])

    keras.utils.set_random_seed(seed)
    model = build_classifier(config.model_config(cell_type, gate_init, distance), config.vocabulary_size)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    # The same seeded order for every cell: only the cell differs between runs.
    train = (
        tf.data.Dataset.from_tensor_slices((train_ids, train_labels.astype(np.float32)))
        .shuffle(len(train_labels), seed=seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
    )
    fit_start = time.perf_counter()
    history = model.fit(train, epochs=config.epochs, shuffle=False, verbose=0).history
    train_seconds = time.perf_counter() - fit_start

    evaluate_start = time.perf_counter()
    probabilities = model.predict(test_ids, batch_size=256, verbose=0).reshape(-1)
    evaluate_seconds = time.perf_counter() - evaluate_start
    correct = (probabilities >= 0.5) == (test_labels == 1)
    low, high = wilson_interval(int(correct.sum()), len(correct))
    return {
        "cell_type": cell_type,
        "gate_init": gate_init,
        "variant": variant_name(cell_type, gate_init),
        "distance": distance,
        "seed": seed,
        "accuracy": float(correct.mean()),
        "ci_low": low,
        "ci_high": high,
        "test_sequences": len(correct),
        "test_positive_share": float(test_labels.mean()),
        "test_loss": binary_cross_entropy(probabilities, test_labels),
        "train_loss": [float(value) for value in history["loss"]],
        "train_accuracy": [float(value) for value in history["accuracy"]],
        "parameters": int(model.count_params()),
        "train_seconds": train_seconds,
        "evaluate_seconds": evaluate_seconds,
        "wall_seconds": time.perf_counter() - started,
        "data_seeds": seeds,
    }


def run_benchmark(
    config: LongRangeConfig,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Trains every cell at every distance; returns all figures, JSON-ready.

    Args:
        config: the benchmark.
        log: where a line per finished run goes.
        command: the command line, recorded with the results.

    Returns:
        `config`, `command`, `machine`, `started_at`, `wall_seconds` (the
        whole sweep), `load_average` (at its start and end) and `runs`, one dict per (distance, seed, cell) as
        returned by `train_and_evaluate`, in the config's order.
    """
    from sentiment.train import machine_description

    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_at_start = _load_average()
    started = time.perf_counter()
    runs = []
    for distance in config.distances:
        for seed in config.seeds:
            for cell_type, gate_init in config.variants():
                run = train_and_evaluate(config, cell_type, distance, seed, gate_init)
                runs.append(run)
                log(f"T={distance:<4} seed {seed:<3} {run['variant']:<12} accuracy {run['accuracy']:.3f}  ({run['wall_seconds']:.1f} s)")
    return {
        "task": "signal token, then T random distractors; label = the signal's class",
        "config": to_dict(config),
        "chance_accuracy": CHANCE_ACCURACY,
        "command": command,
        "machine": machine_description(),
        "started_at": started_at,
        "wall_seconds": time.perf_counter() - started,
        # Wall times mean little without knowing what else shared the CPU.
        "load_average": {"start": load_at_start, "end": _load_average()},
        "runs": runs,
    }


def _load_average() -> float | None:
    """The 1-minute load average (processes wanting a CPU), where the OS tells."""
    averages = load_average()
    return averages[0] if averages else None


def accuracy_table(result: dict[str, Any]) -> tuple[list[int], list[str], list[int], np.ndarray]:
    """Accuracy by distance, model variant and seed, for plots and tables.

    Returns:
        distances, variants ("lstm", "lstm+chrono", ...: cells in the
        project's order, Keras init first) and seeds, and
        <float64>[distances, variants, seeds] accuracies, NaN where a run is
        missing.
    """
    runs = result["runs"]
    distances = sorted({run["distance"] for run in runs})
    present = {_variant(run) for run in runs}
    variants = [name for cell in CELL_TYPES for init in GATE_INITS if (name := variant_name(cell, init)) in present]
    seeds = sorted({run["seed"] for run in runs})
    accuracy = np.full((len(distances), len(variants), len(seeds)), np.nan)
    for run in runs:
        accuracy[distances.index(run["distance"]), variants.index(_variant(run)), seeds.index(run["seed"])] = run["accuracy"]
    return distances, variants, seeds, accuracy


def _variant(run: dict[str, Any]) -> str:
    return run.get("variant", run["cell_type"])  # results from before gate inits had one variant per cell


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _accuracy_cell(runs: list[dict[str, Any]]) -> str:
    """One seed: accuracy [95% CI]; several: their mean (each seed's accuracy)."""
    if not runs:
        return "n/a"
    if len(runs) == 1:
        (run,) = runs
        return f"{_percent(run['accuracy'])} [{100 * run['ci_low']:.1f}, {100 * run['ci_high']:.1f}]"
    mean = float(np.mean([run["accuracy"] for run in runs]))
    return f"{_percent(mean)} ({', '.join(_percent(run['accuracy']) for run in runs)})"


def _constant_guess_floor(run: dict[str, Any]) -> float:
    """The accuracy of always guessing the test set's minority class."""
    return min(run["test_positive_share"], 1.0 - run["test_positive_share"])


def _load_note(load: dict[str, float | None] | None) -> str:
    if not load or load.get("start") is None:
        return ""
    return f" (1-minute load average {load['start']:.1f} at the start, {load['end']:.1f} at the end: other work shared the CPU when it exceeds the core count)"


def results_markdown(result: dict[str, Any], plot_file: str | None = "long_range.png") -> str:
    """Renders a benchmark result as a self-contained Markdown page.

    Args:
        result: from `run_benchmark` (or its JSON).
        plot_file: the plot's path relative to the Markdown file; None for none.
    """
    from sentiment.report import markdown_table, model_name

    config, machine = result["config"], result["machine"]
    distances, cells, seeds, _ = accuracy_table(result)
    names = [model_name(cell) for cell in cells]

    def runs_of(distance: int, cell: str) -> list[dict[str, Any]]:
        found = [run for run in result["runs"] if run["distance"] == distance and _variant(run) == cell]
        return sorted(found, key=lambda run: run["seed"])

    def seconds(distance: int, cell: str) -> str:
        found = runs_of(distance, cell)
        return f"{np.mean([run['wall_seconds'] for run in found]):.1f} s" if found else "n/a"

    single = len(seeds) == 1
    parts = [
        "# Long-range dependency benchmark: SimpleRNN vs LSTM vs GRU",
        "",
        "Task: one signal token (one of two classes), then T random distractor tokens; "
        "the label is the signal's class, and the classifier reads only the recurrent state after the final token. "
        f"Chance is {_percent(result['chance_accuracy'])}.",
        "",
        f"Produced by `{result['command']}` on {result['started_at']}; the whole sweep took {result['wall_seconds'] / 60:.1f} min"
        + _load_note(result.get("load_average")) + ".",
        "",
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPU cores, GPUs: {', '.join(machine['gpus']) or 'none'}; "
        f"Python {machine['python']}, TensorFlow {machine['tensorflow']}, Keras {machine['keras']}.",
        "",
        f"Budget, identical for every cell, distance and seed: {config['train_sequences']:,} training sequences, "
        f"{config['epochs']} epoch(s), batch {config['batch_size']}, Adam {config['learning_rate']} (clipnorm {config['clipnorm']}), "
        f"embedding {config['embedding_dim']}, {config['units']} units, no dropout, {config['distractor_count']} distractor tokens; "
        f"accuracy on {config['test_sequences']:,} held-out sequences per distance and seed. "
        f"Seed{'' if single else 's'} {', '.join(map(str, seeds))}: a seed fixes the initial weights and the shuffling, "
        "and with T the data (NumPy seeds [seed, T, 0] for training, [seed, T, 1] for test).",
        "",
        *_gate_init_note(cells),
        "## Test accuracy " + ("[95% Wilson interval]" if single else "(mean over seeds, then each seed's)"),
        "",
        markdown_table(["T (steps)", *names], [[str(d), *(_accuracy_cell(runs_of(d, c)) for c in cells)] for d in distances]),
        "",
        "## Wall time per run (training + evaluation" + ("" if single else ", mean over seeds") + ")",
        "",
        markdown_table(["T (steps)", *names], [[str(d), *(seconds(d, c) for c in cells)] for d in distances]),
        "",
    ]
    below = [run for run in result["runs"] if "test_positive_share" in run and run["ci_high"] < _constant_guess_floor(run)]
    if below:
        listed = ", ".join(f"{model_name(_variant(run))} at T={run['distance']} (seed {run['seed']})" for run in below)
        parts += [
            f"Worse than any constant guess (the whole 95% interval under the test set's minority-class share): {listed}. "
            "Such predictions still depend on the signal, inverted: the state carried the bit, but the budget ran out "
            "with the readout the wrong way round (see each run's per-epoch `train_loss` in the JSON).",
            "",
        ]
    if plot_file:
        parts += [f"![Test accuracy against distance T, one line per cell, chance dashed]({plot_file})", ""]
    return "\n".join(parts)


def _gate_init_note(variants: list[str]) -> list[str]:
    """A paragraph on what "(chrono init)" means, where such runs are shown."""
    if not any("+chrono" in variant for variant in variants):
        return []
    return [
        "Gate biases: LSTM and GRU without a note start from Keras's (LSTM forget gate 1, so it begins at sigmoid(1) = 0.73 "
        "and a stored bit fades within a few steps; GRU update gate 0). \"(chrono init)\" runs start from chrono "
        "initialization (Tallec & Ollivier, ICLR 2018) for dependencies up to the sequence length T + 1: forget-gate "
        "(LSTM) or update-gate (GRU) bias log(u), u ~ Uniform(1, T), so the gates begin open. Same data, budget and "
        "seed otherwise; SimpleRNN has no gates and runs once.",
        "",
    ]


def write_results(result: dict[str, Any], output: str | Path) -> dict[str, Path]:
    """Writes long_range.json, long_range.md and long_range.png, each atomically.

    Returns:
        The written paths by kind: "json", "markdown", "plot".
    """
    from sentiment import artifacts
    from sentiment.plots import plot_long_range

    output = Path(output)
    paths = {"json": output / "long_range.json", "markdown": output / "long_range.md", "plot": output / "long_range.png"}
    artifacts.write_json(paths["json"], result)
    distances, cells, _, accuracy = accuracy_table(result)
    plot_long_range(distances, {cell: accuracy[:, index] for index, cell in enumerate(cells)}, paths["plot"], result["chance_accuracy"])
    artifacts.write_text(paths["markdown"], results_markdown(result, paths["plot"].name))
    return paths

