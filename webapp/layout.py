"""The comparison app: SimpleRNN, LSTM and GRU on any review, and by review length.

    python app.py [--artifacts artifacts] [--port 7860] [--expose] [--auth USER:PASSWORD]
                  [--max-batch-size 64] [--queue-size 256]

Requests that arrive together are scored together: one forward pass per
model for up to `--max-batch-size` reviews, each answer the same as scoring
its review alone. It listens on 127.0.0.1 only, unless told otherwise with `--expose` (every
interface) or `--host`; basic auth comes from `--auth` or the environment
variable SENTIMENT_APP_AUTH (better: not shown in the process list).

Only layout and event wiring live here; what is computed comes from
`webapp.views`, which loads the artifacts folder once at start.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys

# Before TensorFlow loads (through webapp.views): keep its C++ start-up chatter out of the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from webapp import inside_views  # noqa: E402
from webapp import thesis_views as thesis  # noqa: E402
from webapp import views as comparing  # noqa: E402

# TensorFlow already spreads one forward pass over the cores, so two at once
# only make each slower: the models run one call at a time. What makes a
# classroom fit is batching: the requests waiting when that slot frees up
# (up to MAX_BATCH_SIZE) are scored together, one forward pass per model, so
# 200 users pressing the button at once cost a few passes, not 200. The queue
# holds every one of them, and beyond its bound a request is refused at once
# with Gradio's "Queue is full" message.
COMPARE_CONCURRENCY = 1
# Compare, the decision plot and the inside view all run the models: they share that one slot.
MODELS_CONCURRENCY_ID = "models"
MAX_BATCH_SIZE = 64
# The decision plot (a gradient pass) and the inside view (a NumPy replay and a
# heatmap per review) cost more per review: smaller batches keep compares moving.
HEAVY_BATCH_SIZE = 8
QUEUE_SIZE = 256
# Waiting users get their place in the queue every this many seconds. Gradio's
# default ("auto") tells every waiting user each time a batch starts: with 200
# waiting that is thousands of messages a second, on the one thread that also
# answers them.
STATUS_UPDATE_SECONDS = 2.0
# The tabs' tables are computed once at start; serving them is cheap.
TABLES_CONCURRENCY = 4

# Okabe-Ito colours (safe for colour-blind readers), one hue per model; the
# lighter tint marks a model's interval bounds or its training split.
MODEL_COLORS = {"SimpleRNN": ("#D55E00", "#F2BFA0"), "LSTM": ("#0072B2", "#A6CDE6"), "GRU": ("#009E73", "#A3DCCB")}
# The bag-of-n-grams reference, in the accuracy tab only: grey, not a cell.
REFERENCE_COLORS = {"Bag of n-grams (reference)": ("#666666", "#BBBBBB")}
TOKEN_COLORS = {
    comparing.MUCH_MORE_POSITIVE: "#1a9850",
    comparing.MORE_POSITIVE: "#a6d96a",
    comparing.MORE_NEGATIVE: "#fdae61",
    comparing.MUCH_MORE_NEGATIVE: "#d73027",
    comparing.UNKNOWN_WORD: "#b39ddb",
    comparing.NOT_READ: "#e0e0e0",
}

INTRODUCTION = """
# SimpleRNN vs LSTM vs GRU

Three sentiment classifiers trained on IMDB that differ only in the recurrent cell.
Type a review and compare them, see where each one changes its mind while reading,
and how accurate each is on the test reviews by length.
"""


def _escape(text: str) -> str:
    """Markdown-escapes a message so paths and reasons show as written."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~])", r"\\\1", text)


