"""docs/RESULTS.md is the measuring commands' own pages, joined; the shipped one is up to date."""

from pathlib import Path

from sentiment.analysis.pages import DEFAULT_SOURCES, results_page

from conftest import ROOT


def test_the_page_joins_every_section_with_links_relative_to_it(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    page = results_page(DEFAULT_SOURCES, tmp_path / "RESULTS.md")
    headings = [line for line in page.splitlines() if line.startswith("#")]
    assert headings[0] == "# Results" and all(
        not heading.startswith("# ") for heading in headings[1:]
    )  # each page became a section
    for title in (
        "## Memory on long-range tasks",
        "## Sentiment at a distance",
        "## The sequential cost",
        "## Results: SimpleRNN vs LSTM vs GRU vs Bag of n-grams on IMDB",
        "## The strong preset (`--preset strong`): LSTM vs GRU vs Bag of n-grams on IMDB",
        "## What each change of the strong preset bought (LSTM)",
        "## What the decisions depend on",
        "## Inside the cell",
    ):
        assert any(heading.startswith(title) for heading in headings), title
    written = results_page(DEFAULT_SOURCES, ROOT / "docs" / "RESULTS.md")
    assert all((ROOT / "docs" / link).exists() for link in (part.split(")")[0] for part in written.split("](")[1:]))


def test_the_shipped_page_is_what_the_command_writes(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert (ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8") == results_page(
        DEFAULT_SOURCES, Path("docs/RESULTS.md")
    )


def test_a_missing_source_is_left_out(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    page = results_page(
        {**DEFAULT_SOURCES, "distance": None, "inspect": tmp_path / "missing.json"}, tmp_path / "RESULTS.md"
    )
    assert (
        "Sentiment at a distance" not in page and "Inside the cell" not in page and "Memory on long-range tasks" in page
    )


def test_the_ablation_table_reads_each_change_from_the_recorded_configs():
    import copy
    import json

    from sentiment.report import ablation_markdown

    reference = json.loads((ROOT / "docs" / "imdb_strong" / "summary.json").read_text(encoding="utf-8"))
    changed = copy.deepcopy(reference)
    changed["run"]["model"]["pooling"] = "last"
    changed["models"]["lstm"]["test"]["accuracy"] = reference["models"]["lstm"]["test"]["accuracy"] - 0.0123
    page = ablation_markdown({"strong": reference, "last-state": changed}, "strong")
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `strong` | nothing (the reference) |") and "+0.00 points" in rows[0]
    assert rows[1].startswith("| `last-state` | pooling: max_mean → last |") and "-1.23 points" in rows[1]
    # A run made before a setting existed reads as having its default: the table names the difference.
    older = copy.deepcopy(reference)
    for key in ("teacher", "teacher_ngram_max", "teacher_reviews"):
        del older["run"]["train"][key]
    rows = [
        line
        for line in ablation_markdown({"strong": reference, "older": older}, "strong").splitlines()
        if line.startswith("| `older`")
    ]
    assert rows[0].startswith("| `older` | teacher: bow → None |")


def test_the_readme_block_is_rendered_from_the_json(monkeypatch, tmp_path):
    import copy
    import json

    from sentiment.analysis.pages import README_BEGIN, README_END, readme_summary
    from sentiment.report import interval_text

    monkeypatch.chdir(ROOT)
    block = readme_summary(DEFAULT_SOURCES, Path("README.md"))
    assert block.startswith(README_BEGIN) and block.endswith(README_END)
    default, strong = (
        json.loads((ROOT / "docs" / name / "summary.json").read_text(encoding="utf-8"))["models"]["lstm"]["test"]
        for name in ("imdb", "imdb_strong")
    )
    assert f"| LSTM | {interval_text(default)} | {interval_text(strong)} |" in block
    assert "](docs/RESULTS.md)" in block  # links are relative to the README
    assert any(line.startswith("- **Variable-lag recall**, T = ") for line in block.splitlines())
    # Another run: the table and the verdicts follow the JSON, never typed text.
    summary = json.loads((ROOT / "docs" / "imdb" / "summary.json").read_text(encoding="utf-8"))
    summary["models"]["lstm"]["test"].update(accuracy=0.5, ci_low=0.49, ci_high=0.51)
    long_range = json.loads((ROOT / "docs" / "long_range" / "long_range.json").read_text(encoding="utf-8"))
    changed = copy.deepcopy(long_range)
    longest = max(run["length"] for run in changed["runs"] if run["task"] == "recall")
    for run in changed["runs"]:
        if (run["task"], run["length"]) == ("recall", longest):
            solved = run["variant"] == "lstm+chrono" or (run["variant"], run["seed"]) == ("simple_rnn", 0)
            run["solved_at"] = 200 if solved else None
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (tmp_path / "long_range.json").write_text(json.dumps(changed), encoding="utf-8")
    block = readme_summary(
        {"imdb": tmp_path / "summary.json", "imdb_strong": None, "long_range": tmp_path / "long_range.json"},
        Path("README.md"),
    )
    assert "| LSTM | 50.0% [49.0%, 51.0%] |" in block and "strong preset" not in block
    assert (
        f"- **Variable-lag recall**, T = {longest}, 3 seeds: solved in every seed by LSTM (chrono init); "
        "in some seeds by SimpleRNN; in none by IRNN, LSTM, GRU, GRU (chrono init), minGRU, minGRU (chrono init), "
        "minLSTM, minLSTM (chrono init) and Transformer." in block
    )
    assert "No results yet" in readme_summary({}, Path("README.md"))


def test_the_results_command_rewrites_only_the_readme_block(monkeypatch, tmp_path, capsys):
    from sentiment.analysis.pages import README_BEGIN, README_END, readme_summary
    from sentiment.cli import main

    monkeypatch.chdir(ROOT)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{README_BEGIN}\nstale 12.3%\n{README_END}\n\nafter\n", encoding="utf-8")
    assert main(["results", "--output", str(tmp_path / "RESULTS.md"), "--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == (
        f"# Title\n\nbefore\n\n{readme_summary(DEFAULT_SOURCES, readme)}\n\nafter\n"
    )
    assert (tmp_path / "RESULTS.md").exists()
    # A README without the markers is left as it is, with a message.
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# No markers\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["results", "--output", str(tmp_path / "RESULTS.md"), "--readme", str(plain)]) == 0
    assert plain.read_text(encoding="utf-8") == "# No markers\n" and "left as it is" in capsys.readouterr().out


def test_the_readme_cost_lines_follow_the_bench_json(tmp_path):
    import copy
    import json

    from sentiment.analysis.pages import readme_summary

    bench = json.loads((ROOT / "docs" / "bench" / "bench.json").read_text(encoding="utf-8"))
    cost = bench["sequential_cost"]
    longest = cost["lengths"][-1]
    gru = cost["models"]["gru"]["train_seconds"]
    block = readme_summary({"sequential_cost": ROOT / "docs" / "bench" / "bench.json"}, Path("README.md"))
    assert f"GRU {gru[-1] / gru[0]:.0f}x" in block
    assert f"critical path at T = {longest:,}: SimpleRNN {longest:,}," in block
    assert "- minGRU (scan solver, after the LSTM)'s training step is " in block
    # A minGRU scan twice as fast as the GRU at every T: the sentence says so, with no crossing.
    changed = copy.deepcopy(bench)
    changed["sequential_cost"]["models"]["mingru+scan"]["train_seconds"] = [t / 2 for t in gru]
    (tmp_path / "bench.json").write_text(json.dumps(changed), encoding="utf-8")
    block = readme_summary({"sequential_cost": tmp_path / "bench.json"}, Path("README.md"))
    assert (
        f"- minGRU (scan solver, after the LSTM)'s training step is faster than the GRU's at T = "
        f"{cost['lengths'][0]} to {longest} (0.50x the GRU's time at T = {longest})." in block
    )
    assert "No results yet" not in block
