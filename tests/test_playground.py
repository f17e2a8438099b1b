"""The playground (`sentiment.analysis.playground`, `webapp.playground_tab`): settings, runs, caps, stop, the cache.

Most tests drive a `Playground` whose training processes are stand-ins
(`python -c STAND_IN`: they read their job and follow a plan, so a test
decides when a cell reports, finishes, fails or hangs). Two use the real
thing: the playground's curves are the CLI's (`python -m sentiment
long-range` with the flags the playground shows) for one tiny
configuration, and a real app process answers hostile settings with a
sentence, keeps answering compare while a run trains, and ends the run's
processes when it is stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from sentiment.analysis import playground
from sentiment.analysis.playground import Limits, Playground, Settings, read_settings
from sentiment.config import LongRangeConfig
from webapp import findings, playground_tab
from webapp.charts import spec_of

from conftest import run_cli
from plot_checks import numeric_column_problems, rows

# A stand-in training process: it reads its job, then follows the plan for its cell (env STAND_IN).
STAND_IN = """
import json, os, pathlib, signal, sys, time
text = sys.stdin.read()
if not text.strip():
    sys.exit(0)
job = json.loads(text)
for kind, *arguments in json.loads(os.environ["STAND_IN"])[job["variant"]]:
    if kind == "evaluation":
        print(json.dumps({"event": "evaluation", "update": arguments[0], "score": arguments[1]}), flush=True)
    elif kind == "done":
        print(json.dumps({"event": "done", "run": arguments[0]}), flush=True)
    elif kind == "failed":
        print(json.dumps({"event": "failed", "error": "ValueError: boom"}), flush=True)
    elif kind == "sleep":
        time.sleep(arguments[0])
    elif kind == "wait_for":
        while not pathlib.Path(arguments[0]).exists():
            time.sleep(0.02)
    elif kind == "ignore_sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif kind == "exit":
        sys.exit(arguments[0])
"""
# Stand-in limits: no spare processes, a short watch timeout where a test needs one.
QUICK = Limits(spare_processes=0)


def _result(updates=(0, 100), scores=(0.2, 0.005), solved_at=100, **extra) -> dict:
    """What a cell's process sends when it is done: `run_one`'s fields that the playground reads."""
    return {
        "updates": list(updates),
        "scores": list(scores),
        "solved_at": solved_at,
        "final": scores[-1],
        "time_capped": False,
        "parameters": 10,
        "wall_seconds": 1.0,
        "jacobian": {"init": {"by_distance": [1.0, 0.1, 0.01]}, "trained": {"by_distance": [1.0, 0.5, 0.25]}},
        **extra,
    }


class StandIns:
    """Starts stand-in processes following `plans` (variant -> steps) and keeps each one started."""

    def __init__(self, plans: dict[str, list]):
        self.plans, self.started = plans, []

    def __call__(self) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", STAND_IN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "STAND_IN": json.dumps(self.plans)},
        )
        self.started.append(process)
        return process


def _wait(condition, timeout: float = 20.0, every: float = 0.02):
    """Polls `condition` until it is true (returns it) or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture
def make_playground():
    """Playgrounds over stand-ins, closed (their processes ended) after the test."""
    made = []

    def make(plans: dict[str, list], limits: Limits = QUICK) -> tuple[Playground, StandIns]:
        stand_ins = StandIns(plans)
        made.append(Playground(limits, start_process=stand_ins))
        return made[-1], stand_ins

    yield make
    for made_playground in made:
        made_playground.close()


# --- Settings ---------------------------------------------------------------------


def test_settings_are_read_as_a_request_sends_them():
    assert read_settings(None, None, None, None, None) == Settings()
    settings = read_settings(" Recall ", "120", ["GRU (chrono init)", "simple_rnn", "LSTM", "lstm"], 16.0, "7")
    # Names or keys, in any order and repeated: the cells in the suite's order, each once.
    assert settings == Settings("recall", 120, ("simple_rnn", "lstm", "gru+chrono"), 16, 7)
    assert read_settings("the adding problem", 10, "IRNN", 2, 0).variants == ("irnn",)


