"""docs/RESULTS.md: one page joining what each measuring command wrote.

    python -m sentiment results      # reads docs/*/*.json, writes docs/RESULTS.md and README.md's results block

Each section is the Markdown page its command renders from its own JSON,
headings one level down, naming the command, date and machine that produced
it; plots are linked relative to the page. Nothing in it is typed by hand.
The thesis comes first (the long-range suite, sentiment at a distance, the
sequential cost), then the IMDB models (the default preset, then the strong
one and what each of its changes bought), what their decisions depend on and
what their gates do. The models after the LSTM trained on IMDB are a run of
their own (`train --cells mingru,minlstm,transformer --output artifacts/next`,
its summary.json kept as the "imdb_next" source, beside docs/imdb/): their
rows join the default preset's section, with that run's command, date and
machine.

The same command writes the README's results block (`readme_summary`,
between `README_BEGIN` and `README_END`): the IMDB test accuracies, the
long-range verdicts and the sequential cost, so no figure on the README is
typed by hand either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sentiment.report import listing

DOCS = Path("docs")
# Section -> the JSON it is rendered from, by default (all tracked in git).
DEFAULT_SOURCES = {
    "long_range": DOCS / "long_range" / "long_range.json",
    "distance": DOCS / "distance" / "distance.json",
    "sequential_cost": DOCS / "bench" / "bench.json",
    "imdb": DOCS / "imdb" / "summary.json",
    # The models after the LSTM, trained with the default preset as a run of their own; joined to "imdb".
    "imdb_next": DOCS / "imdb_next" / "summary.json",
    "imdb_strong": DOCS / "imdb_strong" / "summary.json",
    # A folder: one summary.json per run, named <run>.json; `strong.json` is the preset as it is now.
    "imdb_strong_ablation": DOCS / "imdb_strong" / "ablation",
    "gradients": DOCS / "gradients" / "gradients.json",
    "inspect": DOCS / "inspect" / "inspect.json",
}


ABLATION_REFERENCE = "before-adversarial"
ABLATION_REFERENCE_IS = (
    "The reference, `before-adversarial`, is the strong preset as it stood before adversarial training was added to it "
    "(3 epochs, no adversarial training, learning rate 0.001); the row `strong` is the preset as it is now, "
    "and the row `adversarial` the preset with adversarial training at the former learning rate."
)


def _demote(markdown: str) -> str:
    """Moves every heading one level down, so each page becomes a section."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def _section(kind: str, source: Path, page: Path, after: dict | None = None) -> str:
    """One command's page, rendered from its JSON, its plots linked relative to `page`.

    `after`: for "imdb", the summary.json of the run after the LSTM (its rows join the section).
    """
    from sentiment import report
    from sentiment.analysis import distance, gates, gradients, longrange

    if kind == "imdb_strong_ablation":
        runs = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(source.glob("*.json"))}
        reference = ABLATION_REFERENCE if ABLATION_REFERENCE in runs else next(iter(runs))
        return report.ablation_markdown(
            {reference: runs.pop(reference), **runs},
            reference,
            reference_is=ABLATION_REFERENCE_IS if reference == ABLATION_REFERENCE else "",
        )
    result = json.loads(source.read_text(encoding="utf-8"))
    beside = lambda name: os.path.relpath(source.parent / name, page.parent)  # noqa: E731
    if kind == "long_range":
        plots = {plot: beside(name) for plot, name in longrange.PLOT_FILES.items() if (source.parent / name).exists()}
        return longrange.results_markdown(result, plots)
    if kind == "distance":
        return distance.results_markdown(result, beside("distance.png"))
    if kind == "imdb":
        return report.summary_markdown(result, after=after)
    if kind == "imdb_next":  # without the default preset's section to join
        return report.summary_markdown(result, heading="After the LSTM")
    if kind == "imdb_strong":
        return report.summary_markdown(result, heading="The strong preset (`--preset strong`)")
    if kind == "sequential_cost":
        from sentiment.analysis.bench import sequential_cost_markdown

        return sequential_cost_markdown(result, beside("sequential_cost.png"))
    if kind == "inspect":
        images = {
            cell: beside(f"inspect_{cell}.png")
            for cell in result["cells"]
            if (source.parent / f"inspect_{cell}.png").exists()
        }
        return gates.inspection_markdown(
            result,
            images,
            beside("inspect_memory_gates.png") if (source.parent / "inspect_memory_gates.png").exists() else None,
        )
    return gradients.gradient_flow_markdown(
        result, beside("gradients.png") if (source.parent / "gradients.png").exists() else None
    )


