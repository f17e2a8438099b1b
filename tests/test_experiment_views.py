"""Try it yourself: clamp a gate, step through a review, edit and compare; computed on tiny models, then served by a
real app process that answers hostile requests with a sentence and keeps serving."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from sentiment.analysis import gates
from webapp import charts, experiment_views, findings, layout, views

# Six words: the tiny models read at most eight, so every word is read.
TEXT = "the movie was great and good"
EDITED = "the movie was not great and good"
CLAMP = "0: keep nothing of the old memory"
MODEL_NAMES = ["SimpleRNN", "LSTM", "GRU"]


@pytest.fixture(scope="module")
def models(tiny_artifacts):
    return views.load_models(tiny_artifacts, warm_up=False)


# --- What the learner sets, read as it was sent ---------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [(3, 3), (3.6, 4), ("7", 7), (" -2 ", -2), (1e308, int(1e308)), (True, None), (float("nan"), None)]
    + [(float("inf"), None), ("abc", None), ([1, 2], None), ({"a": 1}, None), (None, None)],
)
def test_a_sent_number_is_a_whole_number_or_none(value, expected):
    assert experiment_views.whole_number(value) == expected


def test_settings_are_checked_and_an_unknown_choice_or_a_bad_number_gets_a_sentence():
    read = experiment_views.read_settings
    assert read(None, None, None, None) == (
        experiment_views.Settings(None, 1, None, (experiment_views.NOTHING_CHANGED_MESSAGE,)),
        None,
    )
    assert read(CLAMP, 3.6, experiment_views.KNOCK_OUT_NUMBERED_UNIT, "2") == (
        experiment_views.Settings(0.0, 4, 2),
        None,
    )
    settings, _ = read("1: keep all of it", -5, experiment_views.KNOCK_OUT_SENTIMENT_UNIT, None)
    assert settings.start == 1 and settings.unit == "sentiment" and settings.memory_gate == 1.0
    assert settings.notices == ("Word -5 is before the first word: the change starts at word 1.",)

    _, problem = read("bogus <b>", 1, None, None)
    assert problem.startswith("Unknown memory-gate setting “bogus \\<b\\>”: choose one of “as learned”")
    assert read(None, 1, 5, None)[1].startswith("Unknown knock-out setting “5”")
    assert (
        read(None, "abc", None, None)[1] == "“From word” must be a whole number (1 is the first word read); got “abc”."
    )
    assert "must be a whole number (0 is the first)" in read(None, 1, experiment_views.KNOCK_OUT_NUMBERED_UNIT, [1])[1]
    surrogate = read("\ud800" + "x" * 100, 1, None, None)[1]
    assert surrogate.encode("utf-8") and "…" in surrogate  # valid UTF-8, cut short


# --- 1. Clamp a gate ----------------------------------------------------------------------


def test_a_clamp_changes_the_gated_models_trajectories_and_leaves_the_simple_rnn_as_learned(models):
    view = experiment_views.intervention_view(models, TEXT, CLAMP, 2, None, None)
    notice, finding, chart, table = view.outputs()
    assert notice == "The SimpleRNN has no gate to clamp."
    assert list(table["model"]) == MODEL_NAMES
    assert list(table["what was changed"]) == [
        "nothing",
        "forget gate = 0, from word 2",
        "update gate = 0, from word 2",
    ]
    lstm = models.predictors["lstm"]
    assert table["P(positive) as learned"][1] == pytest.approx(lstm.read(TEXT).probability, abs=1e-4)
    assert finding.startswith("**What it shows.** With the change, the LSTM")

    spec = charts.spec_of(chart)
    rows = pd.DataFrame(spec["data"]["values"])
    assert spec["layer"][0]["encoding"]["x"]["type"] == "quantitative" and rows["words read"].dtype.kind == "i"
    series = spec["layer"][0]["encoding"]["strokeDash"]["scale"]
    assert series["domain"] == [
        "SimpleRNN as learned",
        "LSTM as learned",
        "LSTM changed",
        "GRU as learned",
        "GRU changed",
    ]
    assert [dash == charts.DASHES["dashed"] for dash in series["range"]] == [False, False, True, False, True]
    learned, changed = (
        rows[rows["series"] == f"LSTM {kind}"]["P(positive)"].to_numpy() for kind in ("as learned", "changed")
    )
    assert learned[0] == changed[0] and not np.allclose(learned[1:], changed[1:], atol=1e-6)  # from word 2 on
    assert any(layer.get("data", {}).get("values", [{}])[0].get("words read") == 2 for layer in spec["layer"][1:])


def test_every_review_of_a_batch_gets_its_answer_whatever_the_others_sent(models):
    good = (TEXT, CLAMP, 1, experiment_views.KNOCK_OUT_SENTIMENT_UNIT, None)
    rows = [
        good,
        ("", CLAMP, 1, None, None),
        (TEXT, "bogus", 1, None, None),
        (TEXT, None, float("inf"), None, None),
        (TEXT, None, 1, experiment_views.KNOCK_OUT_NUMBERED_UNIT, 99),
        ("😀 <script>alert(1)</script> nul\x00 great \ud800", CLAMP, 1, None, None),
        ("great " * 200_000, CLAMP, 1, None, None),
        (TEXT,),  # fewer values than inputs: the rest as not sent
    ]
    answers = experiment_views.intervention_views(models, rows)
    notices = [answer.outputs()[0] for answer in answers]
    assert notices[1] == experiment_views.EMPTY_REVIEW_MESSAGE and answers[1].chart is None
    assert notices[2].startswith("Unknown memory-gate setting") and answers[2].table.empty
    assert notices[3].startswith("“From word” must be a whole number")
    assert notices[4].count("last layer has 4 units, 0 to 3; there is no unit 99") == 3
    assert len(answers[5].table) == 3 and len(answers[6].table) == 3
    assert "cut to its last 20,000 characters" in notices[6]
    assert notices[7] == experiment_views.NOTHING_CHANGED_MESSAGE and len(answers[7].table) == 3
    alone = experiment_views.intervention_view(models, *good)
    pd.testing.assert_frame_equal(answers[0].table, alone.table, atol=1e-6)
    assert notices[0] == alone.outputs()[0] and "follows P(positive) most closely" in notices[0]


# --- 2. Step through a review ----------------------------------------------------------------


def test_the_slider_moves_the_equations_values_and_a_word_out_of_range_is_said(models):
    stepper = experiment_views.StepThrough(models)
    lstm = gates.read_review(models.predictors["lstm"].artifact.model, models.predictors["lstm"].read(TEXT).token_ids)
    forget = lstm[0]["values"]["forget gate"].mean(axis=1)
    for word in (2, 5):
        view = stepper.view(TEXT, word)
        notice, shown_word, words, chart, *parts = view.outputs()
        assert (notice, shown_word, words) == ("", word, 6)
        equations = dict(zip(views.CELL_TYPES, parts[0::2]))
        assert f"\\langle f_t \\rangle = {forget[word - 1]:.2f}" in equations["lstm"]
        assert f"word {word} of 6, “{TEXT.split()[word - 1]}”" in equations["gru"]
        assert "\\tanh(a_t)" in equations["simple_rnn"] and "$h_{t-1} \\to h_t$" in parts[1]
        drawn = pd.DataFrame(charts.spec_of(chart)["data"]["values"])
        assert drawn["words read"].max() == word and set(drawn["series"]) == set(MODEL_NAMES)  # so far
    assert stepper.view(TEXT, 99).outputs()[:3] == (
        "Word 99 is outside the review's 6 words read: showing word 6.",
        6,
        6,
    )
    assert stepper.view(TEXT, "x").notices == ["The word must be a whole number from 1 to 6; got “x”: showing word 1."]
    assert stepper.view("", 3).notices == [experiment_views.EMPTY_REVIEW_MESSAGE]


def test_a_review_stepped_through_is_replayed_once(models, monkeypatch):
    stepper = experiment_views.StepThrough(models)
    stepper.view(TEXT, 1)
    for predictor in models.predictors.values():
        monkeypatch.setattr(predictor, "read_many", lambda texts: pytest.fail("read again"))
    assert stepper.view(TEXT, 4).word == 4


# --- 3. Two reviews side by side --------------------------------------------------------------


def test_the_pair_view_shows_both_reviews_where_they_part_and_the_shared_ending(models):
    view = experiment_views.pair_view(models, TEXT, EDITED)
    notice, finding, chart, table, review, edited = view.outputs()
    assert notice == "" and (view.parted_at, view.parted_word) == (4, "not")
    assert finding.startswith("**What it shows.** The two reviews part at word 4 (“not”).")
    assert list(table["model"]) == MODEL_NAMES and set(table["same ending (words)"]) == {3}
    for cell, row in zip(views.CELL_TYPES, table.itertuples(index=False)):
        predictor = models.predictors[cell]
        assert row[1] == pytest.approx(predictor.read(TEXT).probability, abs=1e-4)
        assert row[2] == pytest.approx(predictor.read(EDITED).probability, abs=1e-4)
    assert [span for span in edited if span[1]] == [("not", experiment_views.ONLY_IN_EDITED)]
    assert "".join(text for text, _ in review) == TEXT and "".join(text for text, _ in edited) == EDITED
    names = charts.spec_of(chart)["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert names == [f"{name}: {which}" for name in MODEL_NAMES for which in ("review", "edited copy")]

    assert experiment_views.pair_view(models, TEXT, TEXT.upper() + "!").notices == [
        "The models read the same words in both: edit the words (not only punctuation or case)."
    ]
    assert experiment_views.pair_view(models, TEXT, " ").notices == [experiment_views.EMPTY_EDITED_MESSAGE]
    assert experiment_views.pair_view(models, None, None).notices == [
        experiment_views.EMPTY_REVIEW_MESSAGE,
        experiment_views.EMPTY_EDITED_MESSAGE,
    ]


@pytest.mark.parametrize(
    "gaps, expected", [([0.1, 0.01, 0.0], 1), ([0.0, 0.0], 0), ([0.0, 0.1], None), ([], None), ([0.5, 0.3, 0.0], 2)]
)
def test_two_readings_agree_again_once_they_stay_within_the_weakest_effect(gaps, expected):
    assert experiment_views.agree_again_after(np.array(gaps)) == expected


def test_the_ready_made_edits_apply_to_the_example_reviews():
    edits = experiment_views.ready_made_edits()
    examples = {example["text"] for example in views.example_reviews()}
    assert len(edits) == len(experiment_views.READY_MADE_EDITS) == len({edit["name"] for edit in edits})
    for edit in edits:
        assert edit["review"] in examples and edit["edited"] != edit["review"]
    assert edits[0]["edited"].startswith("This is not an excellent film.")


# --- The sentences above the plots ----------------------------------------------------------


def _intervention_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=experiment_views.INTERVENTION_COLUMNS)


def test_the_intervention_finding_names_flipped_verdicts_and_the_largest_change():
    frame = _intervention_frame(
        [
            ["SimpleRNN", "nothing", 0.8, 0.8, "positive", "positive", 0.0, 1, "the"],
            ["LSTM", "forget gate = 0, at every word", 0.91, 0.32, "positive", "negative", 0.6, 7, "great"],
            ["GRU", "update gate = 0, at every word", 0.88, 0.85, "positive", "positive", 0.05, 3, "was"],
        ]
    )
    assert findings.intervention_finding(frame) == (
        "With the change, the LSTM's verdict flips from positive (0.91) to negative (0.32) and the GRU stays "
        "positive (0.88 → 0.85). The largest change is the LSTM's: 0.60 at word 7 (“great”). The SimpleRNN has "
        "nothing to change: as learned."
    )
    assert findings.intervention_finding(frame.iloc[:1]).startswith("Nothing was changed in any model")
    small = frame.iloc[1:].assign(**{"largest change": 0.01, "verdict changed": "positive"})
    assert "No model's P(positive) moves by 0.02 or more at any word." in findings.intervention_finding(small)
    assert findings.intervention_finding(frame.iloc[:0]) == ""


def test_the_pair_finding_says_who_carries_the_edit_to_the_end():
    frame = pd.DataFrame(
        [
            ["SimpleRNN", 0.8, 0.78, "positive", "positive", 0.3, 5, 10, 4],
            ["LSTM", 0.9, 0.2, "positive", "negative", 0.7, 6, 10, None],
        ],
        columns=experiment_views.PAIR_COLUMNS,
    )
    assert findings.pair_finding(frame, 4, "not") == (
        "The two reviews part at word 4 (“not”). The edit changes the LSTM's verdict from positive (0.90) to "
        "negative (0.20); the SimpleRNN keeps its. Both then end with the same 10 words: the LSTM's are still 0.70 "
        "apart at the last word and the SimpleRNN's agree again after 4 of them. The first carry the edit to the "
        "end; the others have forgotten it."
    )
    no_ending = frame.assign(**{"same ending (words)": 0})
    assert findings.pair_finding(no_ending, 4, "not").endswith("so no shared ending shows whether a model forgets it.")
    assert findings.pair_finding(frame, None, None) == ""


# --- The endpoints, in the app and in a real app process ---------------------------------------

ENDPOINTS = {"intervene": 5, "step": 2, "step_word": 2, "pair": 2}


def test_every_action_is_a_batched_endpoint_on_the_models_slot_that_reads_its_settings_itself(models):
    demo = layout.build_app(models)
    functions = {fn.api_name: fn for fn in demo.fns.values()}
    for name, inputs in ENDPOINTS.items():
        fn = functions[name]
        assert len(fn.inputs) == inputs and fn.batch and fn.max_batch_size == layout.HEAVY_BATCH_SIZE, name
        assert fn.concurrency_id == layout.MODELS_CONCURRENCY_ID and fn.preprocess is False, name


@pytest.fixture(scope="module")
def app_url(tiny_artifacts, tmp_path_factory):
    from test_app import _start_app, _stop_app

    process, url = _start_app(tiny_artifacts, tmp_path_factory.mktemp("experiments") / "app.log")
    yield url
    _stop_app(process)


def _call(url: str, api_name: str, *values: bytes | str) -> dict:
    """One request through the queue, its inputs as raw JSON (what any client may send)."""
    from test_app import _compare_raw

    return _compare_raw(url, b", ".join(v if isinstance(v, bytes) else v.encode() for v in values), api_name)


HOSTILE_TEXTS = {
    "empty": json.dumps(""),
    "1 MB": json.dumps("great film " * 95_000),
    "lone surrogates": r'"bad \ud800 movie \udfff"',
    "NUL and emoji": json.dumps("😀🎬 nul\x00byte great"),
    "HTML": json.dumps('<script>alert(1)</script><img src=x onerror="alert(2)"> great'),
}
# Per endpoint: (what is sent besides the review, in order) -> the start of the notice it must answer with.
HOSTILE_SETTINGS = {
    "intervene": {
        (b'"no such gate"', b"1", b"null", b"0"): "Unknown memory-gate setting",
        (b'"as learned"', b"1e308", b'"no unit"', b"0"): experiment_views.NOTHING_CHANGED_MESSAGE,
        (b'"as learned"', b"-5", b'"no unit"', b"0"): "Word -5 is before the first word",
        (b'"1: keep all of it"', b'"abc"', b"null", b"0"): "“From word” must be a whole number",
        (b"null", b"1", b'"the unit numbered below"', b"100000"): "SimpleRNN is left out: the SimpleRNN's last layer",
        (b"null", b"1", b'{"not": "a choice"}', b"0"): "Unknown knock-out setting",
    },
    "step": {
        (b"-1",): "Word -1 is outside",
        (b"1e308",): "Word 1e+308 is outside the review's 6 words read: showing word 6.",
        (b'"x"',): "The word must be a whole number",
    },
    "step_word": {(b"[3]",): "The word must be a whole number", (b"0.4",): "Word 0 is outside"},
    "pair": {(json.dumps("").encode(),): experiment_views.EMPTY_EDITED_MESSAGE},
}
DEFAULT_SETTINGS = {
    "intervene": (b'"0: keep nothing of the old memory"', b"1", b'"no unit"', b"0"),
    "step": (b"1",),
    "step_word": (b"1",),
    "pair": (json.dumps(EDITED).encode(),),
}


@pytest.mark.parametrize("api_name", list(ENDPOINTS))
def test_hostile_inputs_get_an_answer_or_a_sentence_and_the_app_keeps_serving(app_url, api_name, reliability):
    measured = []
    for name, text in HOSTILE_TEXTS.items():
        message = _call(app_url, api_name, text, *DEFAULT_SETTINGS[api_name])
        assert message["success"], (name, message)
        notice = message["output"]["data"][0]
        if name == "empty":
            assert notice == experiment_views.EMPTY_REVIEW_MESSAGE, notice
        if name == "1 MB":
            assert "cut to its last 20,000 characters" in notice, notice
        measured.append(f"{name}: answered")
    for settings, expected in HOSTILE_SETTINGS[api_name].items():
        message = _call(app_url, api_name, json.dumps(TEXT), *settings)
        assert message["success"], (settings, message)
        assert expected in message["output"]["data"][0], (settings, message["output"]["data"][0])
        measured.append(f"{b', '.join(settings).decode()}: a sentence")
    good = _call(app_url, api_name, json.dumps(TEXT), *DEFAULT_SETTINGS[api_name])
    assert good["success"] and good["output"]["data"][0] in ("", "The SimpleRNN has no gate to clamp.")
    reliability.record(
        "app: hostile inputs to the Try it yourself endpoints",
        f"/{api_name}: reviews (empty, 1 MB, lone surrogates, NUL and emoji, HTML) and settings out of range or "
        "unknown, each sent alone",
        "each answered, the settings with a sentence saying what is wrong; the app still answers a good request",
        "; ".join(measured),
    )


def test_a_request_with_bad_settings_never_fails_the_batch_it_joins(app_url):
    """Gradio's own check of a number or a dropdown would fail the whole batch; here the bad one gets a sentence."""
    from test_app import _answer_values

    texts = [json.dumps(f"the {index} film was {'great' if index % 2 else 'awful'} and good") for index in range(6)]
    alone = [
        _answer_values("intervene", _call(app_url, "intervene", text, *DEFAULT_SETTINGS["intervene"])["output"]["data"])
        for text in texts
    ]
    bad = [(b'"no such gate"', b"1", b"null", b"0"), (b"null", b"NaN", b'"no unit"', b"0")]
    with ThreadPoolExecutor(max_workers=len(texts) + len(bad)) as pool:
        good = [pool.submit(_call, app_url, "intervene", text, *DEFAULT_SETTINGS["intervene"]) for text in texts]
        refused = [pool.submit(_call, app_url, "intervene", texts[0], *settings) for settings in bad]
        answers, bad_answers = [future.result() for future in good], [future.result() for future in refused]
    assert all(answer["success"] for answer in answers + bad_answers)
    assert bad_answers[0]["output"]["data"][0].startswith("Unknown memory-gate setting")
    assert bad_answers[1]["output"]["data"][0].startswith("“From word” must be a whole number")
    for answer, (strings, numbers) in zip(answers, alone):
        batched_strings, batched_numbers = _answer_values("intervene", answer["output"]["data"])
        assert batched_strings == strings
        np.testing.assert_allclose(batched_numbers, numbers, atol=2e-4)
