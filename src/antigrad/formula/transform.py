"""Transforms and chains: how every formula of antigrad is written down once.

A :class:`Transform` is one formula. It rewrites the running update ``u`` (which
starts as the gradient) element-wise, may read and rewrite its own state tensors and
the parameter, and may compute per-step scalars (bias corrections, decayed rates) in
plain Python from the param group's hyperparameters and its scalar state (``step``).
A :class:`Chain` applies transforms in order; the engine then sets ``w <- w + u``, so
a chain ends with a step rule such as :func:`antigrad.transforms.descend` (``u <- -lr u``).

Hyperparameters are named, not stored: a transform refers to a param-group entry
(``"lr"``, ``("betas", 0)``) or takes a fixed number, so schedulers can change any of
them mid-run and one optimizer can hold groups with different settings.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .expr import Expr, Graph, trace

# A hyperparameter: a param-group key, an entry of a tuple-valued key, or a fixed number.
Key = str | tuple[str, int] | float | int

StateInit = Callable[[Tensor, Mapping[str, Any]], Tensor]


def zeros(param: Tensor, group: Mapping[str, Any]) -> Tensor:
    return torch.zeros_like(param, memory_format=torch.preserve_format)


class TensorHypers(dict):
    """A param group whose tensor-valued hyperparameters :func:`hyper` returns as 0-d
    tensors, unread: the engine computes a step's scalars on the device with it (a tensor
    ``lr`` on the GPU, ``capturable=True``), so that no value is copied to the host."""


def hyper(group: Mapping[str, Any], key: Key) -> float | Tensor:
    """The value of hyperparameter ``key`` in ``group`` as a Python float (a 0-d tensor
    if it is a tensor and ``group`` is a :class:`TensorHypers`)."""
    if isinstance(key, str):
        value = group[key]
    elif isinstance(key, tuple):
        value = group[key[0]][key[1]]
    else:
        return float(key)
    if isinstance(value, Tensor) and isinstance(group, TensorHypers):
        return value.reshape(())
    return float(value)


class Slots:
    """What an update may read and rewrite: the parameter ``p`` and the state tensors."""

    __slots__ = ("p", "state")

    def __init__(self, p: Expr, state: dict[str, Expr]) -> None:
        self.p, self.state = p, state


class ScalarState(dict):
    """A parameter's scalar state as Python floats (``step``, ``mu_product``, ...).

    :meth:`store` rounds a new value to the precision of the 0-d tensor that keeps it, so
    that the number used in this step is the number saved (as torch.optim does).
    """

    def __init__(self, values: Mapping[str, float], dtype: torch.dtype = torch.float32) -> None:
        super().__init__(values)
        self.dtype = dtype

    def rounded(self, value: float | Tensor) -> float | Tensor:
        """``value`` at the precision of the 0-d tensors that keep the state (a tensor
        value, computed on the device, is rounded so and keeps its own dtype)."""
        if isinstance(value, Tensor):
            return value.to(self.dtype).to(value.dtype)
        if self.dtype == torch.float64:
            return value
        if self.dtype == torch.float32:
            return struct.unpack("f", struct.pack("f", value))[0]
        return torch.tensor(value, dtype=self.dtype).item()

    def store(self, name: str, value: float) -> float:
        self[name] = self.rounded(value)
        return self[name]

    def scale(self, name: str, factor: float) -> float:
        """``state[name] *= factor`` as torch computes it on the 0-d tensor: the factor is
        rounded to the tensor's precision first, then the product."""
        return self.store(name, self[name] * self.rounded(factor))


Update = Callable[[Expr, Slots, Mapping[str, Expr]], Expr]
Scalars = Callable[[Mapping[str, Any], ScalarState, bool], dict[str, float]]


