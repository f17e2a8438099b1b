"""The comparison app, run for real: `python app.py` in a subprocess on a free port,
called through gradio_client and driven in headless Chromium.

The browser test needs Debian's chromium at /usr/bin/chromium and the
Playwright Python client (never Playwright's own browser download). Without
them it is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest

from benchmarks import load_test
from sentiment.io.artifacts import read_json
from webapp import layout, server, views

import plot_checks

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MODEL_NAMES = ["SimpleRNN", "LSTM", "GRU"]
REFERENCE = "Bag of n-grams (reference)"
# The thesis tab's plots and the fewest lines each must draw (one per model or variant).
GATE_PLOT_LINES = {
    "jacobian-init": 6,
    "recall": 6,
    "adding": 6,
    "distance": 3,
    "decision-average": 3,
    "decision-review": 3,
}
# The Inside the cell tab's line plots and the fewest lines each draws.
INSIDE_PLOT_LINES = {
    **{f"inside-gates-{cell}": lines for cell, lines in (("simple_rnn", 1), ("lstm", 4), ("gru", 3))},
    **{f"inside-unit-{cell}": 2 for cell in ("simple_rnn", "lstm", "gru")},
    "inside-saturation": 1,
    "inside-memory-gates": 2,
}
STARTUP_SECONDS = 180


def open_browser(playwright, profile: Path, height: int = 900):
    """Headless Chromium with a fresh user-data-dir (`profile`), in a laptop-sized window 1280 px wide."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": height},
    )


@contextlib.contextmanager
def app_page(playwright, url: str, profile: Path, timeout_ms: int = 60_000):
    """A page of the app at `url` in `open_browser`'s Chromium, waiting up to `timeout_ms`; closed on the way out."""
    browser = open_browser(playwright, profile)
    try:
        page = browser.new_page()
        page.set_default_timeout(timeout_ms)
        page.goto(url)
        yield page
    finally:
        browser.close()


def _start_app(artifacts: Path, log_path: Path, environment: dict[str, str] | None = None):
    """Starts `python app.py` and waits until it serves its config (or asks for a login); returns (process, url)."""
    try:
        return load_test.start_app(artifacts, log_path, STARTUP_SECONDS, environment)
    except RuntimeError as error:
        pytest.fail(str(error))


_stop_app = load_test.stop_app


@pytest.fixture(scope="module")
def app_url(tiny_artifacts, tmp_path_factory):
    process, url = _start_app(tiny_artifacts, tmp_path_factory.mktemp("app") / "app.log")
    yield url
    _stop_app(process)


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url + "/", verbose=False)


def _status_text(url: str) -> str:
    config = httpx.get(f"{url}/config", timeout=10).json()
    (status,) = [c["props"]["value"] for c in config["components"] if c.get("props", {}).get("elem_id") == "status"]
    return status


def _compare_raw(url: str, text_json: str | bytes, api_name: str = "compare") -> dict:
    """Calls an endpoint (compare by default) through the queue with a hand-written JSON body.

    gradio_client cannot send what this sends: JSON escapes of lone
    surrogates (invalid Unicode) that any other client may send.
    """
    config = httpx.get(f"{url}/config", timeout=10).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    session = uuid.uuid4().hex
    text_json = text_json if isinstance(text_json, bytes) else text_json.encode("utf-8")
    body = b'{"data": [%b], "fn_index": %d, "session_hash": "%b", "event_data": null, "trigger_id": null}' % (
        text_json,
        fn_index,
        session.encode(),
    )
    httpx.post(
        f"{url}/gradio_api/queue/join", content=body, headers={"content-type": "application/json"}, timeout=10
    ).raise_for_status()
    with httpx.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}, timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[len("data:") :])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the queue closed without completing the request")


# --- Through gradio_client, against the running app --------------------------


def test_compare_endpoint_returns_all_three_models(client, tiny_artifacts):
    text = "the movie was wonderful and the plot was good"
    notice, results, trajectory, *token_views, finding = client.predict(text, api_name="/compare")
    assert notice == "The review has 9 words; the models read only the last 8, the rest is marked as not read."
    assert results["headers"] == ["model", "P(positive)", "label", "time (ms)"]
    assert [row[0] for row in results["data"]] == MODEL_NAMES
    for _, probability, label, milliseconds in results["data"]:
        assert (
            0 <= probability <= 1 and label == ("positive" if probability >= 0.5 else "negative") and milliseconds > 0
        )
    assert results["data"][1][1] > 0.5  # the tiny LSTM learned "wonderful"/"good"

    points = [dict(zip(trajectory["columns"], row)) for row in trajectory["data"]]
    assert {point["model"] for point in points} == set(MODEL_NAMES)
    lstm = [point for point in points if point["model"] == "LSTM"]
    assert [point["token"] for point in lstm] == list(range(1, 9))  # 9 words, the tiny models read the last 8
    assert lstm[-1]["P(positive)"] == pytest.approx(results["data"][1][1], abs=1e-4)

    assert len(token_views) == 3
    assert finding.startswith("**What it shows.** After the last word P(positive) is the SimpleRNN at")
    first_words = [span["token"] for span in token_views[0]]
    assert first_words[0] == "the" and token_views[0][0]["class_or_confidence"] == views.NOT_READ


def test_compare_endpoint_explains_empty_text(client):
    notice, results, trajectory, *token_views, finding = client.predict("  \n ", api_name="/compare")
    assert notice == views.EMPTY_REVIEW_MESSAGE
    assert results["data"] == [] and trajectory["data"] == [] and token_views == [None, None, None]
    assert finding == ""


def test_compare_endpoint_cuts_long_text_on_the_server_and_says_so(client):
    text = "great movie " * 5000  # 60,000 characters
    notice, results, *_ = client.predict(text, api_name="/compare")
    assert f"cut to its last {views.MAX_REVIEW_CHARACTERS:,} characters (it had {len(text):,})" in notice
    assert len(results["data"]) == 3


@pytest.mark.parametrize(
    "text_json",
    [
        r'"bad \ud800 movie \udfff"',  # lone surrogates: invalid Unicode
        json.dumps("😀🎬 电影很好 الفيلم رائع nul\x00byte \ufffd"),
        json.dumps('<script>alert(1)</script><img src=x onerror="alert(2)"> great'),
    ],
)
def test_awkward_text_never_crashes_a_request(app_url, text_json):
    message = _compare_raw(app_url, text_json)
    assert message["success"], message
    _, results, _, *token_views, _ = message["output"]["data"]
    assert [row[0] for row in results["data"]] == MODEL_NAMES
    words = [span["token"] for view in token_views for span in view]
    assert not any("<" in word or ">" in word for word in words)  # markup never reaches the page as markup


