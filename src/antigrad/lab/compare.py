"""``antigrad compare``: every optimizer on one problem, at a fairly chosen lr, over seeds.

For each optimizer the learning rate is chosen either

- ``"grid"``: a small log grid around the optimizer's default lr (``grid_points`` values,
  half a decade apart), one run per lr with seed 0; the lr with the lowest final
  *training* loss wins (the test metric is never used for tuning), diverged runs lose; or
- ``"range"``: the learning-rate range test (:mod:`~antigrad.lab.lr_range`);

or, given a ``budget``, by the tuning protocol of :mod:`~antigrad.lab.tuning` (a search
scored on a validation split of the training data).

Then the chosen lr is run with ``seeds`` seeds (a count ``n``: seeds ``0..n-1``; or a list
of seeds); the grid is run with the first seed, and its best run is reused as that seed's.
Optimizers are names or texts (``"antigrad:AdamW(weight_decay=0.1)@cosine"``, see
:func:`~antigrad.lab.optimizers.get_optimizer`). The
result is a :class:`Comparison`, saved by :class:`~antigrad.lab.store.Store` (run by run
as they finish, through a :class:`Recorder`) and drawn by
:func:`~antigrad.lab.report.write_report`. Budgets are bounded by :data:`LIMITS`.

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
from typing import Any, Protocol

from ..errors import ConfigError  # re-exported: its old home
from ..problems.registry import get_training_problem
from .batching import run_many
from .lr_range import LRRangeResult, lr_range_test
from .optimizers import get_optimizer, optimizer_names
from .runner import RunRequest, RunResult, train_run

__all__ = ["CompareConfig", "ConfigError", "LIMITS", "Comparison", "Summary", "Recorder",
           "run_compare", "new_comparison", "count_runs", "lr_grid", "best_grid_run"]

Progress = Callable[[str, int, int], None]


def lr_grid(center: float, points: int, spacing: float = 0.5) -> list[float]:
    """``points`` learning rates ``center * 10^(k * spacing)``, centred on ``center``."""
    hi = LIMITS["grid_points"][1]
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= hi:
        raise ValueError(f"Invalid grid_points: {points!r} (must be an int from 1 to {hi})")
    offset = (points - 1) / 2
    return [float(f"{center * 10 ** ((k - offset) * spacing):.3g}") for k in range(points)]


#: Most seeds per optimizer (a count, or the length of a list of seeds).
MAX_SEEDS = 1000

#: Allowed ranges of a comparison's budgets (a wider grid spans over 12 decades of lr).
LIMITS: dict[str, tuple[int, int]] = {
    "grid_points": (1, 25),
    "steps": (1, 10_000_000),
    "batch_size": (1, 1_000_000),
    "eval_every": (1, 10_000_000),
    "budget": (1, 1000),
    "ensemble": (1, 100),
    "restarts": (1, 100),
}


@dataclass
class CompareConfig:
    """What to compare. ``None`` means the problem's default (steps, batch size, eval)."""

    problem: str
    optimizers: list[str] = field(default_factory=optimizer_names)
    lr_method: str = "grid"
    grid_points: int = 3
    lrs: list[float] | None = None
    seeds: int | list[int] = 3
    steps: int | None = None
    batch_size: int | None = None
    eval_every: int | None = None
    #: Trials per optimizer of the tuning protocol (:mod:`~antigrad.lab.tuning`): the lr
    #: is then searched and chosen on a validation split; ``None``: ``lr_method``.
    budget: int | None = None
    #: What the tuning protocol searches (:mod:`~antigrad.lab.search_space`): the lr
    #: always; ``weight_decay``, ``beta1`` and ``schedule`` where an optimizer has them.
    search: list[str] = field(default_factory=lambda: ["lr"])
    #: Models per seed group at the chosen configuration (tuning protocol only): each
    #: seed's group of ``ensemble`` runs is also scored as one ensemble (L17).
    ensemble: int = 1
    #: Restarts that keep the best (tuning protocol only): each seed's group of
    #: ``restarts`` runs is also scored by its member with the lowest final training loss
    #: (L17, ``fit(..., combine="best")``). With ``ensemble`` too, both sizes are the same.
    restarts: int = 1

    def group_size(self) -> int:
        """Runs per seed at the chosen configuration (1: no groups)."""
        return max(self.ensemble, self.restarts)

    def validate(self) -> None:
        """Raise ``ValueError`` (unknown names list the valid ones; a
        :class:`ConfigError` names the field) before any work."""
        get_training_problem(self.problem)
        if not self.optimizers:
            raise ConfigError("optimizers", "Invalid optimizers: empty (name at least one)")
        for name in self.optimizers:
            get_optimizer(name)
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ConfigError("optimizers", f"Invalid optimizers: {self.optimizers} "
                              "(names repeat)")
        if self.lr_method not in ("grid", "range"):
            raise ConfigError("lr_method", f"Invalid lr_method: {self.lr_method!r} "
                              "(choose grid or range)")
        self._validate_lrs()
        self._validate_seeds()
        if self.budget is not None and (self.lrs is not None or self.lr_method != "grid"):
            raise ConfigError("budget", f"Invalid budget: {self.budget!r} with an lr grid or "
                              "the range test (a budget searches the lr itself)")
        for name, (lo, hi) in LIMITS.items():
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not lo <= value <= hi):
                raise ConfigError(name, f"Invalid {name}: {value!r} (must be an int from "
                                  f"{lo} to {hi:,})")
        self._validate_tuning()

    def _validate_tuning(self) -> None:
        """The search space and the ensembles: known names, and only with a budget."""
        from .search_space import check_search

        try:
            searched = check_search(self.search)
        except (TypeError, ValueError) as err:
            raise ConfigError("search", str(err)) from None
        if self.budget is None and searched != ["lr"]:
            raise ConfigError("search", f"Invalid search: {self.search} without a budget "
                              "(the search space is the tuning protocol's: give a budget)")
        for name in ("ensemble", "restarts"):
            if self.budget is None and getattr(self, name) != 1:
                raise ConfigError(name, f"Invalid {name}: {getattr(self, name)} without a "
                                  "budget (groups are trained by the tuning protocol)")
        if min(self.ensemble, self.restarts) > 1 and self.ensemble != self.restarts:
            raise ConfigError("restarts", f"Invalid restarts: {self.restarts} with ensemble "
                              f"{self.ensemble} (one group per seed: give the same size)")

    def seed_list(self) -> list[int]:
        """The seeds of the final runs: ``0..seeds-1`` for a count, else the list given."""
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def _validate_seeds(self) -> None:
        hi = MAX_SEEDS
        if isinstance(self.seeds, list):
            if not 1 <= len(self.seeds) <= hi or any(
                    isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**31
                    for s in self.seeds) or len(set(self.seeds)) != len(self.seeds):
                raise ConfigError("seeds", f"Invalid seeds: {self.seeds} (1 to {hi:,} "
                                  "different ints from 0 to 2**31 - 1)")
        elif isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or not (
                1 <= self.seeds <= hi):
            raise ConfigError("seeds", f"Invalid seeds: {self.seeds!r} (must be an int from "
                              f"1 to {hi:,}, or a list of seeds)")

    def _validate_lrs(self) -> None:
        if self.lrs is None:
            return
        if self.lr_method == "range":
            raise ConfigError("lrs", "Invalid lrs: an lr grid is given but lr_method is "
                              "'range' (the range test chooses the lr)")
        if not self.lrs or any(isinstance(x, bool) or not isinstance(x, int | float)
                               or not (x > 0 and math.isfinite(x)) for x in self.lrs):
            raise ConfigError("lrs", f"Invalid lrs: {self.lrs} (need finite values > 0)")
        if len(self.lrs) > LIMITS["grid_points"][1] or len(set(self.lrs)) != len(self.lrs):
            raise ConfigError("lrs", f"Invalid lrs: {self.lrs} (at most "
                              f"{LIMITS['grid_points'][1]} values, none repeated)")


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
    """Everything one comparison produced (what the store saves and the report draws).

    ``complete`` is ``False`` while it runs, and stays so for one that was interrupted:
    its ``runs`` are then the runs that finished.
    """

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
    complete: bool = True

    def final_runs(self, optimizer: str) -> list[RunResult]:
        """The seeds run at the chosen lr for ``optimizer``."""
        return [r for r in self.runs if r.optimizer == optimizer and r.phase == "final"]

    def ensemble_runs(self, optimizer: str) -> list[RunResult]:
        """``optimizer``'s ensembles (one per seed group; ``phase == "ensemble"``)."""
        return [r for r in self.runs if r.optimizer == optimizer and r.phase == "ensemble"]

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


