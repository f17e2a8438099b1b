"""Writes docs/RESULTS.md from what the CLI measured, never by hand.

    python scripts/results_page.py --artifacts artifacts \
        --gradients artifacts/gradients.json --long-range docs/long_range/long_range.json

One page with the three measurements this project reports: the IMDB run
(`python -m sentiment train`, its summary.json), gradient flow in those models
(`python -m sentiment gradients`) and the long-range benchmark
(`python -m sentiment long-range`). Each section is the Markdown the CLI
renders from its JSON, headings one level down, naming its own command,
date and machine. Plots are linked where they sit beside the output page.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from sentiment.gradients import gradient_flow_markdown
from sentiment.longrange import results_markdown
from sentiment.report import summary_markdown


def _demote(markdown: str) -> str:
    """Moves every heading one level down, so each page becomes a section."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def _relative(path: Path, page: Path) -> str:
    return os.path.relpath(path, page.parent)


def results_page(artifacts: Path, gradients: Path | None, long_range: Path | None, page: Path) -> str:
    parts = [
        "# Results",
        "",
        "Written by `python scripts/results_page.py` from the JSON each command below wrote; "
        "every section names the command that measured it.",
        "",
        _demote(summary_markdown(json.loads((artifacts / "summary.json").read_text(encoding="utf-8")))),
    ]
    if gradients is not None:
        plot = gradients.with_suffix(".png")
        parts += ["", _demote(gradient_flow_markdown(json.loads(gradients.read_text(encoding="utf-8")), _relative(plot, page)))]
    if long_range is not None:
        plot = long_range.with_suffix(".png")
        parts += ["", _demote(results_markdown(json.loads(long_range.read_text(encoding="utf-8")), _relative(plot, page)))]
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="the IMDB artifacts folder (its summary.json)")
    parser.add_argument("--gradients", type=Path, default=None, help="gradients.json from `python -m sentiment gradients`")
    parser.add_argument("--long-range", type=Path, default=None, help="long_range.json from `python -m sentiment long-range`")
    parser.add_argument("--output", type=Path, default=Path("docs/RESULTS.md"))
    args = parser.parse_args()
    args.output.write_text(results_page(args.artifacts, args.gradients, args.long_range, args.output), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
