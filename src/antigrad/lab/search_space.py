"""The declared search space of the tuning protocol (``antigrad compare --search``).

The tuning protocol (:mod:`~antigrad.lab.tuning`) searches the lr always; ``--search``
adds, for each optimizer that has them (and does not fix them in its text, e.g.
``adamw(weight_decay=0.1)`` or ``adam@cosine``):

- ``lr``: log-uniform, two decades either side of the optimizer's default lr (every one);
- ``weight_decay``: off (0) or on, then log-uniform from 1e-6 to 1e-1 (an optimizer with a
  ``weight_decay`` argument);
- ``beta1``: β1 or the momentum, ``1 - β`` log-uniform from 0.01 to 0.5 (an optimizer
  with ``beta1``, ``betas`` or ``momentum``, or a momentum method's ``gamma``);
- ``schedule``: ``constant``, ``cosine`` or ``warmup-cosine`` (a 5 % linear warmup, then
  cosine annealing), the horizon the run's steps (an optimizer without ``@SCHEDULE``).

The draws are Optuna parameters (:func:`suggest`): ``lr``, ``use_weight_decay`` with
``weight_decay`` when it is on, ``one_minus_beta1`` and ``schedule``; a trial's drawn
parameters other than the lr are saved with its run (``RunResult.params``), and
:func:`configured` turns them into the optimizer the run trains with. :func:`space_text`
describes an optimizer's space for the report.

Example::

    >>> from antigrad.lab.optimizers import get_optimizer
    >>> searched(get_optimizer("adamw"), ["lr", "weight_decay", "beta1", "schedule"])
    ['lr', 'weight_decay', 'beta1', 'schedule']
    >>> searched(get_optimizer("sgd"), ["lr", "weight_decay", "beta1", "schedule"])
    ['lr', 'schedule']
    >>> configured(get_optimizer("adamw"), {"one_minus_beta1": 0.2}).kwargs
    {'beta1': 0.8}
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from typing import Any

from .. import validation
from ..errors import ConfigError
from .optimizers import OptimizerSpec
from .schedules import parse_schedule

__all__ = ["SEARCHABLE", "LR_DECADES", "WEIGHT_DECAY_RANGE", "BETA1_GAP_RANGE",
           "SCHEDULE_CHOICES", "check_search", "searched", "suggest", "distributions",
           "configured", "hyperparameters", "space_text"]

#: What ``--search`` may name, in the order they are drawn.
SEARCHABLE = ("lr", "weight_decay", "beta1", "schedule")

#: The lr is searched over ``default_lr * 10**[-LR_DECADES, LR_DECADES]``.
LR_DECADES = 2.0

#: Weight decay, when on, is drawn log-uniformly from this range.
WEIGHT_DECAY_RANGE = (1e-6, 1e-1)

#: ``1 - β1`` (or ``1 - momentum``) is drawn log-uniformly from this range: β1 in
#: [0.5, 0.99], dense near 0.9 and above, where good values usually are.
BETA1_GAP_RANGE = (0.01, 0.5)

#: The schedules a trial chooses among (closed forms of :mod:`antigrad.schedules`, their
#: horizon the run's steps).
SCHEDULE_CHOICES = ("constant", "cosine", "warmup-cosine")


def check_search(names: Any) -> list[str]:
    """``names`` as the searched list, the lr first (it is always searched); a
    ``TypeError`` / ``ValueError`` naming ``search`` otherwise."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"Invalid search: {names!r} (must be a list of names from "
                        f"{', '.join(SEARCHABLE)})")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"Invalid search: {name!r} in {list(names)} (must be a name)")
    validation.refuse_unknown(names, SEARCHABLE, "search name")
    if len(set(names)) != len(names):
        raise ValueError(f"Invalid search: {list(names)} (names repeat)")
    return [n for n in SEARCHABLE if n == "lr" or n in names]


def _keys(spec: OptimizerSpec) -> list[str] | None:
    """The keyword arguments ``spec``'s optimizer takes (``None``: unknown, any)."""
    try:
        params = inspect.signature(spec.resolve()).parameters.values()
    except (TypeError, ValueError):
        return None
    return [p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]


def _beta1_key(spec: OptimizerSpec, keys: list[str]) -> str | None:
    """The argument that holds ``spec``'s β1 or momentum, if any (a momentum method's
    ``gamma``; RMSprop's ``gamma`` is a second-moment decay, not a momentum)."""
    for key in ("beta1", "betas", "momentum"):
        if key in keys:
            return key
    return "gamma" if "gamma" in keys and spec.family == "momentum" else None


def searched(spec: OptimizerSpec, names: Sequence[str]) -> list[str]:
    """The names of ``names`` that apply to ``spec``: its optimizer has the argument and
    its text does not fix it (nor a schedule, for ``schedule``)."""
    keys = _keys(spec) or []
    have = {"lr": True,
            "weight_decay": "weight_decay" in keys and "weight_decay" not in spec.kwargs,
            "beta1": (key := _beta1_key(spec, keys)) is not None and key not in spec.kwargs,
            "schedule": spec.schedule is None}
    return [n for n in check_search(list(names)) if have[n]]


