"""Momentum: exponentially weighted sums of past updates (L7, L8)."""

from __future__ import annotations

from functools import cache

from ..formula.transform import Key, Transform, hyper, zeros


@cache
def trace(decay: Key = "momentum", nesterov: bool = False,
          state: str = "momentum_buffer") -> Transform:
    """Heavy-ball velocity from zero: ``v <- decay * v + u``; ``u <- v``.

    With ``nesterov=True``, ``u <- u + decay * v`` (the look-ahead form). Put it after
    :func:`scale_by_lr` to get the lecture's velocity that carries the learning rate
    (L7: ``v_t = gamma v_{t-1} + eps g``), or before :func:`descend` for torch's buffer.
    """

    def update(u, x, c):
        v = x.state[state] * c["decay"] + u
        x.state[state] = v
        return u + v * c["decay"] if nesterov else v

    return Transform(
        "trace", update=update, state={state: zeros},
        scalars=lambda g, s, fresh: {"decay": hyper(g, decay)},
        defaults={decay: 0.9} if isinstance(decay, str) else {},
    )


@cache
def momentum(momentum: Key = "momentum", dampening: Key = "dampening",
             nesterov: bool = False) -> Transform:
    """torch.optim.SGD's momentum buffer.

    ``b <- u`` on the first step, then ``b <- momentum * b + (1 - dampening) * u``;
    ``u <- b``, or ``u <- u + momentum * b`` with ``nesterov=True``.
    """

    def update(u, x, c):
        b = x.state["momentum_buffer"] * c["keep"] + u * c["take"]
        x.state["momentum_buffer"] = b
        return u + b * c["mu"] if nesterov else b

    def scalars(g, s, fresh):
        mu = hyper(g, momentum)
        # The buffer starts as a copy of the first update: keep nothing, take all.
        return {"mu": mu, "keep": 0.0 if fresh else mu,
                "take": 1.0 if fresh else 1.0 - hyper(g, dampening)}

    return Transform("momentum", update=update, scalars=scalars,
                     state={"momentum_buffer": zeros})