class Recorder(Protocol):
    """Where a comparison's results go as they come (e.g. a
    :meth:`~antigrad.lab.store.Store.begin` recording), so an interrupted comparison keeps
    every run that finished."""

    def add_run(self, run: RunResult) -> None:
        """A finished run (appended to ``cmp.runs`` just before)."""

    def add_range_test(self, test: LRRangeResult) -> None:
        """A finished range test."""

    def choose(self, optimizer: str, final: RunResult | None) -> None:
        """``cmp.chosen_lr[optimizer]`` is set; ``final`` (a grid run) became seed 0's run."""

    def finish(self) -> None:
        """The comparison is complete (``cmp.seconds`` set)."""


def new_comparison(config: CompareConfig) -> Comparison:
    """An empty :class:`Comparison` for ``config`` (validated first): the problem's metric,
    target and title, the creation time, no runs yet."""
    config.validate()
    problem = get_training_problem(config.problem)
    return Comparison(config, problem.metric, problem.higher_is_better, problem.target,
                      problem.title,
                      created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                      complete=False)


def count_runs(config: CompareConfig) -> int:
    """Training runs (and range tests) the comparison will do: a grid's best run is
    reused as seed 0's run."""
    seeds = len(config.seed_list())
    if config.budget is not None:
        return (config.budget + seeds * config.group_size()) * len(config.optimizers)
    per_opt = (1 + seeds if config.lr_method == "range" else
               (len(config.lrs) if config.lrs else config.grid_points) + seeds - 1)
    return per_opt * len(config.optimizers)