def test_length_endpoint_serves_the_saved_evaluation(client, tiny_artifacts):
    finding, plot, counts, table, overall = client.predict(api_name="/accuracy_by_length")
    points = plot_checks.rows(plot)
    metrics = read_json(tiny_artifacts / "lstm" / "metrics.json")["test"]
    buckets = [bucket for bucket in metrics["by_length"] if bucket["count"]]
    lstm = [point for point in points if point["model"] == "LSTM"]
    assert [point["words"] for point in lstm] == [bucket["bucket"] for bucket in buckets]
    np.testing.assert_allclose([point["accuracy"] for point in lstm], [bucket["accuracy"] for bucket in buckets])
    np.testing.assert_allclose([point["ci_low"] for point in lstm], [bucket["ci_low"] for bucket in buckets])
    assert finding.startswith("**What it shows.**")
    assert [row[1] for row in counts["data"]] == [bucket["count"] for bucket in buckets]
    assert table["headers"] == ["words", "reviews", *MODEL_NAMES, REFERENCE] and len(table["data"]) == len(buckets)
    assert [row[0] for row in overall["data"]] == [*MODEL_NAMES, REFERENCE]  # the bag-of-n-grams reference last
    assert overall["data"][1][1] == pytest.approx(metrics["accuracy"], abs=1e-4)


def test_curves_endpoint_serves_the_saved_histories(client, tiny_artifacts):
    finding, accuracy_plot, loss_plot = client.predict(api_name="/training_curves")
    history = read_json(tiny_artifacts / "gru" / "history.json")
    points = plot_checks.rows(accuracy_plot)
    gru_validation = [point["accuracy"] for point in points if point["series"] == "GRU validation"]
    np.testing.assert_allclose(gru_validation, history["val_accuracy"])
    epochs = [point["epoch"] for point in points if point["series"] == "GRU validation"]
    assert epochs == list(range(1, len(history["val_accuracy"]) + 1))  # whole numbers, in order
    assert plot_checks.numeric_column_problems(loss_plot, "epoch") == []
    assert "Best validation accuracy" in finding


def test_the_page_lists_the_loaded_models(app_url):
    assert "**SimpleRNN, LSTM, GRU**" in _status_text(app_url)


def test_without_artifacts_the_app_starts_and_says_how_to_train(tmp_path):
    process, url = _start_app(tmp_path / "artifacts", tmp_path / "app.log")
    try:
        status = _status_text(url)
        # The page names the folder, never its server path (the server log has it).
        assert "```\npython -m sentiment train\n```" in status and str(tmp_path) not in status
        message = _compare_raw(url, '"a fine film"')
        notice, results, *_ = message["output"]["data"]
        assert "No model is loaded; train them first with" in notice and str(tmp_path) not in notice
        assert [row[2] for row in results["data"]] == ["not loaded"] * 3
        inside_notice = _compare_raw(url, '"a fine film"', api_name="inside")["output"]["data"][0]
        assert "No model is loaded; train them first with" in inside_notice and str(tmp_path) not in inside_notice
    finally:
        _stop_app(process)


def test_with_auth_anonymous_callers_are_refused_and_the_user_is_served(tiny_artifacts, tmp_path, reliability):
    from gradio_client import Client

    process, url = _start_app(
        tiny_artifacts, tmp_path / "app.log", {server.AUTH_ENVIRONMENT_VARIABLE: "reviewer:s3cret:pass"}
    )
    try:
        anonymous = httpx.get(f"{url}/config", timeout=10).status_code
        joined = httpx.post(
            f"{url}/gradio_api/queue/join",
            json={"data": ["a fine film"], "fn_index": 0, "session_hash": "x"},
            timeout=10,
        )
        wrong_login = httpx.post(
            f"{url}/login", data={"username": "reviewer", "password": "s3cret"}, timeout=10
        ).status_code
        with pytest.raises(ValueError, match="(?i)login") as refused:
            Client(url + "/", verbose=False)
        with pytest.raises(ValueError, match="Could not login") as wrong_password:
            Client(url + "/", auth=("reviewer", "s3cret"), verbose=False)
        notice, results, *_ = Client(url + "/", auth=("reviewer", "s3cret:pass"), verbose=False).predict(
            "a fine film", api_name="/compare"
        )
    finally:
        _stop_app(process)
    assert anonymous == 401 and joined.status_code == 401 and 400 <= wrong_login < 500
    assert [row[0] for row in results["data"]] == MODEL_NAMES
    reliability.record(
        "app: access",
        f"{server.AUTH_ENVIRONMENT_VARIABLE}=user:password; calls without a login and with a wrong password",
        "refused (HTTP 401 / client error); the right user and password get the three verdicts",
        f"/config {anonymous}, /queue/join {joined.status_code}, /login with a wrong password {wrong_login}; "
        f"gradio_client: {type(refused.value).__name__} ({str(refused.value)[:45]}…), wrong password: "
        f"{wrong_password.value}; "
        f"logged in: {len(results['data'])} verdicts",
    )


def test_the_app_listens_on_loopback_unless_exposed_and_checks_auth_values(reliability):
    default = server.parse_arguments([], environment={})
    exposed = server.parse_arguments(["--expose"], environment={})
    from_environment = server.parse_arguments(["--expose"], environment={server.AUTH_ENVIRONMENT_VARIABLE: "ann:pw"})
    from_flag = server.parse_arguments(["--auth", "bob:x:y"], environment={server.AUTH_ENVIRONMENT_VARIABLE: "ann:pw"})
    assert (default.host, default.auth) == ("127.0.0.1", None) and server.exposure_warning(default) is None
    assert exposed.host == "0.0.0.0" and "without a login" in server.exposure_warning(exposed)
    assert from_environment.auth == ("ann", "pw") and server.exposure_warning(from_environment) is None
    assert from_flag.auth == ("bob", "x:y")  # the flag wins; a password may hold ":"
    for argv, environment in [
        (["--auth", "nocolon"], {}),
        (["--auth", ":pw"], {}),
        ([], {server.AUTH_ENVIRONMENT_VARIABLE: "ann:"}),
    ]:
        with pytest.raises(SystemExit):
            server.parse_arguments(argv, environment=environment)
    with pytest.raises(SystemExit):
        server.parse_arguments(["--expose", "--host", "10.0.0.1"], environment={})
    reliability.record(
        "app: access",
        "no flags; --expose; --expose with SENTIMENT_APP_AUTH; malformed --auth / SENTIMENT_APP_AUTH",
        "127.0.0.1 by default; 0.0.0.0 only with --expose, with a warning when there is no login; malformed values "
        "refused with USER:PASSWORD in the message",
        f"{default.host}; {exposed.host} + warning; {from_environment.host} with login {from_environment.auth[0]!r}, "
        "no warning; 3 malformed values refused",
    )


