"""Checkpoints of the full training state, tied to the configuration they came from.

A checkpoint directory holds TensorFlow checkpoints, ``fingerprint.json``
(the configuration hash) and ``history.csv`` (the metric rows up to the latest
checkpoint). Resuming with another fingerprint would silently mix two
experiments, so a mismatching directory is moved aside and training starts fresh.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import tensorflow as tf

from wgan_lab.fileio import atomic_path

logger = logging.getLogger(__name__)


class CheckpointStore:
    def __init__(self, directory: Path, checkpoint: tf.train.Checkpoint, fingerprint: str,
                 is_chief: bool = True, max_to_keep: int = 2) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.is_chief = is_chief
        self._checkpoint = checkpoint
        self._max_to_keep = max_to_keep
        self._scratch: str | None = None
        self._manager: tf.train.CheckpointManager | None = None

    def _writable_dir(self) -> Path:
        if self.is_chief:
            return self.directory
        # Every worker must take part in saving (collective reads), but only
        # the chief's copy is kept.
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="wgan-lab-worker-ckpt-")
        return Path(self._scratch)

    def _get_manager(self) -> tf.train.CheckpointManager:
        if self._manager is None:
            self._manager = tf.train.CheckpointManager(
                self._checkpoint, str(self._writable_dir()), max_to_keep=self._max_to_keep)
        return self._manager

    def _stored_fingerprint(self) -> str | None:
        path = self.directory / "fingerprint.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text()).get("fingerprint")

    def restore(self, resume: str) -> tuple[int, pd.DataFrame]:
        """Restore the latest matching checkpoint; returns (step, history so far)."""
        latest = tf.train.latest_checkpoint(str(self.directory))
        if latest is None:
            return 0, pd.DataFrame()
        stored = self._stored_fingerprint()
        if resume == "never" or stored != self.fingerprint:
            reason = ("resume is 'never'" if resume == "never"
                      else f"the configuration changed (checkpoint {stored}, now {self.fingerprint})")
            if self.is_chief:
                aside = self.directory.with_name(
                    f"{self.directory.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
                shutil.move(str(self.directory), aside)
                logger.warning("Starting fresh: %s; the old checkpoints are kept in %s",
                               reason, aside)
            return 0, pd.DataFrame()
        self._checkpoint.restore(latest).assert_existing_objects_matched()
        step = int(self._checkpoint.step.numpy())
        history = _read_table(self.directory / "history.csv")
        if len(history):
            history = history[history["step"] <= step]
        logger.info("Resumed from %s at step %d", latest, step)
        return step, history

    def save(self, step: int, history: pd.DataFrame, cpu_seconds: float = 0.0) -> str:
        # Fingerprint, history and CPU clock first: a kill between the writes
        # then leaves entries past the checkpoint, which restore() ignores,
        # never a checkpoint without its fingerprint.
        if self.is_chief:
            self.directory.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.directory / "fingerprint.json") as tmp:
                tmp.write_text(json.dumps({"fingerprint": self.fingerprint}))
            with atomic_path(self.directory / "history.csv") as tmp:
                history.to_csv(tmp, index=False)
            clock = {**self._cpu_clock(), str(step): cpu_seconds}
            kept = sorted(clock, key=int)[-(self._max_to_keep + 1):]
            with atomic_path(self.directory / "cpu_clock.json") as tmp:
                tmp.write_text(json.dumps({k: clock[k] for k in kept}))
        return self._get_manager().save(checkpoint_number=step)

    def _cpu_clock(self) -> dict[str, float]:
        path = self.directory / "cpu_clock.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def load_cpu_seconds(self, step: int) -> float:
        """The training CPU seconds stored with the checkpoint of ``step`` (0 when none:
        a fresh run, or a checkpoint older than the CPU clock)."""
        return float(self._cpu_clock().get(str(step), 0.0)) if step else 0.0

    def best_score(self) -> float:
        path = self.directory / "best" / "best.json"
        return json.loads(path.read_text())["score"] if path.is_file() else float("inf")

    def save_best(self, step: int, score: float, metric: str) -> bool:
        """Keep the state of ``step`` under best/ if ``score`` beats the best so far (lower wins)."""
        if not score < self.best_score():
            return False
        best = (self.directory if self.is_chief else self._writable_dir()) / "best"
        best.mkdir(parents=True, exist_ok=True)
        self._checkpoint.write(str(best / "ckpt"))
        if self.is_chief:
            with atomic_path(best / "best.json") as tmp:
                tmp.write_text(json.dumps({"step": step, "score": score, "metric": metric}))
        return True

    def save_evaluations(self, evaluations: pd.DataFrame) -> None:
        if self.is_chief and len(evaluations):
            with atomic_path(self.directory / "evaluations.csv") as tmp:
                evaluations.to_csv(tmp, index=False)

    def load_evaluations(self, step: int) -> pd.DataFrame:
        evaluations = _read_table(self.directory / "evaluations.csv")
        return evaluations[evaluations["step"] <= step] if len(evaluations) else evaluations

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def _read_table(path: Path) -> pd.DataFrame:
    """A table saved with a checkpoint; empty when there is none or it has no rows yet
    (a checkpoint before the first logged step writes a history without columns)."""
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()
