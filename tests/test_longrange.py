import json

import numpy as np
import pytest

from sentiment.analysis.longrange import (
    FIRST_DISTRACTOR_ID,
    SIGNAL_IDS,
    VARIANTS,
    LongRangeConfig,
    accuracy_by_lag,
    adding_sequences,
    constant_baseline_mse,
    jobs,
    recall_sequences,
    results_markdown,
    run_table,
    score,
    solved,
)

from conftest import run_cli


@pytest.mark.parametrize("length", [2, 7, 50, 201])
def test_recall_puts_one_signal_at_a_random_lag_between_half_and_all_of_t(length):
    ids, labels, lags = recall_sequences(np.random.default_rng(3), 4000, length, distractor_count=5)
    assert ids.shape == (4000, length + 1) and ids.dtype == np.int32
    signal = np.argwhere(np.isin(ids, SIGNAL_IDS))
    np.testing.assert_array_equal(signal[:, 0], np.arange(4000))  # exactly one signal per sequence
    np.testing.assert_array_equal(length - signal[:, 1], lags)  # at column T - L
    np.testing.assert_array_equal(ids[np.arange(4000), length - lags], np.asarray(SIGNAL_IDS)[labels])
    low = (length + 1) // 2
    assert lags.min() == low and lags.max() == length  # the whole range [T/2, T] is used
    distractors = ids[~np.isin(ids, SIGNAL_IDS)]
    assert distractors.min() >= FIRST_DISTRACTOR_ID and distractors.max() < FIRST_DISTRACTOR_ID + 5
    assert 0.45 < labels.mean() < 0.55
    if length >= 50:  # the lag does not give the label away
        assert abs(np.corrcoef(lags, labels)[0, 1]) < 0.05


def test_recall_fixed_lag_is_the_lag_shift_task():
    ids, labels, lags = recall_sequences(np.random.default_rng(0), 100, 30, 4, lag=30)
    assert np.all(lags == 30) and np.all(np.isin(ids[:, 0], SIGNAL_IDS))
    with pytest.raises(ValueError, match="within the sequence"):
        recall_sequences(np.random.default_rng(0), 10, 5, 4, lag=6)


@pytest.mark.parametrize("length", [2, 9, 200])
def test_adding_marks_one_value_in_each_half_and_sums_them(length):
    inputs, targets, marked = adding_sequences(np.random.default_rng(1), 3000, length)
    assert inputs.shape == (3000, length, 2) and inputs.dtype == np.float32
    values, markers = inputs[..., 0], inputs[..., 1]
    assert values.min() >= 0 and values.max() < 1
    np.testing.assert_array_equal(markers.sum(axis=1), 2)
    first, second = np.argwhere(markers == 1)[:, 1].reshape(-1, 2).T
    assert np.all(first < length // 2) and np.all(second >= length // 2)
    np.testing.assert_array_equal(np.stack([first, second], 1), marked)
    np.testing.assert_allclose(targets, (values * markers).sum(axis=1), rtol=1e-6)


def test_adding_baseline_is_the_targets_variance_about_one_sixth():
    _, targets, _ = adding_sequences(np.random.default_rng(2), 200_000, 20)
    baseline = constant_baseline_mse(targets)
    assert baseline == pytest.approx(np.var(targets))
    assert baseline == pytest.approx(1 / 6, abs=0.003)  # the sum of two U[0, 1]
    # No other constant does better than the mean.
    assert all(score("adding", np.full_like(targets, c), targets) >= baseline for c in (0.9, 1.0, 1.1))


def test_tasks_are_functions_of_their_seed():
    first = recall_sequences(np.random.default_rng([0, 0, 10, 0]), 50, 10, 8)
    again = recall_sequences(np.random.default_rng([0, 0, 10, 0]), 50, 10, 8)
    other = recall_sequences(np.random.default_rng([1, 0, 10, 0]), 50, 10, 8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_scores_and_the_solved_thresholds():
    labels = np.array([0, 1, 1, 0])
    assert score("recall", np.array([0.2, 0.9, 0.4, 0.6]), labels) == 0.5
    assert score("adding", np.array([1.0, 2.0]), np.array([1.0, 1.0])) == 0.5
    assert solved("recall", 0.99) and not solved("recall", 0.985)
    assert solved("adding", 0.0099) and not solved("adding", 0.01)


def test_accuracy_by_lag_bins_cover_half_to_all_of_t():
    lags = np.arange(50, 101)
    labels = np.ones(51, np.int32)
    predictions = (lags < 75).astype(float)  # right only at short lags
    bins = accuracy_by_lag(predictions, labels, lags, 100, 5)
    assert [entry["lags"][0] for entry in bins][0] == 50 and bins[-1]["lags"][1] == 100
    assert sum(entry["count"] for entry in bins) == 51
    assert bins[0]["accuracy"] == 1.0 and bins[-1]["accuracy"] == 0.0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"lengths": ()}, "lengths must name at least one value"),
        ({"lengths": (10, 1)}, "integers >= 2"),
        ({"lengths": (10, 10)}, "must not repeat"),
        ({"variants": ("lstm", "transformer")}, "unknown variant 'transformer'"),
        ({"tasks": ("copy",)}, "unknown task"),
        ({"adding_updates": 0}, "adding_updates must be at least 1"),
        ({"seeds": (1, 1)}, "seeds must not repeat"),
        ({"chrono_horizon": 2}, "chrono_horizon"),
        ({"lag_shift_length": 5, "lag_shift_radius": 5}, "lag_shift_length must exceed"),
    ],
)
def test_config_rejects_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        LongRangeConfig(**overrides)


