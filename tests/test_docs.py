"""The README and the pages in docs/: links that resolve, a README a newcomer reads, and no figure typed by hand.

Measured figures live in pages the commands write (docs/RESULTS.md, docs/BENCHMARKS.md' tables,
docs/RELIABILITY.md) and in the README's results block, which `python -m sentiment results` writes; the
prose around them links there instead of copying a figure that would drift the next time a result is rerun.
"""

import re
import subprocess
from pathlib import Path

import pytest

from sentiment.analysis.pages import DEFAULT_SOURCES, README_BEGIN, README_END, readme_summary, with_readme_summary

from conftest import ROOT

README = ROOT / "README.md"
README_MAX_LINES = 250
# The two commands of the README, byte for byte: CI (.ci/run) and users copy them.
TWO_COMMANDS = (
    "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/python -m sentiment train "
    "&& .venv/bin/python -m sentiment export && .venv/bin/python app.py",
    "bash scripts/test.sh",
)
# Hand-written pages: their prose links to the generated pages for figures, as the README's does. The others
# (RESULTS.md, RELIABILITY.md, BENCHMARKS.md) are written by commands or are their output pasted with its
# command, machine and date.
HAND_WRITTEN_PAGES = ("TRAINING.md", "SERVING.md", "SCALING.md", "THESIS.md", "APP.md", "LOAD_TEST.md")

# A measured figure: a percentage (87.3%), a speedup (5.4x) or a decimal with a unit of time (7.8 minutes).
# A confidence level ("95% intervals") is a choice, not a measurement.
FIGURE = re.compile(
    r"\b\d+(?:[.,]\d+)*\s?%(?!\s*(?:Wilson\s+)?(?:confidence\s+)?(?:intervals?|CIs?)\b)"
    r"|\b\d+(?:\.\d+)?x\b"
    r"|\b\d+\.\d+\s?(?:ms|s|sec|seconds?|min|minutes?|h|hours?)\b"
)
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def tracked_files() -> set[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(listed.splitlines())


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def prose(markdown: str) -> str:
    """The text outside fenced code blocks and outside the README's results block."""
    generated = re.compile(re.escape(README_BEGIN) + r".*?" + re.escape(README_END), re.DOTALL)
    return re.sub(r"^```.*?^```", "", generated.sub("", markdown), flags=re.DOTALL | re.MULTILINE)


def measured_figures(markdown: str) -> list[str]:
    """Every figure in the prose of `markdown` that looks measured."""
    return [match.group(0) for match in FIGURE.finditer(prose(markdown))]


def relative_links(markdown: str) -> list[str]:
    """The targets of the Markdown links and images in the prose that point into the repository."""
    targets = (target.split("#")[0] for target in LINK.findall(prose(markdown)))
    return [target for target in targets if target and not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The LSTM scored 87.3% on the test set.", ["87.3%"]),
        ("Batching answered 5.4x the requests.", ["5.4x"]),
        ("The training took 7.8 minutes on a 2-core CPU.", ["7.8 minutes"]),
        ("A median of 38.4 ms, and 19.2 min in all, 0.3 s each.", ["38.4 ms", "19.2 min", "0.3 s"]),
        ("Up to 1,000% faster, and 3x more.", ["1,000%", "3x"]),
        ("Accuracy with 95% Wilson intervals, batch 64 x 400 tokens, to 1e-5.", []),
        ("```console\n$ took 7.8 min, 87.3%\n```\nSee [the results](docs/RESULTS.md).", []),
        (f"{README_BEGIN}\n| LSTM | 87.8% |\n{README_END}\nno figure here", []),
    ],
)
def test_the_figure_check_finds_measured_figures_in_prose_only(text, expected):
    assert measured_figures(text) == expected


def test_the_readme_prose_quotes_no_measured_figure():
    assert measured_figures(README.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("page", HAND_WRITTEN_PAGES)
def test_the_hand_written_pages_quote_no_measured_figure(page):
    assert measured_figures((ROOT / "docs" / page).read_text(encoding="utf-8")) == []


def test_every_relative_link_resolves_to_a_tracked_file():
    tracked = tracked_files()
    broken = []
    for page in markdown_files():
        for target in relative_links(page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else target
            if relative not in tracked and not any(name.startswith(relative.rstrip("/") + "/") for name in tracked):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_link_check_sees_links_and_images_but_not_urls_or_code():
    text = "[a](docs/A.md#part) ![b](docs/b.png) [c](https://example.com) [d](#anchor)\n```\n[e](docs/E.md)\n```\n"
    assert relative_links(text) == ["docs/A.md", "docs/b.png"]


def test_the_readme_is_short_and_keeps_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    lines = text.splitlines()
    for command in TWO_COMMANDS:
        assert command in lines


def test_the_readme_results_block_is_what_the_command_writes(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = README.read_text(encoding="utf-8")
    assert text.count(README_BEGIN) == 1 and text.count(README_END) == 1
    assert with_readme_summary(text, readme_summary(DEFAULT_SOURCES, Path("README.md"))) == text


def test_the_reliability_page_runs_every_test_that_records_rows_and_links_the_load_test_page(tmp_path):
    from benchmarks.reliability_report import recording_tests, render

    recorders = {path.name for path in (ROOT / "tests").glob("test_*.py") if "reliability.record(" in path.read_text()}
    assert {"test_artifacts.py", "test_client.py", "test_app.py"} <= recorders
    assert {Path(name).name for name in recording_tests()} == recorders
    row = {"area": "input: CLI", "case": "empty", "expected": "a message", "measured": "a message", "passed": True}
    page = render({"rows": [row], "finished": "now", "exit_status": 0}, None, "pytest", tmp_path / "load_test.json")
    assert "[LOAD_TEST.md](LOAD_TEST.md)" in page and "**1 of 1 rows met.**" in page
