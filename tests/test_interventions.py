"""Interventions in the exact replay of a trained cell: as learned it is Keras's reading; clamped, it does what the
equations say (the forget gate at 0 cuts the cell state's own path, at 1 the cell state only adds up)."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from sentiment import models
from sentiment.analysis import gates, interventions
from sentiment.errors import SentimentError
from sentiment.serving.predict import Predictor

CELLS = ("simple_rnn", "lstm", "gru")
# Nine words: the tiny models read the last 8.
TEXT = "the movie was great and the plot was awful"


@pytest.fixture(scope="module")
def predictors(tiny_artifacts):
    return {cell: Predictor.from_folder(tiny_artifacts / cell) for cell in CELLS}


def _replayed(predictor, intervention=None) -> dict[str, np.ndarray]:
    (entry,) = gates.read_review(predictor.artifact.model, predictor.read(TEXT).token_ids, intervention)
    return entry["values"]


@pytest.mark.parametrize("cell", CELLS)
def test_with_nothing_changed_the_replay_reads_the_review_as_keras_does(predictors, cell):
    predictor = predictors[cell]
    reading = predictor.read(TEXT)
    result = interventions.intervene(predictor, TEXT)
    assert len(result["learned"]) == len(reading.token_ids) == 8
    np.testing.assert_allclose(result["learned"], reading.trajectory, atol=1e-5)  # the head on every replayed state
    assert result["intervention"] is None and result["changed"] is result["learned"]
    assert result["verdicts"][0] == ("positive" if reading.probability >= 0.5 else "negative")

    # An intervention that changes nothing, or only after the last word, is the same replay to the last bit.
    plain = _replayed(predictor)
    for intervention in (gates.Intervention(), gates.Intervention(0.0, start=8), gates.Intervention(1.0, start=8)):
        replayed = _replayed(predictor, intervention)
        for name, values in plain.items():
            np.testing.assert_array_equal(replayed[name], values, err_msg=f"{intervention}: {name}")


def _lstm_step(layer: keras.layers.LSTM, token_id: int, state: dict, memory_gate: float | None, model) -> np.ndarray:
    """One step of the replayed LSTM cell from `state` (what `gates.replay` runs at each word): the new cell state."""
    cell = layer.cell
    kernel, recurrent_kernel, bias = (
        np.asarray(keras.ops.convert_to_numpy(weight), np.float64)
        for weight in (cell.kernel, cell.recurrent_kernel, cell.bias)
    )
    embedded = np.asarray(keras.ops.convert_to_numpy(models.embedding(model).embeddings), np.float64)[token_id]
    functions = (gates._activation(cell.activation), gates._activation(cell.recurrent_activation))
    return gates._lstm_step(embedded @ kernel, state, recurrent_kernel, bias, cell, functions, memory_gate)[
        "cell state"
    ]


def _jacobian(step, state: dict, wrt: str, epsilon: float = 1e-4) -> np.ndarray:
    """d(c_t)/d(state[wrt]) by central differences: <float64>[units, units], column j for unit j of `wrt`."""
    columns = []
    for unit in range(len(state[wrt])):
        moved = [step({**state, wrt: state[wrt] + sign * epsilon * np.eye(len(state[wrt]))[unit]}) for sign in (1, -1)]
        columns.append((moved[0] - moved[1]) / (2 * epsilon))
    return np.stack(columns, axis=1)


def test_the_forget_gate_at_0_cuts_the_cell_states_own_path(predictors):
    predictor = predictors["lstm"]
    model = predictor.artifact.model
    (layer,) = models.recurrent_layers(model)
    start = 3
    learned, clamped = _replayed(predictor), _replayed(predictor, gates.Intervention(0.0, start=start))
    for name in learned:  # before the clamp, the cell as learned
        np.testing.assert_array_equal(clamped[name][:start], learned[name][:start])
    assert np.all(clamped["forget gate"][start:] == 0.0)
    # From the clamp on the cell state is what this word writes, and nothing of the one before.
    np.testing.assert_array_equal(
        clamped["cell state"][start:], clamped["input gate"][start:] * clamped["candidate"][start:]
    )

    token_id = int(predictor.read(TEXT).token_ids[start])
    state = {"hidden": clamped["hidden"][start - 1], "cell state": clamped["cell state"][start - 1]}

    def step(gate):
        return lambda state: _lstm_step(layer, token_id, state, gate, model)

    # dc_t/dc_{t-1} = 0: the long-term path is cut ...
    np.testing.assert_array_equal(_jacobian(step(0.0), state, "cell state"), 0.0)
    # ... and what survives of the past flows through the hidden state only.
    assert np.abs(_jacobian(step(0.0), state, "hidden")).max() > 1e-3
    # As learned, dc_t/dc_{t-1} = diag(f_t): the path the clamp cuts.
    np.testing.assert_allclose(
        _jacobian(step(None), state, "cell state"), np.diag(learned["forget gate"][start]), atol=1e-8
    )
    assert learned["forget gate"][start].min() > 0.05


def test_the_forget_gate_at_1_makes_the_cell_state_only_add_up(predictors):
    predictor = predictors["lstm"]
    values = _replayed(predictor, gates.Intervention(1.0))
    assert np.all(values["forget gate"] == 1.0)
    previous = np.vstack([np.zeros(values["cell state"].shape[1]), values["cell state"][:-1]])
    np.testing.assert_allclose(values["cell state"], previous + values["input gate"] * values["candidate"], atol=1e-12)
    np.testing.assert_allclose(values["hidden"], values["output gate"] * np.tanh(values["cell state"]), atol=1e-12)
    (layer,) = models.recurrent_layers(predictor.artifact.model)
    state = {"hidden": values["hidden"][2], "cell state": values["cell state"][2]}
    token_id = int(predictor.read(TEXT).token_ids[3])
    jacobian = _jacobian(
        lambda state: _lstm_step(layer, token_id, state, 1.0, predictor.artifact.model), state, "cell state"
    )
    np.testing.assert_allclose(jacobian, np.eye(len(jacobian)), atol=1e-8)  # dc_t/dc_{t-1} = I: nothing fades


def test_the_grus_update_gate_at_1_freezes_its_state_and_at_0_keeps_only_the_candidate(predictors):
    predictor = predictors["gru"]
    start = 4
    frozen = interventions.intervene(predictor, TEXT, memory_gate=1.0, start=start)
    hidden = frozen["layers"][0]["values"]["hidden"]
    np.testing.assert_array_equal(hidden[start:], np.repeat(hidden[start - 1 : start], len(hidden) - start, axis=0))
    np.testing.assert_allclose(frozen["changed"][start:], frozen["changed"][start - 1], atol=1e-12)
    np.testing.assert_allclose(frozen["changed"][:start], frozen["learned"][:start], atol=0)
    assert not np.allclose(frozen["changed"], frozen["learned"])

    forgetful = interventions.intervene(predictor, TEXT, memory_gate=0.0)["layers"][0]["values"]
    np.testing.assert_array_equal(forgetful["hidden"], forgetful["candidate"])
    assert np.all(forgetful["update gate"] == 0.0)


def test_a_knocked_out_unit_passes_nothing_on_and_the_sentiment_unit_is_found_on_the_review(predictors):
    predictor = predictors["lstm"]
    learned = _replayed(predictor)
    result = interventions.intervene(predictor, TEXT, unit=2, start=1)
    values = result["layers"][0]["values"]
    assert np.all(values["hidden"][1:, 2] == 0.0) and np.all(values["cell state"][1:, 2] == 0.0)
    np.testing.assert_array_equal(values["hidden"][0], learned["hidden"][0])
    assert result["intervention"] == gates.Intervention(None, 1, 2)
    assert np.abs(result["changed"] - result["learned"]).max() > 1e-4

    followed = interventions.intervene(predictor, TEXT, unit=interventions.SENTIMENT_UNIT)
    expected = gates.sentiment_unit(learned["hidden"], followed["learned"])
    assert followed["intervention"].unit == expected["unit"]
    assert f"unit {expected['unit']} follows P(positive) most closely" in followed["notes"][0]

    with pytest.raises(SentimentError, match="has 4 units, 0 to 3; there is no unit 4"):
        interventions.intervene(predictor, TEXT, unit=4)


def test_the_simple_rnn_has_no_gate_to_clamp_and_a_model_read_both_ways_is_refused(predictors):
    result = interventions.intervene(predictors["simple_rnn"], TEXT, memory_gate=0.0)
    assert result["notes"] == ["The SimpleRNN has no gate to clamp."] and result["intervention"] is None
    both_ways = SimpleNamespace(cell_type="lstm", reads_in_one_pass=False)
    with pytest.raises(SentimentError, match="reads the review both ways or pools its states.*--no-bidirectional"):
        interventions.require_one_pass(both_ways)
    with pytest.raises(SentimentError, match="after the LSTM"):
        interventions.require_one_pass(SimpleNamespace(cell_type="mingru", reads_in_one_pass=True))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"memory_gate": 1.5}, "memory_gate must be None"),
        ({"start": -1}, "start must be a word index"),
        ({"unit": -2}, "unit must be a unit index"),
    ],
)
def test_an_impossible_intervention_is_a_clear_error(settings, message):
    with pytest.raises(ValueError, match=message):
        gates.Intervention(**settings)
