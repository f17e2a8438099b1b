"""The Inside the cell tab's views, and `python -m sentiment inspect`, on the tiny models."""

import json

import numpy as np
import pytest
from test_reliability import INPUTS, LONE_SURROGATES

from sentiment.analysis import gates
from sentiment.config import CELL_TYPES
from webapp import inside_views, views

from conftest import run_cli


@pytest.fixture(scope="module")
def models(tiny_artifacts):
    return views.load_models(tiny_artifacts)


def test_every_model_gets_a_heatmap_its_gate_lines_and_a_unit(models):
    view = inside_views.inside_view(
        models, "the movie was great and good"
    )  # six words: the tiny models read up to eight
    assert view.notices == []
    for cell in CELL_TYPES:
        image = view.heatmaps[cell]
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[0] > 100 and image.std() > 0
        series = set(view.gate_means[cell]["series"])
        expected = {f"{gate} (mean over units)" for gate in gates.QUANTITIES[cell] if gate in gates.GATE_ROLES} | {
            "P(positive)"
        }
        assert series == expected
        assert len(view.gate_means[cell]) == len(expected) * 6
    lstm = view.gate_means["lstm"]
    forget = lstm[lstm["series"] == "forget gate (mean over units)"]["value"]
    assert forget.between(0, 1).all()
    assert set(view.saturation.columns) == set(inside_views.SATURATION_COLUMNS) and len(view.saturation) == 6
    assert all(cell in view.unit_notes for cell in CELL_TYPES)


def test_the_p_positive_line_is_the_compare_tabs_trajectory(models):
    text = "the plot was bad but the actor was great"
    view = inside_views.inside_view(models, text)
    for cell, predictor in models.predictors.items():
        frame = view.gate_means[cell]
        np.testing.assert_allclose(
            frame[frame["series"] == "P(positive)"]["value"], predictor.read(text).trajectory, atol=1e-6
        )


@pytest.mark.parametrize("name", [*INPUTS, "lone surrogates"])
def test_any_text_gets_a_view_or_a_clear_message(models, name):
    text = LONE_SURROGATES if name == "lone surrogates" else INPUTS[name]
    view = inside_views.inside_view(models, text)
    outputs = view.outputs()
    assert len(outputs) == 1 + 4 * len(CELL_TYPES) + 1
    if name in ("empty", "whitespace only"):
        assert view.notices == [views.EMPTY_REVIEW_MESSAGE] and view.heatmaps == {}
    else:
        assert all(view.heatmaps[cell].size > 0 for cell in CELL_TYPES)


def test_a_review_of_any_length_traces_nothing_new(models):
    inside_views.inside_view(models, "warm up")
    counts = {
        cell: (p._forward.experimental_get_tracing_count(), p._steps.experimental_get_tracing_count())
        for cell, p in models.predictors.items()
    }
    for words in (3, 17, 60):
        inside_views.inside_view(models, " ".join(["great"] * words))
    assert counts == {
        cell: (p._forward.experimental_get_tracing_count(), p._steps.experimental_get_tracing_count())
        for cell, p in models.predictors.items()
    }


def test_test_set_statistics_count_every_unit_and_token(models):
    predictor = models.predictors["lstm"]
    texts = ["the movie was great", "awful plot and bad actor", "good film"] * 3
    stats = gates.test_set_statistics(predictor, texts)
    tokens = sum(len(predictor.read(text).token_ids) for text in texts)
    assert stats["tokens"] == tokens and stats["memory_gate"] == "forget gate"
    assert sum(stats["histogram"]["counts"]) == tokens * predictor.artifact.config.model.units
    assert sum(entry["tokens"] for entry in stats["word_classes"].values()) == tokens
    assert set(stats["gate_by_class"]) == {"input gate", "forget gate", "output gate"}
    assert gates.test_set_statistics(models.predictors["simple_rnn"], texts)["histogram"] is None


def test_cli_inspect_writes_the_values_the_heatmaps_and_the_statistics(tiny_artifacts, tmp_path):
    result = run_cli(
        "inspect",
        *("--artifacts", str(tiny_artifacts)),
        *("--text", "the movie was great"),
        *"--sample-size 20".split(),
        *("--output", str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads((tmp_path / "inspect.json").read_text())
    lstm = values["cells"]["lstm"]
    assert lstm["review"]["words"] == ["the", "movie", "was", "great"]
    assert set(lstm["review"]["layers"][0]["values"]) == set(gates.QUANTITIES["lstm"])
    assert np.asarray(lstm["review"]["layers"][0]["values"]["forget gate"]).shape == (4, 4)
    assert lstm["test_set"]["reviews"] == 20
    for name in ("inspect_simple_rnn.png", "inspect_lstm.png", "inspect_gru.png", "inspect_memory_gates.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    markdown = (tmp_path / "inspect.md").read_text()
    assert "forget gate" in markdown and "(inspect_lstm.png)" in markdown and "(inspect_memory_gates.png)" in markdown
    frames = inside_views.test_set_frames(values)
    assert len(frames[0]) == 2 * gates.HISTOGRAM_BINS and set(frames[1]["model"]) == {"LSTM", "GRU"}


def test_reviews_inspected_together_get_what_each_gets_alone(models):
    texts = ["the plot was bad but the actor was great", "", "great", "<b>fine</b> \ud800 film"]
    for text, view in zip(texts, inside_views.inside_views(models, texts)):
        alone = inside_views.inside_view(models, text)
        assert view.notices == alone.notices and view.heatmaps.keys() == alone.heatmaps.keys()
        for cell in view.heatmaps:
            np.testing.assert_array_equal(view.heatmaps[cell].shape, alone.heatmaps[cell].shape)
            np.testing.assert_allclose(view.gate_means[cell]["value"], alone.gate_means[cell]["value"], atol=1e-5)
