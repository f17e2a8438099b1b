import json

import numpy as np
import pytest

from conftest import run_cli
from sentiment.config import CELL_TYPES
from sentiment.longrange import FIRST_DISTRACTOR_ID, SIGNAL_IDS, LongRangeConfig, accuracy_table, make_sequences, results_markdown


@pytest.mark.parametrize("distance", [1, 7, 50])
def test_signal_is_exactly_distance_steps_before_the_end(distance):
    ids, labels = make_sequences(distance, 200, distractor_count=5, seed=3)
    assert ids.shape == (200, distance + 1) and ids.dtype == np.int32
    final = ids.shape[1] - 1
    signal_columns = np.argwhere(np.isin(ids, SIGNAL_IDS))
    # One signal per sequence, at final - distance; everything else a distractor.
    np.testing.assert_array_equal(signal_columns[:, 0], np.arange(200))
    assert np.all(final - signal_columns[:, 1] == distance)
    np.testing.assert_array_equal(ids[:, 0], np.asarray(SIGNAL_IDS)[labels])
    assert ids[:, 1:].min() >= FIRST_DISTRACTOR_ID and ids[:, 1:].max() < FIRST_DISTRACTOR_ID + 5
    assert 0.35 < labels.mean() < 0.65  # both classes, roughly balanced


def test_sequences_are_seeded():
    first, labels = make_sequences(10, 50, 8, seed=(0, 10, 0))
    again, labels_again = make_sequences(10, 50, 8, seed=(0, 10, 0))
    other, _ = make_sequences(10, 50, 8, seed=(0, 10, 1))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"distances": ()}, "at least one distance"),
        ({"distances": (10, 0)}, "positive integers"),
        ({"distances": (10, 10)}, "must not repeat"),
        ({"cell_types": ("lstm", "transformer")}, "unknown cell type 'transformer'"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"learning_rate": 0.0}, "learning_rate must be positive"),
        ({"seeds": ()}, "at least one seed"),
        ({"seeds": (1, 1)}, "seeds must not repeat"),
    ],
)
def test_config_rejects_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        LongRangeConfig(**overrides)


def test_cells_share_one_architecture_without_dropout():
    config = LongRangeConfig(units=8, embedding_dim=3)
    models = [config.model_config(cell) for cell in CELL_TYPES]
    assert {(m.units, m.embedding_dim, m.word_dropout_rate, m.dropout_rate, m.pooling) for m in models} == {(8, 3, 0.0, 0.0, "last")}
    assert [m.cell_type for m in models] == list(CELL_TYPES)


def test_gated_cells_run_with_each_gate_init_and_simple_rnn_once():
    config = LongRangeConfig()
    assert config.variants() == [("simple_rnn", "keras"), ("lstm", "keras"), ("lstm", "chrono"), ("gru", "keras"), ("gru", "chrono")]
    assert LongRangeConfig(gate_inits=("keras",)).variants() == [(cell, "keras") for cell in CELL_TYPES]
    assert config.model_config("lstm", "chrono", distance=200).chrono_max_steps == 201
    assert config.model_config("lstm", "keras", distance=200).chrono_max_steps is None
    assert config.model_config("simple_rnn", "chrono", distance=200).chrono_max_steps is None
    assert config.model_config("gru", "chrono", distance=1).chrono_max_steps == 3  # the smallest range chrono init can draw from
    with pytest.raises(ValueError, match="gate_inits"):
        LongRangeConfig(gate_inits=("keras", "orthogonal"))


def test_chrono_variants_get_their_own_column():
    result = _fake_result([(5, "lstm", 0, 0.5), (5, "simple_rnn", 0, 0.9)])
    result["runs"].append({**result["runs"][0], "variant": "lstm+chrono", "gate_init": "chrono", "accuracy": 1.0, "ci_low": 0.99, "ci_high": 1.0})
    distances, variants, _, accuracy = accuracy_table(result)
    assert variants == ["simple_rnn", "lstm", "lstm+chrono"]
    np.testing.assert_array_equal(accuracy[0, :, 0], [0.9, 0.5, 1.0])
    markdown = results_markdown(result)
    assert "| T (steps) | SimpleRNN | LSTM | LSTM (chrono init) |" in markdown and "| 5 | 90.0% [89.0, 91.0] | 50.0% [49.0, 51.0] | 100.0% [99.0, 100.0] |" in markdown