def test_objects_alive_at_start_are_frozen_and_later_garbage_is_still_collected():
    import weakref

    class Node:
        pass

    thresholds = gc.get_threshold()
    kept = Node()  # alive when the server starts: walked by no collection afterwards
    try:
        server.freeze_startup_objects()
        assert gc.get_freeze_count() > 0
        assert id(kept) not in {id(tracked) for tracked in gc.get_objects()}
        assert gc.get_threshold() == (*thresholds[:2], server.FULL_COLLECTION_THRESHOLD)
        cycle = Node()
        cycle.itself = cycle  # garbage a request might leave: only the collector frees a cycle
        gone = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_running_app_listens_on_loopback_only(app_url, reliability):
    import psutil

    port = int(app_url.rsplit(":", 1)[1])
    listening = sorted(
        {
            c.laddr.ip
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
    )
    assert listening == ["127.0.0.1"]
    reliability.record(
        "app: access",
        "`python app.py` with no address flags: the sockets it listens on",
        "127.0.0.1 only",
        f"listening on {', '.join(listening)} port {port}",
    )


def test_malformed_auth_is_a_clear_error(capsys, reliability):
    with pytest.raises(SystemExit) as raised:
        server.parse_arguments([], environment={server.AUTH_ENVIRONMENT_VARIABLE: "just-a-password"})
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        raised.value.code == 2
        and "SENTIMENT_APP_AUTH: expected USER:PASSWORD" in message
        and message.startswith("app.py: error")
    )
    reliability.record(
        "app: access",
        "SENTIMENT_APP_AUTH=just-a-password (no user)",
        "exit 2 with a message naming the variable and the USER:PASSWORD form",
        f"exit {raised.value.code}: {message}",
    )


def test_a_short_load_gets_no_failures(app_url, reliability):
    """The load test's own code (benchmarks/load_test.py) at a size the suite can afford.

    Within the queue's bound, nothing is refused.
    """
    texts = load_test.mixed_reviews([example["text"] for example in views.example_reviews()])
    phase = load_test.run_phase(app_url, concurrency=20, total=60, texts=texts, retry_after=0.2)
    assert phase["failed"] == 0 and phase["refused"] == 0 and phase["answered"] == 60, phase
    assert phase["clients_cpu_seconds"] > 0 and phase["clients_cpu_ms_per_answer"] == pytest.approx(
        1000 * phase["clients_cpu_seconds"] / 60, abs=2
    )
    reliability.record(
        "app: load (smoke, in the suite)",
        "60 compare requests of mixed lengths from 20 gradio_client clients at once (tiny models)",
        "every request answered: none refused, none failed",
        f"{phase['answered']} answered (p50 {phase['answered_ms']['p50']:.0f} ms, p95 "
        f"{phase['answered_ms']['p95']:.0f} ms), "
        f"{phase['refused']} refused, {phase['failed']} failed",
    )


def test_beyond_the_queues_bound_requests_are_refused_at_once_and_clearly(tiny_artifacts, tmp_path, reliability):
    """The bound still holds: an app started with a queue of 2 and no batching turns the excess away quickly."""
    process, url = load_test.start_app(
        tiny_artifacts, tmp_path / "app.log", STARTUP_SECONDS, arguments=["--queue-size", "2", "--max-batch-size", "1"]
    )
    try:
        texts = [example["text"] for example in views.example_reviews()]
        phase = load_test.run_phase(url, concurrency=24, total=72, texts=texts, retry_after=0.05)
        alive = httpx.get(f"{url}/config", timeout=10).status_code
    finally:
        _stop_app(process)
    assert phase["failed"] == 0 and phase["refused"] > 0 and phase["answered"] > 0, phase
    assert all("Queue is full" in message for message in phase["refusal_messages"]), phase["refusal_messages"]
    assert phase["refused_ms"]["p95"] < 1000 * load_test.REFUSAL_P95_SECONDS and alive == 200
    reliability.record(
        "app: load (smoke, in the suite)",
        "72 compare requests from 24 clients at once, app started with --queue-size 2 --max-batch-size 1",
        "the excess refused with Gradio's 'Queue is full' message, p95 under "
        f"{load_test.REFUSAL_P95_SECONDS * 1000:.0f} ms; none failed; the app keeps serving",
        f"{phase['answered']} answered, {phase['refused']} refused (p95 {phase['refused_ms']['p95']:.0f} ms), "
        f"{phase['failed']} failed; /config HTTP {alive}",
    )


def test_requests_that_arrive_together_are_scored_together_and_as_alone(app_url, client, tiny_artifacts):
    """A slow request holds the models; the eight sent meanwhile wait, then go through in one batch.

    Each gets what it gets alone.
    """
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    texts = [
        f"the {word} film was {verdict}"
        for word in ("first", "second", "third", "fourth")
        for verdict in ("great", "awful")
    ]
    clients = [Client(app_url + "/", verbose=False) for _ in texts]
    with ThreadPoolExecutor(max_workers=len(texts) + 1) as pool:
        slow = pool.submit(
            client.predict, "a long review " * 100_000, api_name="/compare"
        )  # cut to 20,000 characters: the slowest compare
        time.sleep(0.05)
        answers = list(pool.map(lambda pair: pair[0].predict(pair[1], api_name="/compare"), zip(clients, texts)))
        slow.result()
    models = views.load_models(tiny_artifacts, warm_up=False)
    batched = [notice for notice, *_ in answers if "one batch with" in notice]
    assert batched, [notice for notice, *_ in answers]
    for text, (_notice, results, *_) in zip(texts, answers):
        alone = views.compare(models, text)
        expected = [round(alone.results[cell].probability, 4) for cell in ("simple_rnn", "lstm", "gru")]
        np.testing.assert_allclose([row[1] for row in results["data"]], expected, atol=2e-4)


