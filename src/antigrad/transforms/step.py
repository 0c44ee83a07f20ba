"""Step rules and simple rescalings: the end of most chains.

The engine adds the final update to the parameter (``w <- w + u``); these transforms
turn a direction into that update.
"""

from __future__ import annotations

from functools import cache

from ..formula.transform import Key, Transform, hyper


@cache
def descend(lr: Key = "lr") -> Transform:
    """Gradient-descent step rule: ``u <- -lr * u`` (L3)."""
    return Transform(
        "descend",
        update=lambda u, x, c: u * (-c["lr"]),
        scalars=lambda g, s, fresh: {"lr": hyper(g, lr)},
        defaults={lr: 1e-3} if isinstance(lr, str) else {},
    )


@cache
def scale_by_lr(lr: Key = "lr") -> Transform:
    """``u <- lr * u``: for formulas whose velocity carries the learning rate (L7, L8)."""
    return Transform(
        "scale_by_lr",
        update=lambda u, x, c: u * c["lr"],
        scalars=lambda g, s, fresh: {"lr": hyper(g, lr)},
        defaults={lr: 1e-3} if isinstance(lr, str) else {},
    )


@cache
def apply_update() -> Transform:
    """Step rule for an update that is already the step: ``w <- w - u``."""
    return Transform("apply_update", update=lambda u, x, c: -u)


@cache
def flip() -> Transform:
    """``u <- -u``: maximize the objective instead of minimizing it."""
    return Transform("flip", update=lambda u, x, c: -u)


@cache
def count_steps() -> Transform:
    """Keep a ``step`` counter in the state without changing the update."""
    return Transform("count_steps", update=lambda u, x, c: u, scalar_state={"step": 0.0})


@cache
def scale_by_inverse_time(decay: Key = "lr_decay") -> Transform:
    """``u <- u / (1 + (t - 1) * decay)``, Adagrad's learning-rate decay."""
    return Transform(
        "scale_by_inverse_time",
        update=lambda u, x, c: u / c["factor"],
        scalars=lambda g, s, fresh: {"factor": 1.0 + (s["step"] - 1.0) * hyper(g, decay)},
        scalar_state={"step": 0.0},
        defaults={decay: 0.0} if isinstance(decay, str) else {},
    )
