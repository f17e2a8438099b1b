"""Command line: `python -m sentiment {train,export,gradients,long-range,bench} ...`.

The only place that parses arguments. It turns flags into frozen configs,
calls the pipeline, and turns user errors into one line on stderr and exit
code 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from sentiment.config import CELL_TYPES, DATA_SOURCES, POOLING_MODES, PRESETS, STRATEGIES, TRUNCATION_SIDES, BenchConfig
from sentiment.longrange import GATE_INITS, LongRangeConfig

# Flags that override one field of a preset's configs: (flag, section, field, type, help).
_OVERRIDES = [
    ("--data-source", "data", "source", str, f"where reviews come from: {', '.join(DATA_SOURCES)} (default tfds)"),
    ("--data-path", "data", "path", str, "aclImdb folder or CSV/TSV file; for tfds, a data dir overriding TFDS_DATA_DIR"),
    ("--max-train-samples", "data", "max_train_samples", int, "use at most this many training reviews (validation included)"),
    ("--max-test-samples", "data", "max_test_samples", int, "evaluate on at most this many test reviews"),
    ("--vocabulary-size", "data", "vocabulary_size", int, "vocabulary size, padding and [UNK] included"),
    ("--sequence-length", "data", "sequence_length", int, "tokens per review; longer reviews are truncated"),
    ("--truncation-side", "data", "truncation_side", str, f"end of long reviews to drop: {', '.join(TRUNCATION_SIDES)}"),
    ("--dataset", "data", "dataset", str, "stream this tensorflow-datasets dataset from disk (e.g. yelp_polarity_reviews, ag_news_subset) instead of IMDB in memory"),
    ("--text-key", "data", "text_key", str, "with --dataset: the text feature (default text)"),
    ("--label-key", "data", "label_key", str, "with --dataset: the class label feature, two or more classes (default label)"),
    ("--train-split", "data", "train_split", str, "with --dataset: split to train on; validation is its first --validation-fraction (default train)"),
    ("--test-split", "data", "test_split", str, "with --dataset: split for the final evaluation (default test)"),
    ("--validation-fraction", "data", "validation_fraction", float, "share of the training split held out for validation (default 0.1)"),
    ("--vocabulary-samples", "data", "vocabulary_samples", int, "adapt the vocabulary on at most this many training reviews (default: all)"),
    ("--embedding-dim", "model", "embedding_dim", int, "embedding width"),
    ("--units", "model", "units", int, "recurrent units per layer and direction"),
    ("--num-layers", "model", "num_layers", int, "stacked recurrent layers"),
    ("--word-dropout-rate", "model", "word_dropout_rate", float, "share of whole words dropped in training"),
    ("--dropout-rate", "model", "dropout_rate", float, "dropout on the recurrent output"),
    ("--pooling", "model", "pooling", str, f"how the head reads the sequence: {', '.join(POOLING_MODES)}"),
    ("--batch-size", "train", "batch_size", int, "reviews per step on each replica (the global batch is this times the replicas)"),
    ("--epochs", "train", "epochs", int, "maximum epochs"),
    ("--learning-rate", "train", "learning_rate", float, "Adam learning rate for the first epoch"),
    ("--learning-rate-decay", "train", "learning_rate_decay", float, "learning-rate factor per epoch (1 = constant)"),
    ("--clipnorm", "train", "clipnorm", float, "clip each weight's gradient (summed over all replicas) to this norm"),
    ("--monitor", "train", "monitor", str, "validation figure for the best epoch and early stopping: val_accuracy or val_loss"),
    ("--patience", "train", "patience", int, "early-stopping patience in epochs"),
    ("--seed", "train", "seed", int, "random seed"),
    ("--bucket-window", "train", "bucket_window", int, "batches per length-sorting window when bucketing"),
]


# Flags that override one field of LongRangeConfig: (flag, field, type, help).
_LONG_RANGE_OVERRIDES = [
    ("--train-sequences", "train_sequences", int, "training sequences per distance"),
    ("--test-sequences", "test_sequences", int, "held-out sequences per distance"),
    ("--distractor-count", "distractor_count", int, "distinct distractor tokens"),
    ("--epochs", "epochs", int, "epochs, the same for every cell"),
    ("--batch-size", "batch_size", int, "sequences per step"),
    ("--learning-rate", "learning_rate", float, "Adam learning rate"),
    ("--embedding-dim", "embedding_dim", int, "embedding width"),
    ("--units", "units", int, "recurrent units"),
]


# Flags that override one field of BenchConfig: (flag, field, help).
_BENCH_OVERRIDES = [
    ("--batch-size", "batch_size", "reviews per training step"),
    ("--sequence-length", "sequence_length", "tokens per review in a training step"),
    ("--review-words", "review_words", "words in the review timed for inference latency"),
    ("--repeats", "repeats", "timed training steps per figure"),
    ("--latency-repeats", "latency_repeats", "timed single-review calls per latency figure"),
    ("--warmup", "warmup", "untimed runs before each measurement"),
    ("--matmul-size", "matmul_size", "side of the square float32 matmul that measures the machine's dense rate (a GPU wants 8192)"),
]


class _Parser(argparse.ArgumentParser):
    """Reports usage errors on one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _choice_list(text: str, choices: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.replace(",", " ").split() if part.strip())
    unknown = [name for name in names if name not in choices]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown) or text!r}; choose from {', '.join(choices)}")
    return names


