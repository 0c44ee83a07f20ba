"""The loop every second-order optimizer shares: evaluate, direction, line search, stop.

One ``step(closure)`` runs up to ``max_iter`` iterations (as ``torch.optim.LBFGS`` does)::

    p = (L(w), ∇L(w))                          one closure call
    repeat:
        d, t0 = direction(p)                   Newton / diagonal / BFGS / L-BFGS
        t = line_search(φ(t) = L(w + t d), t0)
        remember(s = t d, y = ∇L(w + t d) − ∇L(w));  w ← w + t d
    until a stopping rule fires (``result.reason``, see :mod:`.result`)

All parameters of all param groups form one vector (:class:`.flat.FlatParams`), so the
solver options must agree across groups (a group may list any subset of parameters;
``lr`` schedulers that change every group alike work). The state lives under the first
parameter, as in ``torch.optim.LBFGS``, and round-trips through ``state_dict()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from .. import validation
from . import line_search as ls
from .flat import CLOSURE_REQUIRED, FlatParams, Point
from .result import NonFiniteLossError, SolveResult

C1, C2, MAX_LS = 1e-4, 0.9, 25
TORCH_FLAGS = frozenset({"differentiable", "foreach", "fused", "capturable", "maximize"})
LINE_SEARCHES = ("strong_wolfe", "backtracking", None)


def positive(name: str, value: Any) -> None:
    if not validation.number(name, value) > 0:
        raise ValueError(f"Invalid {name}: {value} (must be > 0)")


def finite_damping(value: Any) -> None:
    validation.at_least("damping", value)
    if not math.isfinite(float(value)):
        raise ValueError(f"Invalid damping: {value} (must be finite: infinite damping "
                         f"takes no step)")


def positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid {name}: {value!r} (must be an integer >= 1)")


def common_defaults(lr: float, max_iter: int, max_eval: int | None, tolerance_grad: float,
                    tolerance_change: float, line_search_fn: str | None,
                    signed_tolerances: bool = False) -> dict[str, Any]:
    """Validate the options every second-order optimizer takes.

    With ``signed_tolerances`` (torch.optim.LBFGS's rule) a tolerance may be any number
    but NaN: a negative one never fires."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError(f"Invalid lr: Tensor lr must be 1-element, got shape "
                         f"{tuple(lr.shape)}")
    positive("lr", lr)
    positive_int("max_iter", max_iter)
    if max_eval is None:
        max_eval = max_iter * 5 // 4
    positive_int("max_eval", max_eval)
    for name, tol in (("tolerance_grad", tolerance_grad),
                      ("tolerance_change", tolerance_change)):
        if signed_tolerances:
            validation.number(name, tol)
        else:
            validation.at_least(name, tol)
    if line_search_fn not in LINE_SEARCHES:
        raise ValueError(f"Invalid line_search_fn: {line_search_fn!r} (must be one of "
                         f"{', '.join(map(repr, LINE_SEARCHES))})")
    return dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                tolerance_change=tolerance_change, line_search_fn=line_search_fn)