@pytest.mark.parametrize(
    "sent, message",
    [
        (("copy", 50, None, 32, 0), "Unknown task “copy”: choose “adding”"),
        (("x" * 2**20, 50, None, 32, 0), "Unknown task “xxxxxxxx"),
        (("<script>alert(1)</script>", 50, None, 32, 0), r"Unknown task “\<script\>alert\(1\)\</script\>”"),
        ((None, 5000, None, 32, 0), "T must be a whole number from 10 to 200; got “5000”."),
        ((None, 9, None, 32, 0), "T must be a whole number from 10 to 200"),
        ((None, 50.5, None, 32, 0), r"T must be a whole number from 10 to 200; got “50\.5”."),
        ((None, float("nan"), None, 32, 0), "T must be a whole number from 10 to 200; got “NaN”."),
        ((None, 10**400, None, 32, 0), "T must be a whole number from 10 to 200; got “1000"),
        ((None, True, None, 32, 0), "T must be a whole number"),
        ((None, "", None, 32, 0), "T must be a whole number"),
        ((None, [50], None, 32, 0), "T must be a whole number"),
        ((None, 50, [], 32, 0), "Pick at least one cell to train."),
        ((None, 50, ["transformer"], 32, 0), "Unknown cell “transformer”: choose among “SimpleRNN”, “IRNN”"),
        ((None, 50, ["\ud800"], 32, 0), "Unknown cell “?”"),
        ((None, 50, ["lstm\x00"], 32, 0), "Unknown cell “lstm?”"),
        ((None, 50, ["😀"], 32, 0), "Unknown cell “😀”"),
        ((None, 50, 5, 32, 0), "The cells must be a list of names; got “5”."),
        ((None, 50, {"path": "/etc/passwd"}, 32, 0), "The cells must be a list of names"),
        ((None, 50, ["lstm"] * 10_000, 32, 0), "The cells must be a list of names"),
        ((None, 50, [["lstm"]], 32, 0), "Unknown cell"),
        ((None, 50, None, 0, 0), "The units must be a whole number from 2 to 64; got “0”."),
        ((None, 50, None, 1e308, 0), "The units must be a whole number from 2 to 64"),
        ((None, 50, None, 32, -1), "The seed must be a whole number from 0 to 999,999; got “\\-1”."),
        ((None, 50, None, 32, "a lot"), "The seed must be a whole number from 0 to 999,999; got “a lot”."),
    ],
)
def test_a_setting_that_cannot_be_used_is_refused_with_a_sentence(sent, message):
    with pytest.raises(ValueError) as raised:
        read_settings(*sent)
    text = str(raised.value)
    assert text.startswith(message) or message in text, text
    assert len(text) < 300 and not re.search(r"(?<!\\)<", text)  # short, and what was sent is escaped


def test_settings_check_themselves():
    for changes, message in (
        ({"task": "associative"}, "unknown task"),
        ({"length": 201}, "length must be a whole number from 10 to 200"),
        ({"variants": ()}, "pick at least one cell"),
        ({"variants": ("mingru",)}, "unknown cell 'mingru'"),
        ({"variants": ("lstm", "simple_rnn")}, "in the order"),
    ):
        with pytest.raises(ValueError, match=message):
            Settings(**changes)
    with pytest.raises(ValueError, match="max_running must be at least 1"):
        Limits(max_running=0)


def test_a_run_is_the_suites_config_and_the_command_it_shows_parses_back_to_it():
    from sentiment.cli import build_parser, config_from_flags

    limits = Limits(max_updates=4000, eval_interval=50, test_sequences=200, jacobian_sequences=16)
    settings = Settings("recall", 120, ("irnn", "lstm+chrono"), 16, 7)
    config = settings.long_range_config(limits)
    assert (config.tasks, config.lengths, config.variants, config.seeds, config.units) == (
        ("recall",),
        (120,),
        ("irnn", "lstm+chrono"),
        (7,),
        16,
    )
    assert config.jacobian_length == 120 and config.lag_shift_length is None
    assert config.budget("recall") == 4000 and config.budget("adding") == 4000  # capped by the limits
    assert Settings("adding").long_range_config(Limits()).budget("adding") == LongRangeConfig().adding_updates
    assert config.chrono_horizon == LongRangeConfig().chrono_horizon  # the model's horizon, never T
    command = settings.command(limits)
    assert command.startswith("python -m sentiment long-range --tasks recall --lengths 120 --variants irnn,lstm+chrono")
    arguments = build_parser().parse_args(command.split()[3:])
    assert config_from_flags(LongRangeConfig, arguments) == config


