"""Resumable training: after every epoch, the model, the best weights and the early-stopping state.

Everything lives in `<artifact>/checkpoint/`, written atomically, model
first and then the state that points at it, so a kill at any moment repeats
at most one epoch's bookkeeping and never loses a model. The folder is
removed once the artifact is complete.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import keras

from sentiment.errors import SentimentError
from sentiment.io import files

CHECKPOINT_FOLDER = "checkpoint"
LAST_MODEL = "last.keras"
BEST_WEIGHTS = "best.weights.h5"
STATE = "state.json"


def fresh_state(global_batch_size: int) -> dict[str, Any]:
    """The state of a run that has trained no epoch."""
    return {
        "epochs_done": 0,
        "best": None,
        "best_epoch": 0,
        "wait": 0,
        "history": {},
        "stopped_reason": None,
        "global_batch_size": global_batch_size,
    }


def load_last_model(folder: Path) -> keras.Model:
    """The checkpointed model with its optimizer, loaded with Keras `safe_mode` (no Lambda layer, no arbitrary code)."""
    path = folder / LAST_MODEL
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file
        raise SentimentError(
            f"{path} could not be loaded to resume ({error}); delete {folder} to start this model again"
        ) from None


def saved_state(folder: Path) -> dict[str, Any] | None:
    """The state of an interrupted run in `folder`, or None if there is nothing to resume."""
    if (folder / STATE).exists() and (folder / LAST_MODEL).exists():
        return files.read_json(folder / STATE)
    return None


class ResumableCheckpoint(keras.callbacks.Callback):
    """Checkpoints every epoch and stops early on a validation figure.

    Unlike `keras.callbacks.EarlyStopping`, its state (best value, epochs
    without improvement, history) is written to disk, so a resumed run stops
    at the same epoch an uninterrupted run would. An epoch whose logs hold a
    NaN or infinite value stops training and is never written over the last
    good checkpoint.

    Args:
        folder: the checkpoint folder.
        monitor: "val_accuracy" (higher is better) or "val_loss" (lower is).
        patience: epochs without improvement before stopping.
        state: the dict to keep up to date (from `fresh_state` or `saved_state`).
    """

    def __init__(self, folder: Path, monitor: str, patience: int, state: dict[str, Any]):
        super().__init__()
        self.folder = folder
        self.monitor = monitor
        self.patience = patience
        self.state = state
        self._epoch_start = self._train_end = 0.0

    def _improved(self, value: float) -> bool:
        best = self.state["best"]
        if best is None:
            return True
        return value > best if self.monitor == "val_accuracy" else value < best

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._train_end = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._train_end = time.perf_counter()  # validation starts: training part of the epoch is over

    def on_epoch_end(self, epoch, logs=None):
        logs = {name: float(value) for name, value in (logs or {}).items()}
        if not all(math.isfinite(value) for value in logs.values()):
            self.state["stopped_reason"] = f"non-finite loss or metric at epoch {epoch + 1}: {logs}"
            self.model.stop_training = True
            return
        now = time.perf_counter()
        history = self.state["history"]
        for name, value in logs.items():
            history.setdefault(name, []).append(value)
        history.setdefault("train_seconds", []).append(self._train_end - self._epoch_start)
        history.setdefault("epoch_seconds", []).append(now - self._epoch_start)

        if self._improved(logs[self.monitor]):
            self.state.update(best=logs[self.monitor], best_epoch=epoch + 1, wait=0)
            with files.atomic_path(self.folder / BEST_WEIGHTS) as temporary:
                self.model.save_weights(temporary)
        else:
            self.state["wait"] += 1
        self.state["epochs_done"] = epoch + 1
        if self.state["wait"] >= self.patience and self.state["wait"] > 0:
            self.state["stopped_reason"] = f"no {self.monitor} improvement for {self.state['wait']} epoch(s)"
            self.model.stop_training = True
        # Model first, then the state that points at it: a kill in between
        # repeats at most one epoch's bookkeeping, never loses a model.
        with files.atomic_path(self.folder / LAST_MODEL) as temporary:
            self.model.save(temporary)
        files.write_json(self.folder / STATE, self.state)


def _fresh_state() -> dict[str, Any]:
    return {"epochs_done": 0, "best": None, "best_epoch": 0, "wait": 0, "history": {}, "stopped_reason": None}
