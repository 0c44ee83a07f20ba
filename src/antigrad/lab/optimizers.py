"""The lecture's optimizers, one registry: name -> factory ``(params, lr) -> Optimizer``.

Each name stands for a class (``"module:Class"``, imported on first use) built as
``Class(params, lr=lr, **kwargs)``; the lecture's methods are ``antigrad.textbook``'s exact
formulas.

=============  =====  ==========================
name           SPEC   class
=============  =====  ==========================
sgd            L3/L5  textbook.SGD
momentum       L7     textbook.Momentum
nesterov       L8     textbook.Nesterov
adagrad        L9     textbook.AdaGrad
rmsprop        L10    textbook.RMSprop
adam-simple    L11    textbook.AdamSimple
adam           L12    textbook.Adam
nadam          L13    textbook.Nadam
adamw          L14    textbook.AdamW
=============  =====  ==========================

Example::

    >>> import torch
    >>> from antigrad.lab.optimizers import get_optimizer
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt = get_optimizer("momentum").build([w], lr=0.1)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import torch

from ..problems.registry import UnknownNameError

__all__ = ["OptimizerSpec", "LECTURE_OPTIMIZERS", "get_optimizer", "optimizer_names",
           "register_optimizer"]


@dataclass
class OptimizerSpec:
    """How to build one optimizer by name.

    Attributes:
        name: registry name (``"adam"``).
        label: display name (``"Adam"``).
        lecture: the SPEC section (``"L12"``).
        target: ``"module:Class"``, built as ``Class(params, lr=lr, **kwargs)``.
        family: ``"sgd"`` (one step size for all axes), ``"momentum"`` (the same, with a
            velocity) or ``"adaptive"`` (per-axis step sizes).
        default_lr: a sensible learning rate for standardized data; the centre of the grid.
        kwargs: extra keyword arguments for :attr:`target`.
    """

    name: str
    label: str
    lecture: str
    target: str
    family: str = "sgd"
    default_lr: float = 0.1
    kwargs: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> type[torch.optim.Optimizer]:
        """The optimizer class this name stands for."""
        module, _, attr = self.target.partition(":")
        return getattr(import_module(module), attr)

    def build(self, params: Iterable[torch.Tensor], lr: float,
              **overrides: Any) -> torch.optim.Optimizer:
        """``Optimizer(params, lr=lr, **kwargs, **overrides)``."""
        if not (isinstance(lr, int | float) and lr > 0 and lr == lr and lr != float("inf")):
            raise ValueError(f"Invalid lr: {lr!r} (must be a finite number > 0)")
        return self.resolve()(params, lr=lr, **{**self.kwargs, **overrides})


_T = "antigrad.textbook:"

#: The lecture's first-order methods in the lecture's order.
LECTURE_OPTIMIZERS: dict[str, OptimizerSpec] = {s.name: s for s in [
    OptimizerSpec("sgd", "SGD", "L5", _T + "SGD", default_lr=1.0),
    OptimizerSpec("momentum", "Momentum", "L7", _T + "Momentum", "momentum", 0.05),
    OptimizerSpec("nesterov", "Nesterov", "L8", _T + "Nesterov", "momentum", 0.05),
    OptimizerSpec("adagrad", "AdaGrad", "L9", _T + "AdaGrad", "adaptive", 0.05),
    OptimizerSpec("rmsprop", "RMSprop", "L10", _T + "RMSprop", "adaptive", 5e-3),
    OptimizerSpec("adam-simple", "Adam (simple)", "L11", _T + "AdamSimple", "adaptive", 5e-3),
    OptimizerSpec("adam", "Adam", "L12", _T + "Adam", "adaptive", 5e-3),
    OptimizerSpec("nadam", "Nadam", "L13", _T + "Nadam", "adaptive", 5e-3),
    OptimizerSpec("adamw", "AdamW", "L14", _T + "AdamW", "adaptive", 5e-3),
]}


def optimizer_names() -> list[str]:
    """Registered optimizer names, lecture order first."""
    return list(LECTURE_OPTIMIZERS)


def get_optimizer(name: str) -> OptimizerSpec:
    """The :class:`OptimizerSpec` called ``name``; unknown names list the valid ones."""
    if name not in LECTURE_OPTIMIZERS:
        raise UnknownNameError("optimizer", name, optimizer_names())
    return LECTURE_OPTIMIZERS[name]


def register_optimizer(spec: OptimizerSpec) -> None:
    """Add (or replace) an optimizer, e.g. ``OptimizerSpec("torch-adam", "Adam (torch form)",
    "L12", "antigrad:Adam", "adaptive", 1e-3)``."""
    LECTURE_OPTIMIZERS[spec.name] = spec
