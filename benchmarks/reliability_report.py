"""Writes docs/RELIABILITY.md from the tests' recorded rows and the last load test.

    python -m benchmarks.reliability_report                      # runs the tests that record rows, then writes the page
    python -m benchmarks.reliability_report --results rows.json  # renders rows recorded earlier
    RELIABILITY_RESULTS=rows.json bash scripts/test.sh  # the whole suite records them too; then
    python -m benchmarks.reliability_report --results rows.json --command "the suite, RELIABILITY_RESULTS set"

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


def recording_tests() -> list[str]:
    """Every test file that records rows (calls `reliability.record`), found by reading them, not listed by hand."""
    return sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").glob("test_*.py")
        if "reliability.record(" in path.read_text(encoding="utf-8")
    )


def run_tests(results: Path) -> tuple[str, int]:
    """Runs the tests that record rows with RELIABILITY_RESULTS set; returns (command, exit status)."""
    tests = recording_tests()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    status = subprocess.run(command, cwd=ROOT, env={**os.environ, "RELIABILITY_RESULTS": str(results)}).returncode
    return "python -m pytest " + " ".join(tests), status


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def load_test_rows(load: dict) -> list[dict]:
    """The load test's figures as rows of the table, each judged against what issue 16 asks."""
    before, after, targets = load["runs"]["before"], load["runs"]["after"], load["targets"]
    refused = before["refused_ms"] or {"p50": 0, "p95": 0, "max": 0}
    answered = after["answered_ms"] or {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    burst = (
        f"{after['concurrency']} gradio_client clients at once, {after['total']:,} compare requests of mixed lengths"
    )
    rows = [
        {
            "case": f"batched app: {burst}",
            "expected": "zero refused, zero failed, every answer three P(positive) in [0, 1]; p95 under "
            f"{targets['answered_p95_ms']:,.0f} ms",
            "measured": (
                f"{after['answered']} answered (p50 {answered['p50']:,.0f} ms, p95 {answered['p95']:,.0f} ms, max "
                f"{answered['max']:,.0f} ms), "
                f"{after['refused']} refused, {after['failed']} failed; {after['answered_per_second']} answers/s"
            ),
            "passed": after["refused"] == 0 and after["failed"] == 0 and answered["p95"] <= targets["answered_p95_ms"],
        },
        {
            "case": "answers per second, batched app over the app before batching (same burst, same run)",
            "expected": f"at least {targets['speedup']:g}x",
            "measured": f"{after['answered_per_second']} / {before['answered_per_second']} = {load['speedup']}x"
            + _pairs_text(load),
            "passed": load["speedup"] is not None and load["speedup"] >= targets["speedup"],
        },
        {
            "case": "requests beyond the queue's bound (the app before batching: 32 waiting)",
            "expected": f"refused with a clear message, p95 under {targets['refusal_p95_ms']:,.0f} ms; no accepted "
            "request fails",
            "measured": (
                f"{before['refused']} refused, p50 {refused['p50']:,.0f} ms, p95 {refused['p95']:,.0f} ms; "
                + "; ".join(f"{count} x '{message}'" for message, count in before["refusal_messages"].items())
                + f"; {before['failed']} failed"
            ),
            "passed": refused["p95"] <= targets["refusal_p95_ms"]
            and before["failed"] == 0
            and all("Queue is full" in message for message in before["refusal_messages"]),
        },
    ]
    for name, run in load["runs"].items():
        rows.append(
            {
                "case": f"the app process's memory (RSS), {name}",
                "expected": "the process stays up; memory recorded before, at peak and after",
                "measured": f"{run['rss_mb']['before']:,} MB before, {run['rss_mb']['peak']:,} MB peak, "
                f"{run['rss_mb']['after']:,} MB after; "
                + ("still serving" if run["app_alive_after"] else "process died"),
                "passed": bool(run["app_alive_after"]),
            }
        )
    return [{"area": "app: load (benchmarks/load_test.py)", **row} for row in rows]


def _pairs_text(load: dict) -> str:
    """Which pair is shown and every pair's ratio (runs before --pairs had one pair)."""
    pairs = load.get("pairs") or []
    if len(pairs) < 2:
        return ""
    ratios = ", ".join(
        f"{pair['after_answered_per_second']} / {pair['before_answered_per_second']} = {pair['speedup']}x"
        for pair in pairs
    )
    return f" (pair {load['median_pair']} of {len(pairs)}, the median ratio; every pair, in the order run: {ratios})"


def load_figures(load: dict) -> list[str]:
    """The load test's table, before and after batching, and how it was run."""
    lines = [
        "## Load test figures",
        "",
        "| app | arguments | answered | refused | failed | answers/s | answered p50 / p95 / max (ms) | refused p50 / "
        "p95 (ms) | app CPU per answer (ms) | clients' CPU per answer (ms) | RSS before / peak / after (MB) | wall "
        "(s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in load["runs"].items():
        answered = run["answered_ms"] or {"p50": "-", "p95": "-", "max": "-"}
        refused = run["refused_ms"] or {"p50": "-", "p95": "-"}
        memory = run["rss_mb"]
        lines.append(
            f"| {name}: {run['description']} | "
            f"{' '.join(run['app_arguments']) and '`' + ' '.join(run['app_arguments']) + '`' or 'its own defaults'} | "
            f"{run['answered']} | {run['refused']} | {run['failed']} | {run['answered_per_second']} "
            f"| {answered['p50']} / {answered['p95']} / {answered['max']} | {refused['p50']} / {refused['p95']} | "
            f"{run.get('app_cpu_ms_per_answer', '-')} | {run.get('clients_cpu_ms_per_answer', '-')} "
            f"| {memory['before']} / {memory['peak']} / {memory['after']} | {run['wall_seconds']} |"
        )
    after = load["runs"]["after"]
    return lines + [
        "",
        f"Both apps get the same burst: {after['concurrency']} threads (users), each with two gradio_client `Client`s "
        "it alternates "
        "between (gradio_client 2.7.2 cancels a request sent on a Client whose event stream the server is closing; see "
        f"`benchmarks/load_test.py`), start together and send {after['total']:,} compare requests between them, each "
        "its next "
        "as soon as it has an answer; a refused client waits "
        f"{after['retry_after_seconds']:g} s, as the refusal asks. Reviews: the examples in `webapp/examples.json` "
        "cut to mixed lengths "
        f"({min(load['review_words'])} to {max(load['review_words'])} words), in turn. Latencies are measured by the "
        "clients, which share "
        f"the machine's cores with the app. Answers per second: {load['speedup']}x{_pairs_text(load)}. Each phase "
        "runs in a fresh process, "
        "and the pairs alternate so that a slow spell of this shared machine hits both apps. App CPU per answer is "
        "the app process's CPU "
        "time (all threads) over the burst, divided by the answers; the app before batching spent most of it refusing. "
        "The clients' CPU per answer is the same measure for the one process that runs every client: gradio_client "
        "waits for each answer in two "
        f"threads that wake every 50 ms, so {after['concurrency']} waiting requests cost CPU on the cores the app "
        "needs.",
        "",
    ]


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
        "[LOAD_TEST.md](LOAD_TEST.md) explains how the load test is run and what limits the app; its figures are",
        'in the section "Load test figures" below.',
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
        lines += load_figures(load)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=None, help="rows recorded by an earlier run (default: run the tests now)")
    parser.add_argument(
        "--command",
        default=None,
        help="with --results: the command that recorded them, for the page (e.g. the full suite's)",
    )
    parser.add_argument(
        "--load-test",
        default="docs/load_test.json",
        help="JSON of benchmarks/load_test.py (default: docs/load_test.json)",
    )
    parser.add_argument("--output", default="docs/RELIABILITY.md", help="the page (default: docs/RELIABILITY.md)")
    arguments = parser.parse_args(argv)
    if arguments.results:
        results_path = Path(arguments.results)
        command = arguments.command or f"rows from {arguments.results}"
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