def test_limits_come_from_the_environment_and_bad_values_are_named():
    assert playground_tab.limits_from_environment({}) == Limits()
    limits = playground_tab.limits_from_environment(
        {"SENTIMENT_PLAYGROUND_RUNS": "3", "SENTIMENT_PLAYGROUND_SPARES": "0"}
    )
    assert (limits.max_running, limits.spare_processes) == (3, 0)
    for environment in ({"SENTIMENT_PLAYGROUND_RUNS": "0"}, {"SENTIMENT_PLAYGROUND_SPARES": "many"}):
        with pytest.raises(ValueError, match=next(iter(environment))):
            playground_tab.limits_from_environment(environment)


# --- The findings and the plots ---------------------------------------------------


def _sent(value) -> dict:
    """A chart as its endpoint sends it."""
    return value.model_dump()


def _view(task="adding", states=None, curves=None, status="finished", results=None) -> playground.RunView:
    """A run view of stand-in curves: variant -> (updates, scores), with each cell's state."""
    curves = curves or {"simple_rnn": ([0, 100, 200], [0.9, 0.17, 0.16]), "lstm": ([0, 100], [1.2, 0.008])}
    states = states or {"simple_rnn": "budget", "lstm": "solved"}
    cells = tuple(
        playground.CellView(variant, tuple(updates), tuple(scores), states[variant], (results or {}).get(variant))
        for variant, (updates, scores) in curves.items()
    )
    settings = Settings(task, 50, tuple(curves), 8, 0)
    return playground.RunView(settings, 1, status, cells, budget=200, max_seconds=150.0, max_running=1)


def test_the_finding_names_who_solved_it_and_where_the_others_stand():
    view = _view()
    frame = playground_tab.curve_frame(view)
    states = {"SimpleRNN": "budget", "LSTM": "solved"}
    assert findings.playground_finding(frame, "adding", 50, states, baseline=0.167) == (
        "At T = 50 on the adding problem, the LSTM solved it in 100 updates; the SimpleRNN is at the best constant "
        "(MSE 0.160) after 200 updates, its whole budget. The best constant's MSE is 0.167; solved is below 0.01."
    )
    training = findings.playground_finding(frame, "adding", 50, {"SimpleRNN": "training", "LSTM": "training"}, 0.167)
    assert training.startswith("So far at T = 50 on the adding problem: the SimpleRNN is at the best constant")
    assert "after 200 updates so far and the LSTM is at MSE 0.008 after 100 updates so far" in training
    # Every way a cell can end, in words.
    ends = findings.playground_finding(
        frame, "adding", 50, {"SimpleRNN": "time cap", "LSTM": "stopped"}, baseline=0.5, seconds_cap=150
    )
    assert "the SimpleRNN is at MSE 0.160 after 200 updates, when the 150 s cap stopped it" in ends
    assert "the LSTM is at MSE 0.008 after 100 updates, when it was stopped" in ends
    failed = findings.playground_finding(frame, "adding", 50, {"SimpleRNN": "failed", "LSTM": "diverged"}, 0.167)
    assert "the SimpleRNN failed (the error is in the server log)" in failed
    assert "the LSTM diverged (its error became NaN) after 100 updates" in failed
    first = frame[(frame["updates"] == 0) & (frame["model"] == "SimpleRNN")]
    starting = findings.playground_finding(first, "adding", 50, {"SimpleRNN": "training", "LSTM": "starting"}, 0.167)
    assert "the SimpleRNN starts at MSE 0.900 (worse than the best constant) and the LSTM is starting" in starting
    stopped = findings.playground_finding(first, "adding", 50, {"SimpleRNN": "stopped", "LSTM": "stopped"}, 0.167)
    assert (
        "the SimpleRNN is at MSE 0.900 (worse than the best constant) after 0 updates, when it was stopped" in stopped
    )
    assert "the LSTM was stopped before its first evaluation" in stopped


