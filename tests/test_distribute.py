"""Training under MirroredStrategy and MultiWorkerMirroredStrategy, for real.

Both run the CLI in subprocesses: the CPU is split into two logical devices
(`--cpu-devices 2`) before TensorFlow starts, and the two workers are two
local processes on 127.0.0.1 that find each other through `TF_CONFIG`.
"""

import json
import os
import shutil
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from sentiment.io import artifacts
from sentiment.serving.predict import Predictor

from conftest import ROOT, run_cli, tiny_configs, tiny_news_configs

pytestmark = pytest.mark.slow

TINY = (
    "--data-source csv --vocabulary-size 30 --sequence-length 8 --embedding-dim 4 --units 4 --word-dropout-rate 0 "
    "--dropout-rate 0 --batch-size 32 --learning-rate 0.02 --clipnorm 0.01"
).split()

# Runs the CLI, but stops (as Ctrl-C would) once epoch 1 is checkpointed.
_STOP_AFTER_FIRST_EPOCH = """
import sys
from sentiment.cli import main
from sentiment.training.checkpoint import ResumableCheckpoint

original = ResumableCheckpoint.on_epoch_end

def checkpoint_then_interrupt(self, epoch, logs=None):
    original(self, epoch, logs)
    raise KeyboardInterrupt

ResumableCheckpoint.on_epoch_end = checkpoint_then_interrupt
sys.exit(main(sys.argv[1:]))
"""


def _one_device_history(configs, output):
    """The same training on one device, with the global batch of two replicas."""
    from sentiment.training.train import train_models

    train_models(*configs, cell_types=("gru",), output=output, verbose=0, log=lambda m: None)
    return json.loads((output / "gru" / "history.json").read_text())


def _weights(folder):
    return keras.models.load_model(folder / artifacts.MODEL_FILE, compile=False).get_weights()


