import json
import math
from pathlib import Path

import pytest

from sentiment.config import CELL_TYPES, LENGTH_BUCKET_EDGES
from sentiment.errors import SentimentError
from sentiment.io import artifacts
from sentiment.training.checkpoint import ResumableCheckpoint
from sentiment.training.train import train_models

from conftest import tiny_configs


def test_artifacts_folder_is_complete(tiny_artifacts):
    for cell in CELL_TYPES:
        folder = tiny_artifacts / cell
        assert {p.name for p in folder.iterdir()} >= set(artifacts.ARTIFACT_FILES) | {"manifest.json", "logs"}
        assert not (folder / "checkpoint").exists()
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["test"]["count"] == 80
        assert 0 <= metrics["test"]["accuracy"] <= 1
        assert len(metrics["test"]["by_length"]) == len(LENGTH_BUCKET_EDGES)
        assert sum(b["count"] for b in metrics["test"]["by_length"]) == 80
        assert metrics["parameters"] > 0 and metrics["training_seconds"] > 0 and metrics["train_samples_per_second"] > 0
        history = json.loads((folder / "history.json").read_text())
        assert len(history["loss"]) == metrics["epochs_run"] and len(history["val_loss"]) == metrics["epochs_run"]
    summary = json.loads((tiny_artifacts / "summary.json").read_text())
    assert list(summary["models"]) == [*CELL_TYPES, "bow"]
    markdown = (tiny_artifacts / "summary.md").read_text()
    assert "| SimpleRNN |" in markdown and "| LSTM |" in markdown and "Accuracy by review length" in markdown
    assert summary["wall_seconds"] >= sum(m["training_seconds"] for m in summary["models"].values())
    assert "wall time of the command" in markdown


def test_models_learn_the_tiny_task(tiny_artifacts):
    # The tiny language has one sentiment word per review; after four epochs at
    # a high learning rate every cell should beat chance on held-out reviews.
    accuracies = {
        cell: json.loads((tiny_artifacts / cell / "metrics.json").read_text())["test"]["accuracy"]
        for cell in CELL_TYPES
    }
    assert min(accuracies.values()) > 0.6, accuracies


def test_rerun_skips_finished_models(tiny_csv, tiny_artifacts):
    messages = []
    before = (tiny_artifacts / "lstm" / "model.keras").stat().st_mtime_ns
    results = train_models(
        *tiny_configs(tiny_csv), cell_types=("lstm",), output=tiny_artifacts, verbose=0, log=messages.append
    )
    assert results[0].skipped and "already trained" in messages[0]
    assert (tiny_artifacts / "lstm" / "model.keras").stat().st_mtime_ns == before


def test_other_settings_in_the_same_folder_are_refused(tiny_csv, tiny_artifacts):
    data_config, model_config, train_config = tiny_configs(tiny_csv, epochs=5)
    with pytest.raises(SentimentError, match=r"holds a run with other settings \(train\.epochs: 4 -> 5\)"):
        train_models(data_config, model_config, train_config, output=tiny_artifacts, verbose=0, log=lambda m: None)