def status_markdown(models: comparing.LoadedModels) -> str:
    """What is loaded, what failed and why, and how to train what is missing."""
    folder = _escape(str(models.folder))
    command = comparing.train_command(models.folder)
    if not models.predictors:
        lines = [f"**No trained models could be loaded from {folder}.** Train them with:"]
        lines += ["", f"```\n{command}\n```", ""]
        lines += ["(add `--preset quick` for a demo in a few minutes), then start the app again."]
        if not models.nothing_trained:
            lines += ["", *_failure_lines(models)]
        return "\n".join(lines)
    loaded = ", ".join(comparing.model_name(cell_type) for cell_type in models.predictors)
    first = next(iter(models.predictors.values()))
    side = "last" if first.artifact.config.data.truncation_side == "left" else "first"
    lines = [
        f"Loaded from {folder}: **{loaded}**. They read at most the {side} {first.sequence_length} words of a review."
    ]
    if models.failures:
        lines += [
            "",
            *_failure_lines(models),
            "",
            f"To train what is missing: `{command}` (finished models are kept), then restart the app.",
        ]
    return "\n".join(lines)


def _failure_lines(models: comparing.LoadedModels) -> list[str]:
    return [
        f"- **{comparing.model_name(cell_type)} is not loaded**: {_escape(reason)}"
        for cell_type, reason in models.failures.items()
    ]


def run_comparison(models: comparing.LoadedModels, text: str):
    """The compare button for one review: notices, results table, trajectory plot, one token view per model."""
    return _comparison_outputs(models, comparing.compare(models, text))


def run_comparisons(models: comparing.LoadedModels, texts: list[str]) -> tuple[list, ...]:
    """The compare endpoint, batched: reviews that arrived together, one forward pass per model; a list per output."""
    return _by_output([_comparison_outputs(models, comparison) for comparison in comparing.compare_many(models, texts)])


def _postprocessed(components: list, function):
    """`function`'s outputs as the components' own `postprocess` makes them, for an event with `postprocess=False`.

    Gradio walks every value of an answer looking for files twice when it
    postprocesses, and once when it does not. The compare answers hold no
    file and up to a few thousand values (a trajectory point per word and
    model), so under a classroom's load that walk costs more than the models;
    postprocessing here, in the worker thread, sends the very same JSON.
    """

    def run(texts: list[str]) -> tuple[list, ...]:
        columns = function(texts)
        return tuple(
            [_serialized(component.postprocess(value)) for value in column]
            for component, column in zip(components, columns)
        )

    return run


def _serialized(value):
    return value.model_dump() if hasattr(value, "model_dump") else value


def _by_output(answers: list[tuple]) -> tuple[list, ...]:
    """Per-request output tuples -> one list per output component, as Gradio's batched functions return."""
    return tuple(list(column) for column in zip(*answers))


def _comparison_outputs(models: comparing.LoadedModels, comparison: comparing.Comparison) -> tuple:
    notices = list(comparison.notices)
    if not models.predictors:
        notices.append(f"No model is loaded; train them first with `{comparing.train_command(models.folder)}`.")
    token_views = [
        comparing.token_effects(comparison.results[cell_type].reading) if cell_type in comparison.results else None
        for cell_type in comparing.CELL_TYPES
    ]
    return (
        "\n\n".join(notices),
        {"headers": list(comparing.RESULT_COLUMNS), "data": comparing.result_rows(models, comparison)},
        line_plot_value(
            comparing.trajectory_rows(comparison), comparing.TRAJECTORY_COLUMNS, comparing.TRAJECTORY_DATATYPES
        ),
        *token_views,
    )


def line_plot_value(rows: list[list], columns: tuple[str, ...], datatypes: dict[str, str]) -> dict:
    """A line plot's data as `gr.LinePlot.postprocess` makes it from a DataFrame of `rows`, without the DataFrame.

    Native plots pass a dict through as it is; building it from rows saves a
    DataFrame and its JSON round trip per answer (tests check it is the
    same value Gradio makes).
    """
    return {
        "columns": list(columns),
        "data": rows,
        "datatypes": {name: datatypes[name] for name in columns},
        "mark": "line",
    }


