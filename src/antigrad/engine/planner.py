"""The planner: which buckets a step runs and with which plans, and when to plan again.

It knows nothing of ``torch.optim.Optimizer``: it is given, each step, the work (per param
group: its index, the group, its parameters with gradients, their gradients and its chain)
and the optimizer's ``state`` mapping, and answers with buckets
(:class:`~antigrad.engine.buckets.Bucket`): parameters that share chain, device and dtype,
across param groups, with their state created. The buckets are kept and reused while they
still describe the work and the state; they are built again when

- a parameter gets its first gradient, or a param group gets another chain;
- someone replaced, moved or edited a state tensor (:meth:`Bucket.valid`);
- :meth:`Planner.invalidate` is called (a state dict was loaded, a param group added, the
  differentiable path wrote what the buckets do not see).

A parameter prepared before that has no gradient this step sits the step out inside its
bucket, so gradients coming and going rebuild nothing. Plans (a traced graph ready to run,
:class:`~antigrad.engine.backends.Plan`) are kept by chain *value*: an equal chain built
again finds its plan, and at most :data:`PLANS_KEPT` are kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, MutableMapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .. import validation
from ..formula.transform import Chain
from . import backends, capturable, reduction
from .buckets import Bucket

# Enough for every chain an optimizer uses at once (each option combination of each param
# group); a chain that falls out is planned again when it comes back.
PLANS_KEPT = 64

State = MutableMapping[Tensor, dict[str, Any]]


class Work(NamedTuple):
    """One param group's share of a step."""

    group_index: int
    group: dict[str, Any]
    params: list[Tensor]
    grads: list[Tensor]
    chain: Chain


class _Prepared(NamedTuple):
    """The buckets of the last build and what they were built for."""

    chains: dict[int, Chain]  # param-group index -> its chain
    ids: dict[int, list[int]]  # param-group index -> ids of its parameters in the buckets
    idsets: dict[int, frozenset[int]]  # the same, as sets
    buckets: list[Bucket]


class Planner:
    """Buckets and plans for the steps of one optimizer (see the module docstring).

    Args:
        owner: the optimizer's name, for messages.
    """

    def __init__(self, owner: str = "optimizer") -> None:
        self.owner = owner
        self._plans: dict[Chain, backends.Plan] = {}
        self._prepared: _Prepared | None = None

    def plan(self, chain: Chain) -> backends.Plan:
        """The plan of ``chain`` (an equal chain's, if one was planned)."""
        plan = self._plans.get(chain)
        if plan is None:
            if len(self._plans) >= PLANS_KEPT:
                del self._plans[next(iter(self._plans))]  # the oldest
            plan = self._plans[chain] = backends.Plan(chain.graph)
        return plan

    @property
    def planned(self) -> int:
        """How many plans are kept."""
        return len(self._plans)

    @property
    def buckets(self) -> list[Bucket] | None:
        """The kept buckets (None before the first step and after :meth:`invalidate`)."""
        return None if self._prepared is None else self._prepared.buckets

    def invalidate(self) -> None:
        """Build the buckets again at the next step."""
        self._prepared = None

    def ready(self, work: list[Work], state: Mapping[Tensor, dict[str, Any]]
              ) -> tuple[list[Bucket], bool] | None:
        """The kept buckets if they still apply to ``work``, and whether they hold exactly
        its parameters (else more: the others sit the step out); None: build again."""
        prepared = self._prepared
        if prepared is None:
            return None
        exact = len(work) == len(prepared.chains)
        for w in work:
            chain = prepared.chains.get(w.group_index)
            if chain is not w.chain and chain != w.chain:
                return None
            now = list(map(id, w.params))
            if now != prepared.ids[w.group_index]:
                if not prepared.idsets[w.group_index].issuperset(now):
                    return None  # a parameter got its first gradient
                exact = False
        buckets = prepared.buckets
        return (buckets, exact) if all(b.valid(state) for b in buckets) else None

    def build(self, work: list[Work], state: State, groups: list[dict[str, Any]]
              ) -> list[Bucket]:
        """Create missing state and split the parameters of all groups by chain, device and
        dtype: one bucket updates groups whose chains agree (each group has rows of its
        own scalars). Parameters of the previous buckets that still have state stay in."""
        chosen = [(w.group_index, p, w.chain, create_state(state, p, w.group, w.chain))
                  for w in work for p in self._kept(w, state)]
        check_state_shapes(state, chosen, groups, self.owner)
        split: dict[tuple, list[tuple[int, Tensor, Chain, bool]]] = defaultdict(list)
        for item in chosen:
            split[(item[2], item[1].device, item[1].dtype)].append(item)
        check_group_totals(split, self.owner)
        buckets = [_bucket(state, items) for items in split.values()]
        ids: dict[int, list[int]] = {w.group_index: [] for w in work}
        for gi, p, _, _ in chosen:
            ids[gi].append(id(p))
        self._prepared = _Prepared({w.group_index: w.chain for w in work}, ids,
                                   {gi: frozenset(v) for gi, v in ids.items()}, buckets)
        capturable.check_devices(buckets, groups)
        return buckets

    def _kept(self, w: Work, state: State) -> list[Tensor]:
        """The parameters of ``w``'s bucket rows: those with a gradient, and those prepared
        before with the same chain whose state is complete."""
        before = self._prepared
        params = w.params
        if before is not None and before.chains.get(w.group_index) == w.chain:
            keep = before.idsets[w.group_index] | {id(p) for p in params}
            needs = [*w.chain.state, *w.chain.scalar_state]
            params = [p for p in w.group["params"] if id(p) in keep and (
                p.grad is not None or all(n in state.get(p, ()) for n in needs))]
        if w.group.get("fused"):  # torch's check, on the parameter's first step
            for p in params:
                validation.fused_device(p)
        return params