def _assert_same_kind_of_artifact(folder, replicas, workers, test_count=80):
    """What a single-device run leaves: complete, checksummed, loadable."""
    assert {p.name for p in folder.iterdir()} >= set(artifacts.ARTIFACT_FILES) | {"manifest.json", "logs"}
    assert not (folder / "checkpoint").exists()
    artifacts.verify_manifest(folder)
    artifacts.load_artifact(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (
        metrics["test"]["count"] == test_count and sum(b["count"] for b in metrics["test"]["by_length"]) == test_count
    )
    assert metrics["distribution"] == {
        "strategy": "mirrored" if workers == 1 else "multi-worker",
        "workers": workers,
        "replicas": replicas,
        "batch_size_per_replica": 32,
        "global_batch_size": 32 * replicas,
    }
    return metrics


def test_mirrored_on_two_cpu_devices_resumes_after_an_interruption(tiny_csv, tmp_path):
    output = tmp_path / "artifacts"
    arguments = [
        "train",
        *TINY,
        *("--data-path", str(tiny_csv)),
        *"--cells gru --epochs 2 --patience 5".split(),
        *("--output", str(output)),
    ]
    mirrored = ["--strategy", "mirrored", "--cpu-devices", "2"]

    stopped = subprocess.run(
        [sys.executable, "-c", _STOP_AFTER_FIRST_EPOCH, *arguments, *mirrored],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert "2 replica(s) in sync; batch 32 per replica, 64 per step" in stopped.stdout
    state = json.loads((output / "gru" / "checkpoint" / "state.json").read_text())
    assert state["epochs_done"] == 1 and state["global_batch_size"] == 64
    one_device_history = _one_device_history(
        tiny_configs(tiny_csv, batch_size=64, epochs=2, patience=5, clipnorm=0.01), tmp_path / "one"
    )
    # Two replicas of 32 take the mean gradient of 64 reviews, clipped as a whole
    # (a clipnorm this small clips every step): one device's epoch.
    np.testing.assert_allclose(state["history"]["loss"], one_device_history["loss"][:1], rtol=1e-6)

    # Another number of replicas would change the batch and the schedule mid-run.
    refused = run_cli(*arguments)
    assert refused.returncode == 2 and "global batch of 64" in refused.stderr, refused.stderr[-3000:]

    resumed = run_cli(*arguments, *mirrored)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[gru] resuming after epoch 1" in resumed.stdout
    metrics = _assert_same_kind_of_artifact(output / "gru", replicas=2, workers=1)
    probabilities = Predictor.from_folder(output / "gru").predict(["great movie", "awful plot"])
    assert probabilities.shape == (2,) and np.isfinite(probabilities).all()
    history = json.loads((output / "gru" / "history.json").read_text())
    assert metrics["epochs_run"] == 2 and len(history["loss"]) == 2 and len(history["val_accuracy"]) == 2
    assert (
        "Distribution: mirrored strategy, 2 replica(s) on 1 worker(s); batch 32 per replica, 64 per step."
        in (output / "summary.md").read_text()
    )


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


NEWS = (
    "--dataset tiny_news --text-key description --label-key topic --vocabulary-size 30 --sequence-length 8 "
    "--embedding-dim 4 --units 4 --word-dropout-rate 0 --dropout-rate 0 --batch-size 32 "
    "--learning-rate 0.05 --learning-rate-decay 1 --clipnorm 0.01 --no-download"
).split()


def _run_two_workers(data_dir, output, log_folder, tag, script=None):
    """Runs `train --strategy multi-worker` as two local processes; their (exit codes, logs).

    With `script`, each runs `python -c script` (see `_STOP_AFTER_FIRST_EPOCH`)
    instead of `python -m sentiment`, with the same arguments.
    """
    cluster = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    arguments = [
        "train",
        *NEWS,
        *("--data-path", str(data_dir)),
        *"--cells gru --epochs 2 --patience 5 --strategy multi-worker".split(),
        *("--output", str(output)),
    ]
    start = [sys.executable, "-c", script] if script else [sys.executable, "-m", "sentiment"]
    workers = []
    for index in range(2):
        environment = {
            **os.environ,
            "TF_CONFIG": json.dumps({"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}),
        }
        log = open(log_folder / f"{tag}_worker{index}.log", "w+")
        workers.append(
            (
                subprocess.Popen(
                    [*start, *arguments], cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, text=True
                ),
                log,
            )
        )
    try:
        for process, _ in workers:
            process.wait(timeout=600)  # a worker waiting for a dead peer would hang; the timeout ends the test
    finally:
        for process, _ in workers:
            process.kill()
    codes, logs = [], []
    for process, log in workers:
        log.seek(0)
        codes.append(process.wait())
        logs.append(log.read())
        log.close()
    return codes, logs


def _assert_identical_weights(first, second):
    first_weights, second_weights = _weights(first), _weights(second)
    assert len(first_weights) == len(second_weights)
    for mine, theirs in zip(first_weights, second_weights):
        np.testing.assert_array_equal(mine, theirs)


def test_two_workers_stream_in_lockstep_and_end_with_identical_weights(tiny_news_dir, tmp_path):
    """Two workers stream the 4-class `tiny_news` from disk, each keeping half of every batch."""
    output = tmp_path / "artifacts"
    codes, logs = _run_two_workers(tiny_news_dir, output, tmp_path, "run")
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    assert "worker 0 of 2, 2 replica(s) in sync; batch 32 per replica, 64 per step" in logs[0]
    assert "worker 1 of 2" in logs[1]

    chief, other = output / "gru", output / "workertemp_1" / "gru"
    chief_metrics = _assert_same_kind_of_artifact(chief, replicas=2, workers=2, test_count=100)
    _assert_same_kind_of_artifact(other, replicas=2, workers=2, test_count=100)
    assert json.loads((chief / "config.json").read_text())["class_names"] == ["world", "sports", "business", "science"]
    assert not (output / "workertemp_0").exists() and (output / "summary.md").exists()
    # Lockstep: each step's gradients were summed over both workers, so both
    # applied the same updates: the same losses every epoch, the same weights.
    chief_history = json.loads((chief / "history.json").read_text())
    assert chief_history["loss"] == json.loads((other / "history.json").read_text())["loss"]
    assert chief_metrics["epochs_run"] == 2
    # ... and those of one device with the global batch: each worker took half of every batch.
    configs = tiny_news_configs(
        tiny_news_dir, batch_size=64, epochs=2, patience=5, learning_rate=0.05, learning_rate_decay=1.0, clipnorm=0.01
    )
    one_device_history = _one_device_history(configs, tmp_path / "one")
    np.testing.assert_allclose(chief_history["loss"], one_device_history["loss"], rtol=1e-6)
    np.testing.assert_allclose(chief_history["val_loss"], one_device_history["val_loss"], rtol=1e-6)
    _assert_identical_weights(chief, other)


def test_two_workers_interrupted_after_epoch_1_refuse_to_disagree_then_resume_together(tiny_news_dir, tmp_path):
    output = tmp_path / "artifacts"
    checkpoints = [output / "gru" / "checkpoint", output / "workertemp_1" / "gru" / "checkpoint"]
    codes, logs = _run_two_workers(tiny_news_dir, output, tmp_path, "stopped", script=_STOP_AFTER_FIRST_EPOCH)
    assert codes == [130, 130], logs[0][-3000:] + logs[1][-3000:]
    for checkpoint in checkpoints:
        assert json.loads((checkpoint / "state.json").read_text())["epochs_done"] == 1

    # Worker 1 loses its checkpoint: resuming would run it from epoch 0 and the
    # chief from epoch 1, so both must stop with a message instead of hanging.
    kept = tmp_path / "worker1_checkpoint"
    shutil.move(checkpoints[1], kept)
    codes, logs = _run_two_workers(tiny_news_dir, output, tmp_path, "disagree")
    assert codes == [2, 2], logs[0][-3000:] + logs[1][-3000:]
    for log, epochs in zip(logs, (1, 0)):
        assert f"the workers disagree on the epochs [gru] already trained (this worker: {epochs})" in log, log[-3000:]

    shutil.rmtree(checkpoints[1], ignore_errors=True)
    shutil.move(kept, checkpoints[1])
    codes, logs = _run_two_workers(tiny_news_dir, output, tmp_path, "resumed")
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    for log in logs:
        assert "[gru] resuming after epoch 1" in log, log[-3000:]
    chief, other = output / "gru", output / "workertemp_1" / "gru"
    for folder in (chief, other):
        metrics = _assert_same_kind_of_artifact(folder, replicas=2, workers=2, test_count=100)
        assert metrics["epochs_run"] == 2 and len(json.loads((folder / "history.json").read_text())["loss"]) == 2
    _assert_identical_weights(chief, other)