def length_plot_frame(models: comparing.LoadedModels) -> pd.DataFrame:
    """Accuracy and both interval bounds as series of one line plot."""
    frame = comparing.length_frame(models)
    series = [
        frame.assign(series=frame["model"] + suffix, value=frame[column])
        for column, suffix in (("accuracy", ""), ("ci_low", " 95% CI low"), ("ci_high", " 95% CI high"))
    ]
    columns = ["series", "model", "words", "value", "accuracy", "ci_low", "ci_high", "reviews"]
    return pd.concat(series, ignore_index=True)[columns] if len(frame) else pd.DataFrame(columns=columns)


def length_table(models: comparing.LoadedModels) -> pd.DataFrame:
    """Accuracy [95% CI] per bucket and model, with the number of reviews."""
    frame = comparing.length_frame(models)
    if not len(frame):
        return pd.DataFrame(columns=["words", "reviews"])
    frame = frame.assign(
        cell=frame.apply(lambda row: f"{row.accuracy:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]", axis=1)
    )
    table = frame.pivot(index="words", columns="model", values="cell")
    counts = frame.groupby("words")["reviews"].first()
    names = [comparing.model_name(cell_type) for cell_type in models.all_metrics()]
    buckets = [bucket for bucket in comparing.length_buckets(models) if bucket in table.index]
    return table.assign(reviews=counts).loc[buckets, ["reviews", *names]].reset_index()


def curves_frame(models: comparing.LoadedModels) -> pd.DataFrame:
    """Histories with a series per model and split; epochs as labels, so the axis shows whole epochs."""
    frame = comparing.history_frame(models)
    return frame.assign(series=frame["model"] + " " + frame["split"], epoch=frame["epoch"].astype(str))


def epoch_labels(curves: pd.DataFrame) -> list[str]:
    return [str(epoch) for epoch in sorted({int(epoch) for epoch in curves["epoch"]})]


def bucket_counts(models: comparing.LoadedModels) -> pd.DataFrame:
    """Test reviews per length bucket (the same for every model)."""
    frame = comparing.length_frame(models)
    return frame.groupby("words", sort=False, as_index=False)["reviews"].first()


def _series_colors(suffixes: tuple[str, str, str] | tuple[str, str], colors: dict = MODEL_COLORS) -> dict[str, str]:
    """Series name -> colour: the model's hue for the first suffix, its tint for the others."""
    return {
        f"{name}{suffix}": (solid if index == 0 else tint)
        for name, (solid, tint) in colors.items()
        for index, suffix in enumerate(suffixes)
    }


GATES_INTRODUCTION = """
The three models differ only in their recurrent cell, so what separates them is what the cell keeps.
Each panel below is a measurement from trained models, on tasks where memory is the only way to win,
then on real reviews. Each says which run produced it.
"""


def _gate_plot(**options) -> gr.LinePlot:
    return gr.LinePlot(height=320, **options)


def decision_flow(models: comparing.LoadedModels, text: str):
    """The decision button for one review: notices and the per-word shares for the review in the Compare tab."""
    return _decision_outputs(models, *comparing.review_decision_frame(models, text))


def decision_flows(models: comparing.LoadedModels, texts: list[str]) -> tuple[list, ...]:
    """The decision endpoint, batched: one gradient pass per model for the reviews that arrived together."""
    return _by_output(
        [
            _decision_outputs(models, notices, frame)
            for notices, frame in comparing.review_decision_frames(models, texts)
        ]
    )


def _decision_outputs(
    models: comparing.LoadedModels, notices: list[str], frame: pd.DataFrame
) -> tuple[str, pd.DataFrame]:
    if not models.predictors:
        notices = [*notices, f"No model is loaded; train them first with `{comparing.train_command(models.folder)}`."]
    return "\n\n".join(notices), frame


