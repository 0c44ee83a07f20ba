"""The loop every second-order optimizer shares: evaluate, direction, line search, stop.

One ``step(closure)`` runs up to ``max_iter`` iterations (as ``torch.optim.LBFGS`` does)::

    p = (L(w), ∇L(w))                          one closure call
    repeat:
        d, t0 = direction(p)                   a Direction object
        t = line_search(φ(t) = L(w + t d), t0) a LineSearch object (or the direction's own
                                               globalisation: damping, trust region)
        remember(s = t d, y = ∇L(w + t d) − ∇L(w));  w ← w + t d
    until a stopping rule fires (a Tolerances object; ``result.reason``, see :mod:`.result`)

The three parts are objects chosen at construction (``SecondOrderOptimizer(params,
direction, line_search)``); ``Newton``, ``DiagonalNewton``, ``BFGS`` and ``LBFGS`` are this
class with their parts chosen by name.

All parameters of all param groups form one vector (:class:`.flat.FlatParams`), so the
solver options must agree across groups (a group may list any subset of parameters;
``lr`` schedulers that change every group alike work). The state lives under the first
parameter, as in ``torch.optim.LBFGS``, and round-trips through ``state_dict()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from . import line_search as ls
from .direction import Context, Direction
from .flat import CLOSURE_REQUIRED, FlatParams, Point
from .options import common_defaults, nonfinite_mode
from .result import NonFiniteLossError, SolveResult
from .stopping import ScaleAwareTolerances, Tolerances

TORCH_FLAGS = frozenset({"differentiable", "foreach", "fused", "capturable", "maximize"})


@dataclass
class _Run:
    """One ``step()`` in progress."""

    closure: Callable[[], Any]
    ctx: Context
    p: Point
    loss: Any
    reason: str | None = None


class SecondOrderOptimizer(torch.optim.Optimizer):
    r"""A second-order method assembled from a direction and a line search.

    .. math::
        d = D(w, g),\quad w \leftarrow w + \alpha d

    repeated within one ``step(closure)`` until a stopping rule holds: :math:`D` is the
    ``direction`` (for Newton :math:`d = -\nabla^2 L(w)^{-1} g`), :math:`\alpha` the
    step the ``line_search`` accepts, :math:`\varepsilon` (``lr``) the first one it tries.

    Args:
        params: parameters or param groups (all treated as one vector).
        direction: a :class:`~antigrad.second_order.direction.Direction`: ``SteepestDescent``,
            ``NewtonDirection``, ``NewtonCG``, ``LevenbergMarquardt``, ``TrustRegionNewton``,
            ``DiagonalNewtonDirection``, ``BFGSDirection`` or ``LBFGSDirection``.
        line_search: a :class:`~antigrad.second_order.line_search.LineSearch`
            (``StrongWolfe()``, ``Backtracking()``, ``FixedStep()``) or its name
            (``"strong_wolfe"``, default; ``"backtracking"``; ``None``: fixed step).
        lr: first step size tried along ``d`` (``1`` is the Newton / quasi-Newton step;
            ``0`` takes no step).
        max_iter, max_eval, tolerance_grad, tolerance_change: stopping rules of one
            ``step()`` (see :mod:`antigrad.second_order.stopping`).
        nonfinite: what a NaN/inf loss or gradient does: ``"raise"`` (default) raises
            :class:`~antigrad.NonFiniteLossError` and leaves the parameters where the
            last finite point was; ``"skip"`` ends the step there instead (a non-finite
            starting point skips the whole step, counted in ``skipped_steps``);
            ``"ignore"`` checks nothing, as ``torch.optim.LBFGS``.
        tolerances: the stopping rules (default ``ScaleAwareTolerances()``).

    Example::

        >>> import torch
        >>> from antigrad.second_order import SecondOrderOptimizer, BFGSDirection, StrongWolfe
        >>> w = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
        >>> opt = SecondOrderOptimizer([w], BFGSDirection(), StrongWolfe(), max_iter=100)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = 100 * (w[1] - w[0] ** 2) ** 2 + (1 - w[0]) ** 2
        ...     loss.backward()
        ...     return loss
        >>> _ = opt.step(closure)
        >>> opt.result.reason, torch.allclose(w.detach(), torch.ones(2, dtype=torch.float64))
        ('gradient', True)

    Reference: lecture L15, L16; Nocedal & Wright, "Numerical Optimization", 2nd ed. (2006),
    chapters 3 (line searches) and 6-7 (quasi-Newton and Newton-CG directions).
    """

    default_nonfinite = "raise"

    def __init__(self, params: Iterable[Any], direction: Direction,
                 line_search: str | ls.LineSearch | None = "strong_wolfe", *,
                 lr: float = 1.0, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 nonfinite: str | None = None, tolerances: Tolerances | None = None) -> None:
        defaults = common_defaults(lr, max_iter, max_eval, tolerance_grad, tolerance_change)
        self._assemble(params, direction, line_search, defaults, nonfinite, tolerances)

    def _assemble(self, params: Iterable[Any], direction: Direction,
                  line_search: str | ls.LineSearch | None, defaults: dict[str, Any],
                  nonfinite: str | None, tolerances: Tolerances | None) -> None:
        """Validate the parts and set up (every subclass's constructor ends here)."""
        if not isinstance(direction, Direction):
            raise TypeError(f"Invalid direction: {direction!r} (must be a "
                            f"antigrad.second_order Direction, e.g. BFGSDirection())")
        if tolerances is not None and not isinstance(tolerances, Tolerances):
            raise TypeError(f"Invalid tolerances: {tolerances!r} (must be a Tolerances, "
                            f"e.g. ScaleAwareTolerances())")
        self.descent = direction
        self.line_search = ls.line_search_from(line_search)
        self.tolerances = tolerances or ScaleAwareTolerances()
        self.nonfinite = self.default_nonfinite if nonfinite is None else nonfinite
        self.skipped_steps = 0
        # Optimizer's own __init__: a subclass may also inherit a torch.optim class (for
        # isinstance checks) whose __init__ takes other arguments
        torch.optim.Optimizer.__init__(self, params, {**direction.hyperparameters(),
                                                      **defaults})
        self.result: SolveResult | None = None
        self._flat_cache: FlatParams | None = None
        flat = self._flat()  # validates the parameters now, not at the first step
        if direction.refuses_complex:
            flat.refuse_complex()
        direction.setup(flat, self.param_groups[0])

    @property
    def nonfinite(self) -> str:
        """``"raise"``, ``"skip"`` or ``"ignore"``; may be changed between steps."""
        return self._nonfinite

    @nonfinite.setter
    def nonfinite(self, value: str) -> None:
        self._nonfinite = nonfinite_mode(value)

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
                        f"Invalid {key} value: {group[key]!r} in param group {i} differs from "
                        f"{first[key]!r} in group 0; {type(self).__name__} treats all "
                        f"parameters as one vector, so its options must agree across groups")
        return {**first, "lr": float(first["lr"])}

    def _option_keys(self) -> set[str]:
        """This optimizer's options (``Optimizer.__setstate__`` adds torch's flags to
        ``defaults``; they are not ours)."""
        return set(self.defaults) - TORCH_FLAGS

    def _context(self, state: dict[str, Any], o: dict[str, Any],
                 result: SolveResult | None) -> Context:
        return Context(self._flat(), state, o, result,  # type: ignore[arg-type]
                       accept_nonfinite=self.nonfinite == "ignore")

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "result": self.result, "descent": self.descent,
                "line_search": self.line_search, "tolerances": self.tolerances,
                "_nonfinite": self.nonfinite, "skipped_steps": self.skipped_steps}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._flat_cache = None  # a view of the parameters, rebuilt on first use

    # -- the direction's view, for inspection ------------------------------------------
    def direction(self, p: Point, state: dict[str, Any], o: dict[str, Any],
                  result: SolveResult | None = None) -> tuple[Tensor, float]:
        """The search direction at ``p`` given ``state`` (no evaluation, no update)."""
        return self.descent.direction(p, self._context(state, o, result))

    def remember(self, state: dict[str, Any], s: Tensor, y: Tensor, o: dict[str, Any]) -> None:
        """Teach ``state`` the pair ``(s, y)`` as a step would."""
        self.descent.remember(self._context(state, o, None), s, y)

    # -- checkpoints ---------------------------------------------------------------------
    @property
    def state_keys(self) -> frozenset[str]:
        """What ``self.state`` may hold (others mean a foreign state_dict)."""
        return frozenset({"func_evals", "n_iter"}) | self.descent.state_keys

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
            self.descent.check_state(name, st, self._flat().n)

    # -- the loop ------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` iterations; return the loss at the starting point.

        ``opt.result`` (a :class:`SolveResult`) tells what happened and why it stopped.
        """
        if closure is None:
            raise TypeError(CLOSURE_REQUIRED.format(name=type(self).__name__))
        run = self._begin(closure)
        while run.reason is None:
            self._iterate(run)
        res = run.ctx.result
        res.reason = run.reason
        if not math.isfinite(res.loss) and self.nonfinite == "raise":  # pragma: no cover
            raise NonFiniteLossError(f"{type(self).__name__}: non-finite loss accepted")
        return run.loss

    def _begin(self, closure: Callable[[], Any]) -> _Run:
        """Evaluate the starting point; a reason to stop at once if there is one."""
        flat, o = self._flat(), self._options()
        state = self.state[flat.params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        p = flat.evaluate(closure, graph=self.descent.needs_graph)
        res = SolveResult(loss=p.f, initial_loss=p.f, grad_norm=float(p.g.abs().max()),
                          func_evals=1, losses=[p.f])
        self.result = res
        state["func_evals"] += 1
        loss = p.loss.detach() if isinstance(p.loss, Tensor) else p.loss
        run = _Run(closure, self._context(state, o, res), p, loss)
        if not p.finite and self.nonfinite != "ignore":
            if self.nonfinite == "raise":
                raise NonFiniteLossError(
                    f"{type(self).__name__}: the loss ({p.f}) or its gradient is not finite "
                    f"at the current parameters; nothing was changed. Pass nonfinite='skip' "
                    f"to skip such steps.")
            self.skipped_steps += 1
            run.reason = "nonfinite"
            return run
        self.descent.resume(run.ctx, p)
        if res.grad_norm <= o["tolerance_grad"]:
            run.reason = "gradient"
        return run

    def _iterate(self, run: _Run) -> None:
        """One iteration: direction, search, update, stopping rules."""
        d, t, gtd = self._descent_direction(run)
        run.reason = self.tolerances.before_search(run.p, gtd, run.ctx.options)
        if run.reason is not None:
            return
        x0 = run.p.x
        found = self._search(run, d, t, gtd)
        if found is None:
            run.reason = "nonfinite"
            return
        t, new = found
        self._accept(run, new, x0, d, t)

    def _descent_direction(self, run: _Run) -> tuple[Tensor, float, float]:
        d, t = self.descent.direction(run.p, run.ctx)
        gtd = float(run.p.g @ d)
        if not gtd < 0:  # curvature went bad: restart from what a fresh start would do
            self.descent.forget(run.ctx)
            d, t = self.descent.direction(run.p, run.ctx)
            gtd = float(run.p.g @ d)
        return d, t, gtd

    def _search(self, run: _Run, d: Tensor, t: float, gtd: float) -> tuple[float, Point] | None:
        """The accepted ``(t, point)``, parameters moved there; ``None`` when
        ``nonfinite="skip"`` met only non-finite values (parameters back at the start)."""
        flat, p, graph = run.ctx.flat, run.p, self.descent.needs_graph
        x0, last = p.x, [p, 0]  # the last trial point, the number of trials

        def phi(t: float, dd: Tensor | None = None) -> Point:
            x = torch.add(x0, d if dd is None else dd, alpha=t)
            flat.set_(x)
            last[0] = flat.evaluate(run.closure, x, graph=graph)
            last[1] += 1
            return last[0]

        try:
            t, new = self.descent.move(phi, p, d, t, gtd, run.ctx, self.line_search)
            if new is not last[0]:  # params sit at the last trial, not the pick
                flat.set_(new.x)
                if graph and new is not p:
                    new = flat.evaluate(run.closure, new.x, graph=True)
                    last[1] += 1
        except NonFiniteLossError:
            if self.nonfinite == "raise":
                flat.set_(x0)
                raise
            if self.nonfinite == "ignore":  # as torch: stay where the last trial went
                return t, last[0]
            flat.set_(x0)
            return None
        except BaseException:  # the closure raised (Ctrl-C too): undo the trial
            flat.set_(x0)
            raise
        finally:
            run.ctx.result.func_evals += last[1]
            run.ctx.state["func_evals"] += last[1]
        return t, new

    def _accept(self, run: _Run, new: Point, x0: Tensor, d: Tensor, t: float) -> None:
        res, state = run.ctx.result, run.ctx.state
        res.iterations += 1
        state["n_iter"] += 1
        s = self.descent.step_taken(new, x0, d, t)
        res.step_norm = float(s.abs().max())
        if res.step_norm > 0:
            self.descent.remember(run.ctx, s, new.g - run.p.g)
        old, run.p = run.p, new
        res.loss, res.grad_norm = new.f, float(new.g.abs().max())
        res.losses.append(new.f)
        run.reason = self.tolerances.after_step(old, new, s, run.ctx.options, res)
