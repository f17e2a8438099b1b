"""`python -m sentiment evaluate`: trained artifacts on labelled reviews of your own."""

import json
from pathlib import Path

import numpy as np
import pytest

from sentiment.analysis.evaluation import confusion
from sentiment.config import MODELS

from conftest import make_reviews, run_cli, write_csv


def test_confusion_counts():
    counts = confusion(np.array([0.9, 0.2, 0.6, 0.4, 0.5]), np.array([1, 0, 0, 1, 1]))
    assert counts == {"true_negative": 1, "false_positive": 1, "false_negative": 1, "true_positive": 2}


def test_every_model_scores_a_csv_with_the_training_figures(tiny_artifacts, tmp_path):
    texts, labels = make_reviews(60, seed=7)
    path = write_csv(tmp_path / "mine.csv", texts, labels)  # no split column: all of it is read
    result = run_cli(
        "evaluate",
        *("--artifacts", str(tiny_artifacts)),
        *"--data-source csv".split(),
        *("--data-path", str(path)),
        *("--output", str(tmp_path / "out")),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert list(values["models"]) == list(MODELS) and values["reviews"] == 60
    for metrics in values["models"].values():
        assert metrics["count"] == 60 and sum(metrics["confusion"].values()) == 60
        assert 0 <= metrics["ci_low"] <= metrics["accuracy"] <= metrics["ci_high"] + 1e-12 <= 1 + 1e-12
        assert sum(bucket["count"] for bucket in metrics["by_length"]) == 60
        correct = metrics["confusion"]["true_negative"] + metrics["confusion"]["true_positive"]
        assert metrics["accuracy"] == pytest.approx(correct / 60)
    markdown = (tmp_path / "out" / "evaluation.md").read_text()
    assert (
        "## Confusion matrix" in markdown and "Bag of n-grams (reference)" in markdown and "mine.csv (all)" in markdown
    )
    # Each recurrent model against the reference, on the same reviews.
    reference = values["models"]["bow"]
    assert "vs_reference" not in reference
    for cell in set(MODELS) - {"bow"}:
        paired = values["models"][cell]["vs_reference"]
        assert paired["only_model_right"] - paired["only_reference_right"] == round(
            60 * (values["models"][cell]["accuracy"] - reference["accuracy"])
        )
        assert 0 < paired["p_value"] <= 1
    assert "## Against the reference, review by review (exact McNemar test)" in markdown


def test_a_split_column_picks_the_rows_and_one_model_can_be_named(tiny_artifacts, tmp_path):
    texts, labels = make_reviews(30, seed=8)
    path = write_csv(tmp_path / "mine.tsv", texts, labels, ["train"] * 10 + ["test"] * 20)
    path.write_text(path.read_text().replace(",", "\t"))
    result = run_cli(
        "evaluate",
        *("--artifacts", str(tiny_artifacts)),
        *"--cells gru --data-source csv".split(),
        *("--data-path", str(path)),
        *"--split test".split(),
        *("--output", str(tmp_path / "out")),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert list(values["models"]) == ["gru"] and values["reviews"] == 20


@pytest.mark.parametrize(
    "content, message",
    [
        ("text,label\ngreat film,pos\nawful,neg,train\n", "bad.csv:3: expected 2 fields, found 3"),
        ("text,label\ngreat film,maybe\n", "bad.csv:2: label 'maybe' is not one of"),
        ("words,label\ngreat,1\n", "bad.csv:1: header has no text column"),
        ("", "bad.csv: the file is empty"),
    ],
)
def test_a_malformed_file_gets_its_name_line_and_problem(tiny_artifacts, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = run_cli("evaluate", "--artifacts", str(tiny_artifacts), "--data-source", "csv", "--data-path", str(path))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_folder_without_models_says_how_to_train(tmp_path):
    result = run_cli(
        "evaluate",
        *("--artifacts", str(tmp_path / "nothing")),
        *"--data-source csv".split(),
        *("--data-path", str(tmp_path / "x.csv")),
    )
    assert result.returncode == 2 and "python -m sentiment train" in result.stderr


@pytest.mark.parametrize(
    "case, output, expected",
    [
        ("--output is a file", lambda tmp: tmp / "taken", "is a file; give a folder"),
        ("--output under a file", lambda tmp: tmp / "taken" / "evaluation", "taken is a file, not a folder"),
        ("--output where nothing can be written", lambda tmp: Path("/proc/evaluation"), "cannot write in /proc"),
        ("--output holding a folder named evaluation.json", lambda tmp: tmp / "out", "is a folder, so it cannot"),
    ],
)
def test_output_path_problems_are_one_line_before_the_evaluation(tmp_path, capsys, reliability, case, output, expected):
    from sentiment import cli

    (tmp_path / "taken").write_text("keep me")
    (tmp_path / "out" / "evaluation.json").mkdir(parents=True)
    args = ["evaluate", "--artifacts", str(tmp_path / "no-models"), "--data-source", "csv"]
    assert cli.main([*args, "--data-path", str(tmp_path / "x.csv"), "--output", str(output(tmp_path))]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and captured.err.count("\n") == 1
    assert "reading" not in captured.out and "no-models" not in captured.err  # nothing read, no model looked for
    assert (tmp_path / "taken").read_text() == "keep me"
    reliability.record(
        "evaluate",
        case,
        "one line before any review is read or scored",
        captured.err.strip().replace(str(tmp_path), "…"),
    )


def test_the_exact_mcnemar_test_matches_the_binomial_tail():
    from scipy.stats import binomtest  # scipy comes with scikit-learn

    from sentiment.analysis.evaluation import paired_counts
    from sentiment.evaluate import mcnemar_p_value

    assert mcnemar_p_value(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)  # by hand
    assert mcnemar_p_value(0, 0) == 1.0 and mcnemar_p_value(5, 5) == 1.0
    for first, second in ((759, 641), (3, 30), (120, 118)):
        assert mcnemar_p_value(first, second) == pytest.approx(binomtest(first, first + second, 0.5).pvalue, rel=1e-9)
    model, reference = np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 1, 0, 0], bool)
    assert paired_counts(model, reference) == {"only_model_right": 2, "only_reference_right": 1, "p_value": 1.0}
