import dataclasses

import pytest

from sentiment.config import (
    DISTANCE_DATA_FIELDS,
    PRESETS,
    DataConfig,
    DistanceConfig,
    ModelConfig,
    TrainConfig,
    from_dict,
    to_dict,
)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: ModelConfig(cell_type="mamba"), "unknown cell type 'mamba'"),
        (lambda: DataConfig(source="parquet"), "unknown data source"),
        (lambda: DataConfig(source="csv"), "needs a path"),
        (lambda: DataConfig(validation_fraction=1.0), "validation_fraction"),
        (lambda: DataConfig(truncation_side="middle"), "truncation_side"),
        (lambda: ModelConfig(dropout_rate=1.0), "dropout_rate"),
        (lambda: ModelConfig(pooling="attention"), "pooling"),
        (lambda: TrainConfig(batch_size=0), "batch_size"),
        (lambda: TrainConfig(learning_rate_decay=0.0), "learning_rate_decay"),
        (
            lambda: DataConfig(source="csv", path="r.csv", dataset="ag_news_subset"),
            "cannot be combined with data source 'csv'",
        ),
        (lambda: DataConfig(dataset="ag_news_subset", train_split="train[:50%]"), "train_split must be a split name"),
        (lambda: DataConfig(vocabulary_samples=0), "vocabulary_samples"),
        (lambda: DistanceConfig(data=DataConfig(source="csv")), "needs a path"),
        (lambda: DistanceConfig(data=DataConfig(sequence_length=50)), "does not read data.sequence_length"),
        (
            lambda: DistanceConfig(data=DataConfig(dataset="ag_news_subset", truncation_side="right")),
            "does not read data.truncation_side, data.dataset; leave them at their defaults",
        ),
    ],
)
def test_invalid_configs_raise_actionable_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().units = 3


def test_round_trip_and_unknown_keys():
    config = DataConfig(max_train_samples=10)
    assert from_dict(DataConfig, to_dict(config)) == config
    with pytest.raises(ValueError, match="unknown DataConfig fields: colour"):
        from_dict(DataConfig, {**to_dict(config), "colour": "red"})


def test_presets_share_the_budget_across_cell_types():
    for name, preset in PRESETS.items():
        assert preset.model.cell_type == "lstm"  # replaced per model at train time; nothing else is
        if (
            name == "strong"
        ):  # the models to deploy, not a comparison of cells: no SimpleRNN, pooled, pretrained vectors
            assert (
                "simple_rnn" not in preset.cells
                and preset.model.pooling == "max_mean"
                and preset.model.pretrained_vectors == "ppmi-svd"
            )
            assert (
                preset.train.teacher == "bow" and preset.train.teacher_ngram_max == 3
            )  # trained on the unlabelled reviews too
            assert preset.train.adversarial_epsilon > 0
            continue
        assert preset.model.pooling == "last" and preset.train.adversarial_epsilon == 0


def test_the_distance_holds_a_data_config_instead_of_restating_its_fields():
    distance_fields = {field.name for field in dataclasses.fields(DistanceConfig)}
    data_fields = {field.name for field in dataclasses.fields(DataConfig)}
    assert not distance_fields & data_fields
    assert not distance_fields & {"data_source", "data_path", "max_train_reviews"}  # the old names of data fields
    assert set(DISTANCE_DATA_FIELDS) <= data_fields and DistanceConfig().data == DataConfig()
    config = DistanceConfig(data=DataConfig(source="csv", path="reviews.csv", vocabulary_size=50, download=False))
    assert to_dict(config)["data"] == to_dict(config.data)  # nested in the results JSON
    # Every field the distance reads may be set.
    every = DataConfig(
        source="csv",
        path="reviews.csv",
        download=False,
        validation_fraction=0.2,
        test_fraction=0.3,
        max_train_samples=100,
        vocabulary_size=50,
        vocabulary_samples=10,
    )
    assert {name for name in data_fields if getattr(every, name) != getattr(DataConfig(), name)} == set(
        DISTANCE_DATA_FIELDS
    )
    assert DistanceConfig(data=every).data == every
