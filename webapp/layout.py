"""The comparison app's page: its tabs, their components and the events that fill them.

Only layout and event wiring live here. What is computed comes from
`webapp.views` (the Compare tab, accuracy by length, training curves),
`webapp.inside_views`, `webapp.thesis_views` and `webapp.findings` (the
sentence above each plot), through `webapp.start_views` for what the page
shows at load; colours come from `sentiment.style`. The server is started
by `webapp.server` (`python app.py`).

Requests that arrive together are scored together: one forward pass per
model for up to `--max-batch-size` reviews, each answer the same as scoring
its review alone.
"""

from __future__ import annotations

import os
import traceback

# Before TensorFlow loads (through webapp.views): keep its C++ start-up chatter out of the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gradio as gr  # noqa: E402

from sentiment import style  # noqa: E402
from webapp import experiment_tab, findings, inside_views, playground_tab, views  # noqa: E402
from webapp.start_views import StartViews  # noqa: E402

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
CURVE_METRICS = ("accuracy", "loss")
# Run in the browser when a tab opens: the charts (`webapp.charts`, "width": "container") measure it again.
RESIZE_CHARTS = "() => { setTimeout(() => window.dispatchEvent(new Event('resize')), 50); }"
# The tabs' tables are computed once at start; serving them is cheap.
TABLES_CONCURRENCY = 4
# The inside view writes a heatmap file per model and review (Gradio's cache,
# in the app's own temporary folder): every CACHE_CHECK_SECONDS the files
# older than CACHE_MAX_AGE_SECONDS are deleted, and all of them at exit.
CACHE_CHECK_SECONDS = 60
CACHE_MAX_AGE_SECONDS = 600
# What a review whose computation failed gets in place of its answer; the others in its batch get theirs.
FAILED_REVIEW_MESSAGE = "This review could not be processed (the error is in the server log); try another."

TOKEN_COLORS = {
    views.MUCH_MORE_POSITIVE: "#1a9850",
    views.MORE_POSITIVE: "#a6d96a",
    views.MORE_NEGATIVE: "#fdae61",
    views.MUCH_MORE_NEGATIVE: "#d73027",
    views.UNKNOWN_WORD: "#b39ddb",
    views.NOT_READ: "#e0e0e0",
}

INTRODUCTION = """
# SimpleRNN vs LSTM vs GRU

Three sentiment classifiers trained on IMDB that differ only in the recurrent cell.
Type a review and compare them, see where each one changes its mind while reading,
and how accurate each is on the test reviews by length.
"""


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


def _isolated(function, outputs: int):
    """`function` (a batched endpoint) run so that a review that makes it fail fails alone.

    Payloads of the wrong shape never join a batch (`webapp.server.RequestGuard`);
    this is for a review that makes the computation itself fail. The batch is
    then run again one review at a time: each review gets its own answer, the
    failing one `FAILED_REVIEW_MESSAGE` in its first output (every endpoint's
    first output is its notice) and nothing in the others.
    """

    def run(texts: list) -> tuple[list, ...]:
        try:
            return function(texts)
        except Exception:
            traceback.print_exc()
        answers = []
        for text in texts:
            try:
                answers.append(tuple(column[0] for column in function([text])))
            except Exception:
                traceback.print_exc()
                answers.append((FAILED_REVIEW_MESSAGE, *[None] * (outputs - 1)))
        return views.by_output(answers)

    return run


def _serialized(value):
    return value.model_dump() if hasattr(value, "model_dump") else value


def _model_colors(names) -> dict[str, str]:
    """Display name -> colour for the names a plot draws; reference levels (chance, best constant) in grey."""
    return {
        name: style.LEVEL_COLOR if name.startswith(("chance", "best constant")) else style.color_of_name(name)
        for name in names
    }


def _finding(elem_id: str) -> gr.Markdown:
    """The sentence above a plot (`webapp.findings`), filled with the plot's data."""
    return gr.Markdown(elem_id=elem_id, elem_classes=["finding"])


GATES_INTRODUCTION = """
The three models differ only in their recurrent cell, so what separates them is what the cell keeps.
Each panel below is a measurement from trained models, on tasks where memory is the only way to win,
then on real reviews. Each says which run produced it, and above each plot a sentence computed from its
data says what it shows.
"""


