"""The "Train it yourself" tab: a learner trains the cells on a long-range task and watches them learn, or not.

`playground_tab` lays the tab out and wires its two endpoints, inside the
app's Blocks (`webapp.layout.build_app`):

- `/playground` (the Train button): a generator. It checks the settings
  (`sentiment.analysis.playground.read_settings`: a setting that cannot be
  used gets a sentence, not an error), hands the run to the app's one
  `Playground`, and yields the run as it stands every `FRAME_SECONDS` while
  it changes: where it waits in the queue, the held-out curves as they
  grow, the finding, and at the end each trained model's state Jacobian
  against distance beside the same at initialization.
- `/playground_stop` (the Stop button): stops the run of the caller's
  session; its generator yields the stopped run and returns.

The generator is asynchronous: a learner watching a run holds no worker
thread of the app, so a class watching runs does not take the threads that
answer compare. What it draws is built off the event loop
(`asyncio.to_thread`) once per change of a run, whoever watches it. The
training itself runs in processes of its own (`sentiment.analysis.playground`
says why).

Two environment variables size it: SENTIMENT_PLAYGROUND_RUNS, the runs that
train at once (default 1: on two cores one run's three cells already share
them), and SENTIMENT_PLAYGROUND_SPARES, the training processes kept ready
between runs (default 3).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import json
import os
import threading
import time
import traceback
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from sentiment.analysis import longrange
from sentiment.analysis import playground as runs
from sentiment.report import model_name
from webapp import charts, findings

RUNS_VARIABLE = "SENTIMENT_PLAYGROUND_RUNS"
SPARES_VARIABLE = "SENTIMENT_PLAYGROUND_SPARES"
# How often a watcher looks at its run, and the least time between two frames it is sent (seconds).
POLL_SECONDS = 0.25
FRAME_SECONDS = 0.5
# While a run loads TensorFlow nothing changes for a while: its notice is redrawn every this many seconds anyway.
TICK_SECONDS = 5
# The most learners watching runs at once (each holds a place in Gradio's queue, not a thread).
WATCHERS = 200
STOP_CONCURRENCY = 8
# Frames kept, for the watchers of the same run and version.
FRAMES_KEPT = 64
# A curve's points are marked while it has this many or fewer.
MARKED_POINTS = 30
# The live plot's updates axis spans at least this many evaluations from the start.
FIRST_POINTS = 5
ADDING_Y = "log10 MSE"
RECALL_Y = "accuracy"
SUMMARY_COLUMNS = ["model", "parameters", "state", "updates", "solved at", "held-out score", "seconds"]
JACOBIAN_PHASES = {"init": "at initialization", "trained": "after training"}
DRAWING_FAILED_MESSAGE = "The run could not be drawn (the error is in the server log); try other settings."

INTRODUCTION = f"""
Pick a task, a length T and the cells, then press **Train**. Each cell trains in a process of its own, side by side
with the others, on fresh sequences at every update; every few updates its score on a fixed held-out set is added to
the plot. A cell stops when it has solved the task, at the end of its budget, or at the run's time cap.

- **The adding problem**: T steps, each a random value in [0, 1] and a marker; one marked value in each half. The
  target is the sum of the two marked values. Predicting the average (the *best constant*) scores an MSE of about
  0.167; below 0.01 counts as solved.
- **Variable-lag recall**: one signal token (one of two) sits between T/2 and T steps before the end, among random
  distractor tokens; the model says which one it was. Chance is 50%; 99% counts as solved.
- **The cells**: SimpleRNN (tanh), LSTM and GRU as Keras builds them; the **IRNN**, a plain RNN at its best (ReLU,
  identity recurrence); and the gated cells with **chrono** initialization, gate biases set for memory of up to
  200 steps.

This is the code of `python -m sentiment long-range`: the command under the plot trains the same run and writes the
same curves. A seed fixes the initial weights and the data, so the same settings always give the same run: one made
before (by anyone) is replayed at once. Runs train {runs.MIN_LENGTH} to {runs.MAX_LENGTH} steps long, one or a few at
a time; the others wait their turn.
"""
JACOBIAN_INTRODUCTION = """
### What each trained model still remembers