def test_the_recall_finding_reads_accuracy_against_chance():
    view = _view(
        "recall",
        states={"simple_rnn": "budget", "gru+chrono": "solved"},
        curves={"simple_rnn": ([0, 100], [0.5, 0.52]), "gru+chrono": ([0, 100], [0.5, 0.995])},
    )
    frame = playground_tab.curve_frame(view)
    text = findings.playground_finding(frame, "recall", 50, {"SimpleRNN": "budget", "GRU (chrono init)": "solved"})
    assert text == (
        "At T = 50 on variable-lag recall, the GRU (chrono init) solved it in 100 updates; the SimpleRNN is at "
        "chance (52.0%) after 100 updates, its whole budget. Chance is 50%; solved is 99.0%."
    )


def test_the_plots_send_numbers_and_the_jacobian_finding_reads_them():
    results = {"simple_rnn": _result(), "lstm": _result()}
    results["lstm"]["jacobian"]["trained"]["by_distance"] = [1.0, 1.1, 1.25]  # grows with the distance
    view = _view(results=results)
    notice, finding, curves, table, jacobian_finding, init_plot, trained_plot = playground_tab.run_outputs(view, QUICK)
    curves = _sent(curves)
    assert numeric_column_problems(curves, "updates") == [] and numeric_column_problems(curves, "log10 MSE") == []
    drawn = rows(curves)
    assert [row["updates"] for row in drawn if row["model"] == "SimpleRNN"] == [0, 100, 200]
    assert math.isclose(drawn[1]["log10 MSE"], math.log10(0.17))
    baseline = playground_tab.best_constant_mse(view.settings, QUICK)
    # The updates axis starts at 0 and spans five evaluations at least, however few points there are yet.
    assert spec_of(curves)["layer"][0]["encoding"]["x"]["scale"] == {"domain": [0, 5 * QUICK.eval_interval]}
    levels = [level["level"] for level in spec_of(curves)["layer"][1]["data"]["values"]]
    assert levels == [f"best constant (MSE {baseline:.3f})", "solved (MSE 0.01)"]
    for plot in (init_plot, trained_plot):
        assert numeric_column_problems(_sent(plot), "distance") == []
    assert list(table["state"]) == ["budget", "solved"] and list(table["held-out score"]) == [
        "MSE 0.1600",
        "MSE 0.0080",
    ]
    assert jacobian_finding == (
        "**What it shows.** Over the 2 steps from the last input back to the first, the trained SimpleRNN's state "
        "Jacobian falls by 0.60 powers of ten (falls by 2.00 at initialization) and the LSTM's grows by 0.10 (falls by "
        "2.00): the flatter the line, the longer an input still reaches the final state. After training the LSTM "
        "keeps the most."
    )
    assert notice.startswith("**Done** in 0 s.") and "`python -m sentiment long-range --tasks adding" in notice
    assert "the LSTM solved it in 100 updates" in finding


def test_the_best_constant_is_that_of_the_runs_own_held_out_sequences():
    from sentiment.analysis import longrange

    settings, limits = Settings("adding", 30, ("lstm",), 8, 5), Limits(test_sequences=300)
    rng = np.random.default_rng(longrange.data_seed("adding", 30, 5, "test"))
    targets = longrange.adding_sequences(rng, 300, 30)[1]
    assert playground_tab.best_constant_mse(settings, limits) == pytest.approx(np.var(targets))


# --- The training function's callback -----------------------------------------------


def test_on_evaluation_sees_each_point_changes_nothing_and_a_true_answer_ends_training():
    from sentiment.analysis import longrange

    config = LongRangeConfig(
        tasks=("adding",), lengths=(6,), variants=("lstm",), seeds=(0,), units=4, adding_updates=30, eval_interval=5
    )
    test = longrange.adding_sequences(np.random.default_rng(1), 64, 6)[:2]

    def train(on_evaluation=None):
        model = longrange.build_model(config, "adding", "lstm", 0)
        rng = np.random.default_rng(2)
        batch = lambda: longrange.adding_sequences(rng, config.batch_size, 6)  # noqa: E731
        return longrange.train_until_solved(model, "adding", batch, config, test, on_evaluation)

    alone = train()
    seen = []
    ended = train(lambda update, value: seen.append((update, value)) or update >= 15)
    assert alone["updates"] == [0, 5, 10, 15, 20, 25, 30] and ended["updates"] == [0, 5, 10, 15]
    assert ended["scores"] == alone["scores"][:4]  # the same curve while it runs
    assert [update for update, _ in seen] == [0, 5, 10, 15]
    assert [float(f"{value:.5g}") for _, value in seen] == ended["scores"]
    assert ended["solved_at"] is None