def _variant_colors() -> dict[str, str]:
    """Long-range variants: the cell's colour; chrono and IRNN in its tint or a neighbour."""
    colors = {name: solid for name, (solid, _) in MODEL_COLORS.items()}
    colors.update({f"{name} (chrono init)": tint for name, (_, tint) in MODEL_COLORS.items()})
    colors.update({"IRNN": "#E69F00", "SimpleRNN, inputs × 8": "#CC79A7"})
    return colors


class StartViews:
    """What the page shows before any click, computed once at start.

    The results files, and the first example read by every model.
    """

    def __init__(
        self, models: comparing.LoadedModels, long_range_results: str | None = None, distance_results: str | None = None
    ):
        long_range, self.long_range_note = thesis.load_results("long_range", long_range_results)
        distance, self.distance_note = thesis.load_results("distance", distance_results)
        gradients, self.gradients_note = thesis.load_results("gradients", models.folder / comparing.GRADIENTS_FILE)
        self.jacobian, self.jacobian_note = thesis.jacobian_frame(long_range)
        self.recall = thesis.recall_frame(long_range)
        self.adding, self.adding_baseline, self.adding_length = thesis.adding_frame(long_range)
        self.distance = thesis.distance_frame(distance)
        self.decisions = thesis.decision_frame(gradients)
        examples = comparing.example_reviews()
        self.example = examples[0]["text"] if examples else ""
        self.inside = inside_flow(models, self.example)
        inspected, self.inspect_note = thesis.load_results("inspect", models.folder / "inspect.json")
        self.test_set = inside_views.test_set_frames(inspected)
        self.example_notice, self.example_decision = (
            decision_flow(models, self.example) if models.predictors else ("", thesis.decision_frame(None))
        )

    def outputs(self) -> tuple:
        return self.jacobian, self.recall, self.adding, self.distance, self.decisions, self.example_decision


def _gates_tab(views: StartViews, model_colors: dict[str, str]):
    """Lays out the "Why gates matter" tab.

    Returns the plots filled at load, the decision button, its notice and
    its plot.
    """
    colors = _variant_colors()
    gr.Markdown(GATES_INTRODUCTION)
    gr.Markdown(
        f"### 1. Memory at initialization\n{views.long_range_note} {views.jacobian_note}", elem_id="jacobian-source"
    )
    jacobian = _gate_plot(
        x="distance",
        y="log10 norm",
        color="model",
        color_map=colors,
        tooltip=["model", "distance", "log10 norm"],
        x_title="distance T − t (steps before the final state)",
        y_title="log10 ‖∂s_T/∂x_t‖",
        title="State Jacobian at initialization, variable-lag recall",
        elem_id="jacobian-init",
    )
    gr.Markdown(
        "### 2. Variable-lag recall\nOne signal token at a random lag in [T/2, T] among distractors; the label is its "
        "class. 50% is chance."
    )
    recall = _gate_plot(
        x="T",
        y="accuracy",
        color="model",
        color_map=colors,
        y_lim=[0, 1],
        tooltip=["model", "T", "accuracy", "seeds"],
        x_title="T",
        y_title="held-out accuracy (mean over seeds)",
        title="Recall at a random lag: same budget for every model",
        elem_id="recall",
    )
    adding_title = (
        f"The adding problem at T = {views.adding_length}: held-out MSE (best constant {views.adding_baseline:.3f})"
        if views.adding_baseline
        else "The adding problem"
    )
    gr.Markdown(
        "### 3. The adding problem\nSum the two marked values among T random ones. Below log10(0.01) = −2 counts as "
        "solved; the best constant scores about 1/6 (−0.78)."
    )
    adding = _gate_plot(
        x="updates",
        y="log10 MSE",
        color="series",
        color_map={
            series: colors.get(model, "#999999") for series, model in zip(views.adding["series"], views.adding["model"])
        },
        tooltip=["model", "seed", "updates", "log10 MSE"],
        x_title="updates",
        y_title="log10 held-out MSE (a line per seed)",
        title=adding_title,
        elem_id="adding",
    )
    gr.Markdown(
        f"### 4. Sentiment at a distance, on real reviews\n{views.distance_note} The first 100 tokens of a review, a "
        "separator, then T tokens of other reviews whose label is drawn independently; shown on the examples whose "
        "filler has the other label, where a model that forgets falls below 50%.",
        elem_id="distance-source",
    )
    distance = _gate_plot(
        x="T",
        y="accuracy",
        color="model",
        y_lim=[0, 1],
        tooltip=["model", "T", "accuracy", "ci_low", "ci_high", "reviews"],
        x_title="filler length T",
        y_title="test accuracy, filler of the other label",
        title="Sentiment at a distance",
        elem_id="distance",
    )
    gr.Markdown(
        "### 5. What this decision depends on\nEach word's gradient ‖∂ loss/∂ word‖ in the trained IMDB models, as a "
        f"share of the review's total, by distance from the last word read. {views.gradients_note}",
        elem_id="decision-source",
    )
    decisions = _gate_plot(
        x="steps before the end",
        y="log10 share",
        color="model",
        color_map=model_colors,
        tooltip=["model", "log10 share", "reviews"],
        x_title="steps before the final word",
        y_title="log10 share (geometric mean)",
        title="Test reviews: what the decisions depend on",
        elem_id="decision-average",
    )
    button = gr.Button(
        "What each model's decision on the review in the Compare tab depends on", elem_id="decision-button"
    )
    notice = gr.Markdown(elem_id="decision-notice")
    review = _gate_plot(
        x="steps before the end",
        y="log10 share",
        color="model",
        color_map=model_colors,
        tooltip=["model", "word", "log10 share"],
        x_title="steps before the final word (0 = the last word read)",
        y_title="log10 share of the review's gradient",
        title="One review (at start: the first example)",
        elem_id="decision-review",
    )
    return (jacobian, recall, adding, distance, decisions, review), button, notice, review