How much the final state still depends on an input, by how far back it was: ‖∂s_T/∂x_t‖ (s_T the final state, with the
cell state c_T for the LSTM), the geometric mean over random sequences of the task, as a power of ten. The flatter the
line, the longer the memory. Left: the same models at initialization; right: after training.
"""


def limits_from_environment(environment: dict[str, str] | None = None) -> runs.Limits:
    """The playground's limits, with the runs at once and the spare processes from the environment.

    Raises:
        ValueError: a variable that is not a whole number in range, naming it.
    """
    environment = os.environ if environment is None else environment
    values = {}
    for variable, name, low in ((RUNS_VARIABLE, "max_running", 1), (SPARES_VARIABLE, "spare_processes", 0)):
        text = environment.get(variable)
        if text is None or not text.strip():
            continue
        try:
            values[name] = int(text)
        except ValueError:
            values[name] = None
        if values[name] is None or values[name] < low:
            raise ValueError(f"{variable} must be a whole number of at least {low}, got {text!r}")
    return runs.Limits(**values)


# --- What the tab draws ---------------------------------------------------------


def curve_frame(view: runs.RunView) -> pd.DataFrame:
    """Each cell's held-out score at every evaluation: `model`, `updates`, `MSE` and `log10 MSE` (or `accuracy`)."""
    rows = []
    for cell in view.cells:
        for update, value in zip(cell.updates, cell.scores):
            row = {"model": model_name(cell.variant), "updates": int(update)}
            if view.settings.task == "recall":
                row["accuracy"] = float(value)
            else:
                row["MSE"] = float(value)
                row[ADDING_Y] = float(np.log10(max(value, 1e-12))) if np.isfinite(value) else np.nan
            rows.append(row)
    columns = ["model", "updates", *(["accuracy"] if view.settings.task == "recall" else ["MSE", ADDING_Y])]
    return pd.DataFrame(rows, columns=columns)


@functools.lru_cache(maxsize=256)
def best_constant_mse(settings: runs.Settings, limits: runs.Limits) -> float:
    """The MSE of the best constant on this run's held-out adding sequences (the suite's own, from its seed)."""
    config = settings.long_range_config(limits)
    rng = np.random.default_rng(longrange.data_seed("adding", settings.length, settings.seed, "test"))
    _, targets, _ = longrange.adding_sequences(rng, config.test_sequences, settings.length)
    return longrange.constant_baseline_mse(targets)


def _updates_from_zero(chart: charts.ChartData, frame: pd.DataFrame, interval: int) -> charts.ChartData:
    """The chart with its updates axis from 0 to the last update, and to `FIRST_POINTS` evaluations at least.

    A live curve starts with one point at update 0: on an axis of its own
    it would sit alone in the middle, then jump left as the next one comes.
    """
    spec = charts.spec_of(chart)
    last = int(frame["updates"].max()) if len(frame) else 0
    x = spec["layer"][0]["encoding"]["x"]
    x["scale"] = {"domain": [0, max(last, FIRST_POINTS * interval)]}
    x["axis"].pop("values", None)
    return charts.ChartData(type="altair", plot=json.dumps(spec, allow_nan=False))


def curve_chart(view: runs.RunView, frame: pd.DataFrame, baseline: float | None, interval: int):
    """The live plot: each cell's held-out score against updates, with chance or the best constant, and "solved"."""
    names = [model_name(cell.variant) for cell in view.cells]
    most_points = max((len(cell.updates) for cell in view.cells), default=0)
    task_name = runs.TASK_NAMES[view.settings.task]
    if view.settings.task == "recall":
        chart = charts.line_chart(
            frame,
            x="updates",
            y=RECALL_Y,
            color="model",
            names=names,
            title=f"Held-out accuracy while training, {task_name} at T = {view.settings.length}",
            x_title="updates",
            y_title="held-out accuracy",
            levels=[
                charts.Level("chance (50%)", 0.5),
                charts.Level(f"solved ({findings.percent(longrange.SOLVED_ACCURACY)})", longrange.SOLVED_ACCURACY),
            ],
            tooltip=("model", "updates", "accuracy"),
            integer_x=True,
            y_domain=(0.0, 1.0),
            points=most_points <= MARKED_POINTS,
        )
        return _updates_from_zero(chart, frame, interval)
    levels = [charts.Level(f"solved (MSE {longrange.SOLVED_MSE})", float(np.log10(longrange.SOLVED_MSE)))]
    if baseline is not None:
        levels.insert(0, charts.Level(f"best constant (MSE {baseline:.3f})", float(np.log10(baseline))))
    chart = charts.line_chart(
        frame.dropna(subset=[ADDING_Y]),
        x="updates",
        y=ADDING_Y,
        color="model",
        names=names,
        title=f"Held-out MSE while training, {task_name} at T = {view.settings.length} (log10: −2 is 0.01)",
        x_title="updates",
        y_title="held-out MSE (log10)",
        levels=levels,
        tooltip=("model", "updates", "MSE"),
        integer_x=True,
        points=most_points <= MARKED_POINTS,
    )
    return _updates_from_zero(chart, frame, interval)


