"""Load test: the real app on 127.0.0.1, called through gradio_client from many threads.

    python -m benchmarks.load_test --artifacts artifacts [--output load_test.json]

Starts `python app.py` on a free port and runs two phases of compare requests,
each from its own set of gradio_client clients (one per thread, as separate
users would be):

- burst: `--burst-concurrency` (200) threads start at once and send
  `--burst-total` (2,000) requests between them, each thread its next one as
  soon as it has an answer. The app runs one compare at a time behind a
  queue of 32, so most are refused by design; a refused client waits
  `--retry-after` (1 s) before its next request, as the refusal asks ("try
  again"). What is measured is that none of the accepted requests fails and
  that the refused ones are told so quickly and clearly.
- paced: `--paced-concurrency` (16) threads, fewer than the queue holds,
  send `--paced-total` (400) requests: none should be refused.

Every answer is checked (three models, P(positive) in [0, 1]). It writes
JSON with counts, p50/p95 latency of accepted and refused requests, the
refusal messages, the app process's memory (RSS) before, at peak and after,
and the machine; `benchmarks/reliability_report.py` puts it in
docs/RELIABILITY.md. It exits non-zero when any accepted request failed, a
paced request was refused, or refusals were slow.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from sentiment.io import provenance

ROOT = Path(__file__).resolve().parents[1]

# A refusal should come back at once: the server only checks the queue's length.
REFUSAL_P95_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(artifacts: Path, log_path: Path, startup_seconds: float = 300, environment: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`python app.py` on 127.0.0.1 and a free port; returns (process, url) once it serves its config.

    Args:
        artifacts: the folder the app loads.
        log_path: where the app's output goes.
        startup_seconds: how long to wait for it.
        environment: variables to add (SENTIMENT_APP_AUTH is dropped from this
            process's own, so only these can switch the login on).

    Raises:
        RuntimeError: it exited or did not answer in time; with its last output.
    """
    port = free_port()
    inherited = {name: value for name, value in os.environ.items() if name != "SENTIMENT_APP_AUTH"}
    environment = {**inherited, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(environment or {})}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--artifacts", str(artifacts), "--port", str(port)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/config", timeout=2).status_code in (200, 401):  # 401: it asks for a login
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_app(process)
    raise RuntimeError(f"app.py did not answer within {startup_seconds:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def resident_bytes(pid: int) -> int:
    """The process's resident memory (RSS), from psutil or /proc."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except ImportError:
        with open(f"/proc/{pid}/status") as status:
            kilobytes = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        return kilobytes * 1024


class MemorySampler(threading.Thread):
    """Samples a process's RSS every `interval` seconds and keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, resident_bytes(pid)
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.wait(self.interval):
            self.peak = max(self.peak, resident_bytes(self.pid))

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def _valid(results: dict) -> bool:
    probabilities = [row[1] for row in results["data"]]
    return len(probabilities) == 3 and all(isinstance(p, (int, float)) and 0 <= p <= 1 for p in probabilities)


def run_phase(url: str, concurrency: int, total: int, texts: list[str], retry_after: float = 1.0) -> dict:
    """`total` compare requests from `concurrency` threads, one gradio_client Client each.

    Returns:
        Counts (answered, refused, failed), latency percentiles in ms for
        answered and refused requests, the distinct refusal and failure
        messages, and the wall time. A refused thread waits `retry_after`
        seconds before its next request.
    """
    from gradio_client import Client
    from gradio_client.utils import QueueError

    # The app speaks plain HTTP on 127.0.0.1: no TLS, nothing to verify. Without
    # ssl_verify=False every request of gradio_client builds an SSL context from
    # the CA bundle (about 20 ms of CPU each), and on a 2-core machine that the
    # app shares with its 200 callers the load generator would starve the app.
    with ThreadPoolExecutor(max_workers=min(concurrency, 32)) as pool:  # connecting is not the measured part
        clients = list(pool.map(lambda _: Client(url + "/", verbose=False, ssl_verify=False), range(concurrency)))
    counter, lock = iter(range(total)), threading.Lock()
    answered, refused, failed = [], [], []
    refusal_messages, failure_messages = {}, {}
    start_barrier = threading.Barrier(concurrency)

    def worker(client) -> None:
        start_barrier.wait()  # every thread starts at once: the burst really is concurrent
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            started = time.perf_counter()
            try:
                _, results, *_ = client.predict(texts[index % len(texts)], api_name="/compare")
                seconds = time.perf_counter() - started
                if not _valid(results):
                    raise ValueError(f"invalid answer: {results['data']}")
                answered.append(seconds)
            except QueueError as error:
                refused.append(time.perf_counter() - started)
                message = f"{type(error).__name__}: {error}"
                refusal_messages[message] = refusal_messages.get(message, 0) + 1
                time.sleep(retry_after)
            except Exception as error:  # anything else is a failed request
                failed.append(time.perf_counter() - started)
                message = f"{type(error).__name__}: {error}"[:300]
                failure_messages[message] = failure_messages.get(message, 0) + 1

    wall = _run_threads(worker, clients)
    return {
        "concurrency": concurrency,
        "total": total,
        "retry_after_seconds": retry_after,
        "answered": len(answered),
        "refused": len(refused),
        "failed": len(failed),
        "answered_ms": _percentiles(answered),
        "refused_ms": _percentiles(refused),
        "refusal_messages": refusal_messages,
        "failure_messages": failure_messages,
        "wall_seconds": round(wall, 1),
        "answered_per_second": round(len(answered) / wall, 1),
    }


def _run_threads(worker, clients: list) -> float:
    """Runs `worker(client)` in a thread per client, closes the clients; the wall seconds it took."""
    wall_start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - wall_start
    for client in clients:
        client.close()
    return wall


def _percentiles(seconds: list[float]) -> dict | None:
    if not seconds:
        return None
    values = np.asarray(seconds) * 1000
    return {name: round(float(np.percentile(values, q)), 1) for name, q in (("p50", 50), ("p95", 95), ("max", 100))}


def load_test(artifacts: Path, burst: tuple[int, int], paced: tuple[int, int], log_path: Path, retry_after: float = 1.0) -> dict:
    """Starts the app, runs the burst and the paced phase, stops the app; returns the figures."""
    from webapp.views import example_reviews

    texts = [example["text"] for example in example_reviews()]
    process, url = start_app(artifacts, log_path)
    try:
        from gradio_client import Client

        warm = Client(url + "/", verbose=False)
        for text in texts:  # the first answers pay for Python's own warm-up
            warm.predict(text, api_name="/compare")
        warm.close()
        rss_before = resident_bytes(process.pid)
        sampler = MemorySampler(process.pid)
        sampler.start()
        phases = {"burst": run_phase(url, *burst, texts, retry_after), "paced": run_phase(url, *paced, texts, retry_after)}
        peak = sampler.stop()
        rss_after = resident_bytes(process.pid)
        alive = process.poll() is None
    finally:
        stop_app(process)
    megabytes = lambda value: round(value / 2**20, 1)  # noqa: E731
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": provenance.machine_line(provenance.machine()),
        "load_average_after": provenance.load_average(),
        "artifacts": str(artifacts),
        "review_words": [len(text.split()) for text in texts],
        "phases": phases,
        "rss_mb": {"before": megabytes(rss_before), "peak": megabytes(peak), "after": megabytes(rss_after)},
        "app_alive_after": alive,
        "refusal_p95_bound_ms": REFUSAL_P95_SECONDS * 1000,
    }


