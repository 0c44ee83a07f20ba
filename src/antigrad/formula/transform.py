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

import dataclasses
import functools
import operator
import struct
import typing
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import torch
from torch import Tensor

from .explain import render
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
    kind = type(key)
    if kind is str or (kind is not tuple and isinstance(key, str)):
        value = group[key]
    elif kind is tuple or isinstance(key, tuple):
        value = group[key[0]][key[1]]
    else:
        return float(key)
    if type(value) is float:  # the common case, checked first (float(value) is value)
        return value
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

    def copy(self) -> ScalarState:
        """A copy that keeps the dtype (``dict.copy`` would give a plain dict)."""
        new = ScalarState.__new__(ScalarState)
        dict.update(new, self)
        new.dtype = self.dtype
        return new

    def store(self, name: str, value: float) -> float:
        self[name] = self.rounded(value)
        return self[name]

    def scale(self, name: str, factor: float) -> float:
        """``state[name] *= factor`` as torch computes it on the 0-d tensor: the factor is
        rounded to the tensor's precision first, then the product."""
        return self.store(name, self[name] * self.rounded(factor))


Update = Callable[[Expr, Slots, Mapping[str, Expr]], Expr]
TransformT = TypeVar("TransformT", bound="Transform")
Scalars = Callable[[Mapping[str, Any], ScalarState, bool], dict[str, float]]


class Transform:
    """One formula, and a value: two transforms built from equal arguments are equal.

    The library's transforms are frozen dataclasses subclassing this class: their fields
    are their arguments, :meth:`update` and :meth:`scalars` are methods, and
    :attr:`name`, :attr:`state`, :attr:`scalar_state` and :attr:`defaults` follow from the
    fields. Because equal arguments give equal (and equally hashed) transforms, a chain
    rebuilt every step is recognised as the chain of the step before, and nothing is
    traced, planned or compiled again.

    A transform can also be written from functions, ``Transform(name, update, scalars,
    state, scalar_state, defaults)``; two of those are equal when they share the same
    functions and equal settings.

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
        constraints: what the hyperparameters it reads must be, param-group key ->
            constraint of :mod:`antigrad.validation` (``{"lr": NON_NEGATIVE}``); the
            optimizer checks them at construction, in ``add_param_group`` and on
            ``load_state_dict``. Every key it reads has a default or a constraint.
    """

    # Class-level defaults; a subclass overrides them (as properties when they depend on
    # its fields), a transform written from functions sets them on the instance.
    name: str = "transform"
    state: Mapping[str, StateInit] = MappingProxyType({})
    scalar_state: Mapping[str, float] = MappingProxyType({})
    defaults: Mapping[str, Any] = MappingProxyType({})
    constraints: Mapping[str, Any] = MappingProxyType({})

    def __init__(self, name: str, update: Update, scalars: Scalars | None = None,
                 state: Mapping[str, StateInit] | None = None,
                 scalar_state: Mapping[str, float] | None = None,
                 defaults: Mapping[str, Any] | None = None,
                 constraints: Mapping[str, Any] | None = None) -> None:
        # Instance attributes shadow the methods and properties a subclass defines.
        state, scalar_state = dict(state or {}), dict(scalar_state or {})
        defaults = dict(defaults or {})
        for key, value in (("name", name), ("update", update),
                           *((("scalars", scalars),) if scalars is not None else ()),
                           ("state", state), ("scalar_state", scalar_state),
                           ("defaults", defaults),
                           ("constraints", dict(constraints or {}))):
            object.__setattr__(self, key, value)
        object.__setattr__(self, "key", (Transform, name, update, scalars,
                                         tuple(state.items()), tuple(scalar_state.items()),
                                         _frozen(defaults)))

    def __post_init__(self) -> None:
        """A dataclass transform's value: its class and its fields, lists made tuples."""
        values = []
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, list):
                value = _frozen(value)
                object.__setattr__(self, name, value)
            values.append(value)
        object.__setattr__(self, "key", (type(self), *values))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"a transform is a value and cannot change (set {key!r})")

    # `key` (set at construction) is a plain tuple: chains hash and compare it at C speed.
    key: tuple

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transform):
            return NotImplemented
        return self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"<transform {self.name}>"

    @property
    def reads(self) -> frozenset[str]:
        """The param-group keys it reads: those with a default or a constraint, and the keys
        its :data:`Key` fields name (``factor: Key = "factor"`` reads ``group["factor"]``),
        so a transform written like the library's is known without declaring more."""
        keys = set(self.defaults) | set(self.constraints)
        for name in _key_fields(type(self)):
            keys.update(_named_keys(getattr(self, name)))
        return frozenset(keys)

    def update(self, u: Expr, x: Slots, c: Mapping[str, Expr]) -> Expr:
        """The new update ``u``; may rebind ``x.p`` and ``x.state[name]``."""
        raise NotImplementedError(f"{type(self).__name__} defines no update")

    def scalars(self, group: Mapping[str, Any], scalar_state: ScalarState,
                fresh: bool) -> dict[str, float]:
        """This step's scalar arguments, computed in Python once per step."""
        return {}


