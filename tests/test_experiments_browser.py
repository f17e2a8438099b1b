"""Try it yourself, in headless Chromium on the quick preset: a clamp changes the trajectory, the slider moves the
equations' values, the pair view shows both reviews.

Each section is driven as a student would (the review typed in the Compare
tab, a setting picked, a button pressed), its plot checked against the data
its endpoint sends (numbers on a numeric axis, every legend entry with
data), and saved as a screenshot: in `$TOUR_DIR` when set (as
tests/test_tour.py does), else in the test's temporary folder. Set
QUICK_ARTIFACTS to an already trained quick-preset folder to skip the
training.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from test_tour import _drawn

from webapp import experiment_views, views

from conftest import NEEDS_IMDB
from plot_checks import axis_problems, legend_problems, numeric_column_problems
from test_app import _table_rows, app_page, sync_playwright  # noqa: F401

pytestmark = [
    pytest.mark.imdb,
    pytest.mark.slow,
    NEEDS_IMDB,
]

SCREENSHOTS = {"try-clamp": "try_clamp.png", "try-step": "try_step.png", "try-pair": "try_pair.png"}
CLAMP = "0: keep nothing of the old memory"


def _plot_problems(page, elem_id: str, value: dict) -> list[str]:
    """The drawn plot against what its endpoint sends: a numeric x axis, a legend entry per series with data."""
    drawn = _drawn(page, elem_id)
    problems = numeric_column_problems(value, "words read")
    problems += axis_problems(drawn["axis"], drawn["ticks"], numeric=True)
    problems += legend_problems(drawn["legend"], value, "series")
    if drawn["width"] < 600:
        problems.append(f"drawn {drawn['width']:.0f} px wide in a 1280 px window")
    return [f"{elem_id}: {problem}" for problem in problems]


def _screenshot(page, elem_id: str, folder: Path) -> None:
    """One section in one viewport (a full-page screenshot would resize the window while the charts redraw)."""
    section = page.locator(f"#{elem_id}")
    section.scroll_into_view_if_needed()
    height = int(section.bounding_box()["height"]) + 40
    page.set_viewport_size({"width": 1280, "height": max(height, 900)})
    section.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    section.screenshot(path=str(folder / SCREENSHOTS[elem_id]))
    page.set_viewport_size({"width": 1280, "height": 900})


def _step_text(page, cell: str) -> str:
    """A model's step panel as read aloud: KaTeX's MathML annotation holds each equation's TeX with its values."""
    return " ".join(page.locator(f"#step-{cell} annotation").all_text_contents())


def test_try_it_yourself_as_a_student_does_it(sync_playwright, quick_app, tmp_path):  # noqa: F811
    from gradio_client import Client

    folder = Path(os.environ.get("TOUR_DIR") or tmp_path / "tour")
    folder.mkdir(parents=True, exist_ok=True)
    client = Client(quick_app + "/", verbose=False)
    review = views.example_reviews()[0]["text"]
    problems: list[str] = []
    with sync_playwright() as playwright, app_page(playwright, quick_app, tmp_path / "profile") as page:
        page.locator("#review textarea").fill(review)
        page.get_by_role("tab", name="Inside the cell").click()

        # 1. A clamp changes the trajectory: the LSTM's forget gate and the GRU's update gate at 0.
        page.locator("#clamp-gate input").click()
        page.get_by_role("option", name=CLAMP).click()
        page.locator("#intervene-button").click()
        lines = page.locator("#intervene-chart .mark-line.role-mark path")
        lines.nth(4).wait_for(state="attached")
        assert lines.count() == 5  # three models as learned, the two gated ones changed
        rows = _table_rows(page, "#intervene-table")
        cells = {
            row[0].strip(): row for row in (rows.nth(i).get_by_role("gridcell").all_inner_texts() for i in range(3))
        }
        assert cells["LSTM"][1].strip() == "forget gate = 0, at every word"
        for model in ("LSTM", "GRU"):
            assert float(cells[model][6]) > 0.01, cells[model]  # the largest change of P(positive)
        assert cells["SimpleRNN"][1].strip() == "nothing" and float(cells["SimpleRNN"][6]) == 0
        finding = page.locator("#intervene-finding").inner_text()
        assert finding.startswith("What it shows. With the change, the LSTM"), finding
        _, _, sent, _ = client.predict(review, CLAMP, 1, experiment_views.KNOCK_OUT_NONE, 0, api_name="/intervene")
        problems += _plot_problems(page, "intervene-chart", sent)
        _screenshot(page, "try-clamp", folder)

        # 2. The slider moves the equations' values.
        page.locator("#step-button").click()
        page.locator("#step-lstm .katex").first.wait_for()
        page.wait_for_function("() => document.querySelector('#step-lstm').innerText.includes('word 1 of')")
        first = _step_text(page, "lstm")
        assert r"\langle f_t \rangle = " in first and "p_t = " in first
        number = page.locator("#step-word input[type=number]")
        number.fill("12")
        number.press("Enter")
        page.wait_for_function("() => document.querySelector('#step-lstm').innerText.includes('word 12 of')")
        twelfth = _step_text(page, "lstm")
        values = [re.findall(r"= (-?\d\.\d\d)", text) for text in (first, twelfth)]
        assert len(values[0]) == len(values[1]) == 7 and values[0] != values[1], values
        page.locator("#step-chart .mark-line.role-mark path").first.wait_for(state="attached")
        _, _, _, sent, *_ = client.predict(review, 12, api_name="/step")
        problems += _plot_problems(page, "step-chart", sent)
        # Play moves the slider on by itself; pause stops it.
        page.locator("#step-play").click()
        page.wait_for_function(
            "() => Number(document.querySelector('#step-word input[type=number]').value) >= 14", timeout=30_000
        )
        page.locator("#step-pause").click()
        page.wait_for_timeout(1500)  # a tick already on its way
        paused_at = number.input_value()
        page.wait_for_timeout(2500)
        assert number.input_value() == paused_at
        _screenshot(page, "try-step", folder)

        # 3. The pair view shows both reviews: a ready-made edit, compared.
        page.get_by_role("button", name="short: a negation added").click()
        page.wait_for_function(  # the example fills the box through the server: wait for it
            "() => document.querySelector('#edited-review textarea').value.startsWith('This is not')"
        )
        edited_text = page.locator("#edited-review textarea").input_value()
        assert edited_text.startswith("This is not an excellent film.")
        page.locator("#pair-button").click()
        pair_lines = page.locator("#pair-chart .mark-line.role-mark path")
        pair_lines.nth(5).wait_for(state="attached")
        assert pair_lines.count() == 6  # each model on the review and on the edited copy
        for box, words in (("#pair-review", review.lower()), ("#pair-edited", edited_text.lower())):
            label, *shown = [line.strip() for line in page.locator(box).inner_text().split("\n") if line.strip()]
            assert shown == re.findall(r"[a-z]+", words), (label, shown)  # a span per word, as the models split it
        assert page.locator("#pair-edited").get_by_text("not", exact=True).count() == 1
        assert (
            page.locator("#pair-finding")
            .inner_text()
            .startswith("What it shows. The two reviews part at word 3 (“not”).")
        )
        assert _table_rows(page, "#pair-table").count() == 3
        _, _, sent, *_ = client.predict(review, edited_text, api_name="/pair")
        problems += _plot_problems(page, "pair-chart", sent)
        _screenshot(page, "try-pair", folder)
    assert not problems, "\n".join(problems)
    for name in SCREENSHOTS.values():
        assert (folder / name).stat().st_size > 20_000, name
