"""Same seed, same model: two trainings with the same configs give the same weights and the same test figures.

The default preset's own check (two full `python -m sentiment train` runs,
compared weight by weight) is recorded in the closing note of issue 30 and
in docs/TRAINING.md; this test holds the property on every commit, on the
tiny data, for every cell type and the reference.
"""

from __future__ import annotations

import hashlib

import numpy as np

from conftest import tiny_configs


def _weights_digest(model) -> str:
    return hashlib.sha256(b"".join(np.asarray(weight).tobytes() for weight in model.get_weights())).hexdigest()


def test_two_runs_with_the_same_seed_give_identical_models(tiny_csv, tmp_path):
    from sentiment.io.artifacts import load_artifact, read_json
    from sentiment.training.train import train_models

    runs = []
    for name in ("first", "second"):
        folder = tmp_path / name
        train_models(*tiny_configs(tiny_csv, epochs=2), output=folder, verbose=0, log=lambda message: None)
        runs.append(folder)
    for cell_type in ("simple_rnn", "lstm", "gru"):
        first, second = (load_artifact(folder / cell_type) for folder in runs)
        assert _weights_digest(first.model) == _weights_digest(second.model), cell_type
        assert first.metrics["test"] == second.metrics["test"], cell_type
        assert first.history["val_loss"] == second.history["val_loss"], cell_type
    first_bow, second_bow = (read_json(folder / "bow" / "metrics.json") for folder in runs)
    assert first_bow["test"] == second_bow["test"]