INTERNED_KEPT = 64  # instances kept per transform class by `interned`


def interned(cls: Callable[..., TransformT]) -> Callable[..., TransformT]:
    """``cls``'s constructor that hands back the instance it made before for the same
    arguments (at most :data:`INTERNED_KEPT` kept).

    Only a shortcut: an equal instance made anew is just as good (transforms compare by
    value), but a step that rebuilds its chain then skips constructing and comparing
    transforms. Arguments that do not hash (a list) construct a new instance.
    """
    made: dict[tuple, TransformT] = {}

    def make(*args: Any, **kwargs: Any) -> TransformT:
        key = (args, tuple(kwargs.items()))
        try:
            found = made.get(key)
        except TypeError:  # unhashable: the instance makes its lists tuples
            return cls(*args, **kwargs)
        if found is None:
            if len(made) >= INTERNED_KEPT:
                del made[next(iter(made))]  # the oldest
            found = made[key] = cls(*args, **kwargs)
        return found

    functools.update_wrapper(make, cls, updated=())
    return make


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """The dataclass fields of ``cls``, looked up once per class."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _key_fields(cls: type) -> tuple[str, ...]:
    """The dataclass fields of ``cls`` declared as :data:`Key` (or a pair of keys)."""
    if not dataclasses.is_dataclass(cls):
        return ()
    return tuple(f.name for f in dataclasses.fields(cls) if _declares_key(f.type))


def _declares_key(annotation: Any) -> bool:
    # Annotations are strings under ``from __future__ import annotations``, else types.
    if isinstance(annotation, str):
        return any(word.strip("()[], ").endswith("Key") for word in annotation.split("|"))
    return annotation == Key or set(typing.get_args(Key)) <= set(typing.get_args(annotation))


def _named_keys(value: Any) -> Iterable[str]:
    """The param-group keys a key field's value names: ``"lr"``, ``("betas", 0)`` or a
    tuple of those; a number is a literal value and names none."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) \
            and isinstance(value[1], int):
        return (value[0],)
    if isinstance(value, tuple):
        return tuple(key for item in value for key in _named_keys(item))
    return ()


