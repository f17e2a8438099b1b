"""docs/RESULTS.md: one page joining what each measuring command wrote.

    python -m sentiment results      # reads docs/*/*.json, writes docs/RESULTS.md

Each section is the Markdown page its command renders from its own JSON,
headings one level down, naming the command, date and machine that produced
it; plots are linked relative to the page. Nothing in it is typed by hand.
The thesis comes first (the long-range suite, sentiment at a distance, the
sequential cost), then the IMDB models (the default preset, then the strong
one and what each of its changes bought), what their decisions depend on and
what their gates do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DOCS = Path("docs")
# Section -> the JSON it is rendered from, by default (all tracked in git).
DEFAULT_SOURCES = {
    "long_range": DOCS / "long_range" / "long_range.json",
    "distance": DOCS / "distance" / "distance.json",
    "sequential_cost": DOCS / "bench" / "bench.json",
    "imdb": DOCS / "imdb" / "summary.json",
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


def _section(kind: str, source: Path, page: Path) -> str:
    """One command's page, rendered from its JSON, its plots linked relative to `page`."""
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
        return report.summary_markdown(result)
    if kind == "imdb_strong":
        return report.summary_markdown(result, heading="The strong preset (`--preset strong`)")
    if kind == "sequential_cost":
        from benchmarks.bench import sequential_cost_markdown

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
        if (
            source is not None
            and Path(source).exists()
            and (Path(source).is_file() or any(Path(source).glob("*.json")))
        ):
            parts += ["", _demote(_section(kind, Path(source), page))]
    return "\n".join(parts).rstrip() + "\n"


def write_results_page(sources: dict[str, Path | None], page: Path) -> Path:
    from sentiment.io import files

    files.write_text(page, results_page(sources, page))
    return page