# --- What one caller can do to the others and to the server -------------------

# Payloads of the wrong shape for a text endpoint, each sent beside good ones.
MALFORMED_PAYLOADS = {
    'no value ("data": [])': b"",
    "a FileData naming /etc/passwd": b'{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}',
    "a number": b"5",
}
# Keys of an answer that name where a file was written, not what it holds.
FILE_KEYS = {"path", "url", "size", "orig_name"}


def _answer_values(api_name: str, data: list) -> tuple[list, list]:
    """An answer's strings and numbers, to compare a batched answer with the same review's answer alone.

    Left out: what differs by design in a batch (compare's notice, which says
    it was batched, and each model's time) and where a file was written.
    """
    if api_name == "compare":
        notice, results, *rest = data
        data = [[row[:3] for row in results["data"]], *rest]
    strings, numbers = [], []

    def walk(value):
        if isinstance(value, dict):
            for key, item in sorted(value.items()):
                if key not in FILE_KEYS:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, bool) or value is None:
            strings.append(str(value))
        elif isinstance(value, (int, float)):
            numbers.append(float(value))
        elif isinstance(value, str) and value.startswith("{"):
            try:
                walk(json.loads(value))  # a plot's spec, sent as a JSON string
            except ValueError:
                strings.append(value)
        else:
            strings.append(str(value))

    walk(data)
    return strings, numbers


def _join_status(url: str, payload: bytes, api_name: str) -> httpx.Response:
    """Posts one payload to the queue for `api_name`, as `_compare_raw` does, and returns the join's response."""
    config = httpx.get(f"{url}/config", timeout=10).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    body = b'{"data": [%b], "fn_index": %d, "session_hash": "%b"}' % (payload, fn_index, uuid.uuid4().hex.encode())
    return httpx.post(
        f"{url}/gradio_api/queue/join", content=body, headers={"content-type": "application/json"}, timeout=10
    )


@pytest.mark.parametrize("api_name", ["compare", "decision", "inside"])
def test_a_malformed_request_gets_its_own_error_and_never_touches_its_batch(app_url, reliability, api_name):
    """Thirteen good requests and one malformed one, sent together: the bad one alone is refused.

    Before, Gradio zipped the batch's payloads: an empty one made the batch
    empty (IndexError) and a file one failed its preprocessing, so most good
    requests batched with it failed with a bare "Error".
    """
    from concurrent.futures import ThreadPoolExecutor

    texts = [json.dumps(f"the {index} film was {'great' if index % 2 else 'awful'} and good") for index in range(13)]
    alone = [_answer_values(api_name, _compare_raw(app_url, text, api_name)["output"]["data"]) for text in texts]
    measured = []
    for name, payload in MALFORMED_PAYLOADS.items():
        with ThreadPoolExecutor(max_workers=len(texts) + 1) as pool:
            good = [pool.submit(_compare_raw, app_url, text, api_name) for text in texts]
            refused = pool.submit(_join_status, app_url, payload, api_name).result()
            answers = [future.result() for future in good]
        assert refused.status_code == 422, (name, refused.status_code, refused.text)
        detail = refused.json()["detail"]
        assert "one per input" in detail or "no files" in detail or "must be text" in detail, detail
        assert all(answer["success"] for answer in answers), (name, [a for a in answers if not a["success"]][:1])
        for text, answer, (strings, numbers) in zip(texts, answers, alone):
            batched_strings, batched_numbers = _answer_values(api_name, answer["output"]["data"])
            assert batched_strings == strings, (name, text)
            np.testing.assert_allclose(batched_numbers, numbers, atol=2e-4, err_msg=f"{name}: {text}")
        measured.append(f"{name}: HTTP {refused.status_code} ({detail})")
    reliability.record(
        "app: one request against the others",
        f"/{api_name}: 13 good requests and 1 malformed one sent at once, for each of: "
        + "; ".join(MALFORMED_PAYLOADS),
        "the malformed one refused with its own 4xx and reason before it joins a batch; all 13 good ones answered, "
        "each as it is answered alone",
        "; ".join(measured) + f"; 13 of 13 good answered, as alone, {len(MALFORMED_PAYLOADS)} times",
    )


def test_a_review_that_fails_its_computation_fails_alone():
    """The second line of defence (`layout._isolated`): a failing review gets a notice, the others their answers."""

    def endpoint(texts):
        if "boom" in texts:
            raise ValueError("boom")
        return views.by_output([(f"notice {text}", text.upper()) for text in texts])

    notices, values = layout._isolated(endpoint, 2)(["a", "boom", "c"])
    assert notices == ["notice a", layout.FAILED_REVIEW_MESSAGE, "notice c"] and values == ["A", None, "C"]
    assert layout._isolated(endpoint, 2)(["a", "b"]) == (["notice a", "notice b"], ["A", "B"])


