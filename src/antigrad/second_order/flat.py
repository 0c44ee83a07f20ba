"""A flat view of an optimizer's parameters, and closure evaluation.

Second-order methods treat every parameter of every param group as one vector
``w ∈ R^n`` (in the order the groups list them). :class:`FlatParams` reads and writes
that vector with one fused ``torch._foreach_*`` call, and :meth:`FlatParams.evaluate`
runs the closure and returns the loss and the flat gradient — optionally keeping the
gradient's autograd graph so Hessian-vector products can be taken from it
(see :mod:`antigrad.second_order.curvature`).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

CLOSURE_REQUIRED = (
    "{name}.step() requires a closure: a function that re-evaluates the model, calls "
    "loss.backward() and returns the loss. Second-order methods evaluate the loss at "
    "several points per step (line search, curvature), which one precomputed gradient "
    "cannot give. Example: def closure(): opt.zero_grad(); loss = loss_fn(model(x), y); "
    "loss.backward(); return loss  ...  opt.step(closure)")


@dataclass
class Point:
    """The loss and gradient at a flat parameter vector ``x``.

    ``grads`` (per-parameter gradients that still carry their autograd graph) is set
    only by a second-order evaluation; :mod:`curvature` differentiates it again.
    """

    x: Tensor
    f: float
    g: Tensor
    loss: Any = None
    grads: list[Tensor] | None = None

    @property
    def finite(self) -> bool:
        return math.isfinite(self.f) and bool(torch.isfinite(self.g).all())


_patch_active = False


@contextlib.contextmanager
def _backward_with_graph() -> Iterator[list[bool]]:
    """Within this block every ``loss.backward()`` also builds the gradient's graph.

    Patches ``torch.autograd.backward`` (which ``Tensor.backward`` calls) to pass
    ``create_graph=True``, so an ordinary training closure yields gradients that can be
    differentiated again. The yielded list records whether backward was called.
    """
    global _patch_active
    if _patch_active:  # nested evaluation: the outer patch is already in place
        yield [True]
        return
    original = torch.autograd.backward
    called = [False]

    def backward(tensors: Any, grad_tensors: Any = None, retain_graph: Any = None,
                 create_graph: bool = False, grad_variables: Any = None,
                 inputs: Any = None) -> None:
        called[0] = True
        original(tensors, grad_tensors, retain_graph, True, inputs=inputs)

    torch.autograd.backward = backward
    _patch_active = True
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*create_graph=True.*reference cycle")
            yield called
    finally:
        torch.autograd.backward = original
        _patch_active = False


class FlatParams:
    """All parameters of ``param_groups`` as one flat vector.

    All parameters must share a dtype and a device (the flat vector, and any Hessian or
    history built on it, lives there).
    """

    def __init__(self, param_groups: Sequence[dict[str, Any]], owner: str) -> None:
        self.owner = owner
        self.params: list[Tensor] = [p for g in param_groups for p in g["params"]]
        if not self.params:
            raise ValueError(f"{owner} got an empty parameter list")
        first = self.params[0]
        for p in self.params:
            if p.dtype != first.dtype or p.device != first.device:
                raise ValueError(
                    f"{owner} treats all parameters as one vector, so they must share a dtype "
                    f"and device; got {first.dtype} on {first.device} and {p.dtype} on "
                    f"{p.device}")
        self.numels = [p.numel() for p in self.params]
        self.n = sum(self.numels)
        self.dtype, self.device = first.dtype, first.device

    def split(self, vec: Tensor) -> list[Tensor]:
        """Views of ``vec`` shaped like each parameter."""
        return [v.view_as(p) for v, p in zip(vec.split(self.numels), self.params, strict=True)]

    def vector(self) -> Tensor:
        """A copy of the current parameters as one vector."""
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    @torch.no_grad()
    def set_(self, vec: Tensor) -> None:
        torch._foreach_copy_(self.params, self.split(vec))

    @torch.no_grad()
    def add_(self, vec: Tensor, alpha: float = 1.0) -> None:
        torch._foreach_add_(self.params, self.split(vec), alpha=alpha)

    def flat_grad(self, grads: Sequence[Tensor | None]) -> Tensor:
        return torch.cat([torch.zeros(p.numel(), dtype=self.dtype, device=self.device)
                          if g is None else g.detach().reshape(-1)
                          for g, p in zip(grads, self.params, strict=True)])

    def evaluate(self, closure: Callable[[], Any], x: Tensor | None = None,
                 graph: bool = False) -> Point:
        """Run ``closure`` at the current parameters (whose vector is ``x``, if known).

        With ``graph`` the gradient keeps its autograd graph (for Hessian-vector
        products). The closure may call ``loss.backward()`` (gradients are read from
        ``.grad``) or just return the loss (gradients are taken with ``autograd.grad``).
        Every ``.grad`` is cleared before the call, so a gradient left by an earlier
        evaluation is never mistaken for this one's.
        """
        x = self.vector() if x is None else x
        ctx = _backward_with_graph() if graph else contextlib.nullcontext([True])
        for p in self.params:
            p.grad = None
        with torch.enable_grad(), ctx as called:
            loss = closure()
            f = loss_value(loss, self.owner)
            grads: list[Tensor | None] = [p.grad for p in self.params]
            if graph and not called[0] or all(gp is None for gp in grads):
                grads = self._autograd(loss, graph)
        g = self.flat_grad(grads)
        kept = None
        if graph:
            kept = [torch.zeros_like(p) if gp is None else gp for p, gp in zip(
                self.params, grads, strict=True)]
            for p in self.params:  # break the param -> grad -> graph -> param cycle
                if p.grad is not None and p.grad.grad_fn is not None:
                    p.grad = p.grad.detach()
        return Point(x, f, g, loss, kept)

    def _autograd(self, loss: Any, graph: bool) -> list[Tensor | None]:
        """The gradient of a loss whose closure did not call ``backward()``; left in
        ``.grad`` as ``backward()`` would have."""
        if not (isinstance(loss, Tensor) and loss.requires_grad):
            raise ValueError(
                f"{self.owner}: the closure neither called loss.backward() nor returned a "
                f"loss that requires grad, so there is no gradient to follow; "
                + CLOSURE_REQUIRED.format(name=self.owner))
        grads = list(torch.autograd.grad(loss.reshape(()), self.params, create_graph=graph,
                                         allow_unused=True))
        if not graph:
            for p, gp in zip(self.params, grads, strict=True):
                p.grad = gp
        return grads


def loss_value(loss: Any, owner: str) -> float:
    """The closure's loss as a float; a clear error for anything but one real number."""
    if isinstance(loss, Tensor):
        if loss.numel() != 1:
            raise ValueError(f"{owner}: the closure returned a tensor of shape "
                             f"{tuple(loss.shape)}; it must return the scalar loss")
        if loss.is_complex():
            raise ValueError(f"{owner}: the closure returned a complex loss ({loss.item()}); "
                             f"it must return a real scalar")
        return float(loss.detach())
    if isinstance(loss, bool) or not isinstance(loss, (int, float)):
        raise TypeError(f"{owner}: the closure returned {type(loss).__name__} "
                        f"({loss!r:.60}); it must return the loss (a scalar tensor or number)")
    return float(loss)