def results_page(sources: dict[str, Path | None], page: Path) -> str:
    """The whole page; a section whose source is None or missing is left out."""
    parts = [
        "# Results",
        "",
        "Written by `python -m sentiment results` from the JSON each command below wrote; "
        "every section names the command that measured it, when, and on what machine.",
    ]
    for kind in DEFAULT_SOURCES:
        source = sources.get(kind)
        if kind == "imdb_next" and _load(sources.get("imdb")):
            continue  # joined to the default preset's section
        if (
            source is not None
            and Path(source).exists()
            and (Path(source).is_file() or any(Path(source).glob("*.json")))
        ):
            after = _load(sources.get("imdb_next")) if kind == "imdb" else None
            parts += ["", _demote(_section(kind, Path(source), page, after))]
    return "\n".join(parts).rstrip() + "\n"


def write_results_page(sources: dict[str, Path | None], page: Path) -> Path:
    from sentiment.io import files

    files.write_text(page, results_page(sources, page))
    return page


# The README's results block: everything between these lines is written by `python -m sentiment results`.
README_BEGIN = "<!-- results:begin -->"
README_END = "<!-- results:end -->"
# The sources the README's block reads, a subset of DEFAULT_SOURCES.
README_SOURCES = ("imdb", "imdb_strong", "long_range", "sequential_cost")
TASK_NAMES = {"recall": "Variable-lag recall", "adding": "The adding problem", "associative": "Associative recall"}
# The README's cost lines: the curves after the LSTM set against the GRU's.
README_COST_MODELS = ("mingru+scan", "minlstm+scan", "transformer")


def _load(source: Path | None) -> dict | None:
    return json.loads(Path(source).read_text(encoding="utf-8")) if source and Path(source).is_file() else None


def _accuracy_table(default: dict | None, strong: dict | None) -> list[str]:
    """Test accuracy [95% CI] per model: a column per preset, a row per model either preset trained."""
    from sentiment.report import interval_text, markdown_table, model_name

    presets = [
        (name, summary["models"])
        for name, summary in (("default preset", default), ("strong preset (`--preset strong`)", strong))
        if summary and summary["models"]
    ]
    if not presets:
        return []
    cells = list(dict.fromkeys(cell for _, models in presets for cell in models))
    rows = [
        [
            model_name(cell),
            *(interval_text(models[cell]["test"]) if cell in models else "not trained" for _, models in presets),
        ]
        for cell in cells
    ]
    count = next(iter(presets[0][1].values()))["test"]["count"]
    return [
        f"Test accuracy on IMDB ({count:,} test reviews), with 95% Wilson intervals:",
        "",
        markdown_table(["model", *(name for name, _ in presets)], rows),
        "",
    ]


def _verdict_lines(long_range: dict | None) -> list[str]:
    """Per task, at its longest T: which variants solved it in every seed, in some, in none."""
    from sentiment.analysis.longrange import run_table
    from sentiment.report import model_name

    if not long_range:
        return []
    lines = []
    for task, task_name in TASK_NAMES.items():
        lengths, variants, seeds, solved_at = run_table(long_range, task, "solved_at")
        if not lengths:
            continue
        at_longest = solved_at[-1]  # <float64>[variants, seeds]: updates to solve, inf unsolved, NaN not run
        groups = {"in every seed by": [], "in some seeds by": [], "in none by": []}
        for variant, runs in zip(variants, at_longest):
            ran = runs[~np.isnan(runs)]
            if ran.size:
                solved = int(np.isfinite(ran).sum())
                group = "in every seed by" if solved == ran.size else "in some seeds by" if solved else "in none by"
                groups[group].append(model_name(variant))
        verdicts = "; ".join(f"{group} {listing(names)}" for group, names in groups.items() if names)
        # An associative-recall run's length is its P pairs and the query: T = P + 1.
        size = f"{lengths[-1] - 1} key-value pairs" if task == "associative" else f"T = {lengths[-1]}"
        lines.append(f"- **{task_name}**, {size}, {len(seeds)} seeds: solved {verdicts}.")
    return lines