def _frozen(value: Any) -> Any:
    """``value`` with lists as tuples and dicts as sorted item tuples (hashable)."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value


class Chain:
    """Transforms applied in order; the last one is usually a step rule (``descend``).

    A value, like its transforms: chains of equal transforms are equal and hash alike, so
    the engine keys its plans and kernels by the chain itself, and :func:`chain` hands
    back the chain it already built for equal transforms (with its graph traced once).
    """

    def __init__(self, transforms: Iterable[Transform]) -> None:
        self.transforms = tuple(transforms)
        names: dict[str, str] = {}
        for t in self.transforms:
            for s in t.state:
                if s in names:
                    raise ValueError(f"state {s!r} is kept by both {names[s]} and {t.name}")
                names[s] = t.name
        self.state: dict[str, StateInit] = {
            k: v for t in self.transforms for k, v in t.state.items()}
        self.scalar_state: dict[str, float] = {
            k: v for t in self.transforms for k, v in t.scalar_state.items()}
        self.defaults: dict[str, Any] = {
            k: v for t in self.transforms for k, v in t.defaults.items()}
        self.constraints: dict[str, Any] = {
            k: v for t in self.transforms for k, v in t.constraints.items()}
        # What identifies the chain: its transforms' values, as one tuple of plain tuples.
        self.key = tuple(t.key for t in self.transforms)
        self._hash = hash(self.key)
        self._graph: Graph | None = None
        # Per transform: its scalars' names -> their names in the chain ("1.bc1").
        self._scalar_names: tuple[dict[str, str], ...] = tuple({} for _ in self.transforms)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A chain pickled before it kept its scalars' names: named again on first use.
        self.__dict__.update(state)
        self.__dict__.setdefault("_scalar_names", tuple({} for _ in self.transforms))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Chain):
            return NotImplemented
        return self is other or (self._hash == other._hash and self.key == other.key)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return "chain(" + ", ".join(t.name for t in self.transforms) + ")"

    @property
    def hyperparameters(self) -> frozenset[str]:
        """The param-group keys its transforms read (:attr:`Transform.reads`)."""
        return frozenset().union(*(t.reads for t in self.transforms))

    def explain(self) -> str:
        """What the chain computes: its transforms, its state, and its traced update
        written as formulas (``exp_avg <- lerp(exp_avg, grad, 1 - scale_by_adam.b1)``;
        per-step scalars are named ``<transform>.<name>``, computed in Python by that
        transform's ``scalars``). :func:`antigrad.explain` adds the generated C source.

        Example::

            >>> from antigrad import transforms as T
            >>> print(T.chain(T.trace(), T.descend()).explain())
            chain(trace, descend)
            state: momentum_buffer
            per-step scalars: trace.decay, descend.lr
            update:
              t1 = momentum_buffer * trace.decay + grad
              param <- param + t1 * (-descend.lr)
              momentum_buffer <- t1
        """
        graph = self.graph
        names = [t.name for t in self.transforms]

        def scalar_name(leaf: str) -> str:
            index, _, name = leaf.partition(".")
            return f"{names[int(index)]}.{name}"

        state = [*self.state, *self.scalar_state]
        body = render(graph, scalar_name).replace("\n", "\n  ")
        return "\n".join([
            repr(self),
            f"state: {', '.join(state) if state else 'none'}",
            f"per-step scalars: {', '.join(map(scalar_name, graph.scalar_inputs)) or 'none'}",
            f"update:\n  {body}"])

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
        for i, (t, names) in enumerate(zip(self.transforms, self._scalar_names, strict=True)):
            for k, v in t.scalars(group, scalar_state, fresh).items():
                name = names.get(k)
                if name is None:  # first seen: its name in the chain, kept
                    name = names[k] = f"{i}.{k}"
                out[name] = v
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

    Equal transforms give the chain built before (see :class:`Chain`), so a factory that
    builds its chain every step costs a lookup, not a new plan.

    Example::

        >>> from antigrad import transforms as T
        >>> adam_w_nesterov = T.chain(T.decoupled_weight_decay(), T.scale_by_nadam(), T.descend())
        >>> adam_w_nesterov == T.chain(T.decoupled_weight_decay(), T.scale_by_nadam(), T.descend())
        True
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
    return _built(flat)


# The chains built lately, by value: optimizers rebuild their chain every step, and finding
# it here keeps its traced graph. Bounded, so that chains made of throw-away functions
# (never equal to one another) cannot grow it without end.
_RECENT_CHAINS: dict[tuple[tuple, ...], Chain] = {}
RECENT_CHAINS_KEPT = 256


# The same chains by the identity of their transforms: interned transforms (the library's
# constructors hand back the instance made before) find their chain without hashing their
# values. A chain holds its transforms, so their ids are not reused while it is kept here.
_BY_IDENTITY: dict[tuple[int, ...], Chain] = {}


def _built(transforms: list[Transform]) -> Chain:
    ids = tuple(map(id, transforms))
    found = _BY_IDENTITY.get(ids)
    if found is not None and all(map(operator.is_, found.transforms, transforms)):
        return found
    key = tuple([t.key for t in transforms])
    found = _RECENT_CHAINS.get(key)
    if found is None:
        if len(_RECENT_CHAINS) >= RECENT_CHAINS_KEPT:
            del _RECENT_CHAINS[next(iter(_RECENT_CHAINS))]  # the oldest
        found = _RECENT_CHAINS[key] = Chain(transforms)
    if all(map(operator.is_, found.transforms, transforms)):
        if len(_BY_IDENTITY) >= RECENT_CHAINS_KEPT:
            del _BY_IDENTITY[next(iter(_BY_IDENTITY))]  # the oldest
        _BY_IDENTITY[ids] = found
    return found
