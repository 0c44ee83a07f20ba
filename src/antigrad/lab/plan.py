"""What a comparison still has to run, decided from what it has stored.

Each optimizer of a comparison goes through two stages:

1. **Choosing the lr**: its lr grid (one run per grid point, with the first seed), its
   range test, or its tuning trials (one at a time and in order: a trial's lr depends on
   the trials before it, :mod:`~antigrad.lab.tuning`).
2. **The seeds** at the chosen lr. This stage starts only once the lr is chosen
   (:func:`choose`); a grid's best run is reused as the first seed's run. A tuned
   comparison with ensembles has one ``group`` item per seed instead: its members and
   their ensemble, in one process (the ensemble needs the members' trained models).

:func:`pending` lists the work of an optimizer's current stage that is not yet stored, as
:class:`Work` items. It depends only on the comparison's settings and on the runs it holds,
so an interrupted comparison read back from a store goes on exactly where it stopped, and
several workers sharing one store agree on what is left
(:mod:`~antigrad.lab.worker`).

Example::

    >>> from antigrad.lab import CompareConfig, new_comparison
    >>> cmp = new_comparison(CompareConfig("breast-cancer", ["sgd"], grid_points=2, seeds=2))
    >>> [(w.kind, w.lr, w.seed) for w in pending(cmp, "sgd")]
    [('grid', 0.562, 0), ('grid', 1.78, 0)]
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .batching import MAX_REPLICAS
from .compare import Comparison, best_grid_run, lr_grid
from .optimizers import get_optimizer
from .replicas import MIN_REPLICAS
from .runner import RunResult

__all__ = ["Work", "KINDS", "pending", "ready_to_choose", "choose", "remaining", "grid_lrs",
           "next_items"]

#: The kinds of work: a grid point, a range test, a tuning trial, a seed at the chosen lr,
#: a seed's ensemble group (its members and their ensemble).
KINDS = ("grid", "range", "trial", "seed", "group")


@dataclass(frozen=True)
class Work:
    """One item of work: a run (or a range test) of ``optimizer``.

    ``number`` orders items of one kind (the grid point, the trial, the seed's place in the
    seed list); ``lr`` is ``None`` where it is decided when the item runs (a trial's lr is
    drawn from the trials before it; a range test sweeps the lr).
    """

    optimizer: str
    kind: str
    number: int
    lr: float | None
    seed: int

    @property
    def phase(self) -> str:
        """The stored run's phase: ``tune`` while choosing the lr, ``final`` for a seed
        (and a group's members)."""
        return "final" if self.kind in ("seed", "group") else "tune"

    def label(self) -> str:
        """How progress names it."""
        what = {"grid": f"lr={self.lr:g}" if self.lr is not None else "grid",
                "range": "range test", "trial": f"trial {self.number + 1}",
                "seed": f"seed {self.seed}", "group": f"ensemble of seed {self.seed}"
                }[self.kind]
        return f"{self.optimizer} {what}"


def grid_lrs(cmp: Comparison, name: str) -> list[float]:
    """The lr grid of optimizer ``name`` (the configured lrs, or a grid around its default)."""
    config = cmp.config
    return list(config.lrs) if config.lrs else lr_grid(get_optimizer(name).default_lr,
                                                       config.grid_points)


def _grid_runs(cmp: Comparison, name: str) -> list[RunResult]:
    """``name``'s stored grid runs, in grid order (the first seed, one per grid point)."""
    grid, first = grid_lrs(cmp, name), cmp.config.seed_list()[0]
    runs = {r.lr: r for r in cmp.runs
            if r.optimizer == name and r.seed == first and r.lr in grid
            and (r.phase == "tune" or r.lr == cmp.chosen_lr.get(name))}
    return [runs[lr] for lr in grid if lr in runs]


def _trials(cmp: Comparison, name: str) -> list[RunResult]:
    return [r for r in cmp.runs if r.optimizer == name and r.phase == "tune"]


def _choosing(cmp: Comparison, name: str) -> list[Work]:
    """The missing work of stage 1 (choosing ``name``'s lr)."""
    config, first = cmp.config, cmp.config.seed_list()[0]
    if config.budget is not None:
        done = len(_trials(cmp, name))
        return [Work(name, "trial", done, None, first)] if done < config.budget else []
    if config.lr_method == "range":
        tested = any(t.optimizer == name for t in cmp.range_tests)
        return [] if tested else [Work(name, "range", 0, None, first)]
    have = {r.lr for r in _grid_runs(cmp, name)}
    return [Work(name, "grid", i, lr, first) for i, lr in enumerate(grid_lrs(cmp, name))
            if lr not in have]


def pending(cmp: Comparison, name: str) -> list[Work]:
    """The work of ``name``'s current stage not yet stored (empty when the stage is done:
    see :func:`ready_to_choose`, and an optimizer whose seeds are all stored)."""
    if name not in cmp.chosen_lr:
        return _choosing(cmp, name)
    lr, seeds = cmp.chosen_lr[name], cmp.config.seed_list()
    if cmp.config.budget is not None and cmp.config.group_size() > 1:
        scored = {r.seed for r in cmp.ensemble_runs(name)}
        return [Work(name, "group", i, lr, seed) for i, seed in enumerate(seeds)
                if seed not in scored]
    have = {r.seed for r in cmp.final_runs(name)}
    return [Work(name, "seed", i, lr, seed) for i, seed in enumerate(seeds)
            if seed not in have]


def ready_to_choose(cmp: Comparison, name: str) -> bool:
    """Whether ``name``'s lr can be chosen now: stage 1 is stored whole, no choice yet."""
    return name not in cmp.chosen_lr and not _choosing(cmp, name)


def choose(cmp: Comparison, name: str) -> RunResult | None:
    """Choose ``name``'s lr from its stored stage 1 (sets ``cmp.chosen_lr[name]``), as an
    uninterrupted comparison does; for a grid, the best run becomes the first seed's final
    run and is returned (``None`` otherwise)."""
    if not ready_to_choose(cmp, name):
        raise ValueError(f"Invalid choice: {name}'s lr is chosen already or its stage 1 is "
                         "not complete")
    if cmp.config.budget is not None:
        from .tuning import chosen_lr

        cmp.chosen_lr[name] = chosen_lr(cmp, name)
        return None
    if cmp.config.lr_method == "range":
        test = next(t for t in cmp.range_tests if t.optimizer == name)
        cmp.chosen_lr[name] = test.suggestion
        return None
    best = best_grid_run(_grid_runs(cmp, name))
    best.phase = "final"
    cmp.chosen_lr[name] = best.lr
    return best


def remaining(cmp: Comparison) -> int:
    """Runs (and range tests) still to do: the comparison's total less what is stored
    (an ensemble's score is no training run)."""
    from .compare import count_runs

    trained = [r for r in cmp.runs if r.phase != "ensemble"]
    return count_runs(cmp.config) - len(trained) - len(cmp.range_tests)


class _Item(Protocol):
    """What :func:`next_items` looks at: a :class:`Work` or a row of the work list."""

    @property
    def optimizer(self) -> str: ...

    @property
    def kind(self) -> str: ...


Item = TypeVar("Item", bound=_Item)


def next_items(free: Sequence[Item], together: Collection[str], *,
               least: int = MIN_REPLICAS, most: int = MAX_REPLICAS) -> list[Item]:
    """What to run next of ``free`` (in the order it is listed): its first item alone,
    or, when that item's optimizer is in ``together`` (those that can train as one batch
    of replicas), the free items of its kind of the optimizers in ``together``, up to
    ``most``, if there are at least ``least`` of them (a range test always runs alone).
    The worker's claims and :func:`~antigrad.lab.worker.run_remaining` both take work
    this way, so both batch the same runs."""
    first = free[0]
    group = [w for w in free if w.kind == first.kind and w.optimizer in together
             and w.kind != "range"] if first.optimizer in together else []
    return group[:most] if len(group) >= least else [first]
