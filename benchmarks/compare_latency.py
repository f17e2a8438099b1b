"""Server-side latency of the app's compare action for one review, all three models.

    python -m benchmarks.compare_latency --artifacts artifacts [--words 250] [--repeats 50]

Times what the app runs per click (`webapp.views.run_comparison`: three models read
the review token by token, then the tables and plot data are built), after
loading and warming the models as the app does at start. Gradio's own queue
and network time are not included. The review is the first `--words` words
of the long IMDB example kept in webapp/examples.json, so no dataset is
needed. Prints the median with the command, machine and date that produced it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

from sentiment.io import provenance  # noqa: E402
from webapp import inside_views, views  # noqa: E402

TARGET_MILLISECONDS = 300


def review_of(words: int) -> str:
    """The first `words` words of the long example review (repeated if it is shorter)."""
    long_review = next(example for example in views.example_reviews() if example["name"] == "long")["text"].split()
    return " ".join((long_review * (words // len(long_review) + 1))[:words])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", default=views.DEFAULT_ARTIFACTS, help="artifacts folder (default: artifacts)")
    parser.add_argument("--words", type=int, default=250, help="review length in words (default: 250)")
    parser.add_argument("--repeats", type=int, default=50, help="timed runs (default: 50)")
    parser.add_argument(
        "--action",
        choices=("compare", "inside"),
        default="compare",
        help="compare: the Compare tab's button; inside: the Inside the cell tab's (every gate of the three models, "
        "heatmaps encoded as Gradio sends them)",
    )
    arguments = parser.parse_args(argv)
    if arguments.action == "inside":
        return _inside(arguments)

    models = views.load_models(arguments.artifacts)
    if models.failures:
        for cell_type, reason in models.failures.items():
            print(f"{views.model_name(cell_type)} not loaded: {reason}", file=sys.stderr)
        return 2
    text = review_of(arguments.words)
    views.run_comparison(models, text)  # one more warm-up through the whole handler

    totals, per_model = [], {cell_type: [] for cell_type in models.predictors}
    for _ in range(arguments.repeats):
        start = time.perf_counter()
        views.run_comparison(models, text)
        totals.append(time.perf_counter() - start)
        for cell_type, result in views.compare(models, text).results.items():
            per_model[cell_type].append(result.seconds)

    median = 1000 * statistics.median(totals)
    _print_provenance(arguments, models)
    for cell_type, seconds in per_model.items():
        print(
            f"  {views.model_name(cell_type):<10} median {1000 * statistics.median(seconds):6.1f} ms (read: "
            "vectorize + P(positive) after each token)"
        )
    print(
        f"compare action, all three models: median {median:.1f} ms, "
        f"p90 {1000 * statistics.quantiles(totals, n=10)[-1]:.1f} ms, min {1000 * min(totals):.1f} ms "
        f"(target < {TARGET_MILLISECONDS} ms: {'met' if median < TARGET_MILLISECONDS else 'missed'})"
    )
    return 0


def _encode_images(outputs) -> None:
    """What Gradio does with the tab's heatmaps before sending them: encode each (as WebP, its default)."""
    import io

    from PIL import Image

    for output in outputs:
        if isinstance(output, np.ndarray) and output.ndim == 3:
            Image.fromarray(output).save(io.BytesIO(), format="webp")


def _inside(arguments) -> int:
    """Times the Inside the cell tab's handler for one review, all three models."""
    models = views.load_models(arguments.artifacts)
    if models.failures or not models.predictors:
        print(f"models not loaded from {arguments.artifacts}: {models.failures}", file=sys.stderr)
        return 2
    text = review_of(arguments.words)
    _encode_images(inside_views.inside_flow(models, text))  # warm-up
    handler, encoding = [], []
    for _ in range(arguments.repeats):
        start = time.perf_counter()
        outputs = inside_views.inside_flow(models, text)
        middle = time.perf_counter()
        _encode_images(outputs)
        handler.append(middle - start)
        encoding.append(time.perf_counter() - middle)
    totals = [a + b for a, b in zip(handler, encoding)]
    median = 1000 * statistics.median(totals)
    _print_provenance(arguments, models)
    print(
        "  handler (read, replay every gate, draw three heatmaps, build the frames): median "
        f"{1000 * statistics.median(handler):.1f} ms"
    )
    print(f"  encoding the three heatmaps as WebP: median {1000 * statistics.median(encoding):.1f} ms")
    print(
        f"inside action, all three models: median {median:.1f} ms, p90 "
        f"{1000 * statistics.quantiles(totals, n=10)[-1]:.1f} ms, min {1000 * min(totals):.1f} ms "
        f"(target < {TARGET_MILLISECONDS} ms: {'met' if median < TARGET_MILLISECONDS else 'missed'})"
    )
    return 0


def _print_provenance(arguments, models) -> None:
    first = next(iter(models.predictors.values()))
    print(f"command: {shlex.join(['python', '-m', 'benchmarks.compare_latency', *sys.argv[1:]])}")
    print(f"date: {provenance.utc_now()}")
    print(f"machine: {provenance.machine_line(provenance.machine())}")
    print(f"load average (1, 5, 15 min) after the runs: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print(
        f"review: {arguments.words} words; models read at most {first.sequence_length} tokens; {arguments.repeats} runs"
    )


if __name__ == "__main__":
    sys.exit(main())
