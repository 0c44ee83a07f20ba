"""``differentiable=True``: the step as a function autograd can differentiate.

As torch.optim does for ``differentiable=True``, the step runs with autograd enabled and
writes the new parameter and state into the old tensors in place, so the graph of a
meta-learning loop runs through it. The update itself is the chain's traced graph, run by
the eager backend (:mod:`antigrad.engine.eager`) one parameter at a time: out-of-place
torch ops, then one ``copy_`` per output. A chain with reductions (norms) first runs its
reduce phases over the whole param group, so that a group-wide norm sees every tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..formula.transform import Chain
from . import backends, eager, single

if TYPE_CHECKING:
    from .optimizer import ChainOptimizer


def step(opt: ChainOptimizer, build: Callable[[dict[str, Any]], Chain]) -> None:
    """One update of every parameter with a gradient, recorded by autograd."""
    opt.planner.invalidate()  # the buckets do not see these writes: rebuild them if needed
    with torch.enable_grad():
        work = []
        for gi, group in enumerate(opt.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            opt._refuse_sparse(gi, group, params)
            if params:
                work.append((group, params, build(group)))
        if opt.nonfinite != "ignore" and not backends.all_finite(
                [p.grad.detach() for _, params, _ in work for p in params]):
            opt._refuse()
            return
        for gi, (group, params, chain) in enumerate(work):
            plan = opt.planner.plan(chain).foreach
            prepared = [_prepare(opt, p, group, chain) for p in params]
            reduced = eager.reduced_values(
                plan, [t for t, _, _ in prepared], [s for _, s, _ in prepared],
                [gi] * len(params)) if plan.graph.reductions else [None] * len(params)
            for p, (tensors, scalars, scalar_state), mine in zip(params, prepared, reduced,
                                                                 strict=True):
                targets = {"param": single.real(p),
                           **{n: single.real(opt.state[p][n]) for n in chain.state}}
                for name, value in eager.run(plan, tensors, scalars, mine).items():
                    targets[name].copy_(value)
                single.store(opt.state[p], scalar_state)


def _prepare(opt: ChainOptimizer, p: Tensor, group: dict[str, Any], chain: Chain
             ) -> tuple[dict[str, Tensor], dict[str, float], Any]:
    """One parameter's inputs (copies: the writes after the update must not change a value
    autograd saved), its scalars and its advanced scalar state."""
    fresh = opt._init_state(p, group, chain)
    state = opt.state[p]
    scalars, scalar_state = single.scalars(state, group, chain, fresh)
    tensors = {"param": single.real(p).clone(),
               **{n: single.real(state[n]).clone() for n in chain.state}}
    tensors["grad"] = single.real(p.grad)
    return tensors, scalars, scalar_state
