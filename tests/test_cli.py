"""The CLI turns bad input into one line that says what to do, never a traceback."""

import json
import shutil
from pathlib import Path

import pytest

from sentiment.analysis.pages import DEFAULT_SOURCES
from sentiment.cli import build_parser

from conftest import ROOT, run_cli


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [
        line
        for line in result.stderr.splitlines()
        if "error" in line.lower() and not line.startswith(("E0000", "W0000", "I0000"))
    ]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_cell_type():
    _assert_one_line_error(
        run_cli("train", "--cells", "lstm,mamba"),
        "unknown model 'mamba'",
        "simple_rnn, lstm, gru, bow, mingru, minlstm, transformer",
    )


def test_invalid_config_value():
    _assert_one_line_error(
        run_cli("train", "--truncation-side", "middle"), "truncation_side must be one of left, right"
    )


def test_missing_data_folder(tmp_path):
    _assert_one_line_error(
        run_cli(
            "train",
            *"--data-source aclimdb".split(),
            *("--data-path", str(tmp_path / "aclImdb")),
            *("--output", str(tmp_path / "out")),
        ),
        "aclImdb does not exist",
    )


def test_malformed_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\ngreat film,pos\nawful,neg,train\n")
    _assert_one_line_error(
        run_cli("train", "--data-source", "csv", "--data-path", str(path), "--output", str(tmp_path / "out")),
        "reviews.csv:3: expected 2 fields, found 3",
    )


def test_predict_a_malformed_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,text\n1,great film\n2,"awful\n')
    _assert_one_line_error(
        run_cli("predict", "--file", str(path), "--artifacts", str(tmp_path)), "reviews.csv:3: unexpected end of data"
    )


def test_predict_with_a_bad_folder(tmp_path, tiny_artifacts):
    _assert_one_line_error(
        run_cli("predict", "--artifacts", str(tmp_path / "nothing"), "a review"),
        "nothing does not exist",
        "python -m sentiment train",
    )
    _assert_one_line_error(
        run_cli("predict", "--export", str(tiny_artifacts), "a review"),
        "no export in",
        "<cell> one of simple_rnn, lstm, gru, mingru, minlstm, transformer",
        "python -m sentiment export",
    )


def test_export_without_artifacts(tmp_path):
    _assert_one_line_error(
        run_cli("export", "--artifacts", str(tmp_path / "nothing"), "--cells", "lstm"),
        "does not exist",
        "python -m sentiment train",
    )


def test_artifacts_from_another_version(tiny_artifacts, tmp_path):
    folder = shutil.copytree(tiny_artifacts, tmp_path / "old")
    for path in [folder / "summary.json", folder / "lstm" / "manifest.json"]:
        values = json.loads(path.read_text())
        values["format_version"] = 0
        path.write_text(json.dumps(values))
    _assert_one_line_error(
        run_cli("export", "--artifacts", str(folder), "--cells", "lstm"), "written by artifact format 0", "retrain"
    )
    _assert_one_line_error(run_cli("train", "--output", str(folder)), "written by artifact format 0", "--output")


def test_flags_override_the_preset():
    from sentiment.cli import _configs

    args = build_parser().parse_args(
        ["train", "--preset", "quick", "--units", "7", "--no-download", "--cells", "gru,lstm"]
    )
    data_config, model_config, train_config = _configs(args)
    assert model_config.units == 7 and data_config.download is False and data_config.sequence_length == 128
    assert args.cells == ("gru", "lstm")


def test_help_lists_presets():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])


def test_gradients_without_artifacts(tmp_path):
    _assert_one_line_error(
        run_cli("gradients", "--artifacts", str(tmp_path / "nothing"), "--cells", "gru"),
        "does not exist",
        "python -m sentiment train",
    )


def test_gradients_with_nothing_to_compute(tmp_path):
    _assert_one_line_error(run_cli("gradients", "--sample-size", "0"), "nothing to compute", "--text")


def test_long_range_rejects_bad_lengths():
    _assert_one_line_error(run_cli("long-range", "--lengths", "10,1"), "lengths must be integers >= 2")
    _assert_one_line_error(
        run_cli("long-range", "--lengths", "ten"), "argument --lengths: expected comma-separated integers, got 'ten'"
    )
    _assert_one_line_error(
        run_cli("long-range", "--variants", "lstm,transformer+chrono"), "unknown variant 'transformer+chrono'"
    )