def _compare_tab(examples: list[dict]) -> tuple:
    """The review box, its examples and button, and what the comparison fills: (review, button, outputs)."""
    review = gr.Textbox(
        label="Review",
        lines=6,
        max_lines=16,
        placeholder="Type or paste a movie review (English, like IMDB's)",
        info=f"Up to {comparing.MAX_REVIEW_CHARACTERS:,} characters; longer text is cut before scoring.",
        elem_id="review",
    )
    gr.Examples(
        [[example["text"]] for example in examples],
        inputs=[review],
        example_labels=[f"{example['name']} ({example['words']} words, {example['label']})" for example in examples],
        label="Real IMDB test reviews",
    )
    button = gr.Button("Compare the three models", variant="primary", elem_id="compare-button")
    notice = gr.Markdown(elem_id="notice")
    results = gr.Dataframe(
        headers=list(comparing.RESULT_COLUMNS),
        label="Each model's verdict (time: this model on the server, for the batch the review was scored in)",
        interactive=False,
        elem_id="results",
    )
    gr.Markdown("### How each model reads it")
    trajectory = gr.LinePlot(
        x="token",
        y="P(positive)",
        color="model",
        color_map={name: solid for name, (solid, _) in MODEL_COLORS.items()},
        y_lim=[0, 1],
        tooltip=["model", "word"],
        x_title="words read",
        title="P(positive) after each word",
        caption="Where a line crosses 0.5 the model changes its mind. Words the models did not read are not on the "
        "axis.",
        height=320,
        elem_id="trajectory",
    )
    gr.Markdown(
        "Each word coloured by how much reading it moved P(positive) "
        f"(±{comparing.WEAK_EFFECT} and ±{comparing.STRONG_EFFECT}); words as the models see them: lowercased, "
        "without markup or punctuation."
    )
    token_views = [
        gr.HighlightedText(
            label=comparing.model_name(cell_type),
            color_map=TOKEN_COLORS,
            show_legend=index == 0,
            show_inline_category=False,
            elem_id=f"tokens-{cell_type}",
        )
        for index, cell_type in enumerate(comparing.CELL_TYPES)
    ]
    return review, button, [notice, results, trajectory, *token_views]