def test_uploads_and_oversized_bodies_are_refused_before_they_are_read(app_url, reliability):
    upload = httpx.post(f"{app_url}/gradio_api/upload", files={"files": ("big.bin", b"x" * 100_000)}, timeout=10)
    start = time.perf_counter()
    declared = httpx.post(
        f"{app_url}/gradio_api/queue/join",
        content=b'{"data": ["' + b"a" * (server.MAX_BODY_BYTES + 1) + b'"], "fn_index": 0, "session_hash": "x"}',
        headers={"content-type": "application/json"},
        timeout=30,
    )
    declared_seconds = time.perf_counter() - start

    def chunks():  # no Content-Length: refused once the limit is passed, not read to the end
        for _ in range(4 * server.MAX_BODY_BYTES // 2**16):
            yield b"a" * 2**16

    streamed = httpx.post(
        f"{app_url}/gradio_api/queue/join", content=chunks(), headers={"content-type": "application/json"}, timeout=30
    )
    direct = httpx.post(f"{app_url}/gradio_api/run/compare", json={"data": ["a fine film"]}, timeout=10)
    alive = httpx.get(f"{app_url}/config", timeout=10).status_code
    assert upload.status_code == 404 and "no uploads" in upload.json()["detail"]
    assert declared.status_code == 413 and streamed.status_code == 413 and "bytes" in declared.json()["detail"]
    assert direct.status_code == 404 and alive == 200  # no route around the queue's bound
    reliability.record(
        "app: what the server stores and reads",
        f"POST /gradio_api/upload (100 kB); a {server.MAX_BODY_BYTES + 1:,}-byte JSON body to /queue/join, with and "
        "without Content-Length; POST /gradio_api/run/compare (around the queue)",
        "no upload route (the app has no upload component); a body over "
        f"{server.MAX_BODY_BYTES:,} bytes refused with 413 before it is read whole; no direct route around the queue",
        f"upload HTTP {upload.status_code}; oversized body HTTP {declared.status_code} in {declared_seconds:.2f} s, "
        f"streamed HTTP {streamed.status_code}; /run/compare HTTP {direct.status_code}; /config HTTP {alive} after",
    )


def test_the_inside_views_heatmap_files_are_deleted_at_exit(tiny_artifacts, tmp_path, reliability):
    temp = tmp_path / "gradio-temp"
    process, url = _start_app(tiny_artifacts, tmp_path / "app.log", {"GRADIO_TEMP_DIR": str(temp)})
    try:
        for text in ('"the film was great"', '"an awful plot"'):
            assert _compare_raw(url, text, "inside")["success"]
        written = [path for path in temp.rglob("*") if path.is_file()]
    finally:
        _stop_app(process)
    left = [path for path in temp.rglob("*") if path.is_file()]
    assert any(path.suffix in (".png", ".webp") for path in written), written
    assert left == [] and process.returncode == 0, left
    reliability.record(
        "app: what the server stores and reads",
        "/inside called twice (a heatmap file per model and review), then the app stopped with SIGTERM",
        f"files kept in the app's own temporary folder, older than {layout.CACHE_MAX_AGE_SECONDS} s deleted every "
        f"{layout.CACHE_CHECK_SECONDS} s, all of them at exit",
        f"{len(written)} files written while it ran; {len(left)} left after exit (exit status {process.returncode})",
    )


@pytest.fixture(scope="module")
def auth_app(tiny_artifacts, tmp_path_factory):
    process, url = _start_app(
        tiny_artifacts,
        tmp_path_factory.mktemp("auth-app") / "app.log",
        {server.AUTH_ENVIRONMENT_VARIABLE: "reviewer:s3cret:pass"},
    )
    yield url
    _stop_app(process)


# Routes Gradio 6.31 leaves open without a login, and one it protects itself.
ROUTES_WITHOUT_GRADIOS_LOGIN = [
    ("POST", "/gradio_api/cancel", {"session_hash": "x", "fn_index": 0, "event_id": "x"}),
    ("POST", "/gradio_api/reset", {"session_hash": "x", "fn_index": 0, "event_id": "x"}),
    ("GET", "/gradio_api/heartbeat/x", None),
    ("GET", "/gradio_api/app_id", None),
    ("GET", "/gradio_api/user", None),
    ("GET", "/gradio_api/token", None),
    ("GET", "/monitoring/x", None),
    ("GET", "/gradio_api/info", None),
]


def test_with_auth_every_route_but_the_login_pages_refuses_anonymous_calls(auth_app, reliability):
    answered = {}
    for method, route, body in ROUTES_WITHOUT_GRADIOS_LOGIN:
        answered[route] = httpx.request(method, f"{auth_app}{route}", json=body, timeout=10).status_code
    page = httpx.get(f"{auth_app}/", timeout=10)
    assets = [f"/assets/{name}" for name in re.findall(r"assets/([\w.-]+\.(?:js|css))", page.text)][:3]
    asset_codes = [httpx.get(f"{auth_app}{asset}", timeout=10).status_code for asset in assets]
    assert all(code == 401 for code in answered.values()), answered
    assert page.status_code == 200 and '"auth_required":true' in page.text.replace(" ", "")
    assert assets and all(code == 200 for code in asset_codes), dict(zip(assets, asset_codes))
    reliability.record(
        "app: access",
        f"{server.AUTH_ENVIRONMENT_VARIABLE} set; anonymous calls to " + ", ".join(answered),
        "401 from every route except what the login page needs (the page, its assets, /login)",
        "; ".join(f"{route} {code}" for route, code in answered.items())
        + f"; login page {page.status_code}, its assets {sorted(set(asset_codes))}",
    )


def test_with_auth_failed_logins_are_slowed_then_locked_out(auth_app, reliability):
    """Runs after the other login test of `auth_app`: it locks 127.0.0.1 out of that app."""

    def login(password: str) -> tuple[int, float, str | None]:
        start = time.perf_counter()
        response = httpx.post(f"{auth_app}/login", data={"username": "reviewer", "password": password}, timeout=30)
        return response.status_code, time.perf_counter() - start, response.headers.get("retry-after")

    attempts = [login(f"wrong-{index}") for index in range(server.LOCKOUT_FAILURES + 2)]
    right_password = login("s3cret:pass")
    free, slowed = (
        attempts[: server.FREE_LOGIN_FAILURES],
        attempts[server.FREE_LOGIN_FAILURES : server.LOCKOUT_FAILURES],
    )
    locked = attempts[server.LOCKOUT_FAILURES :]
    assert all(code == 400 for code, _, _ in free + slowed), attempts
    assert all(seconds >= server.LOGIN_DELAY_SECONDS for _, seconds, _ in slowed), attempts
    assert all(code == 429 and retry for code, _, retry in locked) and right_password[0] == 429, attempts
    reliability.record(
        "app: access",
        f"{len(attempts)} wrong passwords in a row from one address, then the right one",
        f"the first {server.FREE_LOGIN_FAILURES} refused at once, the next ones after {server.LOGIN_DELAY_SECONDS:g} s "
        f"each; after {server.LOCKOUT_FAILURES} the address is locked out for up to "
        f"{server.LOCKOUT_WINDOW_SECONDS:.0f} s (HTTP 429 with Retry-After), even with the right password",
        f"HTTP {', '.join(str(code) for code, _, _ in attempts)}; slowed ones took "
        f"{min(s for _, s, _ in slowed):.1f} to {max(s for _, s, _ in slowed):.1f} s; right password: HTTP "
        f"{right_password[0]}, Retry-After {right_password[2]} s",
    )


def test_wrong_shaped_metrics_and_results_drop_their_model_or_panel_and_the_app_starts(
    tiny_artifacts, tmp_path, reliability
):
    from sentiment.io import artifacts

    folder = tmp_path / "artifacts"
    for cell in ("simple_rnn", "lstm", "gru"):
        shutil.copytree(tiny_artifacts / cell, folder / cell)
    (folder / "lstm" / artifacts.METRICS_FILE).write_text("{}")
    (folder / "gru" / artifacts.HISTORY_FILE).write_text("[]")
    for cell in ("lstm", "gru"):
        artifacts.write_manifest(folder / cell)  # the checksums match: only the shape is wrong
    (folder / views.GRADIENTS_FILE).write_text("[]")
    (folder / "inspect.json").write_text('{"cells": 3}')
    process, url = _start_app(folder, tmp_path / "app.log")
    try:
        status = _status_text(url)
        message = _compare_raw(url, '"a fine film"')
        config = httpx.get(f"{url}/config", timeout=10).json()
    finally:
        _stop_app(process)
    log = (tmp_path / "app.log").read_text()
    notes = {
        c["props"]["elem_id"]: c["props"]["value"]
        for c in config["components"]
        if c.get("props", {}).get("elem_id") in ("decision-source", "inside-test-set-source")
    }
    _, results, *_ = message["output"]["data"]
    assert "**SimpleRNN**" in status and "**LSTM is not loaded**" in status and "**GRU is not loaded**" in status
    assert [row[2] for row in results["data"]][1:] == ["not loaded", "not loaded"] and results["data"][0][1] is not None
    assert "metrics.json has no test figures" in log and "history.json" in log  # the reasons, in the server log
    assert "not a JSON object" in notes["decision-source"] and "Left out" in notes["inside-test-set-source"]

    from webapp.start_views import StartViews

    (tmp_path / "long_range.json").write_text('{"runs": [{"task": "recall"}], "config": {}}')
    (tmp_path / "distance.json").write_text("{}")
    start = StartViews(views.LoadedModels(folder, {}, {}), tmp_path / "long_range.json", tmp_path / "distance.json")
    assert "Left out" in start.long_range_note and "variable-lag recall" in start.long_range_note
    assert start.distance_note.startswith("From ")  # an empty object: an empty panel, no error
    reliability.record(
        "app: start-up",
        "valid JSON of the wrong shape: lstm/metrics.json = {}, gru/history.json = [] (checksums rewritten to match), "
        "gradients.json = [], inspect.json = {cells: 3}, a long_range.json whose runs lack their fields, "
        "distance.json = {}",
        "the app starts; LSTM and GRU are not loaded (the reason in the server log), SimpleRNN answers; each panel "
        "whose file is not of its shape is left out, its note says so",
        f"started; banner: {', '.join(re.findall(r'[*][*]([^*]+)[*][*]', status))}; compare answered by "
        f"{[row[0] for row in results['data'] if row[1] is not None]}; notes: "
        f"{notes['decision-source'][-60:]!r}, {notes['inside-test-set-source'][-60:]!r}; long_range: "
        f"{start.long_range_note[-40:]!r}",
    )


# --- The app's pieces, in process ---------------------------------------------


def test_the_default_folder_gets_the_plain_train_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status = views.status_markdown(views.load_models("artifacts"))
    assert "```\npython -m sentiment train\n```" in status


def test_a_failed_model_is_named_and_the_others_answer_and_the_banner_shows_no_server_path(
    tiny_artifacts, tmp_path, reliability
):
    for cell in ("simple_rnn", "lstm", "gru"):
        shutil.copytree(tiny_artifacts / cell, tmp_path / cell)
    (tmp_path / "gru" / "manifest.json").unlink()  # as if training had been killed
    models = views.load_models(tmp_path, warm_up=False)
    status = views.status_markdown(models)
    assert "**SimpleRNN, LSTM**" in status and "**GRU is not loaded**" in status
    assert "has no manifest" in models.failures["gru"]  # the reason, for the server log
    # The banner is public: the folder by its name, a general reason, no path.
    assert str(tmp_path) not in status and "manifest" not in status and "server log" in status
    assert f"python -m sentiment train --output {tmp_path.name}" in status
    reliability.record(
        "app: what the page shows",
        "a model that failed to load (no manifest), in an artifacts folder given by its absolute path",
        "the banner names the model and the folder's name, a general reason and the train command; no server path, "
        "no raw reason (both go to the server log)",
        f"banner: {status.splitlines()[-3].strip()!r}; server path in the banner: {str(tmp_path) in status}",
    )
    _, results, trajectory, *token_views, _ = views.run_comparison(models, "good film")
    assert results["data"][2][2] == "not loaded" and {row[0] for row in trajectory["data"]} == {"SimpleRNN", "LSTM"}
    assert token_views[2] is None and token_views[0]


@pytest.mark.parametrize("text", ["good film", "", "qwerty " * 3])
def test_compare_answers_are_what_the_components_make_of_dataframes(tiny_artifacts, text):
    """The compare answer skips the DataFrames; what the page receives must not change."""
    models = views.load_models(tiny_artifacts, warm_up=False)
    comparison = views.compare(models, text)
    with gr.Blocks():
        _, _, (_, results_view, trajectory_view, *_) = layout._compare_tab([])
    _, results, trajectory, *_ = views._comparison_outputs(models, comparison)
    expected = results_view.postprocess(views.results_frame(models, comparison)).model_dump()
    assert results_view.postprocess(results).model_dump() == expected
    expected = trajectory_view.postprocess(views.trajectory_frame(comparison)).model_dump()
    made = trajectory_view.postprocess(trajectory)
    assert {key: value for key, value in made.items() if key != "data"} == {
        key: value for key, value in expected.items() if key != "data"
    }
    assert (
        len(made["data"]) == len(expected["data"]) == 3 * len(comparison.results["lstm"].reading.trajectory)
        if text
        else not made["data"]
    )
    for row, expected_row in zip(made["data"], expected["data"]):
        assert row[:3] == expected_row[:3] and row[3] == pytest.approx(expected_row[3], abs=1e-6)


def test_concurrency_and_queue_are_bounded_and_model_endpoints_batched(tiny_artifacts):
    demo = layout.build_app(views.load_models(tiny_artifacts, warm_up=False))
    assert demo._queue.max_size == layout.QUEUE_SIZE and demo.api_open is False  # every call waits in the queue
    assert demo.delete_cache == (layout.CACHE_CHECK_SECONDS, layout.CACHE_MAX_AGE_SECONDS)  # heatmaps expire
    functions = {fn.api_name: fn for fn in demo.fns.values()}
    assert functions["compare"].concurrency_limit == layout.COMPARE_CONCURRENCY == 1
    for name, batch in (
        ("compare", layout.MAX_BATCH_SIZE),
        ("decision", layout.HEAVY_BATCH_SIZE),
        ("inside", layout.HEAVY_BATCH_SIZE),
    ):
        assert (
            functions[name].batch
            and functions[name].max_batch_size == batch
            and functions[name].concurrency_id == layout.MODELS_CONCURRENCY_ID
        )
    unbatched = layout.build_app(views.load_models(tiny_artifacts, warm_up=False), max_batch_size=1, queue_size=4)
    assert unbatched._queue.max_size == 4 and all(fn.max_batch_size == 1 for fn in unbatched.fns.values() if fn.batch)


# --- In a real browser ----------------------------------------------------------


@pytest.fixture
def sync_playwright():
    """The Playwright client, or a skip (a failure under CI=true) naming what is missing."""
    try:
        from playwright.sync_api import sync_playwright as client
    except ImportError:
        client = None
    missing = "the playwright Python client is not installed" if client is None else None
    if missing is None and not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}; CI=true requires the browser test to run")
        pytest.skip(missing)
    return client


