"""What the page shows before any click, computed once at start.

The results files the thesis tab reads (`webapp.thesis_views`), the first
example review read by every model (the Compare tab's at start, the inside
view and the decision plot), and the test-set figures of "Inside the cell".
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from sentiment.config import AFTER_THE_LSTM
from sentiment.report import AFTER_THE_LSTM_MARK
from webapp import charts, findings, inside_views, thesis_views, views


class StartViews:
    """What the page shows before any click, computed once at start.

    Every plot (`webapp.charts`), and above it its finding
    (`webapp.findings`), computed from that same data: the results files,
    the loaded models' evaluations and histories, and the first example
    read by every model.
    """

    def __init__(
        self,
        models: views.LoadedModels,
        long_range_results: str | None = None,
        distance_results: str | None = None,
        bench_results: str | None = None,
    ):
        long_range, self.long_range_note = thesis_views.load_results("long_range", long_range_results)
        distance, self.distance_note = thesis_views.load_results("distance", distance_results)
        gradients, self.gradients_note = thesis_views.load_results("gradients", models.folder / views.GRADIENTS_FILE)
        bench, self.bench_note = thesis_views.load_results("bench", bench_results)
        dropped: dict[str, list[str]] = {"long_range": [], "distance": [], "gradients": [], "inspect": [], "bench": []}

        def panel(read, result, kind: str, name: str):
            return _panel(read, result, name, dropped[kind])

        jacobian, self.jacobian_note = panel(thesis_views.jacobian_frame, long_range, "long_range", "memory at init")
        self.jacobian_finding = findings.jacobian_finding(jacobian)
        self.jacobian = charts.line_chart(
            jacobian,
            "distance",
            "log10 norm",
            "model",
            title="State Jacobian at initialization, variable-lag recall",
            x_title="distance T − t (steps before the final state)",
            y_title="log10 ‖∂s_T/∂x_t‖",
            integer_x=True,
        )

        recall = panel(thesis_views.recall_frame, long_range, "long_range", "variable-lag recall")
        self.distractors = panel(thesis_views.distractor_frame, long_range, "long_range", "distractors")
        self.distractor_table = thesis_views.distractor_table(self.distractors)
        self.recall_finding = findings.recall_finding(recall)
        self.recall_explanation = findings.recall_explanation(
            recall, panel(thesis_views.initial_shrink, long_range, "long_range", "shrink factors"), self.distractors
        )
        self.distractor_finding = findings.distractor_finding(self.distractors)
        self.recall = charts.line_chart(
            recall,
            "T",
            "accuracy",
            "model",
            title="Recall at a random lag: same budget for every model",
            x_title="T (the signal is T/2 to T steps back)",
            y_title="held-out accuracy (mean over seeds)",
            levels=[charts.Level(thesis_views.CHANCE_NAME, 0.5)],
            tooltip=["model", "T", "accuracy", "seeds"],
            integer_x=True,
            y_domain=(0, 1),
            points=True,
        )

        adding, baseline, self.adding_length = panel(thesis_views.adding_frame, long_range, "long_range", "adding")
        self.adding_finding = findings.adding_finding(adding, baseline, self.adding_length)
        self.adding = charts.line_chart(
            adding,
            "updates",
            "log10 MSE",
            "model",
            title=f"The adding problem at T = {self.adding_length}: a thin line per seed"
            if self.adding_length
            else "The adding problem",
            x_title="updates",
            y_title="log10 held-out MSE",
            detail="seed",
            levels=[
                charts.Level(thesis_views.best_constant_name(baseline), float(np.log10(baseline))),
                charts.Level(f"solved (MSE {findings.SOLVED_MSE})", float(np.log10(findings.SOLVED_MSE))),
            ]
            if baseline
            else [],
            tooltip=["model", "seed", "updates", "log10 MSE"],
            integer_x=True,
        )

        distance_rows = panel(thesis_views.distance_frame, distance, "distance", "sentiment at a distance")
        self.distance_finding = findings.distance_finding(distance_rows)
        self.distance = charts.line_chart(
            distance_rows,
            "T",
            "accuracy",
            "model",
            title="Sentiment at a distance: examples whose filler has the other label",
            x_title="filler length T (tokens between the review and the readout)",
            y_title="test accuracy (95% interval)",
            levels=[charts.Level(thesis_views.CHANCE_NAME, 0.5)],
            tooltip=["model", "T", "accuracy", "ci_low", "ci_high", "reviews"],
            interval=("ci_low", "ci_high"),
            integer_x=True,
            y_domain=(0, 1),
            points=True,
        )

        decisions = panel(thesis_views.decision_frame, gradients, "gradients", "test reviews' decisions")
        self.decisions_finding = findings.decision_finding(decisions)
        self.decisions = charts.line_chart(
            decisions,
            "steps before the end",
            "log10 share",
            "model",
            title="Test reviews: what the decisions depend on",
            x_title="steps before the final word",
            y_title="log10 share (geometric mean)",
            tooltip=["model", "steps before the end", "log10 share", "reviews"],
            integer_x=True,
        )

        # The cells' finding reads the cells and the reference; the models after the LSTM get a sentence of their own.
        lengths, buckets = views.length_frame(models), views.length_buckets(models)
        after = lengths["model"].str.contains(AFTER_THE_LSTM_MARK, regex=False)
        self.length_finding = " ".join(
            sentence
            for sentence in (
                findings.length_finding(lengths[~after], buckets),
                findings.after_the_lstm_length_finding(lengths, buckets),
            )
            if sentence
        )
        self.curves_finding = findings.curves_finding(views.history_frame(models))

        examples = views.example_reviews()
        self.example = examples[0]["text"] if examples else ""
        self.inside = inside_views.inside_flow(models, self.example)
        inspected, self.inspect_note = thesis_views.load_results("inspect", models.folder / "inspect.json")
        self.test_set = panel(inside_views.test_set_frames, inspected, "inspect", "over test reviews")
        self._what_came_next(models, long_range, bench, panel)
        for kind, names in dropped.items():
            if names:
                note = f"{kind}_note"
                left_out = f" Left out, as this file is not in the shape they read: {', '.join(names)}."
                setattr(self, note, getattr(self, note) + left_out)
        self.next_note = f"Long-range tasks: {self.long_range_note} Cost: {self.bench_note} IMDB: {self.imdb_note}"
        self.memory_gate_finding = findings.memory_gate_finding(self.test_set[0])
        self.example_notice, self.example_decision = (
            views.decision_flow(models, self.example)
            if models.predictors
            else ("", views.decision_chart(thesis_views.decision_frame(None)))
        )

    def _what_came_next(self, models: views.LoadedModels, long_range, bench, panel) -> None:
        """Panel 6, the models after the LSTM: associative recall, the cost curves, and a summary of the rest."""
        associative, chance = panel(thesis_views.associative_frame, long_range, "long_range", "associative recall")
        self.associative_finding = findings.associative_finding(associative, chance)
        self.associative = charts.line_chart(
            associative,
            "pairs",
            "accuracy",
            "model",
            title="Associative recall: the value of the queried key, same budget for every model",
            x_title="key-value pairs before the query",
            y_title="held-out accuracy (mean over seeds)",
            levels=[charts.Level(f"chance ({100 * chance:.0f}%)", chance)] if chance else [],
            tooltip=["model", "pairs", "accuracy", "seeds"],
            integer_x=True,
            y_domain=(0, 1),
            points=True,
            empty_message=f"No associative-recall runs yet: {thesis_views.COMMANDS['long_range']} measures them.",
        )
        cost = panel(thesis_views.cost_frame, bench, "bench", "sequential cost")
        self.cost_finding = findings.cost_finding(cost)
        self.cost = charts.line_chart(
            cost,
            "T",
            "log10 ms",
            "model",
            title="Training step against sequence length (one batch)",
            x_title="T (tokens per review; log scale: each step doubles T)",
            y_title="log10 ms per training step (median)",
            tooltip=["model", "T", "ms", "sequential steps"],
            integer_x=True,
            points=True,
            log_x=True,
            empty_message=f"No sequential-cost sweep yet: {thesis_views.COMMANDS['bench']} measures it.",
        )
        verdicts = panel(thesis_views.verdict_frame, long_range, "long_range", "what came next")
        shrink = panel(
            lambda result: thesis_views.initial_shrink(
                result, variants=("gru", "gru+chrono", *thesis_views.AFTER_VARIANTS)
            ),
            long_range,
            "long_range",
            "what came next",
        )
        metrics, self.imdb_note = _imdb_metrics(models)
        try:
            imdb = thesis_views.imdb_frame(metrics)
        except _SHAPE_ERRORS:
            imdb = thesis_views.imdb_frame({})
            self.imdb_note += " Left out, as these figures are not in the shape they are read in."
        notes = []
        if not (verdicts["model"].str.contains(AFTER_THE_LSTM_MARK, regex=False).any() or len(associative)):
            notes.append(
                "The long-range results hold no run of the models after the LSTM yet: "
                f"`{thesis_views.COMMANDS['long_range']}` runs them beside the cells, associative recall included."
            )
        if not cost["model"].str.contains(AFTER_THE_LSTM_MARK, regex=False).any():
            notes.append(
                "The bench's results hold no sequential cost of the models after the LSTM yet: "
                f"`{thesis_views.COMMANDS['bench']}` measures them."
            )
        if not imdb["after the LSTM"].any():
            notes.append(
                f"No IMDB run of the models after the LSTM yet: `{thesis_views.COMMANDS['imdb_next']}` trains them."
            )
        self.next_summary = findings.after_the_lstm_summary(verdicts, shrink, imdb, notes)

    def gate_outputs(self) -> tuple:
        """The "Why gates matter" tab at load: each panel's finding, then its data."""
        return (
            findings.finding_markdown(self.jacobian_finding),
            self.jacobian,
            findings.finding_markdown(self.recall_finding),
            self.recall,
            self.recall_explanation,
            findings.finding_markdown(self.distractor_finding),
            self.distractor_table,
            findings.finding_markdown(self.adding_finding),
            self.adding,
            findings.finding_markdown(self.distance_finding),
            self.distance,
            findings.finding_markdown(self.decisions_finding),
            self.decisions,
            self.example_notice,
            self.example_decision,
            self.next_summary,
            findings.finding_markdown(self.associative_finding),
            self.associative,
            findings.finding_markdown(self.cost_finding),
            self.cost,
        )