def test_a_cell_past_its_deadline_stops_at_once_and_says_so():
    sent = []
    job = {
        "settings": {"task": "adding", "length": 10, "variants": ["gru"], "units": 4, "seed": 0},
        "limits": dataclasses.asdict(Limits(test_sequences=32, jacobian_sequences=2)),
        "variant": "gru",
        "deadline": time.time() - 1,
    }
    playground.train_cell(job, sent.append)
    assert [message["event"] for message in sent] == ["evaluation", "done"]
    run = sent[-1]["run"]
    assert run["updates"] == [0] and run["time_capped"] is True and set(run["jacobian"]) >= {"init", "trained"}
    cell = playground._Cell("gru")
    playground._apply(cell, sent[-1])
    assert cell.state == playground.TIME_CAP


# --- Runs: queue, cache, stop, failures (stand-in processes) ------------------------


def test_a_finished_run_is_replayed_without_a_process(make_playground):
    plans = {"lstm": [["evaluation", 0, 0.3], ["done", _result()]]}
    runs, stand_ins = make_playground(plans)
    settings = Settings(variants=("lstm",))
    watch = runs.watch(settings, "a")
    first = _wait(lambda: (view := watch.view()).finished and view)
    assert first.status == "finished" and first.cells[0].state == "solved" and not first.replayed
    assert len(stand_ins.started) == 1
    replay = runs.watch(settings, "b").view()
    assert replay.finished and replay.replayed and replay.cells == first.cells
    assert len(stand_ins.started) == 1  # nothing trained again
    other = runs.watch(Settings(variants=("lstm",), seed=1), "c")  # another seed: another run
    _wait(lambda: other.view().finished)
    assert len(stand_ins.started) == 2


def test_runs_wait_their_turn_see_their_place_and_the_same_settings_join(make_playground, tmp_path):
    release = tmp_path / "release"
    plans = {"lstm": [["evaluation", 0, 0.3], ["wait_for", str(release)], ["done", _result()]]}
    runs, _ = make_playground(plans, Limits(spare_processes=0, max_running=1, max_waiting=2))
    first = runs.watch(Settings(variants=("lstm",), seed=0), "a")
    second = runs.watch(Settings(variants=("lstm",), seed=1), "b")
    third = runs.watch(Settings(variants=("lstm",), seed=2), "c")
    assert (first.view().status, second.view().ahead, third.view().ahead) == ("training", 1, 2)
    with pytest.raises(playground.QueueFull, match="2 runs are waiting"):
        runs.watch(Settings(variants=("lstm",), seed=3), "d")
    joined = runs.watch(Settings(variants=("lstm",), seed=0), "e")
    assert joined.view().watchers == 2 == first.view().watchers
    second.close()  # its only watcher left: it leaves the queue
    assert second.view().status == "stopped" and third.view().ahead == 1
    release.touch()
    assert _wait(lambda: (view := first.view()).finished and view).status == "finished"
    assert _wait(lambda: (view := third.view()).finished and view).status == "finished"


def test_stop_ends_a_run_and_its_processes_within_a_second(make_playground):
    plans = {variant: [["ignore_sigterm"], ["evaluation", 0, 0.3], ["sleep", 60]] for variant in ("lstm", "gru")}
    runs, stand_ins = make_playground(plans)
    watch = runs.watch(Settings(variants=("lstm", "gru")), "a")
    _wait(lambda: all(cell.updates for cell in watch.view().cells))
    assert not runs.stop("nobody") and runs.stop("a")
    stopped_at = time.monotonic()
    view = watch.view()
    assert view.status == "stopped" and {cell.state for cell in view.cells} == {"stopped"}
    _wait(lambda: all(process.poll() is not None for process in stand_ins.started), timeout=1.0, every=0.01)
    assert time.monotonic() - stopped_at < 1.0  # even though they ignore SIGTERM: killed
    assert not runs.stop("a")  # nothing left to stop
    again = runs.watch(Settings(variants=("lstm", "gru")), "a")  # a stopped run is not cached
    assert not again.view().replayed


