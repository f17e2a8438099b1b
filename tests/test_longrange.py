import json
from dataclasses import replace

import numpy as np
import pytest

from sentiment.analysis.longrange import (
    FIRST_DISTRACTOR_ID,
    FIRST_QUERY_ID,
    SIGNAL_IDS,
    VARIANTS,
    LongRangeConfig,
    accuracy_by_lag,
    adding_sequences,
    associative_sequences,
    associative_vocabulary_size,
    chance_accuracy,
    constant_baseline_mse,
    data_seed,
    jobs,
    late_gains,
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
        ({"variants": ("lstm", "transformer+chrono")}, "unknown variant 'transformer\\+chrono'"),
        ({"tasks": ("copy",)}, "unknown task"),
        ({"associative_pairs": (4, 4)}, "associative_pairs must not repeat"),
        ({"associative_pairs": (0, 4)}, "associative_pairs must be integers >= 1"),
        ({"associative_pairs": (8, 80)}, r"associative_keys \(64\) must be at least the most pairs \(80\)"),
        ({"associative_values": 1}, "associative_values must be at least 2"),
        ({"adding_updates": 0}, "adding_updates must be at least 1"),
        ({"associative_updates": 0}, "associative_updates must be at least 1"),
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
    } == {(8, 3, 0.0, 0.0, "last_token", 1)}
    assert {variant: m.chrono_max_steps for variant, m in models.items() if m.chrono_max_steps} == {
        "lstm+chrono": 150,
        "gru+chrono": 150,
        "mingru+chrono": 150,
        "minlstm+chrono": 150,
    }
    assert [variant for variant, m in models.items() if m.irnn] == ["irnn"]
    assert {variant: m.cell_type for variant, m in models.items()} == {
        variant: cell for variant, (cell, _) in VARIANTS.items()
    }


