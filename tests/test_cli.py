"""The CLI turns bad input into one line that says what to do, never a traceback."""

import json
import shutil

import pytest

from sentiment.cli import build_parser

from conftest import run_cli


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
        run_cli("train", "--cells", "lstm,transformer"), "unknown model 'transformer'", "simple_rnn, lstm, gru, bow"
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
        "no export of simple_rnn, lstm, gru in",
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
    _assert_one_line_error(run_cli("long-range", "--variants", "lstm,transformer"), "unknown variant 'transformer'")


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
