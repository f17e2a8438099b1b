"""The bench on tiny shapes: its formula, its JSON and Markdown, the peer and its skip, the sequential cost."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict, replace

import keras
import numpy as np
import pytest

from sentiment.analysis import bench
from sentiment.config import BenchConfig
from sentiment.models import build_classifier, head

from conftest import ROOT, run_cli

TINY = BenchConfig(
    cell_types=("lstm",),
    batch_size=4,
    sequence_length=8,
    vocabulary_size=50,
    embedding_dim=4,
    units=4,
    review_words=6,
    inference_batch_size=3,
    warmup=1,
    repeats=3,
    latency_repeats=4,
    matmul_size=64,
    cost_lengths=(4, 16),
    cost_batch_size=2,
    cost_repeats=2,
)
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def result():
    return bench.run_bench(TINY, log=lambda line: None, command="python -m sentiment bench (test)")


def test_flop_formula_on_a_hand_computed_case():
    # E = 2, H = 3: an LSTM step multiplies [1, 5] by [5, 12]: 2 * 5 * 12 = 120 FLOPs forward.
    assert bench.recurrence_flops_per_token("lstm", 2, 3) == 120
    assert bench.recurrence_flops_per_token("gru", 2, 3) == 90
    assert bench.recurrence_flops_per_token("simple_rnn", 2, 3) == 30
    # Training: x3 for the backward pass, then x batch x steps.
    assert bench.training_flops_per_step("lstm", 2, 3, batch_size=2, sequence_length=5) == 3 * 120 * 10


def test_summary_percentiles():
    summary = bench.summarize([float(value) for value in range(1, 101)])
    assert summary["median"] == summary["p50"] == 50.5
    assert summary["p99"] == pytest.approx(99.01)
    assert summary["min"] == 1.0 and summary["count"] == 100


def test_result_is_json_with_positive_figures(result):
    loaded = json.loads(json.dumps(result))
    assert loaded["config"]["batch_size"] == 4 and loaded["machine"]["backend"] == keras.backend.backend()
    assert len(loaded["load_average_before"]) == 3
    assert 0 < loaded["matmul_peak"]["flops_per_second"] <= loaded["matmul_peak"]["best_flops_per_second"]
    lstm = loaded["training"]["lstm"]
    assert lstm["keras_seconds"]["count"] == TINY.repeats
    assert 0 < lstm["keras_seconds"]["min"] <= lstm["keras_seconds"]["median"] <= lstm["keras_seconds"]["p99"]
    assert lstm["tokens_per_second"] == pytest.approx(lstm["reviews_per_second"] * TINY.sequence_length)
    assert lstm["recurrence_flops_per_step"] == bench.training_flops_per_step("lstm", 4, 4, 4, 8)
    assert lstm["achieved_flops_per_second"] == pytest.approx(
        lstm["recurrence_flops_per_step"] / lstm["keras_seconds"]["median"]
    )
    assert 0 < lstm["fraction_of_matmul_peak"]
    assert lstm["step_matmul"]["shape"] == [4, 8, 16]
    latency = loaded["latency"]["lstm"]
    assert latency["keras_single"]["count"] == TINY.latency_repeats
    assert 0 < latency["keras_single"]["p50"] <= latency["keras_single"]["p99"]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the SavedModel part needs the TensorFlow backend")
def test_saved_model_latency_and_no_cudnn_on_a_cpu(result):
    saved = result["latency"]["lstm"]["saved_model"]
    assert 0 < saved["single"]["p50"] <= saved["single"]["p99"]
    assert saved["batch"]["count"] == 1
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        assert "use_cudnn=True" in result["training"]["lstm"]["cudnn"]["skipped"]


def test_sequential_cost_times_each_cell_the_parallel_reference_and_what_came_after(result, tmp_path):
    cost = result["sequential_cost"]
    assert cost["lengths"] == [4, 16]
    assert list(cost["models"]) == ["lstm", "conv1d", "mingru+scan", "mingru+loop", "minlstm+scan", "transformer"]
    assert cost["models"]["lstm"]["sequential_steps"] == [4, 16]  # one step per token
    assert cost["models"]["conv1d"]["sequential_steps"] == [1, 1]  # one layer, whatever the length
    assert cost["models"]["mingru+scan"]["sequential_steps"] == [2, 4]  # ceil(log2 T) levels
    assert cost["models"]["mingru+loop"]["sequential_steps"] == [4, 16]
    assert cost["models"]["transformer"]["sequential_steps"] == [1, 1]
    assert all(
        value > 0
        for entry in cost["models"].values()
        for key in ("train_seconds", "inference_seconds")
        for value in entry[key]
    )
    text = bench.bench_markdown(result)
    assert "### Sequential cost" in text and "| Conv1D (parallel) | training step |" in text
    assert "| minGRU (loop solver, after the LSTM) | training step |" in text
    assert "| minGRU (scan solver, after the LSTM) | 2 | 4 |" in text  # the table of sequential steps
    assert "| Transformer (after the LSTM) | 1 | 1 |" in text
    paths = bench.write_results(result, tmp_path)
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"


def test_sequential_steps_on_each_critical_path():
    assert bench.sequential_steps("gru", 3200) == 3200 and bench.sequential_steps("mingru+loop", 3200) == 3200
    assert bench.sequential_steps("mingru+scan", 3200) == 12 and bench.sequential_steps("minlstm+scan", 1024) == 10
    assert bench.sequential_steps("minlstm+scan", 1025) == 11  # one more level past a power of two
    assert bench.sequential_steps("transformer", 3200) == bench.sequential_steps(bench.CONV1D, 3200) == 1


def test_a_length_whose_attention_would_not_fit_is_skipped_not_run(tmp_path):
    # batch 2, 1 head: 8 copies x 4 bytes x 2 x T^2 = 64 T^2 bytes; a limit between T = 4 and T = 16.
    config = replace(TINY, cell_types=("gru",), cost_variants=("transformer",), cost_memory_gb=64 * 10**2 / 2**30)
    assert bench.attention_bytes(config, "transformer", 16) == 64 * 16**2 and not bench.attention_bytes(
        config, "gru", 16
    )
    cost = bench.sequential_cost(config, log=lambda line: None)
    transformer = cost["models"]["transformer"]
    assert transformer["train_seconds"][0] > 0 and transformer["train_seconds"][1] is None
    assert transformer["inference_seconds"][1] is None and transformer["skipped"] == [16]
    assert cost["models"]["gru"]["skipped"] == [] and None not in cost["models"]["gru"]["train_seconds"]
    text = "\n".join(bench._sequential_cost_lines(cost))
    assert "| Transformer (after the LSTM) | training step | " in text and " | n/a |" in text
    assert "Not run (n/a above): Transformer (after the LSTM) at T = 16" in text
    json.loads(json.dumps(cost))  # None is null
    from sentiment.analysis.plots import plot_sequential_cost

    assert plot_sequential_cost(cost, tmp_path / "cost.png").read_bytes()[:4] == b"\x89PNG"


def test_crossings_are_found_between_measured_lengths_on_log_scales():
    lengths = [50, 100, 200, 400]
    gru = [1.0, 2.0, 4.0, 8.0]
    found = bench.crossings(lengths, [3.0, 3.0, 3.0, 3.0], gru)
    assert found["faster"] == [False, False, True, True] and found["measured"] == lengths
    # log(3/2) at 100 and log(3/4) at 200: the ratio is 1 at 100 * 2 ** (log(1.5) / log(2)) = 150.
    assert found["crossings"] == [{"between": [100, 200], "at": 150, "becomes": "faster"}]
    assert found["ratio_at_end"] == pytest.approx(3 / 8)
    assert bench.crossings(lengths, [0.5, 1.0, None, 4.0], gru)["crossings"] == []  # faster wherever measured
    assert bench.crossings(lengths, [None] * 4, gru)["measured"] == []
    sentence = bench.crossing_sentence("minGRU", "training step", lengths, [3.0, 3.0, 3.0, 3.0], gru)
    assert sentence == (
        "minGRU's training step is slower than the GRU's at T = 50 to 100 and faster at T = 200 to 400: "
        "the curves cross near T ≈ 150 (0.38x the GRU's time at T = 400)."
    )
    assert bench.crossing_sentence("LSTM", "forward pass", lengths, [2.0, 3.0, 5.0, 9.0], gru) == (
        "LSTM's forward pass is slower than the GRU's at T = 50 to 400 (1.12x the GRU's time at T = 400)."
    )
    assert bench.crossing_sentence("x", "training step", lengths, [4.0, None, None, None], [None] * 4) == ""


def test_the_markdown_says_where_each_curve_crosses_the_grus():
    cost = {
        "lengths": [50, 100, 200],
        "batch_size": 2,
        "memory_gb": 4.0,
        "models": {
            name: {"train_seconds": train, "inference_seconds": train, "sequential_steps": [1, 1, 1], "skipped": []}
            for name, train in (("gru", [1.0, 2.0, 4.0]), ("mingru+scan", [3.0, 3.0, 3.0]), ("conv1d", [0.5] * 3))
        },
    }
    text = "\n".join(bench._sequential_cost_lines(cost))
    assert "Against the GRU, on this machine:" in text
    assert "- minGRU (scan solver, after the LSTM)'s training step is slower than the GRU's at T = 50 to 100" in text
    assert "- Conv1D (parallel)'s forward pass is faster than the GRU's at T = 50 to 200 (0.12x" in text


def test_cost_variants_are_checked():
    with pytest.raises(ValueError, match="unknown cost variant 'gru'"):
        BenchConfig(cost_variants=("gru",))
    with pytest.raises(ValueError, match="cost_memory_gb must be positive"):
        BenchConfig(cost_memory_gb=0)
    assert BenchConfig().cost_lengths[0] == 50 and BenchConfig().cost_lengths[-1] == 3200  # the range


def test_markdown_has_every_table(result):
    text = bench.bench_markdown(result)
    assert "python -m sentiment bench (test)" in text and result["date"] in text
    for heading in (
        "### Training step, batch 4 x 8 tokens",
        "### cuDNN vs generic kernel",
        "### Inference latency, 6-word review",
    ):
        assert heading in text
    rows = [line for line in text.splitlines() if line.startswith("| LSTM |")]
    assert len(rows) == 6  # training, cuDNN, latency, and the sequential cost's training step, inference and steps
    assert "met" in rows[2] or "missed" in rows[2]
    assert rows[3].startswith("| LSTM | training step |") and rows[4].startswith("| LSTM | inference |")
    assert rows[5] == "| LSTM | 4 | 16 |"


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
def test_peer_ratio_present_with_torch(result):
    peer = result["training"]["lstm"]["peer"]
    assert peer["seconds"]["median"] > 0 and peer["threads"] >= 1
    assert peer["keras_over_torch"] == pytest.approx(
        result["training"]["lstm"]["keras_seconds"]["median"] / peer["seconds"]["median"]
    )
    assert f"{peer['keras_over_torch']:.2f}x" in bench.bench_markdown(result)
    if peer["device"] == "cpu" and peer["threads"] > 1:
        assert peer["keras_over_torch_one_thread"] == pytest.approx(
            result["training"]["lstm"]["keras_seconds"]["median"] / peer["one_thread_seconds"]["median"]
        )


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
def test_peer_leaves_torch_thread_count_as_it_was():
    import torch

    torch.set_num_threads(1)
    token_ids, labels = bench._random_batch(TINY, TINY.batch_size, TINY.sequence_length, seed=0)
    peer = bench.torch_peer(replace(TINY, repeats=1, warmup=0), "gru", token_ids, labels)
    assert peer["threads"] == os.cpu_count() and torch.get_num_threads() == 1


def test_peer_skipped_with_a_note_without_torch(result, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    entry = bench.training_throughput(
        replace(TINY, cell_types=("simple_rnn",)), "simple_rnn", 1e9, log=lambda line: None
    )
    assert "PyTorch is not installed" in entry["peer"]["skipped"]
    assert "cudnn" not in entry  # Keras has no cuDNN SimpleRNN
    text = bench.bench_markdown({**result, "training": {"simple_rnn": entry}})
    assert "| SimpleRNN |" in text and "SimpleRNN peer: PyTorch is not installed" in text


def test_unmasked_copy_scores_full_length_reviews_the_same():
    keras.utils.set_random_seed(0)
    model = build_classifier(TINY.model_config("gru"), TINY.vocabulary_size)
    unmasked = bench._without_mask(model)
    assert all(
        node["kwargs"].get("mask") is None
        for layer in head(unmasked).get_config()["layers"]
        for node in layer["inbound_nodes"]
    )
    token_ids, _ = bench._random_batch(TINY, 3, 7, seed=1)
    expected = keras.ops.convert_to_numpy(model(token_ids, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(unmasked(token_ids, training=False)), expected, atol=1e-6)
    padded = token_ids.copy()
    padded[:, 4:] = 0  # with padding the mask matters, so the copies must differ
    assert not np.allclose(keras.ops.convert_to_numpy(unmasked(padded)), keras.ops.convert_to_numpy(model(padded)))


def test_cli_rejects_a_bad_shape():
    completed = run_cli("bench", "--batch-size", "0")
    assert completed.returncode == 2
    assert "batch_size must be at least 1" in completed.stderr


def test_the_script_runs_the_package_bench(monkeypatch):
    # benchmarks/bench.py keeps its names and its command, and only calls into the package.
    import sentiment.cli
    from benchmarks import bench as script

    assert script.run_bench is bench.run_bench and script.sequential_cost is bench.sequential_cost
    commands = []
    monkeypatch.setattr(sentiment.cli, "main", lambda: commands.append(sys.argv[1:]) or 0)
    monkeypatch.setattr(sys, "argv", ["benchmarks/bench.py", "--repeats", "2"])
    assert script.main() == 0
    assert commands == [["bench", "--repeats", "2"]]  # what the result records: `python -m sentiment bench ...`


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
def test_torch_backend_runs_without_tensorflow(tmp_path):
    # tensorflow is made unimportable, as on a GPU box with only keras and torch.
    config = replace(TINY, cell_types=("simple_rnn", "lstm"))
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "from sentiment.analysis import bench\n"
        "from sentiment.config import BenchConfig\n"
        f"result = bench.run_bench(BenchConfig(**{asdict(config)!r}), log=lambda line: None)\n"
        f"bench.write_results(result, {str(tmp_path)!r})\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads((tmp_path / "bench.json").read_text())
    assert result["machine"]["backend"] == "torch" and "tensorflow" not in result["machine"]["versions"]
    assert "TensorFlow" in result["latency"]["lstm"]["saved_model"]["skipped"]
    cudnn = result["training"]["lstm"]["cudnn"]
    assert cudnn["cudnn_seconds"]["median"] > 0 and cudnn["generic_seconds"]["median"] > 0
    assert cudnn["generic_over_cudnn"] > 0 and cudnn["cudnn_over_torch"] > 0
    assert result["training"]["simple_rnn"]["peer"]["keras_over_torch"] > 0
    assert "### cuDNN vs generic kernel" in (tmp_path / "bench.md").read_text()
    # The sequential cost of the models after the LSTM (minGRU on both solvers, the Transformer) runs on torch too:
    # the GPU figures come from this path (`KERAS_BACKEND=torch python -m sentiment bench` on a GPU machine).
    cost = result["sequential_cost"]["models"]
    assert {"mingru+scan", "mingru+loop", "minlstm+scan", "transformer"} <= set(cost)
    assert all(value > 0 for entry in cost.values() for value in entry["train_seconds"] + entry["inference_seconds"])


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the project's training step runs on TensorFlow")
def test_the_bench_times_the_step_train_runs(monkeypatch):
    from sentiment.training import loop

    built = []
    original = loop.TrainingStep.__init__
    monkeypatch.setattr(
        loop.TrainingStep,
        "__init__",
        lambda self, *args, **kwargs: (built.append(args), original(self, *args, **kwargs))[1],
    )
    model = bench._compiled(build_classifier(TINY.model_config("gru"), TINY.vocabulary_size))
    token_ids, labels = bench._random_batch(TINY, TINY.batch_size, TINY.sequence_length, seed=0)
    seconds = bench.keras_step_seconds(model, token_ids, labels, warmup=2, repeats=3)
    assert len(seconds) == 3 and len(built) == 1  # train's TrainingStep, built once
    assert int(model.optimizer.iterations) == 5  # every call was an optimizer update
    assert isinstance(
        model.optimizer._learning_rate, keras.optimizers.schedules.ExponentialDecay
    )  # train's per-epoch decay
