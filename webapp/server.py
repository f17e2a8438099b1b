"""Starts the comparison app: arguments, login, exposure, and the server itself.

    python app.py [--artifacts artifacts] [--port 7860] [--expose] [--auth USER:PASSWORD]
                  [--max-batch-size 64] [--queue-size 256]

It listens on 127.0.0.1 only, unless told otherwise with `--expose` (every
interface) or `--host`; basic auth comes from `--auth` or the environment
variable SENTIMENT_APP_AUTH (better: not shown in the process list). The
page itself is laid out in `webapp.layout`.

What strangers can send is bounded here (`RequestGuard`): request bodies,
uploads, routes without a login, login attempts, and payloads that would
fail the batch they join. What the app writes (the inside view's heatmaps)
goes to a folder of its own, removed when it stops (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import time

# Before TensorFlow loads (through webapp.views): keep its C++ start-up chatter out of the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from webapp import views  # noqa: E402
from webapp.layout import MAX_BATCH_SIZE, QUEUE_SIZE, build_app  # noqa: E402

AUTH_ENVIRONMENT_VARIABLE = "SENTIMENT_APP_AUTH"


LOOPBACK_HOST = "127.0.0.1"


EVERY_INTERFACE = "0.0.0.0"


def parse_auth(value: str) -> tuple[str, str]:
    """ "USER:PASSWORD" -> (user, password); the password may itself contain ":".

    Raises:
        argparse.ArgumentTypeError: no colon, or an empty user or password.
    """
    user, colon, password = value.partition(":")
    if not colon or not user.strip() or not password:
        raise argparse.ArgumentTypeError(
            "expected USER:PASSWORD with a non-empty user and password (for example alice:s3cret)"
        )
    return user, password


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def parse_arguments(argv: list[str] | None = None, environment: dict[str, str] | None = None) -> argparse.Namespace:
    """The command line, with `auth` filled from SENTIMENT_APP_AUTH when `--auth` is absent."""
    environment = os.environ if environment is None else environment
    parser = argparse.ArgumentParser(
        prog="app.py", description="Compare the SimpleRNN, LSTM and GRU sentiment models in the browser."
    )
    parser.add_argument(
        "--artifacts",
        default=views.DEFAULT_ARTIFACTS,
        help="artifacts folder written by `python -m sentiment train` (default: artifacts)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--expose",
        action="store_true",
        help=f"listen on every interface ({EVERY_INTERFACE}), reachable from the network; pair it with --auth",
    )
    where.add_argument(
        "--host", default=LOOPBACK_HOST, help=f"one address to listen on (default: {LOOPBACK_HOST}, this machine only)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.add_argument(
        "--max-batch-size",
        type=_positive,
        default=MAX_BATCH_SIZE,
        help=f"most compare requests scored together in one forward pass (default: {MAX_BATCH_SIZE}; 1 scores one "
        "review at a time)",
    )
    parser.add_argument(
        "--queue-size",
        type=_positive,
        default=QUEUE_SIZE,
        help=f"most requests waiting; beyond it a request is refused at once (default: {QUEUE_SIZE})",
    )
    parser.add_argument(
        "--auth",
        type=parse_auth,
        default=None,
        metavar="USER:PASSWORD",
        help=f"require this user and password (basic login); or set {AUTH_ENVIRONMENT_VARIABLE}=USER:PASSWORD, which "
        "keeps it out of the process list",
    )
    arguments = parser.parse_args(argv)
    if arguments.expose:
        arguments.host = EVERY_INTERFACE
    if arguments.auth is None and environment.get(AUTH_ENVIRONMENT_VARIABLE):
        try:
            arguments.auth = parse_auth(environment[AUTH_ENVIRONMENT_VARIABLE])
        except argparse.ArgumentTypeError as error:
            parser.error(f"{AUTH_ENVIRONMENT_VARIABLE}: {error}")
    return arguments


def exposure_warning(arguments: argparse.Namespace) -> str | None:
    """A warning when the app is reachable beyond this machine without a login."""
    if arguments.auth is None and arguments.host not in (LOOPBACK_HOST, "localhost", "::1"):
        return (
            f"warning: listening on {arguments.host} without a login: anyone who can reach this port can use the app; "
            f"add --auth USER:PASSWORD or set {AUTH_ENVIRONMENT_VARIABLE}"
        )
    return None


# Full collections of the app's start-up objects stalled every request under load:
# docs/LOAD_TEST.md, "Garbage collection", has the measurements and the fix.
FULL_COLLECTION_THRESHOLD = 100


def freeze_startup_objects() -> None:
    """Moves every object alive into the collector's permanent generation; spaces out full collections.

    Called once the server is up, so what it loaded is kept but never walked
    again. Garbage that requests make is collected as before: the young
    generations keep their thresholds.
    """
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_THRESHOLD)


# --- What reaches Gradio ------------------------------------------------------
#
# Gradio's own routes take any body, any file and, for a batched endpoint, any
# payload into the batch. These bounds sit in front of them (`RequestGuard`).

# The largest request body read. A review is cut to 20,000 characters anyway;
# a 1 MB review (JSON-escaped) still fits, a 100 MB body is refused with a 413
# before it is read.
MAX_BODY_BYTES = 2 * 2**20
# The app has no upload component: these routes only store what strangers send.
NO_UPLOAD_PATHS = ("/gradio_api/upload", "/gradio_api/process_recording", "/gradio_api/stream/")
# What an anonymous browser needs to show the login page and log in; with
# `--auth` every other route answers 401 here (Gradio leaves a few open).
LOGIN_PAGE_PATHS = {
    "/",
    "/login",
    "/login/",
    "/logout",
    "/config",
    "/config/",
    "/favicon.ico",
    "/robots.txt",
    "/manifest.json",
    "/theme.css",
    "/gradio_api/theme.css",
    "/gradio_api/login_check",
    "/gradio_api/login_check/",
    "/gradio_api/startup-events",  # called by launch itself, without a login; it only starts the queue once
}
LOGIN_PAGE_PREFIXES = ("/assets/", "/static/", "/svelte/")
# Routes that put a payload in the queue, where one malformed payload would
# fail every request batched with it (Gradio zips the batch's payloads).
JOIN_PATH = "/gradio_api/queue/join"
CALL_PREFIXES = ("/gradio_api/call/v2/", "/gradio_api/call/")
# Login: the first failures from an address are answered at once, each later
# one after a pause; this many within the window lock the address out.
FREE_LOGIN_FAILURES = 3
LOGIN_DELAY_SECONDS = 1.0
LOCKOUT_FAILURES = 10
LOCKOUT_WINDOW_SECONDS = 300.0


class LoginThrottle:
    """Failed logins per client address within a window: slows them, then locks the address out.

    Every attempt counts as a failure from the moment it arrives (so a burst
    sent at once is counted at once) until it succeeds, which clears the
    address. Keyed by the client's address as the server sees it: behind a
    proxy that is the proxy's.
    """

    def __init__(
        self,
        free: int = FREE_LOGIN_FAILURES,
        delay_seconds: float = LOGIN_DELAY_SECONDS,
        lockout: int = LOCKOUT_FAILURES,
        window_seconds: float = LOCKOUT_WINDOW_SECONDS,
        clock=time.monotonic,
    ):
        self.free, self.delay_seconds, self.lockout, self.window_seconds = free, delay_seconds, lockout, window_seconds
        self.clock = clock
        self.failures: dict[str, list[float]] = {}

    def attempt(self, client: str) -> float | None:
        """Records an attempt; the seconds to wait before checking it, or None when the address is locked out."""
        now = self.clock()
        recent = [moment for moment in self.failures.get(client, []) if now - moment < self.window_seconds]
        if len(recent) >= self.lockout:
            self.failures[client] = recent
            return None
        self.failures[client] = [*recent, now]
        return self.delay_seconds if len(recent) >= self.free else 0.0

    def retry_after(self, client: str) -> int:
        """Whole seconds until the oldest failure in the window ages out."""
        oldest = min(self.failures.get(client) or [self.clock()])
        return max(1, int(self.window_seconds - (self.clock() - oldest)) + 1)

    def succeeded(self, client: str) -> None:
        self.failures.pop(client, None)


def payload_problem(fn, data) -> str | None:
    """Why `data` is not a payload `fn` (a Gradio BlockFunction) takes, or None.

    One value per input; a text box takes a string (or null); no input takes
    a file (the app has no upload, and a FileData payload names a server path).
    """
    import gradio as gr

    if not isinstance(data, list) or len(data) != len(fn.inputs):
        shape = f"a list of {len(data)}" if isinstance(data, list) else type(data).__name__
        return f'"data" must be a list of {len(fn.inputs)} value(s), one per input; got {shape}'
    for index, (component, value) in enumerate(zip(fn.inputs, data)):
        if isinstance(value, dict) and ("path" in value or "meta" in value or "url" in value):
            return f"input {index} is a file; this app takes no files"
        if isinstance(component, gr.Textbox) and value is not None and not isinstance(value, str):
            return f"input {index} must be text (a JSON string); got {type(value).__name__}"
    return None


class RequestGuard:
    """ASGI middleware in front of Gradio's routes: bounded bodies, no uploads, the login, payloads checked.

    - a body over `max_body_bytes` is refused with 413, before (or as soon as)
      that much is read;
    - the upload routes answer 404: the app has no upload component;
    - with a login, anonymous requests reach only what the login page needs
      (401 elsewhere), and `/login` is throttled (`LoginThrottle`, 429 when
      locked out);
    - a payload joining the queue must fit its endpoint (`payload_problem`),
      else 422 with the reason: a batch is zipped from its requests'
      payloads, so one malformed payload (`"data": []`, a file, a number)
      would fail every request batched with it.
    """

    def __init__(self, app, max_body_bytes: int = MAX_BODY_BYTES, logins: LoginThrottle | None = None):
        self.app, self.max_body_bytes = app, max_body_bytes
        self.logins = logins or LoginThrottle()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, gradio_app = scope["path"], scope["app"]
        if path.startswith(NO_UPLOAD_PATHS):
            return await _answer(send, 404, "This app takes no uploads.")
        if _login_required(gradio_app) and not _public(path) and not _logged_in(scope, gradio_app):
            return await _answer(send, 401, "Not authenticated: log in first.")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return await _answer(send, 413, f"The request body is over {self.max_body_bytes:,} bytes.")
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        body = await _read_body(receive, self.max_body_bytes)
        if body is None:
            return await _answer(send, 413, f"The request body is over {self.max_body_bytes:,} bytes.")
        problem = _queued_payload_problem(path, body, gradio_app)
        if problem:
            return await _answer(send, 422, problem)
        replay = _replaying(body, receive)
        if path.rstrip("/") == "/login" and _login_required(gradio_app):
            return await self._login(scope, replay, send)
        return await self.app(scope, replay, send)

    async def _login(self, scope, receive, send):
        client = (scope.get("client") or ("unknown",))[0]
        delay = self.logins.attempt(client)
        if delay is None:
            retry = self.logins.retry_after(client)
            return await _answer(
                send, 429, f"Too many failed logins; try again in {retry} s.", [(b"retry-after", str(retry).encode())]
            )
        if delay:
            await asyncio.sleep(delay)

        async def watched(message):
            if message["type"] == "http.response.start" and message["status"] == 200:
                self.logins.succeeded(client)
            await send(message)

        await self.app(scope, receive, watched)


def _login_required(gradio_app) -> bool:
    return getattr(gradio_app, "auth", None) is not None


def _public(path: str) -> bool:
    return path in LOGIN_PAGE_PATHS or path.startswith(LOGIN_PAGE_PREFIXES)


def _logged_in(scope, gradio_app) -> bool:
    from starlette.requests import HTTPConnection

    cookies = HTTPConnection(scope).cookies
    cookie_id = getattr(gradio_app, "cookie_id", "")
    tokens = getattr(gradio_app, "tokens", {})
    return any(
        cookies.get(name) in tokens for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}")
    )


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is over `limit` bytes (the rest is never read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive):
    """A `receive` that gives the body already read, then waits on the client (for a disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _queued_payload_problem(path: str, body: bytes, gradio_app) -> str | None:
    """Why a body sent to the queue does not fit its endpoint, or None (also for what Gradio refuses itself)."""
    route = path.rstrip("/").split("/")[2:]  # "/gradio_api/call/v2/compare" -> ["call", "v2", "compare"]
    if route != ["queue", "join"] and route[:1] != ["call"] or len(route) == 3 and route[1] != "v2" or len(route) > 3:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None  # not JSON: Gradio answers 400 itself
    if not isinstance(payload, dict):
        return "the body must be a JSON object"
    fns = gradio_app.get_blocks().fns
    if route == ["queue", "join"]:
        index = payload.get("fn_index")
        fn = fns.get(index) if isinstance(index, int) and not isinstance(index, bool) else None
        if fn is None:
            return f"no endpoint has fn_index {index!r}"
        return payload_problem(fn, payload.get("data"))
    fn = next((fn for fn in fns.values() if fn.api_name == route[-1]), None)
    if fn is None:
        return None  # Gradio answers an unknown name itself
    if len(route) == 3:  # /call/v2/<name>: the arguments by name
        return payload_problem(fn, [value for key, value in payload.items() if key != "oauth_token"])
    return payload_problem(fn, payload.get("data"))


async def _answer(send, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


# The app takes no file: if a route it does not know takes one, Gradio's own bound keeps it small.
MAX_FILE_BYTES = 1024


def private_temp_folder() -> str:
    """A new folder for what Gradio writes (GRADIO_TEMP_DIR, inside the one set if any), removed when the app stops."""
    parent = os.environ.get("GRADIO_TEMP_DIR") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="sentiment-app-", dir=parent)
    os.environ["GRADIO_TEMP_DIR"] = folder  # read by Gradio's components as they are built
    return folder


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    warning = exposure_warning(arguments)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    # SIGTERM stops the app as Ctrl-C does: the server shuts down and its files are deleted.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    temp_folder = private_temp_folder()
    try:
        print(f"loading models from {os.path.abspath(arguments.artifacts)}", flush=True)
        models = views.load_models(arguments.artifacts)
        # The page names the folder only; the reasons, with their paths, are for the operator.
        for cell_type, reason in models.failures.items():
            print(f"{views.model_name(cell_type)} not loaded: {reason}", file=sys.stderr, flush=True)
        if models.failures:
            print(f"to train what is missing: {views.train_command(arguments.artifacts)}", file=sys.stderr, flush=True)
        app = build_app(models, max_batch_size=arguments.max_batch_size, queue_size=arguments.queue_size)
        from starlette.middleware import Middleware

        app.launch(
            server_name=arguments.host,
            server_port=arguments.port,
            auth=arguments.auth,
            ssr_mode=False,
            footer_links=["api", "gradio", "settings"],
            run_history=False,  # reviews stay out of the browser's storage
            max_file_size=MAX_FILE_BYTES,
            app_kwargs={"middleware": [Middleware(RequestGuard)]},
            prevent_thread_lock=True,  # returns once it serves, to freeze what it loaded
        )
        freeze_startup_objects()
        app.block_thread()  # what launch does itself without prevent_thread_lock: serve until interrupted
    except KeyboardInterrupt:
        pass  # interrupted before the server was up
    finally:
        shutil.rmtree(temp_folder, ignore_errors=True)