def test_resume_continues_from_the_checkpoint(tiny_csv, tmp_path):
    """Stop after epoch 1 (as a kill would), then the same call finishes epoch 2 only."""
    configs = tiny_configs(tiny_csv, epochs=2, patience=5)

    original = ResumableCheckpoint.on_epoch_end

    def checkpoint_then_interrupt(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt

    ResumableCheckpoint.on_epoch_end = checkpoint_then_interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            train_models(*configs, cell_types=("gru",), output=tmp_path, verbose=0, log=lambda m: None)
    finally:
        ResumableCheckpoint.on_epoch_end = original
    state = json.loads((tmp_path / "gru" / "checkpoint" / "state.json").read_text())
    assert state["epochs_done"] == 1
    messages = []
    train_models(*configs, cell_types=("gru",), output=tmp_path, verbose=0, log=messages.append)
    assert any("resuming after epoch 1" in m for m in messages)
    metrics = json.loads((tmp_path / "gru" / "metrics.json").read_text())
    history = json.loads((tmp_path / "gru" / "history.json").read_text())
    assert metrics["epochs_run"] == 2 and len(history["loss"]) == 2


def test_nan_loss_stops_without_overwriting_the_good_checkpoint(tmp_path, reliability):
    class Model:
        stop_training = False

    state = {
        "epochs_done": 1,
        "best": 0.5,
        "best_epoch": 1,
        "wait": 0,
        "history": {"loss": [0.6]},
        "stopped_reason": None,
    }
    callback = ResumableCheckpoint(tmp_path, monitor="val_loss", patience=2, state=state)
    callback.set_model(Model())
    callback.on_epoch_begin(1)
    callback.on_epoch_end(1, {"loss": math.nan, "val_loss": math.nan})
    assert callback.model.stop_training
    assert "non-finite" in state["stopped_reason"]
    assert state["epochs_done"] == 1 and state["history"] == {"loss": [0.6]}
    assert list(tmp_path.iterdir()) == []  # nothing written over the last good checkpoint
    reliability.record(
        "fault: training",
        "NaN loss and val_loss reported to the checkpoint callback at epoch 2",
        "training stops; the epoch-1 checkpoint is not overwritten and the NaN epoch is not recorded",
        f"stopped ({state['stopped_reason'][:40]}…); nothing written; epochs_done stays {state['epochs_done']}",
    )


def test_a_run_that_diverges_keeps_the_last_finite_epoch(tiny_csv, tmp_path, monkeypatch, reliability):
    import numpy as np

    begin = ResumableCheckpoint.on_epoch_begin

    def diverge(self, epoch, logs=None):
        begin(self, epoch, logs)
        if epoch == 1:  # as if the optimizer had blown up: every weight NaN during epoch 2
            self.model.set_weights([np.full_like(weight, np.nan) for weight in self.model.get_weights()])

    monkeypatch.setattr(ResumableCheckpoint, "on_epoch_begin", diverge)
    train_models(
        *tiny_configs(tiny_csv, epochs=3, patience=5),
        cell_types=("lstm",),
        output=tmp_path,
        verbose=0,
        log=lambda message: None,
    )
    artifact = artifacts.load_artifact(tmp_path / "lstm")  # checksums verified
    assert all(np.isfinite(weight).all() for weight in artifact.model.get_weights())
    assert "non-finite" in artifact.metrics["stopped_reason"]
    assert artifact.metrics["epochs_run"] == 1 and len(artifact.history["loss"]) == 1  # the NaN epoch is not kept
    assert np.isfinite(artifact.metrics["test"]["loss"])
    reliability.record(
        "fault: training",
        "every weight turns NaN during epoch 2 of a real 3-epoch training run",
        "training stops at epoch 2; the artifact holds epoch 1's finite weights and history, and verifies",
        f"stopped: {artifact.metrics['stopped_reason'][:45]}…; epochs_run {artifact.metrics['epochs_run']}, "
        f"all weights finite, test loss {artifact.metrics['test']['loss']:.3f}",
    )


@pytest.mark.parametrize(
    "monitor, values, best_epoch, stopped_after",
    [
        ("val_accuracy", [0.50, 0.60, 0.55, 0.58, 0.70], 2, 4),  # higher is better; two epochs without a new best
        ("val_loss", [0.70, 0.60, 0.65, 0.50, 0.55], 4, None),
    ],
)
def test_best_epoch_and_early_stopping_follow_the_monitor(tmp_path, monitor, values, best_epoch, stopped_after):
    from sentiment.config import ModelConfig
    from sentiment.models import build_classifier

    model = build_classifier(ModelConfig(embedding_dim=2, units=2), 10)
    state = {"epochs_done": 0, "best": None, "best_epoch": 0, "wait": 0, "history": {}, "stopped_reason": None}
    callback = ResumableCheckpoint(tmp_path, monitor=monitor, patience=2, state=state)
    model.stop_training = False  # fit() sets this before the first epoch
    callback.set_model(model)
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"loss": 0.5, "val_loss": value, "val_accuracy": value})
        if model.stop_training:
            break
    assert state["best_epoch"] == best_epoch
    assert state["epochs_done"] == (stopped_after or len(values))
    assert model.stop_training == (stopped_after is not None)
    assert (tmp_path / "best.weights.h5").exists() and (tmp_path / "state.json").exists()


def test_length_ordered_prediction_matches_the_plain_order(tiny_artifacts):
    import numpy as np

    from sentiment.io.artifacts import load_artifact
    from sentiment.training.loop import predict_probabilities

    model = load_artifact(tiny_artifacts / "lstm").model
    rng = np.random.default_rng(0)
    ids = np.zeros((70, 8), np.int32)
    for row, length in enumerate(rng.integers(1, 9, 70)):
        ids[row, :length] = rng.integers(1, 20, length)  # within the tiny vocabulary
    plain = predict_probabilities(model, ids, length_bucketing=False, batch_size=16)
    bucketed = predict_probabilities(model, ids, length_bucketing=True, batch_size=16)
    np.testing.assert_allclose(bucketed, plain, atol=1e-5)


