"""The CLI turns bad input into one line that says what to do, never a traceback."""

import json
import shutil

import pytest

from conftest import run_cli
from sentiment.__main__ import build_parser


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower() and not line.startswith(("E0000", "W0000", "I0000"))]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_cell_type():
    _assert_one_line_error(run_cli("train", "--cells", "lstm,transformer"), "unknown cell type 'transformer'", "simple_rnn, lstm, gru")


def test_invalid_config_value():
    _assert_one_line_error(run_cli("train", "--truncation-side", "middle"), "truncation_side must be one of left, right")


def test_missing_data_folder(tmp_path):
    _assert_one_line_error(
        run_cli("train", "--data-source", "aclimdb", "--data-path", str(tmp_path / "aclImdb"), "--output", str(tmp_path / "out")),
        "aclImdb does not exist",
    )


def test_malformed_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\ngreat film,pos\nawful,neg,train\n")
    _assert_one_line_error(
        run_cli("train", "--data-source", "csv", "--data-path", str(path), "--output", str(tmp_path / "out")),
        "reviews.csv:3: expected 2 fields, found 3",
    )


def test_export_without_artifacts(tmp_path):
    _assert_one_line_error(run_cli("export", "--artifacts", str(tmp_path / "nothing"), "--cells", "lstm"), "does not exist", "python -m sentiment train")


def test_artifacts_from_another_version(tiny_artifacts, tmp_path):
    folder = shutil.copytree(tiny_artifacts, tmp_path / "old")
    for path in [folder / "run.json", folder / "lstm" / "manifest.json"]:
        values = json.loads(path.read_text())
        values["format_version"] = 0
        path.write_text(json.dumps(values))
    _assert_one_line_error(run_cli("export", "--artifacts", str(folder), "--cells", "lstm"), "written by artifact format 0", "retrain")
    _assert_one_line_error(run_cli("train", "--output", str(folder)), "written by artifact format 0", "--output")


def test_flags_override_the_preset():
    from sentiment.__main__ import _configs

    args = build_parser().parse_args(["train", "--preset", "quick", "--units", "7", "--no-download", "--cells", "gru,lstm"])
    data_config, model_config, train_config = _configs(args)
    assert model_config.units == 7 and data_config.download is False and data_config.sequence_length == 128
    assert args.cells == ("gru", "lstm")


def test_help_lists_presets():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])


def test_gradients_without_artifacts(tmp_path):
    _assert_one_line_error(run_cli("gradients", "--artifacts", str(tmp_path / "nothing"), "--cells", "gru"), "does not exist", "python -m sentiment train")


def test_gradients_with_nothing_to_compute(tmp_path):
    _assert_one_line_error(run_cli("gradients", "--sample-size", "0"), "nothing to compute", "--text")


def test_long_range_rejects_bad_distances():
    _assert_one_line_error(run_cli("long-range", "--distances", "10,0"), "distances must be positive integers")
    _assert_one_line_error(run_cli("long-range", "--distances", "ten"), "argument --distances: expected comma-separated integers, got 'ten'")


def test_long_range_flags_reach_the_config():
    args = build_parser().parse_args(["long-range", "--distances", "3, 9", "--cells", "gru", "--epochs", "2", "--seeds", "4,5"])
    assert args.distances == (3, 9) and args.cells == ("gru",) and args.epochs == 2 and args.seeds == (4, 5) and args.units is None
