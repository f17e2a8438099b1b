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


def test_jacobian_sentence_leaves_out_a_silent_model_and_says_why():
    result = _with_jacobians(
        _fake_result([_fake_run("recall", 50, 0, variant, 0.5) for variant in ("simple_rnn", "lstm")])
    )
    result["runs"][1]["jacobian"]["trained"] = {"by_distance": [0.0] * 5}  # the LSTM's: zero everywhere
    frame, sentence = thesis_views.jacobian_frame(result, phase="trained")
    assert "SimpleRNN 0.990." in sentence and "SimpleRNN keeps the most per step" in sentence
    assert "LSTM: the norm is zero at every distance" in sentence and "LSTM 1.000" not in sentence
    assert set(frame["model"]) == {"SimpleRNN", "LSTM"}  # the line is still drawn, on the floor


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
    # Issue 29's new results, written by its runs (IMDB after the LSTM, associative recall): they need not be
    # there yet, but nothing may keep them out of git once they are.
    awaited = {
        thesis_views.DOCS / "imdb_next" / "summary.json",
        thesis_views.DOCS / "long_range" / PLOT_FILES["associative"],
    }
    for path in shipped:
        relative = str(path.relative_to(root))
        ignored = subprocess.run(["git", "check-ignore", "-v", relative], cwd=root, capture_output=True, text=True)
        assert ignored.stdout == "", f"{relative} is ignored: {ignored.stdout}"
        if path in awaited and not path.exists():
            continue
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", relative], cwd=root, capture_output=True, text=True
        )
        assert tracked.returncode == 0, f"{relative} is not tracked in git"


# --- 6. What came next: the models after the LSTM ---------------------------------------------------

from sentiment.analysis.bench import sequential_steps  # noqa: E402
from webapp import findings  # noqa: E402


def _next_result():
    """A long-range result with the cells and the models after the LSTM, associative recall included."""
    runs = [
        _fake_run("recall", 200, seed, variant, accuracy, 200 if accuracy > 0.99 else None)
        for seed in (0, 1)
        for variant, accuracy in (("gru", 0.5), ("gru+chrono", 1.0), ("mingru", 0.5), ("mingru+chrono", 1.0))
    ]
    runs += [_fake_run("adding", 200, 0, variant, 0.005, 900) for variant in ("gru", "minlstm", "transformer")]
    for pairs, accuracies in ((4, (0.9, 0.7, 1.0)), (32, (0.26, 0.4, 1.0))):
        for variant, accuracy in zip(("lstm", "mingru", "transformer"), accuracies):
            runs.append({**_fake_run("associative", pairs + 1, 0, variant, accuracy), "pairs": pairs})
    for run in runs:
        if run["task"] == "recall" and run["variant"] in ("gru", "mingru", "mingru+chrono"):
            shrink = {"gru": 0.6, "mingru": 0.5, "mingru+chrono": 0.97}[run["variant"]]
            curve = [float(shrink**d) for d in range(5)]
            run["jacobian"] = {"init": {"by_distance": curve}, "trained": {"by_distance": curve}}
    result = _fake_result(runs)
    result["config"].update(tasks=["recall", "adding", "associative"], associative_keys=64, associative_values=4)
    return result


def _bench_result():
    models = {
        "gru": [0.01, 0.02, 0.04, 0.08],
        "conv1d": [0.005, 0.005, 0.006, 0.007],
        "mingru+scan": [0.03, 0.03, 0.035, 0.04],
        "transformer": [0.004, 0.008, 0.03, None],  # not run at T = 400: its attention would not fit
    }
    lengths = [50, 100, 200, 400]
    cost = {
        "lengths": lengths,
        "batch_size": 32,
        "memory_gb": 4.0,
        "models": {
            name: {
                "train_seconds": times,
                "inference_seconds": times,
                "sequential_steps": [sequential_steps(name, length) for length in lengths],
                "skipped": [400] if name == "transformer" else [],
            }
            for name, times in models.items()
        },
    }
    return {"command": "python -m sentiment bench", "date": "2026-12-06T00:00:00+00:00", "sequential_cost": cost}


