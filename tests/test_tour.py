"""Every tab of the app as a student sees it after the README's quick preset, checked plot by plot.

The quick preset trains on real IMDB (a few minutes on two cores); the app
starts on it from a fresh checkout's docs/ results, and headless Chromium
opens each tab. For every plot the test checks the data it was sent (the
tab's load endpoint answers the same values the page drew): numbers on
numeric axes, drawn on a continuous scale with ticks in increasing order,
every legend entry with data, and the sentence above it agreeing with the
plotted numbers (`tests/plot_checks.py`). It saves a screenshot of each tab:
in `$TOUR_DIR` when set (`TOUR_DIR=docs/tour` refreshes the README's), else
in the test's temporary folder.

Set QUICK_ARTIFACTS to an existing quick-preset folder to skip the training
(the `quick_artifacts` and `quick_app` fixtures in conftest.py, shared by
every browser test on the quick preset).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from webapp import views

from conftest import NEEDS_IMDB
from plot_checks import axis_problems, finding_problems, legend_problems, numeric_column_problems
from test_app import app_page, sync_playwright  # noqa: F401

pytestmark = [
    pytest.mark.imdb,
    pytest.mark.slow,
    NEEDS_IMDB,
]

# Each tab's plots: elem_id -> (x column, whether x is numeric, colour column).
PLOTS = {
    "Compare on a review": {"trajectory": ("token", True, "model")},
    "Inside the cell": {
        **{f"inside-gates-{cell}": ("word index", True, "series") for cell in ("simple_rnn", "lstm", "gru")},
        "inside-memory-gates": ("gate value", True, "model"),
    },
    "Accuracy by review length": {"accuracy-by-length": ("words", False, "model")},
    "Training curves": {
        "curves-accuracy": ("epoch", True, "series"),
        "curves-loss": ("epoch", True, "series"),
    },
    "Why gates matter": {
        "jacobian-init": ("distance", True, "model"),
        "recall": ("T", True, "model"),
        "adding": ("updates", True, "model"),
        "distance": ("T", True, "model"),
        "decision-average": ("steps before the end", True, "model"),
        "decision-review": ("steps before the end", True, "model"),
        "associative": ("pairs", True, "model"),
        "cost": ("T", True, "model"),
    },
}
SCREENSHOTS = {
    "Compare on a review": "compare.png",
    "Inside the cell": "inside.png",
    "Accuracy by review length": "accuracy_by_length.png",
    "Training curves": "training_curves.png",
    "Why gates matter": "why_gates.png",
}


def _endpoint_values(url: str) -> dict[str, dict]:
    """What each load endpoint sent, by the elem_id of the component it fills."""
    import httpx
    from gradio_client import Client

    config = httpx.get(f"{url}/config", timeout=10).json()
    ids = {component["id"]: component.get("props", {}).get("elem_id") for component in config["components"]}
    client = Client(url + "/", verbose=False)
    values = {}
    for dependency in config["dependencies"]:
        name = dependency.get("api_name")
        if name not in ("why_gates", "training_curves", "accuracy_by_length", "inside_at_start"):
            continue
        answer = client.predict(api_name=f"/{name}")
        answer = answer if isinstance(answer, tuple | list) else [answer]
        for target, value in zip(dependency["outputs"], answer):
            if ids.get(target):
                values[ids[target]] = value
    return values


def _drawn(page, elem_id: str) -> dict:
    """The drawn plot's x axis (aria label and tick texts) and legend texts, from its SVG."""
    return page.evaluate(
        """(id) => {
            const root = document.getElementById(id);
            const axes = [...root.querySelectorAll('.role-axis')];
            const x = axes.find(a => (a.getAttribute('aria-label') || '').startsWith('X-axis'));
            const ticks = x ? [...x.querySelectorAll('.role-axis-label text')].map(t => t.textContent) : [];
            const legend = [...root.querySelectorAll('.role-legend-label text')].map(t => t.textContent);
            const svg = root.querySelector('svg.marks');
            const width = svg ? svg.getBoundingClientRect().width : 0;
            return {axis: x ? x.getAttribute('aria-label') : '', ticks, legend, width};
        }""",
        elem_id,
    )


