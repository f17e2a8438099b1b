import json
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from results_page import results_page  # noqa: E402


def test_results_page_joins_the_cli_outputs_as_sections(tiny_artifacts, tmp_path):
    from sentiment.longrange import LongRangeConfig
    from sentiment.config import to_dict

    long_range = tmp_path / "long_range" / "long_range.json"
    long_range.parent.mkdir()
    machine = {"cpu": "test CPU", "cpu_count": 2, "gpus": [], "python": "3", "tensorflow": "2", "keras": "3"}
    run = {"distance": 10, "cell_type": "lstm", "variant": "lstm+chrono", "gate_init": "chrono", "seed": 0, "accuracy": 1.0,
           "ci_low": 0.99, "ci_high": 1.0, "wall_seconds": 2.0, "test_positive_share": 0.5}  # fmt: skip
    long_range.write_text(json.dumps({"config": to_dict(LongRangeConfig()), "chance_accuracy": 0.5, "command": "python -m sentiment long-range",
                                      "machine": machine, "started_at": "today", "wall_seconds": 60.0, "runs": [run]}))  # fmt: skip
    page = results_page(tiny_artifacts, None, long_range, tmp_path / "RESULTS.md")
    headings = [line for line in page.splitlines() if line.startswith("#")]
    assert headings[0] == "# Results" and all(not h.startswith("# ") for h in headings[1:])  # the pages became sections
    assert "## Results: SimpleRNN vs LSTM vs GRU on IMDB" in headings and "## Long-range dependency benchmark: SimpleRNN vs LSTM vs GRU" in headings
    assert "| 10 | 100.0% [99.0, 100.0] |" in page
    assert "(long_range/long_range.png)" in page  # relative to the page