def test_one_watcher_stopping_leaves_the_run_to_the_others(make_playground, tmp_path):
    release = tmp_path / "release"
    plans = {"lstm": [["evaluation", 0, 0.3], ["wait_for", str(release)], ["done", _result()]]}
    runs, stand_ins = make_playground(plans)
    mine, theirs = (runs.watch(Settings(variants=("lstm",)), session) for session in ("a", "b"))
    _wait(lambda: mine.view().cells[0].updates)
    assert runs.stop("a") and mine.view().status == "stopped"
    assert theirs.view().status == "training" and stand_ins.started[0].poll() is None
    pressed_again = runs.watch(Settings(variants=("lstm",)), "b")  # the same settings, the same session: kept
    assert pressed_again.view().status == "training" and pressed_again.view().watchers == 1
    assert len(stand_ins.started) == 1 and not runs.stop("a")
    other = runs.watch(Settings(variants=("lstm",), seed=1), "b")  # other settings: its run was the session's
    _wait(lambda: stand_ins.started[0].poll() is not None, timeout=5)
    assert pressed_again.view().status == "stopped"
    theirs = other
    release.touch()
    assert _wait(lambda: (view := theirs.view()).finished and view).status == "finished"


def test_a_cell_that_fails_fails_alone_and_the_playground_goes_on(make_playground):
    plans = {
        "simple_rnn": [["evaluation", 0, 0.3], ["failed"]],
        "lstm": [["evaluation", 0, 0.3], ["exit", 3]],  # gone without a word
        "gru": [["evaluation", 0, 0.3], ["done", _result()]],
    }
    runs, stand_ins = make_playground(plans)
    settings = Settings()
    watch = runs.watch(settings, "a")
    view = _wait(lambda: (view := watch.view()).finished and view, timeout=30)
    assert view.status == "finished"
    assert [cell.state for cell in view.cells] == ["failed", "failed", "solved"]
    assert "failed (the error is in the server log)" in playground_tab.run_outputs(view, QUICK)[1]
    again = runs.watch(settings, "b")  # a run with a failed cell is not kept: it trains again
    assert not again.view().replayed
    _wait(lambda: again.view().finished)
    assert len(stand_ins.started) == 6


def test_a_run_nobody_watches_and_a_cell_past_its_grace_are_ended(make_playground):
    plans = {"lstm": [["evaluation", 0, 0.3], ["sleep", 60]]}
    runs, stand_ins = make_playground(plans, Limits(spare_processes=0, watch_timeout_seconds=0.5))
    left = runs.watch(Settings(variants=("lstm",)), "a")  # its browser is gone: nobody looks at it again
    _wait(lambda: left._run.status == "stopped", timeout=10)
    assert stand_ins.started[0].poll() is not None
    runs, stand_ins = make_playground(plans, Limits(spare_processes=0, max_seconds=0.5, grace_seconds=0.5))
    watch = runs.watch(Settings(variants=("lstm",)), "b")
    view = _wait(lambda: (view := watch.view()).finished and view, timeout=10)
    assert view.status == "finished" and view.cells[0].state == "failed"
    assert stand_ins.started[0].poll() is not None


def test_spare_processes_are_started_between_runs_and_used_by_the_next(make_playground):
    plans = {"lstm": [["evaluation", 0, 0.3], ["done", _result()]]}
    runs, stand_ins = make_playground(plans, Limits(spare_processes=2))
    first = runs.watch(Settings(variants=("lstm",)), "a")
    _wait(lambda: first.view().finished)
    _wait(lambda: len(runs._spares) == 2)
    assert len(stand_ins.started) == 3
    watch = runs.watch(Settings(variants=("lstm",), seed=1), "b")
    _wait(lambda: watch.view().finished)
    assert stand_ins.started[1].poll() is not None  # a spare took the job
    runs.close()
    _wait(lambda: all(process.poll() is not None for process in stand_ins.started), timeout=5)


# --- The real thing ---------------------------------------------------------------------


