import json

import numpy as np
import pytest

from sentiment.analysis.distance import (
    BAG_OF_EMBEDDINGS,
    ZERO_ONLY,
    DistanceConfig,
    accuracy_rows,
    build_examples,
    curriculum_max,
    filler_lengths,
    results_markdown,
    token_pools,
)
from sentiment.errors import SentimentError

from conftest import run_cli

SEPARATOR = 5000  # past every id in the pools


def _pools():
    ids = np.array([[10, 11, 12, 0], [20, 21, 0, 0], [30, 31, 32, 33], [40, 0, 0, 0]])
    return token_pools(ids, np.array([0, 1, 0, 1]))


def test_pools_concatenate_each_labels_real_tokens_in_order():
    pools = _pools()
    np.testing.assert_array_equal(pools[0], [10, 11, 12, 30, 31, 32, 33])
    np.testing.assert_array_equal(pools[1], [20, 21, 40])


def test_examples_are_review_then_separator_then_t_filler_tokens_of_one_label():
    pools = token_pools(np.arange(2, 2002).reshape(200, 10), np.repeat([0, 1], 100))
    reviews = np.array([[5, 6, 7, 0], [8, 0, 0, 0], [5, 6, 7, 9]] * 100)
    fillers = np.array([0, 3, 40] * 100)
    ids, filler_labels = build_examples(reviews, fillers, pools, SEPARATOR, np.random.default_rng(0))
    for row in range(len(reviews)):
        length = np.count_nonzero(reviews[row])
        np.testing.assert_array_equal(ids[row, :length], reviews[row, :length])  # the review, untouched
        assert ids[row, length] == SEPARATOR  # then exactly one separator
        filler = ids[row, length + 1 : length + 1 + fillers[row]]
        assert np.count_nonzero(ids[row]) == length + 1 + fillers[row]  # T filler tokens, then padding
        pool = pools[filler_labels[row]]
        if fillers[row]:  # a window of consecutive tokens from the pool of the filler's label
            start = int(np.flatnonzero(pool == filler[0])[0])
            np.testing.assert_array_equal(filler, pool[start : start + fillers[row]])
    assert SEPARATOR not in pools[0] and SEPARATOR not in pools[1]


def test_filler_labels_are_drawn_independently_of_the_reviews_labels():
    pools = _pools()
    review_labels = np.random.default_rng(5).integers(0, 2, 20_000)
    _, filler_labels = build_examples(
        np.full((20_000, 2), 7), np.full(20_000, 2), pools, SEPARATOR, np.random.default_rng(1)
    )
    assert 0.48 < filler_labels.mean() < 0.52
    assert abs(np.corrcoef(review_labels, filler_labels)[0, 1]) < 0.03
    disagree = (review_labels != filler_labels).mean()
    assert 0.48 < disagree < 0.52


def test_too_little_text_for_the_filler_is_a_clear_error():
    with pytest.raises(SentimentError, match="needs more text"):
        build_examples(np.array([[5]]), np.array([10]), _pools(), SEPARATOR, np.random.default_rng(0))


def test_schedules():
    rng = np.random.default_rng(0)
    assert [curriculum_max(epoch, 4, 200) for epoch in range(4)] == [0, 50, 100, 200]
    assert [curriculum_max(epoch, 2, 200) for epoch in range(2)] == [100, 200]
    assert [curriculum_max(epoch, 6, 200) for epoch in range(6)] == [0, 50, 100, 200, 200, 200]
    assert [curriculum_max(epoch, 3, 80) for epoch in range(3)] == [0, 50, 80]
    assert not filler_lengths("zero", 3, 4, 1000, 200, 0.3, rng).any()
    assert not filler_lengths("curriculum", 0, 4, 1000, 200, 0.3, rng).any()
    second = filler_lengths("curriculum", 1, 4, 10_000, 200, 0.3, rng)
    assert second.max() == 50 and 0.3 < (second == 0).mean() < 0.34
    mixed = filler_lengths("mixed", 0, 4, 10_000, 200, 0.3, rng)
    assert mixed.max() == 200 and 0.3 < (mixed == 0).mean() < 0.34 and mixed.mean() > 60