def _length_tab(buckets: list[str]) -> list:
    """The accuracy-by-length plots and tables: [plot, counts, table, overall]."""
    gr.Markdown(
        "Test accuracy of each model on reviews of each length (words before truncation), "
        "with 95% Wilson intervals as lighter lines; from the saved evaluation of these models."
    )
    plot = gr.LinePlot(
        x="words",
        y="value",
        color="series",
        color_map=_series_colors(("", " 95% CI low", " 95% CI high"), {**MODEL_COLORS, **REFERENCE_COLORS}),
        colors_in_legend=[*MODEL_COLORS, *REFERENCE_COLORS],
        sort=buckets,
        tooltip=["model", "accuracy", "ci_low", "ci_high", "reviews"],
        x_title="review length (words)",
        y_title="test accuracy",
        color_title="model",
        title="Accuracy by review length",
        height=360,
        elem_id="accuracy-by-length",
    )
    counts = gr.BarPlot(
        x="words",
        y="reviews",
        sort=buckets,
        x_title="review length (words)",
        y_title="test reviews",
        title="Test reviews per length: fewer reviews, wider intervals",
        height=220,
        elem_id="reviews-by-length",
    )
    table = gr.Dataframe(label="Accuracy [95% CI] and reviews per length", interactive=False, elem_id="length-table")
    overall = gr.Dataframe(label="Overall (test split)", interactive=False, elem_id="overall")
    return [plot, counts, table, overall]


def _curves_tab(curves: pd.DataFrame) -> list:
    """Accuracy and loss per epoch, train and validation."""
    return [
        gr.LinePlot(
            x="epoch",
            y=metric,
            color="series",
            color_map=_series_colors((" validation", " train")),
            colors_in_legend=[f"{name} {split}" for name in MODEL_COLORS for split in ("validation", "train")],
            sort=epoch_labels(curves),
            x_title="epoch",
            color_title="model and split",
            title=f"{metric} per epoch (darker: validation, lighter: train)",
            height=300,
            elem_id=f"curves-{metric}",
        )
        for metric in ("accuracy", "loss")
    ]


INSIDE_INTRODUCTION = """
Inside each model's recurrent layer, word by word, for the review in the Compare tab (at start: the first example).
The **LSTM**'s input gate decides what to store, its forget gate what to keep of the old memory (1 keeps it), its
output gate what to show. The **GRU** does it with an update gate (in Keras, 1 keeps the old state) and a reset gate
(how much of the old state the candidate may use). The **SimpleRNN** has no gate: only a squashed state, and where
its tanh units saturate (|h| near 1) their gradient vanishes. Heatmaps: a row per unit, a column per word; gates on
a 0 (dark) to 1 (yellow) scale, states blue (negative) to red (positive). The same, as JSON and PNG:
`python -m sentiment inspect --text "..."`.
"""


def inside_flow(models: comparing.LoadedModels, text: str) -> tuple:
    """The inside button for one review: every output of the tab for the review in the Compare tab."""
    return inside_views.inside_view(models, text).outputs()


def inside_flows(models: comparing.LoadedModels, texts: list[str]) -> tuple[list, ...]:
    """The inside endpoint, batched: the reviews that arrived together read in one forward pass per model."""
    return _by_output([view.outputs() for view in inside_views.inside_views(models, texts)])


