"""The "Try it yourself" sections of the Inside tab: their components and the events that fill them.

Called by `webapp.layout.build_app` inside the Inside tab: clamp a gate or
knock out a unit (`/intervene`), step through a review word by word
(`/step`, also run by the slider and the play button), and compare a review
with an edited copy (`/pair`). What they compute is in
`webapp.experiment_views`.

Each action is an endpoint of the app's API, batched and sharing the
models' slot like the Inside tab's own (`events`), and run so that a review
that makes the computation fail fails alone (`isolate`). Its settings reach
the computation as they were sent (`preprocess=False`): a number out of
range or an unknown choice gets a sentence from `webapp.experiment_views`,
where Gradio's own check would fail every request batched with it.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from sentiment.config import CELL_TYPES
from sentiment.report import model_name
from webapp import experiment_views, views

INTRODUCTION = """
## Try it yourself

Change a trained cell and read the review in the Compare tab again, step through it one word at a time, or edit
it and compare the two readings. Everything below is computed from the loaded models: the cells are replayed
exactly, in NumPy, with their own weights.
"""
INTERVENTION_INTRODUCTION = r"""
### 1. Clamp a gate, knock out a unit

The gate that keeps memory is the **LSTM's forget gate** and the **GRU's update gate** (in Keras, 1 keeps the old
state). Clamp it to 0 and the cell keeps nothing of its old memory from that word on: the LSTM's cell state is
rebuilt from each word alone ($c_t = i_t \odot \tilde{c}_t$), and what survives of the past reaches it only through
$h_{t-1}$. Clamp it to 1 and nothing is ever forgotten: the LSTM's cell state only adds up
($c_t = c_{t-1} + i_t \odot \tilde{c}_t$), the GRU's state stops changing. Or knock out one unit: its state is held
at 0, so it passes nothing on. The SimpleRNN has no gate to clamp.
"""
STEP_INTRODUCTION = """
### 2. Step through a review

Press the button, then move the slider (or press play): at each word, each model's cell as a textbook writes it,
with that word's values. ⟨·⟩ is the mean over units, ‖·‖ the size of the change of the state.
"""
PAIR_INTRODUCTION = """
### 3. Edit the review and compare

Add a negation, change the ending, move a sentence: each model reads both, and the plot shows where the two
readings part and whether they come back together. Start from the review in the Compare tab, or from a
ready-made edit of an example.
"""
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
# Seconds between two words when playing.
PLAY_SECONDS = 1.0
# Run in the browser at each tick: the next word, up to the last one.
NEXT_WORD = "(word, last) => Math.min(Math.round(word || 1) + 1, Math.max(Math.round(last || 1), 1))"


def _rows_endpoint(isolate: Callable, compute: Callable, outputs: int) -> Callable:
    """A batched event's function (a list per input) from `compute` (a list of rows -> a list of views).

    The rows go through `isolate` (`webapp.layout._isolated`), so a row whose
    computation fails gets the failure notice and the others their answers.
    """
    run = isolate(lambda rows: views.by_output([view.outputs() for view in compute(rows)]), outputs)
    return lambda *columns: run(list(zip(*columns)))


def _plot(elem_id: str) -> gr.Plot:
    return gr.Plot(show_label=False, elem_id=elem_id, elem_classes=["chart"])


def _result_views(name: str, columns: list[str], label: str) -> list:
    """An action's notice, finding, chart and table, with elem_ids "<name>-notice" and so on."""
    return [
        gr.Markdown(elem_id=f"{name}-notice"),
        gr.Markdown(elem_id=f"{name}-finding", elem_classes=["finding"]),
        _plot(f"{name}-chart"),
        gr.Dataframe(headers=columns, label=label, interactive=False, wrap=True, elem_id=f"{name}-table"),
    ]


def experiment_sections(models: views.LoadedModels, review: gr.Textbox, events: dict, isolate: Callable) -> dict:
    """Lays out the three sections and wires their events; call it inside the Blocks context.

    Args:
        models: the loaded models.
        review: the Compare tab's review box, the review every section reads.
        events: the keyword arguments of the model endpoints' events
            (concurrency, batching; `webapp.layout.build_app`'s `heavy`).
        isolate: runs a batched function so that a failing review fails
            alone (`webapp.layout._isolated`).

    Returns:
        The sections' main components by elem_id (for tests).
    """
    gr.Markdown(INTRODUCTION)
    components = {}
    for elem_id, section in (
        ("try-clamp", _intervention_section),
        ("try-step", _step_section),
        ("try-pair", _pair_section),
    ):
        with gr.Column(elem_id=elem_id):
            components.update(section(models, review, events, isolate))
    return components


