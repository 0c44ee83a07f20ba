"""Step rules and simple rescalings: the end of most chains.

The engine adds the final update to the parameter (``w <- w + u``); these transforms
turn a direction into that update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..formula.transform import Key, Transform, hyper, interned
from ..validation import non_negative


def _default(key: Key, value: float) -> dict[str, float]:
    """``{key: value}`` when ``key`` names a param-group entry (a fixed number has none)."""
    return {key: value} if isinstance(key, str) else {}


@dataclass(frozen=True, eq=False)
class _ByLr(Transform):
    """What the rules that multiply the update by the learning rate share: the ``lr``
    hyperparameter (a param-group key, or a fixed number), 1e-3 by default, >= 0."""

    lr: Key = "lr"

    def scalars(self, group, s, fresh):
        return {"lr": hyper(group, self.lr)}

    @property
    def defaults(self) -> Mapping[str, Any]:
        return _default(self.lr, 1e-3)

    @property
    def constraints(self) -> Mapping[str, Any]:
        return non_negative(self.defaults)


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
class ScaleByInverseTime(Transform):
    """``u <- u / (1 + (t - 1) * decay)``, Adagrad's learning-rate decay."""

    decay: Key = "lr_decay"
    name = "scale_by_inverse_time"
    scalar_state = {"step": 0.0}

    def update(self, u, x, c):
        return u / c["factor"]

    def scalars(self, group, s, fresh):
        return {"factor": 1.0 + (s["step"] - 1.0) * hyper(group, self.decay)}

    @property
    def defaults(self) -> Mapping[str, Any]:
        return _default(self.decay, 0.0)

    @property
    def constraints(self) -> Mapping[str, Any]:
        return non_negative(self.defaults)


# The names chains are written with: T.descend(), T.scale_by_lr("gamma"), ...
descend = interned(Descend)
scale_by_lr = interned(ScaleByLr)
apply_update = interned(ApplyUpdate)
flip = interned(Flip)
count_steps = interned(CountSteps)
scale_by_inverse_time = interned(ScaleByInverseTime)