def _table_rows(page, selector: str):
    """A Gradio Dataframe's data rows (ARIA rows holding grid cells, not the header)."""
    return page.locator(f"{selector} [role=row]").filter(has=page.get_by_role("gridcell"))


def _screenshot_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR", tmp_path / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_browser_compares_a_review_and_draws_the_plots(sync_playwright, app_url, tmp_path):
    screenshots = _screenshot_folder(tmp_path)
    review = '<img src=x onerror="window.__injected = 1"><b>The movie was wonderful</b> and the plot was good'
    with (
        sync_playwright() as playwright,
        app_page(playwright, app_url, tmp_path / "profile", timeout_ms=30_000) as page,
    ):
        button = page.get_by_role("button", name="Compare the three models")
        button.wait_for()
        assert page.locator("#trajectory .vega-embed").count() == 0  # nothing drawn before the click

        page.locator("#review textarea").fill(review)
        button.click()
        rows = _table_rows(page, "#results")
        rows.nth(2).wait_for()
        assert rows.count() == 3
        for index, name in enumerate(MODEL_NAMES):
            cells = rows.nth(index).get_by_role("gridcell").all_inner_texts()
            assert cells[0].strip() == name and cells[2].strip() in ("positive", "negative")
            assert 0 <= float(cells[1]) <= 1 and float(cells[3]) > 0
        lines = page.locator("#trajectory .mark-line.role-mark path")
        lines.nth(2).wait_for()
        assert lines.count() == 3  # one line per model
        assert page.locator("#tokens-lstm").get_by_text("wonderful", exact=True).count() == 1

        # The review's HTML is text: nothing ran, nothing was rendered as markup.
        assert page.evaluate("window.__injected") is None
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("#review textarea").input_value() == review
        page.screenshot(path=str(screenshots / "compare.png"), full_page=True)

        page.get_by_role("tab", name="Accuracy by review length").click()
        length_lines = page.locator("#accuracy-by-length .mark-line.role-mark path")
        # Attached, not visible: the tiny test set fills one length bucket, a line of one point.
        length_lines.nth(3).wait_for(state="attached")
        assert length_lines.count() == 4  # three models and the reference
        assert "0-99" in page.locator("#accuracy-by-length .role-axis-label text").first.text_content()
        assert _table_rows(page, "#overall").count() == 4  # three cells and the reference
        page.screenshot(path=str(screenshots / "accuracy_by_length.png"), full_page=True)

        # Inside the cell: filled at start with the first example, then with the typed review.
        page.get_by_role("tab", name="Inside the cell").click()
        _assert_inside_drawn(page)
        page.get_by_role("button", name="Inside the cell for the review in the Compare tab").click()
        page.wait_for_timeout(3000)  # the handler answers within a second; an error would show as a toast
        assert page.locator(".toast-body.error").count() == 0
        _assert_inside_drawn(page)
        assert "shipped in docs/" in page.locator("#inside-test-set-source").inner_text()
        page.screenshot(path=str(screenshots / "inside.png"), full_page=True)

        page.get_by_role("tab", name="Training curves").click()
        for metric in ("accuracy", "loss"):
            curve_lines = page.locator(f"#curves-{metric} .mark-line.role-mark path")
            curve_lines.nth(5).wait_for(state="attached")
            assert curve_lines.count() == 6  # train and validation for three models

        # Every panel of the thesis tab has data on a fresh checkout: the shipped results.
        page.get_by_role("tab", name="Why gates matter").click()
        for plot, lines in GATE_PLOT_LINES.items():
            drawn = page.locator(f"#{plot} .mark-line.role-mark path")
            drawn.nth(lines - 1).wait_for(state="attached")
            assert drawn.count() >= lines, plot
        for note in ("jacobian-source", "distance-source", "decision-source"):
            assert "shipped in docs/" in page.locator(f"#{note}").inner_text(), note
        # The review typed in the Compare tab drives the per-review decision plot.
        page.get_by_role(
            "button", name="What each model's decision on the review in the Compare tab depends on"
        ).click()
        page.locator("#decision-review .mark-line.role-mark path").nth(2).wait_for(state="attached")
        page.screenshot(path=str(screenshots / "why_gates.png"), full_page=True)
    assert (screenshots / "compare.png").stat().st_size > 10_000


