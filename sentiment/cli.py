"""Command line: `python -m sentiment COMMAND ...`.

COMMAND is one of {train,export,predict,evaluate,gradients,inspect,long-range,distance,results,bench}.

The only place that parses arguments. It turns flags into frozen configs,
calls the pipeline, and turns user errors into one line on stderr and exit
code 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from sentiment.config import (
    AFTER_THE_LSTM,
    ALL_CELL_TYPES,
    ALL_MODELS,
    BASELINE,
    CELL_TYPES,
    DISTANCE_DATA_FIELDS,
    PRESETS,
    STRATEGIES,
    BenchConfig,
    DataConfig,
    DistanceConfig,
    LongRangeConfig,
    ModelConfig,
    TrainConfig,
)


class _Parser(argparse.ArgumentParser):
    """Reports usage errors on one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _choice_list(text: str, choices: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.replace(",", " ").split() if part.strip())
    unknown = [name for name in names if name not in choices]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or text!r}; choose from {', '.join(choices)}"
        )
    return names


def _cell_list(text: str) -> tuple[str, ...]:
    """The compared cells only: what the analyses of Keras's cells (gradients, inspect) and the bench's step read."""
    return _choice_list(text, CELL_TYPES, "cell type")


def _any_cell_list(text: str) -> tuple[str, ...]:
    """Any architecture, the cells and those after the LSTM: what export and predict serve."""
    return _choice_list(text, ALL_CELL_TYPES, "cell type")


def _model_list(text: str) -> tuple[str, ...]:
    """Any model a run trains: the cells, the reference and those after the LSTM."""
    return _choice_list(text, ALL_MODELS, "model")


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


def attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> its description, from the "Attributes:" section of a config's docstring."""
    docs: dict[str, str] = {}
    lines = (cls.__doc__ or "").split("Attributes:", 1)[-1].splitlines()
    names: list[str] = []
    for line in lines:
        match = re.match(r"^ {8}([a-z_, ]+):\s*(.*)$", line)
        if match:
            names = [name.strip() for name in match.group(1).split(",")]
            for name in names:
                docs[name] = match.group(2).strip()
        elif line.startswith(" " * 12) and names:
            for name in names:
                docs[name] += " " + line.strip()
    return {name: re.sub(r"\s+", " ", text) for name, text in docs.items()}


def _flag_type(annotation: str):
    """The argparse type for a config field's annotation (written as a string)."""
    return {
        "int": int,
        "float": float,
        "str": str,
        "int | None": _optional_integer,
        "str | None": _optional_string,
        "tuple[int, ...]": _integer_list,
        "tuple[str, ...]": _name_list,
    }[annotation]


def _optional_integer(text: str) -> int | None:
    return None if text.strip().lower() == "none" else int(text)


def _optional_string(text: str) -> str | None:
    return None if text.strip().lower() == "none" else text


def _name_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace(",", " ").split() if part.strip())


