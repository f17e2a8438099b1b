import numpy as np

from sentiment.plots import plot_gradient_norms, plot_long_range

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_gradient_plot_tolerates_gaps_and_zeros(tmp_path):
    curve = np.array([1.0, 0.1, 0.0, np.nan, 1e-30])  # zero and NaN cannot go on a log axis
    panels = [("review", {"lstm": curve}), ("average", {"simple_rnn": curve, "gru": curve})]
    path = plot_gradient_norms(panels, tmp_path / "g.png", words=["a", "b", "c", "d", "e"])
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]  # no temporary file left behind


def test_long_range_plot_is_reproducible(tmp_path):
    accuracy = {"simple_rnn": np.array([1.0, 0.5]), "lstm": np.array([[1.0, 0.5], [np.nan, np.nan]])}
    first = plot_long_range([10, 100], accuracy, tmp_path / "a.png").read_bytes()
    second = plot_long_range([10, 100], accuracy, tmp_path / "b.png").read_bytes()
    assert first[:8] == PNG_SIGNATURE and first == second
