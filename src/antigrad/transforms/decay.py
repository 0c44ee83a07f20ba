"""Weight decay, coupled (an L2 term in the gradient) or decoupled (L14)."""

from __future__ import annotations

from functools import cache

from ..formula.transform import Key, Transform, hyper


@cache
def add_weight_decay(weight_decay: Key = "weight_decay", factor: float = 1.0) -> Transform:
    """L2 regularization inside the gradient: ``u <- u + factor * weight_decay * w``.

    ``factor=2`` gives the gradient of ``lambda * ||w||^2`` (the lecture's L14 form);
    ``factor=1`` is torch.optim's ``weight_decay``.
    """
    return Transform(
        "add_weight_decay",
        update=lambda u, x, c: u + x.p * c["wd"],
        scalars=lambda g, s, fresh: {"wd": factor * hyper(g, weight_decay)},
        defaults={weight_decay: 0.0} if isinstance(weight_decay, str) else {},
    )


@cache
def decoupled_weight_decay(weight_decay: Key = "weight_decay", lr: Key = "lr",
                           factor: float = 1.0) -> Transform:
    """Decoupled decay (AdamW, arXiv 1711.05101): ``w <- w * (1 - lr * factor * weight_decay)``.

    Applied to the weights directly, so adaptive scaling does not touch it. torch.optim's
    AdamW uses ``factor=1``; the lecture's ``- eps * 2 lambda * w`` (L14) is ``factor=2``.
    """
    return Transform(
        "decoupled_weight_decay",
        update=_shrink,
        scalars=lambda g, s, fresh: {"keep": 1.0 - hyper(g, lr) * factor * hyper(g, weight_decay)},
        defaults={weight_decay: 1e-2} if isinstance(weight_decay, str) else {},
    )


def _shrink(u, x, c):
    x.p = x.p * c["keep"]
    return u
