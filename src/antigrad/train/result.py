"""What :func:`antigrad.fit` returns: the history of a run and its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["History", "FitResult"]


class History:
    """Columns of numbers, one table per granularity.

    - ``steps``: one row per optimizer step: ``step, epoch, loss, lr`` (and
      ``grad_norm``, ``weight_change`` when measured). ``loss`` is the training loss of the
      step's batch at the weights before the step; ``epoch`` counts completed epochs.
    - ``epochs``: one row per completed epoch: ``epoch, step, train_loss`` (the mean of the
      epoch's step losses, weighted by batch size) ``, lr``.
    - ``val``: one row per validation: ``step, epoch, val_loss, val_<metric>...``.

    ``history["loss"]`` is short for ``history.steps["loss"]``; any other key is looked up
    in ``epochs`` and then in ``val``.
    """

    def __init__(self) -> None:
        self.steps: dict[str, list[float]] = {}
        self.epochs: dict[str, list[float]] = {}
        self.val: dict[str, list[float]] = {}

    @staticmethod
    def _add(table: dict[str, list[float]], row: dict[str, float]) -> None:
        n = len(next(iter(table.values()))) if table else 0
        for key, value in row.items():
            table.setdefault(key, [float("nan")] * n).append(value)
        for column in table.values():
            if len(column) == n:
                column.append(float("nan"))

    def add_step(self, **row: float) -> None:
        self._add(self.steps, row)

    def add_epoch(self, **row: float) -> None:
        self._add(self.epochs, row)

    def add_val(self, **row: float) -> None:
        self._add(self.val, row)

    def __getitem__(self, key: str) -> list[float]:
        for table in (self.steps, self.epochs, self.val):
            if key in table:
                return table[key]
        raise KeyError(f"{key!r} is not in the history (steps: {sorted(self.steps)}, "
                       f"epochs: {sorted(self.epochs)}, val: {sorted(self.val)})")

    def __len__(self) -> int:
        return len(self.steps.get("step", []))

    def to_dict(self) -> dict[str, dict[str, list[float]]]:
        return {"steps": {k: list(v) for k, v in self.steps.items()},
                "epochs": {k: list(v) for k, v in self.epochs.items()},
                "val": {k: list(v) for k, v in self.val.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, list[float]]]) -> History:
        h = cls()
        h.steps = {k: list(v) for k, v in data["steps"].items()}
        h.epochs = {k: list(v) for k, v in data["epochs"].items()}
        h.val = {k: list(v) for k, v in data["val"].items()}
        return h

    def __eq__(self, other: object) -> bool:
        """Equal tables, number for number (NaN equals NaN here)."""
        if not isinstance(other, History):
            return NotImplemented
        a, b = self.to_dict(), other.to_dict()
        return all(a[t].keys() == b[t].keys() and all(
            len(a[t][k]) == len(b[t][k]) and all(x == y or (x != x and y != y)
                                                 for x, y in zip(a[t][k], b[t][k], strict=True))
            for k in a[t]) for t in a)

    def __repr__(self) -> str:
        return (f"History({len(self)} steps, {len(self.epochs.get('epoch', []))} epochs, "
                f"{len(self.val.get('step', []))} validations)")


@dataclass
class FitResult:
    """The outcome of :func:`antigrad.fit`.

    ``stopped_by`` is the rule that ended training (``repr`` of the rule, e.g.
    ``"LossChange(tol=1e-06)"``; ``"StopTraining"`` when a callback stopped it),
    ``stop_reason`` says why, ``stopped_at`` is the step. ``best_*`` track the monitored
    validation value (with ``keep_best``, ``best_state`` is a copy of those weights).
    With restarts, ``runs`` holds every run's result, ``best_run`` the index of the best,
    ``score`` each run's monitored value at its final weights, and ``ensemble_score`` the
    ensemble's (``combine="ensemble"``, where ``model`` is the :class:`Ensemble`)."""

    model: torch.nn.Module
    history: History
    steps: int = 0
    epochs: int = 0
    stopped_by: str | None = None
    stop_reason: str | None = None
    stopped_at: int | None = None
    final_loss: float | None = None
    monitor: str | None = None
    best_value: float | None = None
    best_step: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    score: float | None = None
    seed: int | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    resumed_from: int | None = None
    runs: list[FitResult] = field(default_factory=list)
    best_run: int | None = None
    ensemble_score: float | None = None
    mean_run_score: float | None = None

    @property
    def diverged(self) -> bool:
        """Whether a :class:`~antigrad.stop.Divergence` rule ended the run."""
        return bool(self.stopped_by and self.stopped_by.startswith("Divergence"))

    def __repr__(self) -> str:
        parts = [f"steps={self.steps}", f"epochs={self.epochs}",
                 f"final_loss={self.final_loss!r}", f"stopped_by={self.stopped_by!r}"]
        if self.best_value is not None:
            parts.append(f"best {self.monitor}={self.best_value:.4g} at step {self.best_step}")
        if self.runs:
            parts.append(f"runs={len(self.runs)}, best_run={self.best_run}")
        if self.ensemble_score is not None:
            parts.append(f"ensemble_score={self.ensemble_score:.4g}")
        return f"FitResult({', '.join(parts)})"