def jacobian_frame(view: runs.RunView) -> pd.DataFrame:
    """log10 ‖∂s_T/∂x_t‖ against distance, of each finished cell: `model`, `phase`, `distance`, `log10 norm`."""
    rows = []
    for cell in view.cells:
        measured = (cell.result or {}).get("jacobian", {})
        for phase, phase_name in JACOBIAN_PHASES.items():
            for distance, norm in enumerate((measured.get(phase) or {}).get("by_distance", [])):
                rows.append(
                    {
                        "model": model_name(cell.variant),
                        "phase": phase_name,
                        "distance": distance,
                        "log10 norm": float(np.log10(max(norm, np.finfo(np.float32).tiny))),
                    }
                )
    return pd.DataFrame(rows, columns=["model", "phase", "distance", "log10 norm"])


def jacobian_charts(view: runs.RunView, frame: pd.DataFrame) -> tuple:
    """The two Jacobian plots, at initialization and after training, on one y scale; None before a cell has both."""
    if frame.empty:
        return None, None
    low, high = float(frame["log10 norm"].min()), float(frame["log10 norm"].max())
    margin = max(0.25, 0.05 * (high - low))
    names = [model_name(cell.variant) for cell in view.cells if model_name(cell.variant) in set(frame["model"])]
    plots = []
    for phase_name in JACOBIAN_PHASES.values():
        plots.append(
            charts.line_chart(
                frame[frame["phase"] == phase_name],
                x="distance",
                y="log10 norm",
                color="model",
                names=names,
                title=f"State Jacobian {phase_name}",
                x_title="distance: steps before the final state",
                y_title="log10 ‖∂s_T/∂x_t‖",
                tooltip=("model", "distance", "log10 norm"),
                integer_x=True,
                y_domain=(low - margin, high + margin),
                height=260,
            )
        )
    return tuple(plots)


