"""Train it yourself, in headless Chromium on the quick preset: a small run streams its curves and ends with a verdict.

The learner sets T, the units and a seed, presses Train and watches: while
the run trains, the page is sampled and each cell's drawn line must grow to
at least three points before the run ends; then the finding gives the
verdict, the Jacobian plots show each trained model beside itself at
initialization, and every plot is checked against the data its endpoint
sends (numbers on a numeric axis, a legend entry per model with data). The
same settings sent again through the API are replayed from the cache: the
same curves, the same sentence. A screenshot of the tab is saved in
`$TOUR_DIR` when set (as tests/test_tour.py does), else in the test's
temporary folder. Set QUICK_ARTIFACTS to an already trained quick-preset
folder to skip the training.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_tour import _drawn

from sentiment import style
from sentiment.analysis import playground
from sentiment.report import model_name

from conftest import NEEDS_IMDB
from plot_checks import axis_problems, finding_problems, legend_problems, numeric_column_problems, rows
from test_app import _table_rows, app_page, sync_playwright  # noqa: F401

pytestmark = [pytest.mark.imdb, pytest.mark.slow, NEEDS_IMDB]

# Small enough to end in well under a minute after the processes start: the adding problem at T = 10.
LENGTH, UNITS, SEED = 10, 8, 2718
CELLS = list(playground.DEFAULT_VARIANTS)
RUN_SECONDS = 300
SCREENSHOTS = ("train_it_yourself_training.png", "train_it_yourself.png")
# Each drawn line's stroke colour and its number of points, from the SVG.
LINE_POINTS = """(id) => [...document.querySelectorAll('#' + id + ' .mark-line.role-mark path')].map(
    path => [path.getAttribute('stroke'), (path.getAttribute('d') || '').split('L').length])"""


def _set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def _plot_problems(page, elem_id: str, value: dict, x: str) -> list[str]:
    drawn = _drawn(page, elem_id)
    problems = numeric_column_problems(value, x)
    problems += axis_problems(drawn["axis"], drawn["ticks"], numeric=True)
    problems += legend_problems(drawn["legend"], value, "model")
    return [f"{elem_id}: {problem}" for problem in problems]


def test_a_small_run_streams_its_curves_and_ends_with_its_verdict(sync_playwright, quick_app, tmp_path):  # noqa: F811
    from gradio_client import Client

    folder = Path(os.environ.get("TOUR_DIR") or tmp_path / "tour")
    folder.mkdir(parents=True, exist_ok=True)
    colors = {style.color(variant): model_name(variant) for variant in CELLS}
    streamed = {name: 0 for name in colors.values()}
    problems: list[str] = []
    with sync_playwright() as playwright, app_page(playwright, quick_app, tmp_path / "profile") as page:
        page.get_by_role("tab", name="Train it yourself").click()
        _set_number(page, "playground-length", LENGTH)
        _set_number(page, "playground-units", UNITS)
        seed = page.locator("#playground-seed input")
        seed.fill(str(SEED))
        seed.press("Tab")
        page.locator("#playground-train").click()
        notice = page.locator("#playground-notice")
        deadline = time.monotonic() + RUN_SECONDS
        while_training = False
        while time.monotonic() < deadline:
            text = notice.inner_text()
            if text.startswith(("Done", "Replayed", "Stopped", "Not started")):
                break
            if text.startswith("Training"):  # the curves as drawn while the cells train
                for color, points in page.evaluate(LINE_POINTS, "playground-curves"):
                    if color in colors:
                        streamed[colors[color]] = max(streamed[colors[color]], points)
                if not while_training and min(streamed.values()) >= 3:
                    page.screenshot(path=str(folder / SCREENSHOTS[0]))  # the page as it streams
                    while_training = True
            page.wait_for_timeout(250)
        assert text.startswith("Done"), text
        assert all(points >= 3 for points in streamed.values()), streamed

        finding = page.locator("#playground-finding").inner_text().removeprefix("What it shows.").strip()
        assert finding.startswith(f"At T = {LENGTH} on the adding problem, "), finding
        for name in colors.values():
            assert name in finding, (name, finding)
        assert _table_rows(page, "#playground-table").count() == len(CELLS)
        for elem_id in ("playground-jacobian-init", "playground-jacobian-trained"):
            page.locator(f"#{elem_id} .mark-line.role-mark path").nth(len(CELLS) - 1).wait_for(state="attached")
        jacobian_finding = page.locator("#playground-jacobian-finding").inner_text()
        assert f"Over the {LENGTH - 1} steps" in jacobian_finding, jacobian_finding

        # The same settings again, through the API: replayed from the cache, the same curves and verdict.
        sent = Client(quick_app + "/", verbose=False).predict(
            "adding", LENGTH, CELLS, UNITS, SEED, api_name="/playground"
        )
        sent_notice, sent_finding, curves, _, _, jacobian_init, jacobian_trained = sent
        assert sent_notice.startswith("**Replayed**"), sent_notice
        assert sent_finding.removeprefix("**What it shows.**").strip() == finding
        points = {name: sum(row["model"] == name for row in rows(curves)) for name in colors.values()}
        assert all(count >= 3 for count in points.values()), points
        problems += finding_problems(finding, curves, "model")
        problems += _plot_problems(page, "playground-curves", curves, "updates")
        problems += _plot_problems(page, "playground-jacobian-init", jacobian_init, "distance")
        problems += _plot_problems(page, "playground-jacobian-trained", jacobian_trained, "distance")
        if _drawn(page, "playground-curves")["width"] < 600:
            problems.append("playground-curves: drawn narrower than 600 px in a 1280 px window")

        # The whole tab in one viewport, then back to the laptop-sized window.
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": 1280, "height": height})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(folder / SCREENSHOTS[1]))
        page.set_viewport_size({"width": 1280, "height": 900})
    assert not problems, "\n".join(problems)
    for name in SCREENSHOTS:
        assert (folder / name).stat().st_size > 20_000, name
