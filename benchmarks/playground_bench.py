"""The playground as a class uses it, against a real app process: time to verdict, replay, and compare meanwhile.

    python -m benchmarks.playground_bench --artifacts artifacts [--compares 60] [--settle 45]
        [--write docs/BENCHMARKS.md]

Starts `python app.py --artifacts ARTIFACTS` on 127.0.0.1 and a free port
(the playground's defaults: one run trains at a time, three spare training
processes kept between runs), then, in one sitting, through gradio_client
as a browser would:

1. compare with nothing training: `--compares` calls of /compare, one after
   the other, on the first 250 words of the long example review;
2. the default run (`/playground` with the tab's defaults: the adding
   problem, T = 50, SimpleRNN, LSTM and GRU, 32 units, seed 0), the first
   after the app started (its processes load TensorFlow): seconds from the
   call to the verdict (the last answer), while a second client calls
   compare one call after the other the whole time;
3. after `--settle` seconds (the spare processes load TensorFlow once the
   first run ends), the same defaults with seed 1: a new run whose processes
   are ready, timed the same way, compare again called meanwhile;
4. the seed-0 run again: replayed from the cache; seconds to its answer.

Compare's latency is the client's (queue, server and the reply), p50 and
p95. It prints every figure with the command, the machine, the date and the
1-minute load average before and after; with `--write` it puts them in that
Markdown file between `<!-- playground:begin -->` and
`<!-- playground:end -->` (appended, with the markers, where they are absent).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

from benchmarks import load_test  # noqa: E402
from benchmarks.compare_latency import review_of  # noqa: E402
from sentiment.analysis import playground  # noqa: E402
from sentiment.io import provenance  # noqa: E402
from sentiment.report import markdown_table, model_name  # noqa: E402

BEGIN = "<!-- playground:begin -->"
END = "<!-- playground:end -->"
REVIEW_WORDS = 250
# The most seconds one run may take here: the playground's cap, its grace, and the processes' start.
RUN_TIMEOUT_SECONDS = 600


def _defaults(seed: int) -> tuple:
    """The Train button's defaults, as /playground takes them (task, T, cells, units, seed)."""
    return (
        playground.DEFAULT_TASK,
        playground.DEFAULT_LENGTH,
        list(playground.DEFAULT_VARIANTS),
        playground.DEFAULT_UNITS,
        seed,
    )


def _percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds (p95 needs at least two calls), and the count."""
    if not seconds:
        return {"count": 0}
    p95 = statistics.quantiles(seconds, n=20, method="inclusive")[-1] if len(seconds) > 1 else seconds[0]
    return {"count": len(seconds), "p50": 1000 * statistics.median(seconds), "p95": 1000 * p95}


def _compare_once(client, review: str) -> float:
    started = time.perf_counter()
    notice, results, *_ = client.predict(review, api_name="/compare")
    if not results["data"]:
        raise RuntimeError(f"compare answered without results: {notice}")
    return time.perf_counter() - started


class _CompareLoop(threading.Thread):
    """Calls compare one call after the other until stopped, keeping each call's seconds."""

    def __init__(self, url: str, review: str):
        super().__init__(daemon=True)
        from gradio_client import Client

        self.client, self.review, self.seconds = Client(url + "/", verbose=False), review, []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.seconds.append(_compare_once(self.client, self.review))

    def stop(self) -> list[float]:
        self._stop_event.set()
        self.join()
        return self.seconds


def _timed_run(url: str, settings: tuple, review: str | None) -> tuple[float, list[float], tuple]:
    """Calls /playground with `settings` until its last answer: (seconds, compare seconds meanwhile, the answer)."""
    from gradio_client import Client

    loop = _CompareLoop(url, review) if review else None
    client = Client(url + "/", verbose=False)
    if loop:
        loop.start()
    started = time.perf_counter()
    answer = client.submit(*settings, api_name="/playground").result(timeout=RUN_TIMEOUT_SECONDS)
    seconds = time.perf_counter() - started
    return seconds, loop.stop() if loop else [], answer


def _verdict(answer: tuple) -> str:
    """The finding the run ended with, without its bold lead."""
    return answer[1].removeprefix("**What it shows.**").strip()


