"""Hooks into the fit loop, and the progress bar.

A callback subclasses :class:`Callback` and overrides any of its methods; a plain
callable is called as ``on_step_end``. To end training from a callback, raise
:class:`StopTraining` (the result then records ``stopped_by="StopTraining"``).

Example::

    >>> import torch, antigrad
    >>> from antigrad.train import Callback, StopTraining
    >>> class StopBelow(Callback):
    ...     def on_step_end(self, run, obs):
    ...         if obs.loss < 0.1:
    ...             raise StopTraining(f"loss {obs.loss:.3f} < 0.1")
    >>> x = torch.linspace(-1, 1, 32)[:, None]
    >>> r = antigrad.fit(torch.nn.Linear(1, 1), torch.nn.functional.mse_loss, (x, 3 * x),
    ...                  lr=0.5, steps=500, callbacks=[StopBelow()], progress=False)
    >>> r.stopped_by
    'StopTraining'
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..errors import StopTraining  # re-exported: its old home
from ..stop import Observation

__all__ = ["Callback", "StopTraining", "ProgressBar", "as_callbacks"]


class Callback:
    """Base class of fit-loop hooks. ``run`` is the live :class:`~antigrad.train.run.Run`
    (its ``model``, ``optimizer``, ``scheduler``, ``history``, ``index`` of the restart).
    ``needs``: per-step measurements the callback reads (``"grad_norm"``,
    ``"weight_change"``); fit then records them every step."""

    needs: frozenset[str] = frozenset()

    def on_fit_start(self, run: Any) -> None:
        """Before the first step of a run (also after resuming)."""

    def on_step_end(self, run: Any, obs: Observation) -> None:
        """After every optimizer step, once the stopping rule has been asked."""

    def on_epoch_end(self, run: Any, obs: Observation) -> None:
        """After the last step of every epoch (validation, if any, already done)."""

    def on_fit_end(self, run: Any, result: Any) -> None:
        """After the run ended, with its :class:`~antigrad.train.FitResult`."""


class _StepFunction(Callback):
    def __init__(self, fn: Callable[[Observation], Any]) -> None:
        self.fn = fn

    def on_step_end(self, run: Any, obs: Observation) -> None:
        self.fn(obs)


def as_callbacks(callbacks: Any) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = [callbacks]
    out = []
    for i, cb in enumerate(callbacks):
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(_StepFunction(cb))
        else:
            raise TypeError(f"Invalid callbacks[{i}]: {cb!r} (must be a Callback or callable)")
    return out


class ProgressBar(Callback):
    """A rich progress bar on stderr: steps done (of the budget, when known), loss, lr."""

    def __init__(self, total: int | None = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        self.total = total
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                  TextColumn("{task.fields[info]}"), transient=False)
        self._task: Any = None

    @staticmethod
    def wanted(progress: bool | None) -> bool:
        """``progress=None`` means: on when stderr is a terminal and rich is installed."""
        if progress is not None:
            return bool(progress)
        if not sys.stderr.isatty():
            return False
        try:
            import rich  # noqa: F401
        except ImportError:
            return False
        return True

    def on_fit_start(self, run: Any) -> None:
        self._progress.start()
        self._task = self._progress.add_task(f"run {run.index}", total=self.total, info="",
                                             completed=run.step)

    def on_step_end(self, run: Any, obs: Observation) -> None:
        if obs.step % 10 == 0 or obs.epoch_end:
            self._progress.update(self._task, completed=obs.step,
                                  info=f"loss {obs.loss:.4g}  lr {obs.lr:.3g}")

    def on_fit_end(self, run: Any, result: Any) -> None:
        self._progress.update(self._task, completed=result.steps)
        self._progress.stop()
