"""Training on several devices or machines with TensorFlow's own strategies.

    default        one device: `tf.distribute.get_strategy()`
    mirrored       every GPU of this machine (or its logical CPUs, see
                   `split_cpu`): `tf.distribute.MirroredStrategy`
    multi-worker   several machines, each with its devices, described by the
                   `TF_CONFIG` environment variable as TensorFlow documents:
                   `tf.distribute.MultiWorkerMirroredStrategy`

All three go through the same custom training step in `sentiment.training.train`
(`strategy.run` over `experimental_distribute_dataset`): Keras 3's
`model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585).

`--batch-size` is per replica: a step takes `batch_size` reviews on each of
`num_replicas_in_sync` replicas, so the global batch grows with the replicas.

In a multi-worker run every worker trains in lockstep and ends with the same
weights. Only the chief (worker 0) writes the artifacts folder; worker i
writes its checkpoints (and its copy of the artifacts) to
`<output>/workertemp_<i>/`, so a resumed run finds them on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from sentiment.errors import SentimentError

WORKER_FOLDER_PREFIX = "workertemp_"


def split_cpu(count: int) -> None:
    """Splits the CPU into `count` logical devices, for `mirrored` without GPUs.

    Must run before TensorFlow initializes its devices (before any tensor is
    made), so the CLI calls it first.
    """
    if count < 1:
        raise SentimentError(f"--cpu-devices must be at least 1, got {count}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise SentimentError(
            "--cpu-devices must be set before TensorFlow starts; it cannot change in a running process"
        ) from None


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy called `name` (see the module docstring).

    `mirrored` uses every GPU, or every logical CPU when there is no GPU.
    `multi-worker` reads `TF_CONFIG`; without it, it runs as a single worker.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi-worker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (ValueError, KeyError) as error:
            raise SentimentError(f"TF_CONFIG does not describe a valid cluster: {error}") from None
    raise SentimentError(f"unknown strategy {name!r}; choose default, mirrored or multi-worker")


@dataclass(frozen=True)
class Worker:
    """This process's place in the cluster.

    Attributes:
        index: 0 for the chief (or a single machine), i for worker i.
        count: machines in the cluster.
    """

    index: int = 0
    count: int = 1

    @property
    def is_chief(self) -> bool:
        return self.index == 0


def worker_of(strategy: tf.distribute.Strategy) -> Worker:
    """Which worker this process is; a non-multi-worker strategy is worker 0 of 1.

    The cluster is `worker` tasks only (as `TF_CONFIG` examples give it); a
    `chief` task, when the cluster names one, is the chief and the workers
    count from 1.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if (
        not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        or resolver is None
        or not resolver.task_type
    ):
        return Worker()
    cluster = resolver.cluster_spec().as_dict()
    has_chief = "chief" in cluster
    count = len(cluster.get("worker", [])) + (1 if has_chief else 0)
    if resolver.task_type == "chief":
        return Worker(0, count)
    return Worker(resolver.task_id + (1 if has_chief else 0), count)


def worker_folder(output: Path, worker: Worker) -> Path:
    """Where this worker writes: `output` for the chief, a scratch folder otherwise."""
    return output if worker.is_chief else output / f"{WORKER_FOLDER_PREFIX}{worker.index}"


def distribute_batches(strategy: tf.distribute.Strategy, batches: tf.data.Dataset) -> tf.distribute.DistributedDataset:
    """Splits each global batch between the replicas (and workers).

    Sharding is by data, not by file: every worker runs the whole (seeded,
    identically shuffled) pipeline and keeps its part of each global batch.
    File sharding would give workers different numbers of batches (and
    in-memory arrays have no files), and a worker with a batch fewer would
    leave the others waiting in an all-reduce forever.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(batches.with_options(options))


def check_workers_agree(strategy: tf.distribute.Strategy, what: str, value: int) -> None:
    """Raises on every worker if `value` differs between workers.

    Workers that disagree on, say, the epoch to resume from would run
    different numbers of steps and wait on each other forever; this turns
    that into an error. A no-op on a single machine.
    """
    if worker_of(strategy).count == 1:
        return
    replicas = strategy.num_replicas_in_sync
    local = strategy.run(lambda: tf.constant([value, value * value], tf.float64))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, local, axis=None).numpy()
    # Equal sums of v and v^2 to n*v and n*v^2 mean zero variance: all equal.
    if total[0] != replicas * value or total[1] != replicas * value * value:
        raise SentimentError(
            f"the workers disagree on {what} (this worker: {value}); their output folders hold different runs. "
            f"Delete the unfinished cell folders (and workertemp_* folders) on every machine and start again"
        )


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """ "default", "mirrored" or "multi-worker", as the --strategy flag names it."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multi-worker"
    return "mirrored" if isinstance(strategy, tf.distribute.MirroredStrategy) else "default"


def describe(strategy: tf.distribute.Strategy, batch_size_per_replica: int) -> dict:
    """How training was spread, for metrics.json: strategy, workers, replicas, batch per replica and per step."""
    return {
        "strategy": strategy_name(strategy),
        "workers": worker_of(strategy).count,
        "replicas": strategy.num_replicas_in_sync,
        "batch_size_per_replica": batch_size_per_replica,
        "global_batch_size": batch_size_per_replica * strategy.num_replicas_in_sync,
    }


def describe_line(strategy: tf.distribute.Strategy, batch_size_per_replica: int) -> str:
    """The same as one line for the log.

    For example "strategy default: worker 0 of 1, 1 replica(s) in sync;
    batch 64 per replica, 64 per step".
    """
    worker, replicas = worker_of(strategy), strategy.num_replicas_in_sync
    return (
        f"strategy {strategy_name(strategy)}: worker {worker.index} of {worker.count}, {replicas} replica(s) in sync; "
        f"batch {batch_size_per_replica} per replica, {batch_size_per_replica * replicas} per step"
    )