def _intervention_section(models, review, events, isolate) -> dict:
    gr.Markdown(INTERVENTION_INTRODUCTION, latex_delimiters=LATEX)
    with gr.Row():
        gate = gr.Dropdown(
            list(experiment_views.GATE_CHOICES),
            value=experiment_views.AS_LEARNED,
            label="LSTM forget gate, GRU update gate",
            elem_id="clamp-gate",
        )
        start = gr.Number(1, precision=0, minimum=1, label="from word (1: every word)", elem_id="clamp-from")
        knockout = gr.Dropdown(
            list(experiment_views.KNOCKOUT_CHOICES),
            value=experiment_views.KNOCK_OUT_NONE,
            label="knock out",
            elem_id="knockout",
        )
        unit = gr.Number(0, precision=0, minimum=0, label="unit number (0 is the first)", elem_id="knockout-unit")
    button = gr.Button("Read the review in the Compare tab with the change", elem_id="intervene-button")
    outputs = _result_views("intervene", experiment_views.INTERVENTION_COLUMNS, "Each model, as learned and changed")
    button.click(
        _rows_endpoint(isolate, lambda rows: experiment_views.intervention_views(models, rows), len(outputs)),
        inputs=[review, gate, start, knockout, unit],
        outputs=outputs,
        api_name="intervene",
        preprocess=False,
        **events,
    )
    return {"intervene-button": button, "intervene-chart": outputs[2]}


def _step_section(models, review, events, isolate) -> dict:
    gr.Markdown(STEP_INTRODUCTION)
    stepper = experiment_views.StepThrough(models)
    button = gr.Button("Step through the review in the Compare tab", elem_id="step-button")
    with gr.Row():
        word = gr.Slider(1, 2, value=1, step=1, label="word", scale=4, elem_id="step-word")
        play = gr.Button("▶ Play", size="sm", scale=0, min_width=100, elem_id="step-play")
        pause = gr.Button("Pause", size="sm", scale=0, min_width=100, elem_id="step-pause")
    last = gr.Number(1, visible=False, precision=0)
    timer = gr.Timer(PLAY_SECONDS, active=False)
    notice = gr.Markdown(elem_id="step-notice")
    chart = _plot("step-chart")
    equations = []
    for cell in CELL_TYPES:
        with gr.Row():
            equations.append(gr.Markdown(latex_delimiters=LATEX, elem_id=f"step-{cell}", label=model_name(cell)))
            equations.append(gr.Markdown(latex_delimiters=LATEX, elem_id=f"step-units-{cell}"))

    full = [notice, word, last, chart, *equations]
    button.click(
        _rows_endpoint(isolate, lambda rows: [_WithSlider(view) for view in stepper.views(rows)], len(full)),
        inputs=[review, word],
        outputs=full,
        js="(review, word) => [review, 1]",  # a new review starts at its first word
        api_name="step",
        preprocess=False,
        **events,
    )

    word.change(
        _rows_endpoint(isolate, lambda rows: [_Trimmed(view) for view in stepper.views(rows)], len(full) - 2),
        inputs=[review, word],
        outputs=[notice, chart, *equations],
        api_name="step_word",
        preprocess=False,
        trigger_mode="always_last",
        show_progress="hidden",
        **events,
    )
    play.click(lambda: gr.Timer(active=True), outputs=timer, api_visibility="private")
    pause.click(lambda: gr.Timer(active=False), outputs=timer, api_visibility="private")
    timer.tick(None, inputs=[word, last], outputs=word, js=NEXT_WORD)
    return {"step-button": button, "step-word": word, "step-chart": chart}


class _WithSlider:
    """A step view's outputs with the slider set to its word and spanning the review's words."""

    def __init__(self, view: experiment_views.StepView):
        self.view = view

    def outputs(self) -> tuple:
        notice, word, words, *rest = self.view.outputs()
        return notice, gr.Slider(1, max(words, 2), value=word, step=1), words, *rest


class _Trimmed:
    """A step view's outputs without the slider and the review's length (what the slider's own event fills)."""

    def __init__(self, view: experiment_views.StepView):
        self.view = view

    def outputs(self) -> tuple:
        notice, _, _, chart, *equations = self.view.outputs()
        return notice, chart, *equations


def _pair_section(models, review, events, isolate) -> dict:
    gr.Markdown(PAIR_INTRODUCTION)
    edited = gr.Textbox(
        label="Edited copy",
        lines=4,
        max_lines=12,
        placeholder="An edited copy of the review in the Compare tab",
        elem_id="edited-review",
    )
    copy = gr.Button("Copy the review from the Compare tab, to edit it", size="sm", elem_id="copy-review")
    copy.click(None, inputs=[review], outputs=[edited], js="(review) => review")
    edits = experiment_views.ready_made_edits()
    gr.Examples(
        [[edit["review"], edit["edited"]] for edit in edits],
        inputs=[review, edited],
        example_labels=[edit["name"] for edit in edits],
        label="Ready-made edits of the example reviews (each fills the review and its edited copy)",
    )
    button = gr.Button("Compare the review and its edited copy", variant="primary", elem_id="pair-button")
    outputs = [
        *_result_views(
            "pair", experiment_views.PAIR_COLUMNS, "Each model on both (gaps compare the same word in both)"
        ),
        gr.HighlightedText(
            label="The review (as the models split it)",
            color_map=experiment_views.DIFF_COLORS,
            show_inline_category=False,
            elem_id="pair-review",
        ),
        gr.HighlightedText(
            label="The edited copy",
            color_map=experiment_views.DIFF_COLORS,
            show_inline_category=False,
            elem_id="pair-edited",
        ),
    ]
    button.click(
        _rows_endpoint(isolate, lambda rows: experiment_views.pair_views(models, rows), len(outputs)),
        inputs=[review, edited],
        outputs=outputs,
        api_name="pair",
        preprocess=False,
        **events,
    )
    return {"pair-button": button, "pair-chart": outputs[2]}
