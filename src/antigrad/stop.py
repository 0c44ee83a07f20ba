r"""Stopping rules (SPEC L3 S1–S3, L4) for :func:`antigrad.fit`, composable with ``|`` and ``&``.

After every optimizer step ``t`` the fit loop builds an :class:`Observation` and asks its
rule; the first step at which the rule fires ends training, and the result records which
rule fired, why, and when (``result.stopped_by``, ``result.stop_reason``,
``result.stopped_at``).

========================  =====================================================
``LossChange(H1)``        S1: ``|L_t − L_{t−1}| < H1``
``WeightChange(H2)``      S2: ``‖w_t − w_{t−1}‖ < H2``
``MaxSteps(H)``           S3: ``t >= H`` (H steps taken)
``MaxEpochs(n)``          ``n`` epochs completed
``GradNorm(tol)``         ``‖∇L(w_{t−1})‖ < tol``
``Divergence(k)``         the loss is NaN/inf or ``L_t > k · L_1``
``Patience(n)``           ``n + 1`` validations in a row without improvement;
                          keeps (and restores) the best weights
========================  =====================================================

``L_t`` is the training loss of step t: the loss of step t's batch at the weights
``w_{t−1}`` the gradient was taken at (for full-batch GD, ``L(w_{t−1})``, so S1 compares
``L(w_{t−1})`` and ``L(w_{t−2})``: the lecture's test, seen one step later, at no extra
forward pass). ``a | b`` fires when either fires, ``a & b`` when both fire at the same step;
every rule of a combination sees every step, so each keeps its own state.

Example::

    >>> from antigrad import stop
    >>> rule = stop.LossChange(1e-6) | stop.MaxSteps(1000)
    >>> rule
    Any(LossChange(tol=1e-06), MaxSteps(n=1000))
    >>> rule(stop.Observation(step=1000, epoch=1000, loss=1.0)).reason
    'step 1000 >= 1000'
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass

import torch

from . import validation
from .validation import NON_NEGATIVE, Instance, Interval

__all__ = ["Observation", "Fired", "StopRule", "Any", "All", "LossChange", "WeightChange",
           "MaxSteps", "MaxEpochs", "GradNorm", "Divergence", "Patience"]


@dataclass
class Observation:
    """What a stopping rule sees after optimizer step ``step`` (1-based).

    ``val`` holds the validation results (``{"val_loss": ..., "val_<metric>": ...}``) at
    the steps where validation ran, else ``None``; ``epoch_loss`` is the epoch's mean
    training loss at the last step of an epoch (``epoch_end``). ``grad_norm`` and
    ``weight_change`` are measured only when a rule needs them."""

    step: int
    epoch: int
    loss: float
    prev_loss: float | None = None
    lr: float | None = None
    epoch_end: bool = False
    epoch_loss: float | None = None
    val: dict[str, float] | None = None
    grad_norm: float | None = None
    weight_change: float | None = None
    model: torch.nn.Module | None = None


@dataclass(frozen=True)
class Fired:
    """A rule that fired, and why."""

    rule: StopRule
    reason: str


# A divergence factor: the loss grows past factor x its first value, so more than 1.
GROWTH = Interval(1.0, None, "neither")


class StopRule:
    """Base class: :meth:`check` returns a reason string when the rule fires, else None.

    ``needs`` names the optional observations it reads (``"grad_norm"``,
    ``"weight_change"``); ``_state`` names the attributes saved in checkpoints."""

    needs: frozenset[str] = frozenset()
    _state: tuple[str, ...] = ()

    def reset(self) -> None:
        """Forget everything seen (called at the start of every fit run)."""

    def check(self, obs: Observation) -> str | None:
        raise NotImplementedError

    def __call__(self, obs: Observation) -> Fired | None:
        reason = self.check(obs)
        return None if reason is None else Fired(self, reason)

    def __or__(self, other: StopRule) -> Any:
        return Any(self, other)

    def __and__(self, other: StopRule) -> All:
        return All(self, other)

    def state_dict(self) -> dict[str, typing.Any]:
        return {k: getattr(self, k) for k in self._state}

    def load_state_dict(self, state: dict[str, typing.Any]) -> None:
        for k in self._state:
            setattr(self, k, state[k])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args().items())
        return f"{type(self).__name__}({args})"

    def _args(self) -> dict[str, typing.Any]:
        return {}


class _Combined(StopRule):
    def __init__(self, *rules: StopRule) -> None:
        flat: list[StopRule] = []
        for r in rules:
            if not isinstance(r, StopRule):
                raise TypeError(f"Invalid rule: {r!r} (must be an antigrad.stop.StopRule)")
            flat.extend(r.rules if type(r) is type(self) else [r])  # type: ignore[attr-defined]
        if not flat:
            raise ValueError("Invalid rules: () (need at least one)")
        self.rules = flat
        self.needs = frozenset().union(*(r.needs for r in flat))

    def reset(self) -> None:
        for r in self.rules:
            r.reset()

    def state_dict(self) -> dict[str, typing.Any]:
        return {"rules": [r.state_dict() for r in self.rules]}

    def load_state_dict(self, state: dict[str, typing.Any]) -> None:
        for r, s in zip(self.rules, state["rules"], strict=True):
            r.load_state_dict(s)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.rules))})"


class Any(_Combined):
    """Fires when any of its rules fires (reporting the first that did)."""

    def __call__(self, obs: Observation) -> Fired | None:
        fired = [f for f in (r(obs) for r in self.rules) if f is not None]
        return fired[0] if fired else None

    def check(self, obs: Observation) -> str | None:
        fired = self(obs)
        return None if fired is None else fired.reason


class All(_Combined):
    """Fires when all of its rules fire at the same step."""

    def check(self, obs: Observation) -> str | None:
        reasons = [r.check(obs) for r in self.rules]
        return None if any(x is None for x in reasons) else " and ".join(reasons)  # type: ignore


class LossChange(StopRule):
    """S1: ``|L_t − L_{t−1}| < tol`` on step losses, or with ``on="epoch"`` on the mean
    training losses of consecutive epochs (the sensible choice for minibatch SGD)."""

    _state = ("_prev",)

    def __init__(self, tol: float, on: str = "step") -> None:
        self.tol = validation.positive("tol", tol)
        self.on = validation.one_of("on", on, ("step", "epoch"))
        self._prev: float | None = None

    def reset(self) -> None:
        self._prev = None

    def check(self, obs: Observation) -> str | None:
        if self.on == "step":
            prev, now = obs.prev_loss, obs.loss
        else:
            if not obs.epoch_end or obs.epoch_loss is None:
                return None
            prev, now, self._prev = self._prev, obs.epoch_loss, obs.epoch_loss
        if prev is None or not abs(now - prev) < self.tol:
            return None
        return f"|ΔL| = {abs(now - prev):.3g} < {self.tol:g}"

    def _args(self) -> dict[str, typing.Any]:
        return {"tol": self.tol} if self.on == "step" else {"tol": self.tol, "on": self.on}


class WeightChange(StopRule):
    """S2: ``‖w_t − w_{t−1}‖ < tol`` (Euclidean norm over all parameters)."""

    needs = frozenset({"weight_change"})

    def __init__(self, tol: float) -> None:
        self.tol = validation.positive("tol", tol)

    def check(self, obs: Observation) -> str | None:
        d = obs.weight_change
        return None if d is None or not d < self.tol else f"‖Δw‖ = {d:.3g} < {self.tol:g}"

    def _args(self) -> dict[str, typing.Any]:
        return {"tol": self.tol}


class GradNorm(StopRule):
    """``‖∇L‖ < tol`` for the gradient of step t (an approximate stationary point)."""

    needs = frozenset({"grad_norm"})

    def __init__(self, tol: float) -> None:
        self.tol = validation.positive("tol", tol)

    def check(self, obs: Observation) -> str | None:
        g = obs.grad_norm
        return None if g is None or not g < self.tol else f"‖g‖ = {g:.3g} < {self.tol:g}"

    def _args(self) -> dict[str, typing.Any]:
        return {"tol": self.tol}


class MaxSteps(StopRule):
    """S3: stop once ``n`` optimizer steps have been taken."""

    def __init__(self, n: int) -> None:
        self.n = validation.count("n", n)

    def check(self, obs: Observation) -> str | None:
        return f"step {obs.step} >= {self.n}" if obs.step >= self.n else None

    def _args(self) -> dict[str, typing.Any]:
        return {"n": self.n}


class MaxEpochs(StopRule):
    """Stop at the end of epoch ``n``."""

    def __init__(self, n: int) -> None:
        self.n = validation.count("n", n)

    def check(self, obs: Observation) -> str | None:
        done = obs.epoch_end and obs.epoch >= self.n
        return f"epoch {obs.epoch} >= {self.n}" if done else None

    def _args(self) -> dict[str, typing.Any]:
        return {"n": self.n}


class Divergence(StopRule):
    """L4: the loss is NaN or ±inf, or (with ``factor``) ``L_t > factor · L_1`` where
    ``L_1`` is the first step's loss (when positive)."""

    _state = ("_initial",)

    def __init__(self, factor: float | None = 1e3) -> None:
        self.factor = None if factor is None else GROWTH.check("factor", factor)
        self._initial: float | None = None

    def reset(self) -> None:
        self._initial = None

    def check(self, obs: Observation) -> str | None:
        if not math.isfinite(obs.loss):
            return f"loss is {obs.loss} at step {obs.step}"
        if self._initial is None:
            self._initial = obs.loss
        if self.factor is not None and self._initial > 0 \
                and obs.loss > self.factor * self._initial:
            return f"loss {obs.loss:.3g} > {self.factor:g} × initial {self._initial:.3g}"
        return None

    def _args(self) -> dict[str, typing.Any]:
        return {"factor": self.factor}