def measure(artifacts: Path, compares: int, settle: float, log_path: Path) -> dict:
    """Runs the sitting against a fresh app process; every figure, with what produced it."""
    from gradio_client import Client

    review = review_of(REVIEW_WORDS)
    load_at_start = provenance.load_average()
    started_at = provenance.utc_now()
    process, url = load_test.start_app(artifacts, log_path, startup_seconds=300)
    try:
        client = Client(url + "/", verbose=False)
        _compare_once(client, review)  # warm-up
        idle = [_compare_once(client, review) for _ in range(compares)]
        cold_seconds, cold_compares, cold = _timed_run(url, _defaults(0), review)
        time.sleep(settle)
        warm_seconds, warm_compares, warm = _timed_run(url, _defaults(1), review)
        replay_seconds, _, replay = _timed_run(url, _defaults(0), None)
    finally:
        load_test.stop_app(process)
    for answer, name in ((cold, "the first run"), (warm, "the run with spares"), (replay, "the replay")):
        if not answer[0].startswith(("**Done**", "**Replayed**")):
            raise RuntimeError(f"{name} did not end with a verdict: {answer[0][:300]}")
    return {
        "command": shlex.join(["python", "-m", "benchmarks.playground_bench", *sys.argv[1:]]),
        "started_at": started_at,
        "machine": provenance.machine(),
        "load_average": {"start": load_at_start, "end": provenance.load_average()},
        "artifacts": str(artifacts),
        "cold": {"seconds": cold_seconds, "verdict": _verdict(cold), "replayed": cold[0].startswith("**Replayed**")},
        "warm": {"seconds": warm_seconds, "verdict": _verdict(warm), "replayed": warm[0].startswith("**Replayed**")},
        "replay": {"seconds": replay_seconds, "replayed": replay[0].startswith("**Replayed**")},
        "compare": {
            "idle": _percentiles(idle),
            "cold": _percentiles(cold_compares),
            "warm": _percentiles(warm_compares),
        },
        "settle_seconds": settle,
    }


def _latency(figures: dict[str, float]) -> str:
    if not figures.get("count"):
        return "n/a (no call)"
    return f"{figures['p50']:.0f} / {figures['p95']:.0f} ms ({figures['count']} calls)"


def section(result: dict) -> str:
    """The Markdown section for docs/BENCHMARKS.md, between the markers."""
    cells = ", ".join(model_name(variant) for variant in playground.DEFAULT_VARIANTS)
    default = (
        f"{playground.TASK_NAMES[playground.DEFAULT_TASK]}, T = {playground.DEFAULT_LENGTH}, {cells}, "
        f"{playground.DEFAULT_UNITS} units"
    )
    load = result["load_average"]
    load_note = (
        f"1-minute load average {load['start'][0]:.2f} at the start, {load['end'][0]:.2f} at the end"
        if load.get("start") and load.get("end")
        else "load average not available"
    )
    compare = result["compare"]
    cold_note = " (replayed: the cache already held it)" if result["cold"]["replayed"] else ""
    table_rows = [
        [
            f"the default run ({default}, seed 0), the first after the app started: Train to verdict",
            f"{result['cold']['seconds']:.1f} s{cold_note}",
        ],
        [
            f"the defaults, seed 1, spares ready ({result['settle_seconds']:.0f} s after the first): Train to verdict",
            f"{result['warm']['seconds']:.1f} s",
        ],
        ["the seed-0 run again, replayed from the cache", f"{result['replay']['seconds']:.2f} s"],
        [f"compare ({REVIEW_WORDS}-word review), nothing training: p50 / p95", _latency(compare["idle"])],
        ["compare while the first run trained: p50 / p95", _latency(compare["cold"])],
        ["compare while the seed-1 run trained: p50 / p95", _latency(compare["warm"])],
    ]
    return "\n".join(
        [
            BEGIN,
            "<!-- Written by `python -m benchmarks.playground_bench --write docs/BENCHMARKS.md`; not by hand. -->",
            "",
            f"## The playground: time to verdict, replay, and compare while it trains ({result['started_at'][:10]})",
            "",
            f"Produced by `{result['command']}` on {result['started_at']}, against `python app.py --artifacts "
            f"{result['artifacts']}` on the same machine (one run trains at a time; each cell in its own process "
            f"at nice 10, TensorFlow on one thread; {load_note}).",
            "",
            f"Machine: {provenance.machine_line(result['machine'])}.",
            "",
            markdown_table(["measurement", "figure"], table_rows),
            "",
            "Compare's latency is the client's: the queue, the three models and the reply, one call after the other "
            "from one client. The verdicts, as the app wrote them:",
            "",
            f"- seed 0: {result['cold']['verdict']}",
            f"- seed 1: {result['warm']['verdict']}",
            END,
        ]
    )


def with_section(text: str, new_section: str) -> str:
    """`text` with its playground section replaced by `new_section`, or `new_section` appended where it has none."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        return text.rstrip("\n") + "\n\n" + new_section + "\n"
    return text[:begin] + new_section + text[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", default="artifacts", help="artifacts folder the app loads (default: artifacts)")
    parser.add_argument("--compares", type=int, default=60, help="compare calls with nothing training (default: 60)")
    parser.add_argument(
        "--settle",
        type=float,
        default=45.0,
        help="seconds between the first run's verdict and the second run, for the spare processes to load "
        "TensorFlow (default: 45)",
    )
    parser.add_argument("--write", type=Path, default=None, help="Markdown file to put the section in")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="playground-bench-") as folder:
        result = measure(Path(arguments.artifacts), arguments.compares, arguments.settle, Path(folder) / "app.log")
    text = section(result)
    print(text)
    if arguments.write is not None:
        from sentiment.io import files

        files.write_text(arguments.write, with_section(arguments.write.read_text(encoding="utf-8"), text))
        print(f"\nwritten to {arguments.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