def add_config_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of a config dataclass, its help from the docstring, its default from the field.

    `--field-name VALUE`; tuples take comma-separated values; "none" is
    None where a field may be None; booleans get `--field-name/--no-field-name`.
    Flags left out are absent from the parsed arguments, so the config's own
    default applies.
    """
    docs = attribute_docs(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        default = field.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        help_text = f"{docs.get(field.name, field.name.replace('_', ' '))} (default: {shown})".replace("%", "%%")
        flag = "--" + field.metadata.get("flag", field.name.replace("_", "-"))
        if field.type == "bool":
            parser.add_argument(
                flag, dest=field.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text
            )
        else:
            parser.add_argument(
                flag,
                dest=field.name,
                type=_flag_type(field.type),
                default=argparse.SUPPRESS,
                metavar=field.name.upper(),
                help=help_text,
            )


def config_from_flags(cls: type, args: argparse.Namespace, base=None, **values):
    """Builds `cls` (or `base` with changes) from the flags that were given and `values`.

    The one place where a config's rejection of a value (ValueError) becomes
    a SentimentError: one line for the user, exit code 2.
    """
    from sentiment.errors import SentimentError

    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(cls) if hasattr(args, field.name)}
    try:
        return replace(base, **given, **values) if base is not None else cls(**given, **values)
    except ValueError as error:
        raise SentimentError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m sentiment",
        description=(
            "Train, evaluate and export SimpleRNN/LSTM/GRU sentiment classifiers (and, after the LSTM, "
            "minGRU, minLSTM and a Transformer), and measure why LSTMs replaced plain RNNs."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_pipeline_commands(commands)
    _add_predict_command(commands)
    _add_measurement_commands(commands)
    return parser


def _add_pipeline_commands(commands) -> None:
    """train and export."""
    train = commands.add_parser("train", help="train the models and write the artifacts folder")
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="full",
        help="; ".join(f"{n}: {p.description}" for n, p in PRESETS.items()),
    )
    train.add_argument(
        "--cells",
        type=_model_list,
        default=None,
        help=(
            f"comma-separated models: {', '.join(CELL_TYPES)}; {BASELINE}, the bag-of-n-grams reference; and, "
            f"after the LSTM, {', '.join(AFTER_THE_LSTM)} (train them with --output artifacts/next to keep them "
            "beside a run of the cells; default: the preset's; the three cells with --dataset)"
        ),
    )
    train.add_argument("--output", default="artifacts", help="artifacts folder (default: artifacts)")
    train.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help=(
            "default: one device; mirrored: every GPU (or --cpu-devices) of this machine; "
            "multi-worker: the machines in TF_CONFIG"
        ),
    )
    train.add_argument(
        "--cpu-devices",
        type=int,
        default=None,
        help="split the CPU into this many logical devices (try --strategy mirrored without GPUs)",
    )
    for config in (DataConfig, ModelConfig, TrainConfig):
        add_config_flags(train, config, skip=("cell_type",))
    export = commands.add_parser("export", help="export trained models as TF Serving SavedModels")
    export.add_argument(
        "--artifacts", default="artifacts", help="artifacts folder written by train (default: artifacts)"
    )
    export.add_argument("--output", default=None, help="export root (default: <artifacts>/export)")
    export.add_argument(
        "--cells",
        type=_any_cell_list,
        default=None,
        help=f"comma-separated cell types ({', '.join(ALL_CELL_TYPES)}; default: every one in the folder)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _add_predict_command(commands) -> None:
    """predict: score reviews from arguments, stdin or a CSV/TSV file."""
    from sentiment.serving.score import OUTPUT_FORMATS

    predict = commands.add_parser(
        "predict",
        help=(
            "score reviews (arguments, stdin or a CSV/TSV file) with trained or exported models; JSON lines or CSV out"
        ),
    )
    predict.add_argument(
        "texts",
        nargs="*",
        metavar="TEXT",
        help="reviews to score; '-' reads stdin, one review a line (as does a pipe when no review is given)",
    )
    predict.add_argument(
        "--text", action="append", default=[], dest="more_texts", help="a review to score (repeatable)"
    )
    predict.add_argument(
        "--file",
        default=None,
        help="a CSV file (.tsv/.tab: tab-separated) with a header and a text column; an id column names the rows",
    )
    predict.add_argument("--text-column", default="text", help="the --file column holding the reviews (default: text)")
    models = predict.add_mutually_exclusive_group()
    models.add_argument(
        "--artifacts",
        default=None,
        help="artifacts folder written by train, scored by the Predictor (the default: artifacts)",
    )
    models.add_argument(
        "--export",
        default=None,
        help="export folder written by export: the latest version of each <cell>/N SavedModel, through serving_default",
    )
    predict.add_argument(
        "--model",
        type=_any_cell_list,
        default=None,
        help=f"comma-separated cell types ({', '.join(ALL_CELL_TYPES)}; default: every one in the folder)",
    )
    predict.add_argument("--format", choices=OUTPUT_FORMATS, default="jsonl", help="JSON lines or CSV (default: jsonl)")
    predict.add_argument("--output", default=None, help="file to write (default: stdout)")
    predict.add_argument("--batch-size", type=_positive, default=64, help="reviews a model call (default: 64)")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar on stderr for --file")


def _trained_cells(folder: str, candidates: tuple[str, ...]) -> tuple[str, ...]:
    """The models among `candidates` that `folder` holds (a manifest each), in their usual order."""
    from sentiment.errors import SentimentError
    from sentiment.io.artifacts import MANIFEST_FILE

    cells = tuple(cell for cell in candidates if (Path(folder) / cell / MANIFEST_FILE).exists())
    if not cells:
        raise SentimentError(
            f"no trained model in {folder}; train first with: python -m sentiment train --output {folder}"
        )
    return cells


def _add_trained_model_flags(parser: argparse.ArgumentParser, text_help: str, sample_help: str, files: str) -> None:
    """The flags of the measurements on trained models (gradients, inspect): which models, one review, a test sample."""
    parser.add_argument(
        "--artifacts", default="artifacts", help="artifacts folder written by train (default: artifacts)"
    )
    parser.add_argument(
        "--cells",
        type=_cell_list,
        default=None,
        help="comma-separated cell types (default: every recurrent model in the folder)",
    )
    parser.add_argument("--text", default=None, help=text_help)
    parser.add_argument(
        "--sample-size", type=_non_negative, default=500, help=f"{sample_help}; 0 for none (default: 500)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the test-review sample (default: 0)")
    parser.add_argument("--output", default=None, help=f"folder for {files} (default: the artifacts folder)")


def _add_measurement_commands(commands) -> None:
    """gradients, inspect, long-range, distance, results and bench."""
    gradients = commands.add_parser(
        "gradients",
        help="what the trained models' decisions depend on: the gradient by word, one review and a test-set average",
    )
    _add_trained_model_flags(
        gradients, "a review to show step by step (optional)", "test reviews to average over", "gradients.json/.md/.png"
    )
    evaluate = commands.add_parser(
        "evaluate",
        help=(
            "score trained artifacts on any labelled reviews (tfds, aclImdb folder, CSV/TSV): "
            "accuracy by length, confusion matrix"
        ),
    )
    evaluate.add_argument(
        "--artifacts", default="artifacts", help="artifacts folder written by train (default: artifacts)"
    )
    evaluate.add_argument(
        "--cells",
        type=_model_list,
        default=None,
        help=f"comma-separated models ({', '.join(ALL_MODELS)}; default: every one in the folder)",
    )
    evaluate.add_argument(
        "--split",
        choices=("train", "test", "all"),
        default=None,
        help="which labelled reviews (default: all rows of a CSV/TSV, the test split otherwise)",
    )
    evaluate.add_argument(
        "--output", default=None, help="folder for evaluation.json/.md (default: <artifacts>/evaluation)"
    )
    add_config_flags(evaluate, DataConfig)
    inspect = commands.add_parser(
        "inspect", help="inside the cell: every gate of each model, on one review and over test reviews"
    )
    _add_trained_model_flags(
        inspect,
        "a review to read token by token: its gates as JSON and a heatmap PNG per model",
        "test reviews for the gate statistics",
        "inspect.json/.md and the PNGs",
    )
    long_range = commands.add_parser(
        "long-range",
        help=(
            "the long-range suite: variable-lag recall, the adding problem, associative recall, state Jacobians "
            "and the lag-shift diagnostic, for the cells and those after the LSTM"
        ),
    )
    long_range.add_argument(
        "--output", default="long_range", help="folder for long_range.json/.md and the figures (default: long_range)"
    )
    long_range.add_argument(
        "--no-progress", action="store_true", help="a line per finished run instead of a progress bar"
    )
    add_config_flags(long_range, LongRangeConfig)
    distance = commands.add_parser(
        "distance", help="sentiment at a distance: IMDB reviews followed by T tokens of other reviews' text"
    )
    distance.add_argument("--output", default="distance", help="folder for distance.json/.md/.png (default: distance)")
    distance.add_argument(
        "--no-progress", action="store_true", help="a line per finished run instead of a progress bar"
    )
    add_config_flags(distance, DistanceConfig, skip=("data",))
    # The data flags of `train` that the distance reads (--data-source, --vocabulary-size, --no-download, ...).
    add_config_flags(
        distance,
        DataConfig,
        skip=tuple(field.name for field in dataclasses.fields(DataConfig) if field.name not in DISTANCE_DATA_FIELDS),
    )
    # The spelling from before DistanceConfig held a DataConfig; still accepted.
    distance.add_argument(
        "--max-train-reviews",
        dest="max_train_samples",
        type=_optional_integer,
        default=argparse.SUPPRESS,
        help="the same as --max-train-samples",
    )
    results = commands.add_parser(
        "results",
        help="write docs/RESULTS.md and the README's results block from the JSON the measuring commands wrote",
    )
    from sentiment.analysis.pages import DEFAULT_SOURCES

    for kind, default in DEFAULT_SOURCES.items():
        results.add_argument(
            f"--{kind.replace('_', '-')}",
            default=str(default),
            help=f"the {kind.replace('_', ' ')} JSON (default: {default}; 'none' leaves it out)",
        )
    results.add_argument("--output", default="docs/RESULTS.md", help="the page to write (default: docs/RESULTS.md)")
    results.add_argument(
        "--readme",
        default="README.md",
        help="the README whose results block (between its results markers) to rewrite (default: README.md)",
    )
    bench = commands.add_parser(
        "bench",
        help=(
            "training throughput, inference latency, the PyTorch peer and the sequential cost (the cells, a Conv1D "
            "and those after the LSTM), on the active Keras backend"
        ),
    )
    bench.add_argument(
        "--cells", type=_cell_list, default=CELL_TYPES, help="comma-separated cell types (default: all three)"
    )
    bench.add_argument(
        "--output", default="bench", help="folder for bench.json, bench.md and sequential_cost.png (default: bench)"
    )
    bench.add_argument("--no-peer", action="store_true", help="do not time plain PyTorch even where it is installed")
    add_config_flags(bench, BenchConfig, skip=("cell_types", "peer"))


def _configs(args: argparse.Namespace) -> tuple[DataConfig, ModelConfig, TrainConfig]:
    """The preset's configs with the flags that were given."""
    preset = PRESETS[args.preset]
    return (
        config_from_flags(DataConfig, args, base=preset.data),
        config_from_flags(ModelConfig, args, base=preset.model),
        config_from_flags(TrainConfig, args, base=preset.train),
    )