def _inside_tab(test_set_note: str):
    """Lays out the "Inside the cell" tab; returns (the button, its outputs, the test-set plot and table)."""
    gr.Markdown(INSIDE_INTRODUCTION)
    button = gr.Button("Inside the cell for the review in the Compare tab", elem_id="inside-button")
    outputs = [gr.Markdown(elem_id="inside-notice")]
    for cell_type in comparing.CELL_TYPES:
        name = comparing.model_name(cell_type)
        gr.Markdown(f"### {name}")
        outputs += [
            gr.Image(
                label=f"{name}: units x words, every gate and state",
                type="numpy",
                interactive=False,
                elem_id=f"inside-heatmap-{cell_type}",
            ),
            gr.LinePlot(
                x="word index",
                y="value",
                color="series",
                tooltip=["series", "word", "value"],
                x_title="words read",
                y_title="gate (mean over units) or P(positive)",
                title=f"{name}: each gate per word, beside P(positive)",
                height=260,
                elem_id=f"inside-gates-{cell_type}",
            ),
            gr.LinePlot(
                x="word index",
                y="value",
                color="series",
                tooltip=["series", "word", "value"],
                x_title="words read",
                y_title="activation or P(positive)",
                title=f"{name}: the unit that follows P(positive) most closely",
                height=240,
                elem_id=f"inside-unit-{cell_type}",
            ),
            gr.Markdown(elem_id=f"inside-unit-note-{cell_type}"),
        ]
    outputs.append(
        gr.LinePlot(
            x="word index",
            y="share of units with |h| > 0.95",
            tooltip=["word", "share of units with |h| > 0.95"],
            y_lim=[0, 1],
            x_title="words read",
            title="SimpleRNN: share of saturated units per word (where tanh saturates, gradients vanish)",
            height=220,
            elem_id="inside-saturation",
        )
    )
    gr.Markdown(f"### Over test reviews\n{test_set_note}", elem_id="inside-test-set-source")
    histogram = gr.LinePlot(
        x="gate value",
        y="share",
        color="model",
        tooltip=["model", "gate value", "share"],
        x_title="gate value (1 keeps the memory)",
        y_title="share of (unit, word) pairs",
        title="How much memory each gated model keeps per step",
        height=260,
        elem_id="inside-memory-gates",
    )
    classes = gr.Dataframe(
        label="Mean gate on the words each model moves most (its own effects) and on all others",
        interactive=False,
        elem_id="inside-classes",
    )
    return button, outputs, histogram, classes