def _cell_list(text: str) -> tuple[str, ...]:
    return _choice_list(text, CELL_TYPES, "cell type")


def _gate_init_list(text: str) -> tuple[str, ...]:
    return _choice_list(text, GATE_INITS, "gate init")


def _integer_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sentiment", description="Train, evaluate and export SimpleRNN/LSTM/GRU sentiment classifiers.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train the models and write the artifacts folder")
    train.add_argument("--preset", choices=sorted(PRESETS), default="full", help="; ".join(f"{n}: {p.description}" for n, p in PRESETS.items()))
    train.add_argument("--cells", type=_cell_list, default=CELL_TYPES, help="comma-separated cell types (default: all three)")
    train.add_argument("--output", default="artifacts", help="artifacts folder (default: artifacts)")
    train.add_argument("--no-download", action="store_true", help="never download IMDB; fail if it is not in TFDS_DATA_DIR")
    train.add_argument("--bidirectional", action="store_true", help="wrap recurrent layers in Bidirectional")
    train.add_argument(
        "--no-length-bucketing", action="store_true", help="pad every batch to --sequence-length instead of batching reviews of similar length"
    )
    train.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help="default: one device; mirrored: every GPU (or --cpu-devices) of this machine; multi-worker: the machines in TF_CONFIG",
    )
    train.add_argument("--cpu-devices", type=int, default=None, help="split the CPU into this many logical devices (try --strategy mirrored without GPUs)")
    for flag, _, _, kind, help_text in _OVERRIDES:
        train.add_argument(flag, type=kind, help=help_text)

    export = commands.add_parser("export", help="export trained models as TF Serving SavedModels")
    export.add_argument("--artifacts", default="artifacts", help="artifacts folder written by train (default: artifacts)")
    export.add_argument("--output", default=None, help="export root (default: <artifacts>/export)")
    export.add_argument("--cells", type=_cell_list, default=CELL_TYPES, help="comma-separated cell types (default: all three)")

    gradients = commands.add_parser("gradients", help="gradient norm per time step for trained models: one review and a test-set average")
    gradients.add_argument("--artifacts", default="artifacts", help="artifacts folder written by train (default: artifacts)")
    gradients.add_argument("--cells", type=_cell_list, default=CELL_TYPES, help="comma-separated cell types (default: all three)")
    gradients.add_argument("--text", default=None, help="a review to show step by step (optional)")
    gradients.add_argument("--sample-size", type=_non_negative, default=500, help="test reviews to average over; 0 for none (default: 500)")
    gradients.add_argument("--seed", type=int, default=0, help="seed of the test-review sample (default: 0)")
    gradients.add_argument("--output", default=None, help="folder for gradients.json/.md/.png (default: the artifacts folder)")

    defaults = LongRangeConfig()
    long_range = commands.add_parser("long-range", help="train the three cells on a synthetic long-range task at several distances")
    long_range.add_argument(
        "--distances", type=_integer_list, default=defaults.distances, help=f"comma-separated distances T (default: {','.join(map(str, defaults.distances))})"
    )
    long_range.add_argument("--cells", type=_cell_list, default=defaults.cell_types, help="comma-separated cell types (default: all three)")
    long_range.add_argument(
        "--seeds", type=_integer_list, default=defaults.seeds, help="comma-separated seeds; every run is repeated per seed (default: 0)"
    )
    long_range.add_argument(
        "--gate-inits",
        type=_gate_init_list,
        default=defaults.gate_inits,
        help="gate-bias initializations for LSTM and GRU: keras, chrono or both (default: keras,chrono)",
    )
    long_range.add_argument("--output", default="long_range", help="folder for long_range.json/.md/.png (default: long_range)")
    for flag, field, kind, help_text in _LONG_RANGE_OVERRIDES:
        long_range.add_argument(flag, type=kind, help=f"{help_text} (default: {getattr(defaults, field)})")

    bench = commands.add_parser("bench", help="training throughput, inference latency and the PyTorch peer, on the active Keras backend")
    bench.add_argument("--cells", type=_cell_list, default=CELL_TYPES, help="comma-separated cell types (default: all three)")
    bench.add_argument("--output", default="bench", help="folder for bench.json and bench.md (default: bench)")
    bench.add_argument("--no-peer", action="store_true", help="do not time plain PyTorch even where it is installed")
    for flag, field, help_text in _BENCH_OVERRIDES:
        bench.add_argument(flag, type=int, help=f"{help_text} (default: {getattr(BenchConfig, field)})")
    return parser