def test_config_and_its_models():
    config = DistanceConfig()
    assert config.models() == [
        ("simple_rnn", "curriculum"),
        ("lstm", "curriculum"),
        ("gru", "curriculum"),
        ("simple_rnn", "mixed"),
        ("lstm", "mixed"),
        ("gru", "mixed"),
        (BAG_OF_EMBEDDINGS, "curriculum"),
        (ZERO_ONLY, "zero"),
    ]
    bag = config.model_config(BAG_OF_EMBEDDINGS)
    assert bag.num_layers == 0 and bag.pooling == "mean"
    assert config.model_config(ZERO_ONLY).cell_type == "lstm" and config.model_config("gru").pooling == "last"
    for overrides, message in [
        ({"schedule": "zero"}, "schedule must be"),
        ({"other_schedule": "curriculum"}, "must differ"),
        ({"cell_types": ("rnn",)}, "unknown cell type"),
        ({"data_source": "csv"}, "needs data_path"),
        ({"zero_share": 1.0}, "zero_share"),
        ({"seeds": (1, 1)}, "seeds must be distinct"),
    ]:
        with pytest.raises(ValueError, match=message):
            DistanceConfig(**overrides)


def test_seeds_are_averaged_and_their_examples_pooled():
    entry = lambda accuracy, count: {"accuracy": accuracy, "ci_low": 0.0, "ci_high": 1.0, "count": count}  # noqa: E731
    runs = [
        {
            "model": "lstm",
            "schedule": "curriculum",
            "seed": seed,
            "by_filler": [
                {"filler": 0, "overall": entry(accuracy, 100), "disagree": None},
                {"filler": 9, "overall": entry(accuracy, 100), "disagree": entry(accuracy, 50)},
            ],
        }
        for seed, accuracy in ((0, 0.8), (1, 0.6))
    ]
    fillers, names, table = accuracy_rows(
        {"config": {"schedule": "curriculum", "test_fillers": [0, 9]}, "runs": runs}, "disagree"
    )
    assert fillers == [0, 9] and names == ["LSTM"] and table[0] == [None]
    pooled = table[1][0]
    assert pooled["accuracy"] == pytest.approx(0.7) and pooled["count"] == 100 and pooled["seeds"] == [0.8, 0.6]
    assert pooled["ci_low"] < 0.7 < pooled["ci_high"] and pooled["ci_high"] - pooled["ci_low"] < 0.2  # 70 of 100 pooled


def test_bag_of_embeddings_has_no_recurrent_layer():
    import keras

    from sentiment.models import build_classifier, recurrent_layers

    model = build_classifier(DistanceConfig(embedding_dim=4, units=4).model_config(BAG_OF_EMBEDDINGS), 20)
    assert recurrent_layers(model) == []
    # Order does not matter to it: the same words in another order score the same.
    ids = np.array([[2, 3, 4, 5], [5, 4, 3, 2]])
    out = keras.ops.convert_to_numpy(model(ids))
    assert out[0, 0] == pytest.approx(out[1, 0], abs=1e-6)


@pytest.mark.slow
def test_cli_trains_every_model_and_writes_the_page(tiny_csv, tmp_path):
    output = tmp_path / "distance"
    result = run_cli(
        "distance",
        *"--data-source csv".split(),
        *("--data-path", str(tiny_csv)),
        *"--review-tokens 6 --max-train-filler 8 --test-fillers 0,4,12 --epochs 2 --units 4 --embedding-dim 4".split(),
        *"--vocabulary-size 30 --test-reviews 40 --seeds 0 --workers 1".split(),
        *("--output", str(output)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads((output / "distance.json").read_text())
    assert [(run["model"], run["schedule"]) for run in values["runs"]] == DistanceConfig().models()
    for run in values["runs"]:
        assert run["seed"] == 0 and [row["filler"] for row in run["by_filler"]] == [0, 4, 12]
        assert run["by_filler"][0]["disagree"] is None and run["by_filler"][1]["disagree"]["count"] > 0
        assert run["by_filler"][0]["overall"]["count"] == 40
    markdown = (output / "distance.md").read_text()
    assert "LSTM trained at T = 0" in markdown and "bag of embeddings" in markdown and "(distance.png)" in markdown
    assert markdown == results_markdown(values)
    assert (output / "distance.png").read_bytes()[:4] == b"\x89PNG"