def build_app(
    models: comparing.LoadedModels,
    long_range_results: str | None = None,
    distance_results: str | None = None,
    max_batch_size: int = MAX_BATCH_SIZE,
    queue_size: int = QUEUE_SIZE,
) -> gr.Blocks:
    """Lays out the page, wires its events and sets up the queue; loads nothing itself.

    Args:
        models: from `comparing.load_models`.
        long_range_results, distance_results: a long_range.json or
            distance.json to show; None looks in the default places
            (`thesis.find_results`: the CLI's output, else docs/).
        max_batch_size: the most compare requests scored in one pass (1: one
            review at a time, the app before batching); the decision and
            inside endpoints take at most `HEAVY_BATCH_SIZE` of it.
        queue_size: the most requests waiting; more are refused at once.
    """
    length_frames = (
        length_plot_frame(models),
        bucket_counts(models),
        length_table(models),
        comparing.overall_frame(models),
    )
    curves = curves_frame(models)
    gate_views = StartViews(models, long_range_results, distance_results)
    on_models = {"concurrency_limit": COMPARE_CONCURRENCY, "concurrency_id": MODELS_CONCURRENCY_ID, "batch": True}
    heavy = {**on_models, "max_batch_size": min(max_batch_size, HEAVY_BATCH_SIZE)}
    with gr.Blocks(title="SimpleRNN vs LSTM vs GRU", analytics_enabled=False) as app:
        gr.Markdown(INTRODUCTION)
        gr.Markdown(status_markdown(models), elem_id="status")
        with gr.Tabs():
            with gr.Tab("Compare on a review", id="compare"):
                review, button, comparison_views = _compare_tab(comparing.example_reviews())
            with gr.Tab("Inside the cell", id="inside"):
                inside_button, inside_outputs, memory_gates, gate_classes = _inside_tab(gate_views.inspect_note)
            with gr.Tab("Accuracy by review length", id="length"):
                length_views = _length_tab(comparing.length_buckets(models))
            with gr.Tab("Training curves", id="curves"):
                curve_views = _curves_tab(curves)
            with gr.Tab("Why gates matter", id="gates"):
                gate_plots, decision_button, decision_notice, decision_plot = _gates_tab(
                    gate_views, {name: solid for name, (solid, _) in MODEL_COLORS.items()}
                )
        button.click(
            _postprocessed(comparison_views, lambda texts: run_comparisons(models, texts)),
            inputs=[review],
            outputs=comparison_views,
            api_name="compare",
            max_batch_size=max_batch_size,
            postprocess=False,
            **on_models,
        )
        decision_button.click(
            lambda texts: decision_flows(models, texts),
            inputs=[review],
            outputs=[decision_notice, decision_plot],
            api_name="decision",
            **heavy,
        )
        inside_button.click(
            lambda texts: inside_flows(models, texts),
            inputs=[review],
            outputs=inside_outputs,
            api_name="inside",
            **heavy,
        )
        app.load(
            lambda: length_frames,
            outputs=length_views,
            api_name="accuracy_by_length",
            concurrency_limit=TABLES_CONCURRENCY,
        )
        app.load(
            lambda: (*gate_views.inside, *gate_views.test_set),
            outputs=[*inside_outputs, memory_gates, gate_classes],
            api_name="inside_at_start",
            concurrency_limit=TABLES_CONCURRENCY,
        )
        app.load(
            gate_views.outputs, outputs=list(gate_plots), api_name="why_gates", concurrency_limit=TABLES_CONCURRENCY
        )
        app.load(
            lambda: (curves, curves),
            outputs=curve_views,
            api_name="training_curves",
            concurrency_limit=TABLES_CONCURRENCY,
        )
    return app.queue(
        default_concurrency_limit=COMPARE_CONCURRENCY, max_size=queue_size, status_update_rate=STATUS_UPDATE_SECONDS
    )


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
        default=comparing.DEFAULT_ARTIFACTS,
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


# What the app holds from its start to its end (TensorFlow, the models, Gradio's
# routes: about 600,000 objects) is garbage-collected like everything else: each
# full collection walks all of it again and holds the interpreter lock while it
# does, so no request moves. Under a classroom's burst (2,000 compare requests
# from 200 clients, as `benchmarks/load_test.py` sends them) Python ran 14 full
# collections of 0.3 to 0.8 s, 6.4 and 6.8 s in two runs. Frozen once the server
# is up, those objects are left out of every collection, and a full collection
# waits for this many middle-generation ones instead of Python's 10: 5 full
# collections of about 0.17 s in the same burst, and the app's CPU per answer
# went from 11.9 and 12.7 ms to 10.2 and 10.0 ms.
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


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    warning = exposure_warning(arguments)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(f"loading models from {arguments.artifacts}", flush=True)
    models = comparing.load_models(arguments.artifacts)
    for cell_type, reason in models.failures.items():
        print(f"{comparing.model_name(cell_type)} not loaded: {reason}", file=sys.stderr, flush=True)
    app = build_app(models, max_batch_size=arguments.max_batch_size, queue_size=arguments.queue_size)
    app.launch(
        server_name=arguments.host,
        server_port=arguments.port,
        auth=arguments.auth,
        ssr_mode=False,
        footer_links=["api", "gradio", "settings"],
        run_history=False,  # reviews stay out of the browser's storage
        prevent_thread_lock=True,  # returns once it serves, to freeze what it loaded
    )
    freeze_startup_objects()
    app.block_thread()  # what launch does itself without prevent_thread_lock: serve until interrupted


if __name__ == "__main__":
    main()