def test_panels_1_to_3_stay_about_the_cells_and_panel_6_reads_what_came_after():
    result = _next_result()
    recall = thesis_views.recall_frame(result)
    assert set(recall["model"]) == {"GRU", "GRU (chrono init)"}  # the models after the LSTM are panel 6's
    adding, _, _ = thesis_views.adding_frame(result)
    assert set(adding["model"]) == {"GRU"}
    assert set(thesis_views.jacobian_frame(result)[0]["model"]) == {"GRU"}
    associative, chance = thesis_views.associative_frame(result)
    assert chance == 0.25 and associative["pairs"].tolist() == [4, 4, 4, 32, 32, 32]
    assert associative["model"].tolist()[:3] == ["LSTM", "minGRU (after the LSTM)", "Transformer (after the LSTM)"]
    assert associative["accuracy"].tolist()[3:] == [0.26, 0.4, 1.0]
    verdicts = thesis_views.verdict_frame(result).set_index(["task", "model"])
    assert verdicts.loc[("recall", "minGRU (chrono init, after the LSTM)"), ["solved", "runs"]].tolist() == [2, 2]
    assert verdicts.loc[("recall", "minGRU (after the LSTM)"), "solved"] == 0
    assert verdicts.loc[("adding", "Transformer (after the LSTM)"), "T"] == 200


def test_the_findings_of_panel_6_are_computed_from_what_it_shows():
    associative, chance = thesis_views.associative_frame(_next_result())
    sentence = findings.associative_finding(associative, chance)
    assert sentence.startswith(
        "With 32 key-value pairs before the query, only Transformer (after the LSTM) recalls the queried key's value "
        "(100.0%); LSTM guesses, at chance (one value in 4: 26.0%); minGRU (after the LSTM) is in between (40.0%)."
    )
    cost = thesis_views.cost_frame(_bench_result())
    assert len(cost) == 15 and cost["T"].dtype.kind == "i"  # the skipped length has no row
    assert cost.loc[cost["model"] == "GRU", "log10 ms"].tolist() == pytest.approx(np.log10([10, 20, 40, 80]))
    text = findings.cost_finding(cost)
    assert text.startswith("At T = 400, the sequential steps on a forward pass's critical path: 400 for the GRU, 1 for")
    assert "9 for the minGRU (scan solver, after the LSTM)" in text
    assert (
        "minGRU (scan solver, after the LSTM)'s training step is slower than the GRU's at T = 50 to 100 and faster at "
        "T = 200 to 400: the curves cross near T ≈ 168" in text
    )
    assert "Transformer (after the LSTM)'s training step is faster than the GRU's at T = 50 to 200 (0.75x" in text
    assert "LSTM's training step" not in text  # the cells are not compared with the GRU here
    assert findings.associative_finding(associative.iloc[:0], None) == findings.cost_finding(cost.iloc[:0]) == ""
    # Each fake run scores 0.5, then its final score: the LSTM's 90.0% at 4 pairs climbed 40 points.
    assert (
        " With 4 pairs LSTM reached 90.0% and was still climbing when the budget ended (+40.0 points over its second "
        "half)" in sentence
    )
    flat = associative.assign(**{"late gain": [0.01, 0.02, np.nan, 0.0, 0.0, np.nan]})
    assert "still climbing" not in findings.associative_finding(flat, chance)


def test_what_came_next_summarizes_the_long_range_verdicts_the_gates_and_imdb():
    result = _next_result()
    shrink = thesis_views.initial_shrink(result, variants=("gru", "gru+chrono", *thesis_views.AFTER_VARIANTS))
    metrics = {
        "lstm": {"test": {"accuracy": 0.87, "ci_low": 0.866, "ci_high": 0.874, "count": 25000}},
        "bow": {"test": {"accuracy": 0.91, "ci_low": 0.906, "ci_high": 0.914, "count": 25000}},
        "mingru": {"test": {"accuracy": 0.89, "ci_low": 0.886, "ci_high": 0.894, "count": 25000}},
        "transformer": {"test": {"accuracy": 0.871, "ci_low": 0.867, "ci_high": 0.875, "count": 25000}},
    }
    imdb = thesis_views.imdb_frame(metrics)
    text = findings.after_the_lstm_summary(thesis_views.verdict_frame(result), shrink, imdb, ["A note."])
    assert (
        "**Variable-lag recall**, T = 200: solved in every seed by GRU (chrono init) and minGRU (chrono init, after "
        "the LSTM); in none by GRU and minGRU (after the LSTM)." in text
    )
    assert "**The adding problem**, T = 200: solved in every seed by GRU, minLSTM (after the LSTM)" in text
    assert "GRU 0.600, minGRU (after the LSTM) 0.500 and minGRU (chrono init, after the LSTM) 0.970" in text
    assert "**On IMDB's test reviews**: minGRU (after the LSTM) 89.0% [88.6%, 89.4%]" in text
    assert "the best cell, the LSTM, 87.0%: minGRU (after the LSTM) is above it beyond both" in text
    assert "(the bag-of-n-grams reference: 91.0%)." in text
    assert "Transformer (after the LSTM) within reach of it" in text and text.endswith("A note.")
    empty = findings.after_the_lstm_summary(
        thesis_views.verdict_frame(None), {}, thesis_views.imdb_frame({}), ["Nothing yet."]
    )
    assert empty == "Nothing yet."


