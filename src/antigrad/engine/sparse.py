"""Sparse gradients (``nn.Embedding(sparse=True)``) for the optimizers torch allows them.

An optimizer says per param group how a sparse gradient is applied
(:meth:`~antigrad.ChainOptimizer.sparse_mode`):

- ``"rows"``: the update leaves a parameter, and its state, unchanged where the gradient
  is zero (SGD without momentum or weight decay, Adagrad), so only the rows the gradient
  holds are read and written: gathered, updated by the chain's graph (foreach backend), and
  put back. As torch.optim, the gradient is coalesced first.
- ``"dense"``: the update moves every entry (SGD with momentum or weight decay), so the
  gradient is made dense and the whole parameter updated, as torch's arithmetic on a
  sparse gradient amounts to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor

from ..formula.transform import Chain
from . import backends, foreach, single

if TYPE_CHECKING:
    from .optimizer import ChainOptimizer

MODES = ("rows", "dense")


def all_finite(grads: list[Tensor]) -> bool:
    """Whether every stored value of these sparse gradients is finite."""
    return backends.all_finite([g._values() for g in grads])


def step(opt: ChainOptimizer, work: list[tuple[dict[str, Any], list[Tensor], Chain, str]]
         ) -> None:
    """Update each parameter with a sparse gradient: ``work`` holds (group, parameters,
    chain, mode) per param group."""
    for group, params, chain, mode in work:
        plan = opt.planner.plan(chain).foreach
        for p in params:
            fresh = opt._init_state(p, group, chain)
            state = opt.state[p]
            scalars, scalar_state = single.scalars(state, group, chain, fresh)
            targets = {"param": p, **{n: state[n] for n in chain.state}}
            if mode == "rows" and not p.is_complex():
                _rows(plan, targets, p.grad.coalesce(), scalars)
            else:
                tensors = {n: [single.real(t)] for n, t in targets.items()}
                tensors["grad"] = [single.real(p.grad.to_dense())]
                foreach.run(plan, tensors, scalars)
            single.store(state, scalar_state)


def _rows(plan: foreach.ForeachPlan, targets: dict[str, Tensor], grad: Tensor,
          scalars: dict[str, float]) -> None:
    index = tuple(grad._indices())  # unique after coalesce: put back deterministically
    tensors = {n: [t[index]] for n, t in targets.items()}
    tensors["grad"] = [grad._values()]
    foreach.run(plan, tensors, scalars)
    for name, t in targets.items():
        t.index_put_(index, tensors[name][0])