def distributions(spec: OptimizerSpec, names: Sequence[str]) -> dict[str, Any]:
    """Optuna distributions of every parameter ``spec``'s trials may draw."""
    import optuna

    dist = optuna.distributions
    lo, hi = spec.default_lr * 10 ** -LR_DECADES, spec.default_lr * 10 ** LR_DECADES
    out: dict[str, Any] = {"lr": dist.FloatDistribution(lo, hi, log=True)}
    chosen = searched(spec, names)
    if "weight_decay" in chosen:
        out["use_weight_decay"] = dist.CategoricalDistribution((False, True))
        out["weight_decay"] = dist.FloatDistribution(*WEIGHT_DECAY_RANGE, log=True)
    if "beta1" in chosen:
        out["one_minus_beta1"] = dist.FloatDistribution(*BETA1_GAP_RANGE, log=True)
    if "schedule" in chosen:
        out["schedule"] = dist.CategoricalDistribution(SCHEDULE_CHOICES)
    return out


def suggest(trial: Any, spec: OptimizerSpec, names: Sequence[str]) -> dict[str, Any]:
    """Draw one trial's parameters (define-by-run: the weight decay only when it is on)."""
    space = distributions(spec, names)
    params = {"lr": trial.suggest_float("lr", space["lr"].low, space["lr"].high, log=True)}
    if "use_weight_decay" in space:
        params["use_weight_decay"] = trial.suggest_categorical("use_weight_decay",
                                                               [False, True])
    if "one_minus_beta1" in space:
        params["one_minus_beta1"] = trial.suggest_float("one_minus_beta1", *BETA1_GAP_RANGE,
                                                        log=True)
    if "schedule" in space:
        params["schedule"] = trial.suggest_categorical("schedule", list(SCHEDULE_CHOICES))
    if params.get("use_weight_decay"):
        params["weight_decay"] = trial.suggest_float("weight_decay", *WEIGHT_DECAY_RANGE,
                                                     log=True)
    return params


def hyperparameters(params: dict[str, Any]) -> dict[str, Any]:
    """Drawn parameters as the optimizer's settings: ``weight_decay`` (0 when off),
    ``beta1`` and ``schedule`` (the lr left out)."""
    out: dict[str, Any] = {}
    if "use_weight_decay" in params:
        out["weight_decay"] = params["weight_decay"] if params["use_weight_decay"] else 0.0
    if "one_minus_beta1" in params:
        out["beta1"] = 1.0 - params["one_minus_beta1"]
    if "schedule" in params:
        out["schedule"] = params["schedule"]
    return out


def configured(spec: OptimizerSpec, params: dict[str, Any]) -> OptimizerSpec:
    """``spec`` with a trial's drawn parameters set (its name kept: runs stay grouped by
    the optimizer's name)."""
    settings = hyperparameters(params)
    kwargs = dict(spec.kwargs)
    if "weight_decay" in settings:
        kwargs["weight_decay"] = settings["weight_decay"]
    if "beta1" in settings:
        key = _beta1_key(spec, _keys(spec) or [])
        if key is None:
            raise ConfigError("search", f"optimizer {spec.name!r} has no β1 or momentum")
        beta1 = settings["beta1"]
        kwargs[key] = (beta1, _beta2(spec)) if key == "betas" else beta1
    schedule = spec.schedule
    if "schedule" in settings:
        schedule = parse_schedule(settings["schedule"])
    return dataclasses.replace(spec, kwargs=kwargs, schedule=schedule)


def _beta2(spec: OptimizerSpec) -> float:
    """The β2 that goes with a searched β1 in a ``betas`` pair: the class's default."""
    default = inspect.signature(spec.resolve()).parameters["betas"].default
    return float(default[1]) if isinstance(default, tuple) else 0.999


def _range(lo: float, hi: float) -> str:
    return f"log-uniform [{lo:.3g}, {hi:.3g}]"


def space_text(spec: OptimizerSpec, names: Sequence[str]) -> str:
    """One line describing what ``spec``'s trials search (and what is fixed)."""
    chosen = searched(spec, names)
    lo, hi = spec.default_lr * 10 ** -LR_DECADES, spec.default_lr * 10 ** LR_DECADES
    parts = [f"lr {_range(lo, hi)}"]
    if "weight_decay" in chosen:
        parts.append(f"weight_decay 0 or {_range(*WEIGHT_DECAY_RANGE)}")
    if "beta1" in chosen:
        parts.append(f"beta1 = 1 - {_range(*BETA1_GAP_RANGE)}")
    if "schedule" in chosen:
        parts.append(f"schedule in {{{', '.join(SCHEDULE_CHOICES)}}}")
    skipped = [n for n in check_search(list(names)) if n not in chosen]
    if skipped:
        parts.append(f"not searched (absent or fixed): {', '.join(skipped)}")
    return "; ".join(parts)