def _fake_result(runs):
    from sentiment.config import to_dict

    machine = {"cpu": "test CPU", "cpu_count": 2, "gpus": [], "python": "3", "tensorflow": "2", "keras": "3"}
    config = to_dict(LongRangeConfig(distances=(5, 20), cell_types=("simple_rnn", "lstm")))
    runs = [
        {"distance": d, "cell_type": c, "seed": s, "accuracy": a, "ci_low": a - 0.01, "ci_high": a + 0.01, "wall_seconds": 1.5,
         "test_positive_share": 0.46}
        for d, c, s, a in runs
    ]  # fmt: skip
    return {"config": config, "chance_accuracy": 0.5, "command": "python -m sentiment long-range", "machine": machine,
            "started_at": "today", "wall_seconds": 60.0, "runs": runs}  # fmt: skip


def test_table_and_markdown_put_each_run_in_its_cell():
    result = _fake_result([(5, "lstm", 0, 0.9), (5, "simple_rnn", 0, 0.8), (20, "lstm", 0, 0.7)])
    distances, cells, seeds, accuracy = accuracy_table(result)
    assert distances == [5, 20] and cells == ["simple_rnn", "lstm"] and seeds == [0]
    np.testing.assert_array_equal(accuracy[..., 0], [[0.8, 0.9], [np.nan, 0.7]])
    markdown = results_markdown(result)
    assert "| T (steps) | SimpleRNN | LSTM |" in markdown
    assert "| 5 | 80.0% [79.0, 81.0] | 90.0% [89.0, 91.0] |" in markdown
    assert "| 20 | n/a | 70.0% [69.0, 71.0] |" in markdown
    assert "`python -m sentiment long-range`" in markdown and "test CPU" in markdown and "(long_range.png)" in markdown


def test_markdown_shows_every_seed():
    result = _fake_result([(5, "lstm", 1, 0.5), (5, "lstm", 0, 1.0)])
    _, _, seeds, accuracy = accuracy_table(result)
    assert seeds == [0, 1]
    np.testing.assert_array_equal(accuracy, [[[1.0, 0.5]]])
    assert "| 5 | 75.0% (100.0%, 50.0%) |" in results_markdown(result)
    assert "Worse than any constant guess" not in results_markdown(result)


def test_markdown_flags_runs_worse_than_a_constant_guess():
    # With 46% positives, always answering "positive" scores 46%: 46% [45, 47]
    # below chance is what a constant guess gets; 10% [9, 11] is worse than any.
    markdown = results_markdown(_fake_result([(5, "lstm", 0, 0.46), (20, "lstm", 3, 0.1)]))
    assert "Worse than any constant guess (the whole 95% interval under the test set's minority-class share): LSTM at T=20 (seed 3)." in markdown


@pytest.mark.slow
def test_tiny_sweep_through_the_cli(tmp_path):
    output = tmp_path / "long_range"
    result = run_cli(
        "long-range", "--distances", "2,4", "--train-sequences", "64", "--test-sequences", "32",
        "--epochs", "1", "--units", "4", "--embedding-dim", "4", "--output", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads((output / "long_range.json").read_text())
    variants = ["simple_rnn", "lstm", "lstm+chrono", "gru", "gru+chrono"]
    assert [(run["distance"], run["variant"]) for run in values["runs"]] == [(d, v) for d in (2, 4) for v in variants]
    for run in values["runs"]:
        assert 0.0 <= run["accuracy"] <= 1.0 and run["test_sequences"] == 32 and run["wall_seconds"] > 0 and run["seed"] == 0
        assert 0.0 < run["test_positive_share"] < 1.0
        assert run["data_seeds"] == {"train": [0, run["distance"], 0], "test": [0, run["distance"], 1]}
        assert len(run["train_loss"]) == 1 and np.isfinite(run["train_loss"][0])
    assert values["config"]["train_sequences"] == 64 and values["machine"]["cpu_count"] >= 1 and values["load_average"]["start"] >= 0
    assert "python -m sentiment long-range --distances 2,4" in values["command"]
    markdown = (output / "long_range.md").read_text()
    assert "| T (steps) | SimpleRNN | LSTM | LSTM (chrono init) | GRU | GRU (chrono init) |" in markdown and "| 4 |" in markdown
    assert "chrono initialization (Tallec & Ollivier" in markdown
    assert (output / "long_range.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
