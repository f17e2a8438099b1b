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