def _train(args: argparse.Namespace) -> None:
    data_config, model_config, train_config = _configs(args)  # validates before importing TensorFlow
    from sentiment.training import distribute

    if args.cpu_devices is not None:
        distribute.split_cpu(args.cpu_devices)  # before anything starts TensorFlow's devices
    strategy = distribute.make_strategy(args.strategy)  # TensorFlow asks for this early, before other ops
    from sentiment.training.train import train_models

    results = train_models(
        data_config,
        model_config,
        train_config,
        cell_types=args.cells or (PRESETS[args.preset].cells if data_config.dataset is None else CELL_TYPES),
        output=args.output,
        verbose=1 if sys.stdout.isatty() else 2,
        command=_command_line(),
        strategy=strategy,
    )
    worker = distribute.worker_of(strategy)
    if not worker.is_chief:
        print(
            f"\nworker {worker.index} done; its copy is in {distribute.worker_folder(Path(args.output), worker)} "
            f"(the chief writes {args.output}/)"
        )
        return
    print(f"\nartifacts in {args.output}/ (summary: {args.output}/summary.md)")
    for result in results:
        test = result.metrics["test"]
        print(f"  {result.cell_type:<10} test accuracy {test['accuracy']:.4f}  ({result.folder})")


def _export(args: argparse.Namespace) -> None:
    from sentiment.serving.export import export_model

    output = args.output or os.path.join(args.artifacts, "export")
    for cell_type in args.cells or _trained_cells(args.artifacts, ALL_CELL_TYPES):
        path = export_model(os.path.join(args.artifacts, cell_type), os.path.join(output, cell_type))
        print(f"{cell_type}: {path}")


