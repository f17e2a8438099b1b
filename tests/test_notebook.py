"""The walk-through notebook executes top to bottom on small settings.

It runs in a real Jupyter kernel (nbclient + ipykernel) against the tiny
artifacts, so a notebook cell that no longer matches the package fails here,
not in a reader's hands.
"""

from pathlib import Path

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = ROOT / "notebooks" / "why_lstm.ipynb"


@pytest.mark.slow
def test_notebook_runs_on_small_settings(tiny_artifacts, tmp_path, monkeypatch):
    monkeypatch.setenv("WHY_LSTM_SETTINGS", "small")
    monkeypatch.setenv("WHY_LSTM_ARTIFACTS", str(tiny_artifacts))
    monkeypatch.setenv("WHY_LSTM_OUTPUT", str(tmp_path / "output"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
    ).execute()
    written = {path.name for path in Path(tmp_path / "output").iterdir()}
    assert {"gradients.json", "gradients.png", "long_range"} <= written
    assert {"long_range.json", "long_range_recall.png", "jacobians.png"} <= {
        path.name for path in Path(tmp_path / "output" / "long_range").iterdir()
    }
    text = "".join(
        str(output.get("text", ""))
        + str(output.get("data", {}).get("text/markdown", ""))
        + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    assert "settings: small" in text
    assert (
        "| T | SimpleRNN | IRNN | LSTM | LSTM (chrono init) | GRU | GRU (chrono init) |" in text
    )  # the tiny suite's table and the measured one
    assert "Accuracy where the filler's label is the other one" in text and "T = 32" in text
