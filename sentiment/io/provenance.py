"""What produced a figure: the machine, the library versions, the time and how busy the machine was.

Every result file of the project (training metrics, the long-range suite,
sentiment at a distance, the bench, the load test) records `machine()` and
`utc_now()`, and every page renders them with `machine_line`. TensorFlow and
PyTorch are looked up, never required: the bench runs on the torch backend
without TensorFlow.
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
from typing import Any


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages (how busy the machine was), where the OS tells."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _installed(name: str):
    """The module if it is importable (and not blocked), else None."""
    if sys.modules.get(name, False) is None:  # set to None on purpose: "not installed here"
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _accelerators() -> list[str]:
    names = []
    tensorflow, torch = _installed("tensorflow"), _installed("torch")
    if tensorflow is not None:
        names += [device.name for device in tensorflow.config.list_physical_devices("GPU")]
    if torch is not None and torch.cuda.is_available():
        names += [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return names


def machine() -> dict[str, Any]:
    """CPU, cores, accelerators, the Keras backend and the library versions."""
    versions = {"python": platform.python_version()}
    for name in ("keras", "tensorflow", "torch", "numpy"):
        module = _installed(name)
        if module is not None:
            versions[name] = module.__version__
    keras = _installed("keras")
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "accelerators": _accelerators(),
        "backend": keras.backend.backend() if keras is not None else None,
        "platform": platform.platform(),
        "versions": versions,
    }


def machine_line(description: dict[str, Any]) -> str:
    """One line for a page, the machine and the library versions.

    For example "AMD EPYC, 2 CPU cores, accelerators: none; Python 3.11.7,
    Keras 3.15.1 (tensorflow), TensorFlow 2.21.0".
    """
    versions = description.get("versions") or {
        key: description[key] for key in ("python", "keras", "tensorflow") if key in description
    }
    accelerators = description.get("accelerators", description.get("gpus", []))
    backend = f" ({description['backend']} backend)" if description.get("backend") else ""
    libraries = [f"Python {versions.get('python', '?')}", f"Keras {versions.get('keras', '?')}{backend}"]
    libraries += [
        f"{label} {versions[key]}"
        for key, label in (("tensorflow", "TensorFlow"), ("torch", "PyTorch"))
        if key in versions
    ]
    return (
        f"{description['cpu']}, {description['cpu_count']} CPU cores, "
        f"accelerators: {', '.join(accelerators) or 'none'}; {', '.join(libraries)}"
    )


class Measurement:
    """Times a measurement from its start and records what produced it.

    `record(command)` gives the fields every result file of the analyses
    holds: `command`, `machine`, `started_at`, `wall_seconds` and the 1-minute
    `load_average` at the start and the end (wall times mean little without
    knowing what else shared the CPU).
    """

    def __init__(self):
        import time

        self._clock = time.perf_counter
        self.started_at, self.started, self._load_at_start = utc_now(), self._clock(), load_average()

    def record(self, command: str | None) -> dict[str, Any]:
        return {
            "command": command,
            "machine": machine(),
            "started_at": self.started_at,
            "wall_seconds": self._clock() - self.started,
            "load_average": {"start": self._load_at_start, "end": load_average()},
        }