class SecondOrderOptimizer(torch.optim.Optimizer):
    """Base class: subclasses define :meth:`direction` and, if they learn, :meth:`remember`."""

    #: evaluations keep the gradient's graph (for Hessians / Hessian-vector products)
    needs_graph = False

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        # Optimizer's own __init__: a subclass may also inherit a torch.optim class (for
        # isinstance checks) whose __init__ takes other arguments
        torch.optim.Optimizer.__init__(self, params, defaults)
        self.result: SolveResult | None = None
        self._flat_cache: FlatParams | None = None
        self._flat()  # validates the parameters now, not at the first step

    # -- parameters and options ----------------------------------------------------------
    def _flat(self) -> FlatParams:
        ids = [id(p) for g in self.param_groups for p in g["params"]]
        if self._flat_cache is None or [id(p) for p in self._flat_cache.params] != ids:
            self._flat_cache = FlatParams(self.param_groups, type(self).__name__)
        return self._flat_cache

    def _options(self) -> dict[str, Any]:
        """The options of group 0 (checked equal in every group), ``lr`` as a float."""
        first = self.param_groups[0]
        for i, group in enumerate(self.param_groups[1:], 1):
            for key in self._option_keys():
                if group[key] != first[key]:
                    raise ValueError(
                        f"Invalid {key}: {group[key]!r} in param group {i} differs from "
                        f"{first[key]!r} in group 0; {type(self).__name__} treats all "
                        f"parameters as one vector, so its options must agree across groups")
        return {**first, "lr": float(first["lr"])}

    def _option_keys(self) -> set[str]:
        """This optimizer's options (``Optimizer.__setstate__`` adds torch's flags to
        ``defaults``; they are not ours)."""
        return set(self.defaults) - TORCH_FLAGS

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "result": self.result}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._flat_cache = None  # a view of the parameters, rebuilt on first use

    #: what ``self.state`` may hold for this optimizer (others mean a foreign state_dict)
    state_keys: frozenset[str] = frozenset({"func_evals", "n_iter"})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict of this optimizer; refuse anything else before changing state."""
        self._check_state_dict(state_dict)
        super().load_state_dict(state_dict)
        for st in self.state.values():  # own the buffers: they are updated in place
            for k, v in (st.items() if isinstance(st, dict) else ()):
                if isinstance(v, Tensor):
                    st[k] = v.clone()

    def _check_state_dict(self, sd: Any) -> None:
        name = type(self).__name__
        if not isinstance(sd, dict):
            raise TypeError(f"{name}.load_state_dict expects a dict from "
                            f"optimizer.state_dict(), got {type(sd).__name__}")
        if "state" not in sd or "param_groups" not in sd:
            keys = ", ".join(map(str, list(sd)[:5]))
            raise ValueError(f"{name}.load_state_dict: not an optimizer state_dict (it needs "
                             f"'state' and 'param_groups'; got keys {keys}... — a model's "
                             f"state_dict?)")
        for i, group in enumerate(sd["param_groups"]):
            missing = sorted(self._option_keys() - set(group))
            if missing:
                raise ValueError(f"{name}.load_state_dict: param group {i} lacks "
                                 f"{', '.join(missing)}: this state_dict is from another "
                                 f"optimizer, not {name}")
        for st in sd["state"].values():
            if not isinstance(st, dict):  # an entry a hook put there, not a parameter's
                continue
            foreign = sorted(set(st) - self.state_keys)
            if foreign:
                raise ValueError(f"{name}.load_state_dict: unknown state "
                                 f"{', '.join(foreign)}: this state_dict is from another "
                                 f"optimizer, not {name}")
            self.check_state(st)

    def check_state(self, st: dict[str, Any]) -> None:
        """Refuse loaded buffers that do not fit these parameters (subclasses)."""

    def _check_shape(self, st: dict[str, Any], key: str, shape: tuple[int, ...]) -> None:
        v = st.get(key)
        if v is not None and (not isinstance(v, Tensor) or tuple(v.shape) != shape):
            got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
            raise ValueError(f"{type(self).__name__}.load_state_dict: {key} has shape {got}, "
                             f"expected {shape} for these {self._flat().n} parameters")

    # -- what subclasses define ----------------------------------------------------------
    def direction(self, p: Point, state: dict[str, Any], o: dict[str, Any],
                  result: SolveResult) -> tuple[Tensor, float]:
        """The search direction ``d`` at ``p`` and the first step size to try."""
        raise NotImplementedError

    def remember(self, state: dict[str, Any], s: Tensor, y: Tensor, o: dict[str, Any]) -> None:
        """Learn from the step ``s`` and the gradient change ``y`` (quasi-Newton)."""

    def forget(self, state: dict[str, Any]) -> None:
        """Drop learnt curvature (called when it stopped giving a descent direction)."""

    def resume(self, state: dict[str, Any], p: Point, o: dict[str, Any]) -> None:
        """Called with the first point of every ``step()`` (to finish a loaded history)."""

    def step_taken(self, new: Point, x0: Tensor, d: Tensor, t: float) -> Tensor:
        """The step ``s`` to learn from: where the parameters moved."""
        return new.x - x0

    def search(self, phi: ls.Phi, p: Point, d: Tensor, t: float, gtd: float,
               o: dict[str, Any], state: dict[str, Any]) -> tuple[float, Point]:
        name = o["line_search_fn"]
        if name == "strong_wolfe":
            return ls.strong_wolfe(phi, p, d, t, gtd, c1=C1, c2=C2, max_ls=MAX_LS,
                                   tolerance_change=o["tolerance_change"])
        if name == "backtracking":
            return ls.backtracking(phi, p, d, t, gtd, c1=C1, max_ls=MAX_LS)
        return ls.fixed(phi, p, d, t, gtd, max_ls=MAX_LS)

    # -- the loop ------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` iterations; return the loss at the starting point.

        ``opt.result`` (a :class:`SolveResult`) tells what happened and why it stopped.
        """
        if closure is None:
            raise TypeError(CLOSURE_REQUIRED.format(name=type(self).__name__))
        flat, o = self._flat(), self._options()
        state = self.state[flat.params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        graph = self.needs_graph
        p = flat.evaluate(closure, graph=graph)
        res = SolveResult(loss=p.f, initial_loss=p.f, grad_norm=float(p.g.abs().max()),
                          func_evals=1, losses=[p.f])
        self.result = res
        state["func_evals"] += 1
        if not p.finite:
            raise NonFiniteLossError(
                f"{type(self).__name__}: the loss ({p.f}) or its gradient is not finite at "
                f"the current parameters; nothing was changed")
        loss = p.loss.detach() if isinstance(p.loss, Tensor) else p.loss
        self.resume(state, p, o)
        reason = "gradient" if res.grad_norm <= o["tolerance_grad"] else None
        while reason is None:
            d, t = self.direction(p, state, o, res)
            gtd = float(p.g @ d)
            if not gtd < 0:  # curvature went bad: restart from steepest descent
                self.forget(state)
                d, t = self.direction(p, state, o, res)
                gtd = float(p.g @ d)
            if gtd > -o["tolerance_change"]:
                reason = "loss_change"
                break
            x0, last = p.x, [p, 0]  # the last trial point, the number of trials

            def phi(t: float, dd: Tensor | None = None, x0: Tensor = x0, d: Tensor = d,
                    last: list = last) -> Point:
                x = torch.add(x0, d if dd is None else dd, alpha=t)
                flat.set_(x)
                last[0] = flat.evaluate(closure, x, graph=graph)
                last[1] += 1
                return last[0]

            try:
                t, new = self.search(phi, p, d, t, gtd, o, state)
                if new is not last[0]:  # params sit at the last trial, not the pick
                    flat.set_(new.x)
                    if graph and new is not p:
                        new = flat.evaluate(closure, new.x, graph=True)
                        last[1] += 1
            except BaseException:  # NaN, or the closure raised (Ctrl-C too): undo the trial
                flat.set_(x0)
                raise
            finally:
                res.func_evals += last[1]
                state["func_evals"] += last[1]
            res.iterations += 1
            state["n_iter"] += 1
            s = self.step_taken(new, x0, d, t)
            res.step_norm = float(s.abs().max())
            if res.step_norm > 0:
                self.remember(state, s, new.g - p.g, o)
            change, p = new.f - p.f, new
            res.loss, res.grad_norm = p.f, float(p.g.abs().max())
            res.losses.append(p.f)
            if res.grad_norm <= o["tolerance_grad"]:
                reason = "gradient"
            elif res.step_norm <= o["tolerance_change"]:
                reason = "step_size"
            elif abs(change) < o["tolerance_change"]:
                reason = "loss_change"
            elif res.iterations >= o["max_iter"]:
                reason = "max_iter"
            elif res.func_evals >= o["max_eval"]:
                reason = "max_eval"
        res.reason = reason
        if not math.isfinite(res.loss):  # pragma: no cover - the searches never accept this
            raise NonFiniteLossError(f"{type(self).__name__}: non-finite loss accepted")
        return loss
