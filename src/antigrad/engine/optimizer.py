"""The one optimizer class: runs a chain of transforms over each param group."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from ..transforms.base import Chain, ScalarState
from . import backends, native

NONFINITE_MODES = ("raise", "skip", "ignore")


class NonFiniteGradientError(FloatingPointError):
    """A gradient holds NaN or infinity; the step was not applied."""


class ChainOptimizer(torch.optim.Optimizer):
    r"""A ``torch.optim.Optimizer`` that runs a :class:`~antigrad.transforms.Chain`.

    Every hyperparameter lives in the param group, so ``torch.optim.lr_scheduler``
    (``ReduceLROnPlateau`` included) can change any of them between steps. State is
    kept per parameter in torch's format (``step`` as a 0-d tensor, buffers named as
    torch names them), so ``state_dict()`` round-trips and interoperates with the
    matching ``torch.optim`` optimizer.

    Args:
        params: parameters or param-group dicts, as for any torch optimizer.
        chain: the update; or ``None`` when a subclass defines :meth:`build`.
        nonfinite: what a NaN/inf gradient does: ``"raise"`` (default) raises
            :class:`NonFiniteGradientError` naming the parameter and leaves parameters and
            state untouched; ``"skip"`` skips the whole step (counted in
            ``skipped_steps``); ``"ignore"`` applies it, as torch.optim does.
        **defaults: hyperparameter defaults (overriding the chain's own).

    Example::

        >>> import torch, antigrad
        >>> from antigrad import transforms as T
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = antigrad.ChainOptimizer([w], T.chain(T.trace(), T.descend()),
        ...                               lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach()
        tensor([0.8000, 0.8000, 0.8000])
    """

    def __init__(self, params: Iterable[Any], chain: Chain | None = None, *,
                 nonfinite: str = "raise", **defaults: Any) -> None:
        if nonfinite not in NONFINITE_MODES:
            raise ValueError(f"Invalid nonfinite: {nonfinite!r} (must be one of "
                             f"{', '.join(map(repr, NONFINITE_MODES))})")
        if chain is not None and not isinstance(chain, Chain):
            raise TypeError(f"Invalid chain: {chain!r} (build one with antigrad.chain(...))")
        self._chain = chain
        self.nonfinite = nonfinite
        self.skipped_steps = 0
        self._plans: dict[tuple, Any] = {}
        base = dict(chain.defaults) if chain is not None else {}
        super().__init__(params, {**base, **defaults})

    def build(self, group: dict[str, Any]) -> Chain:
        """The chain that updates ``group`` (subclasses pick it from the group's options)."""
        if self._chain is None:
            raise NotImplementedError("pass a chain or override build()")
        return self._chain

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one update; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._apply_chains()
        return loss

    def _apply_chains(self, build: Callable[[dict[str, Any]], Chain] | None = None) -> None:
        build = build or self.build
        work = []
        for gi, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if p.grad.is_sparse:
                    raise RuntimeError(
                        f"{type(self).__name__} does not support sparse gradients (parameter "
                        f"{_position(group, p)} of param group {gi}, shape "
                        f"{tuple(p.shape)}); use torch.optim.SparseAdam or a dense embedding")
            if params:
                work.append((group, params))
        if not work:
            return
        if self.nonfinite != "ignore" and not _all_finite([p.grad for _, ps in work for p in ps]):
            if self.nonfinite == "skip":
                self.skipped_steps += 1
                return
            raise NonFiniteGradientError(self._describe_nonfinite())
        for group, params in work:
            self._update_group(group, params, build(group))

    def _describe_nonfinite(self) -> str:
        for gi, group in enumerate(self.param_groups):
            for i, p in enumerate(group["params"]):
                if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                    kind = "NaN" if bool(torch.isnan(p.grad).any()) else "infinity"
                    return (f"gradient of parameter {i} in param group {gi} (shape "
                            f"{tuple(p.shape)}) contains {kind}; the step was not applied and "
                            f"parameters and optimizer state are unchanged. Pass "
                            f"nonfinite='skip' to skip such steps or 'ignore' to apply them.")
        return "a gradient became non-finite"  # pragma: no cover - raced by another thread

    def _update_group(self, group: dict[str, Any], params: list[Tensor], chain: Chain) -> None:
        plan = self._plans.get(chain.key)
        if plan is None:
            plan = self._plans[chain.key] = backends.prepare(chain.graph)
        names = list(chain.scalar_state)
        buckets: dict[tuple, list[Tensor]] = defaultdict(list)
        fresh = [self._init_state(p, group, chain) for p in params]
        values = _as_floats([self.state[p][n] for p in params for n in names]) if names else []
        k = len(names)
        for i, p in enumerate(params):
            key = (p.device, p.dtype, fresh[i], tuple(values[i * k:(i + 1) * k]))
            buckets[key].append(p)
        for (device, dtype, is_fresh, row), ps in buckets.items():
            kept_as = self.state[ps[0]][names[0]].dtype if names else torch.float32
            scalar_state = ScalarState(dict(zip(names, row, strict=True)), kept_as)
            scalars = chain.scalars(group, scalar_state, is_fresh)
            tensors = {"param": ps, "grad": [p.grad for p in ps]}
            for name in chain.state:
                tensors[name] = [self.state[p][name] for p in ps]
            if ps[0].is_complex():  # element-wise formulas act on real and imaginary parts
                tensors = {n: [torch.view_as_real(t) if t.is_complex() else t for t in ts]
                           for n, ts in tensors.items()}
            backends.run(plan, tensors, scalars, device, dtype)
            for name in names:
                ts = [self.state[p][name] for p in ps]
                torch._foreach_copy_(ts, [torch.tensor(scalar_state[name], dtype=ts[0].dtype)]
                                     * len(ts))

    def _init_state(self, p: Tensor, group: dict[str, Any], chain: Chain) -> bool:
        """Create the state ``chain`` needs for ``p``; true if a buffer had to be created."""
        state = self.state[p]
        fresh = False
        for name, init in chain.state.items():
            if name not in state:
                state[name] = init(p, group)
                fresh = True
        for name, value in chain.scalar_state.items():
            if name not in state:
                state[name] = torch.tensor(value, dtype=_scalar_dtype())
        return fresh

    def init_state(self) -> None:
        """Create every parameter's state now (torch.optim.Adagrad does so at construction)."""
        for group in self.param_groups:
            chain = self.build(group)
            for p in group["params"]:
                self._init_state(p, group, chain)


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _position(group: dict[str, Any], p: Tensor) -> int:
    return next(i for i, q in enumerate(group["params"]) if q is p)


def _as_floats(tensors: list[Tensor]) -> list[float]:
    """Python values of 0-d tensors, with one synchronisation when possible."""
    try:
        return torch.stack(tensors).tolist()
    except RuntimeError:  # different devices or dtypes
        return [float(t) for t in tensors]


def _all_finite(grads: list[Tensor]) -> bool:
    """One reduction per device: the max-norm of a tensor is finite iff all its entries are.

    On the CPU (float32/float64, contiguous) one native pass over all gradients instead.
    """
    if backends.choice() == "native":
        verdict = native.all_finite(grads)
        if verdict is not None:
            return verdict
    by_device: dict[torch.device, list[Tensor]] = defaultdict(list)
    for g in grads:
        by_device[g.device].append(torch.view_as_real(g) if g.is_complex() else g)
    for gs in by_device.values():
        norms = torch._foreach_norm(gs, math.inf)
        if not bool(torch.stack(norms).isfinite().all()):
            return False
    return True
