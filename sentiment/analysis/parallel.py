"""Independent runs in parallel processes, each TensorFlow on one thread.

On a CPU, TensorFlow spreads one small recurrent model over the cores with
little gain: the recurrence is sequential and each step is small. Separate
runs in separate single-threaded processes use the cores fully instead.
Processes are spawned (never forked: TensorFlow's threads do not survive a
fork), so the function and its arguments must be importable and picklable.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any


def one_thread() -> None:
    """Worker start-up: TensorFlow on one thread, so parallel runs do not fight over the cores."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def run_all(function: Callable[..., Any], jobs: Sequence[tuple], workers: int) -> Iterator[Any]:
    """Yields `function(*job)` for every job as each finishes (any order).

    Args:
        function: a module-level function.
        jobs: its positional arguments, one tuple per call; put the longest
            first, so the workers finish together.
        workers: processes; 1 runs every job here, in order, on all threads.
    """
    if workers == 1:
        for job in jobs:
            yield function(*job)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=one_thread) as pool:
        futures = [pool.submit(function, *job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