class Patience(StopRule):
    """Early stopping on a validation value: fires when ``monitor`` has not improved
    (by more than ``min_delta``) for ``patience + 1`` validations in a row, as
    ``ReduceLROnPlateau`` counts. Keeps a copy of the best weights and, with
    ``restore_best``, loads them into the model when it fires."""

    _state = ("best", "best_step", "wait", "best_state")

    def __init__(self, patience: int = 5, monitor: str = "val_loss", mode: str = "min",
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        self.patience = validation.count("patience", patience, 0)
        self.monitor = Instance((str,), "a str").check("monitor", monitor)
        self.mode = validation.one_of("mode", mode, ("min", "max"))
        self.min_delta = NON_NEGATIVE.check("min_delta", min_delta)
        self.restore_best = bool(restore_best)
        self.reset()

    def reset(self) -> None:
        self.best: float | None = None
        self.best_step: int | None = None
        self.wait = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def _improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def check(self, obs: Observation) -> str | None:
        if obs.val is None:
            return None
        if self.monitor not in obs.val:
            raise ValueError(f"Invalid monitor: {self.monitor!r} (validation gives "
                             f"{sorted(obs.val)})")
        value = float(obs.val[self.monitor])
        if self._improved(value):
            self.best, self.best_step, self.wait = value, obs.step, 0
            if self.restore_best and obs.model is not None:
                self.best_state = {k: v.detach().clone()
                                   for k, v in obs.model.state_dict().items()}
            return None
        self.wait += 1
        if self.wait <= self.patience:
            return None
        if self.restore_best and obs.model is not None and self.best_state is not None:
            obs.model.load_state_dict(self.best_state)
        return (f"{self.monitor} has not improved on {self.best:.4g} (step {self.best_step}) "
                f"for {self.wait} validations")

    def _args(self) -> dict[str, typing.Any]:
        return {"patience": self.patience, "monitor": self.monitor, "mode": self.mode}
