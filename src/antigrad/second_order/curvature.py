"""Second derivatives from a gradient that kept its graph (``Point.grads``).

* ``hvp``: ``H v`` by differentiating ``∇L(w)ᵀ v`` once more (Pearlmutter's trick),
  one backward pass, ``O(n)`` memory.
* ``hessian``: the dense ``H`` row block by row block, each block a batch of HVPs with
  one-hot vectors (``torch.autograd.grad(..., is_grads_batched=True)``, i.e.
  ``torch.func.vmap``), so ``n`` HVPs cost ``n / chunk`` vectorised passes.
* ``diagonal``: ``diag(H)`` exactly (the same blocks, keeping only their diagonal) or by
  Hutchinson's estimator ``diag(H) ≈ 1/k Σ_i z_i ⊙ H z_i`` with Rademacher ``z_i``
  (Bekas, Kokiopoulou & Saad 2007), unbiased, ``k`` HVPs.
* ``check_dense_memory``: refuses a dense ``n × n`` matrix before allocating it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .flat import FlatParams
from .result import HessianMemoryError

CHUNK_BYTES = 64 * 2**20  # one block of one-hot vectors and the HVP rows it yields


def check_dense_memory(owner: str, n: int, dtype: torch.dtype, copies: int, limit: int,
                       alternative: str, working: int = 0) -> None:
    """Raise :class:`HessianMemoryError` if ``copies`` dense ``n × n`` matrices and
    ``working`` more bytes exceed ``limit``."""
    need = copies * n * n * torch.empty((), dtype=dtype).element_size() + working
    if need > limit:
        extra = f" and {working / 2**20:.0f} MiB of working memory" if working else ""
        raise HessianMemoryError(
            f"{owner} needs {copies} dense {n}x{n} {str(dtype).replace('torch.', '')} "
            f"matrices{extra}, about {need:,} bytes ({need / 2**30:.2f} GiB), over the limit "
            f"max_hessian_bytes={limit:,}; nothing was allocated. Use {alternative}, or "
            f"raise max_hessian_bytes if the memory is there.")


def _differentiable(grads: list[Tensor], params: list[Tensor]) -> tuple[list[Tensor],
                                                                        list[Tensor]]:
    keep = [(g, p) for g, p in zip(grads, params, strict=True) if g.requires_grad]
    return [g for g, _ in keep], [p for _, p in keep]


def hvp(flat: FlatParams, grads: list[Tensor], v: Tensor) -> Tensor:
    """``H v`` for the flat vector ``v`` (the graph in ``grads`` is kept for more)."""
    outs, _ = _differentiable(grads, flat.params)
    if not outs:  # the gradient does not depend on the parameters: H = 0
        return torch.zeros_like(v)
    vs = [vi for vi, g in zip(flat.split(v), grads, strict=True) if g.requires_grad]
    hv = torch.autograd.grad(outs, flat.params, grad_outputs=vs, retain_graph=True,
                             allow_unused=True, materialize_grads=True)
    return flat.flat_grad(hv)


def _rows(flat: FlatParams, grads: list[Tensor], start: int, stop: int) -> Tensor:
    """Rows ``start:stop`` of ``H`` as a ``(stop - start, n)`` matrix."""
    k = stop - start
    onehot = torch.zeros(k, flat.n, dtype=flat.dtype, device=flat.device)
    onehot[torch.arange(k, device=flat.device), torch.arange(start, stop, device=flat.device)] = 1
    return _hvps(flat, grads, onehot)


def _hvps(flat: FlatParams, grads: list[Tensor], vectors: Tensor) -> Tensor:
    """``H v`` for every row ``v`` of the ``(k, n)`` matrix ``vectors``, in one batched
    backward pass: a ``(k, n)`` matrix (zeros when no gradient depends on the weights)."""
    outs, _ = _differentiable(grads, flat.params)
    k = vectors.shape[0]
    if not outs:
        return torch.zeros(k, flat.n, dtype=flat.dtype, device=flat.device)
    vs = [v.reshape(k, *p.shape) for v, p, g in zip(vectors.split(flat.numels, dim=1),
                                                      flat.params, grads, strict=True)
          if g.requires_grad]
    rows = torch.autograd.grad(outs, flat.params, grad_outputs=vs, retain_graph=True,
                               allow_unused=True, materialize_grads=True,
                               is_grads_batched=True)
    return torch.cat([r.reshape(k, -1) for r in rows], dim=1)


def chunk_rows(flat: FlatParams) -> int:
    """How many Hessian-vector products to batch so one batch stays near ``CHUNK_BYTES``:
    each takes a one-hot vector and a result row (``2n`` numbers) plus about the graph
    it differentiates through (``flat.graph_bytes``, measured at the evaluation)."""
    size = torch.empty((), dtype=flat.dtype).element_size()
    return max(1, min(flat.n, CHUNK_BYTES // (2 * size * flat.n + flat.graph_bytes)))


def batch_bytes(flat: FlatParams) -> int:
    """The working memory of one batch of Hessian-vector products (estimate)."""
    size = torch.empty((), dtype=flat.dtype).element_size()
    return chunk_rows(flat) * (2 * size * flat.n + flat.graph_bytes)


def hessian(flat: FlatParams, grads: list[Tensor]) -> Tensor:
    """The dense symmetric ``n × n`` Hessian (``n`` HVPs, batched), built in place: one
    ``n × n`` matrix and one batch of rows at a time."""
    c, n = chunk_rows(flat), flat.n
    h = torch.empty(n, n, dtype=flat.dtype, device=flat.device)
    for i in range(0, n, c):
        h[i:i + c] = _rows(flat, grads, i, min(i + c, n))
    for i in range(0, n, c):  # symmetrise block by block: (H + Hᵀ) / 2 without a copy of H
        j = min(i + c, n)
        diag = h[i:j, i:j]
        diag.copy_((diag + diag.T).mul_(0.5))
        upper = (h[i:j, j:] + h[j:, i:j].T).mul_(0.5)
        h[i:j, j:] = upper
        h[j:, i:j] = upper.T
    return h


def exact_diagonal(flat: FlatParams, grads: list[Tensor]) -> Tensor:
    """``diag(H)`` exactly, from ``n`` batched HVPs but only ``O(chunk · n)`` memory."""
    c = chunk_rows(flat)
    parts = []
    for i in range(0, flat.n, c):
        rows = _rows(flat, grads, i, min(i + c, flat.n))
        parts.append(rows[:, i:i + rows.shape[0]].diagonal())
    return torch.cat(parts)


def hutchinson_diagonal(flat: FlatParams, grads: list[Tensor], samples: int,
                        generator: torch.Generator) -> Tensor:
    """Hutchinson's unbiased estimate ``1/k Σ z ⊙ H z``, ``z`` Rademacher, batched."""
    z = torch.randint(0, 2, (samples, flat.n), generator=generator, dtype=flat.dtype,
                      device="cpu").mul_(2).sub_(1).to(flat.device)
    c = chunk_rows(flat)
    total = sum((zc * _hvps(flat, grads, zc)).sum(0) for zc in z.split(c))
    return total / samples