def _assert_inside_drawn(page) -> None:
    for cell in ("simple_rnn", "lstm", "gru"):
        image = page.locator(f"#inside-heatmap-{cell} img")
        image.first.wait_for(state="attached")
        assert page.evaluate(f"() => document.querySelector('#inside-heatmap-{cell} img').naturalWidth") > 100
    for plot, lines in INSIDE_PLOT_LINES.items():
        drawn = page.locator(f"#{plot} .mark-line.role-mark path")
        drawn.nth(lines - 1).wait_for(state="attached")
        assert drawn.count() >= lines, plot


def test_inside_endpoint_answers_with_every_models_gates(client):
    notice, *outputs = client.predict("the movie was great", api_name="/inside")
    assert notice == "" and len(outputs) == 4 * 3 + 1
    for index in range(3):  # SimpleRNN, LSTM, GRU
        heatmap, means, unit, note = outputs[4 * index : 4 * index + 4]
        assert heatmap and Path(heatmap).stat().st_size > 1000  # the image, as a file the client fetched
        assert {row[2] for row in means["data"]} >= {"P(positive)"} and len(means["data"]) >= 4
        assert note.startswith(("SimpleRNN", "LSTM", "GRU"))
    lstm_series = {row[2] for row in outputs[5]["data"]}
    assert lstm_series == {
        "input gate (mean over units)",
        "forget gate (mean over units)",
        "output gate (mean over units)",
        "P(positive)",
    }
    assert len(outputs[-1]["data"]) == 4  # SimpleRNN saturation, a point per word
    notice, *outputs = client.predict("   ", api_name="/inside")
    assert notice == views.EMPTY_REVIEW_MESSAGE


