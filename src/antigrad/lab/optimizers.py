"""The lecture's optimizers, one registry: name -> factory ``(params, lr) -> Optimizer``.

Names resolve lazily (on first :meth:`OptimizerSpec.build`): to ``antigrad.textbook``'s
exact formulas where that module provides the class, otherwise to the nearest
``torch.optim`` equivalent (noted in :attr:`OptimizerSpec.source` after resolution).

=============  =====  ==========================  ==============================
name           SPEC   antigrad                    torch.optim fallback
=============  =====  ==========================  ==============================
sgd            L3/L5  textbook.SGD                SGD
momentum       L7     textbook.Momentum           SGD(momentum=0.9)
nesterov       L8     textbook.Nesterov           SGD(momentum=0.9, nesterov=True)
adagrad        L9     textbook.AdaGrad            Adagrad
rmsprop        L10    textbook.RMSprop            RMSprop(alpha=0.9)
adam-simple    L11    textbook.AdamSimple         Adam
adam           L12    textbook.Adam               Adam
nadam          L13    textbook.Nadam              NAdam
adamw          L14    textbook.AdamW              AdamW
=============  =====  ==========================  ==============================

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
        target: ``"module:Class"`` tried first, built as ``Class(params, lr=lr, **kwargs)``.
        fallback: ``"module:Class"`` used when :attr:`target` cannot be imported.
        fallback_kwargs: extra keyword arguments for the fallback.
        family: ``"sgd"`` (one step size for all axes), ``"momentum"`` (the same, with a
            velocity) or ``"adaptive"`` (per-axis step sizes).
        default_lr: a sensible learning rate for standardized data; the centre of the grid.
        kwargs: extra keyword arguments for :attr:`target`.
    """

    name: str
    label: str
    lecture: str
    target: str
    fallback: str
    fallback_kwargs: dict[str, Any] = field(default_factory=dict)
    family: str = "sgd"
    default_lr: float = 0.1
    kwargs: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def resolve(self) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
        """The optimizer class and keyword arguments this name stands for."""
        try:
            cls, kwargs = _load(self.target), self.kwargs
            self.source = self.target
        except (ImportError, AttributeError):
            cls, kwargs = _load(self.fallback), self.fallback_kwargs
            self.source = self.fallback
        return cls, kwargs

    def build(self, params: Iterable[torch.Tensor], lr: float,
              **overrides: Any) -> torch.optim.Optimizer:
        """``Optimizer(params, lr=lr, **kwargs, **overrides)``."""
        if not (isinstance(lr, int | float) and lr > 0 and lr == lr and lr != float("inf")):
            raise ValueError(f"Invalid lr: {lr!r} (must be a finite number > 0)")
        cls, kwargs = self.resolve()
        return cls(params, lr=lr, **{**kwargs, **overrides})


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(import_module(module), attr)


_T, _O = "antigrad.textbook:", "torch.optim:"

#: The lecture's first-order methods in the lecture's order.
LECTURE_OPTIMIZERS: dict[str, OptimizerSpec] = {s.name: s for s in [
    OptimizerSpec("sgd", "SGD", "L5", _T + "SGD", _O + "SGD", default_lr=1.0),
    OptimizerSpec("momentum", "Momentum", "L7", _T + "Momentum", _O + "SGD",
                  {"momentum": 0.9}, family="momentum", default_lr=0.05),
    OptimizerSpec("nesterov", "Nesterov", "L8", _T + "Nesterov", _O + "SGD",
                  {"momentum": 0.9, "nesterov": True}, family="momentum", default_lr=0.05),
    OptimizerSpec("adagrad", "AdaGrad", "L9", _T + "AdaGrad", _O + "Adagrad",
                  family="adaptive", default_lr=0.05),
    OptimizerSpec("rmsprop", "RMSprop", "L10", _T + "RMSprop", _O + "RMSprop",
                  {"alpha": 0.9}, family="adaptive", default_lr=5e-3),
    OptimizerSpec("adam-simple", "Adam (simple)", "L11", _T + "AdamSimple", _O + "Adam",
                  family="adaptive", default_lr=5e-3),
    OptimizerSpec("adam", "Adam", "L12", _T + "Adam", _O + "Adam",
                  family="adaptive", default_lr=5e-3),
    OptimizerSpec("nadam", "Nadam", "L13", _T + "Nadam", _O + "NAdam",
                  family="adaptive", default_lr=5e-3),
    OptimizerSpec("adamw", "AdamW", "L14", _T + "AdamW", _O + "AdamW",
                  family="adaptive", default_lr=5e-3),
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
    """Add (or replace) an optimizer, e.g. ``antigrad.Adam`` under ``"torch-adam"``."""
    LECTURE_OPTIMIZERS[spec.name] = spec
