"""What the page shows before any click, computed once at start.

The results files the thesis tab reads (`webapp.thesis_views`), the first
example review read by every model (the Compare tab's at start, the inside
view and the decision plot), and the test-set figures of "Inside the cell".
"""

from __future__ import annotations

import sys

import numpy as np

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
    ):
        long_range, self.long_range_note = thesis_views.load_results("long_range", long_range_results)
        distance, self.distance_note = thesis_views.load_results("distance", distance_results)
        gradients, self.gradients_note = thesis_views.load_results("gradients", models.folder / views.GRADIENTS_FILE)
        dropped: dict[str, list[str]] = {"long_range": [], "distance": [], "gradients": [], "inspect": []}

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

        self.length_finding = findings.length_finding(views.length_frame(models), views.length_buckets(models))
        self.curves_finding = findings.curves_finding(views.history_frame(models))

        examples = views.example_reviews()
        self.example = examples[0]["text"] if examples else ""
        self.inside = inside_views.inside_flow(models, self.example)
        inspected, self.inspect_note = thesis_views.load_results("inspect", models.folder / "inspect.json")
        self.test_set = panel(inside_views.test_set_frames, inspected, "inspect", "over test reviews")
        for kind, names in dropped.items():
            if names:
                note = f"{kind}_note"
                left_out = f" Left out, as this file is not in the shape they read: {', '.join(names)}."
                setattr(self, note, getattr(self, note) + left_out)
        self.memory_gate_finding = findings.memory_gate_finding(self.test_set[0])
        self.example_notice, self.example_decision = (
            views.decision_flow(models, self.example)
            if models.predictors
            else ("", views.decision_chart(thesis_views.decision_frame(None)))
        )

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
        )


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
