import shutil

import numpy as np
import pytest

from sentiment.io.artifacts import read_json
from webapp import charts, views

CELLS = ("simple_rnn", "lstm", "gru")


@pytest.fixture(scope="module")
def models(tiny_artifacts):
    return views.load_models(tiny_artifacts)


@pytest.fixture(scope="module")
def models_with_a_broken_lstm(tiny_artifacts, tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    for cell in CELLS:
        shutil.copytree(tiny_artifacts / cell, folder / cell)
    with open(folder / "lstm" / "model.keras", "ab") as file:
        file.write(b"damaged")
    return views.load_models(folder, warm_up=False)


def test_all_three_models_load_once(models):
    assert list(models.predictors) == list(CELLS) and models.failures == {}


def test_a_model_that_fails_to_load_is_named_with_the_reason_and_the_others_work(models_with_a_broken_lstm):
    models = models_with_a_broken_lstm
    assert list(models.predictors) == ["simple_rnn", "gru"]
    assert "model.keras does not match its checksum" in models.failures["lstm"]
    comparison = views.compare(models, "the movie was great")
    assert list(comparison.results) == ["simple_rnn", "gru"]
    frame = views.results_frame(models, comparison)
    assert frame["model"].tolist() == ["SimpleRNN", "LSTM", "GRU"]
    assert frame["label"].tolist()[1] == "not loaded" and np.isnan(frame["P(positive)"][1])


def test_a_run_of_some_cells_only_loads_those_without_failures(tiny_artifacts, tmp_path):
    # The strong preset trains LSTM and GRU only: the app shows two models, not a broken SimpleRNN.
    for cell in ("lstm", "gru"):
        shutil.copytree(tiny_artifacts / cell, tmp_path / cell)
    models = views.load_models(tmp_path, warm_up=False)
    assert list(models.predictors) == ["lstm", "gru"] and models.failures == {}
    assert list(views.compare(models, "great").results) == ["lstm", "gru"]


def test_no_artifacts_yet(tmp_path):
    models = views.load_models(tmp_path / "artifacts")
    assert models.nothing_trained and not models.predictors and set(models.failures) == set(CELLS)
    assert "train first with: python -m sentiment train" in models.failures["gru"]
    assert views.compare(models, "great").results == {}


def test_the_train_command_names_the_folder_only_when_it_is_not_the_default(tmp_path):
    assert views.train_command("artifacts") == "python -m sentiment train"
    assert views.train_command(tmp_path / "runs") == f"python -m sentiment train --output {tmp_path / 'runs'}"


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_empty_text_gets_a_message_not_a_prediction(models, text):
    comparison = views.compare(models, text)
    assert comparison.results == {} and comparison.notices == [views.EMPTY_REVIEW_MESSAGE]


def test_text_beyond_the_cap_is_cut_and_the_notice_says_so(models):
    text = "great " * (views.MAX_REVIEW_CHARACTERS // 6 + 100)
    comparison = views.compare(models, text)
    assert comparison.cut and len(comparison.text) == views.MAX_REVIEW_CHARACTERS
    assert f"cut to its last {views.MAX_REVIEW_CHARACTERS:,} characters (it had {len(text):,})" in comparison.notices[0]
    assert "the models read only the last 8" in comparison.notices[1]
    assert not views.compare(models, "great " * 10).cut


def test_each_model_reports_probability_label_and_time(models):
    comparison = views.compare(models, "the movie was wonderful")
    frame = views.results_frame(models, comparison)
    assert frame["model"].tolist() == ["SimpleRNN", "LSTM", "GRU"]
    for cell, row in zip(CELLS, frame.itertuples()):
        expected = models.predictors[cell].predict(["the movie was wonderful"])[0]
        assert row[2] == pytest.approx(expected, abs=1e-4)
        assert row.label == ("positive" if expected >= 0.5 else "negative")
        assert row[4] > 0


def test_trajectory_frame_has_a_point_per_word_and_model(models):
    comparison = views.compare(models, "the plot was boring")
    frame = views.trajectory_frame(comparison)
    assert frame.groupby("model").size().to_dict() == {"SimpleRNN": 4, "LSTM": 4, "GRU": 4}
    lstm = frame[frame["model"] == "LSTM"]
    assert lstm["word"].tolist() == ["the", "plot", "was", "boring"] and lstm["token"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(lstm["P(positive)"], comparison.results["lstm"].reading.trajectory, atol=1e-6)


def test_token_effects_mark_unknown_and_unread_words(models):
    reading = models.predictors["lstm"].read("zebra zebra the movie was awful and qwerty boring wonderful")
    spans = views.token_effects(reading)
    assert spans[0] == ("zebra zebra", views.NOT_READ)  # 10 words, 8 read: the first two are cut
    words = dict(spans)
    assert words["qwerty"] == views.UNKNOWN_WORD
    assert words["wonderful"] in (views.MORE_POSITIVE, views.MUCH_MORE_POSITIVE)
    assert "".join(text for text, _ in spans) == " ".join(reading.words)
    # Plain text (spaces, words that barely moved the model) comes in runs, never two plain spans in a row.
    assert all(not (first[1] is None and second[1] is None) for first, second in zip(spans, spans[1:]))
    assert all(category is None or " " not in text for text, category in spans[1:])


def _token_effects_one_word_at_a_time(reading):
    """The straightforward definition `token_effects` must match: bin each word, then merge plain runs."""
    pieces = [(" ".join(reading.words[: reading.read_start]), views.NOT_READ)] if reading.read_start else []
    read = reading.words[reading.read_start : reading.read_stop]
    pieces += [
        (word, views.effect_category(float(effect), bool(known)))
        for word, effect, known in zip(read, reading.effects, reading.known)
    ]
    pieces += (
        [(" ".join(reading.words[reading.read_stop :]), views.NOT_READ)]
        if reading.read_stop < len(reading.words)
        else []
    )
    spans = []
    for text, category in [
        piece for index, piece in enumerate(pieces) for piece in ([(" ", None)] if index else []) + [piece]
    ]:
        if category is None and spans and spans[-1][1] is None:
            spans[-1] = (spans[-1][0] + text, None)
        else:
            spans.append((text, category))
    return spans


def test_token_effects_match_binning_each_word(models):
    from sentiment.serving.predict import Reading

    rng = np.random.default_rng(0)
    readings = [
        models.predictors["lstm"].read(text)
        for text in ("", "good", "zebra zebra the movie was awful and qwerty boring wonderful")
    ]
    for _ in range(200):  # random readings: every category, cuts at either end, runs of every kind
        words = tuple(rng.choice(["a", "good", "bad", "plot", "qwerty"], size=int(rng.integers(1, 30))))
        start = int(rng.integers(0, len(words)))
        stop = int(rng.integers(start + 1, len(words) + 1))
        trajectory = np.cumsum(rng.choice([-0.2, -0.05, 0.0, 0.01, 0.05, 0.2], size=stop - start)).astype(
            np.float32
        ) + np.float32(0.5)
        readings.append(
            Reading(words, start, stop, rng.choice([0, 1, 5], size=stop - start).astype(np.int32), trajectory)
        )
    for reading in readings:
        assert views.token_effects(reading) == _token_effects_one_word_at_a_time(reading)
        assert views.effect_categories(reading.effects, reading.known) == [
            views.effect_category(float(effect), bool(known)) for effect, known in zip(reading.effects, reading.known)
        ]


@pytest.mark.parametrize(
    ("effect", "known", "category"),
    [
        (0.2, True, views.MUCH_MORE_POSITIVE),
        (0.05, True, views.MORE_POSITIVE),
        (0.0, True, None),
        (-0.05, True, views.MORE_NEGATIVE),
        (-0.2, True, views.MUCH_MORE_NEGATIVE),
        (0.3, False, views.UNKNOWN_WORD),
    ],
)
def test_effect_categories(effect, known, category):
    assert views.effect_category(effect, known) == category


def test_frames_come_from_the_loaded_models_metrics(models, tiny_artifacts):
    metrics = read_json(tiny_artifacts / "gru" / "metrics.json")
    overall = views.overall_frame(models).set_index("model")
    assert overall.loc["GRU", "test accuracy"] == round(metrics["test"]["accuracy"], 4)
    assert overall.loc["GRU", "parameters"] == metrics["parameters"]
    length = views.length_frame(models)
    gru = length[length["model"] == "GRU"]
    expected = [bucket for bucket in metrics["test"]["by_length"] if bucket["count"]]
    assert gru["words"].tolist() == [bucket["bucket"] for bucket in expected]
    assert gru["reviews"].tolist() == [bucket["count"] for bucket in expected]
    np.testing.assert_allclose(gru["ci_low"], [bucket["ci_low"] for bucket in expected])
    history = read_json(tiny_artifacts / "lstm" / "history.json")
    curves = views.history_frame(models)
    lstm_validation = curves[(curves["model"] == "LSTM") & (curves["split"] == "validation")]
    np.testing.assert_allclose(lstm_validation["accuracy"], history["val_accuracy"])


def test_examples_are_real_imdb_test_reviews_of_each_kind():
    examples = views.example_reviews()
    assert [example["name"] for example in examples] == ["short", "negation", "late flip", "long"]
    assert all(example["split"] == "test" and example["text"] for example in examples)
    words = {example["name"]: len(example["text"].split()) for example in examples}
    assert words["short"] < 60 and words["long"] > 400  # longer than the full preset reads


# --- Why gates matter --------------------------------------------------------


def test_review_decision_frame_is_each_models_gradient_share_by_distance(models, tiny_artifacts):
    from sentiment.analysis.gradients import review_gradient_norms

    notices, frame = views.review_decision_frame(models, "the movie was great")
    assert notices == [] and set(frame["model"]) == {"SimpleRNN", "LSTM", "GRU"}
    lstm = frame[frame["model"] == "LSTM"]
    assert lstm["steps before the end"].tolist() == [0, 1, 2, 3]
    assert lstm["word"].tolist() == ["great", "was", "movie", "the"]  # step 0 is the last word read
    norms = review_gradient_norms(models.predictors["lstm"].artifact, "the movie was great")["by_distance"]
    np.testing.assert_allclose(lstm["log10 share"], np.log10(norms / norms.sum()), rtol=1e-5)
    assert 10 ** lstm["log10 share"].to_numpy() @ np.ones(4) == pytest.approx(1.0)


def test_review_decision_frame_explains_empty_text(models):
    notices, frame = views.review_decision_frame(models, " \n")
    assert notices == [views.EMPTY_REVIEW_MESSAGE] and frame.empty


def test_a_cut_keeps_the_end_the_models_read():
    ending = " the ending was awful"
    text, characters, notices = views._bounded_text("x " * views.MAX_REVIEW_CHARACTERS + ending, keep_end=True)
    assert text.endswith(ending) and len(text) == views.MAX_REVIEW_CHARACTERS and "its last" in notices[0]
    text, _, notices = views._bounded_text("start " + "x " * views.MAX_REVIEW_CHARACTERS, keep_end=False)
    assert text.startswith("start ") and "its first" in notices[0]


BATCH = [
    "a wonderful film",
    "   ",
    "boring " * 40 + "but the ending was great",
    "x" * 30_000,
    "\ud800 odd <b>markup</b> \x00",
]


def test_reviews_compared_together_get_what_each_gets_alone(models):
    together = views.compare_many(models, BATCH)
    assert len(together) == len(BATCH)
    for text, comparison in zip(BATCH, together):
        alone = views.compare(models, text)
        assert comparison.text == alone.text and comparison.results.keys() == alone.results.keys()
        for cell, result in comparison.results.items():
            np.testing.assert_allclose(result.reading.trajectory, alone.results[cell].reading.trajectory, atol=1e-5)
        assert [notice for notice in comparison.notices if "one batch" not in notice] == alone.notices
    assert together[1].results == {} and together[1].notices == [views.EMPTY_REVIEW_MESSAGE]
    assert (
        "one batch with 3 other review(s)" in together[0].notices[-1]
    )  # four reviews were scored, the blank one was not


def test_decisions_computed_together_match_each_review_alone(models):
    together = views.review_decision_frames(models, BATCH)
    for text, (notices, frame) in zip(BATCH, together):
        alone_notices, alone = views.review_decision_frame(models, text)
        assert (
            notices == alone_notices
            and list(frame["model"]) == list(alone["model"])
            and list(frame["word"]) == list(alone["word"])
        )
        np.testing.assert_allclose(
            frame["log10 share"].to_numpy(float), alone["log10 share"].to_numpy(float), atol=1e-4
        )


def test_no_endpoint_retraces_for_new_lengths_or_batch_sizes(models):
    """Every TensorFlow function behind the app's endpoints is traced once, whatever the reviews and their number."""
    from sentiment.analysis.gradients import _traced_functions
    from webapp import inside_views

    def tracing_counts() -> dict:
        counts = {}
        for cell, predictor in models.predictors.items():
            gradients, forward = _traced_functions(predictor.artifact.model)
            functions = (predictor._forward, predictor._steps, gradients, forward)
            counts[cell] = [function.experimental_get_tracing_count() for function in functions]
        return counts

    views.compare_many(models, ["warm up"])
    views.review_decision_frames(models, ["warm up"])
    before = tracing_counts()
    for size, words in ((1, 3), (2, 17), (5, 60), (3, 250)):
        texts = [" ".join(["great"] * (words + index)) for index in range(size)]
        views.compare_many(models, texts)
        views.review_decision_frames(models, texts)
        inside_views.inside_views(models, texts)
    assert tracing_counts() == before
    assert all(count == 1 for counts in before.values() for count in counts)


def test_strong_models_serve_every_view(tiny_strong_artifacts):
    """The app on `--artifacts artifacts-strong`: compare, the decision plot and inside.

    The decision plot replays the pooling branches.
    """
    from webapp import inside_views

    models = views.load_models(tiny_strong_artifacts)
    assert list(models.predictors) == ["lstm", "gru"] and models.failures == {}
    (comparison,) = views.compare_many(models, ["a wonderful film"])
    assert set(comparison.results) == {"lstm", "gru"}
    notices, frame = views.review_decision_frame(models, "a wonderful film")
    assert notices == [] and sorted(frame["model"].unique()) == ["GRU", "LSTM"]
    assert all(
        list(frame[frame["model"] == name]["word"]) == ["film", "wonderful", "[UNK]"] for name in ("LSTM", "GRU")
    )  # "a" is not in the tiny vocabulary
    view = inside_views.inside_view(models, "a wonderful film")
    assert set(view.heatmaps) == {"lstm", "gru"}


# --- After the LSTM: rows of the accuracy tables, marked; never compared --------------------------------

AFTER = ("mingru", "minlstm", "transformer")
AFTER_NAMES = ["minGRU (after the LSTM)", "minLSTM (after the LSTM)", "Transformer (after the LSTM)"]


@pytest.fixture(scope="module")
def folder_with_next(tiny_artifacts, tiny_after_artifacts, tmp_path_factory):
    """A run of the cells with the models after the LSTM trained beside it as a run of their own, in next/."""
    folder = tmp_path_factory.mktemp("with-next") / "artifacts"
    shutil.copytree(tiny_artifacts, folder)
    shutil.copytree(tiny_after_artifacts, folder / views.NEXT_FOLDER)
    return folder


def test_the_models_after_the_lstm_load_from_next_as_rows_of_the_accuracy_tables(folder_with_next):
    models = views.load_models(folder_with_next, warm_up=False)
    assert list(models.predictors) == list(CELLS) and list(models.after) == list(AFTER) and models.failures == {}
    assert list(models.all_metrics()) == [*CELLS, "bow", *AFTER]
    overall = views.overall_frame(models)
    assert overall["model"].tolist()[-4:] == ["Bag of n-grams (reference)", *AFTER_NAMES]
    metrics = read_json(folder_with_next / views.NEXT_FOLDER / "transformer" / "metrics.json")
    assert overall.set_index("model").loc[AFTER_NAMES[2], "test accuracy"] == round(metrics["test"]["accuracy"], 4)
    length = views.length_frame(models)
    assert set(AFTER_NAMES) <= set(length["model"])  # by length too
    assert views.length_table(models).columns.tolist()[-3:] == AFTER_NAMES
    spec = charts.spec_of(views.length_chart(models))
    strokes = spec["layer"][0]["encoding"]["strokeDash"]["scale"]
    dashes = dict(zip(strokes["domain"], strokes["range"]))
    assert dashes["minGRU (after the LSTM)"] == [6, 2, 2, 2] and dashes["GRU"] == [1, 0]  # dash-dot, as in the PNGs
    colors = spec["layer"][0]["encoding"]["color"]["scale"]
    assert dict(zip(colors["domain"], colors["range"]))["Transformer (after the LSTM)"] == "#000000"
    # The Compare tab, the inside view and the decision plot stay about the three cells.
    comparison = views.compare(models, "the movie was great")
    assert list(comparison.results) == list(CELLS) and len(views.results_frame(models, comparison)) == 3
    assert set(views.history_frame(models)["model"]) == {"SimpleRNN", "LSTM", "GRU"}
    assert "After the LSTM, minGRU, minLSTM, Transformer are rows of the accuracy tables" in views.status_markdown(
        models
    )


def test_a_model_after_the_lstm_in_the_folder_itself_comes_first_and_a_broken_one_is_a_failure(
    tiny_artifacts, tiny_after_artifacts, tmp_path
):
    for cell in CELLS:
        shutil.copytree(tiny_artifacts / cell, tmp_path / cell)
    shutil.copytree(tiny_after_artifacts / "mingru", tmp_path / "mingru")  # trained into the same folder
    for cell in ("mingru", "transformer"):
        shutil.copytree(tiny_after_artifacts / cell, tmp_path / views.NEXT_FOLDER / cell)
    with open(tmp_path / views.NEXT_FOLDER / "mingru" / "model.keras", "ab") as file:
        file.write(b"damaged")  # not read: the folder's own minGRU comes first
    with open(tmp_path / views.NEXT_FOLDER / "transformer" / "model.keras", "ab") as file:
        file.write(b"damaged")
    models = views.load_models(tmp_path, warm_up=False)
    assert list(models.after) == ["mingru"] and models.after["mingru"].artifact.folder == tmp_path / "mingru"
    assert list(models.failures) == ["transformer"] and "does not match its checksum" in models.failures["transformer"]
    assert "Transformer is not loaded**: its files are missing, incomplete or damaged" in views.status_markdown(models)