def test_jobs_cover_every_run_once_longest_first():
    config = LongRangeConfig(
        tasks=("recall", "adding"),
        lengths=(10, 40),
        seeds=(0, 1),
        variants=("simple_rnn", "lstm"),
        lag_shift_length=20,
        lag_shift_radius=2,
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
    # Associative recall runs at T = P + 1, among the others by length.
    mixed = [arguments for kind, arguments in jobs(replace(config, tasks=("recall", "associative"))) if kind == "run"]
    assert [(task, length) for task, length, _, _ in mixed[::4]] == [
        ("recall", 40),
        ("associative", 33),
        ("associative", 17),
        ("recall", 10),
        ("associative", 9),
        ("associative", 5),
    ]


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
    assert "This run: SimpleRNN, LSTM (chrono init), GRU." in markdown  # not IRNN, LSTM, GRU (chrono init)


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


def test_lag_shift_says_why_a_model_without_a_state_misses_at_other_lags():
    shifts = [
        {
            "variant": variant,
            "seed": 0,
            "trained_lag": 10,
            "solved_at": 200,
            "updates": 200,
            "lags": [9, 10, 11],
            "accuracy": accuracy,
        }
        for variant, accuracy in (("lstm+chrono", [1.0, 1.0, 1.0]), ("transformer", [0.6, 1.0, 0.8]))
    ]
    markdown = results_markdown(_fake_result([_fake_run("recall", 50, 0, "lstm+chrono", 1.0, 100)], shifts))
    assert "Transformer (after the LSTM) carries no state" in markdown
    assert "trained reading at position 10 only" in markdown and "its 70.0% there" in markdown
    assert "LSTM (chrono init) carries" not in markdown
    shifts.pop()
    assert "carries no state" not in results_markdown(
        _fake_result([_fake_run("recall", 50, 0, "lstm+chrono", 1.0, 100)], shifts)
    )


def _associative_curve(variant, pairs, seed, scores, solved_at=None):
    run = _fake_run("associative", pairs + 1, seed, variant, scores[-1], solved_at)
    return {**run, "pairs": pairs, "updates": [0, 50, 100], "scores": list(scores)}


def test_late_gains_tell_a_run_still_climbing_from_one_that_stopped():
    runs = [
        _associative_curve("gru", 4, 0, [0.25, 0.5, 0.8]),  # +30 points over the second half
        _associative_curve("gru", 4, 1, [0.25, 0.5, 0.7]),
        _associative_curve("gru", 32, 0, [0.25, 0.33, 0.34]),
        _associative_curve("gru", 32, 1, [0.25, 0.33, 0.33]),
        _associative_curve("transformer", 4, 0, [0.25, 0.5, 1.0], solved_at=100),
    ]
    result = _fake_result(runs)
    result["config"].update(tasks=["associative"], associative_keys=64, associative_values=4, associative_updates=100)
    lengths, variants, gains = late_gains(result, "associative")
    assert lengths == [5, 33] and variants == ["gru", "transformer"]
    np.testing.assert_allclose(gains[:, 0], [[0.3, 0.2], [0.01, 0.0]], atol=1e-12)
    assert np.isnan(gains[0, 1, 0])  # solved: the question does not arise
    section = results_markdown(result)[results_markdown(result).index("## Associative recall") :]
    assert "Over the second half of the budget (50 to 100 updates" in section
    assert (
        "with 4 pairs a recurrent model was still climbing when the budget ran out (GRU gained 25.0 points" in section
    )
    assert "with 32 pairs none gained more than 0.5 points: a plateau at the end of this budget" in section


def test_a_silent_jacobian_has_no_shrink_factor_and_is_explained():
    zero = {"by_distance": [0.0] * 10}
    runs = [
        {**_fake_run("recall", 50, seed, "irnn", 0.5), "jacobian": {"init": _fake_jacobian(0.9), "trained": zero}}
        for seed in (0, 1)
    ]
    result = _fake_result(runs)
    result["config"]["tasks"] = ["recall"]
    jacobians = results_markdown(result)[results_markdown(result).index("## State Jacobians") :]
    assert "| recall | IRNN | 0.900 | beyond | none | no input reaches the state |" in jacobians
    assert "(IRNN on recall, after training): the final state depends on no input at all" in jacobians
    assert "dead ReLUs" in jacobians


@pytest.mark.slow
def test_cli_runs_a_tiny_suite_and_writes_every_file(tmp_path):
    output = tmp_path / "long_range"
    result = run_cli(
        "long-range",
        *"--tasks recall,adding --lengths 4,6 --seeds 0 --variants simple_rnn,lstm+chrono".split(),
        *"--recall-updates 30 --adding-updates 30".split(),
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
    assert (
        "`python -m sentiment long-range --tasks recall,adding --lengths 4,6" in (output / "long_range.md").read_text()
    )


# --- Associative recall, and the variants after the LSTM ---------------------------------------


@pytest.mark.parametrize("pairs", [1, 4, 16])
def test_associative_recall_asks_the_value_of_one_of_p_distinct_keys(pairs):
    keys, values = 16, 4
    ids, labels, positions = associative_sequences(np.random.default_rng(5), 3000, pairs, keys, values)
    assert ids.shape == (3000, pairs + 1) and ids.dtype == np.int32 and labels.dtype == np.int32
    first_pair = FIRST_QUERY_ID + keys
    assert ids.max() < associative_vocabulary_size(keys, values) and ids.min() >= FIRST_QUERY_ID
    pair_keys, pair_values = (ids[:, :pairs] - first_pair) // values, (ids[:, :pairs] - first_pair) % values
    assert np.all(ids[:, :pairs] >= first_pair)  # pairs first, then the query: a query-key token
    assert all(len(set(row)) == pairs for row in pair_keys)  # a sequence's keys are distinct
    query = ids[:, pairs] - FIRST_QUERY_ID
    assert np.all((query >= 0) & (query < keys))
    asked = np.argmax(pair_keys == query[:, None], axis=1)  # where the queried key stands
    assert np.all(pair_keys[np.arange(3000), asked] == query)  # the query names one of the P keys
    np.testing.assert_array_equal(labels, pair_values[np.arange(3000), asked])  # and the label is its value
    np.testing.assert_array_equal(positions, pairs - asked)  # 1: the last pair
    assert set(positions) == set(range(1, pairs + 1))
    assert np.allclose(np.bincount(labels, minlength=values) / 3000, 1 / values, atol=0.04)  # chance is 1 / values
    with pytest.raises(ValueError, match="between 1 and the number of keys"):
        associative_sequences(np.random.default_rng(0), 2, keys + 1, keys, values)


def test_associative_scores_the_most_probable_value_and_is_solved_like_recall():
    probabilities = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]])
    assert score("associative", probabilities, np.array([1, 0, 0, 0])) == 0.75
    assert score("associative", np.array([0.8, 0.2]), np.array([1, 1])) == 0.5  # two values: one sigmoid
    assert solved("associative", 0.99) and not solved("associative", 0.98)
    config = LongRangeConfig(associative_pairs=(2, 5), associative_values=5)
    assert chance_accuracy("associative", config) == 0.2 and chance_accuracy("recall", config) == 0.5
    assert config.task_lengths("associative") == (3, 6) and config.task_lengths("adding") == config.lengths
    budgets = replace(config, recall_updates=3, adding_updates=4, associative_updates=5)
    assert [budgets.budget(task) for task in ("recall", "adding", "associative")] == [3, 4, 5]