@pytest.mark.slow
def test_the_playgrounds_curves_are_the_clis(tmp_path):
    """One tiny configuration trained by the playground's processes and by `python -m sentiment long-range`."""
    limits = Limits(max_updates=60, eval_interval=10, test_sequences=64, jacobian_sequences=4, spare_processes=0)
    settings = Settings("adding", 10, ("simple_rnn", "gru+chrono"), 4, 3)
    runs = Playground(limits)
    try:
        watch = runs.watch(settings, "a")
        streamed: dict[str, dict[int, float]] = {variant: {} for variant in settings.variants}
        while not (view := watch.view()).finished:
            for cell in view.cells:
                if cell.result is None:
                    streamed[cell.variant].update(zip(cell.updates, cell.scores))
            time.sleep(0.02)
    finally:
        runs.close()
    assert view.status == "finished" and all(cell.result for cell in view.cells), view
    output = tmp_path / "long_range"
    flags = playground.command_flags(settings.long_range_config(limits))
    assert settings.command(limits) == "python -m sentiment long-range " + " ".join(flags)
    result = run_cli("long-range", *flags, "--no-progress", "--output", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    cli = {run["variant"]: run for run in json.loads((output / "long_range.json").read_text())["runs"]}
    for cell in view.cells:
        assert cell.updates == tuple(cli[cell.variant]["updates"]) and cell.scores == tuple(cli[cell.variant]["scores"])
        assert cell.result["jacobian"] == cli[cell.variant]["jacobian"]
        assert cell.result["parameters"] == cli[cell.variant]["parameters"]
        # What was drawn while it trained: the same points, before the suite's rounding.
        assert streamed[cell.variant], cell.variant
        for update, value in streamed[cell.variant].items():
            assert value == pytest.approx(cell.scores[cell.updates.index(update)], rel=1e-4)


# --- A real app process ---------------------------------------------------------------


@pytest.fixture(scope="module")
def app(tiny_artifacts, tmp_path_factory):
    """The app on the tiny artifacts, keeping no spare training processes (so none outlive a run): (process, url)."""
    from test_app import _start_app, _stop_app

    process, url = _start_app(
        tiny_artifacts, tmp_path_factory.mktemp("playground") / "app.log", {"SENTIMENT_PLAYGROUND_SPARES": "0"}
    )
    yield process, url
    _stop_app(process)


# Payloads for /playground: (task, T, cells, units, seed) as raw JSON, and the start of the sentence each gets.
HOSTILE_SETTINGS = {
    "an unknown task": (b'"copy", 50, ["lstm"], 32, 0', "Unknown task"),
    "a 1 MB task": (json.dumps(["x" * 2**20, 50, ["lstm"], 32, 0])[1:-1].encode(), "Unknown task"),
    "a lone surrogate": (b'"adding", 50, ["\\ud800"], 32, 0', "Unknown cell"),
    "NUL": (b'"adding\\u0000", 50, ["lstm"], 32, 0', "Unknown task"),
    "emoji": (b'"adding", 50, ["\xf0\x9f\x98\x80"], 32, 0', "Unknown cell"),
    "HTML": (b'"<img src=x onerror=alert(1)>", 50, ["lstm"], 32, 0', "Unknown task"),
    "empty text": (b'"adding", "", ["lstm"], 32, 0', "T must be a whole number"),
    "T far out of range": (b'"adding", 1e308, ["lstm"], 32, 0', "T must be a whole number"),
    "T not a number": (b'"adding", NaN, ["lstm"], 32, 0', "T must be a whole number"),
    "negative units": (b'"adding", 50, ["lstm"], -5, 0', "The units must be a whole number"),
    "a huge seed": (b'"adding", 50, ["lstm"], 32, 100000000000000000000000000000', "The seed must be a whole number"),
    "no cells": (b'"adding", 50, [], 32, 0', "Pick at least one cell"),
    "an unknown cell": (b'"adding", 50, ["transformer"], 32, 0', "Unknown cell"),
    "cells as an object": (b'"adding", 50, {"a": 1}, 32, 0', "The cells must be a list"),
}


def test_hostile_settings_get_a_sentence_and_the_app_keeps_serving(app):
    from gradio_client import Client

    from test_app import _compare_raw, _join_status

    _, url = app
    for name, (payload, message) in HOSTILE_SETTINGS.items():
        answer = _compare_raw(url, payload, "playground")
        assert answer["success"], (name, answer)
        notice, *rest = answer["output"]["data"]
        assert notice.startswith(f"**Not started.** {message}"), (name, notice[:300])
        assert len(notice) < 400 and not re.search(r"(?<!\\)<", notice), name  # what was sent is escaped
        assert rest[1] is None and rest[4] is None and rest[5] is None  # nothing drawn
    for payload in (b"", b'"adding", 50', b'"adding", 50, {"path": "/etc/passwd", "meta": {}}, 32, 0'):
        refused = _join_status(url, payload, "playground")
        assert refused.status_code == 422, refused.text  # the wrong shape never reaches the playground
    client = Client(url + "/", verbose=False)
    assert client.predict(api_name="/playground_stop") == "Nothing to stop: no run of yours is training or waiting."
    assert client.predict("the film was wonderful", api_name="/compare")[1]["data"]


def test_compare_answers_while_a_run_trains_and_stop_ends_its_processes(app):
    import psutil
    from gradio_client import Client

    process, url = app
    client = Client(url + "/", verbose=False)
    job = client.submit("adding", 50, ["simple_rnn", "lstm", "gru"], 32, 11, api_name="/playground")
    _wait(lambda: job.outputs() and "a point every" in job.outputs()[-1][0], timeout=180, every=0.2)
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) == 3  # a process per cell
    for text in ("a wonderful film", "a dull, boring film", "it was fine"):
        assert client.predict(text, api_name="/compare")[1]["data"]
    assert not job.done()  # the run still trains
    assert client.predict(api_name="/playground_stop") == "Stopped."
    notice, finding, *_ = job.result(timeout=30)
    assert notice.startswith("**Stopped**") and "stopped" in finding.removeprefix("**What it shows.**")
    _wait(lambda: not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children), 2)
    assert client.predict("a wonderful film", api_name="/compare")[1]["data"]  # still serving


