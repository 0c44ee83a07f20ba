"""Step rules and simple rescalings: the end of most chains.

The engine adds the final update to the parameter (``w <- w + u``); these transforms
turn a direction into that update.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..formula.transform import Key, Transform, hyper, interned
from .rates import NonNegativeRates


@dataclass(frozen=True, eq=False)
class _ByLr(NonNegativeRates, Transform):
    """What the rules that multiply the update by the learning rate share: the ``lr``
    hyperparameter (a param-group key, or a fixed number), 1e-3 by default, >= 0."""

    lr: Key = "lr"
    rates = {"lr": 1e-3}

    def scalars(self, group, s, fresh):
        return {"lr": hyper(group, self.lr)}


@dataclass(frozen=True, eq=False)
class Descend(_ByLr):
    """Gradient-descent step rule: ``u <- -lr * u`` (L3)."""

    name = "descend"

    def update(self, u, x, c):
        return u * (-c["lr"])


@dataclass(frozen=True, eq=False)
class ScaleByLr(_ByLr):
    """``u <- lr * u``: for formulas whose velocity carries the learning rate (L7, L8)."""

    name = "scale_by_lr"

    def update(self, u, x, c):
        return u * c["lr"]


@dataclass(frozen=True, eq=False)
class ApplyUpdate(Transform):
    """Step rule for an update that is already the step: ``w <- w - u``."""

    name = "apply_update"

    def update(self, u, x, c):
        return -u


@dataclass(frozen=True, eq=False)
class Flip(Transform):
    """``u <- -u``: maximize the objective instead of minimizing it."""

    name = "flip"

    def update(self, u, x, c):
        return -u


@dataclass(frozen=True, eq=False)
class CountSteps(Transform):
    """Keep a ``step`` counter in the state without changing the update."""

    name = "count_steps"
    scalar_state = {"step": 0.0}

    def update(self, u, x, c):
        return u


@dataclass(frozen=True, eq=False)
class ScaleByInverseTime(NonNegativeRates, Transform):
    """``u <- u / (1 + (t - 1) * decay)``, Adagrad's learning-rate decay."""

    decay: Key = "lr_decay"
    name = "scale_by_inverse_time"
    rates = {"decay": 0.0}
    scalar_state = {"step": 0.0}

    def update(self, u, x, c):
        return u / c["factor"]

    def scalars(self, group, s, fresh):
        return {"factor": 1.0 + (s["step"] - 1.0) * hyper(group, self.decay)}


# The names chains are written with: T.descend(), T.scale_by_lr("gamma"), ...
descend = interned(Descend)
scale_by_lr = interned(ScaleByLr)
apply_update = interned(ApplyUpdate)
flip = interned(Flip)
count_steps = interned(CountSteps)
scale_by_inverse_time = interned(ScaleByInverseTime)
