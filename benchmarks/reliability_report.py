"""Writes docs/RELIABILITY.md from the tests' recorded rows and the last load test.

    python -m benchmarks.reliability_report                      # runs the tests that record rows, then writes the page
    python -m benchmarks.reliability_report --results rows.json  # renders rows recorded earlier

The tests that check an input or a fault record it (tests/reliability_log.py):
what was tried, what should happen, what was measured, and whether the test
passed. The load test (benchmarks/load_test.py) is too long for the suite; its
last JSON (docs/load_test.json by default) adds its rows and figures. Nothing
on the page is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDING_TESTS = ["tests/test_reliability.py", "tests/test_train.py", "tests/test_app.py"]


def run_tests(results: Path) -> tuple[str, int]:
    """Runs the tests that record rows with RELIABILITY_RESULTS set; returns (command, exit status)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *RECORDING_TESTS]
    status = subprocess.run(command, cwd=ROOT, env={**os.environ, "RELIABILITY_RESULTS": str(results)}).returncode
    return "python -m pytest " + " ".join(RECORDING_TESTS), status


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def load_test_rows(load: dict) -> list[dict]:
    """The load test's figures as rows of the table, each judged against what the issue asks."""
    burst, paced = load["phases"]["burst"], load["phases"]["paced"]
    bound = load["refusal_p95_bound_ms"]
    refused = burst["refused_ms"] or {"p50": 0, "p95": 0, "max": 0}
    rows = [
        {
            "case": f"burst: {burst['concurrency']} gradio_client clients at once, {burst['total']:,} compare requests",
            "expected": "zero failed requests among those the queue accepted; every answer three P(positive) in [0, 1]",
            "measured": (
                f"{burst['answered']} answered (p50 {burst['answered_ms']['p50']:,.0f} ms, p95 {burst['answered_ms']['p95']:,.0f} ms), "
                f"{burst['failed']} failed"
            ),
            "passed": burst["failed"] == 0,
        },
        {
            "case": "burst: requests beyond the queue's bound (32 waiting)",
            "expected": f"refused with a clear message, p95 under {bound:,.0f} ms",
            "measured": (
                f"{burst['refused']} refused, p50 {refused['p50']:,.0f} ms, p95 {refused['p95']:,.0f} ms; "
                + "; ".join(f"{count} x '{message}'" for message, count in burst["refusal_messages"].items())
            ),
            "passed": refused["p95"] <= bound and all("Queue is full" in message for message in burst["refusal_messages"]),
        },
        {
            "case": f"paced: {paced['concurrency']} clients at once (within the bound), {paced['total']:,} requests",
            "expected": "zero refused, zero failed",
            "measured": (
                f"{paced['answered']} answered (p50 {paced['answered_ms']['p50']:,.0f} ms, p95 {paced['answered_ms']['p95']:,.0f} ms), "
                f"{paced['refused']} refused, {paced['failed']} failed"
            ),
            "passed": paced["refused"] == 0 and paced["failed"] == 0,
        },
        {
            "case": "the app process's memory (RSS) over both phases",
            "expected": "the process stays up; memory recorded before, at peak and after",
            "measured": f"{load['rss_mb']['before']:,} MB before, {load['rss_mb']['peak']:,} MB peak, {load['rss_mb']['after']:,} MB after; "
            + ("still serving" if load["app_alive_after"] else "process died"),
            "passed": bool(load["app_alive_after"]),
        },
    ]
    return [{"area": "app: load (benchmarks/load_test.py)", **row} for row in rows]


def render(results: dict, load: dict | None, command: str, load_path: Path) -> str:
    rows = list(results["rows"])
    if load is not None:
        rows += load_test_rows(load)
    met = sum(row["passed"] for row in rows)
    lines = [
        "# Reliability and security: every input and fault tried",
        "",
        "Written by `python -m benchmarks.reliability_report`, not by hand. Each row is recorded by the test that",
        "checks it (`tests/reliability_log.py`); a row shows **met** only when that test passed.",
        "",
        f"- tests: `{command}`, finished {results['finished']}, pytest exit status {results['exit_status']}",
    ]
    if load is not None:
        lines += [
            f"- load test: `{load['command']}` on {load['date']}; {load['machine']}; "
            f"load average after: {', '.join(map(str, load['load_average_after']))}; app models: `{load['artifacts']}`",
        ]
    else:
        lines += [f"- load test: no results at {load_path}; run `python -m benchmarks.load_test --output {load_path}`"]
    lines += ["", f"**{met} of {len(rows)} rows met.**", ""]
    areas = list(dict.fromkeys(row["area"] for row in rows))
    for area in areas:
        lines += [f"## {area}", "", "| input or fault | expected | measured | result |", "|---|---|---|---|"]
        for row in (row for row in rows if row["area"] == area):
            result = "met" if row["passed"] else "**NOT MET**"
            lines.append(f"| {_cell(row['case'])} | {_cell(row['expected'])} | {_cell(row['measured'])} | {result} |")
        lines.append("")
    if load is not None:
        lines += ["## Load test figures", "", "| phase | clients at once | requests | answered | refused | failed | answered p50 / p95 (ms) | refused p50 / p95 (ms) | wall (s) |", "|---|---|---|---|---|---|---|---|---|"]
        for name, phase in load["phases"].items():
            answered = phase["answered_ms"] or {"p50": "-", "p95": "-"}
            refused = phase["refused_ms"] or {"p50": "-", "p95": "-"}
            lines.append(
                f"| {name} | {phase['concurrency']} | {phase['total']:,} | {phase['answered']} | {phase['refused']} | {phase['failed']} "
                f"| {answered['p50']} / {answered['p95']} | {refused['p50']} / {refused['p95']} | {phase['wall_seconds']} |"
            )
        lines += [
            "",
            "The app runs one compare at a time (`concurrency_limit=1`) behind a queue of 32, so in the burst most",
            "requests are refused by design; a refused client waits "
            f"{load['phases']['burst']['retry_after_seconds']:g} s before its next request, as the refusal asks.",
            "Latencies are measured by the clients (one gradio_client `Client` per thread), which share the machine's",
            "cores with the app. Reviews: the four examples in `webapp/examples.json` "
            f"({', '.join(map(str, load['review_words']))} words), in turn.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=None, help="rows recorded by an earlier run (default: run the tests now)")
    parser.add_argument("--load-test", default="docs/load_test.json", help="JSON of benchmarks/load_test.py (default: docs/load_test.json)")
    parser.add_argument("--output", default="docs/RELIABILITY.md", help="the page (default: docs/RELIABILITY.md)")
    arguments = parser.parse_args(argv)
    if arguments.results:
        results_path, command = Path(arguments.results), f"rows from {arguments.results}"
    else:
        results_path = ROOT / "reliability_results.json"
        command, _ = run_tests(results_path)
    results = json.loads(results_path.read_text(encoding="utf-8"))
    load_path = Path(arguments.load_test)
    load = json.loads(load_path.read_text(encoding="utf-8")) if load_path.exists() else None
    page = render(results, load, command, load_path)
    Path(arguments.output).write_text(page, encoding="utf-8")
    rows = results["rows"] + (load_test_rows(load) if load else [])
    unmet = [row for row in rows if not row["passed"]]
    print(f"{arguments.output}: {len(rows) - len(unmet)} of {len(rows)} rows met ({time.strftime('%H:%M:%S')})")
    return 1 if unmet or results["exit_status"] != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