def test_config_flags_come_from_the_dataclass_fields_and_docs():
    from sentiment.analysis.longrange import LongRangeConfig
    from sentiment.cli import attribute_docs, config_from_flags

    args = build_parser().parse_args(
        [
            "long-range",
            *("--lengths", "3, 9"),
            *"--variants gru+chrono --adding-updates 2 --seeds 4,5 --lag-shift-length none".split(),
        ]
    )
    config = config_from_flags(LongRangeConfig, args)
    assert (config.lengths, config.variants, config.adding_updates, config.seeds, config.lag_shift_length) == (
        (3, 9),
        ("gru+chrono",),
        2,
        (4, 5),
        None,
    )
    assert config.units == LongRangeConfig().units  # not given: the dataclass default
    docs = attribute_docs(LongRangeConfig)
    assert docs["adding_updates"].startswith("the adding budget") and "lag_shift_radius" in docs
    help_text = build_parser()._subparsers._group_actions[0].choices["long-range"].format_help()
    assert "--adding-updates" in help_text and "the adding budget" in help_text and "(default: 10000)" in help_text


def test_every_config_field_has_a_documented_flag():
    from sentiment.analysis.distance import DistanceConfig
    from sentiment.analysis.longrange import LongRangeConfig
    from sentiment.cli import attribute_docs
    from sentiment.config import BenchConfig

    for cls in (LongRangeConfig, DistanceConfig, BenchConfig):
        docs = attribute_docs(cls)
        missing = [field.name for field in __import__("dataclasses").fields(cls) if field.name not in docs]
        assert not missing, f"{cls.__name__}: no docstring for {missing}"


def test_distance_flags_fill_its_data_config():
    from sentiment.cli import _distance_config
    from sentiment.config import DataConfig, DistanceConfig

    def config(*flags):
        return _distance_config(build_parser().parse_args(["distance", *flags]))

    given = config(
        *"--data-source csv --data-path reviews.csv --vocabulary-size 50 --no-download --units 3".split(),
        *"--max-train-reviews 300".split(),  # the spelling from before DistanceConfig held a DataConfig
    )
    assert given.data == DataConfig(
        source="csv", path="reviews.csv", vocabulary_size=50, download=False, max_train_samples=300
    )
    assert given.units == 3 and given.review_tokens == DistanceConfig().review_tokens
    assert config("--max-train-samples", "7").data.max_train_samples == 7
    assert config() == DistanceConfig()
    help_text = build_parser()._subparsers._group_actions[0].choices["distance"].format_help()
    assert "--vocabulary-size" in help_text and "size of the vocabulary including padding" in help_text
    with pytest.raises(SystemExit):  # a data flag the distance does not read is not offered
        build_parser().parse_args(["distance", "--sequence-length", "50"])


def test_distance_rejects_bad_data_flags_in_one_line():
    _assert_one_line_error(run_cli("distance", "--data-source", "csv"), "data source 'csv' needs a path (--data-path)")


# --- After the LSTM: minGRU, minLSTM and the Transformer through every command ------------------------


def test_the_models_after_the_lstm_are_flags_of_train_export_predict_and_evaluate_only():
    from sentiment.cli import _configs

    args = build_parser().parse_args(["train", "--cells", "mingru,minlstm,transformer", "--solver", "loop"])
    assert args.cells == ("mingru", "minlstm", "transformer") and _configs(args)[1].solver == "loop"
    assert build_parser().parse_args(["export", "--cells", "transformer,lstm"]).cells == ("transformer", "lstm")
    assert build_parser().parse_args(["predict", "--model", "minlstm", "x"]).model == ("minlstm",)
    assert build_parser().parse_args(["evaluate", "--cells", "mingru,bow"]).cells == ("mingru", "bow")
    for command in (["gradients", "--cells", "mingru"], ["inspect", "--cells", "transformer"]):
        with pytest.raises(SystemExit):  # the analyses of Keras's cells read the three cells only
            build_parser().parse_args(command)
    long_range = build_parser().parse_args(
        ["long-range", "--tasks", "associative", "--associative-pairs", "2,3", "--variants", "mingru,transformer"]
        + ["--associative-updates", "7"]
    )
    assert (long_range.tasks, long_range.associative_pairs) == (("associative",), (2, 3))
    from sentiment.analysis.longrange import LongRangeConfig
    from sentiment.cli import config_from_flags

    assert config_from_flags(LongRangeConfig, long_range).associative_updates == 7
    bench = build_parser().parse_args(["bench", "--cost-variants", "mingru+loop", "--cost-memory-gb", "12"])
    assert (bench.cost_variants, bench.cost_memory_gb) == (("mingru+loop",), 12.0)


def test_a_bad_solver_is_one_line():
    _assert_one_line_error(
        run_cli("train", "--cells", "mingru", "--solver", "fast"), "solver must be one of scan, loop"
    )