def test_variants_share_one_architecture_and_chrono_has_one_horizon():
    config = LongRangeConfig(units=8, embedding_dim=3, chrono_horizon=150)
    models = {variant: config.model_config(variant) for variant in VARIANTS}
    assert {
        (m.units, m.embedding_dim, m.word_dropout_rate, m.dropout_rate, m.pooling, m.num_layers)
        for m in models.values()
    } == {(8, 3, 0.0, 0.0, "last", 1)}
    assert {variant: m.chrono_max_steps for variant, m in models.items() if m.chrono_max_steps} == {
        "lstm+chrono": 150,
        "gru+chrono": 150,
    }
    assert [variant for variant, m in models.items() if m.irnn] == ["irnn"]
    assert {variant: m.cell_type for variant, m in models.items()} == {
        variant: cell for variant, (cell, _) in VARIANTS.items()
    }


def test_jobs_cover_every_run_once_longest_first():
    config = LongRangeConfig(
        lengths=(10, 40), seeds=(0, 1), variants=("simple_rnn", "lstm"), lag_shift_length=20, lag_shift_radius=2
    )
    work = jobs(config)
    runs = [arguments for kind, arguments in work if kind == "run"]
    assert len(runs) == len(set(runs)) == 2 * 2 * 2 * 2
    assert runs[0][1] == 40 and runs[-1][1] == 10
    assert sorted(arguments for kind, arguments in work if kind == "lag_shift") == [
        (0, "lstm"),
        (0, "simple_rnn"),
        (1, "lstm"),
        (1, "simple_rnn"),
    ]
    assert not any(kind == "lag_shift" for kind, _ in jobs(LongRangeConfig(tasks=("adding",))))