def _imdb_metrics(models: views.LoadedModels) -> tuple[dict[str, dict[str, Any]], str]:
    """Model -> metrics for the IMDB sentence of "What came next", and a line saying where they come from.

    The loaded models when those after the LSTM are among them (what the
    accuracy tab shows); else the shipped runs, the "imdb_next" summary
    joined to docs/imdb/'s, as `python -m sentiment results` joins them.
    """
    if models.after:
        return models.all_metrics(), f"the models loaded from {models.folder.name or '.'} (the accuracy tab's)."
    after, note = thesis_views.load_results("imdb_next", models.folder / views.NEXT_FOLDER / "summary.json")
    try:
        joined = {cell: entry for cell, entry in after["models"].items() if cell in AFTER_THE_LSTM} if after else {}
    except (AttributeError, KeyError, TypeError):
        return {}, note + " Left out, as this file is not in the shape it reads."
    if not joined:
        return {}, note
    cells, _ = thesis_views.load_results("imdb")
    others = {cell: entry for cell, entry in (cells or {}).get("models", {}).items() if cell not in AFTER_THE_LSTM}
    return {**others, **joined}, note


# What a results file of valid JSON but another shape raises in the function that reads it.
_SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError)


def _panel(read, result, name: str, dropped: list[str]):
    """`read(result)`, or `read(None)` (the empty panel) when `result` is not of the shape `read` needs.

    The panel's name goes into `dropped` (for its note). A wrong-shaped file
    drops the panels that read it, with a reason in the server log, as a
    broken model file drops that model; the app still starts.
    """
    try:
        return read(result)
    except _SHAPE_ERRORS as error:
        print(
            f"{name}: left out, its results file is not of the shape it reads ({type(error).__name__}: {error})",
            file=sys.stderr,
            flush=True,
        )
        dropped.append(name)
        return read(None)
