import numpy as np

from sentiment.analysis.plots import (
    plot_adding,
    plot_distance,
    plot_gradient_norms,
    plot_jacobians,
    plot_lag_shift,
    plot_recall,
    plot_sequential_cost,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_gradient_plot_tolerates_gaps_and_zeros(tmp_path):
    curve = np.array([1.0, 0.1, 0.0, np.nan, 1e-30])  # zero and NaN cannot go on a log axis
    panels = [("review", {"lstm": curve}), ("average", {"simple_rnn": curve, "gru": curve}, "share")]
    path = plot_gradient_norms(panels, tmp_path / "g.png", words=["a", "b", "c", "d", "e"])
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]  # no temporary file left behind


def test_recall_plot_is_reproducible_and_tolerates_missing_runs(tmp_path):
    accuracy = np.array([[[1.0, 0.5], [np.nan, np.nan]], [[0.5, 0.5], [1.0, 1.0]]])  # [lengths, variants, seeds]
    by_lag = np.array([[0.5, 1.0], [0.6, np.nan]])
    first = plot_recall(
        [10, 100], ["simple_rnn", "lstm+chrono"], accuracy, ["50–74", "75–100"], by_lag, tmp_path / "a.png"
    ).read_bytes()
    second = plot_recall(
        [10, 100], ["simple_rnn", "lstm+chrono"], accuracy, ["50–74", "75–100"], by_lag, tmp_path / "b.png"
    ).read_bytes()
    assert first[:8] == PNG_SIGNATURE and first == second


def test_the_other_long_range_plots(tmp_path):
    curves = {25: {"gru": [([0, 100, 200], [0.5, 0.1, 0.005])], "irnn": [([0, 100], [0.5, 0.2]), ([0], [0.4])]}}
    assert plot_adding(curves, {25: 0.167}, 0.01, tmp_path / "adding.png").read_bytes()[:8] == PNG_SIGNATURE
    panels = [
        ("init", {"lstm": np.array([[1.0, 0.5, 0.0]]), "simple_rnn, inputs × 8": np.array([[1.0, 0.1, 0.01]])}),
        ("trained", {"gru": np.ones((2, 3))}),
        ("third", {}),
    ]
    assert plot_jacobians(panels, tmp_path / "jacobians.png").read_bytes()[:8] == PNG_SIGNATURE
    assert (
        plot_lag_shift([9, 10, 11], {"simple_rnn": np.array([[0.0, 1.0, 0.2]])}, 10, tmp_path / "lag.png").read_bytes()[
            :8
        ]
        == PNG_SIGNATURE
    )


def test_distance_and_sequential_cost_plots(tmp_path):
    entry = {"accuracy": 0.7, "ci_low": 0.6, "ci_high": 0.8}
    path = plot_distance(
        [0, 50],
        ["LSTM", "bag of embeddings", "GRU (mixed schedule)"],
        [[entry, entry, None], [entry, None, entry]],
        [[None, None, None], [entry, entry, entry]],
        tmp_path / "d.png",
    )
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    cost = {
        "lengths": [50, 100],
        "batch_size": 4,
        "models": {
            "lstm": {"train_seconds": [0.01, 0.02], "inference_seconds": [0.005, 0.01]},
            "conv1d": {"train_seconds": [0.01, 0.011], "inference_seconds": [0.004, 0.004]},
        },
    }
    assert plot_sequential_cost(cost, tmp_path / "cost.png").read_bytes()[:8] == PNG_SIGNATURE


def _drawn_figure(monkeypatch, draw):
    """Calls `draw` and returns the figure it saved, to read what a reader will see."""
    from sentiment.analysis import plots

    saved = []
    monkeypatch.setattr(plots, "_save", lambda figure, path: saved.append(figure) or path)
    draw()
    return saved[0]


def test_lines_hidden_under_one_another_at_100_percent_are_named_and_legends_stay_off_the_data(monkeypatch):
    accuracy = np.ones((2, 3, 1))  # every variant perfect at both T...
    accuracy[:, 0] = 0.5  # ...but the SimpleRNN
    variants = ["simple_rnn", "lstm+chrono", "transformer"]
    figure = _drawn_figure(
        monkeypatch, lambda: plot_recall([10, 100], variants, accuracy, ["a", "b"], accuracy[:, :, 0], "x.png")
    )
    left, right = figure.axes
    note = [text.get_text() for text in left.texts]
    assert note == ["One line at 100% at every T, 2 models on it:\nLSTM (chrono init)\nTransformer (after the LSTM)"]
    assert right.texts[0].get_text().startswith("One line at 100% at every lag, 2 models on it:")
    assert left.get_legend() is None and right.get_legend() is None  # one legend, outside the panels
    (legend,) = figure.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels.count("SimpleRNN") == 1 and "chance (50%)" in labels
    accuracy[:, 2] = 0.9  # one model alone at 100%: its line is seen, nothing to name
    figure = _drawn_figure(
        monkeypatch, lambda: plot_recall([10, 100], variants, accuracy, ["a", "b"], accuracy[:, :, 0], "x.png")
    )
    assert not figure.axes[0].texts


def test_the_lag_shift_axis_has_whole_lags_within_those_tested(monkeypatch):
    lags = list(range(90, 111))
    figure = _drawn_figure(
        monkeypatch, lambda: plot_lag_shift(lags, {"transformer": np.full((1, len(lags)), 0.8)}, 100, "x.png")
    )
    ticks = figure.axes[0].get_xticks()
    assert set(ticks) <= set(lags) and ticks[0] == 90 and ticks[-1] == 110
