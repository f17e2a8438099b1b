"""The frames of the app's "Why gates matter" tab, from results files the CLI wrote."""

import json

import numpy as np
import pytest
from test_longrange import _fake_result, _fake_run

from sentiment.analysis.gradients import gradient_flow
from webapp import thesis_views, views


@pytest.fixture(scope="module")
def models(tiny_artifacts):
    return views.load_models(tiny_artifacts, warm_up=False)


def _with_jacobians(result):
    for run in result["runs"]:
        if run["length"] == max(result["config"]["lengths"]):
            shrink = {"simple_rnn": 0.99, "lstm": 0.8, "gru": 0.6}[run["variant"]]
            curve = [float(shrink**d) for d in range(5)]
            run["jacobian"] = {"init": {"by_distance": curve}, "trained": {"by_distance": curve}}
            if run["variant"] == "simple_rnn":
                run["jacobian"]["init_driven"] = {"by_distance": [float(0.5**d) for d in range(5)]}
    result["config"]["tasks"] = ["recall"]
    return result


def test_results_are_found_in_order_and_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no CLI output here: the shipped file
    result, note = thesis_views.load_results("long_range")
    shipped = thesis_views.RESULT_FILES["long_range"][1]
    assert (result is not None) == shipped.exists()
    if result is not None:
        assert "shipped in docs/" in note and "docs/long_range/long_range.json" in note
    mine = tmp_path / "mine.json"
    mine.write_text(
        json.dumps({"command": "python -m sentiment long-range --seeds 7", "started_at": "today", "runs": []})
    )
    result, note = thesis_views.load_results("long_range", mine)
    assert result["runs"] == [] and "your run" in note and "--seeds 7" in note
    (tmp_path / "broken.json").write_text("{not json")
    result, note = thesis_views.load_results("long_range", tmp_path / "broken.json")
    assert result is None and "could not be read" in note


def test_jacobian_frame_averages_logs_over_seeds_and_names_the_longest_memory():
    result = _with_jacobians(
        _fake_result(
            [
                _fake_run("recall", 50, seed, variant, 0.5)
                for seed in (0, 1)
                for variant in ("simple_rnn", "lstm", "gru")
            ]
        )
    )
    frame, sentence = thesis_views.jacobian_frame(result)
    assert set(frame["model"]) == {"SimpleRNN", "LSTM", "GRU", "SimpleRNN, inputs × 8"}
    lstm = frame[frame["model"] == "LSTM"]
    np.testing.assert_allclose(lstm["log10 norm"], np.arange(5) * np.log10(0.8))
    assert "SimpleRNN 0.990, LSTM 0.800, GRU 0.600" in sentence and "SimpleRNN keeps the most per step" in sentence


def test_recall_and_adding_frames():
    result = _fake_result(
        [
            _fake_run("recall", 25, 0, "lstm", 1.0, 100),
            _fake_run("recall", 25, 1, "lstm", 0.5),
            _fake_run("adding", 25, 0, "gru", 0.005, 100),
            _fake_run("adding", 10, 0, "gru", 0.1),
        ]
    )
    recall = thesis_views.recall_frame(result).to_dict("records")
    assert recall == [{"model": "LSTM", "T": 25, "accuracy": 0.75, "seeds": "100.0%, 50.0%"}]
    assert thesis_views.recall_frame(result)["T"].dtype.kind == "i"  # a number, drawn on a numeric axis
    adding, baseline, length = thesis_views.adding_frame(result)
    assert length == 25 and baseline == pytest.approx(0.167)  # the longest T only
    assert adding["series"].tolist() == ["GRU, seed 0", "GRU, seed 0"] and adding["updates"].tolist() == [0, 100]
    np.testing.assert_allclose(adding["log10 MSE"], np.log10([0.5, 0.005]))
    assert thesis_views.recall_frame(None).empty and thesis_views.adding_frame(None)[0].empty


def test_distance_frame_reads_the_disagreeing_examples():
    def entry(accuracy):
        return {"accuracy": accuracy, "ci_low": accuracy - 0.1, "ci_high": accuracy + 0.1, "count": 10}

    run = {
        "model": "lstm",
        "schedule": "curriculum",
        "by_filler": [
            {"filler": 0, "overall": entry(0.8), "disagree": None},
            {"filler": 50, "overall": entry(0.7), "disagree": entry(0.4)},
        ],
    }
    result = {"config": {"schedule": "curriculum", "test_fillers": [0, 50]}, "runs": [run]}
    from sentiment.evaluate import wilson_interval

    low, high = wilson_interval(4, 10)  # the seeds' examples pooled: 4 of 10
    assert thesis_views.distance_frame(result).to_dict("records") == [
        {
            "model": "LSTM",
            "T": 50,
            "accuracy": 0.4,
            "ci_low": pytest.approx(low),
            "ci_high": pytest.approx(high),
            "reviews": 10,
        }
    ]
    assert len(thesis_views.distance_frame(result, "overall")) == 2


def test_decision_frame_from_a_real_gradient_run(models):
    result = json.loads(
        json.dumps(
            gradient_flow({cell: p.artifact for cell, p in models.predictors.items()}, sample_size=12, command="test")
        )
    )
    frame = thesis_views.decision_frame(result)
    assert set(frame["model"]) == {"SimpleRNN", "LSTM", "GRU"}
    gru = frame[frame["model"] == "GRU"]
    expected = np.array([np.nan if v is None else v for v in result["cells"]["gru"]["decision"]["geometric_mean"]])
    np.testing.assert_allclose(gru["log10 share"], np.log10(expected[np.isfinite(expected)]), rtol=1e-6)
    assert (np.diff(gru["reviews"]) <= 0).all()  # fewer reviews reach further back
    assert thesis_views.decision_frame({"cells": {"lstm": {}}}).empty  # a gradients.json from before the shares


def test_every_shipped_result_is_in_git_and_not_ignored():
    import shutil
    import subprocess

    from sentiment.analysis.longrange import PLOT_FILES
    from sentiment.analysis.pages import DEFAULT_SOURCES

    root = thesis_views.DOCS.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    shipped = [shipped for _, shipped in thesis_views.RESULT_FILES.values()]
    shipped += [root / path for path in DEFAULT_SOURCES.values()]
    shipped += [thesis_views.DOCS / "long_range" / name for name in PLOT_FILES.values()] + [
        thesis_views.DOCS / "distance" / "distance.png",
        thesis_views.DOCS / "RESULTS.md",
    ]
    for path in shipped:
        relative = str(path.relative_to(root))
        ignored = subprocess.run(["git", "check-ignore", "-v", relative], cwd=root, capture_output=True, text=True)
        assert ignored.stdout == "", f"{relative} is ignored: {ignored.stdout}"
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", relative], cwd=root, capture_output=True, text=True
        )
        assert tracked.returncode == 0, f"{relative} is not tracked in git"