def run_compare(config: CompareConfig | Comparison, progress: Progress | None = None,
                recorder: Recorder | None = None, *, replicas: bool = True) -> Comparison:
    """Run the comparison described by ``config`` (validated first); see the module doc.

    ``config`` may also be a fresh :func:`new_comparison` (one already begun in a store).
    ``progress(task, done, total)`` is called as runs finish (for progress bars);
    ``recorder`` receives every result as soon as it exists. The grids of all optimizers
    train first, then all their seeds; with ``replicas`` (the default) each of the two
    trains as batches of replicas (:func:`~antigrad.lab.batching.run_many`, the same
    results) where it has at least :data:`~antigrad.lab.replicas.MIN_REPLICAS` runs that
    the method and problem allow (:func:`~antigrad.lab.replicas.batchable`), else run by
    run.
    """
    cmp = config if isinstance(config, Comparison) else new_comparison(config)
    if cmp.config.budget is not None:  # the tuning protocol (it also resumes)
        from .tuning import run_tuned
        return run_tuned(cmp, progress, recorder, replicas=replicas)
    if cmp.runs or cmp.complete:
        raise ValueError("Invalid comparison: it already holds results (start a new one)")
    cmp.config.validate()
    problem = get_training_problem(cmp.config.problem)
    start = time.perf_counter()
    total, done = count_runs(cmp.config), 0

    def finished(label: str, run: RunResult | LRRangeResult) -> None:
        nonlocal done
        cmp.seconds = time.perf_counter() - start
        if isinstance(run, RunResult):
            cmp.runs.append(run)
        else:
            cmp.range_tests.append(run)
        if recorder is not None:
            (recorder.add_run if isinstance(run, RunResult) else recorder.add_range_test)(run)
        done += 1
        if progress is not None:
            progress(label, done, total)

    seed0 = _choose_lrs(cmp, problem, finished, recorder, replicas)
    _run_seeds(cmp, problem, seed0, finished, replicas)
    cmp.seconds = time.perf_counter() - start
    cmp.complete = True
    if recorder is not None:
        recorder.finish()
    return cmp


def best_grid_run(runs: list[RunResult]) -> RunResult:
    """The grid run with the lowest final training loss (the mean over its last steps; a
    diverged run never wins unless all did); on a tie the first in grid order."""
    return min(runs, key=lambda r: r.tail_loss())


def _common(config: CompareConfig, replicas: bool) -> dict[str, Any]:
    return dict(steps=config.steps, batch_size=config.batch_size,
                eval_every=config.eval_every, replicas=replicas, train_alone=train_run)


def _choose_lrs(cmp: Comparison, problem: Any, finished: Callable[[str, Any], None],
                recorder: Recorder | None, replicas: bool) -> dict[str, RunResult | None]:
    """Every optimizer's lr: its range test, or its grid with the first seed (the grids of
    all optimizers trained together, :func:`~antigrad.lab.batching.run_many`); returns
    each optimizer's grid run that becomes the first seed's final run (``None`` after a
    range test)."""
    config = cmp.config
    specs = {name: get_optimizer(name) for name in config.optimizers}
    if config.lr_method == "range":
        for name, spec in specs.items():
            test = lr_range_test(problem, spec, batch_size=config.batch_size)
            finished(f"{name}: range test", test)
            cmp.chosen_lr[name] = test.suggestion
            if recorder is not None:
                recorder.choose(name, None)
        return dict.fromkeys(specs)
    first = config.seed_list()[0]
    owner, requests = [], []
    for name, spec in specs.items():
        for lr in config.lrs or lr_grid(spec.default_lr, config.grid_points):
            owner.append(name)
            requests.append(RunRequest(spec, lr, first, "tune"))
    runs = run_many(problem, requests, **_common(config, replicas),
                    on_result=lambda i, run: finished(f"{owner[i]} lr={run.lr:g}", run))
    seed0: dict[str, RunResult | None] = {}
    for name in specs:
        best = best_grid_run([run for run, o in zip(runs, owner, strict=True) if o == name])
        best.phase = "final"  # the winning grid run is the first seed's final run
        seed0[name], cmp.chosen_lr[name] = best, best.lr
        if recorder is not None:
            recorder.choose(name, best)
    return seed0


def _run_seeds(cmp: Comparison, problem: Any, seed0: dict[str, RunResult | None],
               finished: Callable[[str, Any], None], replicas: bool) -> None:
    """Every optimizer's seeds at its chosen lr (all trained together), but the first
    seed's where a grid run already is that seed's run."""
    first, *rest = cmp.config.seed_list()
    owner, requests = [], []
    for name, grid_run in seed0.items():
        spec = get_optimizer(name)
        for seed in rest if grid_run is not None else [first, *rest]:
            owner.append(name)
            requests.append(RunRequest(spec, cmp.chosen_lr[name], seed))
    if requests:
        run_many(problem, requests, **_common(cmp.config, replicas),
                 on_result=lambda i, run: finished(f"{owner[i]} seed {run.seed}", run))