def _predict(args: argparse.Namespace) -> None:
    from sentiment.errors import SentimentError
    from sentiment.io import files
    from sentiment.serving import score

    texts = [*args.texts, *args.more_texts]
    if args.file and texts:
        raise SentimentError("give reviews as arguments (or '-' for stdin) or in --file, not both")
    if args.output is not None:  # before any work: a bad path costs a line, not a run
        files.check_output_file(args.output)
        if args.file and Path(args.file).exists() and Path(args.output).resolve() == Path(args.file).resolve():
            raise SentimentError(f"--output {args.output} is the --file being read; write the scores elsewhere")
    if args.file:
        reviews = score.read_review_file(args.file, args.text_column)
    elif texts == ["-"] or (not texts and not sys.stdin.isatty()):
        reviews = score.read_lines(sys.stdin)
    elif "-" in texts:
        raise SentimentError("'-' (stdin) cannot be mixed with reviews given as arguments")
    elif texts:
        reviews = score.reviews_from_texts(texts, "argument")
    else:
        raise SentimentError(
            "nothing to score: give reviews as arguments or --text, '-' or a pipe for stdin, or --file"
        )
    if not reviews:
        raise SentimentError(f"nothing to score: {args.file or 'stdin'} held no review")
    repaired = score.repaired_places(reviews)
    if repaired:
        print(f"warning: {repaired}", file=sys.stderr)
    if args.export:
        scorers = score.export_scorers(args.export, args.model)
    else:
        scorers = score.artifact_scorers(args.artifacts or "artifacts", args.model)
    rows = score.score_rows(reviews, scorers, args.batch_size, progress=bool(args.file) and not args.no_progress)
    try:
        if args.output is None:
            score.write_rows(rows, sys.stdout, args.format)
            return
        count = score.write_file(rows, args.output, args.format)  # a temporary file, renamed when complete
    except KeyboardInterrupt:
        kept = f"{args.output} is as it was before" if args.output else "the rows above are complete"
        print(
            f"\ninterrupted; {kept}. predict does not resume: run the same command again to start over",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    print(f"{count} reviews scored by {', '.join(scorers)}: {args.output}", file=sys.stderr)


def _command_line() -> str:
    return shlex.join(["python", "-m", "sentiment", *sys.argv[1:]])


def _gradients(args: argparse.Namespace) -> None:
    from sentiment.errors import SentimentError

    if args.sample_size == 0 and args.text is None:
        raise SentimentError("nothing to compute: give --text, a --sample-size above 0, or both")
    from sentiment.analysis.gradients import gradient_flow, write_gradient_flow
    from sentiment.io.artifacts import load_artifact

    cells = args.cells or _trained_cells(args.artifacts, CELL_TYPES)
    loaded = {cell: load_artifact(os.path.join(args.artifacts, cell)) for cell in cells}
    print(f"gradient flow for {', '.join(cells)} from {args.artifacts}/ ({args.sample_size} test reviews)", flush=True)
    result = gradient_flow(loaded, args.sample_size, seed=args.seed, text=args.text, command=_command_line())
    paths = write_gradient_flow(result, args.output or args.artifacts)
    print(f"results in {', '.join(str(path) for path in paths.values())}")


def _evaluate(args: argparse.Namespace) -> None:
    data_config = config_from_flags(DataConfig, args)
    from sentiment import data
    from sentiment.analysis.evaluation import EVALUATION_FILES, evaluate_artifacts, write_evaluation
    from sentiment.io import files

    output = args.output or os.path.join(args.artifacts, "evaluation")
    files.check_output_folder(output, EVALUATION_FILES)  # before the evaluation, not after it
    cells = args.cells or _trained_cells(args.artifacts, ALL_MODELS)
    split = args.split or ("all" if data_config.source == "csv" and data_config.dataset is None else "test")
    source = data_config.dataset or data_config.path or "IMDB (tensorflow-datasets)"
    print(f"reading {split} reviews from {source}", flush=True)
    try:
        reviews = data.read_labelled(data_config, split)
        result = evaluate_artifacts(
            args.artifacts, cells, reviews, f"{source} ({split})", command=_command_line(), progress=sys.stderr.isatty()
        )
        paths = write_evaluation(result, output)  # each file written beside itself and renamed into place
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; {output} is as it was before. evaluate does not resume: "
            "run the same command again to start over",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    for cell, metrics in result["models"].items():
        print(f"  {cell:<10} accuracy {metrics['accuracy']:.4f} on {metrics['count']:,} reviews")
    print(f"results in {', '.join(str(path) for path in paths.values())}")


def _inspect(args: argparse.Namespace) -> None:
    from sentiment.errors import SentimentError

    if args.sample_size == 0 and args.text is None:
        raise SentimentError("nothing to inspect: give --text, a --sample-size above 0, or both")
    from sentiment.analysis import gates, plots
    from sentiment.serving.predict import Predictor

    cells = args.cells or _trained_cells(args.artifacts, CELL_TYPES)
    predictors = {cell: Predictor.from_folder(os.path.join(args.artifacts, cell)) for cell in cells}
    print(
        f"inside the cell for {', '.join(cells)} from {args.artifacts}/ ({args.sample_size} test reviews)", flush=True
    )
    result = gates.inspect_models(predictors, args.text, args.sample_size, args.seed, command=_command_line())
    heatmaps = {
        cell: plots.gate_heatmap(
            gates.heatmap_values(entry["review"]), entry["review"]["words"], tuple(gates.GATE_ROLES)
        )
        for cell, entry in result["cells"].items()
        if entry["review"]
    }
    paths = gates.write_inspection(result, args.output or args.artifacts, heatmaps)
    print(f"results in {', '.join(str(path) for path in paths.values())}")


def _long_range(args: argparse.Namespace) -> None:
    config = config_from_flags(LongRangeConfig, args)
    from sentiment.analysis.longrange import JOURNAL_NAME, jobs, run_suite, write_results

    pairs = (
        f"; associative recall with {', '.join(map(str, config.associative_pairs))} pairs"
        if "associative" in config.tasks
        else ""
    )
    lengths = (
        f"; T = {', '.join(map(str, config.lengths))}" if {"recall", "adding"} & set(config.tasks) else ""
    )  # associative recall alone has only its pairs
    print(
        f"long-range suite: {len(jobs(config))} runs "
        f"({', '.join(config.tasks)}{lengths}{pairs}; "
        f"{len(config.variants)} variants; seeds {', '.join(map(str, config.seeds))}) in {config.workers} process(es)",
        flush=True,
    )
    # Every finished run is kept here as it finishes: the same command, interrupted, goes on where it stopped.
    journal = Path(args.output) / JOURNAL_NAME
    result = run_suite(
        config,
        log=lambda line: print(line, flush=True),
        command=_command_line(),
        progress=not args.no_progress,
        journal=journal,
    )
    paths = write_results(result, args.output)
    journal.unlink(missing_ok=True)
    print(f"\n{result['wall_seconds'] / 60:.1f} min; results in {', '.join(str(path) for path in paths.values())}")


def _distance_config(args: argparse.Namespace) -> DistanceConfig:
    """The distance's config from its flags: its own, and the data flags in its `DataConfig`."""
    return config_from_flags(DistanceConfig, args, data=config_from_flags(DataConfig, args))


def _distance(args: argparse.Namespace) -> None:
    config = _distance_config(args)
    from sentiment.analysis.distance import run_distance, write_results

    models = ", ".join(f"{model} ({schedule})" for model, schedule in config.models())
    print(
        f"sentiment at a distance: {models}; T = {', '.join(map(str, config.test_fillers))} "
        f"in {config.workers} process(es)",
        flush=True,
    )
    result = run_distance(
        config, log=lambda line: print(line, flush=True), command=_command_line(), progress=not args.no_progress
    )
    paths = write_results(result, args.output)
    print(f"\n{result['wall_seconds'] / 60:.1f} min; results in {', '.join(str(path) for path in paths.values())}")


def _results(args: argparse.Namespace) -> None:
    from sentiment.analysis.pages import DEFAULT_SOURCES, README_BEGIN, README_END, update_readme, write_results_page

    sources = {kind: None if getattr(args, kind) == "none" else Path(getattr(args, kind)) for kind in DEFAULT_SOURCES}
    # The IMDB rows after the LSTM are a run of their own (the "imdb_next" source): until it is there, none.
    if (
        sources["imdb_next"] is not None
        and not sources["imdb_next"].exists()
        and args.imdb_next == str(DEFAULT_SOURCES["imdb_next"])
    ):
        print(
            f"{sources['imdb_next']}: none yet, so the IMDB section has no rows after the LSTM "
            "(python -m sentiment train --cells mingru,minlstm,transformer --output artifacts/next, "
            f"then copy artifacts/next/summary.json to {sources['imdb_next']})"
        )
        sources["imdb_next"] = None
    missing = [str(path) for path in sources.values() if path is not None and not path.exists()]
    if missing:
        from sentiment.errors import SentimentError

        raise SentimentError(
            f"no such results file: {', '.join(missing)} (run the command that writes it, or pass 'none')"
        )
    print(f"wrote {write_results_page(sources, Path(args.output))}")
    readme = Path(args.readme)
    if not readme.is_file():
        print(f"{readme}: no such file; its results block was not written")
    elif update_readme(sources, readme):
        print(f"wrote the results block of {readme}")
    else:
        print(f"{readme}: no {README_BEGIN} ... {README_END} markers; left as it is")


def _bench(args: argparse.Namespace) -> None:
    config = config_from_flags(BenchConfig, args, cell_types=args.cells, peer=not args.no_peer)
    from sentiment.analysis.bench import run_bench, write_results

    result = run_bench(config, log=lambda line: print(line, flush=True), command=_command_line())
    paths = write_results(result, args.output)
    print(f"\n{result['wall_seconds'] / 60:.1f} min; results in {', '.join(str(path) for path in paths.values())}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out of the progress output
    from sentiment.errors import SentimentError

    try:
        {
            "train": _train,
            "export": _export,
            "predict": _predict,
            "gradients": _gradients,
            "evaluate": _evaluate,
            "inspect": _inspect,
            "long-range": _long_range,
            "distance": _distance,
            "results": _results,
            "bench": _bench,
        }[args.command](args)
    except SentimentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