def _configs(args: argparse.Namespace):
    preset = PRESETS[args.preset]
    sections = {"data": {}, "model": {}, "train": {}}
    for flag, section, field, _, _ in _OVERRIDES:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            sections[section][field] = value
    if args.no_download:
        sections["data"]["download"] = False
    if args.bidirectional:
        sections["model"]["bidirectional"] = True
    if args.no_length_bucketing:
        sections["train"]["length_bucketing"] = False
    from sentiment.errors import SentimentError

    try:
        return (
            replace(preset.data, **sections["data"]),
            replace(preset.model, **sections["model"]),
            replace(preset.train, **sections["train"]),
        )
    except ValueError as error:  # a config rejected a flag's value
        raise SentimentError(str(error)) from None


def _train(args: argparse.Namespace) -> None:
    data_config, model_config, train_config = _configs(args)  # validates before importing TensorFlow
    from sentiment import distribute

    if args.cpu_devices is not None:
        distribute.split_cpu(args.cpu_devices)  # before anything starts TensorFlow's devices
    strategy = distribute.make_strategy(args.strategy)  # TensorFlow asks for this early, before other ops
    from sentiment.train import train_models

    results = train_models(
        data_config,
        model_config,
        train_config,
        cell_types=args.cells,
        output=args.output,
        verbose=1 if sys.stdout.isatty() else 2,
        command=_command_line(),
        strategy=strategy,
    )
    worker = distribute.worker_of(strategy)
    if not worker.is_chief:
        print(f"\nworker {worker.index} done; its copy is in {distribute.worker_folder(Path(args.output), worker)} (the chief writes {args.output}/)")
        return
    print(f"\nartifacts in {args.output}/ (summary: {args.output}/summary.md)")
    for result in results:
        test = result.metrics["test"]
        print(f"  {result.cell_type:<10} test accuracy {test['accuracy']:.4f}  ({result.folder})")


def _export(args: argparse.Namespace) -> None:
    from sentiment.export import export_model

    output = args.output or os.path.join(args.artifacts, "export")
    for cell_type in args.cells:
        path = export_model(os.path.join(args.artifacts, cell_type), os.path.join(output, cell_type))
        print(f"{cell_type}: {path}")


def _command_line() -> str:
    return shlex.join(["python", "-m", "sentiment", *sys.argv[1:]])


def _gradients(args: argparse.Namespace) -> None:
    from sentiment.errors import SentimentError

    if args.sample_size == 0 and args.text is None:
        raise SentimentError("nothing to compute: give --text, a --sample-size above 0, or both")
    from sentiment.artifacts import load_artifact
    from sentiment.gradients import gradient_flow, write_gradient_flow

    loaded = {cell: load_artifact(os.path.join(args.artifacts, cell)) for cell in args.cells}
    print(f"gradient flow for {', '.join(args.cells)} from {args.artifacts}/ ({args.sample_size} test reviews)", flush=True)
    result = gradient_flow(loaded, args.sample_size, seed=args.seed, text=args.text, command=_command_line())
    paths = write_gradient_flow(result, args.output or args.artifacts)
    print(f"results in {', '.join(str(path) for path in paths.values())}")


def _long_range(args: argparse.Namespace) -> None:
    from sentiment.errors import SentimentError

    overrides = {field: getattr(args, field) for _, field, _, _ in _LONG_RANGE_OVERRIDES if getattr(args, field) is not None}
    try:
        config = replace(
            LongRangeConfig(), distances=args.distances, cell_types=args.cells, seeds=args.seeds, gate_inits=args.gate_inits, **overrides
        )
    except ValueError as error:
        raise SentimentError(str(error)) from None
    from sentiment.longrange import run_benchmark, write_results

    print(f"long-range benchmark: distances {', '.join(map(str, config.distances))}; cells {', '.join(config.cell_types)}", flush=True)
    result = run_benchmark(config, log=lambda line: print(line, flush=True), command=_command_line())
    paths = write_results(result, args.output)
    print(f"\n{result['wall_seconds'] / 60:.1f} min; results in {paths['markdown']}, {paths['json']}, {paths['plot']}")


def _bench(args: argparse.Namespace) -> None:
    from sentiment.errors import SentimentError

    overrides = {field: getattr(args, field) for _, field, _ in _BENCH_OVERRIDES if getattr(args, field) is not None}
    try:
        config = BenchConfig(cell_types=args.cells, peer=not args.no_peer, **overrides)
    except ValueError as error:
        raise SentimentError(str(error)) from None
    from sentiment.bench import run_bench, write_results

    result = run_bench(config, log=lambda line: print(line, flush=True), command=_command_line())
    paths = write_results(result, args.output)
    print(f"\n{result['wall_seconds'] / 60:.1f} min; results in {paths['markdown']}, {paths['json']}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out of the progress output
    from sentiment.errors import SentimentError

    try:
        {"train": _train, "export": _export, "gradients": _gradients, "long-range": _long_range, "bench": _bench}[args.command](args)
    except SentimentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