def _plot(elem_id: str) -> gr.Plot:
    """A measured plot: a `webapp.charts` spec, filled by an event."""
    return gr.Plot(show_label=False, elem_id=elem_id, elem_classes=["chart"])


def _gates_tab(start: StartViews) -> tuple[list, gr.Button, list]:
    """Lays out the "Why gates matter" tab.

    Returns the components filled at load (in `StartViews.gate_outputs`
    order), the decision button, and what it fills (its notice and plot).
    """
    gr.Markdown(GATES_INTRODUCTION)
    gr.Markdown(
        f"### 1. Memory at initialization\n{start.long_range_note} {start.jacobian_note}", elem_id="jacobian-source"
    )
    jacobian_finding = _finding("jacobian-finding")
    jacobian = _plot("jacobian-init")
    gr.Markdown(
        "### 2. Variable-lag recall\nOne signal token at a random lag in [T/2, T] among distractors; the label is its "
        "class. The grey line is chance."
    )
    recall_finding = _finding("recall-finding")
    recall = _plot("recall")
    recall_explanation = gr.Markdown(elem_id="recall-explanation")
    distractor_finding = _finding("distractor-finding")
    distractors = gr.Dataframe(
        label="Did a model silence the distractors? Their mean embedding norm as a share of the signal tokens', "
        "at initialization → after training (mean over seeds)",
        interactive=False,
        elem_id="distractor-table",
    )
    gr.Markdown(
        "### 3. The adding problem\nSum the two marked values among T random ones. Below log10(0.01) = −2 counts as "
        "solved; the grey line is the best constant prediction. A thin line per seed, in its model's colour."
    )
    adding_finding = _finding("adding-finding")
    adding = _plot("adding")
    gr.Markdown(
        f"### 4. Sentiment at a distance, on real reviews\n{start.distance_note} The first 100 tokens of a review, a "
        "separator, then T tokens of other reviews whose label is drawn independently; shown on the examples whose "
        "filler has the other label, where a model that forgets falls below 50%.",
        elem_id="distance-source",
    )
    distance_finding = _finding("distance-finding")
    distance = _plot("distance")
    gr.Markdown(
        "### 5. What this decision depends on\nEach word's gradient ‖∂ loss/∂ word‖ in the trained IMDB models, as a "
        f"share of the review's total, by distance from the last word read. {start.gradients_note}",
        elem_id="decision-source",
    )
    decisions_finding = _finding("decision-finding")
    decisions = _plot("decision-average")
    button = gr.Button(
        "What each model's decision on the review in the Compare tab depends on", elem_id="decision-button"
    )
    notice = gr.Markdown(elem_id="decision-notice")
    review = _plot("decision-review")
    gr.Markdown(
        "### 6. What came next\nGates answer the plain RNN's vanishing memory, not its third limit: a recurrent "
        "layer has one step per token on its critical path, each waiting for the state before it. minGRU and "
        "minLSTM compute their gates from the word alone, so a parallel scan solves them in ceil(log2 T) steps; a "
        "Transformer has no recurrence at all. They are marked as after the LSTM: the comparison above stays the "
        f"three cells'. {start.next_note}",
        elem_id="next-source",
    )
    next_summary = gr.Markdown(elem_id="next-summary")
    associative_finding = _finding("associative-finding")
    associative = _plot("associative")
    cost_finding = _finding("cost-finding")
    cost = _plot("cost")
    loaded = [
        jacobian_finding,
        jacobian,
        recall_finding,
        recall,
        recall_explanation,
        distractor_finding,
        distractors,
        adding_finding,
        adding,
        distance_finding,
        distance,
        decisions_finding,
        decisions,
        notice,
        review,
        next_summary,
        associative_finding,
        associative,
        cost_finding,
        cost,
    ]
    return loaded, button, [notice, review]