def test_the_streams_of_recall_adding_and_the_lag_shift_keep_their_seeds():
    # Associative recall took a number of its own: the data of the measured runs before it is unchanged.
    assert data_seed("recall", 50, 1, "test") == [1, 0, 50, 1] and data_seed("adding", 50, 1, "train") == [1, 1, 50, 0]
    assert data_seed("associative", 9, 1, "train")[1] not in (0, 1, 2)  # 2 is the lag-shift diagnostic's


def test_the_variants_after_the_lstm_are_built_by_the_one_builder():
    from sentiment.analysis.longrange import build_model, has_state, longest_sequence

    config = LongRangeConfig(
        lengths=(6,), associative_pairs=(3,), associative_keys=5, units=4, embedding_dim=3, lag_shift_length=None
    )
    assert longest_sequence(config) == 7  # recall's T + 1 tokens
    assert longest_sequence(replace(config, lag_shift_length=9, lag_shift_radius=2)) == 12  # lags up to 11, + 1
    transformer = build_model(config, "associative", "transformer", 0, steps=4)
    assert transformer.output_shape == (None, config.associative_values)  # a softmax over the values
    assert transformer.get_layer("head").get_layer("positions").max_length == 4
    assert not has_state("transformer") and has_state("mingru+chrono") and has_state("irnn")
    mingru = config.model_config("mingru+chrono")
    assert (mingru.cell_type, mingru.chrono_max_steps, mingru.pooling) == (
        "mingru",
        config.chrono_horizon,
        "last_token",
    )
    # Every model reads its output at the last token, where the query sits: the recurrent ones their
    # final state, the transformer its last position, not its mean over the pairs.
    head = [type(layer).__name__ for layer in transformer.get_layer("head").layers]
    assert "LastTokenPooling1D" in head and "GlobalAveragePooling1D" not in head
    mingru_head = build_model(config, "associative", "mingru", 0).get_layer("head")
    (layer,) = [layer for layer in mingru_head.layers if layer.name.startswith("mingru")]
    assert not layer.return_sequences


def test_the_page_has_associative_recall_and_marks_the_variants_after_the_lstm():
    runs = [
        _fake_run("recall", 50, 0, "gru", 0.5),
        _fake_run("recall", 50, 0, "mingru+chrono", 1.0, 200),
        *(
            {**_fake_run("adding", 50, 0, variant, 0.17), "jacobian": {"init": jacobian, "trained": jacobian}}
            for variant, jacobian in (("gru", _fake_jacobian(0.5)), ("mingru", _fake_jacobian(0.5)))
        ),
        _fake_run("adding", 50, 0, "transformer", 0.17),
    ]
    for pairs, accuracies in ((4, (0.6, 0.5, 1.0)), (16, (0.26, 0.27, 1.0))):
        for variant, accuracy in zip(("gru", "mingru", "transformer"), accuracies):
            runs.append(
                {
                    **_fake_run("associative", pairs + 1, 0, variant, accuracy, 400 if accuracy == 1.0 else None),
                    "pairs": pairs,
                }
            )
    result = _fake_result(runs)
    result["config"].update(tasks=["recall", "adding", "associative"], associative_keys=64, associative_values=4)
    markdown = results_markdown(result, {"associative": "long_range_associative.png"})
    header = (
        "| T | GRU | minGRU (after the LSTM) | minGRU (chrono init, after the LSTM) | Transformer (after the LSTM) |"
    )
    assert header in markdown  # recall's table: marked as after the LSTM
    section = markdown[markdown.index("## Associative recall") :]
    assert "Chance is 25.0%" in section and "(long_range_associative.png)" in section
    assert "| 4 (5) | 60.0% | 50.0% | n/a | 100.0% |" in section  # minGRU (chrono) ran recall only
    assert "| 16 (17) | 26.0% | 27.0% | n/a | 100.0% |" in section
    assert "| 16 | 0/1 | 0/1 | n/a | 1/1, median 400 |" in section
    assert "at most 100 updates (recall), 100 (adding) or 100 (associative recall) of" in markdown
    assert "Budget 100 updates" in section  # a result from before associative recall had its own: recall's
    result["config"]["associative_updates"] = 300
    assert "Budget 300 updates" in results_markdown(result) and "or 300 (associative recall)" in results_markdown(
        result
    )
    jacobians = markdown[markdown.index("## State Jacobians") :]
    assert "| adding | minGRU (after the LSTM) | 0.500 |" in jacobians
    assert "Transformer (after the LSTM): no row, as there is no state" in jacobians
    assert "After the LSTM, and marked so" in markdown


