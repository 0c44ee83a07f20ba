r"""Newton's direction from the dense Hessian: ``(H + τI) d = −g`` by Cholesky.

``τ = damping`` is raised (doubling from ``β = 10⁻³·mean|diag H|``) until ``H + τI ≻ 0``
(Nocedal & Wright, Alg. 3.3, "Cholesky with added multiple of the identity"), so ``d`` is
a descent direction even where ``H`` is indefinite. The dense Hessian of ``n`` parameters
takes ``~3 n²`` numbers (``H``, ``H + τI`` and its factor); above ``max_hessian_bytes``
the optimizer refuses before allocating.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import curvature
from .direction import Context, Direction
from .flat import FlatParams, Point
from .options import finite_damping, whole_number

MAX_SHIFTS = 200  # doublings of τ before giving up (from β, 2^200 β covers any float64 H)


def shifted_cholesky_solve(h: Tensor, g: Tensor, tau: float) -> tuple[Tensor, float]:
    """Solve ``(H + τ' I) d = −g`` for the least ``τ' ≥ τ`` (doubling) with ``H + τ' I ≻ 0``.

    Takes two ``n × n`` buffers besides ``H`` (the shifted matrix and its factor), reused
    across the doublings."""
    diag = h.diagonal()
    beta = 1e-3 * max(float(diag.abs().mean()), torch.finfo(h.dtype).tiny ** 0.5)
    if float(diag.min()) + tau <= 0:
        tau = -float(diag.min()) + beta
    shifted, factor = torch.empty_like(h), torch.empty_like(h)
    info = torch.empty((), dtype=torch.int32, device=h.device)
    for _ in range(MAX_SHIFTS):
        shifted.copy_(h).diagonal().add_(tau)
        torch.linalg.cholesky_ex(shifted, out=(factor, info))
        if int(info) == 0:
            return -torch.cholesky_solve(g.unsqueeze(1), factor).squeeze(1), tau
        tau = max(2 * tau, beta)
    raise FloatingPointError("Newton: no shift made the Hessian positive definite")


class NewtonDirection(Direction):
    """Newton's step with the dense Hessian, shifted until positive definite."""

    needs_graph = True
    refuses_complex = True
    state_keys = frozenset({"shift", "lm_damping"})

    def __init__(self, damping: float = 0.0, max_hessian_bytes: int = 2**30) -> None:
        finite_damping(damping)
        whole_number("max_hessian_bytes", max_hessian_bytes)
        self.damping, self.max_hessian_bytes = damping, max_hessian_bytes
        self._h: Tensor | None = None  # the last Hessian (Levenberg–Marquardt reuses it)

    def hyperparameters(self) -> dict[str, Any]:
        return {"damping": self.damping, "max_hessian_bytes": self.max_hessian_bytes}

    def setup(self, flat: FlatParams, options: dict[str, Any]) -> None:
        self._check_memory(flat, options)

    def _check_memory(self, flat: FlatParams, o: dict[str, Any]) -> None:
        """``H``, ``H + τI`` and its Cholesky factor, plus one batch of the Hessian-vector
        products that build ``H`` (sized by the graph measured at the last evaluation)."""
        curvature.check_dense_memory(
            "Newton(mode='exact')", flat.n, flat.dtype, 3, o["max_hessian_bytes"],
            "Newton(mode='cg') (Hessian-vector products, O(n) memory) or antigrad.LBFGS",
            working=curvature.batch_bytes(flat))

    def hessian(self, p: Point, ctx: Context) -> Tensor:
        """The dense Hessian at ``p`` (the last one freed first)."""
        assert p.grads is not None
        self._h = None
        self._check_memory(ctx.flat, ctx.options)
        self._h = curvature.hessian(ctx.flat, p.grads)
        ctx.result.hvp_evals += ctx.flat.n
        return self._h

    def damping_now(self, ctx: Context) -> float:
        return ctx.options["damping"]

    def direction(self, p: Point, ctx: Context) -> tuple[Tensor, float]:
        h = self.hessian(p, ctx)
        d, ctx.state["shift"] = shifted_cholesky_solve(h, p.g, self.damping_now(ctx))
        return d, ctx.options["lr"]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_h": None}  # a transient buffer, not part of a copy