# --- The benchmark's section of docs/BENCHMARKS.md -----------------------------------------


def test_the_benchmark_writes_its_figures_between_its_markers():
    from benchmarks import playground_bench as bench

    result = {
        "command": "python -m benchmarks.playground_bench --write docs/BENCHMARKS.md",
        "started_at": "2026-12-05T10:00:00+00:00",
        "machine": {"cpu": "test CPU", "cpu_count": 2, "versions": {"python": "3.11", "keras": "3.15.1"}},
        "load_average": {"start": [1.5, 1.0, 1.0], "end": [2.25, 1.0, 1.0]},
        "artifacts": "artifacts",
        "cold": {"seconds": 52.34, "verdict": "At T = 50 on the adding problem, the GRU solved it.", "replayed": False},
        "warm": {
            "seconds": 38.06,
            "verdict": "At T = 50 on the adding problem, the LSTM solved it.",
            "replayed": False,
        },
        "replay": {"seconds": 0.214, "replayed": True},
        "compare": {
            "idle": bench._percentiles([0.1] * 19 + [0.3]),
            "cold": bench._percentiles([0.2, 0.4]),
            "warm": {"count": 0},
        },
        "settle_seconds": 45.0,
    }
    section = bench.section(result)
    assert section.startswith(bench.BEGIN) and section.endswith(bench.END)
    for expected in (
        "`python -m benchmarks.playground_bench --write docs/BENCHMARKS.md` on 2026-12-05T10:00:00+00:00",
        "test CPU, 2 CPU cores",
        "1-minute load average 1.50 at the start, 2.25 at the end",
        "seed 0), the first after the app started: Train to verdict | 52.3 s |",
        "spares ready (45 s after the first): Train to verdict | 38.1 s |",
        "replayed from the cache | 0.21 s |",
        "nothing training: p50 / p95 | 100 / 110 ms (20 calls) |",
        "while the first run trained: p50 / p95 | 300 / 390 ms (2 calls) |",
        "while the seed-1 run trained: p50 / p95 | n/a (no call) |",
        "- seed 0: At T = 50 on the adding problem, the GRU solved it.",
    ):
        assert expected in section, expected
    page = "# Benchmarks\n\nOther figures.\n"
    written = bench.with_section(page, section)
    assert written == page + "\n" + section + "\n"
    again = bench.with_section(written.replace("52.3 s", "old"), section)
    assert again == written and again.count(bench.BEGIN) == 1