def _fake_jacobian(shrink: float) -> dict:
    return {"by_distance": list(shrink ** np.arange(10)), "shrink_per_step": shrink, "forgotten_at": None}


@pytest.mark.slow
def test_a_tiny_suite_runs_associative_recall_and_the_variants_after_the_lstm(tmp_path):
    from sentiment.analysis.longrange import run_suite, write_results

    config = LongRangeConfig(
        tasks=("recall", "associative"),
        lengths=(4,),
        associative_pairs=(2, 3),
        associative_keys=4,
        variants=("mingru", "transformer"),
        seeds=(0,),
        recall_updates=4,
        associative_updates=4,
        eval_interval=2,
        test_sequences=16,
        batch_size=8,
        jacobian_sequences=4,
        lag_shift_length=None,
        units=4,
        embedding_dim=3,
        workers=1,
    )
    result = run_suite(config, progress=False, log=lambda line: None)
    runs = {(run["task"], run["length"], run["variant"]): run for run in result["runs"]}
    assert len(runs) == 3 * 2  # recall at T = 4; associative at T = 3 and 4 (2 and 3 pairs)
    assert (
        runs[("associative", 3, "transformer")]["pairs"] == 2 and "jacobian" not in runs[("associative", 4, "mingru")]
    )
    assert set(runs[("recall", 4, "mingru")]["jacobian"]) == {"init", "trained"}  # minGRU has a state Jacobian
    assert "jacobian" not in runs[("recall", 4, "transformer")]  # the transformer has none
    for run in result["runs"]:
        assert run["updates"][-1] <= 4 and all(0 <= value <= 1 for value in run["scores"])
    paths = write_results(result, tmp_path)
    assert paths["associative"].read_bytes()[:4] == b"\x89PNG"
    assert "## Associative recall" in paths["markdown"].read_text()


def test_an_interrupted_suite_goes_on_from_its_journal(tmp_path, monkeypatch):
    from sentiment.analysis import longrange
    from sentiment.config import to_dict
    from sentiment.errors import SentimentError

    config = LongRangeConfig(
        tasks=("recall",),
        lengths=(4, 5),
        variants=("simple_rnn", "gru"),
        seeds=(0,),
        recall_updates=2,
        eval_interval=2,
        test_sequences=8,
        batch_size=4,
        jacobian_sequences=2,
        lag_shift_length=None,
        units=2,
        embedding_dim=2,
        workers=1,
    )
    journal = tmp_path / longrange.JOURNAL_NAME
    whole = longrange.run_suite(config, progress=False, log=lambda line: None, journal=journal)
    lines = journal.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"config": json.loads(json.dumps(to_dict(config)))}
    assert sum("kind" in json.loads(line) for line in lines) == 4 and "segments" not in whole
    # Killed after the first job, halfway through writing the second: the same config runs only the other three.
    journal.write_text("\n".join(lines[:3]) + "\n" + lines[3][:20], encoding="utf-8")
    ran, real = [], longrange.run_one
    monkeypatch.setattr(longrange, "run_one", lambda *arguments: ran.append(arguments[1:]) or real(*arguments))
    logged: list[str] = []
    resumed = longrange.run_suite(config, progress=False, log=logged.append, journal=journal)
    first = json.loads(lines[1])["value"]
    assert len(ran) == 3 and (first["task"], first["length"], first["seed"], first["variant"]) not in ran
    assert logged[0].startswith(f"resuming: 1 runs read from {journal}, 3 to go")
    key = lambda run: (run["length"], run["variant"])  # noqa: E731
    assert sorted(map(key, resumed["runs"])) == sorted(map(key, whole["runs"]))
    assert [segment["jobs"] for segment in resumed["segments"]] == [1, 3]
    assert resumed["wall_seconds"] == pytest.approx(sum(segment["wall_seconds"] for segment in resumed["segments"]))
    assert resumed["started_at"] == resumed["segments"][0]["started_at"]
    first_sitting = resumed["segments"][0]
    assert (
        f"over 2 sittings, the same command resumed from its journal ({first_sitting['started_at']}: 1 runs in "
        f"{first_sitting['wall_seconds'] / 60:.1f} min; " in results_markdown(resumed)
    )
    # Another configuration is refused, with what to do.
    with pytest.raises(SentimentError, match="another configuration .* delete it to start over"):
        longrange.run_suite(replace(config, seeds=(1,)), progress=False, journal=journal)