def test_the_panel_is_empty_safe_and_says_what_to_run(tmp_path, monkeypatch):
    from webapp.start_views import StartViews

    # No IMDB run after the LSTM anywhere: not in the app's folder, nor shipped.
    monkeypatch.setitem(thesis_views.RESULT_FILES, "imdb_next", (None, tmp_path / "nothing" / "summary.json"))
    folder = tmp_path / "artifacts"
    (tmp_path / "long_range.json").write_text(json.dumps(_fake_result([_fake_run("recall", 50, 0, "gru", 0.5)])))
    (tmp_path / "bench.json").write_text(json.dumps({"command": "python -m sentiment bench", "sequential_cost": None}))
    start = StartViews(
        views.LoadedModels(folder, {}, {}),
        tmp_path / "long_range.json",
        tmp_path / "nothing.json",
        tmp_path / "bench.json",
    )
    outputs = start.gate_outputs()
    summary, associative_finding, associative, cost_finding, cost = outputs[-5:]
    assert associative_finding == cost_finding == ""
    # An empty plot says in its frame what fills it, rather than drawing bare axes.
    from webapp import charts

    assert charts.spec_of(associative)["data"]["values"] == [
        {"message": "No associative-recall runs yet: python -m sentiment long-range measures them."}
    ]
    assert "python -m sentiment bench" in charts.spec_of(cost)["data"]["values"][0]["message"]
    assert "The long-range results hold no run of the models after the LSTM yet: `python -m sentiment long-range`" in (
        summary
    )
    assert "no sequential cost of the models after the LSTM yet: `python -m sentiment bench`" in summary
    assert "`python -m sentiment train --cells mingru,minlstm,transformer --output artifacts/next`" in summary
    assert "Cost: From " in start.next_note and "bench.json" in start.next_note


def test_the_panel_shows_the_files_it_reads(tmp_path):
    from webapp import charts
    from webapp.start_views import StartViews

    (tmp_path / "long_range.json").write_text(json.dumps(_next_result()))
    (tmp_path / "bench.json").write_text(json.dumps(_bench_result()))
    start = StartViews(
        views.LoadedModels(tmp_path, {}, {}),
        tmp_path / "long_range.json",
        tmp_path / "nothing.json",
        tmp_path / "bench.json",
    )
    summary, associative_finding, associative, cost_finding, cost = start.gate_outputs()[-5:]
    assert "**Variable-lag recall**" in summary and "With 32 key-value pairs" in associative_finding
    spec = charts.spec_of(associative)
    assert {row["model"] for row in spec["data"]["values"]} == {
        "LSTM",
        "minGRU (after the LSTM)",
        "Transformer (after the LSTM)",
    }
    assert [layer["data"]["values"][0]["level"] for layer in spec["layer"][1:2]] == ["chance (25%)"]
    assert charts.spec_of(cost)["layer"][0]["encoding"]["x"]["field"] == "T" and "T ≈" in cost_finding
    # Panels 1 to 3 keep to the cells: the recall plot draws no model after the LSTM.
    assert {row["model"] for row in charts.spec_of(start.recall)["data"]["values"]} == {"GRU", "GRU (chrono init)"}


def test_the_cost_plot_puts_doubling_lengths_equal_steps_apart(tmp_path):
    from webapp import charts
    from webapp.start_views import StartViews

    (tmp_path / "bench.json").write_text(json.dumps(_bench_result()))
    start = StartViews(
        views.LoadedModels(tmp_path / "artifacts", {}, {}),
        tmp_path / "nothing.json",
        tmp_path / "nothing.json",
        tmp_path / "bench.json",
    )
    (line, *_) = charts.spec_of(start.cost)["layer"]
    x = line["encoding"]["x"]
    assert x["scale"] == {"type": "log", "base": 2} and "log scale" in x["axis"]["title"]
    assert x["axis"]["values"] == sorted(_bench_result()["sequential_cost"]["lengths"])