def _compare_tab(examples: list[dict]) -> tuple:
    """The review box, its examples and button, and what the comparison fills: (review, button, outputs)."""
    review = gr.Textbox(
        label="Review",
        lines=6,
        max_lines=16,
        placeholder="Type or paste a movie review (English, like IMDB's)",
        info=f"Up to {views.MAX_REVIEW_CHARACTERS:,} characters; longer text is cut before scoring.",
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
        headers=list(views.RESULT_COLUMNS),
        label="Each model's verdict (time: this model on the server, for the batch the review was scored in)",
        interactive=False,
        elem_id="results",
    )
    gr.Markdown("### How each model reads it")
    finding = _finding("compare-finding")
    trajectory = gr.LinePlot(
        x="token",
        y="P(positive)",
        color="model",
        color_map=_model_colors(views.model_name(cell_type) for cell_type in views.CELL_TYPES),
        y_lim=[0, 1],
        tooltip=["model", "word"],
        x_title="words read",
        title="P(positive) after each word",
        height=320,
        elem_id="trajectory",
    )
    # Below the plot, not its caption: at this height Gradio clips a caption behind the legend.
    gr.Markdown(
        "Where a line crosses 0.5 the model changes its mind. Words the models did not read are not on the axis. "
        "Each word coloured by how much reading it moved P(positive) "
        f"(±{views.WEAK_EFFECT} and ±{views.STRONG_EFFECT}); words as the models see them: lowercased, "
        "without markup or punctuation."
    )
    token_views = [
        gr.HighlightedText(
            label=views.model_name(cell_type),
            color_map=TOKEN_COLORS,
            show_legend=index == 0,
            show_inline_category=False,
            elem_id=f"tokens-{cell_type}",
        )
        for index, cell_type in enumerate(views.CELL_TYPES)
    ]
    # The finding last: the API's outputs keep their places (notice, table, trajectory, token views).
    return review, button, [notice, results, trajectory, *token_views, finding]


def _length_tab(buckets: list[str]) -> list:
    """The accuracy-by-length finding, plots and tables: [finding, plot, counts, table, overall].

    Args:
        buckets: the length buckets in ascending order (ranges of words, drawn as ordered categories).
    """
    gr.Markdown(
        "Test accuracy of each model on reviews of each length (words before truncation), "
        "with its 95% Wilson interval as a bar; from the saved evaluation of these models."
    )
    finding = _finding("length-finding")
    plot = _plot("accuracy-by-length")
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
    return [finding, plot, counts, table, overall]


def _curves_tab() -> list:
    """The curves' finding, then accuracy and loss per epoch, train and validation."""
    return [_finding("curves-finding"), *(_plot(f"curves-{metric}") for metric in CURVE_METRICS)]


INSIDE_INTRODUCTION = """
Inside each model's recurrent layer, word by word, for the review in the Compare tab (at start: the first example).
The **LSTM**'s input gate decides what to store, its forget gate what to keep of the old memory (1 keeps it), its
output gate what to show. The **GRU** does it with an update gate (in Keras, 1 keeps the old state) and a reset gate
(how much of the old state the candidate may use). The **SimpleRNN** has no gate: only a squashed state, and where
its tanh units saturate (|h| near 1) their gradient vanishes. Heatmaps: a row per unit, a column per word; gates on
a 0 (dark) to 1 (yellow) scale, states blue (negative) to red (positive). The same, as JSON and PNG:
`python -m sentiment inspect --text "..."`.
"""


