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


def as_real(t: Tensor) -> Tensor:
    """A complex tensor as a real view with a trailing dimension of 2 (as torch.optim.LBFGS
    treats complex parameters); a real tensor as is."""
    return torch.view_as_real(t) if t.is_complex() else t


class _SavedBytes(torch.autograd.graph.saved_tensors_hooks):
    """Counts the bytes of the distinct storages autograd saves within the block: the
    forward graph and the graph of the gradient, which every Hessian-vector product
    differentiates through (a batch of ``k`` of them materialises ``~k`` times as much)."""

    def __init__(self) -> None:
        self.total, self._seen = 0, set()
        super().__init__(self._pack, lambda t: t)

    def _pack(self, t: Tensor) -> Tensor:
        try:
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key not in self._seen:
                self._seen.add(key)
                self.total += storage.nbytes()
        except (RuntimeError, NotImplementedError):  # no plain storage: count its elements
            self.total += t.numel() * t.element_size()
        return t


class FlatParams:
    """All parameters of ``param_groups`` as one flat vector.

    All parameters must share a (real) dtype and a device (the flat vector, and any
    Hessian or history built on it, lives there). A complex parameter counts as its real
    and imaginary parts, interleaved.
    """

    def __init__(self, param_groups: Sequence[dict[str, Any]], owner: str) -> None:
        self.owner = owner
        self.params: list[Tensor] = [p for g in param_groups for p in g["params"]]
        if not self.params:
            raise ValueError(f"{owner} got an empty parameter list")
        first = self.params[0]
        real = as_real(first.detach()).dtype
        for p in self.params:
            if as_real(p.detach()).dtype != real or p.device != first.device:
                raise ValueError(
                    f"{owner} treats all parameters as one vector, so they must share a dtype "
                    f"and device; got {first.dtype} on {first.device} and {p.dtype} on "
                    f"{p.device}")
            if not (p.is_floating_point() or p.is_complex()):
                raise TypeError(f"{owner} optimizes floating-point parameters; got {p.dtype}")
        self.numels = [p.numel() * (2 if p.is_complex() else 1) for p in self.params]
        self.n = sum(self.numels)
        if self.n == 0:
            raise ValueError(f"{owner} got only empty parameters (0 elements in all); "
                             f"there is nothing to optimize")
        self.dtype, self.device = real, first.device
        #: bytes autograd saved for the last graph-keeping evaluation: what one
        #: Hessian-vector product works through (see :func:`curvature.chunk_rows`)
        self.graph_bytes = 0

    def refuse_complex(self) -> None:
        """Raise a TypeError if a parameter is complex (for methods that need Hessians)."""
        for p in self.params:
            if p.is_complex():
                raise TypeError(
                    f"{self.owner} does not support complex parameters (got {p.dtype}): its "
                    f"Hessian-vector products assume real ones. LBFGS and BFGS treat a "
                    f"complex parameter as pairs of real numbers; or optimize "
                    f"torch.view_as_real of it")

    def _reals(self) -> list[Tensor]:
        return [as_real(p.detach()) for p in self.params]

    def split(self, vec: Tensor) -> list[Tensor]:
        """Views of ``vec`` shaped like each parameter (as real views, if complex)."""
        return [v.view_as(r) for v, r in zip(vec.split(self.numels), self._reals(), strict=True)]

    def vector(self) -> Tensor:
        """A copy of the current parameters as one vector."""
        return torch.cat([r.reshape(-1) for r in self._reals()])

    @torch.no_grad()
    def set_(self, vec: Tensor) -> None:
        reals = self._reals()
        torch._foreach_copy_(reals, self.split(vec))

    @torch.no_grad()
    def add_(self, vec: Tensor, alpha: float = 1.0) -> None:
        torch._foreach_add_(self._reals(), self.split(vec), alpha=alpha)

    def flat_grad(self, grads: Sequence[Tensor | None]) -> Tensor:
        return torch.cat([torch.zeros(k, dtype=self.dtype, device=self.device)
                          if g is None else as_real(g.detach()).reshape(-1)
                          for g, k in zip(grads, self.numels, strict=True)])

    def evaluate(self, closure: Callable[[], Any], x: Tensor | None = None,
                 graph: bool = False) -> Point:
        """Run ``closure`` at the current parameters (whose vector is ``x``, if known).

        With ``graph`` the gradient keeps its autograd graph (for Hessian-vector
        products). The closure may call ``loss.backward()`` (gradients are read from
        ``.grad``) or just return the loss (gradients are taken with ``autograd.grad``).
        Every ``.grad`` is cleared before the call, so a gradient left by an earlier
        evaluation is never mistaken for this one's.
        """
        moved, x = x is not None, self.vector() if x is None else x
        ctx = _backward_with_graph() if graph else contextlib.nullcontext([True])
        prior = [p.grad for p in self.params]
        for p in self.params:
            p.grad = None
        counter = _SavedBytes() if graph else contextlib.nullcontext()
        with torch.enable_grad(), ctx as called, counter:
            loss = closure()
            f = loss_value(loss, self.owner)
            grads: list[Tensor | None] = [p.grad for p in self.params]
            if graph and not called[0] or all(gp is None for gp in grads):
                grads = self._no_backward(loss, graph, prior, moved)
        g = self.flat_grad(grads)
        kept = None
        if graph:
            self.graph_bytes = counter.total
            kept = [torch.zeros_like(p) if gp is None else gp for p, gp in zip(
                self.params, grads, strict=True)]
            for p in self.params:  # break the param -> grad -> graph -> param cycle
                if p.grad is not None and p.grad.grad_fn is not None:
                    p.grad = p.grad.detach()
        return Point(x, f, g, loss, kept)

    def _no_backward(self, loss: Any, graph: bool, prior: list[Tensor | None],
                     moved: bool) -> list[Tensor | None]:
        """The gradient when the closure did not call ``backward()``: from the loss's graph
        if it has one (left in ``.grad`` as ``backward()`` would have); else, for a
        first-order evaluation, the ``.grad`` that was there (``None``: zero), as
        ``torch.optim.LBFGS`` reads it."""
        if not graph and not (isinstance(loss, Tensor) and loss.requires_grad):
            for p, gp in zip(self.params, prior, strict=True):
                p.grad = gp
            if moved and any(gp is not None for gp in prior):
                warnings.warn(
                    f"{self.owner}: the closure returned a loss without a graph and did not "
                    f"call backward(), so the gradient at this new point is unknown; the "
                    f".grad already there is used, as torch.optim.LBFGS does. Call "
                    f"loss.backward() in the closure.", stacklevel=4)
            return prior
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
