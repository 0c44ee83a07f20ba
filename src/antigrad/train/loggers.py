"""Loggers for the fit loop: every step's history row to a CSV file or to TensorBoard.

Both are callbacks (pass them in ``callbacks=``). They write what the run's history records
per step (``step, epoch, loss, lr``, ``grad_norm`` — the norm of the gradient before any
clipping — and ``grad_norm_clipped`` when ``fit`` clips), and which stopping rule ended the
run and why. Asking for a logger makes ``fit`` measure ``grad_norm`` every step.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, TextIO

from ..stop import Observation
from .callbacks import Callback

__all__ = ["CSVLogger", "TensorBoardLogger"]


def _last_row(run: Any) -> dict[str, float]:
    return {k: v[-1] for k, v in run.history.steps.items()}


class CSVLogger(Callback):
    """One CSV row per optimizer step: ``run``, the history's step columns, and on the last
    row of each run ``stopped_by`` and ``stop_reason`` (a row is written when the next step
    or the end of the run is known). An existing file is never overwritten (ValueError),
    except that a resumed run appends to it."""

    needs = frozenset({"grad_norm"})

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"Invalid path: {path!r} (must be a str or os.PathLike)")
        self.path = Path(path)
        self._file: TextIO | None = None
        self._writer: Any = None
        self._pending: dict[str, Any] | None = None
        self._started = False

    def on_fit_start(self, run: Any) -> None:
        appending = self._started or run.resumed_from is not None
        if not appending and self.path.exists():
            raise ValueError(f"Invalid path: {self.path} exists (CSVLogger does not overwrite "
                             "files; choose a new path or delete it)")
        self._started = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a" if appending else "w", newline="")
        self._writer = None

    def _write(self, row: dict[str, Any]) -> None:
        if self._writer is None:
            fields = [*row, "stopped_by", "stop_reason"]
            self._writer = csv.DictWriter(self._file, fieldnames=fields, restval="",
                                          extrasaction="ignore")
            if self._file.tell() == 0:
                self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()

    def on_step_end(self, run: Any, obs: Observation) -> None:
        if self._pending is not None:
            self._write(self._pending)
        self._pending = {"run": run.index, **_last_row(run)}

    def on_fit_end(self, run: Any, result: Any) -> None:
        if self._pending is not None:
            self._write({**self._pending, "stopped_by": result.stopped_by,
                         "stop_reason": result.stop_reason})
            self._pending = None
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoardLogger(Callback):
    """Scalars through ``torch.utils.tensorboard.SummaryWriter`` into ``log_dir/run-<k>``
    (``k`` the restart): ``train/<column>`` for every step column of the history,
    ``val/<name>`` at each validation, and the stopping rule as text ``stopped_by``.
    Needs the ``tensorboard`` package (``pip install antigrad[tensorboard]``)."""

    needs = frozenset({"grad_norm"})

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"Invalid log_dir: {log_dir!r} (must be a str or os.PathLike)")
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:   # torch raises ImportError when tensorboard is missing
            raise ImportError("TensorBoardLogger needs the tensorboard package: "
                              "pip install 'antigrad[tensorboard]'") from e
        self.log_dir, self._writer_cls = Path(log_dir), SummaryWriter
        self._writer: Any = None

    def on_fit_start(self, run: Any) -> None:
        self._writer = self._writer_cls(log_dir=str(self.log_dir / f"run-{run.index}"))

    def on_step_end(self, run: Any, obs: Observation) -> None:
        for key, value in _last_row(run).items():
            if key not in ("step", "epoch"):
                self._writer.add_scalar(f"train/{key}", value, obs.step)
        for key, value in (obs.val or {}).items():
            self._writer.add_scalar(f"val/{key.removeprefix('val_')}", value, obs.step)

    def on_fit_end(self, run: Any, result: Any) -> None:
        self._writer.add_text("stopped_by", f"{result.stopped_by}: {result.stop_reason}",
                              result.stopped_at)
        self._writer.close()
