"""The browser test's plot checks, each broken once: a check that cannot fail checks nothing."""

from __future__ import annotations

import pandas as pd

from webapp import charts, findings

from plot_checks import axis_problems, finding_problems, legend_problems, numeric_column_problems, rows

RECALL = pd.DataFrame(
    {
        "model": ["SimpleRNN", "SimpleRNN", "LSTM (chrono init)", "LSTM (chrono init)"],
        "T": [25, 200, 25, 200],
        "accuracy": [1.0, 0.512, 1.0, 1.0],
        "seeds": ["", "", "", ""],
    }
)


def _chart(frame: pd.DataFrame, x: str = "T") -> dict:
    value = charts.line_chart(frame, x, "accuracy", "model", title="t", x_title="x", y_title="y", integer_x=True)
    return value.model_dump()


def test_a_number_sent_as_text_is_caught():
    assert numeric_column_problems(_chart(RECALL), "T") == []
    as_text = _chart(RECALL.assign(T=RECALL["T"].astype(str)))
    assert any("not numbers" in problem for problem in numeric_column_problems(as_text, "T"))
    native = {"columns": ["T", "y"], "data": [["25", 1.0]], "datatypes": {"T": "nominal", "y": "quantitative"}}
    assert len(numeric_column_problems(native, "T")) == 2  # typed nominal, and a string


def test_an_axis_drawn_as_categories_or_out_of_order_is_caught():
    linear = "X-axis titled 'T' for a linear scale with values from 25 to 200"
    assert axis_problems(linear, ["25", "50", "100", "200"], numeric=True) == []
    assert axis_problems("X-axis titled 'T' for a discrete scale with 4 values", ["25", "50"], numeric=True)
    assert axis_problems(linear, ["100", "200", "25", "50"], numeric=True)  # sorted as text
    assert axis_problems(linear, ["1", "2", "2", "3"], numeric=True)  # 1.5 printed as "2"
    assert axis_problems(linear, ["0-99", "100-199"], numeric=False) == []


def test_a_legend_entry_without_data_is_caught():
    value = _chart(RECALL)
    assert legend_problems(["SimpleRNN", "LSTM (chrono init)"], value, "model") == []
    assert legend_problems(["SimpleRNN", "GRU"], value, "model") == ["legend entry 'GRU' has no data"]
    assert legend_problems(["SimpleRNN", "SimpleRNN"], value, "model")


def test_a_finding_that_disagrees_with_its_data_is_caught():
    value = _chart(RECALL)
    sentence = findings.recall_finding(RECALL)
    assert "At T = 200, only LSTM (chrono init) recall the signal (100.0%)" in sentence
    assert finding_problems(sentence, value, "model", ("T",), ("accuracy",)) == []
    wrong_number = sentence.replace("100.0%", "98.0%")
    assert finding_problems(wrong_number, value, "model", ("T",), ("accuracy",))
    wrong_length = sentence.replace("T = 200", "T = 400")
    assert finding_problems(wrong_length, value, "model", ("T",), ("accuracy",))
    wrong_model = sentence.replace("LSTM (chrono init)", "GRU")
    assert finding_problems(wrong_model, value, "model", ("T",), ("accuracy",))
    assert finding_problems("", value, "model") == ["the finding is empty"]


def test_a_chart_carries_its_data_and_draws_levels_and_seeds_apart():
    frame = pd.DataFrame(
        {"model": ["LSTM"] * 4, "seed": [0, 0, 1, 1], "updates": [0, 100, 0, 100], "mse": [1, 2, 3, 4]}
    )
    value = charts.line_chart(
        frame,
        "updates",
        "mse",
        "model",
        title="t",
        x_title="x",
        y_title="y",
        detail="seed",
        levels=[charts.Level("best constant", 0.5)],
    )
    spec = charts.spec_of(value)
    line, rule, label = spec["layer"]
    assert line["encoding"]["detail"]["field"] == "seed" and line["mark"]["strokeWidth"] < 2  # thin, per seed
    assert line["encoding"]["color"]["scale"]["domain"] == ["LSTM"]  # one legend entry per model
    assert rule["mark"]["type"] == "rule" and label["encoding"]["text"]["field"] == "level"
    assert rows(value.model_dump()) == frame.to_dict("records")
