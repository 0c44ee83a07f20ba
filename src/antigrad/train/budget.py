"""A fit run's stopping rule split into its fixed rules and its budget (``epochs=``,
``steps=``), so that a resumed run may be given another budget.

The fixed rules (divergence, ``stop=``) belong to the run and keep their state in its
checkpoints; the budget rules (``MaxSteps``, ``MaxEpochs``) are stateless and may change
between the first run and its resumption: a run that ended on its budget continues to a
larger one, a checkpoint already past the (new) budget trains nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from ..stop import Any as AnyRule
from ..stop import Fired, MaxEpochs, MaxSteps, Observation, StopRule

__all__ = ["RunRule", "end_of_resumed_run"]

_BUDGET = (MaxSteps, MaxEpochs)


class RunRule(AnyRule):
    """``Any(*fixed, *budget)`` whose checkpointed state is that of the fixed rules only."""

    def __init__(self, fixed: Sequence[StopRule], budget: Sequence[StopRule]) -> None:
        super().__init__(*fixed, *budget)
        self.rules = [*fixed, *budget]     # not flattened: the first len(fixed) are fixed
        self.fixed, self.budget = list(fixed), list(budget)

    def state_dict(self) -> dict[str, Any]:
        return {"rules": [r.state_dict() for r in self.fixed]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # checkpoints written before the split hold the budget rules' (empty) states last
        for r, s in zip(self.fixed, state["rules"][:len(self.fixed)], strict=True):
            r.load_state_dict(s)

    def __repr__(self) -> str:
        return f"Any({', '.join(map(repr, self.rules))})"


def _leaves(rule: StopRule) -> Iterator[StopRule]:
    inner = getattr(rule, "rules", None)
    if inner is None:
        yield rule
        return
    for r in inner:
        yield from _leaves(r)


def _spent(rule: StopRule, step: int, epoch: int) -> Fired | None:
    """The first step or epoch limit in ``rule`` that a run at ``(step, epoch)`` (at an
    epoch boundary or inside the next epoch) has already reached."""
    obs = Observation(step=step, epoch=epoch, loss=math.nan, epoch_end=True)
    for r in _leaves(rule):
        if isinstance(r, _BUDGET) and (reason := r.check(obs)) is not None:
            return Fired(r, reason)
    return None


def end_of_resumed_run(payload: dict[str, Any], rule: StopRule) -> dict[str, str] | None:
    """How a run resumed from checkpoint ``payload`` ends without training
    (``{"stopped_by", "stop_reason"}``), or None when it has steps left to train."""
    done = payload.get("finished")
    if done and not done["stopped_by"].startswith(("MaxSteps(", "MaxEpochs(")):
        return done           # it ended on its own terms (convergence, patience, ...)
    pos = payload["position"]
    spent = _spent(rule, pos["step"], pos["epoch"])
    if spent is not None:
        return {"stopped_by": repr(spent.rule), "stop_reason": spent.reason}
    return None