def problems(result: dict) -> list[str]:
    """What the run shows that should not be: failed, wrongly refused, slow refusals, a dead app."""
    found = []
    for name, phase in result["phases"].items():
        if phase["failed"]:
            found.append(f"{name}: {phase['failed']} accepted requests failed: {phase['failure_messages']}")
        if phase["refused_ms"] and phase["refused_ms"]["p95"] > result["refusal_p95_bound_ms"]:
            found.append(f"{name}: refusals took {phase['refused_ms']['p95']} ms at p95")
        if any("Queue is full" not in message for message in phase["refusal_messages"]):
            found.append(f"{name}: unclear refusal: {phase['refusal_messages']}")
    if result["phases"]["paced"]["refused"]:
        found.append(f"paced: {result['phases']['paced']['refused']} requests refused within the queue's bound")
    if not result["app_alive_after"]:
        found.append("the app process died")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", default="artifacts", help="artifacts folder for the app (default: artifacts)")
    parser.add_argument("--output", default="load_test.json", help="where the JSON goes (default: load_test.json)")
    parser.add_argument("--burst-concurrency", type=int, default=200)
    parser.add_argument("--burst-total", type=int, default=2000)
    parser.add_argument("--paced-concurrency", type=int, default=16)
    parser.add_argument("--paced-total", type=int, default=400)
    parser.add_argument("--retry-after", type=float, default=1.0, help="seconds a refused client waits before its next request (default: 1)")
    parser.add_argument("--log", default="load_test_app.log", help="the app's own output (default: load_test_app.log)")
    arguments = parser.parse_args(argv)
    result = load_test(
        Path(arguments.artifacts),
        (arguments.burst_concurrency, arguments.burst_total),
        (arguments.paced_concurrency, arguments.paced_total),
        Path(arguments.log),
        arguments.retry_after,
    )
    result["problems"] = problems(result)
    Path(arguments.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