def _bucket(state: State, items: list[tuple[int, Tensor, Chain, bool]]) -> Bucket:
    chain = items[0][2]
    names = list(chain.scalar_state)
    flat = _as_floats([state[p][n] for _, p, _, _ in items for n in names]) if names else []
    k = len(names)
    return Bucket([p for _, p, _, _ in items], [state.get(p) for _, p, _, _ in items], chain,
                  [tuple(flat[i * k:(i + 1) * k]) for i in range(len(items))],
                  [fresh for *_, fresh in items], [gi for gi, *_ in items])


def create_state(state: State, p: Tensor, group: Mapping[str, Any], chain: Chain) -> bool:
    """Create the state ``chain`` needs for ``p`` in ``state``; true if a buffer had to be
    created. A chain without state leaves ``p`` out of ``state`` (torch's SGD without
    momentum keeps no entry, not even an empty one)."""
    if not chain.state and not chain.scalar_state:
        return False
    kept = state[p]
    fresh = False
    for name, init in chain.state.items():
        if kept.get(name) is None:  # torch's SGD saves a momentum buffer as None
            kept[name] = init(p, group)
            fresh = True
    # On the Triton backend the kernel writes the scalar state: it lives on the device,
    # as it does with capturable=True (as in torch).
    on_device = backends.use_triton(p.device) or bool(group.get("capturable"))
    device = p.device if on_device else torch.device("cpu")
    for name, value in chain.scalar_state.items():
        if name not in kept:
            kept[name] = torch.tensor(value, dtype=_scalar_dtype(), device=device)
        elif on_device and isinstance(kept[name], Tensor) and kept[name].device != device:
            kept[name] = kept[name].to(device)  # e.g. loaded from torch.optim's format
    return fresh


def check_state_shapes(state: State, chosen: list[tuple[int, Tensor, Chain, bool]],
                       groups: list[dict[str, Any]], owner: str) -> None:
    """A state_dict of another model: refuse before a kernel reads it, write nothing."""
    for gi, p, chain, _ in chosen:
        for name in chain.state:
            t = state[p][name]
            if not isinstance(t, Tensor) or t.shape != p.shape:
                found = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise RuntimeError(
                    f"{owner}: state {name!r} of parameter {position(groups[gi], p)} in "
                    f"param group {gi} is {found}, but the parameter has shape "
                    f"{tuple(p.shape)} (was the state_dict saved for another model?)")


def check_group_totals(split: Mapping[tuple, list[tuple[int, Tensor, Chain, bool]]],
                       owner: str) -> None:
    """A group-wide reduction (clipping by the global norm) totals a param group inside
    one bucket: refuse a group whose parameters span devices or dtypes."""
    where: dict[int, set[tuple]] = defaultdict(set)
    for (_chain, device, dtype), items in split.items():
        if reduction.group_wide(items[0][2].graph):
            for gi, *_ in items:
                where[gi].add((device, dtype))
    for gi, places in where.items():
        if len(places) > 1:
            found = ", ".join(sorted(f"{dtype} on {device}" for device, dtype in places))
            raise ValueError(
                f"param group {gi} of {owner} holds parameters of {found}, but its chain "
                f"takes a norm over the whole group (over='group'), which antigrad computes "
                f"over one device and dtype: put each kind of parameter in its own param "
                f"group")


def position(group: Mapping[str, Any], p: Tensor) -> int:
    """Where ``p`` is in ``group["params"]``."""
    return next(i for i, q in enumerate(group["params"]) if q is p)


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _as_floats(tensors: list[Tensor]) -> list[float]:
    """Python values of one-element tensors (0-d, as antigrad keeps them, or reshaped by
    someone), with one synchronisation when possible."""
    try:
        return torch.stack(tensors).reshape(len(tensors)).tolist()
    except RuntimeError:  # different devices or dtypes
        return [float(t) for t in tensors]
