"""Weight decay, coupled (an L2 term in the gradient) or decoupled (L14)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..formula.transform import Key, Transform, hyper, interned
from ..validation import non_negative
from .rates import NonNegativeRates, key_default


@dataclass(frozen=True, eq=False)
class AddWeightDecay(NonNegativeRates, Transform):
    """L2 regularization inside the gradient: ``u <- u + factor * weight_decay * w``.

    ``factor=2`` gives the gradient of ``lambda * ||w||^2`` (the lecture's L14 form);
    ``factor=1`` is torch.optim's ``weight_decay``.
    """

    weight_decay: Key = "weight_decay"
    factor: float = 1.0
    name = "add_weight_decay"
    rates = {"weight_decay": 0.0}

    def update(self, u, x, c):
        return u + x.p * c["wd"]

    def scalars(self, group, s, fresh):
        return {"wd": self.factor * hyper(group, self.weight_decay)}


@dataclass(frozen=True, eq=False)
class DecoupledWeightDecay(Transform):
    """Decoupled decay (AdamW, arXiv 1711.05101): ``w <- w * (1 - lr * factor * weight_decay)``.

    Applied to the weights directly, so adaptive scaling does not touch it. torch.optim's
    AdamW uses ``factor=1``; the lecture's ``- eps * 2 lambda * w`` (L14) is ``factor=2``.
    """

    weight_decay: Key = "weight_decay"
    lr: Key = "lr"
    factor: float = 1.0
    name = "decoupled_weight_decay"

    def update(self, u, x, c):
        x.p = x.p * c["keep"]
        return u

    def scalars(self, group, s, fresh):
        return {"keep": 1.0 - hyper(group, self.lr) * self.factor
                * hyper(group, self.weight_decay)}

    @property
    def defaults(self) -> Mapping[str, Any]:
        return key_default(self.weight_decay, 1e-2)

    @property
    def constraints(self) -> Mapping[str, Any]:
        return non_negative(self.defaults, self.lr)


add_weight_decay = interned(AddWeightDecay)
decoupled_weight_decay = interned(DecoupledWeightDecay)
