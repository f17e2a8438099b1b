"""Real IMDB through the real CLI: train -> metrics -> export -> reload; kill -> resume.

Small slices of the real data keep each run under a minute on a 2-core CPU.
"""

import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import NEEDS_IMDB, ROOT, run_cli

pytestmark = [
    pytest.mark.imdb,
    pytest.mark.slow,
    NEEDS_IMDB,
]

SMALL = (
    "--no-download --max-train-samples 800 --max-test-samples 400 --vocabulary-size 2000 "
    "--sequence-length 48 --embedding-dim 8 --units 8"
).split()


def test_train_metrics_export_reload(tmp_path):
    output = tmp_path / "artifacts"
    result = run_cli("train", *SMALL, "--epochs", "1", "--output", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((output / "summary.json").read_text())
    assert list(summary["models"]) == [
        "simple_rnn",
        "lstm",
        "gru",
        "bow",
    ]  # the three cells and the bag-of-n-grams reference
    for metrics in summary["models"].values():
        assert (
            metrics["test"]["count"] == 400 and metrics["train_samples"] == 720 and metrics["validation_samples"] == 80
        )
        assert sum(bucket["count"] for bucket in metrics["test"]["by_length"]) == 400
        truncation = metrics["test"]["by_truncation"]
        assert truncation["truncated"]["count"] + truncation["not_truncated"]["count"] == 400
        assert truncation["truncated"]["count"] > 0  # many IMDB reviews exceed 48 words

    result = run_cli("export", "--artifacts", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    from test_export import _TENSORFLOW_ONLY

    from sentiment.serving.predict import Predictor

    reviews = ["One of the best films I have seen this year.", "Dull, predictable and far too long.<br /><br />"]
    for cell in ("simple_rnn", "lstm", "gru"):
        served = subprocess.run(
            [sys.executable, "-c", _TENSORFLOW_ONLY, str(output / "export" / cell / "1"), json.dumps(reviews)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert served.returncode == 0, served.stderr[-2000:]
        probabilities = json.loads(served.stdout.strip().splitlines()[-1])["probability"]
        np.testing.assert_allclose(probabilities, Predictor.from_folder(output / cell).predict(reviews), atol=1e-5)


def test_sigkill_mid_training_then_the_same_command_resumes(tmp_path):
    output = tmp_path / "artifacts"
    command = [
        sys.executable,
        *"-m sentiment train".split(),
        *SMALL,
        *"--max-train-samples 3000 --cells lstm --epochs 3 --patience 5".split(),
        *("--output", str(output)),
    ]
    state = output / "lstm" / "checkpoint" / "state.json"
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not state.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.exists(), "no checkpoint was written"
        process.send_signal(signal.SIGKILL)  # during epoch 2: epoch 1 is checkpointed
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (output / "lstm" / "manifest.json").exists()

    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    match = re.search(r"\[lstm\] resuming after epoch (\d)", resumed.stdout)
    assert match and 1 <= int(match.group(1)) < 3, resumed.stdout[-2000:]
    history = json.loads((output / "lstm" / "history.json").read_text())
    assert len(history["loss"]) == 3  # epochs before the kill plus those after, none repeated
    assert json.loads((output / "lstm" / "metrics.json").read_text())["epochs_run"] == 3