@dataclass(frozen=True, eq=False)
class Transform:
    """One formula.

    Attributes:
        name: what it computes, e.g. ``"scale_by_adam"``.
        update: ``update(u, slots, c) -> u``, element-wise arithmetic on :class:`Expr`;
            ``c[name]`` are the per-step scalars returned by ``scalars``.
        scalars: ``scalars(group, scalar_state, fresh) -> {name: float}``, run once per
            step in Python. ``scalar_state`` (e.g. ``{"step": 3.0}``, already advanced
            for this step) may be updated in place; ``fresh`` is true on a parameter's
            first step.
        state: tensor state it keeps per parameter, name -> initializer.
        scalar_state: scalar state it keeps per parameter, name -> initial value. The
            engine advances ``step`` by one before ``scalars`` runs.
        defaults: default values of the hyperparameters it reads.
    """

    name: str
    update: Update
    scalars: Scalars | None = None
    state: Mapping[str, StateInit] = field(default_factory=dict)
    scalar_state: Mapping[str, float] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<transform {self.name}>"


class Chain:
    """Transforms applied in order; the last one is usually a step rule (``descend``)."""

    def __init__(self, transforms: list[Transform]) -> None:
        self.transforms = transforms
        names: dict[str, str] = {}
        for t in transforms:
            for s in t.state:
                if s in names:
                    raise ValueError(f"state {s!r} is kept by both {names[s]} and {t.name}")
                names[s] = t.name
        self.state: dict[str, StateInit] = {
            k: v for t in transforms for k, v in t.state.items()}
        self.scalar_state: dict[str, float] = {
            k: v for t in transforms for k, v in t.scalar_state.items()}
        self.defaults: dict[str, Any] = {k: v for t in transforms for k, v in t.defaults.items()}
        self.key = tuple(id(t) for t in transforms)
        self._graph: Graph | None = None

    def __repr__(self) -> str:
        return "chain(" + ", ".join(t.name for t in self.transforms) + ")"

    @property
    def graph(self) -> Graph:
        """The traced element-wise update of the whole chain (built once)."""
        if self._graph is None:
            self._graph = trace(self._build, ["param", "grad", *self.state])
        return self._graph

    def _build(self, leaves: dict[str, Expr], scalar: Callable[[str], Expr]) -> dict[str, Expr]:
        slots = Slots(leaves["param"], {k: leaves[k] for k in self.state})
        u = leaves["grad"]
        for i, t in enumerate(self.transforms):
            c = _ScalarArgs(i, scalar)
            u = t.update(u, slots, c)
        return {"param": slots.p + u, **slots.state}

    def scalars(self, group: Mapping[str, Any], scalar_state: ScalarState,
                fresh: bool) -> dict[str, float]:
        """This step's scalar arguments (``"<transform index>.<name>"`` -> value)."""
        if "step" in scalar_state:
            scalar_state["step"] += 1.0
        out: dict[str, float] = {}
        for i, t in enumerate(self.transforms):
            if t.scalars is not None:
                for k, v in t.scalars(group, scalar_state, fresh).items():
                    out[f"{i}.{k}"] = v
        return out


class _ScalarArgs(Mapping[str, Expr]):
    """``c["bc1"]`` inside an update: the scalar leaf for transform ``i``'s ``bc1``."""

    def __init__(self, i: int, scalar: Callable[[str], Expr]) -> None:
        self._i, self._scalar = i, scalar

    def __getitem__(self, name: str) -> Expr:
        return self._scalar(f"{self._i}.{name}")

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


def chain(*parts: Transform | Chain | None) -> Chain:
    """Compose transforms (and chains) left to right; ``None`` entries are skipped.

    Example::

        >>> from antigrad import transforms as T
        >>> adam_w_nesterov = T.chain(T.decoupled_weight_decay(), T.scale_by_nadam(), T.descend())
    """
    flat: list[Transform] = []
    for p in parts:
        if p is None:
            continue
        if not isinstance(p, (Transform, Chain)):
            raise TypeError(f"chain() takes transforms, not {type(p).__name__}")
        flat.extend(p.transforms if isinstance(p, Chain) else [p])
    if not flat:
        raise ValueError("chain() needs at least one transform")
    key = tuple(flat)
    if key not in _CHAINS:  # optimizers rebuild their chain every step: keep it cheap
        _CHAINS[key] = Chain(flat)
    return _CHAINS[key]


_CHAINS: dict[tuple[Transform, ...], Chain] = {}
