"""The playground: a learner's own long-range runs, trained live beside the app.

A learner picks a task (the adding problem or variable-lag recall), a length
T, the cells and their initialization (the long-range suite's variants),
the units and a seed. That is a `LongRangeConfig` of one task, one T and one
seed (`Settings.long_range_config`), and each cell trains through the
suite's own `longrange.run_one`, as `python -m sentiment long-range` with
the same flags would (`Settings.command` writes them): the same data,
initial weights, training step, held-out set and state Jacobians. Its
evaluations come back as they are made (`on_evaluation`), so the curves
can be drawn while they grow.

Where the training runs, and why. Each cell trains in a process of its
own (`python -m sentiment.analysis.playground`, one job on stdin, one JSON
line per evaluation on stdout), with TensorFlow on one thread and a lower
CPU priority (nice 10), the setting of the suite's own parallel workers
(`sentiment.analysis.parallel`):

- the app keeps answering: its compare action runs in the app's process,
  which the scheduler serves first; training in the app's own threads
  would share its TensorFlow thread pools and Python's lock with every
  request;
- a cell's result does not depend on what trains beside it: Keras draws
  initial weights from a process-wide seed, so two cells built at once in
  one process would get each other's draws;
- Stop is a signal: the processes end at once, whatever they are doing
  (compiling, taking a Jacobian), and nothing of them stays in the app.

Loading TensorFlow takes a process several seconds, so between runs
`Limits.spare_processes` processes are kept started, TensorFlow loaded,
waiting for a job: the next run's cells start at once.

A run's cells train side by side, and at most `Limits.max_running` runs at
once; the others wait in order and each watcher is told its place. A
run's settings fix its result (the data and the weights come from the
seed), so a finished run is kept (`Limits.max_cached` of them) and a run
with the same settings is replayed from it; one with the same settings as
a run waiting or training joins it. A run ends when each cell has solved
its task, spent its budget (`Limits.max_updates`) or reached the time cap
(`Limits.max_seconds`: its trained Jacobian is still taken, within
`Limits.grace_seconds`); when everyone watching it has stopped or left; or,
for a cell whose process fails, with that cell marked failed and the
others going on.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import queue
import re
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sentiment.config import LongRangeConfig
from sentiment.report import model_name

# The tasks and the cells a learner picks from: the suite's, the plain RNN
# (Keras's and the IRNN) and the two gated cells with each initialization.
TASK_NAMES = {"adding": "the adding problem", "recall": "variable-lag recall"}
CELLS = ("simple_rnn", "irnn", "lstm", "lstm+chrono", "gru", "gru+chrono")
MIN_LENGTH, MAX_LENGTH = 10, 200
MIN_UNITS, MAX_UNITS = 2, 64
MAX_SEED = 999_999
DEFAULT_TASK = "adding"
DEFAULT_LENGTH = 50
DEFAULT_VARIANTS = ("simple_rnn", "lstm", "gru")
# The suite's width, so a learner's run can be read beside docs/long_range.
DEFAULT_UNITS = 32
DEFAULT_SEED = 0
# A training process's CPU priority: below the app's, which answers requests.
NICENESS = 10
# How often a run's coordinator looks at its processes and its watchers (seconds).
POLL_SECONDS = 0.1
# How long a stopped process gets to exit before it is killed (seconds).
TERMINATE_SECONDS = 0.4
# A process that exited without its result has failed once this many seconds passed without it.
LAST_WORDS_SECONDS = 1.0
# The most characters of a sent value a message repeats.
SHOWN_CHARACTERS = 40

# A cell's state: before it reports, while it trains, and how it ended.
WAITING, STARTING, TRAINING = "waiting", "starting", "training"
SOLVED, BUDGET, TIME_CAP, DIVERGED, STOPPED, FAILED = "solved", "budget", "time cap", "diverged", "stopped", "failed"
CELL_ENDS = (SOLVED, BUDGET, TIME_CAP, DIVERGED, STOPPED, FAILED)
# A run's status.
FINISHED = "finished"
RUN_ENDS = (FINISHED, STOPPED, FAILED)


@dataclass(frozen=True)
class Limits:
    """What one app lets its playground do.

    Attributes:
        max_updates: the most updates a cell gets; the suite's budget
            (recall 5,000, adding 10,000) where that is lower.
        max_seconds: a run's time cap, from the moment its processes start:
            every cell still training then stops where it is.
        grace_seconds: after the time cap, the time left for the trained
            Jacobians; a process still busy then is ended and marked failed.
        eval_interval: updates between two points of a curve.
        test_sequences: held-out sequences (the suite's).
        jacobian_sequences: random sequences the state Jacobians average
            over (the suite's 256 would take longer than the training).
        max_running: runs that train at once; each has a process per cell.
        max_waiting: runs that may wait for their turn; more are refused.
        max_cached: finished runs kept for replay (the least recently used go).
        spare_processes: training processes kept started (TensorFlow
            loaded) while no run trains, so the next run's cells start at
            once; 0 starts every process when its run starts.
        watch_timeout_seconds: a watcher not heard from for this long has
            left; a run nobody watches is stopped.
    """

    max_updates: int = 10_000
    max_seconds: float = 150.0
    grace_seconds: float = 60.0
    eval_interval: int = 100
    test_sequences: int = 1000
    jacobian_sequences: int = 64
    max_running: int = 1
    max_waiting: int = 16
    max_cached: int = 128
    spare_processes: int = len(DEFAULT_VARIANTS)
    watch_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_updates", "eval_interval", "test_sequences", "jacobian_sequences", "max_running"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("max_waiting", "max_cached", "spare_processes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)!r}")
        for name in ("max_seconds", "grace_seconds", "watch_timeout_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class Settings:
    """A playground run as the learner set it; `read_settings` makes one from what a request sent.

    Attributes:
        task: "adding" or "recall" (`TASK_NAMES`).
        length: T, from `MIN_LENGTH` to `MAX_LENGTH`.
        variants: keys of `CELLS` (the suite's `VARIANTS`), in that order
            (`key` and the plots use it).
        units: recurrent units of every cell.
        seed: fixes the initial weights and, with the task and T, the data.
    """

    task: str = DEFAULT_TASK
    length: int = DEFAULT_LENGTH
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    units: int = DEFAULT_UNITS
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:
            raise ValueError(f"unknown task {self.task!r}; choose from {', '.join(TASK_NAMES)}")
        for name, low, high in (
            ("length", MIN_LENGTH, MAX_LENGTH),
            ("units", MIN_UNITS, MAX_UNITS),
            ("seed", 0, MAX_SEED),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
        if not self.variants:
            raise ValueError("pick at least one cell to train")
        unknown = [variant for variant in self.variants if variant not in CELLS]
        if unknown:
            raise ValueError(f"unknown cell {unknown[0]!r}; choose from {', '.join(CELLS)}")
        if list(self.variants) != [variant for variant in CELLS if variant in self.variants]:
            raise ValueError(f"variants must be distinct and in the order {', '.join(CELLS)}, got {self.variants!r}")

    @property
    def key(self) -> tuple:
        """What fixes a run's result: runs with the same key are the same run."""
        return (self.task, self.length, self.variants, self.units, self.seed)

    def long_range_config(self, limits: Limits) -> LongRangeConfig:
        """The suite's config of this run: one task, one T (whose Jacobians it takes), one seed, its cells.

        Everything else is the suite's default (the chrono horizon among
        them: 200 whatever T is), but for the budget, capped at
        `limits.max_updates`, the evaluation interval and the number of
        held-out and Jacobian sequences; no lag-shift diagnostic.
        """
        defaults = LongRangeConfig()
        return LongRangeConfig(
            tasks=(self.task,),
            lengths=(self.length,),
            variants=self.variants,
            seeds=(self.seed,),
            units=self.units,
            recall_updates=min(defaults.recall_updates, limits.max_updates),
            adding_updates=min(defaults.adding_updates, limits.max_updates),
            eval_interval=limits.eval_interval,
            test_sequences=limits.test_sequences,
            jacobian_sequences=limits.jacobian_sequences,
            lag_shift_length=None,
        )

    def command(self, limits: Limits) -> str:
        """The `python -m sentiment long-range` command that trains this run and writes the same curves."""
        return "python -m sentiment long-range " + " ".join(command_flags(self.long_range_config(limits)))


def command_flags(config: LongRangeConfig) -> list[str]:
    """The long-range CLI's flags for every field of `config` that is not its default (`sentiment.cli` syntax)."""
    defaults, flags = LongRangeConfig(), []
    for config_field in dataclasses.fields(config):
        value = getattr(config, config_field.name)
        if value == getattr(defaults, config_field.name):
            continue
        text = "none" if value is None else ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        flags += ["--" + config_field.metadata.get("flag", config_field.name.replace("_", "-")), text]
    return flags


# --- What a request sent ------------------------------------------------------


def shown(value: Any) -> str:
    """A sent value as a message repeats it: valid UTF-8, short, Markdown-escaped, in quotes."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"
    text = "".join(character if character.isprintable() else "?" for character in text)
    return "“" + re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~$&])", r"\\\1", text) + "”"


def _whole_number(value: Any, what: str, low: int, high: int, default: int) -> int:
    """A sent number (or numeric text) as an int within [low, high]; None picks `default`."""
    if value is None:
        return default
    number = value
    if isinstance(number, str):
        try:
            number = float(number.strip())
        except ValueError:
            number = None
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
        raise ValueError(f"{what} must be a whole number from {low:,} to {high:,}; got {shown(value)}.")
    return number


def _task(value: Any) -> str:
    if value is None:
        return DEFAULT_TASK
    for task, name in TASK_NAMES.items():
        if isinstance(value, str) and value.strip().lower() in (task, name, name.removeprefix("the ")):
            return task
    choices = ", ".join(f"“{task}” ({name})" for task, name in TASK_NAMES.items())
    raise ValueError(f"Unknown task {shown(value)}: choose {choices}.")


def _variants(value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_VARIANTS
    chosen = [value] if isinstance(value, str) else value
    if not isinstance(chosen, list | tuple) or len(chosen) > 2 * len(CELLS):
        raise ValueError(f"The cells must be a list of names; got {shown(value)}.")
    names = {model_name(variant).lower(): variant for variant in CELLS} | {variant: variant for variant in CELLS}
    picked = set()
    for item in chosen:
        variant = names.get(item.strip().lower()) if isinstance(item, str) else None
        if variant is None:
            choices = ", ".join(f"“{model_name(variant)}”" for variant in CELLS)
            raise ValueError(f"Unknown cell {shown(item)}: choose among {choices}.")
        picked.add(variant)
    if not picked:
        raise ValueError("Pick at least one cell to train.")
    return tuple(variant for variant in CELLS if variant in picked)


def read_settings(task: Any, length: Any, cells: Any, units: Any, seed: Any) -> Settings:
    """The playground's settings as a request sent them, checked; None picks a setting's default.

    Args:
        task: "adding" or "recall" (or their names, `TASK_NAMES`).
        length: T, a whole number from `MIN_LENGTH` to `MAX_LENGTH`.
        cells: a list of `CELLS` keys or their names ("LSTM (chrono init)").
        units: a whole number from `MIN_UNITS` to `MAX_UNITS`.
        seed: a whole number from 0 to `MAX_SEED`.

    Raises:
        ValueError: a setting that cannot be used, with a sentence a learner
            can act on (Markdown; the value sent is repeated, escaped and short).
    """
    return Settings(
        task=_task(task),
        length=_whole_number(length, "T", MIN_LENGTH, MAX_LENGTH, DEFAULT_LENGTH),
        variants=_variants(cells),
        units=_whole_number(units, "The units", MIN_UNITS, MAX_UNITS, DEFAULT_UNITS),
        seed=_whole_number(seed, "The seed", 0, MAX_SEED, DEFAULT_SEED),
    )


# --- One cell, in its own process -------------------------------------------


def train_cell(job: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> None:
    """Trains one cell of a run through `longrange.run_one`, sending each evaluation as it is made.

    Args:
        job: `settings` and `limits` (their fields), `variant`, and
            `deadline` (time.time() at which training stops: the time cap).
        send: takes each message: {"event": "evaluation", "update", "score"}
            after every evaluation, then {"event": "done", "run": run_one's
            dict, with `time_capped`} or {"event": "failed", "error"}.
    """
    from sentiment.analysis import longrange

    settings = Settings(**{**job["settings"], "variants": tuple(job["settings"]["variants"])})
    config = settings.long_range_config(Limits(**job["limits"]))
    capped = []

    def report(update: int, value: float) -> bool:
        send({"event": "evaluation", "update": int(update), "score": float(value)})
        if time.time() >= job["deadline"]:
            capped.append(update)
            return True
        return False

    try:
        run = longrange.run_one(config, settings.task, settings.length, settings.seed, job["variant"], report)
    except Exception as error:  # noqa: BLE001 - the app says the cell failed and goes on
        traceback.print_exc()
        send({"event": "failed", "error": f"{type(error).__name__}: {error}"})
        return
    send({"event": "done", "run": {**run, "time_capped": bool(capped)}})


def _serve_one_cell() -> None:
    """The training process: one job (JSON) on stdin, one JSON message a line on stdout.

    Everything else that would write to stdout (TensorFlow's C++ logs
    included) goes to stderr, the app's log.
    """
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    from sentiment.analysis.parallel import one_thread

    one_thread()
    text = sys.stdin.read()  # a spare waits here, TensorFlow loaded, for its job
    if not text.strip():
        return  # the app ended it (or itself ended) before it had a job
    job = json.loads(text)

    def send(message: dict[str, Any]) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()  # a parent that has gone makes this fail, which ends the process

    train_cell(job, send)


def start_cell_process() -> subprocess.Popen:
    """Starts a training process (`_serve_one_cell`): it loads TensorFlow, then waits for its job on stdin.

    On the CPU: the cells are small, and each process would otherwise take
    a whole GPU's memory.
    """
    environment = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "CUDA_VISIBLE_DEVICES": "-1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "sentiment.analysis.playground"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=environment,
        text=True,
        encoding="utf-8",
    )


def hand_job(process: subprocess.Popen, job: dict[str, Any]) -> bool:
    """Gives a started process its job; False if it has already gone."""
    try:
        process.stdin.write(json.dumps(job))
        process.stdin.close()
    except (OSError, ValueError):
        return False
    return process.poll() is None


# --- What a watcher sees ------------------------------------------------------


@dataclass(frozen=True)
class CellView:
    """One cell of a run: its held-out curve so far, its state, and at the end `run_one`'s result."""

    variant: str
    updates: tuple[int, ...] = ()
    scores: tuple[float, ...] = ()
    state: str = WAITING
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunView:
    """A run as one watcher sees it now.

    Attributes:
        run: the run's number in its playground (runs of the same settings
            made one after the other have different numbers).
        status: "waiting", "training", or how it ended (`RUN_ENDS`).
        ahead: runs before this one (those training and those waiting
            ahead of it), while it waits.
        seconds: since its processes started (its time so far, or in all).
        replayed: served from the cache, not trained for this watcher.
        watchers: how many watch it (the same settings, started by others too).
        budget: the most updates a cell gets.
        version: grows with every change of the run (`ahead` changes apart).
        finished_at: when it ended (time.time()), or None.
    """

    settings: Settings
    run: int
    status: str
    cells: tuple[CellView, ...]
    budget: int
    max_seconds: float
    max_running: int
    ahead: int = 0
    seconds: float = 0.0
    replayed: bool = False
    watchers: int = 1
    version: int = 0
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in RUN_ENDS


class QueueFull(Exception):
    """The playground's queue is full: the message says so and what to do."""


@dataclass(eq=False)
class _Cell:
    variant: str
    updates: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    state: str = WAITING
    result: dict[str, Any] | None = None

    def view(self) -> CellView:
        return CellView(self.variant, tuple(self.updates), tuple(self.scores), self.state, self.result)


@dataclass(eq=False)
class _Run:
    settings: Settings
    cells: dict[str, _Cell]
    number: int = 0  # tells apart two runs of the same settings (one stopped, then one trained)
    status: str = WAITING
    watchers: set = field(default_factory=set)
    version: int = 0
    started: float | None = None
    ended: float | None = None
    ended_at: float | None = None  # time.time(), for "trained at"
    stop_requested: bool = False


class Watch:
    """One watcher's view of a run (`Playground.watch`): read it with `view()`, end it with `close()`."""

    def __init__(self, playground: Playground, run: _Run | None, session: str | None, replay: RunView | None = None):
        self._playground, self._run, self.session = playground, run, session
        self._final: RunView | None = dataclasses.replace(replay, replayed=True) if replay else None
        self.last_seen = playground.clock()

    def view(self) -> RunView:
        """The run now (the watcher is still here)."""
        with self._playground.lock:
            self.last_seen = self._playground.clock()
            if self._final is not None:
                return self._final
            view = self._playground.view_locked(self._run)
            if view.finished:
                self._final = view
            return view

    def close(self) -> None:
        """The watcher has gone: a run nobody watches any more is stopped."""
        with self._playground.lock:
            self._playground.detach_locked(self)

    def stop_locked(self) -> None:
        """Stopped by its watcher: it sees the run as it is now, ended, and the run loses a watcher."""
        if self._final is None:
            view = self._playground.view_locked(self._run)
            if not view.finished:
                cells = tuple(
                    cell if cell.state in CELL_ENDS else dataclasses.replace(cell, state=STOPPED) for cell in view.cells
                )
                view = dataclasses.replace(view, status=STOPPED, cells=cells, version=view.version + 1)
            self._final = view
        self._playground.detach_locked(self)


class Playground:
    """Trains learners' runs in processes of their own, a few at a time, and replays those already made.

    Thread-safe: the app's requests call `watch`, `stop` and `Watch.view`;
    each training run has a thread that starts its processes, reads what
    they send and ends them.

    Args:
        limits: what a run may take (`Limits`).
        start_process: starts a process that reads a job (JSON) on stdin and
            writes its messages on stdout, one JSON object a line
            (`start_cell_process`; a test passes a stand-in).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        start_process: Callable[[], subprocess.Popen] = start_cell_process,
    ):
        self.limits = limits or Limits()
        self.start_process, self.clock = start_process, time.monotonic
        self.lock = threading.Lock()
        self._waiting: collections.deque[_Run] = collections.deque()
        self._training: list[_Run] = []
        self._cache: collections.OrderedDict[tuple, RunView] = collections.OrderedDict()
        self._sessions: dict[str, Watch] = {}
        self._threads: list[threading.Thread] = []
        self._spares: list[subprocess.Popen] = []
        self._runs_made = 0
        self._closed = False

    # --- What requests call -------------------------------------------------

    def watch(self, settings: Settings, session: str | None = None) -> Watch:
        """Starts watching the run of `settings`: replayed if made before, joined if under way, else queued.

        Args:
            session: the watcher's browser session: a session watches one
                run at a time, and `stop(session)` stops it.

        Raises:
            QueueFull: `Limits.max_waiting` runs already wait.
        """
        with self.lock:
            cached = self._cache.get(settings.key)
            if cached is not None:
                self._cache.move_to_end(settings.key)
                watch = Watch(self, None, session, replay=cached)
            else:
                under_way = (run for run in (*self._training, *self._waiting) if not run.stop_requested)
                run = next((run for run in under_way if run.settings.key == settings.key), None)
                if run is None:
                    self._drop_stale_locked()
                    if len(self._waiting) >= self.limits.max_waiting:
                        raise QueueFull(
                            f"The playground is full: {len(self._waiting)} runs are waiting for their turn. Try again "
                            "in a minute, or press Train with settings someone has already trained (the defaults "
                            "are often replayed at once)."
                        )
                    self._runs_made += 1
                    run = _Run(settings, {variant: _Cell(variant) for variant in settings.variants}, self._runs_made)
                    self._waiting.append(run)
                watch = Watch(self, run, session)
                run.watchers.add(watch)
                run.version += 1
            if session is not None:
                if session in self._sessions:  # after joining: a session that presses Train again keeps its run
                    self.detach_locked(self._sessions[session])
                self._sessions[session] = watch
            self._start_waiting_locked()
            return watch

    def stop(self, session: str | None) -> bool:
        """Stops the run `session` watches, for that session (for all, if no one else watches it).

        Returns:
            Whether there was a run under way to stop.
        """
        with self.lock:
            watch = self._sessions.get(session) if session is not None else None
            if watch is None or watch._final is not None:
                return False
            watch.stop_locked()
            return True

    def close(self) -> None:
        """Stops every run (at the app's exit) and ends every process, spares included."""
        with self.lock:
            self._closed = True
            for run in self._training:
                run.stop_requested = True
            while self._waiting:
                self._end_locked(self._waiting.popleft(), STOPPED)
            threads, spares, self._spares = list(self._threads), self._spares, []
        _end_processes(spares)
        for thread in threads:
            thread.join(timeout=5)

    def _process_for(self, job: dict[str, Any]) -> subprocess.Popen:
        """A process working on `job`: a spare (TensorFlow already loaded) if one is left, else a new one."""
        with self.lock:
            spares, self._spares = self._spares, []
        while spares:
            process = spares.pop(0)
            if hand_job(process, job):
                with self.lock:
                    self._spares = spares + self._spares
                return process
            _end_processes([process])
        process = self.start_process()
        hand_job(process, job)
        return process

    def _start_spares(self) -> None:
        """Tops the spare processes up to `Limits.spare_processes` while no run trains or waits."""
        with self.lock:
            missing = self.limits.spare_processes - len(self._spares)
            if self._closed or self._training or self._waiting or missing <= 0:
                return
        started = [self.start_process() for _ in range(missing)]  # outside the lock: the requests read under it
        with self.lock:
            if not self._closed:
                self._spares += started
                started = []
        _end_processes(started)

    # --- Views and watchers (the caller holds `lock`) ----------------------------

    def view_locked(self, run: _Run) -> RunView:
        budget = run.settings.long_range_config(self.limits).budget(run.settings.task)
        ahead = 0
        if run.status == WAITING and run in self._waiting:
            ahead = len(self._training) + self._waiting.index(run)
        end = run.ended if run.ended is not None else self.clock()
        return RunView(
            settings=run.settings,
            run=run.number,
            status=run.status,
            cells=tuple(cell.view() for cell in run.cells.values()),
            budget=budget,
            max_seconds=self.limits.max_seconds,
            max_running=self.limits.max_running,
            ahead=ahead,
            seconds=0.0 if run.started is None else end - run.started,
            watchers=len(run.watchers),
            version=run.version,
            finished_at=run.ended_at,
        )

    def detach_locked(self, watch: Watch) -> None:
        run = watch._run
        if self._sessions.get(watch.session) is watch:
            del self._sessions[watch.session]
        if run is None or watch not in run.watchers:
            return
        run.watchers.discard(watch)
        run.version += 1
        if not run.watchers and run.status not in RUN_ENDS:
            run.stop_requested = True
            if run in self._waiting:
                self._waiting.remove(run)
                self._end_locked(run, STOPPED)

    def _drop_stale_locked(self) -> None:
        """Detaches watchers not heard from within `watch_timeout_seconds` (their browser has gone)."""
        now = self.clock()
        for run in (*self._training, *self._waiting):
            for watch in list(run.watchers):
                if now - watch.last_seen > self.limits.watch_timeout_seconds:
                    self.detach_locked(watch)

    def _end_locked(self, run: _Run, status: str) -> None:
        run.status, run.ended, run.ended_at = status, self.clock(), time.time()
        for cell in run.cells.values():
            if cell.state not in CELL_ENDS:
                cell.state = STOPPED if status == STOPPED else FAILED
        run.version += 1
        if status == FINISHED and all(cell.state != FAILED for cell in run.cells.values()):
            self._cache[run.settings.key] = self.view_locked(run)
            while len(self._cache) > self.limits.max_cached:
                self._cache.popitem(last=False)

    def _start_waiting_locked(self) -> None:
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        while not self._closed and self._waiting and len(self._training) < self.limits.max_running:
            run = self._waiting.popleft()
            run.status, run.started = TRAINING, self.clock()
            for cell in run.cells.values():
                cell.state = STARTING
            run.version += 1
            self._training.append(run)
            thread = threading.Thread(target=self._train, args=(run,), name="playground-run", daemon=True)
            self._threads.append(thread)
            thread.start()

    # --- A run's thread ---------------------------------------------------------

    def _train(self, run: _Run) -> None:
        """Starts a process per cell, applies what they send, and ends them when the run ends."""
        messages: queue.Queue = queue.Queue()
        processes: dict[str, subprocess.Popen] = {}
        status = FAILED
        try:
            deadline = time.time() + self.limits.max_seconds
            job = {
                "settings": dataclasses.asdict(run.settings),
                "limits": dataclasses.asdict(self.limits),
                "deadline": deadline,
            }
            for variant in run.settings.variants:
                processes[variant] = self._process_for({**job, "variant": variant})
                threading.Thread(
                    target=_read_lines,
                    args=(processes[variant], variant, messages),
                    name="playground-reader",
                    daemon=True,
                ).start()
            status = self._follow(run, processes, messages, deadline)
        except Exception:  # noqa: BLE001 - the run fails; the app goes on serving
            traceback.print_exc()
        finally:
            _end_processes(processes.values())
            with self.lock:
                self._training.remove(run)
                self._end_locked(run, status)
                self._start_waiting_locked()
            self._start_spares()

    def _follow(self, run: _Run, processes: dict, messages: queue.Queue, deadline: float) -> str:
        """Applies the processes' messages until every cell has ended or the run must stop; how it ended."""
        silent_since: dict[str, float] = {}
        while True:
            try:
                variant, message = messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                variant, message = None, None
            with self.lock:
                if message is not None:
                    _apply(run.cells[variant], message)
                    run.version += 1
                self._drop_stale_locked()
                if run.stop_requested or self._closed:
                    return STOPPED
                unfinished = [variant for variant, cell in run.cells.items() if cell.state not in CELL_ENDS]
                if not unfinished:
                    return FINISHED
                now = time.time()
                for variant in unfinished:
                    if processes[variant].poll() is None or not messages.empty():
                        continue
                    silent_since.setdefault(variant, now)
                    if now - silent_since[variant] > LAST_WORDS_SECONDS:  # it exited without its result
                        print(
                            f"playground: the {variant} process exited ({processes[variant].returncode}) "
                            "without its result",
                            file=sys.stderr,
                        )
                        run.cells[variant].state = FAILED
                        run.version += 1
                if now > deadline + self.limits.grace_seconds:
                    print(
                        "playground: a run went past its time cap and grace; its processes are ended", file=sys.stderr
                    )
                    for variant in unfinished:
                        run.cells[variant].state = FAILED
                    run.version += 1
                    return FINISHED


def _apply(cell: _Cell, message: dict[str, Any]) -> None:
    """A process's message applied to its cell."""
    event = message.get("event")
    if event == "evaluation" and (not cell.updates or message["update"] > cell.updates[-1]):
        cell.updates.append(int(message["update"]))
        cell.scores.append(float(message["score"]))
        cell.state = TRAINING
    elif event == "done":
        run = message["run"]
        # The curve as the suite records it (5 significant digits), so it is the CLI's to the digit.
        cell.updates, cell.scores, cell.result = list(run["updates"]), list(run["scores"]), run
        if run["solved_at"] is not None:
            cell.state = SOLVED
        elif not math.isfinite(run["final"]):
            cell.state = DIVERGED
        else:
            cell.state = TIME_CAP if run.get("time_capped") else BUDGET
    elif event == "failed":
        print(f"playground: the {cell.variant} cell failed: {message.get('error')}", file=sys.stderr)
        cell.state = FAILED


def _read_lines(process: subprocess.Popen, variant: str, messages: queue.Queue) -> None:
    """Puts each JSON line the process writes on `messages` as (variant, message), until it closes its output."""
    try:
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                messages.put((variant, message))
    except (OSError, ValueError):
        pass  # the process was ended


def _end_processes(processes) -> None:
    """Ends the processes (still running) within about `TERMINATE_SECONDS`: a signal, then a kill."""
    processes = [process for process in processes if process.poll() is None]
    for process in processes:
        process.terminate()
    waited_until = time.monotonic() + TERMINATE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.0, waited_until - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    _serve_one_cell()
