"""`python -m benchmarks.bench [FLAGS]`: the same run as `python -m sentiment bench [FLAGS]`.

The measuring and its Markdown live in the package, in
`sentiment.analysis.bench`, so that `sentiment` never imports this folder.
This script keeps the old entry point and the names that notebooks use
(`bench.sequential_cost`, `bench.run_bench`, ...) working.
"""

import sys

from sentiment.analysis.bench import (
    bench_markdown,
    run_bench,
    sequential_cost,
    sequential_cost_markdown,
    write_results,
)

__all__ = ["bench_markdown", "run_bench", "sequential_cost", "sequential_cost_markdown", "write_results"]


def main(argv: list[str] | None = None) -> int:
    """Runs `python -m sentiment bench` with these flags; the result records that command."""
    from sentiment.cli import main as sentiment_main

    # The CLI records sys.argv as the command that produced the figures: record the equivalent one.
    sys.argv = [sys.argv[0], "bench", *(sys.argv[1:] if argv is None else argv)]
    return sentiment_main()


if __name__ == "__main__":
    sys.exit(main())
