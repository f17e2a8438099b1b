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
    load_arrays,
    results_markdown,
    run_distance,
    save_arrays,
    token_pools,
    train_model,
)
from sentiment.config import DataConfig, TrainConfig
from sentiment.errors import SentimentError

from conftest import ROOT, run_cli

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


def _tiny_arrays(reviews: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """`prepare_data`'s arrays for a 30-word vocabulary: 6-token review prefixes, 20-token full reviews."""
    rng = np.random.default_rng(seed)

    def ids(count: int, width: int) -> np.ndarray:
        out = rng.integers(2, 30, size=(count, width)).astype(np.int32)
        out[np.arange(width) >= rng.integers(1, width + 1, size=(count, 1))] = 0  # right padding
        return out

    train_labels = np.tile([0, 1], reviews // 2).astype(np.int64)
    return {
        "train_ids": ids(reviews, 6),
        "train_labels": train_labels,
        "validation_ids": ids(8, 6),
        "validation_labels": np.tile([0, 1], 4).astype(np.int64),
        "train_full": ids(reviews, 20),
    }


def test_training_is_one_training_step_per_batch_with_the_suites_optimizer():
    import keras

    from sentiment import data
    from sentiment.models import build_classifier
    from sentiment.training import loop

    # One epoch of 40 examples in batches of 64: exactly one update. T = 0 (the "zero" schedule): the examples are
    # the reviews and the separator, whatever the generator draws.
    config = DistanceConfig(
        data=DataConfig(vocabulary_size=30), embedding_dim=4, units=4, epochs=1, learning_rate=0.05, seeds=(3,)
    )
    arrays = _tiny_arrays()
    trained, history = train_model(config, "lstm", "zero", 3, arrays)

    # The same update by hand: the model built from the same seed, Adam at the configured rate and clipnorm,
    # one TrainingStep on the epoch's one batch.
    keras.utils.set_random_seed(3)
    reference = build_classifier(config.model_config("lstm"), 31)
    optimizer = TrainConfig(learning_rate=0.05, learning_rate_decay=1.0, clipnorm=config.clipnorm)
    loop.compile_for_training(reference, optimizer, steps_per_epoch=1)
    initial = [weight.numpy().copy() for weight in reference.trainable_weights]
    pools = token_pools(arrays["train_full"], arrays["train_labels"])
    examples = build_examples(arrays["train_ids"], np.zeros(40, np.int64), pools, 30, np.random.default_rng(0))[0]
    batch = next(iter(data.batched_dataset(examples, arrays["train_labels"], 64, shuffle_seed=3, bucket_window=50)))
    loss_sum, _, count = loop.TrainingStep(reference).on_batch(*batch)

    assert history["train_loss"] == [pytest.approx(float(loss_sum / count), rel=1e-5)]
    moved = 0
    for before, expected, actual in zip(initial, reference.trainable_weights, trained.trainable_weights):
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
        moved += not np.allclose(before, expected.numpy())
    assert moved == len(initial)  # the step changed every weight


def test_intermediate_arrays_round_trip_without_pickle(tmp_path):
    arrays = _tiny_arrays(reviews=4)
    save_arrays(tmp_path / "arrays.npz", arrays)
    loaded = load_arrays(tmp_path / "arrays.npz")
    assert loaded.keys() == arrays.keys()
    for name, values in arrays.items():
        np.testing.assert_array_equal(loaded[name], values)
        assert loaded[name].dtype == values.dtype
    with pytest.raises(ValueError, match="pickle"):
        save_arrays(tmp_path / "words.npz", {"vocabulary": np.array(["", "[UNK]", "film"], dtype=object)})


def test_a_tiny_run_reports_through_log_and_keeps_the_results_keys(tiny_csv):
    config = DistanceConfig(
        cell_types=("lstm",),
        other_schedule=None,
        controls=False,
        review_tokens=6,
        max_train_filler=8,
        test_fillers=(0, 4),
        epochs=2,
        embedding_dim=4,
        units=4,
        test_reviews=40,
        seeds=(0,),
        workers=1,
        data=DataConfig(source="csv", path=str(tiny_csv), vocabulary_size=30, max_train_samples=200),
    )
    lines = []
    result = run_distance(config, log=lines.append, command="test", progress=False)

    # The keys the page, the results page and the app read, as in the committed measurement.
    committed = json.loads((ROOT / "docs" / "distance" / "distance.json").read_text())
    assert result.keys() == committed.keys()
    (run,) = result["runs"]
    assert run.keys() == committed["runs"][0].keys() and (run["model"], run["schedule"]) == ("lstm", "curriculum")
    assert all(row.keys() == committed["runs"][0]["by_filler"][0].keys() for row in run["by_filler"])
    assert len(run["train_loss"]) == 2 and all(np.isfinite(run["train_loss"]))
    assert result["train_reviews"] == 180  # 200 capped, 10% held out for validation
    assert result["config"]["data"]["max_train_samples"] == 200  # the nested DataConfig, stored as given
    json.dumps(result)  # JSON-ready

    # The data, every epoch and the finished run, all through `log`.
    assert lines[0] == "seed 0: loading the reviews and building the token pools"
    assert [line.split(":")[0] for line in lines[1:3]] == [
        "lstm (curriculum, seed 0) epoch 1/2",
        "lstm (curriculum, seed 0) epoch 2/2",
    ]
    assert "T up to 8" in lines[2] and lines[3].startswith("lstm (curriculum, seed 0): T=0: ") and len(lines) == 4
    assert "| T | LSTM |" in results_markdown(result)


@pytest.mark.slow
def test_cli_trains_every_model_and_writes_the_page(tiny_csv, tmp_path):
    output = tmp_path / "distance"
    result = run_cli(
        "distance",
        *"--data-source csv".split(),
        *("--data-path", str(tiny_csv)),
        *"--review-tokens 6 --max-train-filler 8 --test-fillers 0,4,12 --epochs 2 --units 4 --embedding-dim 4".split(),
        *"--vocabulary-size 30 --test-reviews 40 --seeds 0 --workers 1 --no-progress --no-download".split(),
        *"--max-train-reviews 300".split(),  # the spelling from before the data flags came from DataConfig
        *("--output", str(output)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads((output / "distance.json").read_text())
    assert [(run["model"], run["schedule"]) for run in values["runs"]] == DistanceConfig().models()
    assert values["train_reviews"] == 270 and values["config"]["data"]["download"] is False  # 300, 10% held out
    assert result.stdout.count(" epoch ") == 2 * len(DistanceConfig().models())  # the runs reported each epoch
    for run in values["runs"]:
        assert run["seed"] == 0 and [row["filler"] for row in run["by_filler"]] == [0, 4, 12]
        assert run["by_filler"][0]["disagree"] is None and run["by_filler"][1]["disagree"]["count"] > 0
        assert run["by_filler"][0]["overall"]["count"] == 40
    markdown = (output / "distance.md").read_text()
    assert "LSTM trained at T = 0" in markdown and "bag of embeddings" in markdown and "(distance.png)" in markdown
    assert markdown == results_markdown(values)
    assert (output / "distance.png").read_bytes()[:4] == b"\x89PNG"
