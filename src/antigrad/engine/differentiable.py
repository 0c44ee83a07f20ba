"""``differentiable=True``: the step as a function autograd can differentiate.

As torch.optim does for ``differentiable=True``, the step runs with autograd enabled and
writes the new parameter and state into the old tensors in place, so the graph of a
meta-learning loop runs through it. The update itself is the chain's traced graph, run by
the eager backend (:mod:`antigrad.engine.eager`) one parameter at a time: out-of-place
torch ops, then one ``copy_`` per output.
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
    opt._prepared = None  # the buckets do not see these writes: rebuild them if needed
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
        for group, params, chain in work:
            plan = opt._plan(chain).foreach
            for p in params:
                _step_one(opt, p, group, chain, plan)


def _step_one(opt: ChainOptimizer, p: Tensor, group: dict[str, Any], chain: Chain,
              plan: Any) -> None:
    fresh = opt._init_state(p, group, chain)
    state = opt.state[p]
    scalars, scalar_state = single.scalars(state, group, chain, fresh)
    targets = {"param": single.real(p), **{n: single.real(state[n]) for n in chain.state}}
    # The update reads copies: the writes below must not change a value autograd saved.
    tensors = {n: t.clone() for n, t in targets.items()}
    tensors["grad"] = single.real(p.grad)
    for name, value in eager.run(plan, tensors, scalars).items():
        targets[name].copy_(value)
    single.store(state, scalar_state)
