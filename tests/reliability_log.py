"""Rows for docs/RELIABILITY.md, recorded by the tests that check them.

A test asks for the `reliability` fixture and calls
`reliability.record(area, case, expected, measured)` for each input or fault
it tries. A row counts as passed only when its test passed, so a failing
check can never show up as met. When the environment variable
RELIABILITY_RESULTS names a file, the rows of the session are written there
as JSON at the end (`benchmarks/reliability_report.py` sets it and renders the
page); otherwise recording costs nothing.

Imported by tests/conftest.py, which re-exports the fixture and the hooks.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

RESULTS_VARIABLE = "RELIABILITY_RESULTS"
_ROWS_KEY = pytest.StashKey[list]()
_SESSION_ROWS: list[dict] = []


class Recorder:
    """Collects one test's rows; `passed` is filled in from the test's outcome."""

    def __init__(self, test_id: str):
        self.test_id = test_id
        self.rows: list[dict] = []

    def record(self, area: str, case: str, expected: str, measured: str) -> None:
        self.rows.append({"area": area, "case": case, "expected": expected, "measured": measured, "test": self.test_id})


@pytest.fixture
def reliability(request) -> Recorder:
    recorder = Recorder(request.node.nodeid)
    request.node.stash[_ROWS_KEY] = recorder.rows
    return recorder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    rows = item.stash.get(_ROWS_KEY, None)
    if rows is None or report.when not in ("call", "teardown"):
        return
    if report.when == "call":
        for row in rows:
            row["passed"] = report.passed
        _SESSION_ROWS.extend(rows)
    elif report.failed:  # a teardown error un-passes the test's rows
        for row in rows:
            row["passed"] = False


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(RESULTS_VARIABLE)
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    result = {"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "exit_status": int(exitstatus), "rows": _SESSION_ROWS}
    Path(path).write_text(json.dumps(result, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")
