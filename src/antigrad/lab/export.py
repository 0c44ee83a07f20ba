"""A stored comparison as CSV (one row per run) or JSON (everything), for other tools.

CSV columns are :data:`RUN_COLUMNS`: one row per training run, the tuning runs
(``phase = tune``), the seeds at the chosen lr (``phase = final``) and the scored groups
of ``--ensemble``/``--restarts`` (``phase = ensemble``); a missing number
(NaN, a target not reached) is an empty cell. After the run's own columns come, one per
hyperparameter ``--search`` may draw besides the lr (:data:`SEARCHED_COLUMNS`), the value
the run trained with as the optimizer's setting (``weight_decay`` 0 when the trial turned
it off, ``beta1``, ``schedule``; empty where it was not drawn), then ``kept``: with
``--restarts``, 1 on the final row of the member its group keeps and 0 on the other
members, empty on every other row (and on the members of a group not yet scored). Texts
that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``) are
prefixed with ``'`` — a store is untrusted. JSON holds the settings, the chosen lrs, the
summary table, every run with its curves, the range tests and, with restarts, the seed of
each group's kept member; NaN and infinities are ``null``; ``"creator": "antigrad
export"`` says where it came from.

Example::

    >>> from antigrad.lab import CompareConfig, run_compare
    >>> cmp = run_compare(CompareConfig("breast-cancer", ["sgd"], grid_points=1, seeds=1,
    ...                                 steps=3))
    >>> to_csv(cmp).splitlines()[0].split(",")[:5]
    ['comparison', 'problem', 'optimizer', 'lr', 'seed']
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from typing import Any

from .compare import Comparison
from .search_space import SEARCHABLE, hyperparameters
from .tuning import best_members, member_seeds

__all__ = ["RUN_COLUMNS", "SEARCHED_COLUMNS", "FORMATS", "to_csv", "to_json", "export_text"]

#: The drawn hyperparameters' columns (the lr has its own column already).
SEARCHED_COLUMNS = [name for name in SEARCHABLE if name != "lr"]

# New columns go at the end: readers that index the columns by position keep working.
RUN_COLUMNS = ["comparison", "problem", "optimizer", "lr", "seed", "phase", "steps",
               "diverged", "final_loss", "final_metric", "seconds", "steps_to_target",
               "seconds_to_target", *SEARCHED_COLUMNS, "kept"]

#: What ``antigrad export --format`` accepts.
FORMATS = ("csv", "json")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(cmp: Comparison) -> str:
    """One row per run (see :data:`RUN_COLUMNS`), header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RUN_COLUMNS)
    kept = _kept_members(cmp)
    for r in cmp.runs:
        row = {"comparison": cmp.id, "problem": cmp.config.problem, **asdict(r),
               **dict.fromkeys(SEARCHED_COLUMNS), **hyperparameters(r.params),
               "kept": kept.get((r.optimizer, r.seed)) if r.phase == "final" else None}
        writer.writerow([_cell(row[c]) for c in RUN_COLUMNS])
    return out.getvalue()


def _kept_members(cmp: Comparison) -> dict[tuple[str, int], bool]:
    """``(optimizer, seed)`` of every member of a scored restart group: ``True`` for the
    member the group keeps (:func:`~antigrad.lab.tuning.best_members`); empty without
    restarts."""
    if cmp.config.restarts == 1:
        return {}
    out = {}
    for name in cmp.config.optimizers:
        for group in cmp.ensemble_runs(name):  # one per scored group
            out.update(dict.fromkeys(
                ((name, s) for s in member_seeds(group.seed, cmp.config.group_size())), False))
        out.update(((name, r.seed), True) for r in best_members(cmp, name))
    return out


def _finite(value: Any) -> Any:
    """``value`` with every NaN/inf replaced by ``None`` (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_json(cmp: Comparison) -> str:
    """Everything about the comparison (see the module doc), indented."""
    data = {
        "creator": "antigrad export", "format": 1, "id": cmp.id,
        "problem": cmp.config.problem, "title": cmp.title, "metric": cmp.metric,
        "higher_is_better": cmp.higher_is_better, "target": cmp.target,
        "created": cmp.created, "seconds": cmp.seconds, "complete": cmp.complete,
        "config": asdict(cmp.config), "chosen_lr": cmp.chosen_lr,
        "summary": [asdict(s) for s in cmp.ranking()],
        "runs": [r.to_dict() for r in cmp.runs],
        "range_tests": [t.to_dict() for t in cmp.range_tests],
        "best_of_restarts": _best_of_restarts(cmp),
    }
    return json.dumps(_finite(data), indent=1, allow_nan=False) + "\n"


def _best_of_restarts(cmp: Comparison) -> dict[str, list[int]]:
    """Per optimizer, the seed of each group's member that restarts keep (the lowest final
    training loss, :func:`~antigrad.lab.tuning.best_members`); empty without restarts."""
    if cmp.config.restarts == 1:
        return {}
    return {name: [r.seed for r in best_members(cmp, name)] for name in cmp.config.optimizers}


def export_text(cmp: Comparison, fmt: str) -> str:
    """``cmp`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ValueError(f"Invalid format: {fmt!r} (choose from: {', '.join(FORMATS)})")
    return to_csv(cmp) if fmt == "csv" else to_json(cmp)
