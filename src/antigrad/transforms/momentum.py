"""Momentum: exponentially weighted sums of past updates (L7, L8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..formula.transform import Key, StateInit, Transform, hyper, interned, zeros
from ..validation import Interval, non_negative
from .rates import NonNegativeRates


@dataclass(frozen=True, eq=False)
class Trace(NonNegativeRates, Transform):
    """Heavy-ball velocity from zero: ``v <- decay * v + u``; ``u <- v``.

    With ``nesterov=True``, ``u <- u + decay * v`` (the look-ahead form). Put it after
    :func:`scale_by_lr` to get the lecture's velocity that carries the learning rate
    (L7: ``v_t = gamma v_{t-1} + eps g``), or before :func:`descend` for torch's buffer.
    """

    decay: Key = "momentum"
    nesterov: bool = False
    state_name: str = "momentum_buffer"
    name = "trace"
    rates = {"decay": 0.9}

    def __init__(self, decay: Key = "momentum", nesterov: bool = False,
                 state: str = "momentum_buffer") -> None:
        # The buffer's name is given as `state=`, as before transforms were values.
        object.__setattr__(self, "decay", decay)
        object.__setattr__(self, "nesterov", nesterov)
        object.__setattr__(self, "state_name", state)
        self.__post_init__()

    def update(self, u, x, c):
        v = x.state[self.state_name] * c["decay"] + u
        x.state[self.state_name] = v
        return u + v * c["decay"] if self.nesterov else v

    def scalars(self, group, s, fresh):
        return {"decay": hyper(group, self.decay)}

    @property
    def state(self) -> Mapping[str, StateInit]:
        return {self.state_name: zeros}


@dataclass(frozen=True, eq=False)
class Momentum(Transform):
    """torch.optim.SGD's momentum buffer.

    ``b <- u`` on the first step, then ``b <- momentum * b + (1 - dampening) * u``;
    ``u <- b``, or ``u <- u + momentum * b`` with ``nesterov=True``.
    """

    momentum: Key = "momentum"
    dampening: Key = "dampening"
    nesterov: bool = False
    name = "momentum"
    state = {"momentum_buffer": zeros}

    @property
    def constraints(self) -> Mapping[str, Any]:
        dampening = {self.dampening: Interval(None)} if isinstance(self.dampening, str) else {}
        return {**non_negative(self.momentum), **dampening}

    def update(self, u, x, c):
        b = x.state["momentum_buffer"] * c["keep"] + u * c["take"]
        x.state["momentum_buffer"] = b
        return u + b * c["mu"] if self.nesterov else b

    def scalars(self, group, s, fresh):
        mu = hyper(group, self.momentum)
        # The buffer starts as a copy of the first update: keep nothing, take all.
        return {"mu": mu, "keep": 0.0 if fresh else mu,
                "take": 1.0 if fresh else 1.0 - hyper(group, self.dampening)}


trace = interned(Trace)
momentum = interned(Momentum)