def test_runs_with_and_without_length_bucketing_are_recorded_apart(tiny_csv, tmp_path):
    data_config, model_config, train_config = tiny_configs(tiny_csv, epochs=1, length_bucketing=False)
    train_models(
        data_config, model_config, train_config, cell_types=("gru",), output=tmp_path, verbose=0, log=lambda m: None
    )
    assert json.loads((tmp_path / "summary.json").read_text())["run"]["train"]["length_bucketing"] is False
    with pytest.raises(SentimentError, match="length_bucketing"):
        train_models(
            *tiny_configs(tiny_csv, epochs=1), cell_types=("gru",), output=tmp_path, verbose=0, log=lambda m: None
        )


def test_a_streamed_four_class_dataset_trains_a_softmax_classifier(tiny_news_artifacts):
    from sentiment.io.artifacts import load_artifact

    from conftest import TOPIC_NAMES

    artifact = load_artifact(tiny_news_artifacts / "lstm")
    assert artifact.config.class_names == TOPIC_NAMES and artifact.config.data.dataset == "tiny_news"
    assert artifact.model.output_shape == (None, 4)
    metrics = artifact.metrics
    # 400 train articles: the first 10% validate, and all 100 test articles are scored.
    assert (metrics["train_samples"], metrics["validation_samples"], metrics["test"]["count"]) == (360, 40, 100)
    assert sum(bucket["count"] for bucket in metrics["test"]["by_length"]) == 100
    assert metrics["test"]["accuracy"] > 0.5, metrics["test"]  # one topic word per article; chance is 0.25
    assert 0 < metrics["test"]["loss"] < 1.3  # categorical log loss, below ln(4) once learned
    history = artifact.history
    assert len(history["loss"]) == metrics["epochs_run"] and len(history["val_accuracy"]) == metrics["epochs_run"]
    assert "on tiny_news" in (tiny_news_artifacts / "summary.md").read_text()