def _finding_text(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").inner_text().removeprefix("What it shows.").strip()


# The finding above each plot: elem_id -> (plot, names column, number columns, percent columns).
FINDINGS = {
    "compare-finding": ("trajectory", "model", (), ()),
    "recall-finding": ("recall", "model", ("T",), ("accuracy",)),
    "distance-finding": ("distance", "model", ("T",), ("accuracy",)),
    "adding-finding": ("adding", "model", (), ()),
    "jacobian-finding": ("jacobian-init", "model", (), ()),
    "decision-finding": ("decision-average", "model", (), ()),
    "length-finding": ("accuracy-by-length", "model", (), ("accuracy",)),
    "curves-finding": ("curves-accuracy", "model", ("epoch",), ("accuracy",)),
    "cost-finding": ("cost", "model", ("T",), ()),
    "associative-finding": ("associative", "model", ("pairs",), ("accuracy",)),
}


def test_every_tab_as_a_student_sees_it(sync_playwright, quick_app, tmp_path):  # noqa: F811
    folder = Path(os.environ.get("TOUR_DIR") or tmp_path / "tour")
    folder.mkdir(parents=True, exist_ok=True)
    sent = _endpoint_values(quick_app)
    problems: list[str] = []
    with sync_playwright() as playwright, app_page(playwright, quick_app, tmp_path / "profile") as page:
        page.locator("#review textarea").fill(views.example_reviews()[0]["text"])
        page.get_by_role("button", name="Compare the three models").click()
        page.locator("#trajectory .mark-line.role-mark path").nth(2).wait_for(state="attached")
        sent["trajectory"] = _compare_value(quick_app, page)
        for tab, plots in PLOTS.items():
            page.get_by_role("tab", name=tab).click()
            for elem_id, (x, numeric, color) in plots.items():
                page.locator(f"#{elem_id} .mark-line.role-mark path").first.wait_for(state="attached")
                value = sent.get(elem_id)
                assert value is not None, f"{elem_id}: no data was sent"
                page.wait_for_timeout(300)  # the charts fit the tab once it shows
                drawn = _drawn(page, elem_id)
                if drawn["width"] < 600:
                    problems.append(f"{elem_id}: drawn {drawn['width']:.0f} px wide in a 1280 px window")
                if numeric:
                    problems += [f"{elem_id}: {p}" for p in numeric_column_problems(value, x)]
                problems += [f"{elem_id}: {p}" for p in axis_problems(drawn["axis"], drawn["ticks"], numeric)]
                problems += [f"{elem_id}: {p}" for p in legend_problems(drawn["legend"], value, color)]
            # The whole tab in one viewport (a full-page screenshot would resize the window while the
            # charts redraw), then back to the laptop-sized window.
            height = page.evaluate("document.documentElement.scrollHeight")
            page.set_viewport_size({"width": 1280, "height": height})
            page.wait_for_timeout(1500)
            page.screenshot(path=str(folder / SCREENSHOTS[tab]))
            page.set_viewport_size({"width": 1280, "height": 900})
            for finding, (plot, names, numbers, percents) in FINDINGS.items():
                if plot in plots:
                    text = _finding_text(page, finding)
                    problems += [
                        f"{finding}: {p}" for p in finding_problems(text, sent[plot], names, numbers, percents)
                    ]
    assert not problems, "\n".join(problems)
    for name in SCREENSHOTS.values():
        assert (folder / name).stat().st_size > 20_000, name


def _compare_value(url: str, page) -> dict:
    """The trajectory the Compare button drew: the same review through the compare endpoint."""
    from gradio_client import Client

    review = page.locator("#review textarea").input_value()
    _, _, trajectory, *_ = Client(url + "/", verbose=False).predict(review, api_name="/compare")
    return trajectory
