import shutil

import numpy as np
import pytest

from sentiment import compare as comparing
from sentiment.artifacts import read_json

CELLS = ("simple_rnn", "lstm", "gru")


@pytest.fixture(scope="module")
def models(tiny_artifacts):
    return comparing.load_models(tiny_artifacts)


@pytest.fixture(scope="module")
def models_with_a_broken_lstm(tiny_artifacts, tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    for cell in CELLS:
        shutil.copytree(tiny_artifacts / cell, folder / cell)
    with open(folder / "lstm" / "model.keras", "ab") as file:
        file.write(b"damaged")
    return comparing.load_models(folder, warm_up=False)


def test_all_three_models_load_once(models):
    assert list(models.predictors) == list(CELLS) and models.failures == {}


def test_a_model_that_fails_to_load_is_named_with_the_reason_and_the_others_work(models_with_a_broken_lstm):
    models = models_with_a_broken_lstm
    assert list(models.predictors) == ["simple_rnn", "gru"]
    assert "model.keras does not match its checksum" in models.failures["lstm"]
    comparison = comparing.compare(models, "the movie was great")
    assert list(comparison.results) == ["simple_rnn", "gru"]
    frame = comparing.results_frame(models, comparison)
    assert frame["model"].tolist() == ["SimpleRNN", "LSTM", "GRU"]
    assert frame["label"].tolist()[1] == "not loaded" and np.isnan(frame["P(positive)"][1])


def test_no_artifacts_yet(tmp_path):
    models = comparing.load_models(tmp_path / "artifacts")
    assert models.nothing_trained and not models.predictors and set(models.failures) == set(CELLS)
    assert "train first with: python -m sentiment train" in models.failures["gru"]
    assert comparing.compare(models, "great").results == {}


def test_the_train_command_names_the_folder_only_when_it_is_not_the_default(tmp_path):
    assert comparing.train_command("artifacts") == "python -m sentiment train"
    assert comparing.train_command(tmp_path / "runs") == f"python -m sentiment train --output {tmp_path / 'runs'}"


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_empty_text_gets_a_message_not_a_prediction(models, text):
    comparison = comparing.compare(models, text)
    assert comparison.results == {} and comparison.notices == [comparing.EMPTY_REVIEW_MESSAGE]


def test_text_beyond_the_cap_is_cut_and_the_notice_says_so(models):
    text = "great " * (comparing.MAX_REVIEW_CHARACTERS // 6 + 100)
    comparison = comparing.compare(models, text)
    assert comparison.cut and len(comparison.text) == comparing.MAX_REVIEW_CHARACTERS
    assert f"cut to its last {comparing.MAX_REVIEW_CHARACTERS:,} characters (it had {len(text):,})" in comparison.notices[0]
    assert "the models read only the last 8" in comparison.notices[1]
    assert not comparing.compare(models, "great " * 10).cut


def test_each_model_reports_probability_label_and_time(models):
    comparison = comparing.compare(models, "the movie was wonderful")
    frame = comparing.results_frame(models, comparison)
    assert frame["model"].tolist() == ["SimpleRNN", "LSTM", "GRU"]
    for cell, row in zip(CELLS, frame.itertuples()):
        expected = models.predictors[cell].predict(["the movie was wonderful"])[0]
        assert row[2] == pytest.approx(expected, abs=1e-4)
        assert row.label == ("positive" if expected >= 0.5 else "negative")
        assert row[4] > 0


def test_trajectory_frame_has_a_point_per_word_and_model(models):
    comparison = comparing.compare(models, "the plot was boring")
    frame = comparing.trajectory_frame(comparison)
    assert frame.groupby("model").size().to_dict() == {"SimpleRNN": 4, "LSTM": 4, "GRU": 4}
    lstm = frame[frame["model"] == "LSTM"]
    assert lstm["word"].tolist() == ["the", "plot", "was", "boring"] and lstm["token"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(lstm["P(positive)"], comparison.results["lstm"].reading.trajectory, atol=1e-6)


def test_token_effects_mark_unknown_and_unread_words(models):
    reading = models.predictors["lstm"].read("zebra zebra the movie was awful and qwerty boring wonderful")
    spans = comparing.token_effects(reading)
    assert spans[0] == ("zebra zebra", comparing.NOT_READ)  # 10 words, 8 read: the first two are cut
    words = dict(spans[2::2])
    assert words["qwerty"] == comparing.UNKNOWN_WORD
    assert words["wonderful"] in (comparing.MORE_POSITIVE, comparing.MUCH_MORE_POSITIVE)
    assert "".join(text for text, _ in spans) == " ".join(reading.words)


@pytest.mark.parametrize(
    ("effect", "known", "category"),
    [(0.2, True, comparing.MUCH_MORE_POSITIVE), (0.05, True, comparing.MORE_POSITIVE), (0.0, True, None),
     (-0.05, True, comparing.MORE_NEGATIVE), (-0.2, True, comparing.MUCH_MORE_NEGATIVE), (0.3, False, comparing.UNKNOWN_WORD)],
)
def test_effect_categories(effect, known, category):
    assert comparing.effect_category(effect, known) == category


def test_frames_come_from_the_loaded_models_metrics(models, tiny_artifacts):
    metrics = read_json(tiny_artifacts / "gru" / "metrics.json")
    overall = comparing.overall_frame(models).set_index("model")
    assert overall.loc["GRU", "test accuracy"] == round(metrics["test"]["accuracy"], 4)
    assert overall.loc["GRU", "parameters"] == metrics["parameters"]
    length = comparing.length_frame(models)
    gru = length[length["model"] == "GRU"]
    expected = [bucket for bucket in metrics["test"]["by_length"] if bucket["count"]]
    assert gru["words"].tolist() == [bucket["bucket"] for bucket in expected]
    assert gru["reviews"].tolist() == [bucket["count"] for bucket in expected]
    np.testing.assert_allclose(gru["ci_low"], [bucket["ci_low"] for bucket in expected])
    history = read_json(tiny_artifacts / "lstm" / "history.json")
    curves = comparing.history_frame(models)
    lstm_validation = curves[(curves["model"] == "LSTM") & (curves["split"] == "validation")]
    np.testing.assert_allclose(lstm_validation["accuracy"], history["val_accuracy"])


def test_examples_are_real_imdb_test_reviews_of_each_kind():
    examples = comparing.example_reviews()
    assert [example["name"] for example in examples] == ["short", "negation", "late flip", "long"]
    assert all(example["split"] == "test" and example["text"] for example in examples)
    words = {example["name"]: len(example["text"].split()) for example in examples}
    assert words["short"] < 60 and words["long"] > 400  # longer than the full preset reads


# --- Why gates matter --------------------------------------------------------


def test_review_gradient_frame_is_each_models_gradient_by_distance(models, tiny_artifacts):
    from sentiment.gradients import review_gradient_norms

    notices, frame = comparing.review_gradient_frame(models, "the movie was great")
    assert notices == [] and set(frame["model"]) == {"SimpleRNN", "LSTM", "GRU"}
    lstm = frame[frame["model"] == "LSTM"]
    assert lstm["steps before the end"].tolist() == [0, 1, 2, 3]
    assert lstm["word"].tolist() == ["great", "was", "movie", "the"]  # step 0 is the last word read
    expected = review_gradient_norms(models.predictors["lstm"].artifact, "the movie was great")["by_distance"]
    np.testing.assert_allclose(lstm["log10 gradient norm"], np.log10(expected), rtol=1e-5)


def test_review_gradient_frame_explains_empty_text(models):
    notices, frame = comparing.review_gradient_frame(models, " \n")
    assert notices == [comparing.EMPTY_REVIEW_MESSAGE] and frame.empty


def test_average_gradient_frame_reads_the_saved_curves_or_says_how_to_make_them(models, tiny_artifacts, tmp_path):
    from sentiment.gradients import gradient_flow, write_gradient_flow

    note, frame = comparing.average_gradient_frame(models)
    assert frame.empty and f"python -m sentiment gradients --artifacts {tiny_artifacts}" in note
    folder = tmp_path / "with_gradients"
    shutil.copytree(tiny_artifacts, folder)
    result = gradient_flow({cell: p.artifact for cell, p in models.predictors.items()}, sample_size=12, command="test")
    write_gradient_flow(result, folder)
    note, frame = comparing.average_gradient_frame(comparing.load_models(folder, warm_up=False))
    assert "over 12 test reviews" in note and "`test`" in note
    assert set(frame["model"]) == {"SimpleRNN", "LSTM", "GRU"}
    gru = frame[frame["model"] == "GRU"]
    expected = np.array(result["cells"]["gru"]["average"]["geometric_mean"], np.float64)
    shown = np.isfinite(expected)
    np.testing.assert_allclose(gru["log10 gradient norm"], np.log10(expected[shown]), rtol=1e-6)
    assert (np.diff(gru["reviews"]) <= 0).all()  # fewer reviews reach further back


def test_long_range_frame_shows_every_variant_and_seed(tmp_path):
    result = {
        "command": "python -m sentiment long-range --seeds 0,1", "started_at": "2026-11-24", "chance_accuracy": 0.5,
        "config": {"train_sequences": 100, "epochs": 2, "units": 8},
        "runs": [
            {"distance": d, "cell_type": cell, "variant": variant, "seed": seed, "accuracy": accuracy}
            for d, cell, variant, seed, accuracy in [
                (10, "simple_rnn", "simple_rnn", 0, 1.0), (10, "simple_rnn", "simple_rnn", 1, 0.5),
                (10, "lstm", "lstm+chrono", 0, 0.75), (200, "lstm", "lstm+chrono", 0, 0.5),
            ]
        ],
    }  # fmt: skip
    path = tmp_path / "long_range.json"
    path.write_text(__import__("json").dumps(result))
    note, frame = comparing.long_range_frame(path)
    assert "seeds 0, 1" in note and "chance 50%" in note and "--seeds 0,1" in note
    rows = frame.to_dict("records")
    assert rows == [
        {"model": "SimpleRNN", "distance": "10", "accuracy": 0.75, "seeds": "100.0%, 50.0%"},
        {"model": "LSTM (chrono init)", "distance": "10", "accuracy": 0.75, "seeds": "75.0%"},
        {"model": "LSTM (chrono init)", "distance": "200", "accuracy": 0.5, "seeds": "50.0%"},
    ]


def test_long_range_frame_without_or_with_broken_results(tmp_path):
    note, frame = comparing.long_range_frame(tmp_path / "missing.json")
    assert frame.empty and "python -m sentiment long-range" in note
    (tmp_path / "broken.json").write_text("{not json")
    note, frame = comparing.long_range_frame(tmp_path / "broken.json")
    assert frame.empty and "could not be read" in note


def test_a_cut_keeps_the_end_the_models_read():
    ending = " the ending was awful"
    text, characters, notices = comparing._bounded_text("x " * comparing.MAX_REVIEW_CHARACTERS + ending, keep_end=True)
    assert text.endswith(ending) and len(text) == comparing.MAX_REVIEW_CHARACTERS and "its last" in notices[0]
    text, _, notices = comparing._bounded_text("start " + "x " * comparing.MAX_REVIEW_CHARACTERS, keep_end=False)
    assert text.startswith("start ") and "its first" in notices[0]