def _fake_run(task, length, seed, variant, final, solved_at=None):
    run = {
        "task": task,
        "length": length,
        "seed": seed,
        "variant": variant,
        "final": final,
        "solved_at": solved_at,
        "updates": [0, 100],
        "scores": [0.5, final],
    }
    if task == "recall":
        run["by_lag"] = [{"lags": [length // 2, length], "count": 10, "accuracy": final}]
    else:
        run["baseline_mse"] = 0.167
    return run


def _fake_result(runs, lag_shift=()):
    config = {
        "tasks": ["recall", "adding"],
        "lengths": sorted({run["length"] for run in runs}),
        "workers": 2,
        "seeds": [0, 1],
        "recall_updates": 100,
        "adding_updates": 100,
        "batch_size": 64,
        "learning_rate": 0.001,
        "clipnorm": 1.0,
        "units": 32,
        "test_sequences": 100,
        "eval_interval": 50,
        "distractor_count": 16,
        "chrono_horizon": 200,
        "jacobian_sequences": 8,
        "driven_input_scale": 8.0,
    }
    machine = {
        "cpu": "test CPU",
        "cpu_count": 2,
        "gpus": [],
        "python": "3.11",
        "tensorflow": "2.21.0",
        "keras": "3.15.1",
    }
    return {
        "config": config,
        "command": "python -m sentiment long-range",
        "started_at": "2026-11-27T00:00:00+00:00",
        "wall_seconds": 60.0,
        "machine": machine,
        "load_average": {"start": [1.0, 1.0, 1.0], "end": [2.0, 2.0, 2.0]},
        "runs": list(runs),
        "lag_shift": list(lag_shift),
    }


def test_tables_and_page_show_each_seed_and_the_solved_counts():
    result = _fake_result(
        [
            _fake_run("recall", 50, 0, "simple_rnn", 0.5),
            _fake_run("recall", 50, 1, "simple_rnn", 0.7),
            _fake_run("recall", 50, 0, "lstm+chrono", 1.0, 100),
            _fake_run("recall", 50, 1, "lstm+chrono", 0.995, 200),
            _fake_run("adding", 50, 0, "simple_rnn", 0.17),
            _fake_run("adding", 50, 0, "gru", 0.005, 300),
        ]
    )
    lengths, variants, seeds, accuracy = run_table(result, "recall")
    assert lengths == [50]
    assert variants == ["simple_rnn", "lstm+chrono", "gru"] and seeds == [0, 1]
    np.testing.assert_array_equal(accuracy[0, 0], [0.5, 0.7])
    assert np.isnan(accuracy[0, 2]).all()  # GRU ran the adding task only
    markdown = results_markdown(result, {"recall": "long_range_recall.png"})
    assert "| 50 | 60.0% (50.0%, 70.0%) | 99.8% (100.0%, 99.5%) | n/a |" in markdown
    assert "| 50 | 0/2 | 2/2, median 150 | n/a |" in markdown  # GRU did not run recall: not "0/2"
    assert "(long_range_recall.png)" in markdown and "test CPU" in markdown
    assert "| 50 | 0.167 | 0.1700 | n/a | 0.0050 |" in markdown
    assert "1-minute load average 1.0 at the start, 2.0 at the end" in markdown


def test_lag_shift_section_compares_the_trained_lag_with_its_neighbours():
    shift = {
        "variant": "simple_rnn",
        "seed": 0,
        "trained_lag": 10,
        "solved_at": 200,
        "updates": 200,
        "lags": [9, 10, 11],
        "accuracy": [0.0, 1.0, 0.2],
    }
    markdown = results_markdown(_fake_result([_fake_run("recall", 50, 0, "simple_rnn", 0.5)], [shift]))
    assert "| SimpleRNN | 1/1 | 100.0% | 10.0% | 0.0% |" in markdown


@pytest.mark.slow
def test_cli_runs_a_tiny_suite_and_writes_every_file(tmp_path):
    output = tmp_path / "long_range"
    result = run_cli(
        "long-range",
        *"--lengths 4,6 --seeds 0 --variants simple_rnn,lstm+chrono --recall-updates 30 --adding-updates 30".split(),
        *"--eval-interval 10 --test-sequences 64 --jacobian-sequences 8 --lag-shift-length 5".split(),
        *"--lag-shift-radius 1 --units 4 --workers 1 --no-progress".split(),
        *("--output", str(output)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads((output / "long_range.json").read_text())
    assert len(values["runs"]) == 2 * 2 * 2 and len(values["lag_shift"]) == 2
    at_longest = [run for run in values["runs"] if run["length"] == 6]
    assert all(set(run["jacobian"]) >= {"init", "trained"} for run in at_longest)
    # One norm per input step: T + 1 tokens for recall (lags 0 to T), T steps for adding.
    assert all(
        len(run["jacobian"]["init"]["by_distance"]) == (7 if run["task"] == "recall" else 6) for run in at_longest
    )
    assert (
        "init_driven"
        in next(run for run in at_longest if run["variant"] == "simple_rnn" and run["task"] == "adding")["jacobian"]
    )
    for run in values["runs"]:
        assert run["updates"][0] == 0 and run["updates"][-1] <= 30 and len(run["updates"]) == len(run["scores"])
    for name in ("long_range.md", "long_range_recall.png", "long_range_adding.png", "jacobians.png", "lag_shift.png"):
        assert (output / name).stat().st_size > 0
    assert "`python -m sentiment long-range --lengths 4,6" in (output / "long_range.md").read_text()
