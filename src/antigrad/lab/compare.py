"""``antigrad compare``: every optimizer on one problem, at a fairly chosen lr, over seeds.

For each optimizer the learning rate is chosen either

- ``"grid"``: a small log grid around the optimizer's default lr (``grid_points`` values,
  half a decade apart), one run per lr with seed 0; the lr with the lowest final
  *training* loss wins (the test metric is never used for tuning), diverged runs lose; or
- ``"range"``: the learning-rate range test (:mod:`~antigrad.lab.lr_range`).

Then the chosen lr is run with ``seeds`` seeds (the grid's seed-0 run is reused). The
result is a :class:`Comparison`, saved by :class:`~antigrad.lab.store.Store` and drawn by
:func:`~antigrad.lab.report.write_report`.

Example::

    >>> from antigrad.lab import CompareConfig, run_compare
    >>> cmp = run_compare(CompareConfig("breast-cancer", ["sgd", "adam"], seeds=1,
    ...                                 grid_points=1, steps=20))
    >>> sorted(cmp.chosen_lr)
    ['adam', 'sgd']
"""

from __future__ import annotations

import datetime as _dt
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..problems.registry import get_training_problem
from .lr_range import LRRangeResult, lr_range_test
from .optimizers import get_optimizer, optimizer_names
from .runner import RunResult, train_run

__all__ = ["CompareConfig", "Comparison", "Summary", "run_compare", "lr_grid"]

Progress = Callable[[str, int, int], None]


def lr_grid(center: float, points: int, spacing: float = 0.5) -> list[float]:
    """``points`` learning rates ``center * 10^(k * spacing)``, centred on ``center``."""
    if points < 1:
        raise ValueError(f"Invalid grid_points: {points} (must be >= 1)")
    offset = (points - 1) / 2
    return [float(f"{center * 10 ** ((k - offset) * spacing):.3g}") for k in range(points)]


@dataclass
class CompareConfig:
    """What to compare. ``None`` means the problem's default (steps, batch size, eval)."""

    problem: str
    optimizers: list[str] = field(default_factory=optimizer_names)
    lr_method: str = "grid"
    grid_points: int = 3
    lrs: list[float] | None = None
    seeds: int = 3
    steps: int | None = None
    batch_size: int | None = None
    eval_every: int | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` (unknown names list the valid ones) before any work."""
        get_training_problem(self.problem)
        if not self.optimizers:
            raise ValueError("Invalid optimizers: empty (name at least one)")
        for name in self.optimizers:
            get_optimizer(name)
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ValueError(f"Invalid optimizers: {self.optimizers} (names repeat)")
        if self.lr_method not in ("grid", "range"):
            raise ValueError(f"Invalid lr_method: {self.lr_method!r} (choose grid or range)")
        if self.lrs is not None and (not self.lrs or any(not (x > 0 and math.isfinite(x))
                                                         for x in self.lrs)):
            raise ValueError(f"Invalid lrs: {self.lrs} (need finite values > 0)")
        for name in ("grid_points", "seeds", "steps", "batch_size", "eval_every"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"Invalid {name}: {value!r} (must be an int >= 1)")


@dataclass
class Summary:
    """One optimizer's line of the results table."""

    optimizer: str
    lr: float
    runs: int
    diverged: int
    metric_mean: float
    metric_std: float
    loss_mean: float
    reached: int
    steps_to_target: float | None
    seconds_to_target: float | None
    seconds: float


@dataclass
class Comparison:
    """Everything one comparison produced (what the store saves and the report draws)."""

    config: CompareConfig
    metric: str
    higher_is_better: bool
    target: float
    title: str
    chosen_lr: dict[str, float] = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)
    range_tests: list[LRRangeResult] = field(default_factory=list)
    created: str = ""
    seconds: float = 0.0
    id: int | None = None

    def final_runs(self, optimizer: str) -> list[RunResult]:
        """The seeds run at the chosen lr for ``optimizer``."""
        return [r for r in self.runs if r.optimizer == optimizer and r.phase == "final"]

    def summaries(self) -> list[Summary]:
        """One :class:`Summary` per optimizer, in the configured order."""
        out = []
        for name in self.config.optimizers:
            runs = self.final_runs(name)
            ok = [r for r in runs if not r.diverged]
            metrics = [r.final_metric for r in ok]
            hit = [r for r in ok if r.steps_to_target is not None]
            out.append(Summary(
                optimizer=name, lr=self.chosen_lr.get(name, math.nan), runs=len(runs),
                diverged=len(runs) - len(ok),
                metric_mean=statistics.fmean(metrics) if metrics else math.nan,
                metric_std=statistics.stdev(metrics) if len(metrics) > 1 else 0.0,
                loss_mean=statistics.fmean([r.tail_loss() for r in ok]) if ok else math.inf,
                reached=len(hit),
                steps_to_target=statistics.median([r.steps_to_target for r in hit])
                if hit else None,
                seconds_to_target=statistics.median([r.seconds_to_target for r in hit])
                if hit else None,
                seconds=statistics.fmean([r.seconds for r in runs]) if runs else 0.0,
            ))
        return out

    def ranking(self) -> list[Summary]:
        """Summaries best first (by mean final metric; diverged-only optimizers last)."""
        sign = -1.0 if self.higher_is_better else 1.0

        def key(s: Summary) -> float:
            return math.inf if math.isnan(s.metric_mean) else sign * s.metric_mean

        return sorted(self.summaries(), key=key)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return asdict(self)


def run_compare(config: CompareConfig, progress: Progress | None = None) -> Comparison:
    """Run the comparison described by ``config`` (validated first); see the module doc.

    ``progress(task, done, total)`` is called as runs finish (for progress bars).
    """
    config.validate()
    problem = get_training_problem(config.problem)
    start = time.perf_counter()
    cmp = Comparison(config, problem.metric, problem.higher_is_better, problem.target,
                     problem.title,
                     created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    per_opt = (1 if config.lr_method == "range" else
               len(config.lrs) if config.lrs else config.grid_points) + config.seeds
    total, done = per_opt * len(config.optimizers), 0

    def tick(label: str, n: int = 1) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(label, done, total)

    common = dict(steps=config.steps, batch_size=config.batch_size,
                  eval_every=config.eval_every)
    for name in config.optimizers:
        spec = get_optimizer(name)
        seed0: RunResult | None = None
        if config.lr_method == "range":
            test = lr_range_test(problem, spec, batch_size=config.batch_size)
            cmp.range_tests.append(test)
            chosen = test.suggestion
            tick(f"{name}: range test")
        else:
            grid = config.lrs or lr_grid(spec.default_lr, config.grid_points)
            tuned = []
            for lr in grid:
                tuned.append(train_run(problem, spec, lr, 0, phase="tune", **common))
                tick(f"{name} lr={lr:g}")
            best = min(tuned, key=lambda r: r.tail_loss())
            chosen, seed0 = best.lr, best
            best.phase = "final"
            cmp.runs.extend(r for r in tuned if r is not best)
        cmp.chosen_lr[name] = chosen
        for seed in range(config.seeds):
            if seed == 0 and seed0 is not None:
                cmp.runs.append(seed0)  # the winning grid run is seed 0's final run
            else:
                cmp.runs.append(train_run(problem, spec, chosen, seed, **common))
            tick(f"{name} seed {seed}")
    cmp.seconds = time.perf_counter() - start
    return cmp