def summary_table(view: runs.RunView) -> pd.DataFrame:
    """A row per cell: parameters, how it stands, updates so far, when it solved the task, its last score, seconds."""
    rows = []
    for cell in view.cells:
        result = cell.result or {}
        last = cell.scores[-1] if cell.scores else None
        if last is None or not np.isfinite(last):
            score = "n/a"
        elif view.settings.task == "recall":
            score = findings.percent(last)
        else:
            score = f"MSE {last:.4f}"
        rows.append(
            [
                model_name(cell.variant),
                f"{result['parameters']:,}" if "parameters" in result else "",
                cell.state,
                f"{cell.updates[-1]:,}" if cell.updates else "",
                f"{result['solved_at']:,}" if result.get("solved_at") is not None else "",
                score,
                f"{result['wall_seconds']:.0f}" if "wall_seconds" in result else "",
            ]
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def notice_markdown(view: runs.RunView, limits: runs.Limits) -> str:
    """Where the run stands (its place in the queue, its time, how it ended), and the command that makes it."""
    settings, cells = view.settings, len(view.cells)
    caps = (
        f"each cell stops when solved, after {view.budget:,} updates, or when the run reaches {view.max_seconds:.0f} s"
    )
    if view.replayed:
        when = time.strftime("%H:%M", time.localtime(view.finished_at)) if view.finished_at else "earlier"
        status = (
            f"**Replayed** from a run with the same settings, trained at {when} in {view.seconds:.0f} s: the seed "
            "fixes the weights and the data, so training it again would draw the same curves."
        )
    elif view.status == runs.WAITING:
        status = (
            f"**Waiting for your turn:** {view.ahead} run{'s' if view.ahead != 1 else ''} before yours (at most "
            f"{view.max_running} train{'s' if view.max_running == 1 else ''} at a time). Each takes at most "
            f"{view.max_seconds:.0f} s."
        )
    elif view.status == runs.TRAINING:
        starting = all(not cell.updates for cell in view.cells)
        doing = (
            "loading TensorFlow and building the models"
            if starting
            else f"a point every {limits.eval_interval} updates"
        )
        status = (
            f"**Training** {cells} cell{'s' if cells != 1 else ''} side by side, {view.seconds:.0f} s so far: "
            f"{doing}; {caps}."
        )
    elif view.status == runs.STOPPED:
        status = f"**Stopped** after {view.seconds:.0f} s. Press Train to start again."
    else:
        failed = [model_name(cell.variant) for cell in view.cells if cell.state == runs.FAILED]
        status = f"**Done** in {view.seconds:.0f} s." + (
            f" {findings.listing(failed)} failed (the error is in the server log)." if failed else ""
        )
    if view.watchers > 1 and not view.finished:
        status += (
            f" {view.watchers - 1} other{'s' if view.watchers > 2 else ''} started the same run: you watch it together."
        )
    return f"{status}\n\nThe same run from the command line: `{settings.command(limits)}`"


def run_outputs(view: runs.RunView, limits: runs.Limits) -> tuple:
    """What the tab shows of a run: (notice, finding, live plot, table, Jacobian finding, Jacobian plots)."""
    frame = curve_frame(view)
    baseline = best_constant_mse(view.settings, limits) if view.settings.task == "adding" else None
    states = {model_name(cell.variant): cell.state for cell in view.cells}
    finding = findings.playground_finding(
        frame, view.settings.task, view.settings.length, states, baseline, view.max_seconds
    )
    jacobians = jacobian_frame(view)
    init_plot, trained_plot = jacobian_charts(view, jacobians)
    return (
        notice_markdown(view, limits),
        findings.finding_markdown(finding),
        curve_chart(view, frame, baseline, limits.eval_interval),
        summary_table(view),
        findings.finding_markdown(findings.playground_jacobian_finding(jacobians)),
        init_plot,
        trained_plot,
    )


def refused_outputs(message: str) -> tuple:
    """A request whose settings cannot be used: the reason, and nothing drawn."""
    return (f"**Not started.** {message}", "", None, pd.DataFrame(columns=SUMMARY_COLUMNS), "", None, None)


# --- The tab ------------------------------------------------------------------------


class _Frames:
    """The outputs of each (run, version) built once, off the event loop, whoever watches it."""

    def __init__(self, limits: runs.Limits):
        self.limits = limits
        self._built: collections.OrderedDict[tuple, tuple] = collections.OrderedDict()
        self._lock = threading.Lock()

    async def of(self, view: runs.RunView) -> tuple:
        key = (view.run, view.status, view.version, view.ahead, view.watchers, view.replayed, _tick(view))
        with self._lock:
            if key in self._built:
                return self._built[key]
        outputs = await asyncio.to_thread(run_outputs, view, self.limits)
        with self._lock:
            self._built[key] = outputs
            while len(self._built) > FRAMES_KEPT:
                self._built.popitem(last=False)
        return outputs


def _tick(view: runs.RunView) -> int:
    """Which `TICK_SECONDS` of its training a run is in: the notice's clock moves while nothing else does."""
    return int(view.seconds // TICK_SECONDS) if view.status == runs.TRAINING else 0


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def playground_tab(playground: runs.Playground | None = None) -> dict[str, Any]:
    """Lays out the "Train it yourself" tab and wires its endpoints; call it inside the tab's context.

    Args:
        playground: the app's; None makes one with `limits_from_environment`,
            stopped (its processes ended) when the app exits.

    Returns:
        The tab's main components by elem_id (for tests).
    """
    if playground is None:
        playground = runs.Playground(limits_from_environment())
        atexit.register(playground.close)
    frames = _Frames(playground.limits)
    gr.Markdown(INTRODUCTION)
    with gr.Row():
        task = gr.Radio(
            [(name[0].upper() + name[1:], task) for task, name in runs.TASK_NAMES.items()],
            value=runs.DEFAULT_TASK,
            label="task",
            elem_id="playground-task",
        )
        length = gr.Slider(
            runs.MIN_LENGTH,
            runs.MAX_LENGTH,
            value=runs.DEFAULT_LENGTH,
            step=1,
            label="T: steps between the evidence and the answer",
            elem_id="playground-length",
        )
    cells = gr.CheckboxGroup(
        [(model_name(variant), variant) for variant in runs.CELLS],
        value=list(runs.DEFAULT_VARIANTS),
        label="cells to train (chrono: gate biases set for long memory)",
        elem_id="playground-cells",
    )
    with gr.Row():
        units = gr.Slider(
            runs.MIN_UNITS, runs.MAX_UNITS, value=runs.DEFAULT_UNITS, step=1, label="units", elem_id="playground-units"
        )
        seed = gr.Number(
            runs.DEFAULT_SEED,
            precision=0,
            minimum=0,
            maximum=runs.MAX_SEED,
            label="seed (the initial weights and the data)",
            elem_id="playground-seed",
        )
    with gr.Row():
        train = gr.Button("Train", variant="primary", elem_id="playground-train")
        stop = gr.Button("Stop", variant="stop", elem_id="playground-stop")
    notice = gr.Markdown(elem_id="playground-notice")
    finding = gr.Markdown(elem_id="playground-finding", elem_classes=["finding"])
    curves = gr.Plot(show_label=False, elem_id="playground-curves", elem_classes=["chart"])
    table = gr.Dataframe(
        headers=SUMMARY_COLUMNS,
        label="Each cell (seconds: its process's, compiling and the Jacobians included)",
        interactive=False,
        elem_id="playground-table",
    )
    gr.Markdown(JACOBIAN_INTRODUCTION)
    jacobian_finding = gr.Markdown(elem_id="playground-jacobian-finding", elem_classes=["finding"])
    with gr.Row():
        jacobian_init = gr.Plot(show_label=False, elem_id="playground-jacobian-init", elem_classes=["chart"])
        jacobian_trained = gr.Plot(show_label=False, elem_id="playground-jacobian-trained", elem_classes=["chart"])
    stop_notice = gr.Markdown(visible=False, elem_id="playground-stop-notice")  # for API callers: the run shows it
    outputs = [notice, finding, curves, table, jacobian_finding, jacobian_init, jacobian_trained]

    async def run(task_value, length_value, cells_value, units_value, seed_value, request: gr.Request):
        try:
            settings = runs.read_settings(task_value, length_value, cells_value, units_value, seed_value)
            watch = playground.watch(settings, session=_session(request))
        except (ValueError, runs.QueueFull) as error:
            yield refused_outputs(str(error))
            return
        try:
            shown, last_frame = None, 0.0
            while True:
                view = watch.view()
                state = (view.status, view.version, view.ahead, view.watchers, _tick(view))
                if state != shown and (view.finished or time.monotonic() - last_frame >= FRAME_SECONDS):
                    try:
                        drawn = await frames.of(view)
                    except Exception:  # noqa: BLE001 - this watcher gets a sentence; the app goes on
                        traceback.print_exc()
                        yield refused_outputs(DRAWING_FAILED_MESSAGE)
                        return
                    yield drawn
                    shown, last_frame = state, time.monotonic()
                if view.finished:
                    return
                await asyncio.sleep(POLL_SECONDS)
        finally:
            watch.close()

    def stop_run(request: gr.Request) -> str:
        if playground.stop(_session(request)):
            return "Stopped."
        return "Nothing to stop: no run of yours is training or waiting."

    train.click(
        run,
        inputs=[task, length, cells, units, seed],
        outputs=outputs,
        api_name="playground",
        preprocess=False,  # the settings reach `read_settings` as sent: a bad one gets a sentence
        concurrency_limit=WATCHERS,
        concurrency_id="playground",
        show_progress="minimal",
    )
    stop.click(
        stop_run,
        outputs=[stop_notice],
        api_name="playground_stop",
        concurrency_limit=STOP_CONCURRENCY,
        concurrency_id="playground_stop",
        show_progress="hidden",
    )
    return {
        "playground-train": train,
        "playground-stop": stop,
        "playground-curves": curves,
        "playground-jacobian-init": jacobian_init,
        "playground-jacobian-trained": jacobian_trained,
        "playground": playground,
    }
