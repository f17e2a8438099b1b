import json
import shutil

import pytest

from benchmarks.bucketing_report import comparison_markdown, cpu_seconds


def _copy_with(tiny_artifacts, folder, length_bucketing, seconds, wall):
    shutil.copytree(tiny_artifacts, folder)
    summary = json.loads((folder / "summary.json").read_text())
    summary["run"]["train"]["length_bucketing"] = length_bucketing
    summary["wall_seconds"] = wall
    for metrics in summary["models"].values():
        metrics["training_seconds"] = seconds
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_the_report_puts_both_runs_side_by_side(tiny_artifacts, tmp_path):
    bucketed = _copy_with(tiny_artifacts, tmp_path / "bucketed", True, 10.0, 120.0)
    padded = _copy_with(tiny_artifacts, tmp_path / "padded", False, 25.0, 240.0)
    for folder, seconds in ((bucketed, [4.0, 6.0, 5.0]), (padded, [12.0, 10.0, 11.0])):
        history = json.loads((folder / "lstm" / "history.json").read_text())
        (folder / "lstm" / "history.json").write_text(json.dumps({**history, "epoch_seconds": seconds}))
    (tmp_path / "b.time").write_text("\tUser time (seconds): 100.5\n\tSystem time (seconds): 9.5\n")
    (tmp_path / "p.time").write_text("\tUser time (seconds): 200.0\n\tSystem time (seconds): 20.0\n")
    markdown = comparison_markdown(bucketed, padded, (tmp_path / "b.time", tmp_path / "p.time"))
    assert "| LSTM | 25 s | 10 s | 2.50x | 11 s / 5 s (2.20x) |" in markdown
    assert "| **whole command** | 4.0 min | 2.0 min | **2.00x** |" in markdown
    assert "padded 3.7 min, bucketed 1.8 min, 2.00x" in markdown
    assert cpu_seconds(tmp_path / "b.time") == pytest.approx(110.0)


def test_swapped_folders_are_refused(tiny_artifacts, tmp_path):
    bucketed = _copy_with(tiny_artifacts, tmp_path / "bucketed", True, 10.0, 120.0)
    padded = _copy_with(tiny_artifacts, tmp_path / "padded", False, 25.0, 240.0)
    with pytest.raises(SystemExit, match="length_bucketing"):
        comparison_markdown(padded, bucketed)
