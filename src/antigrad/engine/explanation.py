"""``antigrad.explain``: what an optimizer or a chain computes, and the code that runs it."""

from __future__ import annotations

from typing import Any

from ..formula.transform import Chain
from .csource import source as c_source


def explain(target: Any, source: bool = True) -> str:
    """What ``target`` computes: for a chain, or for each distinct chain of an antigrad
    optimizer's param groups, its formulas (:meth:`Chain.explain`) and, with ``source``,
    the C the native backend compiles from them (float32 and float64 kernels and the
    non-finite check).

    Args:
        target: an :class:`~antigrad.engine.ChainOptimizer` (``antigrad.Adam(...)``, a
            textbook optimizer, ...) or a :class:`~antigrad.transforms.Chain`.
        source: include the generated C source.

    Example::

        >>> import torch, antigrad
        >>> opt = antigrad.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
        >>> print(antigrad.explain(opt, source=False))
        param group 0: chain(descend)
        state: none
        per-step scalars: descend.lr
        update:
          param <- param + grad * (-descend.lr)
    """
    chains = _chains(target)
    parts = []
    for chain, groups in chains.items():
        label = "param group" if len(groups) == 1 else "param groups"
        header = f"{label} {', '.join(map(str, groups))}: " if groups else ""
        parts.append(header + chain.explain())
        if source:
            parts.append("generated C (antigrad.engine.csource):\n" + c_source(chain.graph))
    return "\n\n".join(parts)


def _chains(target: Any) -> dict[Chain, list[int]]:
    """Each distinct chain of ``target`` and the param groups it updates."""
    if isinstance(target, Chain):
        return {target: []}
    build = getattr(target, "build", None)
    groups = getattr(target, "param_groups", None)
    if build is None or groups is None:
        raise TypeError(f"explain() takes an antigrad optimizer or a chain, not "
                        f"{type(target).__name__}")
    chains: dict[Chain, list[int]] = {}
    for gi, group in enumerate(groups):
        chains.setdefault(build(group), []).append(gi)
    return chains