def test_multi_class_artifacts_are_refused_by_the_binary_tools(tiny_news_artifacts):
    from sentiment.analysis.gradients import gradient_flow
    from sentiment.io.artifacts import load_artifact
    from sentiment.serving.predict import Predictor
    from webapp.views import load_models

    with pytest.raises(SentimentError, match=r"is a 4-class model \(world, sports, business, science\); the predictor"):
        Predictor.from_folder(tiny_news_artifacts / "lstm")
    with pytest.raises(SentimentError, match="the gradient-flow measurement reads binary sentiment models only"):
        gradient_flow({"lstm": load_artifact(tiny_news_artifacts / "lstm")}, sample_size=1)
    loaded = load_models(tiny_news_artifacts, cell_types=("lstm",), warm_up=False)  # what the app does
    assert not loaded.predictors and "4-class model" in loaded.failures["lstm"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_the_same_command_resumes(tiny_csv, tmp_path, reliability):
    """A real `python -m sentiment train` process, killed with SIGKILL while epoch 2 runs."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    from conftest import ROOT

    output = tmp_path / "artifacts"
    state = output / "gru" / "checkpoint" / "state.json"
    # Batch size 1 makes an epoch of the tiny data a few hundred steps: long enough to kill inside.
    command = [
        sys.executable,
        *"-m sentiment train --data-source csv".split(),
        *("--data-path", str(tiny_csv)),
        *"--cells gru --vocabulary-size 30 --sequence-length 8 --embedding-dim 4 --units 4 --batch-size 1".split(),
        *"--epochs 3 --patience 5".split(),
        *("--output", str(output)),
    ]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment
    )
    second_epoch = threading.Event()

    def watch() -> None:
        for line in process.stdout:
            if line.startswith("Epoch 2/"):  # Keras prints it as epoch 2 begins, after epoch 1's checkpoint
                second_epoch.set()
        second_epoch.set()  # the process ended: stop waiting

    threading.Thread(target=watch, daemon=True).start()
    try:
        second_epoch.wait(timeout=300)
        assert process.poll() is None and state.exists(), "training ended before epoch 2 could be interrupted"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_after = json.loads(state.read_text())["epochs_done"]
    assert killed_after == 1, "the kill came after epoch 2 had finished, not during it"
    assert not (output / "gru" / artifacts.MANIFEST_FILE).exists()

    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[gru] resuming after epoch 1" in resumed.stdout, resumed.stdout[-2000:]
    artifact = artifacts.load_artifact(output / "gru")  # checksums verified, loaded with safe_mode
    assert artifact.metrics["epochs_run"] == 3 and len(artifact.history["loss"]) == 3  # none lost, none repeated
    reliability.record(
        "fault: training",
        "SIGKILL of a real `python -m sentiment train` process during epoch 2, then the same command",
        "the rerun resumes after epoch 1, finishes all 3 epochs once each, and writes a verified artifact",
        f"exit {process.returncode} (SIGKILL) with epoch 1 checkpointed; rerun: 'resuming after epoch 1', exit 0, "
        f"{len(artifact.history['loss'])} epochs in history, manifest verified",
    )


# --- After the LSTM: train --cells mingru,transformer --------------------------------------


@pytest.fixture(scope="module")
def after_the_lstm_artifacts(tiny_csv, tmp_path_factory):
    """minGRU and the transformer trained on the tiny CSV, as `train --cells mingru,transformer` does."""
    output = tmp_path_factory.mktemp("after-the-lstm")
    results = train_models(
        *tiny_configs(tiny_csv), cell_types=("mingru", "transformer"), output=output, verbose=0, log=lambda m: None
    )
    return output, results


def test_train_cells_mingru_and_transformer_writes_their_artifacts_and_rows(after_the_lstm_artifacts):
    output, results = after_the_lstm_artifacts
    assert [result.cell_type for result in results] == ["mingru", "transformer"]
    for cell in ("mingru", "transformer"):
        assert {path.name for path in (output / cell).iterdir()} >= set(artifacts.ARTIFACT_FILES) | {"manifest.json"}
        metrics = json.loads((output / cell / "metrics.json").read_text())
        assert metrics["cell_type"] == cell and metrics["test"]["count"] == 80
        # One sentiment word per review: both learn the tiny task within the cells' budget.
        assert metrics["test"]["accuracy"] > 0.6, (cell, metrics["test"])
    summary = json.loads((output / "summary.json").read_text())
    assert list(summary["models"]) == ["mingru", "transformer"]
    markdown = (output / "summary.md").read_text()
    assert "| minGRU |" in markdown and "| Transformer |" in markdown


def test_their_artifacts_load_and_score_the_test_split_as_trained(tiny_csv, after_the_lstm_artifacts):
    """Saved by the artifact code and loaded by it (checksums, safe_mode): the same model, solver and positions."""
    import numpy as np

    from sentiment import cells
    from sentiment.data import read_labelled
    from sentiment.models import all_layers
    from sentiment.serving.predict import Predictor

    output, _ = after_the_lstm_artifacts
    data_config = tiny_configs(tiny_csv)[0]
    test = read_labelled(data_config, "test")
    for cell in ("mingru", "transformer"):
        artifact = artifacts.load_artifact(output / cell)
        assert artifact.config.model.cell_type == cell and artifact.config.model.solver == "scan"
        probabilities = Predictor(artifact).predict(list(test.texts))
        accuracy = float(np.mean((probabilities >= 0.5) == (test.labels == 1)))
        assert accuracy == pytest.approx(artifact.metrics["test"]["accuracy"], abs=1.5 / len(test))
        layers = all_layers(artifact.model)
        if cell == "mingru":
            (layer,) = [layer for layer in layers if isinstance(layer, cells.MinGRU)]
            assert layer.solver == "scan"
        else:
            (positions,) = [layer for layer in layers if isinstance(layer, cells.PositionEmbedding)]
            assert positions.max_length == data_config.sequence_length


def test_a_setting_that_cannot_apply_to_a_model_is_refused_before_any_work(tiny_csv, tmp_path):
    from dataclasses import replace

    data_config, model_config, train_config = tiny_configs(tiny_csv)
    with pytest.raises(SentimentError, match=r"\[mingru\] bidirectional applies to simple_rnn, lstm, gru only"):
        train_models(
            data_config,
            replace(model_config, bidirectional=True),
            train_config,
            cell_types=("lstm", "mingru"),
            output=tmp_path,
            verbose=0,
            log=lambda m: None,
        )
    with pytest.raises(SentimentError, match="unknown model 'mamba'; choose from simple_rnn, lstm, gru, bow, mingru"):
        train_models(*tiny_configs(tiny_csv), cell_types=("mamba",), output=tmp_path, verbose=0, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_a_run_stored_before_a_field_existed_reads_it_at_its_default(tiny_csv, after_the_lstm_artifacts, tmp_path):
    """A folder trained before ModelConfig.solver existed takes more models at the default, and refuses another."""
    import shutil
    from dataclasses import replace

    output = Path(shutil.copytree(after_the_lstm_artifacts[0], tmp_path / "run"))
    summary = json.loads((output / "summary.json").read_text())
    del summary["run"]["model"]["solver"]
    (output / "summary.json").write_text(json.dumps(summary))
    messages = []
    train_models(*tiny_configs(tiny_csv), cell_types=("mingru",), output=output, verbose=0, log=messages.append)
    assert "already trained" in messages[0]
    data_config, model_config, train_config = tiny_configs(tiny_csv)
    with pytest.raises(SentimentError, match=r"other settings \(model\.solver: 'scan' -> 'loop'\)"):
        train_models(
            data_config,
            replace(model_config, solver="loop"),
            train_config,
            cell_types=("mingru",),
            output=output,
            verbose=0,
            log=lambda m: None,
        )
