"""Beat a published table under the lab's tuning protocol: ``antigrad reproduce mnist1d --tuned``.

For each MNIST-1D paper model (by default the MLP and the CNN), :func:`tuned_config` is a
comparison of the lecture's methods on ``mnist1d-paper-<model>`` under the tuning protocol
(:mod:`~antigrad.lab.tuning`): a budget of validation-scored trials over a declared
search space (:mod:`~antigrad.lab.search_space`; schedules allowed), then the seeds at the
chosen configuration, each seed a group of ``ensemble`` runs also scored as one ensemble.
:func:`beat_rows` reads a finished comparison back as the table: per optimizer its single
models' test accuracy (mean ± std over every final run) and its ensembles' (mean ± std
over the seed groups) beside the paper's number, and :func:`verdict` says whether each
beats the paper *by more than its own std* (a lead within the seed noise is no win).

Example::

    >>> verdict(95.1, 0.3, 3, 94.0)
    'beats (+1.1 > std 0.3)'
    >>> verdict(94.2, 0.3, 3, 94.0)
    'within noise (+0.2 <= std 0.3)'
    >>> verdict(93.0, 0.3, 3, 94.0)
    'below (-1.0)'
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .compare import CompareConfig, Comparison
from .reproduce import PAPER, check_models

__all__ = ["TUNED_MODELS", "TUNED_OPTIMIZERS", "TUNED_SEARCH", "PROBLEM_PREFIX", "BeatRow",
           "tuned_config", "model_of", "verdict", "beat_rows", "beat_text"]

#: The models ``--tuned`` runs unless told otherwise (the MLP and the CNN).
TUNED_MODELS = ("mlp", "cnn")
#: The lecture's methods it tunes by default (L14's AdamW and L8's Nesterov).
TUNED_OPTIMIZERS = ("adamw", "nesterov")
#: The search space by default: everything the protocol can search.
TUNED_SEARCH = ("lr", "weight_decay", "beta1", "schedule")
#: A paper model's problem is ``PROBLEM_PREFIX + model``.
PROBLEM_PREFIX = "mnist1d-paper-"


def tuned_config(model: str, optimizers: Sequence[str] = TUNED_OPTIMIZERS,
                 seeds: Sequence[int] = (42, 0, 1), budget: int = 12,
                 search: Sequence[str] = TUNED_SEARCH, ensemble: int = 3,
                 steps: int | None = None) -> CompareConfig:
    """The tuned comparison of ``optimizers`` on the paper's ``model`` (validated)."""
    check_models([model])
    config = CompareConfig(PROBLEM_PREFIX + model, list(optimizers), seeds=list(seeds),
                           steps=steps, budget=budget, search=list(search),
                           ensemble=ensemble)
    config.validate()
    return config


def model_of(cmp: Comparison) -> str:
    """The paper model a comparison ran on; ``ValueError`` if it is none of them, or if
    the comparison is not a finished tuned one."""
    problem = cmp.config.problem
    model = problem.removeprefix(PROBLEM_PREFIX)
    if not problem.startswith(PROBLEM_PREFIX) or model not in PAPER:
        raise ValueError(f"Invalid comparison {cmp.id}: it ran on {problem!r}, not on one of "
                         f"the paper's models ({', '.join(PROBLEM_PREFIX + m for m in PAPER)})")
    if cmp.config.budget is None or not cmp.complete:
        raise ValueError(f"Invalid comparison {cmp.id}: "
                         + ("it was run without a tuning budget" if cmp.config.budget is None
                            else "it is not complete (`antigrad compare --resume` it first)"))
    return model


def verdict(mean: float, std: float, n: int, paper: float) -> str:
    """Whether ``mean`` beats ``paper`` by more than the seed ``std`` (over ``n`` values)."""
    if n == 0 or math.isnan(mean):
        return "no result"
    lead = mean - paper
    if lead <= 0:
        return f"below ({lead:+.1f})"
    if n < 2:
        return f"noise unknown ({lead:+.1f}, one value)"
    if lead > std:
        return f"beats ({lead:+.1f} > std {std:.1f})"
    return f"within noise ({lead:+.1f} <= std {std:.1f})"


@dataclass(frozen=True)
class BeatRow:
    """One optimizer on one paper model: accuracies in %, with the verdicts."""

    model: str
    optimizer: str
    paper: float
    chosen: str
    single_mean: float
    single_std: float
    single_n: int
    ensemble_mean: float
    ensemble_std: float
    ensemble_n: int
    members: int

    @property
    def single_verdict(self) -> str:
        return verdict(self.single_mean, self.single_std, self.single_n, self.paper)

    @property
    def ensemble_verdict(self) -> str:
        return verdict(self.ensemble_mean, self.ensemble_std, self.ensemble_n, self.paper)


def _stats(values: list[float]) -> tuple[float, float, int]:
    if not values:
        return math.nan, math.nan, 0
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std, len(values)


def beat_rows(cmp: Comparison) -> list[BeatRow]:
    """One :class:`BeatRow` per optimizer of a finished tuned comparison on a paper model."""
    from .tuning import chosen_text

    model = model_of(cmp)
    rows = []
    for name in cmp.config.optimizers:
        single = _stats([100 * r.final_metric for r in cmp.final_runs(name) if not r.diverged])
        groups = _stats([100 * r.final_metric for r in cmp.ensemble_runs(name)
                         if not r.diverged])
        rows.append(BeatRow(model, name, PAPER[model], chosen_text(cmp, name), *single,
                            *groups, cmp.config.ensemble))
    return rows


def _cell(mean: float, std: float, n: int) -> str:
    return "—" if n == 0 else f"{mean:.1f} ± {std:.1f} (n={n})"


def beat_text(rows: Sequence[BeatRow]) -> str:
    """The table as Markdown: model, paper, optimizer, chosen configuration, single models
    and ensembles (mean ± std, n) with their verdicts against the paper."""
    lines = ["| model | paper | optimizer | chosen | single models | verdict | ensembles "
             "| verdict |", "|---|---:|---|---|---:|---|---:|---|"]
    for r in rows:
        ens = _cell(r.ensemble_mean, r.ensemble_std, r.ensemble_n)
        if r.members > 1 and r.ensemble_n:
            ens = f"{ens}, {r.members} models each"
        lines.append(f"| {r.model} | {r.paper:.1f} | {r.optimizer} | {r.chosen} | "
                     f"{_cell(r.single_mean, r.single_std, r.single_n)} | {r.single_verdict} "
                     f"| {ens} | {r.ensemble_verdict if r.ensemble_n else '—'} |")
    return "\n".join(lines) + "\n"