def _inside_tab(start: StartViews):
    """Lays out the "Inside the cell" tab.

    Returns (the button, its outputs, and the test-set components filled at
    load: the finding, the plot and the table).
    """
    gr.Markdown(INSIDE_INTRODUCTION)
    button = gr.Button("Inside the cell for the review in the Compare tab", elem_id="inside-button")
    outputs = [gr.Markdown(elem_id="inside-notice")]
    for cell_type in views.CELL_TYPES:
        name = views.model_name(cell_type)
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
    gr.Markdown(f"### Over test reviews\n{start.inspect_note}", elem_id="inside-test-set-source")
    finding = _finding("memory-gate-finding")
    histogram = gr.LinePlot(
        x="gate value",
        y="share",
        color="model",
        # "LSTM forget gate", "GRU update gate": the model's colour.
        color_map={name: style.color_of_name(name.split(" ")[0]) for name in start.test_set[0]["model"].unique()},
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
    return button, outputs, [finding, histogram, classes]


def build_app(
    models: views.LoadedModels,
    long_range_results: str | None = None,
    distance_results: str | None = None,
    max_batch_size: int = MAX_BATCH_SIZE,
    queue_size: int = QUEUE_SIZE,
) -> gr.Blocks:
    """Lays out the page, wires its events and sets up the queue; loads nothing itself.

    Args:
        models: from `views.load_models`.
        long_range_results, distance_results: a long_range.json or
            distance.json to show; None looks in the default places
            (`thesis_views.find_results`: the CLI's output, else docs/).
        max_batch_size: the most compare requests scored in one pass (1: one
            review at a time, the app before batching); the decision and
            inside endpoints take at most `HEAVY_BATCH_SIZE` of it.
        queue_size: the most requests waiting; more are refused at once.
    """
    start = StartViews(models, long_range_results, distance_results)
    length_frames = (
        findings.finding_markdown(start.length_finding),
        views.length_chart(models),
        views.bucket_counts(models),
        views.length_table(models),
        views.overall_frame(models),
    )
    curve_outputs = (
        findings.finding_markdown(start.curves_finding),
        *(views.curves_chart(models, metric) for metric in CURVE_METRICS),
    )
    test_set_outputs = (findings.finding_markdown(start.memory_gate_finding), *start.test_set)
    on_models = {"concurrency_limit": COMPARE_CONCURRENCY, "concurrency_id": MODELS_CONCURRENCY_ID, "batch": True}
    heavy = {**on_models, "max_batch_size": min(max_batch_size, HEAVY_BATCH_SIZE)}
    with gr.Blocks(
        title="SimpleRNN vs LSTM vs GRU",
        analytics_enabled=False,
        delete_cache=(CACHE_CHECK_SECONDS, CACHE_MAX_AGE_SECONDS),
    ) as app:
        gr.Markdown(INTRODUCTION)
        gr.Markdown(views.status_markdown(models), elem_id="status")
        with gr.Tabs():
            with gr.Tab("Compare on a review", id="compare"):
                review, button, comparison_views = _compare_tab(views.example_reviews())
            with gr.Tab("Inside the cell", id="inside"):
                inside_button, inside_outputs, test_set_views = _inside_tab(start)
                experiment_tab.experiment_sections(models, review, heavy, _isolated)
            with gr.Tab("Accuracy by review length", id="length") as length_tab:
                length_views = _length_tab(views.length_buckets(models))
            with gr.Tab("Training curves", id="curves") as curves_tab:
                curve_views = _curves_tab()
            with gr.Tab("Why gates matter", id="gates") as gates_tab:
                gate_views, decision_button, decision_views = _gates_tab(start)
            with gr.Tab("Train it yourself", id="playground") as train_tab:
                playground_tab.playground_tab()
        for tab in (length_tab, curves_tab, gates_tab, train_tab):
            # A chart drawn while its tab was hidden has no width: a resize makes it fit the now visible tab.
            tab.select(None, js=RESIZE_CHARTS, queue=False)
        button.click(
            _postprocessed(
                comparison_views, _isolated(lambda texts: views.run_comparisons(models, texts), len(comparison_views))
            ),
            inputs=[review],
            outputs=comparison_views,
            api_name="compare",
            max_batch_size=max_batch_size,
            postprocess=False,
            **on_models,
        )
        decision_button.click(
            _isolated(lambda texts: views.decision_flows(models, texts), len(decision_views)),
            inputs=[review],
            outputs=decision_views,
            api_name="decision",
            **heavy,
        )
        inside_button.click(
            _isolated(lambda texts: inside_views.inside_flows(models, texts), len(inside_outputs)),
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
            lambda: (*start.inside, *test_set_outputs),
            outputs=[*inside_outputs, *test_set_views],
            api_name="inside_at_start",
            concurrency_limit=TABLES_CONCURRENCY,
        )
        app.load(start.gate_outputs, outputs=gate_views, api_name="why_gates", concurrency_limit=TABLES_CONCURRENCY)
        app.load(
            lambda: curve_outputs,
            outputs=curve_views,
            api_name="training_curves",
            concurrency_limit=TABLES_CONCURRENCY,
        )
    return app.queue(
        default_concurrency_limit=COMPARE_CONCURRENCY,
        max_size=queue_size,
        status_update_rate=STATUS_UPDATE_SECONDS,
        api_open=False,  # every call goes through the queue and its bound: no direct /run or /api route
    )