def test_export_and_evaluate_default_to_every_model_the_folder_holds(tmp_path, monkeypatch):
    from sentiment import cli
    from sentiment.io.artifacts import MANIFEST_FILE

    for cell in ("lstm", "bow", "mingru", "transformer"):
        (tmp_path / cell).mkdir()
        (tmp_path / cell / MANIFEST_FILE).write_text("{}")
    (tmp_path / "gru").mkdir()  # started, never finished: no manifest
    exported = []
    monkeypatch.setattr(
        "sentiment.serving.export.export_model", lambda folder, output: exported.append(Path(folder).name) or output
    )
    assert cli.main(["export", "--artifacts", str(tmp_path)]) == 0
    assert exported == ["lstm", "mingru", "transformer"]  # the bag of n-grams is not a SavedModel
    assert cli._trained_cells(str(tmp_path), cli.ALL_MODELS) == ("lstm", "bow", "mingru", "transformer")


def _summary(cells_summary: dict, renamed: dict[str, str], command: str) -> dict:
    """A summary.json of another run: `cells_summary`'s models under other names, its own command and date."""
    return {
        **cells_summary,
        "command": command,
        "written_at": "2026-12-06T00:00:00+00:00",
        "models": {new: {**cells_summary["models"][old], "cell_type": new} for old, new in renamed.items()},
    }


def test_results_join_the_imdb_rows_after_the_lstm_marked_and_with_their_own_command(tmp_path, monkeypatch, capsys):
    from sentiment import cli
    from sentiment.analysis import pages

    cells = json.loads((ROOT / "docs" / "imdb" / "summary.json").read_text())
    after = _summary(cells, {"lstm": "mingru", "gru": "transformer"}, "python -m sentiment train --cells x")
    after["run"] = {**after["run"], "model": {**after["run"]["model"], "solver": "loop"}}
    for name, summary in (("imdb", cells), ("imdb_next", after)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    none = [f"--{kind.replace('_', '-')}=none" for kind in DEFAULT_SOURCES if not kind.startswith("imdb")]
    page = tmp_path / "RESULTS.md"
    arguments = [*none, "--imdb-strong=none", "--readme", str(tmp_path / "README.md"), "--output", str(page)]
    imdb = ["--imdb", str(tmp_path / "imdb" / "summary.json")]
    assert cli.main(["results", *imdb, "--imdb-next", str(tmp_path / "imdb_next" / "summary.json"), *arguments]) == 0
    text = page.read_text()
    assert text.count("### After the LSTM") == 1 and "| SimpleRNN | " in text
    after_section = text[text.index("### After the LSTM") :]
    lstm = cells["models"]["lstm"]["test"]
    assert f"| minGRU | {100 * lstm['accuracy']:.1f}% [" in after_section  # its row, under its own heading
    assert "come from another run: `python -m sentiment train --cells x` on 2026-12-06" in after_section
    assert "solver: scan → loop" in after_section  # a setting that differs is named
    assert "| words | reviews | SimpleRNN | LSTM | GRU | Bag of n-grams (reference) | minGRU (after the LSTM) |" in text
    # A file named that is not there is an error; the default's absence (no run after the LSTM yet) is not.
    missing = tmp_path / "nothing.json"
    assert cli.main(["results", *imdb, "--imdb-next", str(missing), *arguments]) == 2
    monkeypatch.setattr(pages, "DEFAULT_SOURCES", {**pages.DEFAULT_SOURCES, "imdb_next": missing})
    assert cli.main(["results", *imdb, *arguments]) == 0
    assert "After the LSTM" not in page.read_text() and "none yet" in capsys.readouterr().out


@pytest.mark.slow
def test_train_the_models_after_the_lstm_then_predict_with_every_model_the_folder_holds(tiny_csv, tmp_path):
    output = tmp_path / "next"
    tiny = [
        *("--data-source", "csv", "--data-path", str(tiny_csv)),
        *"--vocabulary-size 30 --sequence-length 8 --embedding-dim 4 --units 4 --epochs 1 --batch-size 32".split(),
    ]
    trained = run_cli("train", "--cells", "mingru,minlstm,transformer", *tiny, "--output", str(output))
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert all(f"  {cell:<10} test accuracy" in trained.stdout for cell in ("mingru", "minlstm", "transformer"))
    summary = json.loads((output / "summary.json").read_text())
    assert list(summary["models"]) == ["mingru", "minlstm", "transformer"]
    markdown = (output / "summary.md").read_text()
    assert "### After the LSTM" in markdown and "| minLSTM |" in markdown
    assert "minGRU and minLSTM solved by a parallel scan (`--solver scan`)" in markdown
    predicted = run_cli("predict", "--artifacts", str(output), "a great film")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    (row,) = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert set(row) == {"index", "text", "mingru", "minlstm", "transformer"}