def _cost_lines(bench: dict | None) -> list[str]:
    """The third limit, sequential processing: how the training step grows with T, and against the GRU's."""
    from sentiment.analysis.bench import REFERENCE_CURVE, crossing_sentence, growth_ratios
    from sentiment.report import marked_name

    cost = (bench or {}).get("sequential_cost")
    if not cost or REFERENCE_CURVE not in cost["models"]:
        return []
    models, lengths = cost["models"], cost["lengths"]
    machine = bench["machine"]
    device = ", ".join(machine["accelerators"]) or f"{machine['cpu_count']} CPU cores, no GPU"
    growth = ", ".join(f"{marked_name(name)} {ratio:.0f}x" for name, ratio in growth_ratios(cost).items())
    steps = ", ".join(f"{marked_name(name)} {entry['sequential_steps'][-1]:,}" for name, entry in models.items())
    crossings = [
        crossing_sentence(
            marked_name(name),
            "training step",
            lengths,
            models[name]["train_seconds"],
            models[REFERENCE_CURVE]["train_seconds"],
        )
        for name in README_COST_MODELS
        if name in models
    ]
    return [
        f"The third limit, sequential processing, is one the gates do not lift. One training step "
        f"(batch {cost['batch_size']}, {device}), from T = {lengths[0]:,} to T = {lengths[-1]:,} tokens "
        f"({lengths[-1] // lengths[0]}x the tokens), grows {growth}. Sequential steps on one forward pass's "
        f"critical path at T = {lengths[-1]:,}: {steps}.",
        "",
        *(f"- {sentence}" for sentence in crossings if sentence),
        "",
    ]


def readme_summary(sources: dict[str, Path | None], readme: Path = Path("README.md")) -> str:
    """The README's results block, between the markers: the IMDB accuracies and the long-range verdicts.

    Args:
        sources: as `results_page` takes them; only `README_SOURCES` are read.
        readme: where the README is, so the links are relative to it.
    """
    link = lambda path: os.path.relpath(path, readme.parent)  # noqa: E731
    results = link(DOCS / "RESULTS.md")
    accuracy = _accuracy_table(_load(sources.get("imdb")), _load(sources.get("imdb_strong")))
    verdicts = _verdict_lines(_load(sources.get("long_range")))
    cost = _cost_lines(_load(sources.get("sequential_cost")))
    parts = [
        README_BEGIN,
        "<!-- Written by `python -m sentiment results` from the tracked JSON in docs/; not by hand. -->",
        "",
        *accuracy,
    ]
    if verdicts:
        parts += [
            "On the long-range tasks, where memory is the only way to win (every variant built by the same "
            "builder, one budget; LSTM and GRU without a note have Keras's default gate biases):",
            "",
            *verdicts,
            "",
        ]
    parts += cost
    if accuracy or verdicts or cost:
        parts.append(f"Every figure, with the command, machine and date that produced it: [{results}]({results}).")
    else:
        parts.append(f"No results yet: run the commands in [{results}]({results}).")
    return "\n".join(parts + [README_END])


def with_readme_summary(text: str, summary: str) -> str | None:
    """`text` with its results block replaced by `summary`; None when it has no markers (in order)."""
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        return None
    return text[:begin] + summary + text[end + len(README_END) :]


def update_readme(sources: dict[str, Path | None], readme: Path) -> bool:
    """Rewrites the README's results block; False (the file untouched) when it has no markers."""
    from sentiment.io import files

    updated = with_readme_summary(readme.read_text(encoding="utf-8"), readme_summary(sources, readme))
    if updated is None:
        return False
    files.write_text(readme, updated)
    return True