def test_decision_endpoint_plots_each_models_gradient_shares_for_the_review(client):
    notice, plot = client.predict("the movie was great", api_name="/decision")
    assert notice.startswith("**What it shows.** On this review, each decision depends most on one word")
    points = plot_checks.rows(plot)
    assert {point["model"] for point in points} == set(MODEL_NAMES)
    lstm = [point for point in points if point["model"] == "LSTM"]
    assert [point["steps before the end"] for point in lstm] == [0, 1, 2, 3]
    assert [point["word"] for point in lstm] == ["great", "was", "movie", "the"]
    assert sum(10 ** point["log10 share"] for point in lstm) == pytest.approx(1.0, rel=1e-4)
    notice, plot = client.predict("   ", api_name="/decision")
    assert notice == views.EMPTY_REVIEW_MESSAGE and plot_checks.rows(plot) == []


def test_why_gates_endpoint_serves_every_shipped_result(client):
    from webapp import findings, thesis_views

    served = client.predict(api_name="/why_gates")
    assert len(served) == 20  # panels 1 to 5, then "What came next": its summary, two findings and two plots
    jacobian, recall, adding, distance, decisions, example = (served[i] for i in (1, 3, 8, 10, 12, 14))
    long_range, _ = thesis_views.load_results("long_range")
    expected = {
        "jacobian": (jacobian, thesis_views.jacobian_frame(long_range)[0]),
        "recall": (recall, thesis_views.recall_frame(long_range)),
        "adding": (adding, thesis_views.adding_frame(long_range)[0]),
        "distance": (distance, thesis_views.distance_frame(thesis_views.load_results("distance")[0])),
        "decisions": (decisions, thesis_views.decision_frame(thesis_views.load_results("gradients")[0])),
    }
    for name, (plot, frame) in expected.items():
        assert len(frame) > 0, f"{name}: the shipped results are missing from docs/"
        points = plot_checks.rows(plot)
        assert len(points) == len(frame) and set(points[0]) == set(frame.columns), name
    # Each finding is computed from the data of the plot below it.
    assert served[2] == findings.finding_markdown(findings.recall_finding(thesis_views.recall_frame(long_range)))
    assert served[4].startswith("**Why does the SimpleRNN solve T = ")  # the surprise, explained in place
    assert {point["model"] for point in plot_checks.rows(example)} == set(MODEL_NAMES)  # the first example, at start


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--max-batch-size", "0", "expected at least 1, got 0"),
        ("--queue-size", "many", "expected a whole number, got 'many'"),
    ],
)
def test_bad_batch_and_queue_sizes_are_clear_errors(capsys, flag, value, message):
    with pytest.raises(SystemExit) as raised:
        server.parse_arguments([flag, value], environment={})
    assert raised.value.code == 2 and message in capsys.readouterr().err


def test_the_load_test_reports_the_pair_with_the_median_ratio(monkeypatch, tmp_path):
    """Alternating before/after pairs (benchmarks/load_test.py), without starting apps.

    The phases are stand-ins here.
    """
    rates = iter([10.0, 40.0, 10.0, 60.0, 20.0, 60.0])  # pairs: 4.0x, 6.0x, 3.0x
    order = []

    def phase(function, artifacts, app_arguments, *rest):
        order.append(app_arguments[1])
        rate = next(rates)
        return {"answered_per_second": rate, "answered_ms": {"p50": 1.0, "p95": 2.0, "max": 3.0}}

    monkeypatch.setattr(load_test, "_in_fresh_process", phase)
    result = load_test.load_test(tmp_path, 2, 4, tmp_path / "logs", pairs=3)
    assert order == ["1", "64"] * 3  # before, after, alternating
    assert [pair["speedup"] for pair in result["pairs"]] == [4.0, 6.0, 3.0]
    assert (
        result["median_pair"] == 1
        and result["speedup"] == 4.0
        and result["runs"]["after"]["answered_per_second"] == 40.0
    )


def test_the_load_test_measures_the_unbatched_app_when_the_before_ref_cannot_read_the_artifacts(
    monkeypatch, tmp_path, reliability
):
    """`--before-ref f047400`, as the docs write it, on artifacts its app cannot read: this app, unbatched, instead."""
    calls = []

    def phase(function, artifacts, app_arguments, *rest):
        root = rest[-1]
        calls.append((root, app_arguments))
        if root != load_test.ROOT:
            raise load_test.UnreadableArtifacts("answers 'not loaded'")
        return {"answered_per_second": 10.0 if app_arguments[1] == "1" else 50.0, "answered_ms": None}

    removed = []
    monkeypatch.setattr(load_test, "_in_fresh_process", phase)
    monkeypatch.setattr(load_test, "checkout", lambda reference, folder: tmp_path / "worktree")
    monkeypatch.setattr(load_test.subprocess, "run", lambda command, **_: removed.append(command))
    result = load_test.load_test(tmp_path, 2, 4, tmp_path / "logs", before_ref="f047400", pairs=1)
    before = result["runs"]["before"]
    assert calls == [
        (tmp_path / "worktree", []),
        (load_test.ROOT, load_test.CONFIGURATIONS["before"][1]),
        (load_test.ROOT, load_test.CONFIGURATIONS["after"][1]),
    ]
    assert "cannot read" in before["description"] and result["speedup"] == 5.0
    assert removed and str(tmp_path / "worktree") in removed[0]  # the worktree, never this checkout
    reliability.record(
        "app: load (benchmarks/load_test.py)",
        "`--before-ref f047400` (as documented) with artifacts the app of that commit cannot read (stand-in phases)",
        "the run says so and measures this app with --max-batch-size 1 --queue-size 32 as 'before'; the worktree "
        "is removed",
        f"before: {before['description']!r}; ratio {result['speedup']}x",
    )
